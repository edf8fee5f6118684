#!/usr/bin/env python3
# Writes internal/api/openapi.json, the OpenAPI 3.1 document Cellar serves
# and validates every test response against. Edit this, then `make generate`.
import json
ref=lambda n: {"$ref": f"#/components/schemas/{n}"}
def prob(desc): return {"description": desc, "content": {"application/problem+json": {"schema": ref("Problem")}}}
def js(schema, desc="OK", headers=None):
    r={"description": desc, "content": {"application/json": {"schema": schema}}}
    if headers: r["headers"]=headers
    return r
nostore={"Cache-Control": {"description": "no-store: the body carries a secret", "schema": {"type":"string"}}}
std_err={"401": prob("Missing, unknown or revoked API key"), "403": prob("The key lacks the required permission"),
         "429": {"description": "Problem type /problems/rate-limited: this API key sent too many requests (token bucket per key: CELLAR_RATE_LIMIT per second, bursts of CELLAR_RATE_BURST), or, on a change, this customer already runs CELLAR_MAX_CONCURRENT_CHANGES changes at once; retry after Retry-After seconds",
                 "headers": {"Retry-After": {"description": "Seconds until the key may send again", "schema": {"type": "string"}}},
                 "content": {"application/problem+json": {"schema": ref("Problem")}}},
         "500": prob("Unexpected error; quote request_id")}
body_err={"400": prob("Malformed JSON or empty body"), "413": prob("Body too large"), "415": prob("Content-Type is not application/json"), "422": prob("Invalid field values; `errors` names each field")}
dbtype={"name":"db_type","in":"path","required":True,"schema":{"type":"string","enum":["postgresql","mariadb"]}}
dbname={"name":"db_name","in":"path","required":True,"schema":{"type":"string","pattern":"^cust_[a-z0-9]{1,24}_(pg|my)_[a-z0-9_]{1,30}$"},"description":"Database name with customer prefix, e.g. cust_6dd1d906_pg_webapp_prod_db"}
nullable=lambda t, **kw: dict({"type":[t,"null"]}, **kw)
idem={"name":"Idempotency-Key","in":"header","required":False,"schema":{"type":"string","minLength":1,"maxLength":255},
      "description":"Makes the request safe to retry: a retry with the same key and request gets the first response (header Idempotent-Replayed: true), never a second change. The same key with a different request is 422; a retry while the first is running is 409. Keys are kept 24 h per API key. Server errors (5xx) are not stored. A response that carried a secret (a password, an API key: every response with Cache-Control: no-store) is never stored with its secret: its retry answers 409 with problem type /problems/secret-not-replayed, original_status (the first response's status) and original_response (the first response without its secret members, when it could be redacted). The secret was shown once: rotate the credentials, or revoke the key (its id is in original_response) and create a new one."}
idem_err={"409":prob("A request with this Idempotency-Key is still in progress, or the database is busy, or (type /problems/secret-not-replayed) it already succeeded and its response carried a secret, which is shown only once"),"422":prob("Invalid field values, or an Idempotency-Key reused with a different request")}
def mut(op):
    op.setdefault("parameters",[]).append(idem)
    for k,v in idem_err.items(): op["responses"].setdefault(k,v)
    op["responses"].setdefault("400",prob("Malformed request or Idempotency-Key"))
    op["responses"].setdefault("429",dict(prob("Too many changes of this customer are running at once (CELLAR_MAX_CONCURRENT_CHANGES); retry after Retry-After seconds"),headers={"Retry-After":{"description":"Seconds to wait before retrying","schema":{"type":"string"}}}))
    return op

