package infer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sorterd/sorterd/tfmodel"
)

// Delegate names accepted in config and flags.
const (
	DelegateCPU     = "cpu"     // TFLite's built-in kernels
	DelegateXNNPACK = "xnnpack" // default: XNNPACK from the TFLite library
	DelegateEdgeTPU = "edgetpu" // Coral Edge TPU via libedgetpu and the external-delegate API
	DelegateGPU     = "gpu"     // only where the TFLite library provides it
)

// Delegates lists the accepted names in a stable order.
var Delegates = []string{DelegateCPU, DelegateXNNPACK, DelegateEdgeTPU, DelegateGPU}

// DefaultEdgeTPULibrary is the Edge TPU runtime's soname.
const DefaultEdgeTPULibrary = "libedgetpu.so.1"

// DelegateReport says what really runs the graph: TFLite may refuse part or
// all of it to a delegate and quietly go on with built-in kernels, which
// costs several times the latency. Never assume; read this.
type DelegateReport struct {
	Requested string `json:"requested"`
	// Active is what executes the graph: the delegate, or "cpu".
	Active string `json:"active"`
	// Coverage is "full" (every node delegated), "partial", "failed"
	// (TFLite restored built-in kernels), "unavailable" (fell back to CPU
	// before building) or "none" (cpu requested).
	Coverage       string   `json:"coverage"`
	Nodes          int      `json:"nodes"`
	DelegatedNodes int      `json:"delegated_nodes"`
	Kernels        int      `json:"delegate_kernels"`
	Reason         string   `json:"reason,omitempty"`
	Messages       []string `json:"messages,omitempty"`
	restored       bool     // TFLite undid the delegation
}

// String is a one-line summary for logs and bench output.
func (r DelegateReport) String() string {
	switch r.Coverage {
	case "none":
		return "cpu (built-in kernels)"
	case "full":
		return fmt.Sprintf("%s: full (%d of %d nodes in %d delegate kernel(s))", r.Active, r.DelegatedNodes, r.Nodes, r.Kernels)
	case "partial":
		return fmt.Sprintf("%s: partial (%d of %d nodes in %d delegate kernel(s), %d on built-in kernels)",
			r.Requested, r.DelegatedNodes, r.Nodes, r.Kernels, r.Nodes-r.DelegatedNodes)
	default:
		return fmt.Sprintf("%s: %s, running on built-in kernels: %s", r.Requested, r.Coverage, r.Reason)
	}
}

// EdgeTPURuntimeHint says where the Edge TPU runtime comes from: it is not
// in Debian, only in Coral's own apt repository (docs/edgetpu.md).
const EdgeTPURuntimeHint = "the Edge TPU runtime is the package libedgetpu1-std from Coral's apt repository " +
	"(deb https://packages.cloud.google.com/apt coral-edgetpu-stable main; steps in docs/edgetpu.md)"

// compiledForEdgeTPU says how to compile a model the Edge TPU cannot run:
// the TPU runs only the subgraphs edgetpu_compiler turned into its custom
// op; a plain int8 model (sorterd train's, or the default one) has none.
func compiledForEdgeTPU(m *tfmodel.Model) error {
	for _, op := range m.CustomOps() {
		if op == edgeTPUCustom {
			return nil
		}
	}
	return fmt.Errorf("%w: edgetpu: the model was not compiled for the Edge TPU (it has no %s): "+
		"compile it with Coral's edgetpu_compiler first (edgetpu_compiler garbage.tflite writes garbage_edgetpu.tflite; "+
		"the compiler runs on an amd64 Debian/Ubuntu host, package edgetpu-compiler from Coral's apt repository; docs/edgetpu.md), "+
		"and set model.path to the compiled file", ErrDelegate, edgeTPUCustom)
}

func validDelegate(name string) error {
	for _, d := range Delegates {
		if d == name {
			return nil
		}
	}
	return fmt.Errorf("unknown delegate %q (want one of %s)", name, strings.Join(Delegates, ", "))
}

// xnnpackFlags enables XNNPACK's quantized kernels for the types the graph
// uses: int8 (QS8) for per-channel PTQ models, uint8 (QU8) for the older
// per-tensor QAT models.
func xnnpackFlags(m *tfmodel.Model) uint32 {
	var f uint32
	for _, t := range m.Tensors {
		switch t.Type {
		case tfmodel.Int8:
			f |= xnnQS8
		case tfmodel.UInt8:
			if len(t.Scale) > 0 {
				f |= xnnQU8
			}
		}
	}
	return f
}

