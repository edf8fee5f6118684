// Package api is Cellar's HTTP interface: routing, authentication,
// decoding, encoding and the mapping of errors to RFC 9457 problems. The
// handlers are thin; the rules live in package service.
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellar/cellar/internal/service"
	"github.com/cellar/cellar/internal/web"
)

// Server is the HTTP API.
type Server struct {
	svc            *service.Service
	log            *slog.Logger
	gatherer       prometheus.Gatherer
	maxBodyBytes   int64
	requestTimeout time.Duration
	requestSeconds *prometheus.HistogramVec
	dashboard      http.Handler
	handler        http.Handler

	// Per-key rate limit (ratelimit.go); limiter is nil when it is off.
	limiter     *keyLimiter
	rateLimited prometheus.Counter
}

// Options configure the Server.
type Options struct {
	Service        *service.Service
	Logger         *slog.Logger
	Registry       *prometheus.Registry // HTTP metrics are registered here and /metrics serves it
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	RateLimit      RateLimit
}

// New builds the API handler.
func New(o Options) *Server {
	s := &Server{
		svc:            o.Service,
		log:            o.Logger,
		gatherer:       o.Registry,
		maxBodyBytes:   o.MaxBodyBytes,
		requestTimeout: o.RequestTimeout,
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cellar_http_request_duration_seconds",
			Help:    "HTTP request duration by method, route pattern and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
	}
	o.Registry.MustRegister(s.requestSeconds)
	s.limiter = newKeyLimiter(o.RateLimit, time.Now)
	s.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cellar_http_rate_limited_total",
		Help: "Requests refused with 429 because their API key exceeded its rate limit.",
	})
	o.Registry.MustRegister(s.rateLimited)
	s.dashboard = web.Handler()
	s.handler = s.routes()
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
