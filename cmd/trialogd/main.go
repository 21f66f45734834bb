// Command trialogd is the trialog log server: it accepts signed statements,
// appends them to a Trillian log stored in MySQL, signs C2SP checkpoints and
// serves inclusion and consistency proofs over HTTP.
//
// Every flag has an environment twin: --mysql-dsn is TRIALOG_MYSQL_DSN, and
// so on. A flag given on the command line wins over its variable.
//
//	trialogd --listen 127.0.0.1:8080 --mysql-dsn 'root@tcp(127.0.0.1:3306)/trialog' \
//	         --data-dir .data --origin example.org/trialog
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/trialog/trialog/internal/buildinfo"
	"github.com/trialog/trialog/internal/daemon"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Read().String("trialogd"))
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := runMigrate(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	args, repair := os.Args[1:], false
	if len(args) > 0 && args[0] == "repair-tree" {
		// trialogd repair-tree [flags]: move the log to a new Trillian tree
		// fed from trialog's own entries, then exit (docs/operations.md).
		args, repair = args[1:], true
	}
	cfg, err := parseFlags(newFlagSet(), args)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "trialogd: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	daemon.RouteLibraryLogs(logger)
	if os.Getenv("GOMEMLIMIT") == "" && cfg.memoryLimitMiB > 0 {
		// The in-memory Merkle tree is most of the live heap; a soft limit
		// makes the collector run before the default doubling of it.
		debug.SetMemoryLimit(int64(cfg.memoryLimitMiB) << 20)
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		// The node cache is sized from the limit in force (the flag's or
		// GOMEMLIMIT) unless --node-cache-leaves says otherwise.
		cfg.MemoryLimit = limit
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if repair {
		res, err := daemon.RepairTree(ctx, cfg.Config, logger)
		if err != nil {
			logger.Error("repair-tree failed; the log is unchanged", "err", err)
			os.Exit(1)
		}
		fmt.Printf("the log now uses Trillian tree %d (was %d): %d entries, root %x, consistent with the checkpoint of size %d\n",
			res.NewTreeID, res.OldTreeID, res.Size, res.Root, res.CheckpointSize)
		return
	}
	if err := daemon.Run(ctx, cfg.Config, logger); err != nil {
		logger.Error("trialogd stopped", "err", err)
		os.Exit(1)
	}
}

// newFlagSet returns trialogd's flag set; errors are returned, not fatal.
func newFlagSet() *flag.FlagSet {
	return flag.NewFlagSet("trialogd", flag.ContinueOnError)
}

// config is trialogd's configuration after flags and environment.
type config struct {
	daemon.Config
	logLevel       slog.Level
	memoryLimitMiB int
}

func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	var level string
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.MySQLDSN, "mysql-dsn", "root@tcp(127.0.0.1:3306)/trialog", "MySQL DSN (go-sql-driver/mysql); the database is created if missing")
	fs.StringVar(&c.DataDir, "data-dir", ".data", "directory for log.key, service.key and admin.token")
	fs.StringVar(&c.Origin, "origin", "localhost/trialog", "the log's origin: checkpoint origin line and note key name")
	fs.StringVar(&c.Trillian, "trillian", "", "HOST:PORT of an external Trillian log server (default: run Trillian in-process)")
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", "", "note signer key file to use instead of <data-dir>/log.key")
	fs.StringVar(&c.ServiceKeyFile, "service-key-file", "", "Ed25519 key (PKCS #8 PEM) for trialogd's own entries instead of <data-dir>/service.key")
	fs.StringVar(&c.AnchorFile, "anchor-file", "", "also keep the latest signed checkpoint in this file, on storage a restore of the database and data directory does not roll back; trialogd refuses to start on a database behind it")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", 100*time.Millisecond, "how often to look for a new tree head to sign when nothing signals one sooner")
	fs.DurationVar(&c.SequencerInterval, "sequencer-interval", 100*time.Millisecond, "in-process sequencer's fallback pass interval")
	fs.IntVar(&c.SequencerBatch, "sequencer-batch", 4096, "in-process sequencer: most leaves integrated per pass")
	fs.IntVar(&c.MaxBatch, "max-batch", 1000, "most entries appended to MySQL in one transaction")
	fs.IntVar(&c.NodeCacheLeaves, "node-cache-leaves", 0, "largest tree whose Merkle nodes are kept in memory to serve proofs (about 80 bytes per leaf); 0: three quarters of the memory limit's worth (2,202,009 leaves at the default 224 MiB, at most 4,194,304); -1: never, proofs come from Trillian")
	fs.Float64Var(&c.RateLimit, "rate-limit", 0, "requests per second each principal may make, answered 429 beyond it (0: no limit)")
	fs.IntVar(&c.RateBurst, "rate-burst", 0, "requests a principal may make at once before --rate-limit applies (default: twice the rate)")
	fs.StringVar(&c.AdminListen, "admin-listen", "", "address of a second listener that alone serves /v1/admin/* and /metrics (default: none, --listen serves them)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS on every listener; read again on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file for --tls-cert; read again on SIGHUP")
	fs.IntVar(&c.MaxConnections, "max-connections", 1024, "most open connections per listener; more wait to be accepted (0: no cap)")
	fs.Float64Var(&c.AuthFailureRate, "auth-failure-rate", 1, "failed authentications per second a client address may make after its burst, answered 429 beyond it (0: no limit)")
	fs.IntVar(&c.AuthFailureBurst, "auth-failure-burst", 20, "failed authentications a client address may make at once before --auth-failure-rate applies")
	fs.IntVar(&c.QueueSize, "queue-size", 8192, "submissions that may wait for MySQL before new ones get 503")
	fs.StringVar(&c.WitnessPolicyFile, "witness-policy", "", "witness policy file (Sigsum/Tessera format): publish only checkpoints its quorum cosigned (default: no witnesses)")
	fs.DurationVar(&c.WitnessTimeout, "witness-timeout", 5*time.Second, "how long each witness may take to cosign a checkpoint")
	fs.DurationVar(&c.WitnessRefresh, "witness-refresh", time.Minute, "while the log is idle, how often the latest checkpoint is cosigned again to stay fresh")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to let requests finish on SIGTERM")
	fs.BoolVar(&c.AccessLog, "access-log", false, "log one line per HTTP request (method, route template, status, duration, principal, bytes; never tokens, paths' values or bodies)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&c.memoryLimitMiB, "memory-limit-mib", 224, "soft memory limit for the Go runtime in MiB (0: none); GOMEMLIMIT, if set, wins")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: trialogd [flags]\n       trialogd migrate [--trillian-schema]   (create or update the schema, then exit)\n       trialogd repair-tree [flags]   (every trialogd of the log stopped)\n       trialogd --version\n\nEvery flag also reads TRIALOG_<NAME> (e.g. TRIALOG_MYSQL_DSN).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "TRIALOG_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %v", env, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("--log-level: %v", err)
	}
	if c.Origin == "" || strings.ContainsAny(c.Origin, " +\n") {
		return c, fmt.Errorf("--origin must be non-empty without spaces or '+', such as example.org/trialog")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.MaxConnections < 0 || c.AuthFailureBurst < 1 {
		return c, fmt.Errorf("--max-connections must not be negative and --auth-failure-burst must be positive")
	}
	if c.MaxBatch < 1 || c.QueueSize < 1 || c.SequencerBatch < 1 {
		return c, fmt.Errorf("--max-batch, --queue-size and --sequencer-batch must be positive")
	}
	return c, nil
}
