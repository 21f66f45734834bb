package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/web"
)

func testAssets(t *testing.T, withVerifier bool) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	entries, err := os.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == web.VerifierFile || e.Name() == web.WasmExecFile {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("assets", e.Name()))
		m[e.Name()] = &fstest.MapFile{Data: b}
	}
	if withVerifier {
		m[web.VerifierFile] = &fstest.MapFile{Data: []byte("\x00asm fake")}
		m[web.WasmExecFile] = &fstest.MapFile{Data: []byte("// fake")}
	}
	return m
}

func serve(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestRoutesAndHeaders: the pages and assets are served with the strict
// policy; everything else goes to the API.
func TestRoutesAndHeaders(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, `{"api":true}`)
	})
	h := web.Mount(api, web.Options{Assets: testAssets(t, true)})
	for path, page := range map[string]string{"/patient": "patient", "/trials/NCT00000419": "trial", "/log": "log"} {
		resp := serve(t, h, http.MethodGet, path, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-page="`+page+`"`) {
			t.Errorf("GET %s: %d %.80s", path, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != web.CSP {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	if !strings.Contains(web.CSP, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(web.CSP, "unsafe-inline") || !strings.Contains(web.CSP, "form-action 'none'") {
		t.Errorf("CSP %q is not strict", web.CSP)
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/patient"}, {http.MethodGet, "/v1/log"}, {http.MethodGet, "/trials/x/y"}, {http.MethodGet, "/patients"},
	} {
		if resp := serve(t, h, tc.method, tc.path, nil); resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s %s did not reach the API: %d", tc.method, tc.path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/assets/..%2fweb.go", "/assets/.hidden", "/assets/nope.js", "/assets/"} {
		resp := serve(t, h, http.MethodGet, path, nil)
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200", path)
		}
	}
}

// TestAssetEncoding: assets come gzip-compressed on request, each
// encoding with its own ETag, and revalidate.
func TestAssetEncoding(t *testing.T) {
	files := testAssets(t, true)
	h := web.Mount(http.NotFoundHandler(), web.Options{Assets: files})
	plain := serve(t, h, http.MethodGet, "/assets/app.js", nil)
	body, _ := io.ReadAll(plain.Body)
	if !bytes.Equal(body, files["app.js"].Data) || plain.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("plain app.js: %q", plain.Header)
	}
	gz := serve(t, h, http.MethodGet, "/assets/app.js", map[string]string{"Accept-Encoding": "gzip, br"})
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("gzip app.js: %q", gz.Header)
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, files["app.js"].Data) {
		t.Fatal("the gzip body is not app.js")
	}
	if r := serve(t, h, http.MethodGet, "/assets/app.js", map[string]string{"If-None-Match": plain.Header.Get("ETag")}); r.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", r.StatusCode)
	}
	if w := serve(t, h, http.MethodGet, "/assets/verifier.wasm", nil); w.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("verifier.wasm: %q", w.Header.Get("Content-Type"))
	}
}

// TestMissingVerifier: a trialogd built without `go generate ./web` says
// how to build the verifier, and the page turns that into a failure.
func TestMissingVerifier(t *testing.T) {
	p := web.New(web.Options{Assets: testAssets(t, false)})
	if p.HasVerifier() {
		t.Fatal("HasVerifier without the file")
	}
	mux := http.NewServeMux()
	p.Register(mux)
	resp := serve(t, mux, http.MethodGet, "/assets/verifier.wasm", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "make build") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !web.New(web.Options{Assets: testAssets(t, true)}).HasVerifier() {
		t.Fatal("HasVerifier with the file")
	}
}

// TestEmbeddedWasmExec: a wasm_exec.js built into the assets is the one of
// the toolchain building the module (go generate copies it; a stale copy
// would not load the verifier).
func TestEmbeddedWasmExec(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("assets", web.WasmExecFile))
	if os.IsNotExist(err) {
		t.Skip("web/assets/wasm_exec.js is not generated (make pages); the page tests build their own")
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Skip("this toolchain keeps wasm_exec.js elsewhere")
	}
	if !bytes.Equal(b, want) {
		t.Fatal("web/assets/wasm_exec.js is not this toolchain's: run make pages")
	}
}

// shellScripts are the scripts the page shell loads, in its order.
func shellScripts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("assets", "page.html"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`<script src="/assets/([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// pageScripts are the pages' own scripts in web/assets: every .js file
// but the generated wasm_exec.js.
func pageScripts(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".js" || e.Name() == web.WasmExecFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join("assets", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// TestAssetRules reads the pages and the scripts for what the policy and
// the secret's rules forbid: inline script or style, event handler
// attributes, HTML built from strings, storage, logging, eval; checks that
// the shell loads every script of the pages once, Go's loader first,
// lib.js (which the others build on) next and app.js (which starts the
// page) last; and that every text the scripts ask for is in the message
// catalogue.
func TestAssetRules(t *testing.T) {
	for _, name := range []string{"page.html"} {
		b, _ := os.ReadFile(filepath.Join("assets", name))
		s := string(b)
		for _, tag := range regexp.MustCompile(`<script[^>]*>([^<]*)`).FindAllStringSubmatch(s, -1) {
			if !strings.Contains(tag[0], ` src="/assets/`) || tag[1] != "" {
				t.Errorf("%s has an inline script: %s", name, tag[0])
			}
		}
		for _, bad := range []string{" style=", " onclick=", " onload=", "<style", "http://", "https://"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	scripts := pageScripts(t)
	if _, ok := scripts["app.js"]; !ok || len(scripts) < 2 {
		t.Fatalf("the pages' scripts: %d, app.js among them: %v", len(scripts), ok)
	}
	loaded := shellScripts(t)
	seen := map[string]int{}
	for _, name := range loaded {
		seen[name]++
		if _, ok := scripts[name]; !ok && name != web.WasmExecFile {
			t.Errorf("page.html loads %s, which is not in web/assets", name)
		}
	}
	for name := range scripts {
		if seen[name] != 1 {
			t.Errorf("page.html loads %s %d times, want once", name, seen[name])
		}
	}
	if len(loaded) < 3 || loaded[0] != web.WasmExecFile || loaded[1] != "lib.js" || loaded[len(loaded)-1] != "app.js" {
		t.Errorf("page.html loads %q: want %s first, lib.js next, app.js last", loaded, web.WasmExecFile)
	}
	for name, js := range scripts {
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "sessionStorage",
			"indexedDB", "document.cookie", "console.", "http://", "https://", "history.pushState", "sendBeacon"} {
			if strings.Contains(js, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
	var cat map[string]map[string]string
	raw, _ := os.ReadFile(filepath.Join("assets", "messages.json"))
	if err := json.Unmarshal(raw, &cat); err != nil {
		t.Fatalf("messages.json: %v", err)
	}
	en := cat["en"]
	if len(en) < 100 {
		t.Fatalf("the English catalogue has %d texts", len(en))
	}
	for name, js := range scripts {
		for _, m := range regexp.MustCompile(`\bt\('([a-z0-9_.\-]+)'`).FindAllStringSubmatch(js, -1) {
			if strings.HasSuffix(m[1], ".") {
				continue // a prefix, checked below
			}
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s asks for text %q, which messages.json lacks", name, m[1])
			}
		}
	}
	for _, prefix := range []string{"verify.check.", "patient.status.", "patient.decision.", "trial.status.", "trial.flag."} {
		found := false
		for k := range en {
			found = found || strings.HasPrefix(k, prefix)
		}
		if !found {
			t.Errorf("no texts %s*", prefix)
		}
	}
	for _, check := range []string{"log_key", "checkpoint", "witness", "entry", "receipt", "outcome_report", "consent_status", "answer", "load"} {
		if _, ok := en["verify.check."+check]; !ok {
			t.Errorf("no text for the check %s", check)
		}
	}
}

// TestMountedInTrialogd: trialogd serves the pages beside its API.
func TestMountedInTrialogd(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	paths := []string{"/patient", "/trials/NCT00000419", "/log", "/assets/messages.json"}
	for _, name := range shellScripts(t) {
		if name != web.WasmExecFile { // generated: embedded only after go generate
			paths = append(paths, "/assets/"+name)
		}
	}
	for _, path := range paths {
		status, hdr, body := testserver.Request(t, http.MethodGet, srv.URL+path, "", "", nil)
		if status != http.StatusOK || hdr.Get("Content-Security-Policy") != web.CSP || len(body) == 0 {
			t.Errorf("GET %s: %d %q", path, status, hdr.Get("Content-Security-Policy"))
		}
	}
	if status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/v1/log", "", "", nil); status != http.StatusOK || !strings.Contains(string(body), `"public_key"`) {
		t.Errorf("the API behind the pages: %d %s", status, body)
	}
	if status, _, body := testserver.Request(t, http.MethodGet, srv.URL+"/nope", "", "", nil); status != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("unknown paths still get the API's 404: %d %s", status, body)
	}
}

// TestVerifierBuilds: web/wasm compiles to WebAssembly from the current
// source, with or without a browser to run it.
func TestVerifierBuilds(t *testing.T) {
	dir := assetsDir(t)
	b, err := os.ReadFile(filepath.Join(dir, web.VerifierFile))
	if err != nil || !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("verifier.wasm is not a WebAssembly module (%v)", err)
	}
	js, err := os.ReadFile(filepath.Join(dir, web.WasmExecFile))
	if err != nil || !strings.Contains(string(js), "globalThis.Go = class") {
		t.Fatalf("wasm_exec.js is not Go's loader (%v)", err)
	}
	if !web.New(web.Options{Assets: os.DirFS(dir)}).HasVerifier() {
		t.Fatal("the built assets have no verifier")
	}
}
