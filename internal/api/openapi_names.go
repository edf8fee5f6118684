package api

import (
	"reflect"

	"github.com/cellar/cellar/internal/billing"
	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/service"
)

// schemaNames names the types that are components of the OpenAPI
// document; other types are described inline where they are used. Two
// types may share a name when they encode alike (a restore, and a restore
// with its Location).
var schemaNames = []struct {
	t    reflect.Type
	name string
}{
	{reflect.TypeFor[problemSchema](), "Problem"},
	{reflect.TypeFor[cellar.FieldError](), "FieldError"},
	{reflect.TypeFor[service.CreateDatabaseRequest](), "CreateDatabaseRequest"},
	{reflect.TypeFor[createDatabaseResponse](), "CreateDatabaseResponse"},
	{reflect.TypeFor[service.DeleteDatabaseRequest](), "DeleteDatabaseRequest"},
	{reflect.TypeFor[successResponse](), "SuccessResponse"},
	{reflect.TypeFor[databaseJSON](), "Database"},
	{reflect.TypeFor[listDatabasesResponse](), "DatabaseList"},
	{reflect.TypeFor[engineJSON](), "Engine"},
	{reflect.TypeFor[engineListResponse](), "EngineList"},
	{reflect.TypeFor[meJSON](), "Me"},
	{reflect.TypeFor[service.CreateKeyRequest](), "CreateAPIKeyRequest"},
	{reflect.TypeFor[apiKeyJSON](), "APIKey"},
	{reflect.TypeFor[newAPIKeyResponse](), "NewAPIKey"},
	{reflect.TypeFor[apiKeyListResponse](), "APIKeyList"},
	{reflect.TypeFor[credentialsResponse](), "Credentials"},
	{reflect.TypeFor[service.RotateRequest](), "RotateRequest"},
	{reflect.TypeFor[rotateResponse](), "RotateResponse"},
	{reflect.TypeFor[service.UpdateDatabaseRequest](), "UpdateDatabaseRequest"},
	{reflect.TypeFor[restartResponse](), "RestartResponse"},
	{reflect.TypeFor[infoResponse](), "DatabaseInfo"},
	{reflect.TypeFor[historyEventJSON](), "HistoryEvent"},
	{reflect.TypeFor[historyEntryJSON](), "HistoryEntry"},
	{reflect.TypeFor[eventsPageJSON](), "EventsPage"},
	{reflect.TypeFor[historyResponse](), "History"},
	{reflect.TypeFor[service.AddAccessRuleRequest](), "AddFirewallRuleRequest"},
	{reflect.TypeFor[accessRuleJSON](), "FirewallRule"},
	{reflect.TypeFor[accessRuleListResponse](), "FirewallRuleList"},
	{reflect.TypeFor[service.CreateSnapshotRequest](), "CreateSnapshotRequest"},
	{reflect.TypeFor[snapshotJSON](), "Snapshot"},
	{reflect.TypeFor[createSnapshotResponse](), "CreateSnapshotResponse"},
	{reflect.TypeFor[snapshotListResponse](), "SnapshotList"},
	{reflect.TypeFor[service.RestoreRequest](), "RestoreRequest"},
	{reflect.TypeFor[restoreJSON](), "Restore"},
	{reflect.TypeFor[restoreResponse](), "Restore"},
	{reflect.TypeFor[service.BackupPolicyRequest](), "BackupPolicyRequest"},
	{reflect.TypeFor[backupPolicyJSON](), "BackupPolicy"},
	{reflect.TypeFor[metricsSampleJSON](), "MetricsSample"},
	{reflect.TypeFor[metricsJSON](), "DatabaseMetrics"},
	{reflect.TypeFor[quotaJSON](), "Quota"},
	{reflect.TypeFor[service.QuotaOverride](), "QuotaOverride"},
	{reflect.TypeFor[billing.Event](), "UsageEvent"},
	{reflect.TypeFor[deadLetterJSON](), "DeadLetter"},
	{reflect.TypeFor[deadLetterPageResponse](), "DeadLetterPage"},
	{reflect.TypeFor[usagePageResponse](), "UsagePage"},
	{reflect.TypeFor[readiness](), "Readiness"},
}

// openTypes may carry members their type does not list (a problem's
// extension members; readiness checks by name).
var openTypes = map[reflect.Type]bool{
	reflect.TypeFor[problemSchema](): true,
	reflect.TypeFor[readiness]():     true,
}

// requestTypes are request bodies: a member is required only when
// annotated so, since the decoder takes any of them left out.
var requestTypes = map[reflect.Type]bool{
	reflect.TypeFor[service.CreateDatabaseRequest](): true,
	reflect.TypeFor[service.DeleteDatabaseRequest](): true,
	reflect.TypeFor[service.CreateKeyRequest]():      true,
	reflect.TypeFor[service.RotateRequest]():         true,
	reflect.TypeFor[service.UpdateDatabaseRequest](): true,
	reflect.TypeFor[service.AddAccessRuleRequest]():  true,
	reflect.TypeFor[service.CreateSnapshotRequest](): true,
	reflect.TypeFor[service.RestoreRequest]():        true,
	reflect.TypeFor[service.BackupPolicyRequest]():   true,
	reflect.TypeFor[service.QuotaOverride]():         true,
}
