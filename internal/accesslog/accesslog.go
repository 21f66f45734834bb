// Package accesslog writes one structured line per HTTP request: method,
// route template, status, duration, bytes and the authenticated principal.
// It never logs the raw path (which may hold an identifier a caller treats
// as secret), query strings, headers (tokens) or bodies.
package accesslog

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
)

type key struct{}

// info is filled in while the request runs: the router records the route,
// authentication the principal.
type info struct {
	mu        sync.Mutex
	route     string
	principal string
}

func from(ctx context.Context) *info {
	i, _ := ctx.Value(key{}).(*info)
	return i
}

// SetPrincipal records the authenticated principal of the request in ctx,
// if the request is being access-logged.
func SetPrincipal(ctx context.Context, id string) {
	if i := from(ctx); i != nil {
		i.mu.Lock()
		i.principal = id
		i.mu.Unlock()
	}
}

// SetRoute records the route of a request served without the router (a
// fixed path, or a name such as "standby").
func SetRoute(ctx context.Context, route string) {
	if i := from(ctx); i != nil {
		i.mu.Lock()
		i.route = route
		i.mu.Unlock()
	}
}

// Route is a gorilla/mux middleware recording the matched route's template
// (such as /v1/entries/{id}).
func Route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := from(r.Context()); i != nil {
			if rt := mux.CurrentRoute(r); rt != nil {
				if tmpl, err := rt.GetPathTemplate(); err == nil {
					i.mu.Lock()
					i.route = tmpl
					i.mu.Unlock()
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Handler logs one line per request handled by next at info level with the
// message "request".
func Handler(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		i := &info{}
		rw := &recorder{ResponseWriter: w}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), key{}, i)))
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		i.mu.Lock()
		route, principal := i.route, i.principal
		i.mu.Unlock()
		if route == "" {
			route = "unmatched"
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rw.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("principal", principal),
			slog.Int64("bytes_in", max(r.ContentLength, 0)),
			slog.Int64("bytes_out", rw.bytes),
		)
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
