package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/logctx"
	"github.com/cellar/cellar/internal/service"
)

type ctxKey int

const principalKey ctxKey = iota

var incomingRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// withRequestID gives every request an id: the caller's X-Request-ID when it
// is sane, otherwise a new one. It is echoed in the response, written into
// problem bodies and audit events, and added to every log line logged with
// the request's context (see package logctx), in whatever layer.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !incomingRequestID.MatchString(id) {
			id = "req_" + cellar.RandomToken(20)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(logctx.WithRequestID(r.Context(), id)))
	})
}

func requestIDFrom(ctx context.Context) string { return logctx.RequestID(ctx) }

// observe logs each request once it is done and records its duration by
// route pattern (never by raw path, which would make unbounded labels).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		s.requestSeconds.WithLabelValues(r.Method, route, strconv.Itoa(status)).Observe(elapsed.Seconds())
		attrs := []any{"method", r.Method, "route", route, "path", r.URL.Path, "status", status,
			"ms", float64(elapsed.Microseconds()) / 1000, "bytes", ww.BytesWritten()}
		if p, ok := principalFrom(r.Context()); ok {
			attrs = append(attrs, "key", p.KeyPrefix)
		}
		s.log.InfoContext(r.Context(), "request", attrs...)
	})
}

// recoverPanics turns a panic into a 500 problem; the stack goes to the log
// only.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeProblem(w, r, cellar.CodeInternal, "an unexpected error occurred; quote the request id when reporting it", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitRequests bounds each request's body size and duration.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBodyBytes {
			writeProblem(w, r, cellar.CodeTooLarge, fmt.Sprintf("the request body exceeds %d bytes", s.maxBodyBytes), nil)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate resolves X-API-Key to a principal or answers 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.svc.Authenticate(r.Context(), r.Header.Get("X-API-Key"))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func principalFrom(ctx context.Context) (cellar.Principal, bool) {
	p, ok := ctx.Value(principalKey).(cellar.Principal)
	return p, ok
}

// caller is the service's view of who is asking.
func caller(r *http.Request) service.Caller {
	p, _ := principalFrom(r.Context())
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return service.Caller{Principal: p, RequestID: requestIDFrom(r.Context()), RemoteAddr: host}
}

// noStore marks a response that carries a secret as never to be cached.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
