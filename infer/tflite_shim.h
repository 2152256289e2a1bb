// C helpers behind infer/tflite.go: an error reporter that formats
// correctly, XNNPACK and external delegates looked up at run time, and a
// wrapper delegate that counts what the real delegate took.
#ifndef SORTERD_TFLITE_SHIM_H
#define SORTERD_TFLITE_SHIM_H

#include <stdint.h>
#include "tensorflow/lite/c/c_api.h"
#include "tensorflow/lite/c/common.h"

typedef struct {
	TfLiteDelegate outer; // first: TFLite sees a plain TfLiteDelegate*
	TfLiteDelegate* inner;
	int nodes_before;
	int nodes_after;
	int delegate_kernels;
	int prepared;
	int status;
	int n_other;       // nodes left on built-in kernels (first 32)...
	int other_ops[32]; // ...and their builtin codes
} sorterd_census;

void sorterd_set_reporter(TfLiteInterpreterOptions* o, uintptr_t h);
void sorterd_set_fallback(TfLiteInterpreterOptions* o, int on);
TfLiteDelegate* sorterd_xnnpack_create(int threads, uint32_t flags, int* missing);
void sorterd_xnnpack_delete(TfLiteDelegate* d);
const char* sorterd_ext_load(void);
const char* sorterd_lib_check(const char* lib);
TfLiteDelegate* sorterd_ext_create(const char* lib, int n, const char** keys, const char** values);
void sorterd_ext_delete(TfLiteDelegate* d);
sorterd_census* sorterd_census_new(TfLiteDelegate* inner);

#endif
