// Package migrations embeds Cellar's metadata schema as goose SQL migrations.
// They run at start-up and through `cellar migrate`.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
