package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed schema/trillian.sql schema/trialog/*.sql
var schemaFS embed.FS

// ErrSchemaTooNew is returned when the database was migrated by a newer
// trialogd than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this trialogd knows")

// Component names in trialog_schema.
const (
	ComponentTrialog  = "trialog"
	ComponentTrillian = "trillian"
)

const (
	createSchemaTable = `CREATE TABLE IF NOT EXISTS trialog_schema (
  component  VARCHAR(32) NOT NULL PRIMARY KEY,
  version    INT NOT NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB`
	selectSchemaVersion = `SELECT version FROM trialog_schema WHERE component = ?`
	upsertSchemaVersion = `INSERT INTO trialog_schema (component, version, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))
  ON DUPLICATE KEY UPDATE version = VALUES(version), applied_at = VALUES(applied_at)`
	lockMigrations   = `SELECT GET_LOCK('trialog_migrate', 60)`
	unlockMigrations = `SELECT RELEASE_LOCK('trialog_migrate')`
)

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrations returns trialog's own migrations in order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema/trialog")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := schemaFS.ReadFile("schema/trialog/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations are not numbered 1..n: %s", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the trialog schema version this build knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// Migrate brings the database's schema up to date: Trillian's tables when
// withTrillian is set (trialogd runs Trillian in-process on this database),
// then trialog's own numbered migrations. It refuses, with ErrSchemaTooNew,
// a database migrated by a newer trialogd. Concurrent starts take turns on a
// MySQL named lock.
func Migrate(ctx context.Context, db *sql.DB, withTrillian bool) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, lockMigrations).Scan(&got); err != nil || got.Int64 != 1 {
		return fmt.Errorf("taking the migration lock: %v", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), unlockMigrations)

	if _, err := conn.ExecContext(ctx, createSchemaTable); err != nil {
		return fmt.Errorf("creating trialog_schema: %w", err)
	}
	if withTrillian {
		b, err := schemaFS.ReadFile("schema/trillian.sql")
		if err != nil {
			return err
		}
		if err := apply(ctx, conn, ComponentTrillian, []migration{{version: 1, name: "trillian.sql", sql: string(b)}}); err != nil {
			return err
		}
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	if err := apply(ctx, conn, ComponentTrialog, ms); err != nil {
		return err
	}
	return convertToUTF8MB4(ctx, conn)
}

func apply(ctx context.Context, conn *sql.Conn, component string, ms []migration) error {
	var current int
	err := conn.QueryRowContext(ctx, selectSchemaVersion, component).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reading %s schema version: %w", component, err)
	}
	if current > len(ms) {
		return fmt.Errorf("%w: %s schema is at version %d, this build knows %d; upgrade trialogd", ErrSchemaTooNew, component, current, len(ms))
	}
	for _, m := range ms[current:] {
		for _, stmt := range splitSQL(m.sql) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, upsertSchemaVersion, component, m.version); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.name, err)
		}
	}
	return nil
}

// splitSQL splits a schema file into statements. The files hold DDL only:
// statements end with ";" at the end of a line and no string contains one.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") || strings.HasPrefix(t, "#") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
