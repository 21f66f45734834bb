package testdb_test

import (
	"context"
	"database/sql"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/trialog/trialog/internal/testdb"
)

// schemaExists reports whether database name exists on the server behind db.
func schemaExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n)
	if err != nil {
		t.Fatalf("querying schemata: %v", err)
	}
	return n > 0
}

func TestDSN(t *testing.T) {
	admin := testdb.Open(t, testdb.ServerDSN(t))

	var name, other string
	t.Run("use", func(t *testing.T) {
		dsn := testdb.DSN(t)
		if strings.Contains(dsn, "?") {
			t.Errorf("DSN %q has parameters", dsn)
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("ParseDSN(%q): %v", dsn, err)
		}
		name = cfg.DBName
		if !strings.HasPrefix(name, testdb.DBNamePrefix) || len(name) != len(testdb.DBNamePrefix)+16 {
			t.Errorf("database name %q, want %s + 16 hex digits", name, testdb.DBNamePrefix)
		}
		if !schemaExists(t, admin, name) {
			t.Fatalf("database %s does not exist", name)
		}

		// Callers can add their own parameters.
		db := testdb.Open(t, dsn+"?parseTime=true&multiStatements=true")
		var cur string
		if err := db.QueryRow("SELECT DATABASE()").Scan(&cur); err != nil {
			t.Fatal(err)
		}
		if cur != name {
			t.Errorf("DATABASE() = %q, want %q", cur, name)
		}
		var tables int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables, want 0", tables)
		}
		if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY, at DATETIME); INSERT INTO t VALUES (1, NOW())"); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		if err := db.QueryRow("SELECT at FROM t WHERE id = 1").Scan(&at); err != nil {
			t.Fatal(err)
		}

		// Every call gives a different database.
		other = strings.TrimPrefix(testdb.DSN(t), strings.TrimSuffix(dsn, name))
		if other == name {
			t.Errorf("two DSN calls returned the same database %s", name)
		}
		if !schemaExists(t, admin, other) {
			t.Errorf("second database %s does not exist", other)
		}
	})
	if name == "" || other == "" {
		t.Fatal("subtest did not create databases")
	}
	for _, n := range []string{name, other} {
		if schemaExists(t, admin, n) {
			t.Errorf("database %s still exists after the subtest finished", n)
		}
	}
}

func TestPrivateServer(t *testing.T) {
	begin := time.Now()
	s := testdb.StartPrivate(t)
	t.Logf("StartPrivate took %v", time.Since(begin))

	if host, _, err := net.SplitHostPort(s.Addr()); err != nil || host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want 127.0.0.1:<port>", s.Addr())
	}
	if want := "root@tcp(" + s.Addr() + ")/app"; s.DSN("app") != want {
		t.Errorf("DSN(app) = %q, want %q", s.DSN("app"), want)
	}

	root := testdb.Open(t, s.DSN("")+"?timeout=2s")
	if _, err := root.Exec("CREATE DATABASE app"); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, s.DSN("app")+"?timeout=2s")
	if _, err := db.Exec("CREATE TABLE kv (k VARCHAR(16) PRIMARY KEY, v VARCHAR(16)) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	insert := func(k, v string) {
		t.Helper()
		if _, err := db.Exec("INSERT INTO kv VALUES (?, ?)", k, v); err != nil {
			t.Fatalf("insert %s: %v", k, err)
		}
	}
	wantRows := func(want ...string) {
		t.Helper()
		rows, err := db.Query("SELECT k, v FROM kv ORDER BY k")
		if err != nil {
			t.Fatalf("select: %v", err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, k+"="+v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("rows = %v, want %v", got, want)
		}
	}
	wantDown := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err == nil {
			t.Fatal("ping succeeded while the server is down")
		}
	}
	timed := func(what string, f func(testing.TB)) {
		t.Helper()
		begin := time.Now()
		f(t)
		t.Logf("%s took %v", what, time.Since(begin))
	}

	insert("a", "1")

	timed("Stop", s.Stop)
	wantDown()
	s.Stop(t) // stopping twice is fine
	timed("Start", s.Start)
	wantRows("a=1")

	insert("b", "2")
	timed("Kill", s.Kill)
	wantDown()
	timed("Start after Kill", s.Start)
	wantRows("a=1", "b=2")

	// A server whose root@127.0.0.1 account is gone gets it back on start
	// (via the Unix socket).
	if _, err := root.Exec("DROP USER 'root'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	timed("Start without root@127.0.0.1", s.Start)
	wantRows("a=1", "b=2")
}

func TestPrivateServerCleanup(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		s := testdb.StartPrivate(t)
		addr = s.Addr()
		db := testdb.Open(t, s.DSN("")+"?timeout=2s")
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
	})
	if addr == "" {
		t.Skip("no private server was started")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the test finished", addr)
	}
}
