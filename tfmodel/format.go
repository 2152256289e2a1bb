package tfmodel

import "fmt"

// fileIdentifier is the flatbuffer file identifier of a TFLite model, at
// bytes 4..8 (after the root offset).
const fileIdentifier = "TFL3"

// Field slots of the schema tables sorterd reads and writes, in schema.fbs
// declaration order (a flatbuffer field's vtable slot is its index).
const (
	// table Model
	modelVersion        = 0
	modelOperatorCodes  = 1
	modelSubgraphs      = 2
	modelDescription    = 3
	modelBuffers        = 4
	modelMetadataBuffer = 5 // deprecated int vector, refused when editing
	modelMetadata       = 6
	modelNumFields      = 8 // through signature_defs (7), which Write omits

	// table OperatorCode
	opcodeDeprecatedBuiltin = 0 // int8, codes up to 127
	opcodeCustom            = 1
	opcodeVersion           = 2
	opcodeBuiltin           = 3 // int32, supersedes field 0
	opcodeNumFields         = 4

	// table SubGraph
	subgraphTensors   = 0
	subgraphInputs    = 1
	subgraphOutputs   = 2
	subgraphOperators = 3
	subgraphName      = 4
	subgraphNumFields = 5

	// table Tensor
	tensorShape          = 0
	tensorType           = 1
	tensorBuffer         = 2
	tensorName           = 3
	tensorQuantization   = 4
	tensorIsVariable     = 5
	tensorSparsity       = 6
	tensorShapeSignature = 7
	tensorHasRank        = 8
	tensorNumFields      = 8 // Write stops at shape_signature

	// table QuantizationParameters
	quantMin              = 0
	quantMax              = 1
	quantScale            = 2
	quantZeroPoint        = 3
	quantDetailsType      = 4
	quantDetails          = 5
	quantQuantizedDim     = 6
	quantNumFields        = 7
	operatorNumFields     = 6 // Write stops at custom_options
	bufferNumFields       = 3
	metadataNumFields     = 2
	metadataName          = 0
	metadataBuffer        = 1
	bufferData            = 0
	bufferOffset          = 1 // models over 2 GB keep data outside the flatbuffer
	bufferSize            = 2
	operatorOpcodeIndex   = 0
	operatorInputs        = 1
	operatorOutputs       = 2
	operatorOptionsType   = 3
	operatorOptions       = 4
	operatorCustomOptions = 5
	// Operator fields from custom_options_format (6) to the large custom
	// options (11) are refused when editing.
	operatorFirstUnsupported = 6
	operatorLastUnsupported  = 11
)

// placeholderForGreaterOpCodes is what the deprecated int8 builtin-code
// field holds for codes above 127.
const placeholderForGreaterOpCodes = 127

// Builtin is a TFLite builtin operator code (schema enum BuiltinOperator).
type Builtin int32

// The builtin operators a vision classifier uses, and the ones a user is
// likely to meet in an unsupported model.
const (
	OpAdd                   Builtin = 0
	OpAveragePool2D         Builtin = 1
	OpConcatenation         Builtin = 2
	OpConv2D                Builtin = 3
	OpDepthwiseConv2D       Builtin = 4
	OpDequantize            Builtin = 6
	OpFullyConnected        Builtin = 9
	OpLogistic              Builtin = 14
	OpMaxPool2D             Builtin = 17
	OpMul                   Builtin = 18
	OpRelu                  Builtin = 19
	OpRelu6                 Builtin = 21
	OpReshape               Builtin = 22
	OpResizeBilinear        Builtin = 23
	OpSoftmax               Builtin = 25
	OpTanh                  Builtin = 28
	OpCustom                Builtin = 32
	OpPad                   Builtin = 34
	OpTranspose             Builtin = 39
	OpMean                  Builtin = 40
	OpSub                   Builtin = 41
	OpDiv                   Builtin = 42
	OpSqueeze               Builtin = 43
	OpSplit                 Builtin = 49
	OpCast                  Builtin = 53
	OpMaximum               Builtin = 55
	OpArgMax                Builtin = 56
	OpMinimum               Builtin = 57
	OpPadV2                 Builtin = 60
	OpPack                  Builtin = 83
	OpResizeNearestNeighbor Builtin = 97
	OpLeakyRelu             Builtin = 98
	OpQuantize              Builtin = 114
	OpHardSwish             Builtin = 117
)

var builtinNames = map[Builtin]string{
	OpAdd: "ADD", OpAveragePool2D: "AVERAGE_POOL_2D", OpConcatenation: "CONCATENATION",
	OpConv2D: "CONV_2D", OpDepthwiseConv2D: "DEPTHWISE_CONV_2D", OpDequantize: "DEQUANTIZE",
	OpFullyConnected: "FULLY_CONNECTED", OpLogistic: "LOGISTIC", OpMaxPool2D: "MAX_POOL_2D", OpMul: "MUL",
	OpRelu: "RELU", OpRelu6: "RELU6", OpReshape: "RESHAPE", OpResizeBilinear: "RESIZE_BILINEAR",
	OpSoftmax: "SOFTMAX", OpTanh: "TANH", OpCustom: "CUSTOM", OpPad: "PAD", OpTranspose: "TRANSPOSE",
	OpMean: "MEAN", OpSub: "SUB", OpDiv: "DIV", OpSqueeze: "SQUEEZE", OpSplit: "SPLIT", OpCast: "CAST",
	OpMaximum: "MAXIMUM", OpArgMax: "ARG_MAX", OpMinimum: "MINIMUM", OpPadV2: "PADV2", OpPack: "PACK",
	OpResizeNearestNeighbor: "RESIZE_NEAREST_NEIGHBOR", OpLeakyRelu: "LEAKY_RELU", OpQuantize: "QUANTIZE",
	OpHardSwish: "HARD_SWISH",
}

