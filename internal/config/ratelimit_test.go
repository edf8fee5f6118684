package config

import (
	"strings"
	"testing"
)

func TestLoad_RateLimit_DefaultsAndOverrides(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimit.Rate != 50 || c.RateLimit.Burst != 200 {
		t.Fatalf("defaults: %+v", c.RateLimit)
	}
	c, err = Load(env(map[string]string{"CELLAR_RATE_LIMIT": "0.5", "CELLAR_RATE_BURST": "3"}))
	if err != nil || c.RateLimit.Rate != 0.5 || c.RateLimit.Burst != 3 {
		t.Fatalf("%+v, %v", c.RateLimit, err)
	}
	if c, err = Load(env(map[string]string{"CELLAR_RATE_LIMIT": "0"})); err != nil || c.RateLimit.Rate != 0 {
		t.Fatalf("0 should turn the limit off: %+v, %v", c.RateLimit, err)
	}
	for name, bad := range map[string]string{"CELLAR_RATE_LIMIT": "-1", "CELLAR_RATE_BURST": "0"} {
		_, err := Load(env(map[string]string{name: bad}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, bad, err)
		}
	}
	for _, bad := range []string{"fast", "NaN"} {
		if _, err := Load(env(map[string]string{"CELLAR_RATE_LIMIT": bad})); err == nil {
			t.Errorf("CELLAR_RATE_LIMIT=%s accepted", bad)
		}
	}
}
