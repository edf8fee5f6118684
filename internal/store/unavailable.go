package store

// unavailable.go: the one place where errors of the metadata database are
// classified. Every query of a Store, a Lock or a transaction passes its
// error through fault, so an outage of the metadata PostgreSQL answers 503
// naming the metadata database instead of 500.

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellar/cellar/internal/depfault"
)

// Dependency names the metadata database in errors shown to clients.
const Dependency = "the metadata database"

// fault turns an outage of the metadata database into an unavailable
// error; every other error (pgx.ErrNoRows included) passes unchanged.
func fault(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := depfault.Is(err); ok {
		return err
	}
	if depfault.Postgres(err) {
		return depfault.Unavailable(Dependency, err)
	}
	return err
}

// guarded runs generated queries on db and classifies their errors.
type guarded struct{ db DBTX }

func (g guarded) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t, err := g.db.Exec(ctx, sql, args...)
	return t, fault(err)
}

func (g guarded) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := g.db.Query(ctx, sql, args...)
	if err != nil {
		return rows, fault(err)
	}
	return guardedRows{rows}, nil
}

func (g guarded) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return guardedRow{g.db.QueryRow(ctx, sql, args...)}
}

func (g guarded) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	n, err := g.db.CopyFrom(ctx, table, cols, src)
	return n, fault(err)
}

type guardedRow struct{ pgx.Row }

func (r guardedRow) Scan(dest ...any) error { return fault(r.Row.Scan(dest...)) }

type guardedRows struct{ pgx.Rows }

func (r guardedRows) Err() error { return fault(r.Rows.Err()) }

func (r guardedRows) Scan(dest ...any) error { return fault(r.Rows.Scan(dest...)) }

// queriesOn returns generated queries whose errors are classified.
func queriesOn(db DBTX) *Queries { return New(guarded{db}) }
