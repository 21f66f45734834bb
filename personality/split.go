package personality

import (
	"net/http"
	"path"
	"strings"
)

// adminPath reports whether p is served on the admin listener when there is
// one: the administration API and the metrics.
func adminPath(p string) bool {
	p = path.Clean("/" + p)
	return p == "/metrics" || p == "/v1/admin" || strings.HasPrefix(p, "/v1/admin/")
}

// PublicHandler serves everything but the admin API and /metrics, which
// answer 404 as unknown routes do: with an admin listener, they exist only
// there.
func (a *API) PublicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminPath(r.URL.Path) {
			a.router.NotFoundHandler.ServeHTTP(w, r)
			return
		}
		a.router.ServeHTTP(w, r)
	})
}

// AdminHandler serves the admin API, /metrics and the health checks, and
// answers 404 to everything else.
func (a *API) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := path.Clean("/" + r.URL.Path); {
		case adminPath(p), p == "/healthz", p == "/readyz":
			a.router.ServeHTTP(w, r)
		default:
			a.router.NotFoundHandler.ServeHTTP(w, r)
		}
	})
}
