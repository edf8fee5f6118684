package isolationtest

import (
	"path/filepath"
	"testing"
)

// These tests try to make the server run programs and read or write its
// files on a tenant's behalf.

func TestTenant_PostgreSQL_CannotCopyToProgram(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	marker := filepath.Join(sharedDir(t), "ran")
	refusedPG(t, "COPY TO PROGRAM", execPG(conn, "COPY (SELECT 1) TO PROGRAM 'touch "+marker+"'"))
	expectNoFile(t, marker)
}

func TestTenant_PostgreSQL_CannotCopyFromProgram(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	marker := filepath.Join(sharedDir(t), "ran")
	if err := execPG(conn, "CREATE TABLE out (line text)"); err != nil {
		t.Fatal(err)
	}
	refusedPG(t, "COPY FROM PROGRAM", execPG(conn, "COPY out FROM PROGRAM 'id; touch "+marker+"'"))
	expectNoFile(t, marker)
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM out"); n != 0 {
		t.Fatalf("HOLE: COPY FROM PROGRAM loaded %d rows", n)
	}
}

func TestTenant_PostgreSQL_CannotCopyFromServerFile(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	secret := serverReadable(t, "server-secret\n")
	if err := execPG(conn, "CREATE TABLE loot (line text)"); err != nil {
		t.Fatal(err)
	}
	refusedPG(t, "COPY FROM a server file", execPG(conn, "COPY loot FROM '"+secret+"'"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM loot"); n != 0 {
		t.Fatalf("HOLE: COPY FROM a server file loaded %d rows", n)
	}
}

func TestTenant_PostgreSQL_CannotCopyToServerFile(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	target := filepath.Join(sharedDir(t), "written")
	refusedPG(t, "COPY TO a server file", execPG(conn, "COPY (SELECT 'x') TO '"+target+"'"))
	expectNoFile(t, target)
}

func TestTenant_PostgreSQL_CannotReadServerFiles(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	secret := serverReadable(t, "server-secret\n")
	for name, q := range map[string]string{
		"pg_read_file":          "SELECT pg_read_file('" + secret + "')",
		"pg_read_file_relative": "SELECT pg_read_file('postgresql.auto.conf')",
		"pg_read_binary_file":   "SELECT pg_read_binary_file('" + secret + "')",
		"pg_ls_dir":             "SELECT pg_ls_dir('" + filepath.Dir(secret) + "')",
		"pg_ls_dir_datadir":     "SELECT pg_ls_dir('.')",
		"pg_stat_file":          "SELECT pg_stat_file('" + secret + "')",
		"pg_ls_logdir":          "SELECT pg_ls_logdir()",
		"pg_ls_waldir":          "SELECT pg_ls_waldir()",
		"pg_current_logfile":    "SELECT pg_current_logfile()",
		"pg_ls_tmpdir":          "SELECT pg_ls_tmpdir()",
		"pg_ls_archive_status":  "SELECT pg_ls_archive_statusdir()",
	} {
		t.Run(name, func(t *testing.T) {
			refusedPG(t, q, queryPG(conn, q))
		})
	}
}

func TestTenant_PostgreSQL_CannotLoImportServerFile(t *testing.T) {
	e := need(t)
	t.Parallel()
	tn := newTenant(t, e, "postgresql")
	conn := tn.pg(t)
	secret := serverReadable(t, "server-secret\n")
	refusedPG(t, "lo_import of a server file", queryPG(conn, "SELECT lo_import('"+secret+"')"))
	refusedPG(t, "lo_import with an oid", queryPG(conn, "SELECT lo_import('"+secret+"', 424242)"))
	if n := pgScalar[int64](t, pgAdminIn(t, e, tn.DB), "SELECT count(*) FROM pg_largeobject_metadata"); n != 0 {
		t.Fatalf("HOLE: %d large objects exist after lo_import", n)
	}
}

func TestTenant_PostgreSQL_CannotLoExportToServerFile(t *testing.T) {
	e := need(t)
	t.Parallel()
	conn := newTenant(t, e, "postgresql").pg(t)
	target := filepath.Join(sharedDir(t), "exported")
	// Making a large object from data is allowed; writing it out is not.
	oid := pgScalar[uint32](t, conn, "SELECT lo_from_bytea(0, 'payload')")
	refusedPG(t, "lo_export to a server file", queryPG(conn, "SELECT lo_export($1, '"+target+"')", oid))
	expectNoFile(t, target)
}
