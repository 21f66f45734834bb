package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// apiError decodes the API's error object, failing the test if the body is
// not one.
func apiError(t *testing.T, what string, h http.Header, body []byte) (code, message string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json: %s", what, ct, body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: not the API's error object (%v): %s", what, err, body)
	}
	return e.Error.Code, e.Error.Message
}

func countPrincipals(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM trialog_principals").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnsignedBodiesAreStrict sends every unsigned body kind with duplicate
// keys, case-variant keys, trailing data, lone surrogates and deep nesting:
// each is 400 and changes nothing. It also checks that net/http's and the
// router's own errors come as the API's error object.
func TestUnsignedBodiesAreStrict(t *testing.T) {
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	cfg.AuthFailureRate, cfg.AuthFailureBurst = 0.001, 3
	srv := testserver.Start(t, cfg)
	db := testdb.Open(t, dsn)
	admin := srv.AdminToken(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := base64.StdEncoding.EncodeToString(pub)
	site := srv.NewPrincipal(t, "Site of Zoë 医院", "site")
	before := countPrincipals(t, db)
	size := testserver.ReadLog(t, srv.URL).Size

	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	for _, tc := range []struct {
		name, path, token, body, want string
	}{
		{"duplicate role", "/v1/admin/principals", admin, `{"name":"Eve","role":"regulator","role":"admin","public_keys":["` + key + `"]}`, `duplicate field "role"`},
		{"case-variant role", "/v1/admin/principals", admin, `{"name":"Eve","ROLE":"admin","public_keys":["` + key + `"]}`, `unknown field "ROLE"`},
		{"case-variant after role", "/v1/admin/principals", admin, `{"name":"Eve","role":"regulator","Role":"admin","public_keys":["` + key + `"]}`, `unknown field "Role"`},
		{"trailing data", "/v1/admin/principals", admin, `{"name":"Eve","role":"admin","public_keys":["` + key + `"]}{"x":1}`, "unexpected data after"},
		{"lone surrogate", "/v1/admin/principals", admin, `{"name":"Eve\ud800","role":"admin","public_keys":["` + key + `"]}`, "lone surrogate"},
		{"invalid UTF-8", "/v1/admin/principals", admin, "{\"name\":\"Eve\xff\",\"role\":\"admin\",\"public_keys\":[\"" + key + "\"]}", "not valid UTF-8"},
		{"deep", "/v1/admin/principals", admin, deep, "nesting deeper than 64"},
		{"batch case variant", "/v1/entries:batch", site.Token, `{"ENVELOPES":[]}`, `unknown field "ENVELOPES"`},
		{"batch trailing", "/v1/entries:batch", site.Token, `{"envelopes":[{}]} x`, "unexpected data after"},
		{"batch duplicate inside an envelope", "/v1/entries:batch", site.Token, `{"envelopes":[{"payload":"a","payload":"b"}]}`, `duplicate field "envelopes[0].payload"`},
		{"entry deep", "/v1/entries", site.Token, strings.Repeat("[", 1<<20-1), "nesting deeper than 64"},
		{"consent subjects duplicate", "/v1/consent/subjects", site.Token, `{"trial_id":"NCT01234567","trial_id":"NCT07654321"}`, `duplicate field "trial_id"`},
		{"consent status case variant", "/v1/consent/status", "", `{"subject_secret":"x","Trial_ID":"NCT01234567"}`, `unknown field "Trial_ID"`},
		{"records verify trailing", "/v1/records/verify", "", `{"sha256":"00"} []`, "unexpected data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, h, body := testserver.Request(t, http.MethodPost, srv.URL+tc.path, tc.token, "application/json", []byte(tc.body))
			code, msg := apiError(t, tc.name, h, body)
			if status != http.StatusBadRequest || code != "invalid_argument" || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %s %q, want 400 invalid_argument containing %q", status, code, msg, tc.want)
			}
			t.Logf("%d bytes answered in %v", len(tc.body), time.Since(start))
		})
	}
	if n := countPrincipals(t, db); n != before {
		t.Fatalf("refused bodies created %d principals", n-before)
	}
	if s := testserver.ReadLog(t, srv.URL).Size; s != size {
		t.Fatalf("refused bodies grew the log from %d to %d", size, s)
	}

	// The scheme is case-insensitive.
	req, _ := json.Marshal(map[string]any{"name": "Lower-case scheme", "role": "regulator", "public_keys": []string{key}})
	hreq, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/admin/principals", bytes.NewReader(req))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "bearer "+admin)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("Authorization: bearer … answered %d, want 201", resp.StatusCode)
	}

	// net/http's and the router's own errors are the API's error object.
	for _, tc := range []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		code                   string
	}{
		{"unknown route", http.MethodGet, "/v1/nothing-here", "", nil, http.StatusNotFound, "not_found"},
		{"wrong method", http.MethodDelete, "/v1/log", "", nil, http.StatusMethodNotAllowed, "invalid_argument"},
		{"too large", http.MethodPost, "/v1/entries", "application/json", bytes.Repeat([]byte(" "), 1<<20+1), http.StatusRequestEntityTooLarge, "too_large"},
		{"batch too large", http.MethodPost, "/v1/entries:batch", "application/json", bytes.Repeat([]byte(" "), 32<<20+1), http.StatusRequestEntityTooLarge, "too_large"},
		{"not JSON", http.MethodPost, "/v1/entries", "text/plain", []byte("hello"), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"no media type", http.MethodPost, "/v1/admin/principals", "", []byte("{}"), http.StatusUnsupportedMediaType, "unsupported_media_type"},
	} {
		tok := site.Token
		if strings.Contains(tc.path, "admin") {
			tok = admin
		}
		status, h, body := testserver.Request(t, tc.method, srv.URL+tc.path, tok, tc.ct, tc.body)
		if code, _ := apiError(t, tc.name, h, body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}

	// Hostile bodies in parallel, each about 1 MiB: nested arrays, nested
	// objects, objects 63 deep repeated and one object with 80,000 keys
	// whose last repeats the first. Each is answered 400 quickly and the
	// server stays up.
	keys := make([]string, 0, 80000)
	for i := 0; i < 80000; i++ {
		keys = append(keys, fmt.Sprintf(`"k%06d":1`, i))
	}
	deepUnit := strings.Repeat(`{"x":`, 63) + "1" + strings.Repeat("}", 63)
	// The batch wrapper reads its envelopes as raw JSON, so the I-JSON
	// checks run over all of them before any envelope is parsed.
	hostile := []struct {
		path string
		body []byte
	}{
		{"/v1/entries", bytes.Repeat([]byte("["), 1<<20-1)},
		{"/v1/entries", bytes.Repeat([]byte(`{"a":`), (1<<20-1)/5)},
		{"/v1/entries:batch", []byte(`{"envelopes":[` + strings.TrimSuffix(strings.Repeat(deepUnit[5:len(deepUnit)-1]+",", (1<<20-100)/len(deepUnit)), ",") + `]}`)},
		{"/v1/entries:batch", []byte(`{"envelopes":[{` + strings.Join(keys, ",") + `,"k000000":2}]}`)},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(hostile))
	for i := 0; i < 4; i++ {
		for _, h := range hostile {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				status, _, body := testserver.Request(t, http.MethodPost, srv.URL+h.path, site.Token, "application/json", h.body)
				if status != http.StatusBadRequest {
					errs <- fmt.Sprintf("%d-byte hostile body to %s: %d %s", len(h.body), h.path, status, body)
				}
				t.Logf("%d-byte hostile body to %s answered %d in %v: %.60s", len(h.body), h.path, status, time.Since(start), body)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if status, _, _ := testserver.Request(t, http.MethodGet, srv.URL+"/healthz", "", "", nil); status != http.StatusOK {
		t.Fatalf("/healthz after hostile bodies: %d", status)
	}

	// Failed authentications: three per address at once (as configured),
	// then 429 with Retry-After, even for a valid token.
	for i := 0; i < 3; i++ {
		status, h, body := testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries", "not-a-token", "application/json", []byte("{}"))
		if code, _ := apiError(t, "bad token", h, body); status != http.StatusUnauthorized || code != "unauthenticated" {
			t.Fatalf("bad token %d: %d %s, want 401", i, status, code)
		}
	}
	status, h, body := testserver.Request(t, http.MethodPost, srv.URL+"/v1/entries", site.Token, "application/json", []byte("{}"))
	if code, _ := apiError(t, "after failures", h, body); status != http.StatusTooManyRequests || code != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("after three failures: %d %s Retry-After %q, want 429 rate_limited with Retry-After", status, code, h.Get("Retry-After"))
	}
	// Public reads need no authentication and are not affected.
	if _, err := client.New(srv.URL, "").Log(context.Background()); err != nil {
		t.Fatalf("public read after failures: %v", err)
	}
}
