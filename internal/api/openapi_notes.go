package api

// fieldNotes annotates members of schema types declared in other packages
// (request bodies of package service, billing events, field errors), by Go
// type name and JSON name, in struct-tag syntax (see openapi_schema.go).
// Types of this package carry their annotations in their own struct tags.
var fieldNotes = map[string]string{
	"CreateDatabaseRequest.db_type":          `enum:"postgresql|mariadb" required:"true" nullable:"false"`,
	"CreateDatabaseRequest.requested_name":   `doc:"Optional name suffix: letters, digits, underscore, at most 30; lowercased. Omitted or null: a generated suffix (YYYYMMDD_xxxxxx)." pattern:"^[A-Za-z0-9_]{1,30}$"`,
	"CreateDatabaseRequest.customer_id":      `doc:"Target customer (internal keys only; ignored for other keys)." pattern:"^[a-z0-9]{1,24}$"`,
	"DeleteDatabaseRequest.db_type":          `enum:"postgresql|mariadb" required:"true" nullable:"false"`,
	"DeleteDatabaseRequest.db_name":          `required:"true" nullable:"false"`,
	"DeleteDatabaseRequest.username":         `doc:"Optional; if given must be the database's own user. The user is always deleted with its database."`,
	"CreateKeyRequest.name":                  `maxLength:"100" nullable:"false"`,
	"CreateKeyRequest.customer_id":           `pattern:"^[a-z0-9]{1,24}$" required:"true" nullable:"false"`,
	"CreateKeyRequest.permissions":           `itemsEnum:"database:create|database:read|database:update|database:delete|admin" minItems:"1" required:"true" nullable:"false"`,
	"CreateKeyRequest.internal":              `doc:"Internal keys may act for other customers." nullable:"false"`,
	"RotateRequest.terminate_sessions":       `doc:"Also end the sessions opened with the old password." default:"false" nullable:"false"`,
	"UpdateDatabaseRequest.connection_limit": `minimum:"10" maximum:"1000" nullable:"false"`,
	"UpdateDatabaseRequest.description":      `maxLength:"1000"`,
	"AddAccessRuleRequest.ip_address":        `doc:"IPv4/IPv6 address or CIDR block without host bits, e.g. 192.0.2.100, 10.0.0.0/24, 2001:db8::/64" required:"true" nullable:"false"`,
	"AddAccessRuleRequest.description":       `maxLength:"200"`,
	"CreateSnapshotRequest.description":      `maxLength:"500"`,
	"RestoreRequest.snapshot_id":             `required:"true" nullable:"false"`,
	"RestoreRequest.target_db_name":          `doc:"Restore into a new database with this name suffix" pattern:"^[A-Za-z0-9_]{1,30}$"`,
	"BackupPolicyRequest.enabled":            `required:"true" nullable:"false"`,
	"BackupPolicyRequest.frequency":          `enum:"hourly|daily|weekly" default:"\"daily\"" nullable:"false"`,
	"BackupPolicyRequest.retention_days":     `minimum:"1" maximum:"365" default:"7" nullable:"false"`,
	"BackupPolicyRequest.time_of_day":        `pattern:"^([01][0-9]|2[0-3]):[0-5][0-9]$" default:"\"02:00\""`,
	"BackupPolicyRequest.timezone":           `doc:"IANA time zone of time_of_day, default UTC"`,
	"QuotaOverride.max_databases":            `minimum:"0"`,
	"QuotaOverride.max_storage_gb":           `minimum:"0"`,
	"QuotaOverride.max_postgresql":           `minimum:"0"`,
	"QuotaOverride.max_mariadb":              `minimum:"0"`,
	"QuotaOverride.max_snapshots":            `doc:"snapshots kept; 0 = no manual snapshots" minimum:"0"`,
	"QuotaOverride.max_snapshot_gb":          `doc:"GB of snapshots kept; 0 = unlimited" minimum:"0"`,
	"Event.id":                               `format:"uuid"`,
}

// typeNotes annotates schema types as a whole.
var typeNotes = map[string]string{
	"UpdateDatabaseRequest": `minProperties:"1"`,
}

