package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// make chaos runs every test docs/reliability.md cites as evidence (issue
// 33: it left out hold, abandon, MQTT password, decode, invalid fields,
// client id), and make test runs make chaos (so CI does), with the other
// tests skipped there rather than run twice.
func TestChaosCoversTheDoc(t *testing.T) {
	root := testenv.Root()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CHAOS := (.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no CHAOS := line in the Makefile")
	}
	chaos := regexp.MustCompile(string(m[1]))
	for _, want := range []string{
		"\tLICENSE_CHECK_BINARY=$(CURDIR)/bin/sorterd $(GO) test -tags $(GOTAGS),matprofile -count=1 -timeout 30m -skip '$(CHAOS)' ./...\n\t$(MAKE) chaos\n",
		"\n\t$(GO) test -tags $(GOTAGS),matprofile -count=1 -timeout 30m -run '$(CHAOS)' ./...\n",
	} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile lacks %q: make test must skip the chaos tests and run make chaos, which runs them in every package", want)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil || !regexp.MustCompile(`(?m)^make test$`).Match(ci) {
		t.Errorf(".ci/run does not run make test (%v)", err)
	}

	// Every test function of the module, by name.
	defined := map[string]string{}
	fn := regexp.MustCompile(`(?m)^func (Test[A-Z]\w*)\(t \*testing\.T\)`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "models" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fn.FindAllSubmatch(b, -1) {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			defined[string(m[1])] = rel
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	doc, err := os.ReadFile(filepath.Join(root, "docs", "reliability.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The soak (make soak) is no part of the campaign: its section is left
	// out.
	if i := strings.Index(string(doc), "\n## Soak\n"); i >= 0 {
		rest := string(doc[i+1:])
		j := strings.Index(rest, "\n## ")
		if j < 0 {
			j = len(rest)
		}
		doc = []byte(string(doc[:i+1]) + rest[j:])
	}
	cited := map[string]bool{}
	for _, m := range regexp.MustCompile("`(Test[A-Z]\\w*)").FindAllSubmatch(doc, -1) {
		cited[string(m[1])] = true
	}
	if len(cited) < 40 {
		t.Fatalf("only %d tests cited in docs/reliability.md: the pattern no longer finds them", len(cited))
	}
	var names []string
	for n := range cited {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pkg, ok := defined[n]
		switch {
		case !ok:
			t.Errorf("docs/reliability.md cites %s, which no package defines", n)
		case !chaos.MatchString(n):
			t.Errorf("docs/reliability.md cites %s (%s), which make chaos does not run: add it to CHAOS", n, pkg)
		}
	}
	if !chaos.MatchString(t.Name()) {
		t.Errorf("CHAOS does not run %s itself", t.Name())
	}
	if !t.Failed() {
		t.Logf("%d tests cited in docs/reliability.md, all run by make chaos", len(names))
	}
}
