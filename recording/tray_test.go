package recording

import "testing"

func TestParseTray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tray
		ok   bool
	}{
		{"light", Light, true},
		{"dark", Dark, true},
		{"textured", Textured, true},
		{"Light", 0, false},
		{"", 0, false},
		{"wood", 0, false},
	} {
		got, err := ParseTray(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseTray(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q (the name round-trips)", got, got.String(), tc.in)
		}
	}
	if s := Tray(7).String(); s != "Tray(7)" {
		t.Errorf("unknown tray prints %q", s)
	}
}
