package codeshape

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// goFiles are the module's non-test Go files, by path from the root
// (hidden folders, such as .deps, and testdata left out).
func goFiles(t *testing.T) []string {
	t.Helper()
	root := testenv.Root()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// codeLines counts the lines of src that hold a token other than a
// comment.
func codeLines(t *testing.T, name string, src []byte) int {
	fset := token.NewFileSet()
	f := fset.AddFile(name, -1, len(src))
	var s scanner.Scanner
	s.Init(f, src, func(pos token.Position, msg string) { t.Errorf("%s: %s", pos, msg) }, 0)
	lines := map[int]bool{}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted at a line's end, not written
		}
		lines[f.Line(pos)] = true
	}
	return len(lines)
}

// cmd/sorterd is flags and wiring: at most MaxCmdLines lines of code.
func TestCmdIsWiring(t *testing.T) {
	total := 0
	for _, rel := range goFiles(t) {
		if filepath.Dir(rel) != filepath.Join("cmd", "sorterd") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(testenv.Root(), rel))
		if err != nil {
			t.Fatal(err)
		}
		total += codeLines(t, rel, src)
	}
	if total == 0 {
		t.Fatal("no code found in cmd/sorterd")
	}
	if total > MaxCmdLines {
		t.Errorf("cmd/sorterd has %d lines of code, more than %d: move library logic to the package whose role it is", total, MaxCmdLines)
	}
	t.Logf("cmd/sorterd: %d lines of code", total)
}

// No function outside tests is longer than MaxFuncLines.
func TestFunctionLength(t *testing.T) {
	fset := token.NewFileSet()
	longest, where := 0, ""
	for _, rel := range goFiles(t) {
		f, err := parser.ParseFile(fset, filepath.Join(testenv.Root(), rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > MaxFuncLines {
				t.Errorf("%s: %s is %d lines, more than %d", rel, fd.Name.Name, n, MaxFuncLines)
			}
			if n > longest {
				longest, where = n, rel+" "+fd.Name.Name
			}
		}
	}
	t.Logf("longest function: %s, %d lines", where, longest)
}

// Every package is in docs/building.md's layout table, which says each
// one's role.
func TestLayoutTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testenv.Root(), "docs", "building.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "## Layout")
	dirs := map[string]bool{}
	for _, rel := range goFiles(t) {
		dirs[filepath.ToSlash(filepath.Dir(rel))] = true
	}
	for dir := range dirs {
		if dir == "." {
			continue
		}
		if !strings.Contains(table, "`"+dir+"/`") && !strings.Contains(table, "`"+dir+"`") {
			t.Errorf("package %s is not in docs/building.md's layout table", dir)
		}
	}
}
