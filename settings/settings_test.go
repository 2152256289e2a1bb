package settings

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// enum is what every choice here is.
type enum interface {
	fmt.Stringer
	encoding.TextMarshaler
	Valid() bool
}

// The enums' names round-trip, and a bad name is refused with the list.
func TestEnumNames(t *testing.T) {
	roundTrip := func(v enum, back encoding.TextUnmarshaler) {
		t.Helper()
		b, err := v.MarshalText()
		if err != nil || !v.Valid() {
			t.Errorf("%v: %v, valid %v", v, err, v.Valid())
		}
		if err := back.UnmarshalText(b); err != nil || reflect.ValueOf(back).Elem().Interface() != v {
			t.Errorf("%v: round trip gave %v, %v", v, reflect.ValueOf(back).Elem(), err)
		}
	}
	for _, m := range []TriggerMode{Continuous, GPIO, Motion} {
		roundTrip(m, new(TriggerMode))
	}
	for _, v := range []Vote{VoteMean, VoteMajority} {
		roundTrip(v, new(Vote))
	}
	for _, g := range []Geometry{Chute, Conveyor} {
		roundTrip(g, new(Geometry))
	}
	for _, m := range []Method{Background, ROI, Whole} {
		roundTrip(m, new(Method))
	}
	for _, s := range []Shape{Square, Tight} {
		roundTrip(s, new(Shape))
	}
	for _, b := range []Balance{BalanceNone, BalanceReference, BalanceTray} {
		roundTrip(b, new(Balance))
	}
	var v Vote
	err := v.UnmarshalText([]byte("average"))
	if !errors.Is(err, ErrUnknownName) || err.Error() != `unknown vote "average" (one of mean, majority)` {
		t.Errorf("bad vote: %v", err)
	}
	var ne *NameError
	if !errors.As(err, &ne) || ne.Name != "average" || !reflect.DeepEqual(ne.Names, VoteNames()) {
		t.Errorf("bad vote's NameError: %+v", ne)
	}
	if s := Vote(9).String(); s != "Vote(9)" || Vote(9).Valid() {
		t.Errorf("out of range: %s", s)
	}
	if _, err := Vote(9).MarshalText(); err == nil {
		t.Error("a vote out of range marshalled")
	}
	if got := TriggerModeNames(); !reflect.DeepEqual(got, []string{"continuous", "gpio", "motion"}) {
		t.Errorf("trigger names %v", got)
	}
	var m Method
	if err := m.UnmarshalText([]byte("magic")); err == nil {
		t.Error("unknown method accepted")
	}
	for _, n := range BalanceNames() {
		var b Balance
		if err := b.UnmarshalText([]byte(n)); err != nil || b.String() != n {
			t.Errorf("%s: %v %v", n, b, err)
		}
	}
	var b Balance
	if err := b.UnmarshalText([]byte("grey")); err == nil {
		t.Error("grey: want an error")
	}
	// The tables cannot be changed through what they return.
	MethodNames()[0] = "x"
	if Background.String() != "background" {
		t.Error("MethodNames handed out its table")
	}
}