// newDelegate creates the delegate the options ask for, or nil for cpu.
func newDelegate(o *Options, m *tfmodel.Model) (*cDelegate, error) {
	switch o.Delegate {
	case DelegateCPU:
		return nil, nil
	case DelegateXNNPACK:
		var d *cDelegate
		var err error
		lines, cerr := captureStderr(func() { d, err = newXNNPACK(o.Threads, xnnpackFlags(m)) })
		if cerr != nil {
			return nil, cerr
		}
		logTFLite(o.Logger, lines)
		return d, err
	case DelegateEdgeTPU:
		lib := o.EdgeTPULibrary
		if lib == "" {
			lib = DefaultEdgeTPULibrary
		}
		opts := map[string]string{}
		if o.EdgeTPUDevice != "" {
			opts["device"] = o.EdgeTPUDevice
		}
		d, err := newExternal(lib, opts)
		if err != nil {
			return nil, fmt.Errorf("%w; %s", err, EdgeTPURuntimeHint)
		}
		if err := compiledForEdgeTPU(m); err != nil {
			// The delegate would take no node and the TPU would sit idle
			// while the CPU runs the graph: say what the model needs.
			d.Delete()
			return nil, err
		}
		return d, nil
	case DelegateGPU:
		// The TFLite C library fetched by the Makefile (tfjs-tflite-node
		// 0.0.2) exports no GPU delegate; say so rather than pretend.
		if !hasSymbol("TfLiteGpuDelegateV2Create") {
			return nil, fmt.Errorf("%w: gpu: this TFLite library (%s) has no GPU delegate (TfLiteGpuDelegateV2Create is not exported); build TFLite with it and set TFLITE_DIR, or use xnnpack", ErrDelegate, TFLiteVersion())
		}
		return nil, fmt.Errorf("%w: gpu: the GPU delegate is exported but sorterd does not drive it yet", ErrDelegate)
	}
	return nil, validDelegate(o.Delegate)
}

// census turns the wrapper's counts and TFLite's messages into a report.
func census(requested string, d *cDelegate, msgs []string) DelegateReport {
	r := DelegateReport{Requested: requested, Active: requested, Messages: msgs}
	prepared, before, after, kernels, others := d.counts()
	r.Nodes = before
	restored := false
	for _, m := range msgs {
		if strings.Contains(m, "Restored original execution plan") || strings.Contains(m, "failed to prepare") {
			restored = true
		}
	}
	switch {
	case !prepared:
		r.Coverage, r.Active, r.Reason = "failed", DelegateCPU, "delegate was never asked to prepare the graph"
	case restored:
		r.Coverage, r.Active, r.restored = "failed", DelegateCPU, true
		r.Reason = firstFailure(msgs)
	case kernels == 0:
		r.Coverage, r.Active, r.Reason = "failed", DelegateCPU, "delegate took no node"
	default:
		r.Kernels = kernels
		r.DelegatedNodes = before - (after - kernels)
		r.Coverage = "partial"
		if r.DelegatedNodes == before {
			r.Coverage = "full"
		}
		r.Reason = undelegatedSummary(others)
	}
	return r
}

func firstFailure(msgs []string) string {
	var ops []string
	seen := map[string]bool{}
	for _, m := range msgs {
		// "failed to delegate ADD node #12"
		if i := strings.Index(m, "failed to delegate "); i >= 0 {
			f := strings.Fields(m[i+len("failed to delegate "):])
			if len(f) > 0 && !seen[f[0]] {
				seen[f[0]] = true
				ops = append(ops, f[0])
			}
		}
	}
	if len(ops) > 0 {
		sort.Strings(ops)
		return "delegate rejected " + strings.Join(ops, ", ") + " nodes"
	}
	if len(msgs) > 0 {
		return msgs[len(msgs)-1]
	}
	return "delegate failed"
}

// undelegatedSummary names the ops left on built-in kernels: "QUANTIZE×2".
func undelegatedSummary(codes []int32) string {
	if len(codes) == 0 {
		return ""
	}
	count := map[string]int{}
	var names []string
	for _, c := range codes {
		n := tfmodel.Builtin(c).String()
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n]++
	}
	for i, n := range names {
		if count[n] > 1 {
			names[i] = fmt.Sprintf("%s×%d", n, count[n])
		}
	}
	return "not delegated: " + strings.Join(names, ", ")
}
