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

		r.Get("/v1/me", s.me)
		r.Post("/v1/databases", s.createDatabase)
		r.Delete("/v1/databases", s.deleteDatabaseByBody)
		r.Get("/v1/databases/engines", s.listEngines)
		r.Get("/v1/databases/history", s.history)
		r.Get("/v1/databases/history/events", s.historyEvents)
		r.Get("/v1/databases/{db_type}", s.listDatabases)
		r.Patch("/v1/databases/{db_type}/{db_name}", s.updateDatabase)
		r.Delete("/v1/databases/{db_type}/{db_name}", s.deleteDatabaseByPath)
		r.Get("/v1/databases/{db_type}/{db_name}/credentials", s.getCredentials)
		r.Post("/v1/databases/{db_type}/{db_name}/credentials/rotate", s.rotateCredentials)
		r.Post("/v1/databases/{db_type}/{db_name}/restart", s.restartDatabase)
		r.Get("/v1/databases/{db_type}/{db_name}/info", s.databaseInfo)
		r.Post("/v1/databases/{db_type}/{db_name}/firewall", s.addAccessRule)
		r.Get("/v1/databases/{db_type}/{db_name}/firewall", s.listAccessRules)
		r.Delete("/v1/databases/{db_type}/{db_name}/firewall/{rule_id}", s.deleteAccessRule)
		r.Post("/v1/databases/{db_type}/{db_name}/snapshots", s.createSnapshot)
		r.Get("/v1/databases/{db_type}/{db_name}/snapshots", s.listSnapshots)
		r.Delete("/v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}", s.deleteSnapshot)
		r.Post("/v1/databases/{db_type}/{db_name}/restore", s.restore)
		r.Get("/v1/databases/{db_type}/{db_name}/restores/{restore_id}", s.getRestore)
		r.Get("/v1/databases/{db_type}/{db_name}/backup-policy", s.getBackupPolicy)
		r.Put("/v1/databases/{db_type}/{db_name}/backup-policy", s.setBackupPolicy)
		r.Get("/v1/databases/{db_type}/{db_name}/metrics", s.databaseMetrics)
		r.Get("/v1/quota", s.quota)
		r.Get("/v1/usage", s.usage)
		r.Put("/v1/admin/quotas/{customer_id}", s.setQuota)
		r.Get("/v1/admin/billing/dead-letters", s.listDeadLetters)
		r.Post("/v1/admin/billing/dead-letters/{event_id}/requeue", s.requeueDeadLetter)

		r.Post("/v1/admin/keys", s.createKey)
		r.Get("/v1/admin/keys", s.listKeys)
		r.Delete("/v1/admin/keys/{key_id}", s.revokeKey)
	})
	return r
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
