// Package codeshape holds no code: its tests keep the module's shape.
// cmd/sorterd stays flags and wiring (at most MaxCmdLines lines of code),
// no function outside tests grows past MaxFuncLines lines, so that each
// one is read at once, and every package has its row in
// docs/building.md's layout table.
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
