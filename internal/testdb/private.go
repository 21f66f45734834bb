package testdb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// startTimeout bounds how long a private server may take to answer
	// after mariadbd has been started.
	startTimeout = 30 * time.Second

	// stopTimeout bounds how long a private server may take to shut down
	// after SIGTERM before it is killed.
	stopTimeout = 60 * time.Second

	// killTimeout bounds how long we wait for a SIGKILLed server to exit.
	killTimeout = 15 * time.Second

	// installTimeout bounds how long mariadb-install-db may run.
	installTimeout = 2 * time.Minute

	// portCloseTimeout bounds how long the TCP port may stay open after the
	// server process has exited.
	portCloseTimeout = 10 * time.Second

	// startAttempts is how often StartPrivate tries a new port when the
	// one it picked was taken by someone else in the meantime.
	startAttempts = 3

	// logTailLines is how many server log lines are included in errors.
	logTailLines = 40

	// maxSocketPath keeps the Unix socket path below the sun_path limit
	// (108 bytes on Linux, 104 on macOS), with some margin.
	maxSocketPath = 100

	// logName is the name of the server log file inside the data dir.
	logName = "server.log"
)

// Server is a private MariaDB server started by [StartPrivate] for the
// exclusive use of one test. Its root user (root@127.0.0.1, no password)
// has all privileges; if that account is missing when the server starts,
// it is recreated through the server's Unix socket.
//
// The server listens on a fixed TCP port on 127.0.0.1 for its whole life,
// so DSNs obtained from [Server.DSN] stay valid across [Server.Stop],
// [Server.Kill] and [Server.Start].
//
// The methods of a Server may be called from multiple goroutines.
type Server struct {
	mariadbd string // path of the mariadbd binary
	dataDir  string // --datadir; also holds the log file
	tmpDir   string // --tmpdir
	socket   string // --socket
	pidFile  string // --pid-file
	logFile  string // --log-error, stdout and stderr of mariadbd
	port     int    // TCP port on 127.0.0.1; fixed after StartPrivate

	mu   sync.Mutex // serializes Start, Stop and Kill
	proc *process   // the running mariadbd, nil when stopped
}

// process is one run of mariadbd.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // result of cmd.Wait; read only after done is closed
}

// StartPrivate initializes a fresh MariaDB data directory under
// t.TempDir(), starts mariadbd on a free TCP port on 127.0.0.1 and waits
// until it accepts connections. It never touches the shared server used by
// [DSN].
//
// When the test finishes the server is killed (its data is thrown away, so
// there is no point in a clean shutdown) and its files are removed. If the
// test binary dies without running its cleanups, the kernel kills the
// server too (Linux only).
//
// The server is tuned for tests: a small buffer pool and redo log, no
// binary log, no name resolution, utf8mb4 as the default character set,
// and innodb_flush_log_at_trx_commit=2, i.e. committed transactions
// survive a crash of the server process ([Server.Kill]) but not of the
// operating system.
//
// StartPrivate needs the mariadbd and mariadb-install-db binaries (package
// mariadb-server on Debian and Ubuntu). If they are missing, the test is
// skipped, or fails if the environment variable CI is "true".
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	mariadbd, err := findBinary("mariadbd")
	if err == nil {
		var installDB string
		installDB, err = findBinary("mariadb-install-db")
		if err == nil {
			return startPrivate(t, mariadbd, installDB)
		}
	}
	unavailable(t, "testdb: cannot start a private MariaDB server: %v; install mariadb-server (it provides mariadbd and mariadb-install-db)", err)
	return nil
}

// startPrivate is StartPrivate once the binaries have been found.
func startPrivate(t testing.TB, mariadbd, installDB string) *Server {
	t.Helper()
	root := t.TempDir()
	s := &Server{
		mariadbd: mariadbd,
		dataDir:  filepath.Join(root, "data"),
		tmpDir:   filepath.Join(root, "tmp"),
		socket:   filepath.Join(root, "mysqld.sock"),
		pidFile:  filepath.Join(root, "mysqld.pid"),
	}
	s.logFile = filepath.Join(s.dataDir, logName)
	if err := os.Mkdir(s.tmpDir, 0o700); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if len(s.socket) > maxSocketPath {
		// t.TempDir() contains the test name and may be too long for a
		// Unix socket path; fall back to a short directory.
		dir, err := os.MkdirTemp("/tmp", "testdb-")
		if err != nil {
			t.Fatalf("testdb: creating socket directory: %v", err)
		}
		// Registered before the cleanup that stops the server, so it
		// runs after it.
		t.Cleanup(func() { os.RemoveAll(dir) })
		s.socket = filepath.Join(dir, "mysqld.sock")
	}

	if err := s.install(installDB); err != nil {
		t.Fatalf("testdb: %v", err)
	}

	t.Cleanup(func() {
		if err := s.stop(true); err != nil {
			t.Errorf("testdb: stopping private MariaDB server on %s: %v", s.Addr(), err)
		}
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testdb: picking a port for the private MariaDB server: %v", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			return s
		}
		if attempt >= startAttempts || !errors.Is(err, errPortInUse) {
			t.Fatalf("testdb: starting private MariaDB server: %v", err)
		}
		t.Logf("testdb: port %d was taken, trying another one", port)
	}
}

