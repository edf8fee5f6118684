package service

import (
	"context"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/store"
)

// checkSnapshotQuota refuses a manual snapshot when the customer already
// keeps as many snapshots, or as many bytes of them, as its limits allow.
// It runs under the customer's quota lock, in the transaction that records
// the snapshot.
//
// A running snapshot counts the bytes its dump has written so far: that is
// the file on disk now, it grows into the completed size without a jump,
// and it needs no guess of the final size. Its final size is therefore not
// reserved, so a customer can end up above the bytes limit by at most the
// snapshots in flight, one per database; the next create is then refused.
//
// Scheduled backups are counted but never refused: they are bounded by
// their policy's frequency and retention, and a full quota must not stop
// the backups the customer relies on.
func (s *Service) checkSnapshotQuota(ctx context.Context, q *store.Queries, customer string) error {
	l, err := s.limitsOf(ctx, q, customer)
	if err != nil {
		return err
	}
	used, err := q.CustomerSnapshotUsage(ctx, customer)
	if err != nil {
		return err
	}
	if int(used.Snapshots) >= l.maxSnapshots {
		e := cellar.Errorf(cellar.CodeQuotaExceeded, "snapshot quota reached: customer %s keeps %d snapshots and the limit (max_snapshots) is %d; delete some first",
			customer, used.Snapshots, l.maxSnapshots)
		e.Members = map[string]string{"limit": "max_snapshots"}
		return e
	}
	if l.maxSnapshotGB > 0 {
		if gb := float64(used.Bytes) / (1 << 30); gb >= l.maxSnapshotGB {
			e := cellar.Errorf(cellar.CodeQuotaExceeded, "snapshot storage quota reached: customer %s keeps %.6g GB of snapshots and the limit (max_snapshot_gb) is %g GB; delete some first",
				customer, gb, l.maxSnapshotGB)
			e.Members = map[string]string{"limit": "max_snapshot_gb"}
			return e
		}
	}
	return nil
}
