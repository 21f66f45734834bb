// Package daemon wires trialogd together: MySQL, Trillian (in-process or
// external), the log engine, principals, the trial and consent services and
// the HTTP server. cmd/trialogd parses flags
// into a Config and calls Run; tests call Serve on their own listener.
package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/buildinfo"
	"github.com/trialog/trialog/personality"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/records"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
)

// Config is trialogd's configuration. Every field has a flag in
// cmd/trialogd; see its --help for meanings and defaults.
type Config struct {
	Listen             string
	MySQLDSN           string
	DataDir            string
	Origin             string
	Trillian           string // HOST:PORT of an external Trillian; empty: in-process
	SigningKeyFile     string
	ServiceKeyFile     string
	CheckpointInterval time.Duration
	SequencerInterval  time.Duration
	SequencerBatch     int
	MaxBatch           int
	QueueSize          int
	NodeCacheLeaves    int // see engine.Config; zero: sized from MemoryLimit; negative: off
	// MemoryLimit is the soft memory limit the node cache is sized from when
	// NodeCacheLeaves is zero (0: none known).
	MemoryLimit     int64
	RateLimit       float64
	RateBurst       int
	ShutdownTimeout time.Duration
	// AdminListen, if set, is the address of a second listener that alone
	// serves /v1/admin/* and /metrics (404 on Listen).
	AdminListen string
	// TLSCert and TLSKey, if set, are PEM files: both listeners then speak
	// HTTPS only, and the files are read again on Reload (SIGHUP).
	TLSCert, TLSKey string
	// MaxConnections caps the open connections of each listener; further
	// ones wait to be accepted. Zero: no cap.
	MaxConnections int
	// AuthFailureRate and AuthFailureBurst bound failed authentications per
	// client address (see personality.Config).
	AuthFailureRate  float64
	AuthFailureBurst int
}

// Run starts trialogd on cfg.Listen (and cfg.AdminListen) and serves until
// ctx ends, then shuts down within cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return err
		}
	}
	return ServeListeners(ctx, cfg, logger, ln, adminLn)
}

// Serve is Run on an existing listener, without an admin listener.
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, ln net.Listener) error {
	return ServeListeners(ctx, cfg, logger, ln, nil)
}

