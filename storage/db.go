// Package storage keeps trialog's state in MySQL or MariaDB: the schema and
// its migrations (Trillian's and trialog's own), and repositories for the
// log's configuration, principals, keys, entries and checkpoints.
//
// The entries table is the log's write-ahead order: an entry is acknowledged
// once its row is committed, and Trillian is fed from these rows. Trillian's
// tables live in the same database when trialogd runs Trillian in-process.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("not found")

// Open connects to the database named in dsn (a go-sql-driver/mysql DSN),
// creating the database first if it does not exist. It sets the session
// settings every connection needs in the DSN itself, so that every pooled
// connection has them: strict SQL mode and UTC times.
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MySQL DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("MySQL DSN names no database (add /trialog after the address)")
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// STRICT_ALL_TABLES as Trillian expects; quoted as the driver sends it.
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES'"
	cfg.Params["time_zone"] = "'+00:00'"
	// utf8mb4 whatever the DSN or the server says: a name such as
	// "Zoë 医院" must be stored as it was sent.
	delete(cfg.Params, "charset")
	delete(cfg.Params, "collation")
	if err := mysql.Charset(Charset, Collation)(cfg); err != nil {
		return nil, err
	}
	cfg.Loc = time.UTC
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	// A database that stops answering (rather than refusing) must fail
	// requests, not hang them.
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if err := createDatabase(ctx, *cfg); err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(64)
	db.SetConnMaxLifetime(10 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to MySQL: %w", err)
	}
	return db, nil
}

func createDatabase(ctx context.Context, cfg mysql.Config) error {
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+escapeIdent(name)+"` CHARACTER SET "+Charset+" COLLATE "+Collation); err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

func escapeIdent(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			out = append(out, '`')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// IsUnavailable reports whether err means the database could not be reached
// (as opposed to a query it rejected).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// Server shutting down, connection-level errors, lock wait/deadlock.
		switch me.Number {
		case 1053, 1205, 1213, 2002, 2003, 2006, 2013:
			return true
		}
		return false
	}
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) || isNetError(err)
}
