package cellar

import "fmt"

// The states below are closed sets: each type lists every value the
// metadata may hold (its All… slice mirrors the CHECK constraint of its
// column, which a store test compares), and the store's generated rows
// carry these types, so a status is named, not spelled, everywhere past
// the SQL. Operation kinds are the exception: the set is open on purpose
// (each kind registers its own settle steps with the service), so a kind
// read from the metadata is checked against that registry, never guessed.

// DatabaseStatus is the lifecycle state of a database row.
type DatabaseStatus string

// Database statuses, as stored.
const (
	DatabaseCreating DatabaseStatus = "creating"
	DatabaseActive   DatabaseStatus = "active"
	DatabaseDeleting DatabaseStatus = "deleting"
	DatabaseDeleted  DatabaseStatus = "deleted"
	// DatabaseFailed is a create that was rolled back.
	DatabaseFailed DatabaseStatus = "failed"
)

// DatabaseNeedsAttention is not stored: the API shows an active database
// with an attention reason (a restore that could neither finish nor be
// undone) under this status. See DatabaseStatus.Shown.
const DatabaseNeedsAttention DatabaseStatus = "needs_attention"

// DatabaseStatuses lists every stored database status.
var DatabaseStatuses = []DatabaseStatus{DatabaseCreating, DatabaseActive, DatabaseDeleting, DatabaseDeleted, DatabaseFailed}

// Live reports whether a database in this status holds its name (and its
// objects on the server): every status but the two terminal ones.
func (s DatabaseStatus) Live() bool {
	return s == DatabaseCreating || s == DatabaseActive || s == DatabaseDeleting
}

// Shown is the status the API reports: needs_attention for an active
// database with an attention reason, the stored status otherwise.
func (s DatabaseStatus) Shown(attentionReason *string) DatabaseStatus {
	if s == DatabaseActive && attentionReason != nil {
		return DatabaseNeedsAttention
	}
	return s
}

// ParseDatabaseStatus checks a stored database status.
func ParseDatabaseStatus(v string) (DatabaseStatus, error) {
	return parse(v, DatabaseStatuses, "database status")
}

// OpKind names what an operation does. Each kind the service can settle
// registers itself (service.opRegistry); the set is open so that new
// resource families add kinds without a central switch.
type OpKind string

// Operation kinds recorded today.
const (
	OpCreate  OpKind = "create"
	OpDelete  OpKind = "delete"
	OpRotate  OpKind = "rotate"
	OpUpdate  OpKind = "update"
	OpRestart OpKind = "restart"
	OpAccess  OpKind = "access"
	OpRestore OpKind = "restore"
)

// OpKinds lists the kinds recorded today, in the order above.
var OpKinds = []OpKind{OpCreate, OpDelete, OpRotate, OpUpdate, OpRestart, OpAccess, OpRestore}

// OpState is where an operation stands.
type OpState string

// Operation states, as stored.
const (
	// OpPending is recorded intent: the owner is at work, or died and the
	// reconciler settles it.
	OpPending    OpState = "pending"
	OpSucceeded  OpState = "succeeded"
	OpRolledBack OpState = "rolled_back"
	// OpFailed stopped for good without being undone (the database needs
	// attention); the reconciler leaves it.
	OpFailed OpState = "failed"
)

// OpStates lists every operation state.
var OpStates = []OpState{OpPending, OpSucceeded, OpRolledBack, OpFailed}

// Final reports whether the operation is settled.
func (s OpState) Final() bool { return s != OpPending }

// ParseOpState checks a stored operation state.
func ParseOpState(v string) (OpState, error) { return parse(v, OpStates, "operation state") }

// SnapshotStatus is where a snapshot stands.
type SnapshotStatus string

// Snapshot statuses, as stored.
const (
	SnapshotPending   SnapshotStatus = "pending"
	SnapshotRunning   SnapshotStatus = "running"
	SnapshotCompleted SnapshotStatus = "completed"
	SnapshotFailed    SnapshotStatus = "failed"
)

// SnapshotStatuses lists every snapshot status.
var SnapshotStatuses = []SnapshotStatus{SnapshotPending, SnapshotRunning, SnapshotCompleted, SnapshotFailed}

// InFlight reports whether a dump is queued or running.
func (s SnapshotStatus) InFlight() bool { return s == SnapshotPending || s == SnapshotRunning }

// ParseSnapshotStatus checks a stored snapshot status.
func ParseSnapshotStatus(v string) (SnapshotStatus, error) {
	return parse(v, SnapshotStatuses, "snapshot status")
}

// RestoreStatus is where a restore job stands.
type RestoreStatus string

// Restore statuses, as stored.
const (
	RestorePending   RestoreStatus = "pending"
	RestoreRunning   RestoreStatus = "running"
	RestoreCompleted RestoreStatus = "completed"
	RestoreFailed    RestoreStatus = "failed"
)

// RestoreStatuses lists every restore status.
var RestoreStatuses = []RestoreStatus{RestorePending, RestoreRunning, RestoreCompleted, RestoreFailed}

// Active reports whether the restore still holds its target (one active
// restore per target database).
func (s RestoreStatus) Active() bool { return s == RestorePending || s == RestoreRunning }

// ParseRestoreStatus checks a stored restore status.
func ParseRestoreStatus(v string) (RestoreStatus, error) {
	return parse(v, RestoreStatuses, "restore status")
}

func parse[T ~string](v string, all []T, what string) (T, error) {
	for _, s := range all {
		if string(s) == v {
			return s, nil
		}
	}
	return "", fmt.Errorf("unknown %s %q", what, v)
}

// Scan methods parse a status where the row is read (the store's generated
// rows carry these types; pgx and database/sql call Scan), so a value
// outside the closed set fails the read loudly instead of travelling on as
// an unknown string.

// Scan implements sql.Scanner.
func (s *DatabaseStatus) Scan(src any) error {
	return scanState(src, s, DatabaseStatuses, "database status")
}

// Scan implements sql.Scanner.
func (s *OpState) Scan(src any) error { return scanState(src, s, OpStates, "operation state") }

// Scan implements sql.Scanner.
func (s *SnapshotStatus) Scan(src any) error {
	return scanState(src, s, SnapshotStatuses, "snapshot status")
}

// Scan implements sql.Scanner.
func (s *RestoreStatus) Scan(src any) error {
	return scanState(src, s, RestoreStatuses, "restore status")
}

// Scan implements sql.Scanner. Kinds are not checked here: an unknown kind
// is the registry's to report (and leave alone), not a failed read of
// every pending operation.
func (k *OpKind) Scan(src any) error {
	v, err := scanText(src, "operation kind")
	*k = OpKind(v)
	return err
}

func scanState[T ~string](src any, dst *T, all []T, what string) error {
	v, err := scanText(src, what)
	if err != nil {
		return err
	}
	*dst, err = parse(v, all, what)
	return err
}

func scanText(src any, what string) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("scan %s: unexpected %T", what, src)
}
