package personality

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAdminPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/metrics": true, "/v1/admin/principals": true, "/v1/admin": true, "/v1/admin/principals/x/keys": true,
		"/v1/x/../admin/principals": true, "//v1//admin/principals": true, "v1/admin/principals": true,
		"/v1/administrator": false, "/v1/log": false, "/metrics2": false, "/healthz": false, "/v1/entries": false,
	} {
		if got := adminPath(p); got != want {
			t.Errorf("adminPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestRecoveringAnswersJSON(t *testing.T) {
	a := &API{lg: slog.New(slog.DiscardHandler)}
	h := a.recovering(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/log", nil))
	var e struct {
		Error struct{ Code, Message string }
	}
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code != "internal" || e.Error.Message != "internal error" {
		t.Fatalf("panic answered %d %s", w.Code, w.Body)
	}
}
