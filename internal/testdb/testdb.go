// Package testdb provides MySQL/MariaDB databases for tests.
//
// There are two kinds of database:
//
//   - [DSN] creates a fresh, uniquely named database on a shared server
//     (by default root@tcp(127.0.0.1:3306)/, overridable with the
//     TRIALOG_TEST_MYSQL_DSN environment variable) and drops it when the
//     test finishes. Use it for ordinary storage tests; many tests and test
//     binaries can share one server concurrently.
//   - [StartPrivate] starts a private, throw-away MariaDB server that only
//     the calling test uses. Use it for tests that need to stop, kill or
//     restart the database; never stop the shared server.
//
// When no database is available the tests are skipped, unless the
// environment variable CI is "true", in which case they fail, so that a
// misconfigured CI job cannot silently skip database tests.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// EnvServerDSN names the environment variable holding the DSN of the
	// shared server used by [DSN] and [ServerDSN]. The DSN must be in
	// go-sql-driver/mysql format and should not name a database, e.g.
	// "user:password@tcp(db.example:3306)/".
	EnvServerDSN = "TRIALOG_TEST_MYSQL_DSN"

	// DefaultServerDSN is the shared server DSN used when [EnvServerDSN]
	// is unset or empty.
	DefaultServerDSN = "root@tcp(127.0.0.1:3306)/"

	// DBNamePrefix is the prefix of the names of the databases created by
	// [DSN]. It is followed by 16 random hex digits.
	DBNamePrefix = "trialog_t_"

	// pingTimeout bounds how long we wait for the shared server to answer.
	pingTimeout = 3 * time.Second

	// dropTimeout bounds how long dropping a test database may take.
	dropTimeout = 60 * time.Second
)

// ServerDSN returns the DSN of the shared test server, taken from
// [EnvServerDSN] or [DefaultServerDSN], exactly as configured (normally
// without a database name).
//
// It first checks that the server answers within a few seconds. If it does
// not, the test is skipped, or fails if the environment variable CI is
// "true".
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn, cfg := serverConfig(t)
	db := openConfig(t, cfg)
	defer db.Close()
	ping(t, db, cfg)
	return dsn
}

// DSN creates a new, empty database with a unique name (see [DBNamePrefix])
// on the shared test server and returns a go-sql-driver/mysql DSN for it,
// such as "root@tcp(127.0.0.1:3306)/trialog_t_0123456789abcdef".
//
// The returned DSN has no parameters, so callers can append their own
// (e.g. dsn+"?parseTime=true"). Parameters present in [EnvServerDSN] are
// only used for the administrative connection and are not carried over.
//
// The database is dropped when the test and all its subtests have
// finished (via t.Cleanup). Close connections to it before that, e.g. by
// using [Open], which closes its pool in an earlier-running cleanup.
//
// If the server does not answer, the test is skipped, or fails if the
// environment variable CI is "true".
func DSN(t testing.TB) string {
	t.Helper()
	_, cfg := serverConfig(t)
	admin := openConfig(t, cfg)
	ping(t, admin, cfg)
	admin.SetMaxIdleConns(1)

	name := DBNamePrefix + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		admin.Close()
		t.Fatalf("testdb: creating database %s on %s: %v", name, cfg.Addr, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("testdb: dropping database %s on %s: %v", name, cfg.Addr, err)
		}
	})

	out := mysql.NewConfig()
	out.User = cfg.User
	out.Passwd = cfg.Passwd
	out.Net = cfg.Net
	out.Addr = cfg.Addr
	out.DBName = name
	return out.FormatDSN()
}

// Open opens a *sql.DB for dsn with the "mysql" driver and closes it when
// the test finishes. It does not connect; the first query (or Ping) does.
// A malformed DSN fails the test.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	if _, err := mysql.ParseDSN(dsn); err != nil {
		t.Fatalf("testdb: invalid DSN: %v", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("testdb: opening database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serverConfig returns the configured shared-server DSN and a parsed copy
// of it suitable for administrative connections (no database selected,
// short dial timeout, bounded lock waits).
func serverConfig(t testing.TB) (string, *mysql.Config) {
	t.Helper()
	dsn := os.Getenv(EnvServerDSN)
	if dsn == "" {
		dsn = DefaultServerDSN
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("testdb: invalid %s: %v", EnvServerDSN, err)
	}
	cfg.DBName = ""
	cfg.Timeout = pingTimeout
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["lock_wait_timeout"]; !ok {
		cfg.Params["lock_wait_timeout"] = "30"
	}
	return dsn, cfg
}

// openConfig opens a connection pool for cfg, failing the test on error.
func openConfig(t testing.TB, cfg *mysql.Config) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("testdb: invalid MySQL configuration: %v", err)
	}
	return sql.OpenDB(conn)
}

// ping checks that the server behind db answers, skipping or failing the
// test (see unavailable) if it does not.
func ping(t testing.TB, db *sql.DB, cfg *mysql.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		unavailable(t, "testdb: no MySQL at %s (user %q; set %s to use another server): %v",
			cfg.Addr, cfg.User, EnvServerDSN, err)
	}
}

// unavailable reports that a required database is not available: the test
// fails if the environment variable CI is "true" and is skipped otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// randomHex returns 2*n random hex digits.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testdb: reading random bytes: %v", err)
	}
	return hex.EncodeToString(b)
}