// ServeListeners is Run on existing listeners; with adminLn nil, ln serves
// everything.
func ServeListeners(ctx context.Context, cfg Config, logger *slog.Logger, ln, adminLn net.Listener) error {
	var certs *certReloader
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return errors.New("TLS needs both a certificate and a key file")
		}
		var err error
		if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}
	if cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, cfg.MaxConnections)
		if adminLn != nil {
			adminLn = netutil.LimitListener(adminLn, cfg.MaxConnections)
		}
	}
	db, err := openWithRetry(ctx, cfg.MySQLDSN, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	embedded := cfg.Trillian == ""
	if err := storage.Migrate(ctx, db, embedded); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}

	var conn *grpc.ClientConn
	var emb *engine.Embedded
	if embedded {
		emb, err = engine.StartEmbedded(ctx, db, engine.EmbeddedOptions{
			BatchSize: cfg.SequencerBatch, Interval: cfg.SequencerInterval, Logger: logger,
		})
		if err != nil {
			return err
		}
		defer emb.Close()
		conn = emb.Conn
	} else {
		if conn, err = engine.Dial(cfg.Trillian); err != nil {
			return fmt.Errorf("connecting to Trillian at %s: %w", cfg.Trillian, err)
		}
		defer conn.Close()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	statements := statement.NewRegistry()
	records.Register(statements)
	trials.Register(statements)
	principals.Register(statements)
	store := storage.New(db)
	consent.Register(statements, consentsvc.Subjects(store))

	nodeLeaves := cfg.NodeCacheLeaves
	if nodeLeaves == 0 {
		nodeLeaves = engine.NodeCacheLeavesFor(cfg.MemoryLimit)
	}
	keys := &keyResolver{}
	lg, err := engine.New(ctx, engine.Config{
		Origin:             cfg.Origin,
		DataDir:            cfg.DataDir,
		SigningKeyFile:     cfg.SigningKeyFile,
		ServiceKeyFile:     cfg.ServiceKeyFile,
		Store:              store,
		Trillian:           conn,
		Embedded:           emb,
		Registry:           statements,
		Keys:               keys,
		Logger:             logger,
		Metrics:            reg,
		CheckpointInterval: cfg.CheckpointInterval,
		MaxBatch:           cfg.MaxBatch,
		QueueSize:          cfg.QueueSize,
		NodeCacheLeaves:    nodeLeaves,
	})
	if err != nil {
		return err
	}
	// Only once the keys are known to be this log's: a refused start
	// creates no admin token.
	dir, err := principals.New(ctx, principals.Config{
		Store: store, Log: lg, AdminTokenFile: filepath.Join(cfg.DataDir, "admin.token"), Logger: logger,
	})
	if err != nil {
		return err
	}
	keys.Directory = dir
	trialSvc := trialsvc.New(trialsvc.Config{Log: lg, Principals: dir})
	consentSvc := consentsvc.New(consentsvc.Config{Store: store, Log: lg, Trials: trialSvc, Logger: logger, Wait: personality.MaxWait})
	api := personality.New(personality.Config{
		Log: lg, Principals: dir, Trials: trialSvc, Consent: consentSvc,
		Logger: logger, Metrics: reg, Gatherer: reg, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		AuthFailureRate: cfg.AuthFailureRate, AuthFailureBurst: cfg.AuthFailureBurst,
	})
	newServer := func(h http.Handler) *http.Server {
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      personality.MaxWait + 30*time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		if certs != nil {
			srv.TLSConfig = certs.tlsConfig()
		}
		return srv
	}
	type served struct {
		srv *http.Server
		ln  net.Listener
	}
	servers := []served{{newServer(api.Handler()), ln}}
	if adminLn != nil {
		servers = []served{{newServer(api.PublicHandler()), ln}, {newServer(api.AdminHandler()), adminLn}}
	}

	// The pipeline outlives the HTTP server during shutdown so that
	// in-flight submissions can finish.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	g, gctx := errgroup.WithContext(ctx)
	pipeDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { lg.Run(pipeCtx) })
		wg.Go(func() { consentSvc.Run(pipeCtx) })
		wg.Wait()
		close(pipeDone)
	}()
	adminAddr := ""
	if adminLn != nil {
		adminAddr = adminLn.Addr().String()
	}
	logger.Info("trialogd serving", "addr", ln.Addr().String(), "admin_addr", adminAddr, "tls", certs != nil,
		"origin", lg.Origin(), "tree_id", lg.TreeID(),
		"public_key", lg.PublicKey(), "admin_token_file", dir.AdminTokenPath(), "trillian", trillianMode(cfg))
	for _, s := range servers {
		g.Go(func() error {
			var err error
			if certs != nil {
				err = s.srv.ServeTLS(s.ln, "", "")
			} else {
				err = s.srv.Serve(s.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if certs != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		g.Go(func() error {
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-hup:
					if err := certs.Reload(); err != nil {
						logger.Error("TLS certificate not reloaded; still serving the previous one", "err", err)
					} else {
						logger.Info("TLS certificate reloaded", "cert", cfg.TLSCert)
					}
				}
			}
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.srv.Shutdown(sctx))
		}
		stopPipe()
		<-pipeDone
		return errors.Join(errs...)
	})
	err = g.Wait()
	logger.Info("trialogd stopped")
	return err
}

// keyResolver hands the engine the directory's keys: the engine is made
// first (the directory logs through it), the directory after.
type keyResolver struct{ *principals.Directory }

func trillianMode(cfg Config) string {
	if cfg.Trillian == "" {
		return "embedded"
	}
	return cfg.Trillian
}

// openWithRetry waits up to a minute for MySQL at start-up, so that trialogd
// and its database can be started together.
func openWithRetry(ctx context.Context, dsn string, logger *slog.Logger) (*sql.DB, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		db, err := storage.Open(ctx, dsn)
		if err == nil {
			return db, nil
		}
		if time.Now().After(deadline) || !storage.IsUnavailable(err) {
			return nil, fmt.Errorf("opening MySQL: %w", err)
		}
		logger.Warn("MySQL is not reachable yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
