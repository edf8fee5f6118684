package api

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the embedded OpenAPI document, for tests that
// validate responses against it.
func OpenAPIDocument() []byte { return openAPIDocument }

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument) // the client went away; nothing to do
}

// healthz says the process is up; it checks nothing else.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz probes every dependency. A failure answers 503 with the same
// shape, as a problem, so a load balancer and a human both get an answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	out := readiness{Status: "ok", Checks: map[string]string{}}
	var down []string
	for _, c := range s.svc.Readiness(r.Context()) {
		if c.Err != nil {
			state := c.State
			if state == "" {
				state = "unavailable"
			}
			out.Status = "unavailable"
			out.Checks[c.Name] = state
			down = append(down, c.Name+" ("+state+")")
			s.log.WarnContext(r.Context(), "readiness check failed", "check", c.Name, "state", state, "err", c.Err)
			continue
		}
		out.Checks[c.Name] = "ok"
	}
	if out.Status != "ok" {
		w.Header().Set("Content-Type", "application/problem+json")
		writeJSON(w, http.StatusServiceUnavailable, struct {
			problem
			Checks map[string]string `json:"checks"`
		}{problem{
			Type: problemTypeBase + "not-ready", Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "not ready: " + strings.Join(down, ", "), Instance: r.URL.Path, RequestID: requestIDFrom(r.Context()),
		}, out.Checks})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
