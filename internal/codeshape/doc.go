// Package codeshape holds no code: its test keeps the module's shape, as
// issue 31 set it. cmd/sorterd stays flags and wiring (at most
// MaxCmdLines lines of code), and no function outside tests grows past
// MaxFuncLines lines, so that each one is read at once.
package codeshape

// Limits the test holds the module to.
const (
	// MaxCmdLines bounds cmd/sorterd's non-test lines of code: lines
	// holding code, not blank and not only comment.
	MaxCmdLines = 1500
	// MaxFuncLines bounds a non-test function or method, from its func
	// line to its closing brace.
	MaxFuncLines = 60
)
