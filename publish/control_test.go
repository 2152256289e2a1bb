package publish

import (
	"context"
	"strings"
	"testing"
)

// fakeStation records the commands that reach it.
type fakeStation struct{ did []string }

func (f *fakeStation) Pause()  { f.did = append(f.did, "pause") }
func (f *fakeStation) Resume() { f.did = append(f.did, "resume") }
func (f *fakeStation) TestFlap(ctx context.Context, bin string) error {
	f.did = append(f.did, "flap "+bin)
	return nil
}

// Commands reach the station once it is set; before, and for unknown or
// incomplete commands, they are refused, saying why; reload signals once.
func TestControl(t *testing.T) {
	reload := make(chan struct{}, 1)
	c := NewControl(reload)
	ctx := context.Background()
	if err := c.Do(ctx, Command{Cmd: "pause"}); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("before the station: %v", err)
	}
	s := &fakeStation{}
	c.Set(s)
	for _, cmd := range []Command{{Cmd: "pause"}, {Cmd: "resume"}, {Cmd: "test_flap", Bin: "glass"}, {Cmd: "reload"}, {Cmd: "reload"}} {
		if err := c.Do(ctx, cmd); err != nil {
			t.Errorf("%+v: %v", cmd, err)
		}
	}
	if got := strings.Join(s.did, ","); got != "pause,resume,flap glass" || len(reload) != 1 {
		t.Errorf("did %s, reloads pending %d", got, len(reload))
	}
	for cmd, want := range map[Command]string{{Cmd: "test_flap"}: `needs "bin"`, {Cmd: "explode"}: `unknown command "explode"`} {
		if err := c.Do(ctx, cmd); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", cmd, err, want)
		}
	}
}
