package personality

import (
	"net/http"
	"path"
	"runtime/debug"
	"strings"
)

// adminPath reports whether p is served on the admin listener when there is
// one: the administration API and the metrics.
func adminPath(p string) bool {
	p = path.Clean("/" + p)
	return p == "/metrics" || p == "/v1/admin" || strings.HasPrefix(p, "/v1/admin/")
}

// notFound answers as the router does for an unknown route.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, newError(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// PublicOnly serves h but for the admin API and /metrics, which answer 404
// as unknown routes do: with an admin listener, they exist only there.
func PublicOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminPath(r.URL.Path) {
			notFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// AdminOnly serves h for the admin API, /metrics and the health checks,
// and answers 404 to everything else.
func AdminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := path.Clean("/" + r.URL.Path); {
		case adminPath(p), p == "/healthz", p == "/readyz":
			h.ServeHTTP(w, r)
		default:
			notFound(w, r)
		}
	})
}

// recovering answers a handler's panic with the API's 500 error object and
// logs it, instead of net/http's dropped connection.
func (a *API) recovering(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.lg.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, newError(http.StatusInternalServerError, "internal", "internal error"))
		}()
		h.ServeHTTP(w, r)
	})
}
