package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestRotationFlipValid(t *testing.T) {
	for _, tc := range []struct {
		r  Rotation
		ok bool
	}{{0, true}, {90, true}, {180, true}, {270, true}, {45, false}, {360, false}, {-90, false}} {
		if tc.r.Valid() != tc.ok {
			t.Errorf("Rotation(%d).Valid() = %v", tc.r, !tc.ok)
		}
	}
	for _, tc := range []struct {
		f  Flip
		ok bool
	}{{"none", true}, {"horizontal", true}, {"vertical", true}, {"both", true}, {"", false}, {"Horizontal", false}, {"diagonal", false}} {
		if tc.f.Valid() != tc.ok {
			t.Errorf("Flip(%q).Valid() = %v", tc.f, !tc.ok)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"d: 250ms", 250 * time.Millisecond, ""},
		{"d: 2s", 2 * time.Second, ""},
		{"d: 1h30m", 90 * time.Minute, ""},
		{"d: 0s", 0, ""},
		{"d: 5", 0, `line 1: "5" is not a duration (like 250ms or 2s)`},
		{"\nd: soon", 0, `line 2: "soon" is not a duration`},
	} {
		var v struct{ D Duration }
		err := yaml.Unmarshal([]byte(tc.in), &v)
		switch {
		case tc.err == "" && (err != nil || v.D.D() != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.in, v.D.D(), err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
		if tc.err == "" {
			out, _ := yaml.Marshal(v)
			var back struct{ D Duration }
			if err := yaml.Unmarshal(out, &back); err != nil || back.D != v.D {
				t.Errorf("%q does not round-trip: %s → %v %v", tc.in, out, back.D.D(), err)
			}
		}
	}
}
