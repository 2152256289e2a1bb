/* sorterd: the TFLite C library shipped in tfjs-tflite-node@0.0.2 has no
 * c_api_experimental.h, but github.com/mattn/go-tflite v1.0.4 includes it.
 * These are the four experimental entry points go-tflite calls; all of them
 * are exported by that libtensorflowlite_c.so (TFLite 2.9). A user with a
 * full TFLite build puts its own include directory first (TFLITE_DIR) and
 * never sees this file. */
#ifndef SORTERD_TFLITE_C_API_EXPERIMENTAL_H
#define SORTERD_TFLITE_C_API_EXPERIMENTAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tensorflow/lite/c/c_api.h"
#include "tensorflow/lite/c/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* builtin_ops.h is missing from that package too; the real type is an enum,
 * which has the ABI of an int. */
#ifndef TENSORFLOW_LITE_BUILTIN_OPS_H_
typedef int TfLiteBuiltinOperator;
#endif

TfLiteStatus TfLiteInterpreterResetVariableTensors(TfLiteInterpreter* interpreter);

void TfLiteInterpreterOptionsAddBuiltinOp(TfLiteInterpreterOptions* options,
                                          TfLiteBuiltinOperator op,
                                          const TfLiteRegistration* registration,
                                          int32_t min_version, int32_t max_version);

void TfLiteInterpreterOptionsAddCustomOp(TfLiteInterpreterOptions* options,
                                         const char* name,
                                         const TfLiteRegistration* registration,
                                         int32_t min_version, int32_t max_version);

void TfLiteInterpreterOptionsSetUseNNAPI(TfLiteInterpreterOptions* options, bool enable);

#ifdef __cplusplus
}
#endif

#endif
