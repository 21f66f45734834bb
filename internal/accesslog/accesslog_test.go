package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// TestOneLinePerRequest: each request gives one line with the route
// template (not the path's values), status, principal and byte counts, and
// nothing of the token, query or body.
func TestOneLinePerRequest(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	r := mux.NewRouter()
	r.Use(Route)
	r.HandleFunc("/v1/entries/{id}", func(w http.ResponseWriter, r *http.Request) {
		SetPrincipal(r.Context(), "p-123")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("hello"))
	})
	h := Handler(r, logger)

	const secret = "s3cret-token-value"
	req := httptest.NewRequest(http.MethodPost, "/v1/entries/subject-secret-id?wait=5s&token="+secret, strings.NewReader(`{"body":"`+secret+`"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/no/such/"+secret, nil))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", len(lines), buf.String())
	}
	if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), "subject-secret-id") {
		t.Fatalf("the access log leaks a token, path value, query or body:\n%s", buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "request", "method": "POST", "route": "/v1/entries/{id}", "status": float64(201),
		"principal": "p-123", "bytes_out": float64(5), "bytes_in": float64(len(`{"body":"` + secret + `"}`))}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms: %v", first)
	}
	var second map[string]any
	json.Unmarshal([]byte(lines[1]), &second)
	if second["route"] != "unmatched" || second["status"] != float64(404) || second["principal"] != "" {
		t.Errorf("unmatched request logged as %v", second)
	}
}

// TestSetRoute: a handler outside the router names its route itself.
func TestSetRoute(t *testing.T) {
	var buf bytes.Buffer
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), "standby")
		w.WriteHeader(http.StatusServiceUnavailable)
	}), slog.New(slog.NewJSONHandler(&buf, nil)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/entries/private-id", nil))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["route"] != "standby" || m["status"] != float64(503) || strings.Contains(buf.String(), "private-id") {
		t.Fatalf("logged %s", buf.String())
	}
}