// String is the op's name as TFLite prints it; others print as BUILTIN_<code>.
func (b Builtin) String() string {
	if n, ok := builtinNames[b]; ok {
		return n
	}
	return fmt.Sprintf("BUILTIN_%d", int32(b))
}

// TensorType is a tensor element type (schema enum TensorType).
type TensorType int8

// The tensor types sorterd reads.
const (
	Float32 TensorType = 0
	Float16 TensorType = 1
	Int32   TensorType = 2
	UInt8   TensorType = 3
	Int64   TensorType = 4
	Int16   TensorType = 7
	Int8    TensorType = 9
)

var tensorTypeNames = map[TensorType]string{
	Float32: "float32", Float16: "float16", Int32: "int32", UInt8: "uint8", Int64: "int64", Int16: "int16", Int8: "int8",
}

func (t TensorType) String() string {
	if n, ok := tensorTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", int8(t))
}

// OptionsType is the type of an operator's builtin options table (schema
// union BuiltinOptions).
type OptionsType uint8

// The builtin options tables sorterd can copy.
const (
	OptNone            OptionsType = 0
	OptConv2D          OptionsType = 1
	OptDepthwiseConv2D OptionsType = 2
	OptPool2D          OptionsType = 5
	OptFullyConnected  OptionsType = 8
	OptSoftmax         OptionsType = 9
	OptAdd             OptionsType = 11
	OptReshape         OptionsType = 17
	OptReducer         OptionsType = 27
)

// Field slots of the builtin options tables, by table.
const (
	Conv2DPadding    = 0
	Conv2DStrideW    = 1
	Conv2DStrideH    = 2
	Conv2DActivation = 3
	Conv2DDilationW  = 4
	Conv2DDilationH  = 5

	DepthwisePadding         = 0
	DepthwiseStrideW         = 1
	DepthwiseStrideH         = 2
	DepthwiseDepthMultiplier = 3
	DepthwiseActivation      = 4
	DepthwiseDilationW       = 5
	DepthwiseDilationH       = 6

	Pool2DPadding      = 0
	Pool2DStrideW      = 1
	Pool2DStrideH      = 2
	Pool2DFilterWidth  = 3
	Pool2DFilterHeight = 4
	Pool2DActivation   = 5

	FullyConnectedActivation    = 0
	FullyConnectedWeightsFormat = 1
	FullyConnectedKeepNumDims   = 2
	FullyConnectedAsymmetric    = 3

	SoftmaxBeta = 0

	AddActivation    = 0
	AddPotScaleInt16 = 1

	ReshapeNewShape = 0

	ReducerKeepDims = 0
)

// optionLayouts gives, per options table, the byte size of each field in
// slot order; 0 is a vector of int32.
var optionLayouts = map[OptionsType][]int{
	OptConv2D:          {1, 4, 4, 1, 4, 4},
	OptDepthwiseConv2D: {1, 4, 4, 4, 1, 4, 4},
	OptPool2D:          {1, 4, 4, 4, 4, 1},
	OptFullyConnected:  {1, 1, 1, 1},
	OptSoftmax:         {4},
	OptAdd:             {1, 1},
	OptReshape:         {0},
	OptReducer:         {1},
}

// Padding is the schema enum Padding.
type Padding uint64

// Padding values.
const (
	PaddingSame  Padding = 0
	PaddingValid Padding = 1
)

// Activation is the schema enum ActivationFunctionType, fused into an op.
type Activation uint64

// Fused activations.
const (
	ActNone  Activation = 0
	ActRelu  Activation = 1
	ActRelu6 Activation = 3
)

// TFLite metadata (metadata_schema.fbs) slots sorterd reads.
const (
	metaSubgraphMetadata = 3 // table ModelMetadata

	metaSubgraphInputs  = 2 // table SubGraphMetadata
	metaSubgraphOutputs = 3

	metaTensorProcessUnits    = 4 // table TensorMetadata
	metaTensorAssociatedFiles = 6

	metaProcessUnitOptionsType = 0 // table ProcessUnit
	metaProcessUnitOptions     = 1
	metaNormalizationOptions   = 1 // union ProcessUnitOptions

	metaNormMean = 0 // table NormalizationOptions
	metaNormStd  = 1

	metaFileName    = 0 // table AssociatedFile
	metaFileType    = 2
	metaAxisLabels  = 2 // enum AssociatedFileType TENSOR_AXIS_LABELS
	tfliteMetadata  = "TFLITE_METADATA"
	maxAppendedFile = 64 << 20
)