// opDocs documents each endpoint of the route table, by method and pattern.
var opDocs = map[string]opDoc{
	"POST /v1/databases": {
		ID: "createDatabase", Summary: "Create database",
		Description: "Creates a database and its user on a server of the engine. The name is deterministic: cust_{customer_id}_pg_{requested_name} or cust_{customer_id}_my_{requested_name} (a date and random suffix when no name is requested). requested_name is lowercased. A repeated create of the same name answers 200 with idempotent=true and password=null. Requires database:create.",
		Success:     "Created; password shown once",
		Also:        map[int]string{200: "Already existed (idempotent); password is null"},
		Errors: map[int]string{
			422: "Invalid field values; `errors` names each field",
			503: "No server of the engine has room, or a server is unreachable",
		},
	},
	"DELETE /v1/databases": {
		ID: "deleteDatabase", Summary: "Delete database",
		Description: "Terminates connections, drops the database and its user, destroys the stored credentials. The database stays in history as deleted. Requires database:delete.",
		Errors: map[int]string{
			404: "No such database for this customer",
			422: "Invalid field values; `errors` names each field",
			503: "A server is unreachable; the deletion is retried automatically",
		},
	},
	"GET /v1/me": {
		ID: "me", Summary: "The calling key",
		Description: "Who the key is and what it may do; any valid key.",
	},
	"GET /v1/databases/engines": {
		ID: "listEngines", Summary: "List database engines",
		Description: "Engines with the versions their servers really run and what Cellar can do with them. Any valid key.",
	},
	"GET /v1/databases/{db_type}": {
		ID: "listDatabases", Summary: "List databases by type",
		Description: "The caller's live databases of one engine (being created, active, or being deleted). Internal keys may pass customer_id; for other keys it is ignored. Requires database:read.",
		Params:      []param{query("customer_id", ``)},
		Errors: map[int]string{
			422: "Unknown db_type or invalid customer_id",
		},
	},
	"GET /v1/databases/history": {
		ID: "listDatabaseHistory", Summary: "List database history",
		Description: "Every database the customer ever had on a server, deleted ones included, in creation order, each with its newest events (created, rotated, updated, restarted, deleted) in order: at most events_limit per database; events_cursor, when not null, pages back through the older ones (GET /v1/databases/history/events). Rolled-back creates never existed and are not listed. Cursor pagination. Requires database:read.",
		Params:      []param{query("limit", `type:"integer" minimum:"1" maximum:"200" default:"50"`), query("cursor", `doc:"next_cursor of the previous page"`), query("db_type", `enum:"postgresql|mariadb"`), query("include_deleted", `type:"boolean" default:"true"`), query("since", `doc:"Only databases alive at or after this time (not deleted before it)." format:"date-time"`), query("events_limit", `type:"integer" doc:"Events shown per database (the newest ones)." minimum:"1" maximum:"100" default:"20"`), query("customer_id", `doc:"Internal keys only; ignored for other keys."`)},
		Errors: map[int]string{
			422: "Invalid query parameter; `errors` names it",
		},
	},
	"GET /v1/databases/history/events": {
		ID: "listDatabaseHistoryEvents", Summary: "Page back through one database's events",
		Description: "The events before a history entry's events_cursor (or before this endpoint's next_cursor), oldest first within the page; next_cursor pages further back, null when there is nothing older. Requires database:read.",
		Params:      []param{query("cursor", `doc:"events_cursor of a history entry, or next_cursor of the previous page" required:"true"`), query("limit", `type:"integer" minimum:"1" maximum:"100" default:"20"`)},
		Errors: map[int]string{
			422: "Missing or invalid cursor, or invalid limit",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/credentials": {
		ID: "getCredentials", Summary: "Get database credentials",
		Description: "Connection details without the password: `password` is always present and null (it is shown only at creation and rotation). Requires database:read.",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
		},
	},
	"POST /v1/databases/{db_type}/{db_name}/credentials/rotate": {
		ID: "rotateCredentials", Summary: "Rotate database credentials",
		Description: "Sets a new generated password on the server (as a SCRAM verifier / native hash) and as a new Vault version, and returns it once. The old password stops working at once. With terminate_sessions, sessions opened with the old password are ended too. Requires database:update.",
		Success:     "Rotated; password shown once",
		Errors: map[int]string{
			404: "No such database for this customer",
			503: "A server or Vault is unreachable",
		},
	},
	"POST /v1/databases/{db_type}/{db_name}/restart": {
		ID: "restartDatabase", Summary: "Restart database",
		Description: "Terminates every session on this database only; the server keeps running and other databases are untouched. Requires database:update.",
		Errors: map[int]string{
			404: "No such database for this customer",
			503: "The server is unreachable",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/info": {
		ID: "getDatabaseInfo", Summary: "Get database info",
		Description: "Size, connection count, connection limit and owner read from the live server; created_at from Cellar's records. Requires database:read.",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
			503: "The server is unreachable",
		},
	},
	"POST /v1/databases/{db_type}/{db_name}/firewall": {
		ID: "addFirewallRule", Summary: "Add firewall rule",
		Description: "Allows an IPv4/IPv6 address or CIDR block to reach this database, enforced in two layers: in the engine (PostgreSQL pg_hba lines ending in a reject for the database; MariaDB user accounts only for the allowed hosts) and in the host firewall (ufw, when configured). Once a database has a rule, only its rules (and loopback) may connect. A CIDR with host bits set is refused. MariaDB matches IPv6 sources only as single addresses. Requires database:update.",
		Errors: map[int]string{
			400: "Malformed request or Idempotency-Key",
			404: "No such database for this customer",
			409: "Duplicate rule, too many rules, or the database is busy",
			503: "The rule is recorded but not yet applied; it will be applied automatically",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/firewall": {
		ID: "listFirewallRules", Summary: "List firewall rules",
		Description: "Requires database:read.",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
		},
	},
	"DELETE /v1/databases/{db_type}/{db_name}/firewall/{rule_id}": {
		ID: "deleteFirewallRule", Summary: "Delete firewall rule",
		Description: "Removes the rule from the engine and the firewall; sessions from a source no longer allowed are ended. Requires database:update.",
		Errors: map[int]string{
			404: "No such rule or database for this customer",
			503: "Recorded but not yet applied; it will be applied automatically",
		},
	},
	"POST /v1/databases/{db_type}/{db_name}/snapshots": {
		ID: "createSnapshot", Summary: "Create snapshot",
		Description: "Queues a logical backup (pg_dump custom format, gzip 1; mariadb-dump --single-transaction, gzip) and answers at once with the snapshot pending (202). Follow it with GET: status pending → running (bytes_written grows) → completed (size, sha256) or failed (error). A failed or interrupted dump never leaves a file that looks complete. One snapshot at a time per database: while one (manual or scheduled) is pending or running, another is 409 with its id in snapshot_id. A manual snapshot must fit the customer's snapshot limits (GET /v1/quota → snapshots); otherwise 403 quota-exceeded with limit naming the one reached. Requires database:read, as in the reference.",
		Success:     "Queued",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "A snapshot of this database is still being taken (snapshot_id names it), or the database is being created or deleted",
			503: "Snapshots are not available",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/snapshots": {
		ID: "listSnapshots", Summary: "List snapshots",
		Description: "Newest first. Requires database:read.",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
		},
	},
	"DELETE /v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}": {
		ID: "deleteSnapshot", Summary: "Delete snapshot",
		Description: "Deletes the file and the record; a snapshot still being taken is 409. Requires database:delete.",
		Errors: map[int]string{
			404: "No such snapshot or database for this customer",
		},
	},
	"POST /v1/databases/{db_type}/{db_name}/restore": {
		ID: "restoreSnapshot", Summary: "Restore from snapshot",
		Description: "Queues the restore and answers 202 at once with the restore to poll (Location: GET …/restores/{restore_id}): status pending → running → completed, or failed with the reason in error. Restores run as background jobs with a deadline that grows with the snapshot's size. The job checks the snapshot's SHA-256 and readability first; a corrupt snapshot fails the restore and nothing is touched. One restore at a time per database (409 otherwise). In place: the snapshot is restored into a fresh database, then swapped in (PostgreSQL: two renames in one transaction; MariaDB: one atomic RENAME TABLE of every table, then views, triggers and routines), so a failed or interrupted restore never leaves a broken database; sessions are ended at the swap. With target_db_name: a new database cust_{customer_id}_{pg|my}_{target_db_name} is created at once (naming rules apply) and its credentials are returned once in the 202 answer (Cache-Control: no-store), while the snapshot is loaded into it in the background; that also requires database:create, and a restore to a new name that fails deletes the new database again. The snapshot is loaded by a login with the tenant's rights only (PostgreSQL: a temporary role whose only right is membership in the owner; MariaDB: the owner's account, definers rewritten to it), never by an administrator, so tenant code that runs during the load (constraints, defaults, triggers, index expressions, materialized views) gains nothing. A restore that fails is undone (the database is unchanged) and is never applied later; one that can neither finish nor be undone leaves the database in status needs_attention. Requires database:update.",
		Success:     "Queued; poll the Location",
		Headers:     map[string]string{"Location": "Where to poll the restore"},
		Errors: map[int]string{
			400: "Malformed request or Idempotency-Key",
			404: "No such snapshot or database for this customer",
			409: "The snapshot is not completed, a restore of the database is already pending or running, the target name is taken, or the database needs attention",
			503: "A server is unreachable, or restores are not available",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/restores/{restore_id}": {
		ID: "getRestore", Summary: "Get restore",
		Description: "A restore of this database (the one addressed by POST …/restore), for polling: status pending → running → completed | failed (error says why, and what became of the database). Never carries credentials. Requires database:read.",
		Errors: map[int]string{
			404: "No such restore or database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/backup-policy": {
		ID: "getBackupPolicy", Summary: "Get backup policy",
		Description: "A database without a policy shows the disabled defaults. Requires database:read.",
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Malformed db_type or db_name",
		},
	},
	"PUT /v1/databases/{db_type}/{db_name}/backup-policy": {
		ID: "setBackupPolicy", Summary: "Set backup policy",
		Description: "hourly: at minute MM of time_of_day every hour; daily: at HH:MM; weekly: at HH:MM on Mondays; in timezone (IANA name, default UTC). retention_days (1-365) applies to scheduled snapshots, while the policy is enabled, and never removes the newest completed scheduled snapshots (CELLAR_BACKUP_KEEP_MIN, default 1): an old one expires only once a newer one has completed. Manual snapshots stay until deleted. Requires database:update.",
		Errors: map[int]string{
			400: "Malformed request or Idempotency-Key",
			404: "No such database for this customer",
		},
	},
	"GET /v1/databases/{db_type}/{db_name}/metrics": {
		ID: "getDatabaseMetrics", Summary: "Get database metrics",
		Description: "The latest sample taken by the collector (every 5 minutes by default; fields are null before the first pass). storage and connections per database; total_queries counts transactions on PostgreSQL (pg_stat_database) and statements on MariaDB (USER_STATISTICS); queries_per_sec is the rate since the previous sample; cache_hit_ratio is per database on PostgreSQL and the InnoDB buffer pool's on MariaDB; cpu_percent and memory_percent are the server process's share of its host (null when the server is not on Cellar's host). With since (and optionally until), samples lists the series for charts. Requires database:read.",
		Params:      []param{query("since", `format:"date-time"`), query("until", `format:"date-time"`)},
		Errors: map[int]string{
			404: "No such database for this customer",
			409: "The database is being created or deleted",
			422: "Invalid since/until, db_type or db_name",
		},
	},
	"GET /v1/quota": {
		ID: "getQuota", Summary: "Get database quota",
		Description: "Databases used and allowed (in total and per engine), storage used and allowed, backup storage, snapshots kept against the snapshot limits and the estimated monthly cost. Internal keys may pass customer_id. Requires database:read.",
		Params:      []param{query("customer_id", ``)},
		Errors: map[int]string{
			422: "Invalid customer_id",
		},
	},
	"GET /v1/usage": {
		ID: "listUsage", Summary: "List usage events",
		Description: "Billable events in order (database.created, database.deleted, database.resized, snapshot.stored, snapshot.deleted, usage.hourly), each with a unique id; the same events Cellar pushes to the billing endpoint. seq is assigned once an event is committed, in order, so paging with cursor=<seq of the last event read> (or next_cursor) never skips one that commits later. Internal keys only.",
		Params:      []param{query("cursor", ``), query("limit", `type:"integer" minimum:"1" maximum:"1000" default:"100"`), query("customer_id", ``)},
		Errors: map[int]string{
			422: "Invalid cursor, limit or customer_id",
		},
	},
	"PUT /v1/admin/quotas/{customer_id}": {
		ID: "setQuota", Summary: "Override a customer's quota",
		Description: "null fields use the configured defaults. Requires an internal admin key (a customer's own admin key may not change its limits: 403).",
		Errors: map[int]string{
			400: "Malformed request or Idempotency-Key",
		},
	},
	"PATCH /v1/databases/{db_type}/{db_name}": {
		ID: "updateDatabase", Summary: "Update database",
		Description: "connection_limit (10-1000) is enforced on the server (PostgreSQL ALTER DATABASE ... CONNECTION LIMIT; MariaDB MAX_USER_CONNECTIONS per account). description: null clears it. Fields left out are unchanged. Requires database:update.",
		Errors: map[int]string{
			400: "Malformed request or Idempotency-Key",
			404: "No such database for this customer",
			503: "The server is unreachable",
		},
	},
	"DELETE /v1/databases/{db_type}/{db_name}": {
		ID: "deleteDatabaseByPath", Summary: "Delete database",
		Description: "Same as DELETE /v1/databases with the database in the path. Requires database:delete.",
		Params:      []param{query("username", `doc:"If given, must be the database's own user (same name as the database)."`)},
		Errors: map[int]string{
			404: "No such database for this customer",
			422: "Malformed db_type, db_name or username",
			503: "A server is unreachable; the deletion is retried automatically",
		},
	},
	"GET /v1/admin/billing/dead-letters": {
		ID: "listBillingDeadLetters", Summary: "List billing dead letters",
		Description: "Usage events set aside after CELLAR_BILLING_MAX_ATTEMPTS failed deliveries to the billing endpoint, in seq order, with the attempts and the last error. Internal admin keys only.",
		Params:      []param{query("cursor", ``), query("limit", `type:"integer" minimum:"1" maximum:"1000" default:"100"`)},
		Errors: map[int]string{
			422: "Invalid cursor or limit",
		},
	},
	"POST /v1/admin/billing/dead-letters/{event_id}/requeue": {
		ID: "requeueBillingDeadLetter", Summary: "Re-queue a billing dead letter",
		Description: "Puts the event back at the head of delivery (it keeps its seq, so it arrives after later events: receivers deduplicate on the event id) with a fresh allowance of attempts. Internal admin keys only.",
		Errors: map[int]string{
			404: "No such usage event",
			409: "The event is not dead-lettered",
		},
	},
	"POST /v1/admin/keys": {
		ID: "createAPIKey", Summary: "Create API key",
		Description: "The key is shown once. Requires admin. An internal admin key may create any key. A customer's own admin key may create keys only for its own customer, never internal ones, and only with permissions it holds itself (otherwise 403).",
		Success:     "Created; key shown once",
		Errors: map[int]string{
			422: "Invalid field values; `errors` names each field",
		},
	},
	"GET /v1/admin/keys": {
		ID: "listAPIKeys", Summary: "List API keys",
		Description: "Keys, revoked included, by prefix: every key for an internal admin key; the customer's own non-internal keys for a customer's admin key. Requires admin.",
	},
	"DELETE /v1/admin/keys/{key_id}": {
		ID: "revokeAPIKey", Summary: "Revoke API key",
		Description: "By id or prefix. Requires admin; a customer's admin key reaches only its customer's non-internal keys (others are 404).",
		Errors: map[int]string{
			404: "No such key",
			409: "Already revoked",
		},
	},
}

// apiDescription is the description of the whole API.
const apiDescription = "Managed PostgreSQL and MariaDB databases on shared servers. Every error is an RFC 9457 problem (application/problem+json). Passwords are shown once: in the create response (and later on rotation); every response that carries one sends Cache-Control: no-store."
