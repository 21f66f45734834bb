package personality

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/trialog/trialog/api"
)

// FuzzParseWait: any ?wait value is refused with an API error or gives a
// duration between 0 and MaxWait.
func FuzzParseWait(f *testing.F) {
	for _, s := range []string{"", "10s", "30", "-1s", "1h", "9999999999999999999s", "1.5m", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/entries?wait="+url.QueryEscape(v), nil)
		d, err := parseWait(r)
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("parseWait(%q) error %v is not a 400", v, err)
			}
			return
		}
		if d < 0 || d > MaxWait {
			t.Fatalf("parseWait(%q) = %v, outside [0, %v]", v, d, MaxWait)
		}
	})
}

// FuzzDecodeRequestBodies: the JSON request bodies of the batch and
// principal endpoints are refused with a 4xx API error or decoded.
func FuzzDecodeRequestBodies(f *testing.F) {
	for _, s := range []string{`{"envelopes":[{}]}`, `{"name":"a","role":"site","public_keys":["x"]}`, `{"envelopes":1}`, `{"extra":true}`, `[]`, ``, `{"name":"a"}{}`} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		for _, v := range []any{&api.Batch{}, &api.NewPrincipal{}} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", ct)
			err := decodeJSON(r, 1<<20, v)
			if err == nil {
				continue
			}
			var e *apiError
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				continue
			}
			if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("decodeJSON(%q, %q): %v is not a 4xx API error", body, ct, err)
			}
		}
	})
}
