// Package infer classifies images with a TensorFlow Lite model: the
// Classifier the daemon, `sorterd classify`, the web API and training's
// evaluation all run. It is the only package that calls the TFLite C
// library (tflite.go, through go-tflite and a small C shim); reading and
// editing model files without running them is package tfmodel's.
//
// # From model to scores
//
//  1. Model. New reads the file once, hashes it and checks it with
//     tfmodel.Parse (one input, one output, no custom op but the Edge
//     TPU's with the edgetpu delegate, labels matching the output), so
//     that a bad file is refused with a named error before TFLite sees
//     it. The checked bytes, not the file, go to TFLite: nothing is
//     mmapped, so a model file rewritten while the daemon runs cannot
//     fault it.
//  2. Interpreter pool. Options.Interpreters interpreters share the one
//     model; each has its own delegate (XNNPACK by default, an external
//     Edge TPU or GPU library on request), its own error reporter and its
//     own scratch images. Classify takes one from the pool for the call,
//     so the Classifier is safe for concurrent use. The first
//     interpreter's delegate census says how much of the graph the
//     delegate took (DelegateReport).
//  3. Preprocessing. The whole frame (8-bit BGR, gray or BGRA, any size)
//     is resized to the input tensor and written straight into it, BGR
//     swapped to RGB, through a per-channel lookup table that applies the
//     normalisation (Options.Mean/Std, else the model's metadata, else
//     MobileNet's [-1, 1]) and then the input tensor's own quantization,
//     so uint8, int8 and float models are all fed from their parameters.
//  4. Scores. The output is dequantized, a softmax is applied if the
//     graph does not end in one, and test-time views (Options.TTA,
//     ClassifyViews) are averaged. Result holds every class's score in
//     label order, the top k and per-stage timings.
//
// # Who owns which C memory
//
//   - The model's bytes: a C copy (C.CBytes) owned by the Classifier,
//     freed in Close after the TfLiteModel that reads them.
//   - The TfLiteModel: owned by the Classifier, deleted in Close after
//     every interpreter.
//   - Per interpreter (interp.close, in this order): the interpreter,
//     then the delegate it uses (with the census wrapper around it), then
//     the interpreter options; the cgo.Handle of its error reporter; its
//     gocv Mats (resized input, view scratch).
//   - Input and output tensors belong to their interpreter; scores are
//     copied out into Go memory before the interpreter goes back to the
//     pool.
//   - Mats passed to Classify stay the caller's; images from
//     ReadImageFile and DecodeImage are the caller's to Close.
//
// Close waits for every interpreter to come back to the pool before it
// frees anything, and is safe to call twice. Tests build with
// -tags matprofile to check that no Mat leaks.
package infer
