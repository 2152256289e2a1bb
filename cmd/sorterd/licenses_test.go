package main

import (
	"bufio"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// licenseRow is one module of docs/licenses.md's table.
type licenseRow struct{ version, license string }

// moduleLicenses reads the table under "## Go modules compiled into
// sorterd" in docs/licenses.md: module -> version and SPDX license.
func moduleLicenses(t *testing.T, path string) map[string]licenseRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\| (\\S+) \\| ([^|]+?) \\|")
	rows := map[string]licenseRow{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Go modules compiled into sorterd"
			continue
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("%s: %s listed twice", path, m[1])
			}
			rows[m[1]] = licenseRow{m[2], m[3]}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no module table under \"## Go modules compiled into sorterd\"", path)
	}
	return rows
}

// copyrightLicenses reads debian/copyright's "Files: vendor/<module>/*"
// stanzas: module -> the stanza's License line.
func copyrightLicenses(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, stanza := range strings.Split(string(b), "\n\n") {
		var files []string
		license := ""
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Files: "); ok {
				files = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(line, "License: "); ok {
				license = v
			}
		}
		for _, f := range files {
			if m, ok := strings.CutPrefix(f, "vendor/"); ok {
				out[strings.TrimSuffix(m, "/*")] = license
			}
		}
	}
	return out
}

// debianLicense writes an SPDX expression in DEP-5's words: Debian calls
// the MIT license Expat, and DEP-5 joins licenses with lower-case "or"
// and "and".
func debianLicense(spdx string) string {
	r := strings.NewReplacer("MIT", "Expat", " OR ", " or ", " AND ", " and ")
	return r.Replace(spdx)
}

// binaryModules lists module@version for every module compiled into
// ./cmd/sorterd for GOOS/GOARCH with the packaged build's tags.
func binaryModules(t *testing.T, goarch string) map[string]string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-deps", "-tags", "customenv",
		"-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", "./cmd/sorterd")
	cmd.Dir = testenv.Root()
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list (%s): %v: %s", goarch, err, ee.Stderr)
		}
		t.Fatalf("go list (%s): %v", goarch, err)
	}
	mods := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok {
			mods[path] = version
		}
	}
	return mods
}

// TestModuleLicenses keeps docs/licenses.md and debian/copyright true to
// the binary: every module compiled into sorterd on linux/amd64 and
// linux/arm64 has a row with its version (an upgrade means reading its
// license again), no row names a module the binary lacks, and each row has
// a debian/copyright stanza with the same license. When
// LICENSE_CHECK_BINARY names a built binary (make test sets bin/sorterd),
// the modules its build information records (what go version -m prints)
// are checked too.
func TestModuleLicenses(t *testing.T) {
	root := testenv.Root()
	rows := moduleLicenses(t, filepath.Join(root, "docs", "licenses.md"))

	compiled := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		for p, v := range binaryModules(t, arch) {
			compiled[p] = v
		}
	}
	if bin := os.Getenv("LICENSE_CHECK_BINARY"); bin != "" {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatalf("LICENSE_CHECK_BINARY: %v", err)
		}
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			if v, ok := compiled[d.Path]; ok && v != d.Version {
				t.Errorf("%s: %s %s, but go list says %s (a stale binary?)", bin, d.Path, d.Version, v)
			}
			compiled[d.Path] = d.Version
		}
	}

	var missing, extra []string
	for p, v := range compiled {
		r, ok := rows[p]
		switch {
		case !ok:
			missing = append(missing, p+" "+v)
		case r.version != v:
			t.Errorf("docs/licenses.md: %s is listed at %s; the binary has %s: read its license again and update the row", p, r.version, v)
		}
	}
	for p := range rows {
		if _, ok := compiled[p]; !ok {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("docs/licenses.md lacks modules compiled into sorterd (add each with the license its LICENSE file states):\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("docs/licenses.md lists modules sorterd no longer compiles in: %s", strings.Join(extra, ", "))
	}

	stanzas := copyrightLicenses(t, filepath.Join(root, "debian", "copyright"))
	for p, r := range rows {
		got, ok := stanzas[p]
		switch {
		case !ok:
			t.Errorf("debian/copyright has no \"Files: vendor/%s/*\" stanza", p)
		case got != debianLicense(r.license):
			t.Errorf("debian/copyright: vendor/%s/* is %q; docs/licenses.md says %s (%q in DEP-5)", p, got, r.license, debianLicense(r.license))
		}
	}
	for p := range stanzas {
		if _, ok := rows[p]; !ok {
			t.Errorf("debian/copyright has a stanza for vendor/%s/*, which docs/licenses.md does not list", p)
		}
	}
}
