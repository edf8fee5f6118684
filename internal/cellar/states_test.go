package cellar

import (
	"testing"
)

// TestStates_ParseAcceptsExactlyTheClosedSet: every listed value parses to
// itself; anything else (another set's value, a case variant, the shown-only
// needs_attention) is refused.
func TestStates_ParseAcceptsExactlyTheClosedSet(t *testing.T) {
	for _, s := range DatabaseStatuses {
		if got, err := ParseDatabaseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseDatabaseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range OpStates {
		if got, err := ParseOpState(string(s)); err != nil || got != s {
			t.Errorf("ParseOpState(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range SnapshotStatuses {
		if got, err := ParseSnapshotStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseSnapshotStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range RestoreStatuses {
		if got, err := ParseRestoreStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseRestoreStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Active", "needs_attention", "succeeded", "done"} {
		if _, err := ParseDatabaseStatus(bad); err == nil {
			t.Errorf("ParseDatabaseStatus(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "active", "completed", "PENDING"} {
		if _, err := ParseOpState(bad); err == nil {
			t.Errorf("ParseOpState(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "done", "succeeded"} {
		if _, err := ParseSnapshotStatus(bad); err == nil {
			t.Errorf("ParseSnapshotStatus(%q) accepted", bad)
		}
		if _, err := ParseRestoreStatus(bad); err == nil {
			t.Errorf("ParseRestoreStatus(%q) accepted", bad)
		}
	}
}

// TestStates_ScanParsesWhereRowsAreRead: Scan (what the driver calls for
// a typed column) takes text or bytes of the closed set and refuses
// anything else; an operation kind is taken as read, whatever it is.
func TestStates_ScanParsesWhereRowsAreRead(t *testing.T) {
	var s DatabaseStatus
	if err := s.Scan("deleting"); err != nil || s != DatabaseDeleting {
		t.Fatalf("Scan(deleting) = %q, %v", s, err)
	}
	var r RestoreStatus
	if err := r.Scan([]byte("running")); err != nil || r != RestoreRunning {
		t.Fatalf("Scan([]byte running) = %q, %v", r, err)
	}
	var o OpState
	if err := o.Scan("exploded"); err == nil {
		t.Fatalf("OpState.Scan(exploded) accepted as %q", o)
	}
	if err := o.Scan(nil); err == nil {
		t.Fatal("OpState.Scan(nil) accepted")
	}
	var k OpKind
	if err := k.Scan("cluster_create"); err != nil || k != "cluster_create" {
		t.Fatalf("OpKind.Scan(cluster_create) = %q, %v: kinds are the registry's to judge", k, err)
	}
}

// TestStates_Predicates: which statuses hold a name, which snapshots and
// restores are in flight, what the API shows.
func TestStates_Predicates(t *testing.T) {
	live := map[DatabaseStatus]bool{DatabaseCreating: true, DatabaseActive: true, DatabaseDeleting: true}
	for _, s := range DatabaseStatuses {
		if s.Live() != live[s] {
			t.Errorf("%s.Live() = %v", s, s.Live())
		}
	}
	reason := "swap conflict"
	if got := DatabaseActive.Shown(&reason); got != DatabaseNeedsAttention {
		t.Errorf("active with a reason shows as %q", got)
	}
	if got := DatabaseActive.Shown(nil); got != DatabaseActive {
		t.Errorf("active without a reason shows as %q", got)
	}
	if got := DatabaseDeleting.Shown(&reason); got != DatabaseDeleting {
		t.Errorf("deleting with a reason shows as %q", got)
	}
	for _, s := range SnapshotStatuses {
		want := s == SnapshotPending || s == SnapshotRunning
		if s.InFlight() != want {
			t.Errorf("%s.InFlight() = %v", s, s.InFlight())
		}
	}
	for _, s := range RestoreStatuses {
		want := s == RestorePending || s == RestoreRunning
		if s.Active() != want {
			t.Errorf("%s.Active() = %v", s, s.Active())
		}
	}
	for _, s := range OpStates {
		if s.Final() == (s == OpPending) {
			t.Errorf("%s.Final() = %v", s, s.Final())
		}
	}
}
