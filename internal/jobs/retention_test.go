package jobs_test

import (
	"slices"
	"testing"
	"time"
)

// TestRetention_AllNewerBackupsFailed_TheOldGoodOneIsKept: a daily policy
// whose first backup completed and whose next ones all failed keeps that
// first one long past its retention, since it is the database's only good
// backup; the failed ones expire. Once a newer backup completes, the old
// one goes at the next pass.
func TestRetention_AllNewerBackupsFailed_TheOldGoodOneIsKept(t *testing.T) {
	needEnv(t)
	q := &heldQueue{}
	start := time.Date(2032, 5, 1, 12, 0, 0, 0, time.UTC)
	sim := newSimulation(t, start, 0, q)
	db := sim.createDatabase(t, "mariadb", "lastgood")
	sim.setPolicy(t, "mariadb", db, true, "daily", 1)

	good := sim.due(t, "mariadb", db, time.Date(2032, 5, 2, 0, 0, 0, 0, time.UTC))
	sim.take(t, good)
	var failed []string
	for day := 3; day <= 6; day++ {
		id := sim.due(t, "mariadb", db, time.Date(2032, 5, day, 0, 0, 0, 0, time.UTC))
		sim.fail(t, id)
		failed = append(failed, id)
	}

	// On May 6th at noon the good one is 4.5 days old with a retention of
	// one day, and every newer backup failed.
	n := sim.expire(t, time.Date(2032, 5, 6, 12, 0, 0, 0, time.UTC))
	left := sim.left(t, "mariadb", db)
	t.Logf("expired %d (all customers); left %v", n, left)
	if !slices.Contains(left, good) {
		t.Fatalf("the only completed backup %s was expired; left %v", good, left)
	}
	// The failed ones older than a day went; the one of May 6th stays.
	if want := []string{failed[3], good}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}

	// A newer backup completes: now the old good one may go.
	newer := sim.due(t, "mariadb", db, time.Date(2032, 5, 7, 0, 0, 0, 0, time.UTC))
	sim.take(t, newer)
	sim.expire(t, time.Date(2032, 5, 7, 12, 0, 0, 0, time.UTC))
	if left := sim.left(t, "mariadb", db); !slices.Equal(left, []string{newer}) {
		t.Errorf("after a newer backup completed: left %v, want only %s", left, newer)
	}
}

// TestRetention_DisabledPolicy_NothingExpires: disabling a policy stops
// its backups and its expiry alike; re-enabling it resumes expiry.
func TestRetention_DisabledPolicy_NothingExpires(t *testing.T) {
	needEnv(t)
	q := &heldQueue{}
	sim := newSimulation(t, time.Date(2033, 1, 10, 8, 30, 0, 0, time.UTC), 0, q)
	db := sim.createDatabase(t, "mariadb", "paused")
	sim.setPolicy(t, "mariadb", db, true, "hourly", 1)
	var taken []string
	for h := 9; h <= 11; h++ {
		id := sim.due(t, "mariadb", db, time.Date(2033, 1, 10, h, 0, 0, 0, time.UTC))
		sim.take(t, id)
		taken = append(taken, id)
	}
	sim.setPolicy(t, "mariadb", db, false, "hourly", 1)

	sim.expire(t, time.Date(2033, 3, 1, 0, 0, 0, 0, time.UTC))
	if left := sim.left(t, "mariadb", db); len(left) != 3 {
		t.Fatalf("policy disabled: left %v, want all of %v", left, taken)
	}

	// Enabled again: the two older ones expire, the newest stays.
	sim.setPolicy(t, "mariadb", db, true, "hourly", 1)
	sim.expire(t, time.Date(2033, 3, 1, 0, 0, 0, 0, time.UTC))
	if left := sim.left(t, "mariadb", db); !slices.Equal(left, []string{taken[2]}) {
		t.Errorf("policy enabled again: left %v, want %v", left, taken[2:])
	}
}

// TestRetention_KeepsTheNewestN: with RetentionKeep 3, five completed
// backups far past their retention leave the three newest.
func TestRetention_KeepsTheNewestN(t *testing.T) {
	needEnv(t)
	q := &heldQueue{}
	sim := newSimulation(t, time.Date(2034, 7, 1, 0, 30, 0, 0, time.UTC), 3, q)
	db := sim.createDatabase(t, "postgresql", "keepn")
	sim.setPolicy(t, "postgresql", db, true, "hourly", 1)
	var taken []string
	for h := 1; h <= 5; h++ {
		id := sim.due(t, "postgresql", db, time.Date(2034, 7, 1, h, 0, 0, 0, time.UTC))
		sim.take(t, id)
		taken = append(taken, id)
	}
	// A failed one newer than all of them does not count as a good one.
	sim.fail(t, sim.due(t, "postgresql", db, time.Date(2034, 7, 1, 6, 0, 0, 0, time.UTC)))

	sim.expire(t, time.Date(2034, 8, 1, 0, 0, 0, 0, time.UTC))
	left := sim.left(t, "postgresql", db)
	if want := []string{taken[4], taken[3], taken[2]}; !slices.Equal(left, want) {
		t.Errorf("left %v, want the three newest completed %v", left, want)
	}
}
