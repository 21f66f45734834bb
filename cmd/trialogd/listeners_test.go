package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// listeningAddrs returns the TCP addresses process pid listens on, from
// /proc/<pid>/net/tcp{,6} (sockets in LISTEN state) restricted to the
// socket inodes among /proc/<pid>/fd.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var addrs []string
	for _, file := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			addrs = append(addrs, procAddr(t, fields[1]))
		}
		f.Close()
	}
	slices.Sort(addrs)
	return addrs
}

// procAddr decodes /proc/net/tcp's HEXIP:HEXPORT (IP in host byte order,
// 32-bit words).
func procAddr(t *testing.T, s string) string {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil {
		t.Fatalf("cannot read %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// TestEmbeddedListensOnlyOnItsListeners starts the trialogd binary with the
// embedded Trillian, a public and an admin listener, and checks in /proc
// that those two are the only TCP sockets it listens on: Trillian's gRPC
// API, which has no authentication, is reached in memory.
func TestEmbeddedListensOnlyOnItsListeners(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cfg := testserver.Config(t, testdb.DSN(t))
	addr, adminAddr := freeAddr(t), freeAddr(t)
	logf, err := os.Create(filepath.Join(cfg.DataDir, "trialogd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(trialogdBinary(t), "--listen", addr, "--admin-listen", adminAddr, "--mysql-dsn", cfg.MySQLDSN,
		"--data-dir", cfg.DataDir, "--origin", cfg.Origin, "--checkpoint-interval", "20ms", "--sequencer-interval", "20ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := false
	for deadline := time.Now().Add(60 * time.Second); !ready && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}
	if !ready {
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("trialogd did not become ready:\n%s", b)
	}
	// The log works (a principal, an entry, a checkpoint), so Trillian was
	// reached; its servers have had every chance to open their ports.
	sponsor := testserver.NewPrincipal(t, "http://"+adminAddr, cfg.DataDir, "Listener sponsor", "sponsor")
	sponsor.Client = client.New("http://"+addr, sponsor.Token)
	if _, status, err := sponsor.Client.Submit(context.Background(), sponsor.Sign(testserver.DigestStatement("listeners")), 10*time.Second); err != nil || status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, err)
	}
	want := []string{addr, adminAddr}
	slices.Sort(want)
	if got := listeningAddrs(t, cmd.Process.Pid); !slices.Equal(got, want) {
		t.Fatalf("trialogd listens on %v, want only %v", got, want)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 named cn.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then certificate: a reload between the two writes fails
	// (mismatched pair) and keeps the old certificate, which is what the
	// reloader promises.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestTLSAndAdminListener serves HTTPS on a public and an admin listener:
// the admin API and /metrics exist only on the admin one, and a new
// certificate is served after SIGHUP.
func TestTLSAndAdminListener(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	dir := t.TempDir()
	cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, cfg.TLSCert, cfg.TLSKey, "first")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.ServeListeners(ctx, cfg, slog.New(slog.DiscardHandler), ln, adminLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("trialogd stopped with %v", err)
		}
	})

	// served returns the certificate presented on addr and an HTTPS client
	// trusting exactly it.
	served := func(addr string) (*x509.Certificate, *http.Client) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return nil, nil
		}
		defer conn.Close()
		cert := conn.ConnectionState().PeerCertificates[0]
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		return cert, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	pubURL, adminURL := "https://"+ln.Addr().String(), "https://"+adminLn.Addr().String()
	var hc *http.Client
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var cert *x509.Certificate
		if cert, hc = served(ln.Addr().String()); cert != nil {
			if !cert.Equal(first) {
				t.Fatal("the listener does not serve the configured certificate")
			}
			if resp, err := hc.Get(pubURL + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("trialogd did not become ready over HTTPS")
		}
	}
	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Get("http://" + ln.Addr().String() + "/v1/log"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}

	admin := strings.TrimSpace(func() string { b, _ := os.ReadFile(filepath.Join(cfg.DataDir, "admin.token")); return string(b) }())
	get := func(url, token string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(url string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"name":"TLS regulator","role":"regulator","public_keys":[]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"public /v1/log", get(pubURL+"/v1/log", ""), http.StatusOK},
		{"public /metrics", get(pubURL+"/metrics", ""), http.StatusNotFound},
		{"public /v1/admin/principals", post(pubURL + "/v1/admin/principals"), http.StatusNotFound},
		{"public /v1/admin/../admin/principals", post(pubURL + "/v1/x/../admin/principals"), http.StatusNotFound},
		{"admin /metrics", get(adminURL+"/metrics", ""), http.StatusOK},
		{"admin /v1/admin/principals", post(adminURL + "/v1/admin/principals"), http.StatusCreated},
		{"admin /v1/log", get(adminURL+"/v1/log", ""), http.StatusNotFound},
		{"admin /healthz", get(adminURL+"/healthz", ""), http.StatusOK},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}

	// A renewed certificate is served after SIGHUP, on both listeners.
	second := writeCert(t, cfg.TLSCert, cfg.TLSKey, "second")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{ln.Addr().String(), adminLn.Addr().String()} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if cert, _ := served(a); cert != nil && cert.Equal(second) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves the first certificate 10s after SIGHUP", a)
			}
		}
	}
}

// acceptLog is a listener that notes each call of Accept, in one sequence
// with the test's own events.
type acceptLog struct {
	net.Listener
	mu     sync.Mutex
	events []string
}

func (l *acceptLog) note(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *acceptLog) Accept() (net.Conn, error) {
	l.note("accept")
	return l.Listener.Accept()
}

// TestConnectionCap serves with --max-connections 1: while one client
// keeps its connection open, the next one is not even accepted; it is
// served once the first has gone.
func TestConnectionCap(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	cfg.MaxConnections = 1
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &acceptLog{Listener: inner}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.ServeListeners(ctx, cfg, slog.New(slog.DiscardHandler), ln, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	// get sends one keep-alive request on conn and reads the answer's status.
	get := func(conn net.Conn, r *bufio.Reader) (int, error) {
		if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: trialog\r\n\r\n"); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// The first client: the kernel accepts its connection at once, and
	// trialogd answers once it has started.
	a, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a.SetDeadline(time.Now().Add(60 * time.Second))
	ra := bufio.NewReader(a)
	if status, err := get(a, ra); err != nil || status != http.StatusOK {
		t.Fatalf("first client: %d %v", status, err)
	}
	// A second client connects (the kernel completes the handshake) and
	// asks; it is answered only after the first client has closed.
	b, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	answered := make(chan error, 1)
	go func() {
		status, err := get(b, bufio.NewReader(b))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		answered <- err
	}()
	// The first client is done once its answer is read; the server's loop
	// has long since asked for the next connection.
	if status, err := get(a, ra); err != nil || status != http.StatusOK {
		t.Fatalf("second request on the first connection: %d %v", status, err)
	}
	ln.note("first client closes")
	a.Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("second client: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the second client was not served after the first closed")
	}
	// With the cap, the Accept that took the second client could only be
	// called after the first connection closed; without it, trialogd would
	// have called Accept again as soon as it had taken the first.
	ln.mu.Lock()
	events := slices.Clone(ln.events)
	ln.mu.Unlock()
	closed := slices.Index(events, "first client closes")
	before, after := 0, 0
	for i, e := range events {
		if e == "accept" && i < closed {
			before++
		} else if e == "accept" {
			after++
		}
	}
	if before != 1 || after < 1 {
		t.Fatalf("Accept called %d times before the first client closed and %d after, want 1 and at least 1: %v", before, after, events)
	}
}