// Addr returns the TCP address of the server, "127.0.0.1:<port>".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// DSN returns a go-sql-driver/mysql DSN for database db on the server,
// "root@tcp(127.0.0.1:<port>)/<db>", without parameters. db may be empty to
// connect without selecting a database. The database is not created;
// e.g. run "CREATE DATABASE" through s.DSN("") first.
func (s *Server) DSN(db string) string {
	return "root@tcp(" + s.Addr() + ")/" + db
}

// Stop shuts the server down cleanly: it sends SIGTERM, waits until the
// mariadbd process has exited and the TCP port is closed. If the server
// does not exit within a minute it is killed and the test fails. Stopping
// a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(false); err != nil {
		t.Fatalf("testdb: stopping private MariaDB server on %s: %v", s.Addr(), err)
	}
}

// Kill simulates a crash: it sends SIGKILL to the server and waits until
// the mariadbd process has exited and the TCP port is closed. Killing a
// stopped server does nothing.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.stop(true); err != nil {
		t.Fatalf("testdb: killing private MariaDB server on %s: %v", s.Addr(), err)
	}
}

// Start starts a stopped or killed server again, with the same data dir
// and on the same port, and waits until it accepts connections (after
// crash recovery, if it was killed). On failure the test fails with the
// tail of the server log. Starting a running server fails the test.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.start(); err != nil {
		t.Fatalf("testdb: starting private MariaDB server on %s: %v", s.Addr(), err)
	}
}

// constError is an error type whose values can be constants.
type constError string

// Error implements error.
func (e constError) Error() string { return string(e) }

// errPortInUse marks start failures caused by the TCP port being taken.
const errPortInUse = constError("port already in use")

// innodbFlags returns the mariadbd options that must be the same for
// mariadb-install-db and every later start of the server.
func innodbFlags() []string {
	return []string{
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		"--innodb-data-file-path=ibdata1:12M:autoextend",
	}
}

// userFlags returns --user=root when running as root, which mariadbd
// otherwise refuses.
func userFlags() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// install runs mariadb-install-db to create the data directory.
func (s *Server) install(installDB string) error {
	args := []string{
		"--no-defaults", // must come first
		"--datadir=" + s.dataDir,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
	}
	args = append(args, userFlags()...)
	args = append(args, innodbFlags()...)
	args = append(args, "--tmpdir="+s.tmpDir)

	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, installDB, args...)
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return killProcess(cmd) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// Run on a locked OS thread so that procAttr's parent-death signal
	// refers to a thread that lives as long as the command.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		errc <- cmd.Run()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("%s %s: %v\n%s", installDB, strings.Join(args, " "), err, tail(out.String(), logTailLines))
	}
	return nil
}

// args returns the command line arguments for mariadbd.
func (s *Server) args() []string {
	args := []string{
		"--no-defaults", // must come first
		"--datadir=" + s.dataDir,
		"--tmpdir=" + s.tmpDir,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket=" + s.socket,
		"--pid-file=" + s.pidFile,
		"--log-error=" + s.logFile,
		"--skip-log-bin",
		"--skip-name-resolve",
		"--performance-schema=OFF",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--innodb-flush-log-at-trx-commit=2",
	}
	args = append(args, userFlags()...)
	return append(args, innodbFlags()...)
}

