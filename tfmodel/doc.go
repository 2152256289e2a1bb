// Package tfmodel reads, edits and writes TensorFlow Lite model files
// (the TFL3 flatbuffer of tensorflow/lite/schema/schema.fbs) in pure Go,
// without the TFLite runtime.
//
// One type, Model, holds a whole file: Parse reads it once, checking
// every offset against the buffer (a model is user input: a corrupt or
// truncated file gives a *FormatError, never a panic), and Write builds it
// again with the FlatBuffers builder. Between the two, sorterd cuts a
// classifier into a feature extractor (CutAt), resizes its input
// (SetInputSize), rewrites a uint8 model as int8 (ToInt8) and appends a
// trained head (AddOpCode, AddTensor, AddMetadata).
//
// Like debug/elf, the package names the numbers of the format it reads:
// schema field slots, builtin operator codes (Builtin), option table
// types (OptionsType) and the field slots of each option table, tensor
// types (TensorType). Parts of the schema sorterd does not carry (sparse
// or variable tensors, several subgraphs, buffers outside the
// flatbuffer, unknown option tables) are still read where a classifier
// needs them, but make Write refuse the model rather than drop them
// silently; Editable says so up front.
//
// The package is cgo-free: training, the fuzzer and tools use it without
// the C library; package infer hands the checked bytes to TFLite.
package tfmodel
