#include "_cgo_export.h"
#include "tflite_shim.h"
#include <dlfcn.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensorflow/lite/c/c_api.h"
#include "tensorflow/lite/c/common.h"

// --- error reporter -------------------------------------------------------
// go-tflite v1.0.4 formats reporter messages with asprintf(fmt, va_list),
// which prints garbage and can crash on "%s"; this one uses vsnprintf.

static void sorterd_reporter(void* user, const char* fmt, va_list args) {
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, args);
	sorterdReport((uintptr_t)user, buf);
}

void sorterd_set_reporter(TfLiteInterpreterOptions* o, uintptr_t h) {
	TfLiteInterpreterOptionsSetErrorReporter(o, sorterd_reporter, (void*)h);
}

// Looked up at run time rather than linked, so that a TFLite build without
// it still loads and the missing feature becomes a clear error.
void sorterd_set_fallback(TfLiteInterpreterOptions* o, int on) {
	void (*f)(TfLiteInterpreterOptions*, bool) =
		dlsym(RTLD_DEFAULT, "TfLiteInterpreterOptionsSetEnableDelegateFallback");
	if (f) f(o, on != 0);
}

// --- XNNPACK ----------------------------------------------------------------
// TFLite 2.9's TfLiteXNNPackDelegateOptions: two 4-byte fields.
typedef struct { int32_t num_threads; uint32_t flags; } sorterd_xnn_options;

TfLiteDelegate* sorterd_xnnpack_create(int threads, uint32_t flags, int* missing) {
	sorterd_xnn_options (*defaults)(void) = dlsym(RTLD_DEFAULT, "TfLiteXNNPackDelegateOptionsDefault");
	TfLiteDelegate* (*create)(const sorterd_xnn_options*) = dlsym(RTLD_DEFAULT, "TfLiteXNNPackDelegateCreate");
	*missing = !defaults || !create;
	if (*missing) return NULL;
	sorterd_xnn_options o = defaults();
	o.num_threads = threads;
	o.flags |= flags;
	return create(&o);
}

void sorterd_xnnpack_delete(TfLiteDelegate* d) {
	void (*del)(TfLiteDelegate*) = dlsym(RTLD_DEFAULT, "TfLiteXNNPackDelegateDelete");
	if (del && d) del(d);
}

// --- external delegates (Edge TPU) ----------------------------------------
// Layout of TfLiteExternalDelegateOptions in TFLite 2.9 (external_delegate.h
// cannot be included from C: it sizes arrays with a const int).
typedef struct sorterd_ext_options {
	const char* lib_path;
	int count;
	const char* keys[256];
	const char* values[256];
	TfLiteStatus (*insert)(struct sorterd_ext_options*, const char*, const char*);
} sorterd_ext_options;

typedef struct {
	sorterd_ext_options (*defaults)(const char*);
	TfLiteDelegate* (*create)(const sorterd_ext_options*);
	void (*del)(TfLiteDelegate*);
} sorterd_ext_api;

static sorterd_ext_api sorterd_ext;

// The external-delegate loader ships beside libtensorflowlite_c.so
// (libexternal_delegate_obj.so in tfjs-tflite-node); find it there, or in a
// TFLite build that exports the functions itself.
const char* sorterd_ext_load(void) {
	static char err[1024];
	if (sorterd_ext.create) return NULL;
	void* h = RTLD_DEFAULT;
	if (!dlsym(h, "TfLiteExternalDelegateCreate")) {
		Dl_info info;
		if (!dladdr((void*)TfLiteVersion, &info) || !info.dli_fname) {
			snprintf(err, sizeof err, "cannot locate libtensorflowlite_c.so");
			return err;
		}
		char dir[900];
		snprintf(dir, sizeof dir, "%s", info.dli_fname);
		char path[1024];
		snprintf(path, sizeof path, "%s/libexternal_delegate_obj.so", dirname(dir));
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			snprintf(err, sizeof err, "external delegate support not found: %s", dlerror());
			return err;
		}
	}
	sorterd_ext.defaults = dlsym(h, "TfLiteExternalDelegateOptionsDefault");
	sorterd_ext.create = dlsym(h, "TfLiteExternalDelegateCreate");
	sorterd_ext.del = dlsym(h, "TfLiteExternalDelegateDelete");
	if (!sorterd_ext.defaults || !sorterd_ext.create || !sorterd_ext.del) {
		sorterd_ext.create = NULL;
		snprintf(err, sizeof err, "external delegate library lacks TfLiteExternalDelegateCreate");
		return err;
	}
	return NULL;
}

// sorterd_lib_check dlopens a delegate library to report a precise error
// (file missing, wrong architecture) before TFLite's loader hides it.
const char* sorterd_lib_check(const char* lib) {
	static char err[1024];
	void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, sizeof err, "%s", dlerror());
		return err;
	}
	dlclose(h);
	return NULL;
}

TfLiteDelegate* sorterd_ext_create(const char* lib, int n, const char** keys, const char** values) {
	sorterd_ext_options o = sorterd_ext.defaults(lib);
	for (int i = 0; i < n; i++) o.insert(&o, keys[i], values[i]);
	return sorterd_ext.create(&o);
}

void sorterd_ext_delete(TfLiteDelegate* d) {
	if (d && sorterd_ext.del) sorterd_ext.del(d);
}

// --- delegation census ------------------------------------------------------
// The C API does not say how much of the graph a delegate took. A thin
// wrapper delegate forwards Prepare to the real one and reads the execution
// plan before and after: nodes before, kernels after, and how many of those
// belong to the delegate.

static TfLiteStatus sorterd_census_prepare(TfLiteContext* ctx, TfLiteDelegate* d) {
	sorterd_census* c = (sorterd_census*)d;
	TfLiteIntArray* plan = NULL;
	if (ctx->GetExecutionPlan(ctx, &plan) == kTfLiteOk && plan) c->nodes_before = plan->size;
	TfLiteStatus st = c->inner->Prepare(ctx, c->inner);
	c->prepared = 1;
	c->status = st;
	if (ctx->GetExecutionPlan(ctx, &plan) == kTfLiteOk && plan) {
		c->nodes_after = plan->size;
		int k = 0;
		for (int i = 0; i < plan->size; i++) {
			TfLiteNode* node = NULL;
			TfLiteRegistration* reg = NULL;
			if (ctx->GetNodeAndRegistration(ctx, plan->data[i], &node, &reg) == kTfLiteOk &&
			    node) {
				if (node->delegate == c->inner) k++;
				else if (c->n_other < 32) c->other_ops[c->n_other++] = reg ? reg->builtin_code : -1;
			}
		}
		c->delegate_kernels = k;
	}
	return st;
}

sorterd_census* sorterd_census_new(TfLiteDelegate* inner) {
	sorterd_census* c = calloc(1, sizeof *c);
	if (!c) return NULL;
	c->inner = inner;
	c->outer.data_ = inner->data_;
	c->outer.Prepare = sorterd_census_prepare;
	c->outer.CopyFromBufferHandle = inner->CopyFromBufferHandle;
	c->outer.CopyToBufferHandle = inner->CopyToBufferHandle;
	c->outer.FreeBufferHandle = inner->FreeBufferHandle;
	c->outer.flags = inner->flags;
	return c;
}
