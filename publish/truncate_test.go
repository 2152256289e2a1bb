package publish

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short stays", "pause", 10, "pause"},
		{"exactly n stays", "0123456789", 10, "0123456789"},
		{"cut and marked", "0123456789abc", 10, "0123456789…(13 bytes)"},
		{"cut before a split rune", "123456789é", 10, "123456789…(11 bytes)"},
		{"cut inside a 3-byte rune", "12345678€€", 10, "12345678…(14 bytes)"},
		{"zero", "abc", 0, "…(3 bytes)"},
	} {
		got := truncate([]byte(tc.in), tc.n)
		if got != tc.want {
			t.Errorf("%s: truncate(%q, %d) = %q, want %q", tc.name, tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%s: %q is not valid UTF-8", tc.name, got)
		}
		if kept, _, _ := strings.Cut(got, "…("); len(kept) > tc.n {
			t.Errorf("%s: kept %d bytes, limit %d", tc.name, len(kept), tc.n)
		}
	}
}
