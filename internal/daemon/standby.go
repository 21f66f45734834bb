package daemon

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trialog/trialog/internal/accesslog"
)

// frontHandler is what trialogd's HTTP server serves: the API once this
// process runs the log, and until then (starting up, or standing by while
// another process on the database is the leader) the probes, the metrics
// and 503 with Retry-After for everything else.
type frontHandler struct {
	api     atomic.Pointer[http.Handler]
	status  atomic.Pointer[string]
	metrics http.Handler
}

func newFrontHandler(reg *prometheus.Registry) *frontHandler {
	f := &frontHandler{metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	f.setStatus("starting")
	return f
}

func (f *frontHandler) setStatus(s string) { f.status.Store(&s) }

// serve switches to h (nil: back to answering as a standby).
func (f *frontHandler) serve(h http.Handler) {
	if h == nil {
		f.api.Store(nil)
		return
	}
	f.api.Store(&h)
}

func (f *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f.api.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	status := *f.status.Load()
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		accesslog.SetRoute(r.Context(), r.URL.Path)
	default:
		accesslog.SetRoute(r.Context(), status) // the path itself is never logged
	}
	switch {
	case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		f.metrics.ServeHTTP(w, r)
	case r.URL.Path == "/readyz" && r.Method == http.MethodGet:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": status})
	default:
		msg := "this trialogd is starting; retry shortly"
		if status == "standby" {
			msg = "this trialogd is a standby: another process on its database is the leader; retry shortly or ask the leader"
		}
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "unavailable", "message": msg}})
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
