package config

import (
	"math"
	"strconv"
)

// RateLimitConfig bounds how fast one API key may call the API: a token
// bucket per key that holds Burst requests and refills at Rate per second.
type RateLimitConfig struct {
	Rate  float64 // CELLAR_RATE_LIMIT: requests per second per API key; 0 turns limiting off
	Burst int     // CELLAR_RATE_BURST: requests a key may send at once
}

// The defaults (CELLAR_RATE_LIMIT=50, CELLAR_RATE_BURST=200, in Vars) leave
// room for the dashboard's bursts and for scripted clients, and still stop
// a runaway loop from starving other customers.

// loadRateLimit reads the rate limit variables.
func loadRateLimit(get func(string) string, fail func(name, format string, args ...any)) RateLimitConfig {
	var c RateLimitConfig
	r, err := strconv.ParseFloat(get("CELLAR_RATE_LIMIT"), 64)
	if err != nil || r < 0 || r > 1e6 || math.IsNaN(r) {
		fail("CELLAR_RATE_LIMIT", "want requests per second from 0 (unlimited) to 1000000, got %q", get("CELLAR_RATE_LIMIT"))
	}
	c.Rate = r
	b, err := strconv.Atoi(get("CELLAR_RATE_BURST"))
	if err != nil || b < 1 || b > 1_000_000 {
		fail("CELLAR_RATE_BURST", "want an integer from 1 to 1000000, got %q", get("CELLAR_RATE_BURST"))
	}
	c.Burst = b
	return c
}
