package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/cellar"
)

// routes lists every endpoint.
func (s *Server) routes() http.Handler {
	mux := chi.NewRouter()
	r := chi.Router(mux)
	r.Use(s.withRequestID, s.recoverPanics, s.observe, s.limitRequests)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, cellar.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowedMethods(mux, r.URL.Path))
		writeProblemStatus(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
			r.Method+" is not supported on "+r.URL.Path)
	})

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Handle("/metrics", s.metricsHandler())
	r.Get("/v1/openapi.json", s.openAPI)
	r.Get("/", s.dashboard.ServeHTTP)
	r.Get("/assets/*", s.dashboard.ServeHTTP)

	r.Group(func(r chi.Router) {
		r.Use(s.authenticate, s.rateLimit, s.idempotent)

		for _, e := range s.endpoints() {
			r.Method(e.meta.Method, e.meta.Pattern, e.handler)
		}
	})
	return r
}

// endpoints is the route table of the JSON API: one line per endpoint,
// its Meta and its Execute (see endpoint.go). They are served behind
// authentication, the per-key rate limit and the idempotency layer.
func (s *Server) endpoints() []endpoint {
	const (
		get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
		ok, created, accepted      = http.StatusOK, http.StatusCreated, http.StatusAccepted
		read, create, update       = cellar.PermDatabaseRead, cellar.PermDatabaseCreate, cellar.PermDatabaseUpdate
		remove, admin              = cellar.PermDatabaseDelete, cellar.PermAdmin
	)
	const db = "/v1/databases/{db_type}/{db_name}"
	return []endpoint{
		handle(s, Meta{Method: get, Pattern: "/v1/me", Status: ok}, s.me),
		handle(s, Meta{Method: post, Pattern: "/v1/databases", Status: created, Permission: create, NoStore: true, Body: bodyRequired}, s.createDatabase),
		handle(s, Meta{Method: del, Pattern: "/v1/databases", Status: ok, Permission: remove, Body: bodyRequired}, s.deleteDatabaseByBody),
		handle(s, Meta{Method: get, Pattern: "/v1/databases/engines", Status: ok}, s.listEngines),
		handle(s, Meta{Method: get, Pattern: "/v1/databases/history", Status: ok, Permission: read}, s.history),
		handle(s, Meta{Method: get, Pattern: "/v1/databases/history/events", Status: ok, Permission: read}, s.historyEvents),
		handle(s, Meta{Method: get, Pattern: "/v1/databases/{db_type}", Status: ok, Permission: read}, s.listDatabases),
		handle(s, Meta{Method: patch, Pattern: db, Status: ok, Permission: update, Body: bodyRequired}, s.updateDatabase),
		handle(s, Meta{Method: del, Pattern: db, Status: ok, Permission: remove}, s.deleteDatabaseByPath),
		handle(s, Meta{Method: get, Pattern: db + "/credentials", Status: ok, Permission: read}, s.getCredentials),
		handle(s, Meta{Method: post, Pattern: db + "/credentials/rotate", Status: ok, Permission: update, NoStore: true, Body: bodyOptional}, s.rotateCredentials),
		handle(s, Meta{Method: post, Pattern: db + "/restart", Status: ok, Permission: update}, s.restartDatabase),
		handle(s, Meta{Method: get, Pattern: db + "/info", Status: ok, Permission: read}, s.databaseInfo),
		handle(s, Meta{Method: post, Pattern: db + "/firewall", Status: created, Permission: update, Body: bodyRequired}, s.addAccessRule),
		handle(s, Meta{Method: get, Pattern: db + "/firewall", Status: ok, Permission: read}, s.listAccessRules),
		handle(s, Meta{Method: del, Pattern: db + "/firewall/{rule_id}", Status: ok, Permission: update}, s.deleteAccessRule),
		handle(s, Meta{Method: post, Pattern: db + "/snapshots", Status: accepted, Permission: read, Body: bodyOptional}, s.createSnapshot),
		handle(s, Meta{Method: get, Pattern: db + "/snapshots", Status: ok, Permission: read}, s.listSnapshots),
		handle(s, Meta{Method: del, Pattern: db + "/snapshots/{snapshot_id}", Status: ok, Permission: remove}, s.deleteSnapshot),
		handle(s, Meta{Method: post, Pattern: db + "/restore", Status: accepted, Permission: update, Body: bodyRequired}, s.restore),
		handle(s, Meta{Method: get, Pattern: db + "/restores/{restore_id}", Status: ok, Permission: read}, s.getRestore),
		handle(s, Meta{Method: get, Pattern: db + "/backup-policy", Status: ok, Permission: read}, s.getBackupPolicy),
		handle(s, Meta{Method: put, Pattern: db + "/backup-policy", Status: ok, Permission: update, Body: bodyRequired}, s.setBackupPolicy),
		handle(s, Meta{Method: get, Pattern: db + "/metrics", Status: ok, Permission: read}, s.databaseMetrics),
		handle(s, Meta{Method: get, Pattern: "/v1/quota", Status: ok, Permission: read}, s.quota),
		handle(s, Meta{Method: get, Pattern: "/v1/usage", Status: ok}, s.usage),
		handle(s, Meta{Method: put, Pattern: "/v1/admin/quotas/{customer_id}", Status: ok, Body: bodyRequired}, s.setQuota),
		handle(s, Meta{Method: get, Pattern: "/v1/admin/billing/dead-letters", Status: ok}, s.listDeadLetters),
		handle(s, Meta{Method: post, Pattern: "/v1/admin/billing/dead-letters/{event_id}/requeue", Status: ok}, s.requeueDeadLetter),
		handle(s, Meta{Method: post, Pattern: "/v1/admin/keys", Status: created, Permission: admin, NoStore: true, Body: bodyRequired}, s.createKey),
		handle(s, Meta{Method: get, Pattern: "/v1/admin/keys", Status: ok, Permission: admin}, s.listKeys),
		handle(s, Meta{Method: del, Pattern: "/v1/admin/keys/{key_id}", Status: ok, Permission: admin}, s.revokeKey),
	}
}

// allowedMethods lists the methods routed for path, for the Allow header of
// a 405 answer.
func allowedMethods(mux *chi.Mux, path string) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if mux.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}
