package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/testenv"
	"github.com/cellar/cellar/migrations"
)

// Records written before migration 00009 held new API keys in the clear
// (and pointers to passwords in Vault): the migration keeps none of those
// bodies, marks them withheld, and leaves other records as they were.
func TestMigration00009_ScrubsSecretsFromOldIdempotencyRecords(t *testing.T) {
	e := testenv.Need(t, env)
	t.Parallel()
	ctx := context.Background()
	name := "migtest_" + strings.ToLower(cellar.RandomToken(8))
	md := e.Metadata(t)
	must(t, exec1(md.Exec(ctx, "CREATE DATABASE "+name)))
	t.Cleanup(func() { md.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") })
	db, err := sql.Open("pgx", e.Services.Metadata.DSN(name))
	must(t, err)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	must(t, err)
	_, err = p.UpTo(ctx, 8)
	must(t, err)

	const apiKey = "ck_oldrecrd_Sup3rSecretKeyValueThatWasStoredInTheClear"
	keyID := uuid.New()
	insert := func(idem string, body string, secretPath any) {
		_, err := db.ExecContext(ctx, `INSERT INTO idempotency_keys
			(api_key_id, idem_key, fingerprint, state, status, content_type, body, secret_path, secret_version)
			VALUES ($1, $2, '\x00', 'done', 201, 'application/json', convert_to($3, 'UTF8'), $4, 1)`, keyID, idem, body, secretPath)
		must(t, err)
	}
	insert("key", `{"id":"x","prefix":"ck_oldrecrd","key":"`+apiKey+`"}`, nil)
	insert("db", `{"db_name":"cust_a_pg_x","password":"__cellar_secret_redacted__"}`, "cellar/customers/a/postgresql/cust_a_pg_x")
	insert("plain", `{"success":true,"message":"restarted"}`, nil)

	_, err = p.Up(ctx)
	must(t, err)
	rows, err := db.QueryContext(ctx, "SELECT idem_key, body, secret_withheld FROM idempotency_keys ORDER BY idem_key")
	must(t, err)
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var idem string
		var body []byte
		var withheld bool
		must(t, rows.Scan(&idem, &body, &withheld))
		if bytes.Contains(body, []byte(apiKey)) {
			t.Errorf("%s: the API key survived the migration", idem)
		}
		got[idem] = withheld
		if idem == "plain" && string(body) != `{"success":true,"message":"restarted"}` {
			t.Errorf("a record without a secret changed: %s", body)
		}
		if idem != "plain" && body != nil {
			t.Errorf("%s: body kept: %s", idem, body)
		}
	}
	must(t, rows.Err())
	if !got["key"] || !got["db"] || got["plain"] || len(got) != 3 {
		t.Fatalf("secret_withheld after the migration: %v", got)
	}
}
