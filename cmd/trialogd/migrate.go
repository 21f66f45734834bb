package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/trialog/trialog/storage"
)

// runMigrate is `trialogd migrate`: it brings a database's schema up to date
// and exits, for deployments that prepare the database before any trialogd
// serves (a Kubernetes Job, a compose one-shot service). With
// --trillian-schema it also creates the tables of Trillian's MySQL storage,
// which an external Trillian cluster needs and never creates itself. It is
// safe to run again and from several places at once: migrations take a
// MySQL named lock and skip what is applied.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("trialogd migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("mysql-dsn", "root@tcp(127.0.0.1:3306)/trialog", "MySQL DSN (go-sql-driver/mysql); the database is created if missing (env TRIALOG_MYSQL_DSN)")
	trillian := fs.Bool("trillian-schema", false, "also create Trillian's tables (for an external Trillian cluster on this database)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up if the database does not answer within this time")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: trialogd migrate [--trillian-schema] [--mysql-dsn DSN]\n\nCreate or update the database schema, then exit.\n\n")
		fs.PrintDefaults()
	}
	if v, ok := os.LookupEnv("TRIALOG_MYSQL_DSN"); ok {
		*dsn = v
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "trialogd migrate: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// The database may still be starting (a compose or Kubernetes start):
	// try again until the timeout.
	var err error
	for {
		if err = migrate(ctx, *dsn, *trillian); err == nil || ctx.Err() != nil || !storage.IsUnavailable(err) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	if err != nil {
		// The DSN holds a password: never print it.
		fmt.Fprintf(stderr, "trialogd migrate: %v\n", strings.ReplaceAll(err.Error(), *dsn, "<dsn>"))
		return 1
	}
	what := "trialog's schema"
	if *trillian {
		what = "Trillian's and trialog's schemas"
	}
	fmt.Fprintf(stdout, "trialogd migrate: %s are up to date (trialog schema version %d)\n", what, storage.SchemaVersion())
	return 0
}

func migrate(ctx context.Context, dsn string, withTrillian bool) error {
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return storage.Migrate(ctx, db, withTrillian)
}