// start starts mariadbd and waits until it answers. s.mu must be held.
func (s *Server) start() error {
	if s.proc != nil {
		return errors.New("server is already running")
	}
	// Leftovers of a killed server; mariadbd would usually cope, but a
	// recycled PID in the socket lock file would make it refuse to start.
	for _, f := range []string{s.socket, s.socket + ".lock", s.pidFile} {
		os.Remove(f)
	}

	var logStart int64
	if fi, err := os.Stat(s.logFile); err == nil {
		logStart = fi.Size()
	}
	logf, err := os.OpenFile(s.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy

	cmd := exec.Command(s.mariadbd, s.args()...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = procAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Keep the forking OS thread alive while mariadbd runs, so that
		// the parent-death signal set by procAttr fires only when the
		// test process itself dies.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting %s: %v", s.mariadbd, err)
	}
	s.proc = p

	if err := s.waitReady(p); err != nil {
		if serr := s.endProcess(true); serr != nil {
			err = fmt.Errorf("%v (and then killing it: %v)", err, serr)
		}
		log := readFrom(s.logFile, logStart)
		if !errors.Is(err, errPortInUse) && strings.Contains(log, "already in use") {
			err = fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, s.logFile, tail(log, logTailLines))
	}
	return nil
}

// waitReady waits until the server accepts connections from root over TCP.
func (s *Server) waitReady(p *process) error {
	cfg := s.config()
	cfg.Timeout = time.Second
	db := openConnector(cfg)
	defer db.Close()

	deadline := time.Now().Add(startTimeout)
	fixedAuth := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var dataDir string
		err := db.QueryRowContext(ctx, "SELECT @@datadir").Scan(&dataDir)
		cancel()
		if err == nil {
			// Make sure we are talking to our server and not to one that
			// grabbed the port after freePort picked it.
			if !s.isDataDir(dataDir) {
				return fmt.Errorf("%w: a server with data dir %s answers on %s", errPortInUse, dataDir, s.Addr())
			}
			return nil
		}
		var merr *mysql.MySQLError
		if errors.As(err, &merr) && (merr.Number == 1045 || merr.Number == 1130) && !fixedAuth {
			// The server is up but root may not log in over TCP (e.g. an
			// install without root@127.0.0.1); fix that via the socket.
			fixedAuth = true
			if ferr := s.allowRootOverTCP(); ferr != nil {
				return fmt.Errorf("root cannot log in over TCP (%v) and granting access via %s failed: %v", err, s.socket, ferr)
			}
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd did not answer on %s within %v: %v", s.Addr(), startTimeout, err)
		}
		select {
		case <-p.done:
			return fmt.Errorf("mariadbd exited during startup: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isDataDir reports whether dir, as reported by a server, is s.dataDir.
func (s *Server) isDataDir(dir string) bool {
	dir = filepath.Clean(dir)
	if dir == filepath.Clean(s.dataDir) {
		return true
	}
	real, err := filepath.EvalSymlinks(s.dataDir)
	return err == nil && dir == real
}

// allowRootOverTCP connects through the Unix socket as root@localhost and
// makes sure root@127.0.0.1 exists with an empty password and all
// privileges.
func (s *Server) allowRootOverTCP() error {
	cfg := s.config()
	cfg.Net = "unix"
	cfg.Addr = s.socket
	db := openConnector(cfg)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
		"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ''",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %v", q, err)
		}
	}
	return nil
}

// config returns a driver configuration for root over TCP that does not
// log connection errors (which are expected while the server starts).
func (s *Server) config() *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.Addr()
	cfg.Logger = nopLogger{}
	return cfg
}

// stop stops the server with SIGTERM, or SIGKILL if kill is set, and waits
// until it has exited and its port is closed.
func (s *Server) stop(kill bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(kill)
}

// stopLocked is stop with s.mu held.
func (s *Server) stopLocked(kill bool) error {
	if err := s.endProcess(kill); err != nil {
		return err
	}
	return s.waitPortClosed()
}

// endProcess sends SIGTERM, or SIGKILL if kill is set, to the server and
// waits until it has exited. s.mu must be held.
func (s *Server) endProcess(kill bool) error {
	p := s.proc
	if p == nil {
		return nil
	}
	var err error
	if kill {
		err = killProcess(p.cmd)
	} else {
		err = terminateProcess(p.cmd)
	}
	if err != nil {
		select {
		case <-p.done: // it had exited already
		default:
			return fmt.Errorf("signalling mariadbd (pid %d): %v", p.cmd.Process.Pid, err)
		}
	}

	timeout := stopTimeout
	if kill {
		timeout = killTimeout
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		if kill {
			return fmt.Errorf("mariadbd (pid %d) did not exit within %v of SIGKILL", p.cmd.Process.Pid, timeout)
		}
		killProcess(p.cmd)
		select {
		case <-p.done:
		case <-time.After(killTimeout):
		}
		s.proc = nil
		return fmt.Errorf("mariadbd (pid %d) did not shut down within %v of SIGTERM and was killed", p.cmd.Process.Pid, timeout)
	}
	s.proc = nil
	return nil
}

// waitPortClosed waits until nothing accepts connections on s.Addr().
func (s *Server) waitPortClosed() error {
	deadline := time.Now().Add(portCloseTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s still accepts connections %v after mariadbd exited", s.Addr(), portCloseTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findBinary looks name up in $PATH and then in the usual sbin and libexec
// directories, which are often not in $PATH of unprivileged users.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs := []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/bin", "/usr/local/mysql/bin", "/opt/homebrew/bin"}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in $PATH or %s", name, strings.Join(dirs, ", "))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// openConnector returns a pool for cfg; cfg is known to be valid.
func openConnector(cfg *mysql.Config) *sql.DB {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err)
	}
	return sql.OpenDB(conn)
}

// readFrom returns the contents of file from offset on, or a note saying
// why it could not be read.
func readFrom(file string, offset int64) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	return string(b[offset:])
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// nopLogger discards go-sql-driver/mysql log output.
type nopLogger struct{}

// Print implements mysql.Logger.
func (nopLogger) Print(...any) {}
