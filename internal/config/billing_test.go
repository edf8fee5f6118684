package config

import (
	"strings"
	"testing"
)

func TestLoad_BillingMaxAttempts(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.BillingMaxAttempts != 20 {
		t.Fatalf("default: %d, %v", c.BillingMaxAttempts, err)
	}
	c, err = Load(env(map[string]string{"CELLAR_BILLING_MAX_ATTEMPTS": "3"}))
	if err != nil || c.BillingMaxAttempts != 3 {
		t.Fatalf("3: %d, %v", c.BillingMaxAttempts, err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := Load(env(map[string]string{"CELLAR_BILLING_MAX_ATTEMPTS": bad})); err == nil || !strings.Contains(err.Error(), "CELLAR_BILLING_MAX_ATTEMPTS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