doc={
 "openapi":"3.1.0",
 "info":{"title":"Cellar API","version":"1.0.0","description":"Managed PostgreSQL and MariaDB databases on shared servers. Every error is an RFC 9457 problem (application/problem+json). Passwords are shown once: in the create response (and later on rotation); every response that carries one sends Cache-Control: no-store."},
 "servers":[{"url":"/"}],
 "security":[{"apiKey":[]}],
 "paths":{
  "/v1/databases":{
   "post":mut({"operationId":"createDatabase","summary":"Create database","description":"Creates a database and its user on a server of the engine. The name is deterministic: cust_{customer_id}_pg_{requested_name} or cust_{customer_id}_my_{requested_name} (a date and random suffix when no name is requested). requested_name is lowercased. A repeated create of the same name answers 200 with idempotent=true and password=null. Requires database:create.",
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("CreateDatabaseRequest")}}},
     "responses":dict({"201":js(ref("CreateDatabaseResponse"),"Created; password shown once",nostore),"200":js(ref("CreateDatabaseResponse"),"Already existed (idempotent); password is null",nostore),"503":prob("No server of the engine has room, or a server is unreachable")},**body_err,**std_err)}),
   "delete":mut({"operationId":"deleteDatabase","summary":"Delete database","description":"Terminates connections, drops the database and its user, destroys the stored credentials. The database stays in history as deleted. Requires database:delete.",
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("DeleteDatabaseRequest")}}},
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such database for this customer"),"503":prob("A server is unreachable; the deletion is retried automatically")},**body_err,**std_err)})
  },
  "/v1/me":{
   "get":{"operationId":"me","summary":"The calling key","description":"Who the key is and what it may do; any valid key.",
     "responses":dict({"200":js({"type":"object","additionalProperties":False,"required":["key_prefix","customer_id","permissions","internal"],
       "properties":{"key_prefix":{"type":"string"},"customer_id":{"type":"string"},"permissions":{"type":"array","items":{"type":"string"}},"internal":{"type":"boolean"}}})},**std_err)}
  },
  "/":{"get":{"operationId":"dashboard","summary":"The web dashboard","security":[],"responses":{"200":{"description":"HTML","content":{"text/html":{"schema":{"type":"string"}}}}}}},
  "/v1/databases/engines":{
   "get":{"operationId":"listEngines","summary":"List database engines","description":"Engines with the versions their servers really run and what Cellar can do with them. Any valid key.",
     "responses":dict({"200":js(ref("EngineList"))},**std_err)}
  },
  "/v1/databases/{db_type}":{
   "get":{"operationId":"listDatabases","summary":"List databases by type","description":"The caller's live databases of one engine (being created, active, or being deleted). Internal keys may pass customer_id; for other keys it is ignored. Requires database:read.",
     "parameters":[dbtype,{"name":"customer_id","in":"query","required":False,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("DatabaseList")),"422":prob("Unknown db_type or invalid customer_id")},**std_err)}
  },
  "/v1/databases/history":{
   "get":{"operationId":"listDatabaseHistory","summary":"List database history","description":"Every database the customer ever had on a server, deleted ones included, in creation order, each with its newest events (created, rotated, updated, restarted, deleted) in order: at most events_limit per database; events_cursor, when not null, pages back through the older ones (GET /v1/databases/history/events). Rolled-back creates never existed and are not listed. Cursor pagination. Requires database:read.",
     "parameters":[{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":200,"default":50}},
                   {"name":"cursor","in":"query","schema":{"type":"string"},"description":"next_cursor of the previous page"},
                   {"name":"db_type","in":"query","schema":{"type":"string","enum":["postgresql","mariadb"]}},
                   {"name":"include_deleted","in":"query","schema":{"type":"boolean","default":True}},
                   {"name":"since","in":"query","schema":{"type":"string","format":"date-time"},"description":"Only databases alive at or after this time (not deleted before it)."},
                   {"name":"events_limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":20},"description":"Events shown per database (the newest ones)."},
                   {"name":"customer_id","in":"query","schema":{"type":"string"},"description":"Internal keys only; ignored for other keys."}],
     "responses":dict({"200":js(ref("History")),"422":prob("Invalid query parameter; `errors` names it")},**std_err)}
  },
  "/v1/databases/history/events":{
   "get":{"operationId":"listDatabaseHistoryEvents","summary":"Page back through one database's events","description":"The events before a history entry's events_cursor (or before this endpoint's next_cursor), oldest first within the page; next_cursor pages further back, null when there is nothing older. Requires database:read.",
     "parameters":[{"name":"cursor","in":"query","required":True,"schema":{"type":"string"},"description":"events_cursor of a history entry, or next_cursor of the previous page"},
                   {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":20}}],
     "responses":dict({"200":js(ref("EventsPage")),"422":prob("Missing or invalid cursor, or invalid limit")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/credentials":{
   "get":{"operationId":"getCredentials","summary":"Get database credentials","description":"Connection details without the password: `password` is always present and null (it is shown only at creation and rotation). Requires database:read.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("Credentials")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/credentials/rotate":{
   "post":mut({"operationId":"rotateCredentials","summary":"Rotate database credentials","description":"Sets a new generated password on the server (as a SCRAM verifier / native hash) and as a new Vault version, and returns it once. The old password stops working at once. With terminate_sessions, sessions opened with the old password are ended too. Requires database:update.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":False,"content":{"application/json":{"schema":ref("RotateRequest")}}},
     "responses":dict({"200":js(ref("RotateResponse"),"Rotated; password shown once",nostore),"404":prob("No such database for this customer"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json"),"503":prob("A server or Vault is unreachable")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/restart":{
   "post":mut({"operationId":"restartDatabase","summary":"Restart database","description":"Terminates every session on this database only; the server keeps running and other databases are untouched. Requires database:update.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("RestartResponse")),"404":prob("No such database for this customer"),"503":prob("The server is unreachable")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/info":{
   "get":{"operationId":"getDatabaseInfo","summary":"Get database info","description":"Size, connection count, connection limit and owner read from the live server; created_at from Cellar's records. Requires database:read.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("DatabaseInfo")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name"),"503":prob("The server is unreachable")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/firewall":{
   "post":mut({"operationId":"addFirewallRule","summary":"Add firewall rule","description":"Allows an IPv4/IPv6 address or CIDR block to reach this database, enforced in two layers: in the engine (PostgreSQL pg_hba lines ending in a reject for the database; MariaDB user accounts only for the allowed hosts) and in the host firewall (ufw, when configured). Once a database has a rule, only its rules (and loopback) may connect. A CIDR with host bits set is refused. MariaDB matches IPv6 sources only as single addresses. Requires database:update.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("AddFirewallRuleRequest")}}},
     "responses":dict({"201":js(ref("FirewallRule")),"404":prob("No such database for this customer"),"409":prob("Duplicate rule, too many rules, or the database is busy"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json"),"503":prob("The rule is recorded but not yet applied; it will be applied automatically")},**std_err)}),
   "get":{"operationId":"listFirewallRules","summary":"List firewall rules","description":"Requires database:read.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("FirewallRuleList")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/firewall/{rule_id}":{
   "delete":mut({"operationId":"deleteFirewallRule","summary":"Delete firewall rule","description":"Removes the rule from the engine and the firewall; sessions from a source no longer allowed are ended. Requires database:update.",
     "parameters":[dbtype,dbname,{"name":"rule_id","in":"path","required":True,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such rule or database for this customer"),"503":prob("Recorded but not yet applied; it will be applied automatically")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/snapshots":{
   "post":mut({"operationId":"createSnapshot","summary":"Create snapshot","description":"Queues a logical backup (pg_dump custom format, gzip 1; mariadb-dump --single-transaction, gzip) and answers at once with the snapshot pending (202). Follow it with GET: status pending → running (bytes_written grows) → completed (size, sha256) or failed (error). A failed or interrupted dump never leaves a file that looks complete. One snapshot at a time per database: while one (manual or scheduled) is pending or running, another is 409 with its id in snapshot_id. A manual snapshot must fit the customer's snapshot limits (GET /v1/quota → snapshots); otherwise 403 quota-exceeded with limit naming the one reached. Requires database:read, as in the reference.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":False,"content":{"application/json":{"schema":ref("CreateSnapshotRequest")}}},
     "responses":dict({"202":js(ref("CreateSnapshotResponse"),"Queued"),"404":prob("No such database for this customer"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json"),"409":prob("A snapshot of this database is still being taken (snapshot_id names it), or the database is being created or deleted"),"503":prob("Snapshots are not available")},**std_err)}),
   "get":{"operationId":"listSnapshots","summary":"List snapshots","description":"Newest first. Requires database:read.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("SnapshotList")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}":{
   "delete":mut({"operationId":"deleteSnapshot","summary":"Delete snapshot","description":"Deletes the file and the record; a snapshot still being taken is 409. Requires database:delete.",
     "parameters":[dbtype,dbname,{"name":"snapshot_id","in":"path","required":True,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such snapshot or database for this customer")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/restore":{
   "post":mut({"operationId":"restoreSnapshot","summary":"Restore from snapshot","description":"Queues the restore and answers 202 at once with the restore to poll (Location: GET …/restores/{restore_id}): status pending → running → completed, or failed with the reason in error. Restores run as background jobs with a deadline that grows with the snapshot's size. The job checks the snapshot's SHA-256 and readability first; a corrupt snapshot fails the restore and nothing is touched. One restore at a time per database (409 otherwise). In place: the snapshot is restored into a fresh database, then swapped in (PostgreSQL: two renames in one transaction; MariaDB: one atomic RENAME TABLE of every table, then views, triggers and routines), so a failed or interrupted restore never leaves a broken database; sessions are ended at the swap. With target_db_name: a new database cust_{customer_id}_{pg|my}_{target_db_name} is created at once (naming rules apply) and its credentials are returned once in the 202 answer (Cache-Control: no-store), while the snapshot is loaded into it in the background; that also requires database:create, and a restore to a new name that fails deletes the new database again. The snapshot is loaded by a login with the tenant's rights only (PostgreSQL: a temporary role whose only right is membership in the owner; MariaDB: the owner's account, definers rewritten to it), never by an administrator, so tenant code that runs during the load (constraints, defaults, triggers, index expressions, materialized views) gains nothing. A restore that fails is undone (the database is unchanged) and is never applied later; one that can neither finish nor be undone leaves the database in status needs_attention. Requires database:update.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("RestoreRequest")}}},
     "responses":dict({"202":js(ref("Restore"),"Queued; poll the Location",dict(nostore,Location={"description":"Where to poll the restore","schema":{"type":"string"}})),"404":prob("No such snapshot or database for this customer"),"409":prob("The snapshot is not completed, a restore of the database is already pending or running, the target name is taken, or the database needs attention"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json"),"503":prob("A server is unreachable, or restores are not available")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/restores/{restore_id}":{
   "get":{"operationId":"getRestore","summary":"Get restore","description":"A restore of this database (the one addressed by POST …/restore), for polling: status pending → running → completed | failed (error says why, and what became of the database). Never carries credentials. Requires database:read.",
     "parameters":[dbtype,dbname,{"name":"restore_id","in":"path","required":True,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("Restore")),"404":prob("No such restore or database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name")},**std_err)}
  },
  "/v1/databases/{db_type}/{db_name}/backup-policy":{
   "get":{"operationId":"getBackupPolicy","summary":"Get backup policy","description":"A database without a policy shows the disabled defaults. Requires database:read.",
     "parameters":[dbtype,dbname],
     "responses":dict({"200":js(ref("BackupPolicy")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Malformed db_type or db_name")},**std_err)},
   "put":mut({"operationId":"setBackupPolicy","summary":"Set backup policy","description":"hourly: at minute MM of time_of_day every hour; daily: at HH:MM; weekly: at HH:MM on Mondays; in timezone (IANA name, default UTC). retention_days (1-365) applies to scheduled snapshots, while the policy is enabled, and never removes the newest completed scheduled snapshots (CELLAR_BACKUP_KEEP_MIN, default 1): an old one expires only once a newer one has completed. Manual snapshots stay until deleted. Requires database:update.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("BackupPolicyRequest")}}},
     "responses":dict({"200":js(ref("BackupPolicy")),"404":prob("No such database for this customer"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}/metrics":{
   "get":{"operationId":"getDatabaseMetrics","summary":"Get database metrics","description":"The latest sample taken by the collector (every 5 minutes by default; fields are null before the first pass). storage and connections per database; total_queries counts transactions on PostgreSQL (pg_stat_database) and statements on MariaDB (USER_STATISTICS); queries_per_sec is the rate since the previous sample; cache_hit_ratio is per database on PostgreSQL and the InnoDB buffer pool's on MariaDB; cpu_percent and memory_percent are the server process's share of its host (null when the server is not on Cellar's host). With since (and optionally until), samples lists the series for charts. Requires database:read.",
     "parameters":[dbtype,dbname,{"name":"since","in":"query","schema":{"type":"string","format":"date-time"}},{"name":"until","in":"query","schema":{"type":"string","format":"date-time"}}],
     "responses":dict({"200":js(ref("DatabaseMetrics")),"404":prob("No such database for this customer"),"409":prob("The database is being created or deleted"),"422":prob("Invalid since/until, db_type or db_name")},**std_err)}
  },
  "/v1/quota":{
   "get":{"operationId":"getQuota","summary":"Get database quota","description":"Databases used and allowed (in total and per engine), storage used and allowed, backup storage, snapshots kept against the snapshot limits and the estimated monthly cost. Internal keys may pass customer_id. Requires database:read.",
     "parameters":[{"name":"customer_id","in":"query","schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("Quota")),"422":prob("Invalid customer_id")},**std_err)}
  },
  "/v1/usage":{
   "get":{"operationId":"listUsage","summary":"List usage events","description":"Billable events in order (database.created, database.deleted, database.resized, snapshot.stored, snapshot.deleted, usage.hourly), each with a unique id; the same events Cellar pushes to the billing endpoint. seq is assigned once an event is committed, in order, so paging with cursor=<seq of the last event read> (or next_cursor) never skips one that commits later. Internal keys only.",
     "parameters":[{"name":"cursor","in":"query","schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}},{"name":"customer_id","in":"query","schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("UsagePage")),"422":prob("Invalid cursor, limit or customer_id")},**std_err)}
  },
  "/v1/admin/quotas/{customer_id}":{
   "put":mut({"operationId":"setQuota","summary":"Override a customer's quota","description":"null fields use the configured defaults. Requires an internal admin key (a customer's own admin key may not change its limits: 403).",
     "parameters":[{"name":"customer_id","in":"path","required":True,"schema":{"type":"string"}}],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("QuotaOverride")}}},
     "responses":dict({"200":js(ref("Quota")),"413":prob("Body too large"),"415":prob("Content-Type is not application/json")},**std_err)})
  },
  "/v1/databases/{db_type}/{db_name}":{
   "patch":mut({"operationId":"updateDatabase","summary":"Update database","description":"connection_limit (10-1000) is enforced on the server (PostgreSQL ALTER DATABASE ... CONNECTION LIMIT; MariaDB MAX_USER_CONNECTIONS per account). description: null clears it. Fields left out are unchanged. Requires database:update.",
     "parameters":[dbtype,dbname],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("UpdateDatabaseRequest")}}},
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such database for this customer"),"413":prob("Body too large"),"415":prob("Content-Type is not application/json"),"503":prob("The server is unreachable")},**std_err)}),
   "delete":mut({"operationId":"deleteDatabaseByPath","summary":"Delete database","description":"Same as DELETE /v1/databases with the database in the path. Requires database:delete.",
     "parameters":[dbtype,dbname,{"name":"username","in":"query","required":False,"schema":{"type":"string"},"description":"If given, must be the database's own user (same name as the database)."}],
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such database for this customer"),"422":prob("Malformed db_type, db_name or username"),"503":prob("A server is unreachable; the deletion is retried automatically")},**std_err)})
  },
  "/v1/admin/billing/dead-letters":{
   "get":{"operationId":"listBillingDeadLetters","summary":"List billing dead letters","description":"Usage events set aside after CELLAR_BILLING_MAX_ATTEMPTS failed deliveries to the billing endpoint, in seq order, with the attempts and the last error. Internal admin keys only.",
     "parameters":[{"name":"cursor","in":"query","schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],
     "responses":dict({"200":js(ref("DeadLetterPage")),"422":prob("Invalid cursor or limit")},**std_err)}
  },
  "/v1/admin/billing/dead-letters/{event_id}/requeue":{
   "post":mut({"operationId":"requeueBillingDeadLetter","summary":"Re-queue a billing dead letter","description":"Puts the event back at the head of delivery (it keeps its seq, so it arrives after later events: receivers deduplicate on the event id) with a fresh allowance of attempts. Internal admin keys only.",
     "parameters":[{"name":"event_id","in":"path","required":True,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("DeadLetter")),"404":prob("No such usage event"),"409":prob("The event is not dead-lettered")},**std_err)})
  },
  "/v1/admin/keys":{
   "post":mut({"operationId":"createAPIKey","summary":"Create API key","description":"The key is shown once. Requires admin. An internal admin key may create any key. A customer's own admin key may create keys only for its own customer, never internal ones, and only with permissions it holds itself (otherwise 403).",
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("CreateAPIKeyRequest")}}},
     "responses":dict({"201":js(ref("NewAPIKey"),"Created; key shown once",nostore)},**body_err,**std_err)}),
   "get":{"operationId":"listAPIKeys","summary":"List API keys","description":"Keys, revoked included, by prefix: every key for an internal admin key; the customer's own non-internal keys for a customer's admin key. Requires admin.",
     "responses":dict({"200":js(ref("APIKeyList"))},**std_err)}
  },
  "/v1/admin/keys/{key_id}":{
   "delete":mut({"operationId":"revokeAPIKey","summary":"Revoke API key","description":"By id or prefix. Requires admin; a customer's admin key reaches only its customer's non-internal keys (others are 404).",
     "parameters":[{"name":"key_id","in":"path","required":True,"schema":{"type":"string"}}],
     "responses":dict({"200":js(ref("SuccessResponse")),"404":prob("No such key"),"409":prob("Already revoked")},**std_err)})
  },
  "/healthz":{"get":{"operationId":"healthz","summary":"Liveness","security":[],"responses":{"200":js({"type":"object","required":["status"],"properties":{"status":{"type":"string"}}})}}},
  "/readyz":{"get":{"operationId":"readyz","summary":"Readiness: metadata database, Vault, every managed server and, with embedded servers, each supervised process","security":[],
     "description":"Each check (metadata, vault, server:<name>, process:<name>) is ok, unavailable, or for a supervised process restarting or failed. The 503 problem's detail names what is down.",
     "responses":{"200":js(ref("Readiness")),"503":{"description":"A dependency is unavailable","content":{"application/problem+json":{"schema":{"allOf":[ref("Problem"),{"type":"object","required":["checks"],"properties":{"checks":{"type":"object","additionalProperties":{"type":"string"}}}}]}}}}}}},
  "/v1/openapi.json":{"get":{"operationId":"openapi","summary":"This document","security":[],"responses":{"200":js({"type":"object"})}}},
  "/metrics":{"get":{"operationId":"metrics","summary":"Prometheus metrics","security":[],"responses":{"200":{"description":"Prometheus text format","content":{"text/plain":{"schema":{"type":"string"}}}}}}}
 },
 "components":{
  "securitySchemes":{"apiKey":{"type":"apiKey","in":"header","name":"X-API-Key"}},
  "schemas":{
   "Problem":{"type":"object","required":["type","title","status","detail"],"properties":{
     "type":{"type":"string","description":"URI reference identifying the problem type, e.g. /problems/validation-error"},
     "title":{"type":"string"},"status":{"type":"integer"},"detail":{"type":"string"},
     "instance":{"type":"string"},"request_id":{"type":"string"},
     "errors":{"type":"array","items":ref("FieldError")},
     "snapshot_id":{"type":"string","description":"Extension member of a 409 from POST …/snapshots: the snapshot of the database still being taken"},
     "limit":{"type":"string","description":"Extension member of quota-exceeded: the limit that was reached, e.g. max_snapshots or max_snapshot_gb"}}},
   "FieldError":{"type":"object","required":["field","message"],"additionalProperties":False,"properties":{"field":{"type":"string"},"message":{"type":"string"}}},
   "CreateDatabaseRequest":{"type":"object","required":["db_type"],"additionalProperties":False,"properties":{
     "db_type":{"type":"string","enum":["postgresql","mariadb"]},
     "requested_name":nullable("string",pattern="^[A-Za-z0-9_]{1,30}$",description="Optional name suffix: letters, digits, underscore, at most 30; lowercased. Omitted or null: a generated suffix (YYYYMMDD_xxxxxx)."),
     "customer_id":nullable("string",pattern="^[a-z0-9]{1,24}$",description="Target customer (internal keys only; ignored for other keys).")}},
   "CreateDatabaseResponse":{"type":"object","additionalProperties":False,
     "required":["success","db_type","db_name","username","password","host","port","connection_string","message","password_generated","idempotent"],
     "properties":{"success":{"type":"boolean"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},"db_name":{"type":"string"},"username":{"type":"string"},
       "password":nullable("string",description="Shown only when the database is created (null when idempotent=true)."),
       "host":{"type":"string"},"port":{"type":"integer"},
       "connection_string":{"type":"string","description":"postgresql://user:password@host:port/db or mysql://user:password@host:port/db; without the password when idempotent=true."},
       "message":{"type":"string"},"password_generated":{"type":"boolean","description":"True if the password was generated by this call"},"idempotent":{"type":"boolean","description":"True if the database already existed (no new creation)"}}},
   "DeleteDatabaseRequest":{"type":"object","required":["db_type","db_name"],"additionalProperties":False,"properties":{
     "db_type":{"type":"string","enum":["postgresql","mariadb"]},"db_name":{"type":"string"},
     "username":nullable("string",description="Optional; if given must be the database's own user. The user is always deleted with its database.")}},
   "SuccessResponse":{"type":"object","required":["success","message"],"additionalProperties":False,"properties":{"success":{"type":"boolean"},"message":{"type":"string"}}},
   "Database":{"type":"object","additionalProperties":False,
     "required":["db_name","db_type","username","status","host","port","server","customer_id","description","connection_limit","created_at"],
     "properties":{"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},"username":{"type":"string"},
       "status":{"type":"string","enum":["creating","active","deleting","needs_attention"],"description":"needs_attention: a restore could neither finish nor be undone; status_reason says why. Changes answer 409 with the reason; delete still works."},
       "status_reason":{"type":"string","description":"Why the status is needs_attention; absent otherwise."},
       "host":{"type":"string"},"port":{"type":"integer"},"server":{"type":"string"},
       "customer_id":{"type":"string"},"description":nullable("string"),"connection_limit":nullable("integer"),"created_at":{"type":"string","format":"date-time"}}},
   "DatabaseList":{"type":"object","required":["db_type","databases"],"additionalProperties":False,"properties":{"db_type":{"type":"string"},"databases":{"type":"array","items":ref("Database")}}},
   "Engine":{"type":"object","additionalProperties":False,"required":["db_type","name","version","versions","servers","available","capabilities"],
     "properties":{"db_type":{"type":"string","enum":["postgresql","mariadb"]},"name":{"type":"string"},
       "version":nullable("string",description="Version of the first reachable server; null when none answers."),
       "versions":{"type":"array","items":{"type":"string"}},"servers":{"type":"integer"},"available":{"type":"boolean"},
       "capabilities":{"type":"array","items":{"type":"string"}}}},
   "EngineList":{"type":"object","required":["engines"],"additionalProperties":False,"properties":{"engines":{"type":"array","items":ref("Engine")}}},
   "CreateAPIKeyRequest":{"type":"object","required":["customer_id","permissions"],"additionalProperties":False,"properties":{
     "name":{"type":"string","maxLength":100},"customer_id":{"type":"string","pattern":"^[a-z0-9]{1,24}$"},
     "permissions":{"type":"array","minItems":1,"items":{"type":"string","enum":["database:create","database:read","database:update","database:delete","admin"]}},
     "internal":{"type":"boolean","description":"Internal keys may act for other customers."}}},
   "APIKey":{"type":"object","required":["id","prefix","name","customer_id","permissions","internal","created_by","created_at","last_used_at","revoked_at"],"properties":{
     "id":{"type":"string","format":"uuid"},"prefix":{"type":"string","description":"Visible identifier of the key"},"name":{"type":"string"},"customer_id":{"type":"string"},
     "permissions":{"type":"array","items":{"type":"string"}},"internal":{"type":"boolean"},"created_by":{"type":"string"},
     "created_at":{"type":"string","format":"date-time"},"last_used_at":nullable("string",format="date-time"),"revoked_at":nullable("string",format="date-time")}},
   "NewAPIKey":{"allOf":[ref("APIKey"),{"type":"object","required":["key"],"properties":{"key":{"type":"string","description":"The secret key, shown once"}}}]},
   "APIKeyList":{"type":"object","required":["keys"],"properties":{"keys":{"type":"array","items":ref("APIKey")}}},
   "Credentials":{"type":"object","additionalProperties":False,"required":["host","port","database","username","password","connection_string"],"properties":{
     "host":{"type":"string"},"port":{"type":"integer"},"database":{"type":"string"},"username":{"type":"string"},
     "password":{"type":"null","description":"Never returned here; always null. Rotate to get a new password."},
     "connection_string":{"type":"string","description":"Without the password."}}},
   "RotateRequest":{"type":"object","additionalProperties":False,"properties":{"terminate_sessions":{"type":"boolean","default":False,"description":"Also end the sessions opened with the old password."}}},
   "RotateResponse":{"type":"object","additionalProperties":False,
     "required":["success","db_name","username","password","host","port","connection_string","created_at","sessions_terminated"],
     "properties":{"success":{"type":"boolean"},"db_name":{"type":"string"},"username":{"type":"string"},"password":{"type":"string"},
       "host":{"type":"string"},"port":{"type":"integer"},"connection_string":{"type":"string"},
       "created_at":{"type":"string","format":"date-time","description":"When this password was set"},
       "sessions_terminated":{"type":"integer","description":"Sessions ended because they used the old password (terminate_sessions)"}}},
   "UpdateDatabaseRequest":{"type":"object","additionalProperties":False,"minProperties":1,"properties":{
     "connection_limit":{"type":"integer","minimum":10,"maximum":1000},
     "description":nullable("string",maxLength=1000)}},
   "RestartResponse":{"type":"object","additionalProperties":False,"required":["success","message","sessions_terminated"],
     "properties":{"success":{"type":"boolean"},"message":{"type":"string"},"sessions_terminated":{"type":"integer"}}},
   "DatabaseInfo":{"type":"object","additionalProperties":False,"required":["db_name","db_type","size_mb","connection_count","connection_limit","created_at","owner"],
     "properties":{"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},
       "size_mb":{"type":"number"},"connection_count":{"type":"integer"},
       "connection_limit":nullable("integer",description="null when unlimited"),
       "created_at":{"type":"string","format":"date-time"},"owner":{"type":"string"}}},
   "HistoryEvent":{"type":"object","additionalProperties":False,"required":["kind","occurred_at","actor","request_id","remote_addr","details"],
     "properties":{"kind":{"type":"string","enum":["created","rotated","updated","restarted","deleted","access_rule_added","access_rule_deleted","access_rules_applied","snapshot_created","snapshot_deleted","restored","needs_attention","backup_policy_set"]},
       "occurred_at":{"type":"string","format":"date-time"},"actor":{"type":"string","description":"Prefix of the API key that made the change"},
       "request_id":{"type":"string"},"remote_addr":{"type":"string"},"details":{"type":"object"}}},
   "HistoryEntry":{"type":"object","additionalProperties":False,"required":["db_name","db_type","username","status","server","customer_id","created_at","deleted_at","events","events_cursor"],
     "properties":{"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},"username":{"type":"string"},
       "status":{"type":"string","enum":["active","deleting","deleted"]},"server":{"type":"string"},"customer_id":{"type":"string"},
       "created_at":{"type":"string","format":"date-time"},"deleted_at":nullable("string",format="date-time"),
       "events":{"type":"array","items":ref("HistoryEvent"),"description":"The newest events (at most events_limit), oldest first"},
       "events_cursor":nullable("string",description="Pass as cursor to GET /v1/databases/history/events for the events before these; null when these are all")}},
   "EventsPage":{"type":"object","additionalProperties":False,"required":["events","next_cursor"],
     "properties":{"events":{"type":"array","items":ref("HistoryEvent")},"next_cursor":nullable("string",description="Pass as cursor for older events; null when there are none")}},
   "History":{"type":"object","additionalProperties":False,"required":["databases","next_cursor"],
     "properties":{"databases":{"type":"array","items":ref("HistoryEntry")},"next_cursor":nullable("string",description="Pass as cursor for the next page; null on the last page")}},
   "AddFirewallRuleRequest":{"type":"object","additionalProperties":False,"required":["ip_address"],"properties":{
     "ip_address":{"type":"string","description":"IPv4/IPv6 address or CIDR block without host bits, e.g. 192.0.2.100, 10.0.0.0/24, 2001:db8::/64"},
     "description":nullable("string",maxLength=200)}},
   "FirewallRule":{"type":"object","additionalProperties":False,"required":["rule_id","db_name","db_type","ip_address","port","description","created_at"],
     "properties":{"rule_id":{"type":"string","format":"uuid"},"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},
       "ip_address":{"type":"string","description":"CIDR notation; a single address as /32 or /128"},"port":{"type":"integer"},
       "description":nullable("string"),"created_at":{"type":"string","format":"date-time"}}},
   "FirewallRuleList":{"type":"object","additionalProperties":False,"required":["rules","total"],"properties":{"rules":{"type":"array","items":ref("FirewallRule")},"total":{"type":"integer"}}},
   "CreateSnapshotRequest":{"type":"object","additionalProperties":False,"properties":{"description":nullable("string",maxLength=500)}},
   "Snapshot":{"type":"object","additionalProperties":False,
     "required":["snapshot_id","db_name","db_type","kind","status","size_mb","bytes_written","sha256","server_version","description","error","created_at","completed_at"],
     "properties":{"snapshot_id":{"type":"string","pattern":"^snap_[0-9]{8}_[0-9]{6}_[0-9a-f]{8}$"},"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},
       "kind":{"type":"string","enum":["manual","scheduled"]},"status":{"type":"string","enum":["pending","running","completed","failed"]},
       "size_mb":nullable("number"),"bytes_written":{"type":"integer","description":"Progress while running"},"sha256":nullable("string"),
       "server_version":nullable("string"),"description":nullable("string"),"error":nullable("string"),
       "created_at":{"type":"string","format":"date-time"},"completed_at":nullable("string",format="date-time")}},
   "SnapshotList":{"type":"object","additionalProperties":False,"required":["db_name","db_type","snapshots"],
     "properties":{"db_name":{"type":"string"},"db_type":{"type":"string"},"snapshots":{"type":"array","items":ref("Snapshot")}}},
   "RestoreRequest":{"type":"object","additionalProperties":False,"required":["snapshot_id"],"properties":{
     "snapshot_id":{"type":"string"},"target_db_name":nullable("string",pattern="^[A-Za-z0-9_]{1,30}$",description="Restore into a new database with this name suffix")}},
   "Restore":{"type":"object","additionalProperties":False,"required":["restore_id","db_type","db_name","target_db_name","snapshot_id","status","error","created_at","started_at","finished_at"],
     "properties":{"restore_id":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},
       "db_name":{"type":"string","description":"The database the restore was requested on"},
       "target_db_name":{"type":"string","description":"Where the snapshot is restored: db_name, or the new database"},
       "snapshot_id":{"type":"string"},"status":{"type":"string","enum":["pending","running","completed","failed"]},
       "error":nullable("string",description="Why it failed, and what became of the database"),
       "created_at":{"type":"string","format":"date-time"},"started_at":nullable("string",format="date-time"),"finished_at":nullable("string",format="date-time"),
       "message":{"type":"string","description":"Only in the 202 answer"},
       "username":{"type":"string","description":"Only in the 202 answer for target_db_name: the new database's credentials, shown once"},"password":{"type":"string"},
       "host":{"type":"string"},"port":{"type":"integer"},"connection_string":{"type":"string"}}},
   "BackupPolicyRequest":{"type":"object","additionalProperties":False,"required":["enabled"],"properties":{
     "enabled":{"type":"boolean"},"frequency":{"type":"string","enum":["hourly","daily","weekly"],"default":"daily"},
     "retention_days":{"type":"integer","minimum":1,"maximum":365,"default":7},
     "time_of_day":nullable("string",pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$",default="02:00"),
     "timezone":nullable("string",description="IANA time zone of time_of_day, default UTC")}},
   "BackupPolicy":{"type":"object","additionalProperties":False,"required":["db_name","db_type","enabled","frequency","retention_days","time_of_day","timezone","last_backup","next_backup"],
     "properties":{"db_name":{"type":"string"},"db_type":{"type":"string","enum":["postgresql","mariadb"]},"enabled":{"type":"boolean"},
       "frequency":{"type":"string","enum":["hourly","daily","weekly"]},"retention_days":{"type":"integer"},"time_of_day":{"type":"string"},
       "timezone":{"type":"string"},"last_backup":nullable("string",format="date-time"),"next_backup":nullable("string",format="date-time")}},
   "MetricsSample":{"type":"object","required":["storage_gb","active_connections","max_connections","total_queries","queries_per_sec","cache_hit_ratio","cpu_percent","memory_percent","measured_at"],
     "properties":{"storage_gb":nullable("number"),"active_connections":nullable("integer"),"max_connections":nullable("integer"),
       "total_queries":nullable("integer"),"queries_per_sec":nullable("number"),"cache_hit_ratio":nullable("number",description="percent"),
       "cpu_percent":nullable("number"),"memory_percent":nullable("number"),"measured_at":nullable("string",format="date-time")}},
   "DatabaseMetrics":{"allOf":[ref("MetricsSample"),{"type":"object","required":["database_id","backup_gb"],"properties":{
     "database_id":{"type":"string"},"backup_gb":{"type":"number","description":"Completed snapshots of the database"},
     "samples":{"type":"array","items":ref("MetricsSample"),"description":"Only with since"}}}]},
   "Quota":{"type":"object","additionalProperties":False,"required":["customer_id","used","limit","storage_used_gb","storage_limit_gb","backup_used_gb","snapshots","engines","estimated_monthly_cost"],
     "properties":{"customer_id":{"type":"string"},"used":{"type":"integer"},"limit":{"type":"integer"},
       "storage_used_gb":{"type":"number"},"storage_limit_gb":{"type":"number","description":"0 = unlimited"},"backup_used_gb":{"type":"number"},
       "snapshots":{"type":"object","additionalProperties":False,"required":["used","limit","used_bytes","used_gb","limit_gb"],
         "description":"Snapshots kept against the snapshot limits, which a manual snapshot must fit (scheduled backups count but are never refused). used counts pending, running and completed snapshots; bytes are completed sizes plus what running dumps have written so far.",
         "properties":{"used":{"type":"integer"},"limit":{"type":"integer","description":"max_snapshots; 0 = no manual snapshots"},
           "used_bytes":{"type":"integer"},"used_gb":{"type":"number"},"limit_gb":{"type":"number","description":"max_snapshot_gb; 0 = unlimited"}}},
       "engines":{"type":"array","items":{"type":"object","additionalProperties":False,"required":["db_type","used","limit"],
         "properties":{"db_type":{"type":"string"},"used":{"type":"integer"},"limit":nullable("integer",description="null: only the total applies")}}},
       "estimated_monthly_cost":{"type":"object","additionalProperties":False,"required":["currency","total","lines"],"properties":{
         "currency":{"type":"string"},"total":{"type":"number"},
         "lines":{"type":"array","items":{"type":"object","additionalProperties":False,"required":["item","quantity","unit_price","amount"],
           "properties":{"item":{"type":"string"},"quantity":{"type":"number"},"unit_price":{"type":"number"},"amount":{"type":"number"}}}}}}}},
   "QuotaOverride":{"type":"object","additionalProperties":False,"properties":{
     "max_databases":nullable("integer",minimum=0),"max_storage_gb":nullable("number",minimum=0),
     "max_postgresql":nullable("integer",minimum=0),"max_mariadb":nullable("integer",minimum=0),
     "max_snapshots":nullable("integer",minimum=0,description="snapshots kept; 0 = no manual snapshots"),
     "max_snapshot_gb":nullable("number",minimum=0,description="GB of snapshots kept; 0 = unlimited")}},
   "UsageEvent":{"type":"object","additionalProperties":False,"required":["id","seq","type","customer_id","database_id","occurred_at","data"],
     "properties":{"id":{"type":"string","format":"uuid"},"seq":{"type":"integer"},"type":{"type":"string"},"customer_id":{"type":"string"},
       "database_id":nullable("string"),"occurred_at":{"type":"string","format":"date-time"},"data":{"type":"object"}}},
   "DeadLetter":{"type":"object","additionalProperties":False,"required":["event","attempts","last_error","dead_lettered_at"],
     "properties":{"event":ref("UsageEvent"),"attempts":{"type":"integer"},"last_error":{"type":"string"},"dead_lettered_at":nullable("string",format="date-time")}},
   "DeadLetterPage":{"type":"object","additionalProperties":False,"required":["dead_letters","next_cursor"],
     "properties":{"dead_letters":{"type":"array","items":ref("DeadLetter")},"next_cursor":nullable("string")}},
   "UsagePage":{"type":"object","additionalProperties":False,"required":["events","next_cursor"],
     "properties":{"events":{"type":"array","items":ref("UsageEvent")},"next_cursor":nullable("string")}},
   "Readiness":{"type":"object","required":["status","checks"],"properties":{"status":{"type":"string"},"checks":{"type":"object","additionalProperties":{"type":"string"}}}}
  }
 }
}
# A created snapshot is the snapshot plus success and message.
snap = doc["components"]["schemas"]["Snapshot"]
doc["components"]["schemas"]["CreateSnapshotResponse"] = dict(snap,
    required=snap["required"] + ["success", "message"],
    properties=dict(snap["properties"], success={"type": "boolean"}, message={"type": "string"}))
import os, sys
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'internal', 'api', 'openapi.json')
with open(out, 'w') as f:
    json.dump(doc, f, indent=2)
    f.write('\n')
