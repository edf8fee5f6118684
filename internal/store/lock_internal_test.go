package store

import "testing"

// TestLockBackoff_GrowsToTheCeilingWithJitter: the pause before each try
// lies between half and all of its ceiling, which doubles from
// lockRetryFirst up to lockRetryCeiling and stays there. Pure: runs under -short.
func TestLockBackoff_GrowsToTheCeilingWithJitter(t *testing.T) {
	ceiling := lockRetryFirst
	for n := 0; n < 40; n++ {
		for i := 0; i < 50; i++ {
			if d := lockBackoff(n); d < ceiling/2 || d > ceiling {
				t.Fatalf("try %d: backoff %v outside [%v, %v]", n, d, ceiling/2, ceiling)
			}
		}
		ceiling = min(ceiling*2, lockRetryCeiling)
	}
}
