package failpoint

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	set, err := Parse("a=kill, b=error,c=sleep:20ms")
	if err != nil {
		t.Fatal(err)
	}
	if set["a"] != Kill || set["b"] != Error || set["c"] != Sleep(20*time.Millisecond) {
		t.Errorf("Parse = %v", set)
	}
	for _, bad := range []string{"a", "=kill", "a=explode", "a=sleep:", "a=sleep:soon", "a=sleep:-1s", "a=sleep:0s"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestHitSleepGoesOn(t *testing.T) {
	set := Set{"slow": Sleep(time.Millisecond), "bad": Error}
	if err := set.Hit("slow"); err != nil {
		t.Errorf("Hit(slow) = %v, want nil after the pause", err)
	}
	if err := set.Hit("bad"); !errors.Is(err, ErrInjected) {
		t.Errorf("Hit(bad) = %v", err)
	}
	if err := set.Hit("unset"); err != nil {
		t.Errorf("Hit(unset) = %v", err)
	}
}
