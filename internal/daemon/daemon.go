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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/election"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/accesslog"
	"github.com/trialog/trialog/internal/buildinfo"
	"github.com/trialog/trialog/personality"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/records"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
	"github.com/trialog/trialog/web"
	"github.com/trialog/trialog/witness"
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
	// AnchorFile is a copy of the anchor outside the data dir
	// (engine.Config.AnchorFile).
	AnchorFile string
	// Evidence are records of published checkpoints kept outside the
	// database (engine.Config.Evidence), such as witnesses'.
	Evidence []engine.Evidence
	// AccessLog logs one line per HTTP request (internal/accesslog).
	AccessLog bool
	// AdminListen, if set, is the address of a second listener that alone
	// serves /v1/admin/* and /metrics (404 on Listen).
	AdminListen string
	// TLSCert and TLSKey, if set, are PEM files: both listeners then speak
	// HTTPS only, and the files are read again on SIGHUP.
	TLSCert, TLSKey string
	// MaxConnections caps the open connections of each listener; further
	// ones wait to be accepted. Zero: no cap.
	MaxConnections int
	// AuthFailureRate and AuthFailureBurst bound failed authentications per
	// client address (see personality.Config).
	AuthFailureRate  float64
	AuthFailureBurst int
	// WitnessPolicyFile, if set, is a witness policy (Sigsum/Tessera
	// format): checkpoints are published only once its quorum cosigned.
	WitnessPolicyFile string
	WitnessTimeout    time.Duration
	WitnessRefresh    time.Duration
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

// errTermLost ends runLog when this process stops being the leader.
var errTermLost = errors.New("lost the leadership of the log")

// Serve is Run on an existing listener.
//
// In the embedded mode only the elected leader (election package) runs
// Trillian and the pipeline; until elected, Serve answers as a standby
// (standby.go). A leader that loses its leadership (its lock's connection
// ended: MySQL restarted, a network partition, a pause) stops sequencing
// and signing, stands by again and campaigns anew. In the external mode
// every process serves and only the elected one signs checkpoints.
func Serve(ctx context.Context, cfg Config, logger *slog.Logger, ln net.Listener) error {
	return ServeListeners(ctx, cfg, logger, ln, nil)
}

// ServeListeners is Serve on existing listeners; with adminLn nil, ln
// serves everything.
func ServeListeners(ctx context.Context, cfg Config, logger *slog.Logger, ln, adminLn net.Listener) error {
	closeAll := func() {
		ln.Close()
		if adminLn != nil {
			adminLn.Close()
		}
	}
	var certs *certReloader
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			closeAll()
			return errors.New("TLS needs both a certificate and a key file")
		}
		var err error
		if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey); err != nil {
			closeAll()
			return err
		}
	}
	if cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, cfg.MaxConnections)
		if adminLn != nil {
			adminLn = netutil.LimitListener(adminLn, cfg.MaxConnections)
		}
	}
	var policy *witness.Policy
	if cfg.WitnessPolicyFile != "" {
		b, err := os.ReadFile(cfg.WitnessPolicyFile)
		if err != nil {
			closeAll()
			return fmt.Errorf("reading the witness policy: %w", err)
		}
		if policy, err = witness.ParsePolicy(b); err != nil {
			closeAll()
			return fmt.Errorf("%s: %w", cfg.WitnessPolicyFile, err)
		}
	}
	db, err := openWithRetry(ctx, cfg.MySQLDSN, logger)
	if err != nil {
		closeAll()
		return err
	}
	defer db.Close()
	embedded := cfg.Trillian == ""

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	elector := election.New(db, logger, reg)

	// HTTP is served from the start: a standby answers its probes.
	front := newFrontHandler(reg)
	var handler http.Handler = front
	if cfg.AccessLog {
		handler = accesslog.Handler(front, logger)
	}
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
	servers := []served{{newServer(handler), ln}}
	if adminLn != nil {
		// With an admin listener, the admin API and the metrics are
		// served there only, whatever the front serves.
		servers = []served{{newServer(personality.PublicOnly(handler)), ln}, {newServer(personality.AdminOnly(handler)), adminLn}}
	}
	serveErr := make(chan error, len(servers))
	var serving sync.WaitGroup
	for _, s := range servers {
		serving.Go(func() {
			var err error
			if certs != nil {
				err = s.srv.ServeTLS(s.ln, "", "")
			} else {
				err = s.srv.Serve(s.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	go func() { serving.Wait(); close(serveErr) }()
	if certs != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := certs.Reload(); err != nil {
						logger.Error("TLS certificate not reloaded; still serving the previous one", "err", err)
					} else {
						logger.Info("TLS certificate reloaded", "cert", cfg.TLSCert)
					}
				}
			}
		}()
	}
	stopHTTP := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.srv.Shutdown(sctx))
		}
		return errors.Join(errs...)
	}
	l := &logRun{cfg: cfg, policy: policy, logger: logger, db: db, reg: reg, front: front, ln: ln, serveErr: serveErr, stopHTTP: stopHTTP}
	if adminLn != nil {
		l.adminAddr = adminLn.Addr().String()
	}

	if err := storage.Migrate(ctx, db, embedded); err != nil {
		stopHTTP()
		return fmt.Errorf("migrating the database: %w", err)
	}
	if !embedded {
		var cur atomic.Pointer[election.Term]
		go func() {
			for ctx.Err() == nil {
				t, err := elector.Campaign(ctx, nil)
				if err != nil {
					return
				}
				cur.Store(t)
				select {
				case <-t.Lost():
				case <-ctx.Done():
					t.Resign()
				}
			}
		}()
		err := l.run(ctx, func() bool { t := cur.Load(); return t != nil && t.Valid() }, nil)
		logger.Info("trialogd stopped")
		return err
	}
	if err := checkKeys(ctx, cfg, storage.New(db)); err != nil {
		stopHTTP()
		return err
	}
	for {
		term, err := elector.Campaign(ctx, func() {
			front.setStatus("standby")
			logger.Info("standing by: another trialogd on this database is the leader")
		})
		if err != nil {
			stopHTTP()
			logger.Info("trialogd stopped")
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		front.setStatus("starting")
		err = l.run(ctx, term.Valid, term.Lost())
		term.Resign()
		if !errors.Is(err, errTermLost) {
			logger.Info("trialogd stopped")
			return err
		}
		front.setStatus("standby")
		logger.Warn("standing by after losing the leadership; campaigning again")
	}
}

// logRun runs the log (Trillian if embedded, the service, the API) for
// one term of leadership, or for the whole life of an external-mode
// replica.
type logRun struct {
	cfg       Config
	policy    *witness.Policy // nil without --witness-policy
	logger    *slog.Logger
	db        *sql.DB
	reg       *prometheus.Registry
	front     *frontHandler
	ln        net.Listener
	adminAddr string
	serveErr  <-chan error
	stopHTTP  func() error
}

// run serves until ctx ends (graceful shutdown of HTTP, then the pipeline),
// HTTP fails, or lost is closed: then it stops the pipeline at once, goes
// back to answering as a standby and returns errTermLost. mayAct gates
// every sequencer pass and every checkpoint signature.
func (l *logRun) run(ctx context.Context, mayAct func() bool, lost <-chan struct{}) error {
	cfg, logger := l.cfg, l.logger
	fail := func(err error) error {
		l.stopHTTP()
		return err
	}
	var conn *grpc.ClientConn
	var emb *engine.Embedded
	var err error
	if cfg.Trillian == "" {
		emb, err = engine.StartEmbedded(ctx, l.db, engine.EmbeddedOptions{
			BatchSize: cfg.SequencerBatch, Interval: cfg.SequencerInterval, Logger: logger, MaySequence: mayAct,
		})
		if err != nil {
			return fail(err)
		}
		defer emb.Close()
		conn = emb.Conn
	} else {
		if conn, err = engine.Dial(cfg.Trillian); err != nil {
			return fail(fmt.Errorf("connecting to Trillian at %s: %w", cfg.Trillian, err))
		}
		defer conn.Close()
	}

	statements := statement.NewRegistry()
	records.Register(statements)
	trials.Register(statements)
	principals.Register(statements)
	store := storage.New(l.db)
	consent.Register(statements, consentsvc.Subjects(store))

	nodeLeaves := cfg.NodeCacheLeaves
	if nodeLeaves == 0 {
		nodeLeaves = engine.NodeCacheLeavesFor(cfg.MemoryLimit)
	}
	// The log's and the API's metrics are per term: a new term registers
	// them anew.
	termReg := prometheus.NewRegistry()
	keys := &keyResolver{}
	lg, err := engine.New(ctx, engine.Config{
		Origin:             cfg.Origin,
		DataDir:            cfg.DataDir,
		SigningKeyFile:     cfg.SigningKeyFile,
		ServiceKeyFile:     cfg.ServiceKeyFile,
		AnchorFile:         cfg.AnchorFile,
		Evidence:           cfg.Evidence,
		MayPublish:         mayAct,
		Store:              store,
		Trillian:           conn,
		Embedded:           emb,
		Registry:           statements,
		Keys:               keys,
		Logger:             logger,
		Metrics:            termReg,
		CheckpointInterval: cfg.CheckpointInterval,
		MaxBatch:           cfg.MaxBatch,
		QueueSize:          cfg.QueueSize,
		NodeCacheLeaves:    nodeLeaves,
		WitnessPolicy:      l.policy,
		WitnessTimeout:     cfg.WitnessTimeout,
		WitnessRefresh:     cfg.WitnessRefresh,
	})
	if err != nil {
		return fail(err)
	}
	// Only once the keys are known to be this log's: a refused start
	// creates no admin token.
	dir, err := principals.New(ctx, principals.Config{
		Store: store, Log: lg, AdminTokenFile: filepath.Join(cfg.DataDir, "admin.token"), Logger: logger,
	})
	if err != nil {
		return fail(err)
	}
	keys.Directory = dir
	trialSvc := trialsvc.New(trialsvc.Config{Log: lg, Principals: dir})
	consentSvc := consentsvc.New(consentsvc.Config{Store: store, Log: lg, Trials: trialSvc, Logger: logger, Wait: personality.MaxWait})
	api := personality.New(personality.Config{
		Log: lg, Principals: dir, Trials: trialSvc, Consent: consentSvc,
		Logger: logger, Metrics: termReg, Gatherer: prometheus.Gatherers{l.reg, termReg}, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		AuthFailureRate: cfg.AuthFailureRate, AuthFailureBurst: cfg.AuthFailureBurst,
	})

	// The pipeline outlives the HTTP server during shutdown so that
	// in-flight submissions can finish.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	pipeDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Go(func() { lg.Run(pipeCtx) })
		wg.Go(func() { consentSvc.Run(pipeCtx) })
		wg.Wait()
		close(pipeDone)
	}()
	// The pages (/patient, /trials/{id}, /log) beside the API.
	l.front.serve(web.Mount(api.Handler(), web.Options{Logger: logger}))
	logger.Info("trialogd serving", "addr", l.ln.Addr().String(), "admin_addr", l.adminAddr, "tls", cfg.TLSCert != "",
		"origin", lg.Origin(), "tree_id", lg.TreeID(),
		"public_key", lg.PublicKey(), "admin_token_file", dir.AdminTokenPath(), "trillian", trillianMode(cfg),
		"witness_quorum", quorumName(l.policy))

	select {
	case err = <-l.serveErr:
	case <-ctx.Done():
		logger.Info("shutting down")
		err = l.stopHTTP()
	case <-lost:
		// Sequencer passes and signatures already stop (mayAct is false);
		// new requests get the standby's 503 while the pipeline stops.
		l.front.serve(nil)
		stopPipe()
		<-pipeDone
		return errTermLost
	}
	stopPipe()
	<-pipeDone
	if err == nil {
		l.stopHTTP()
	}
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

func quorumName(p *witness.Policy) string {
	if p == nil {
		return "none (no witness policy)"
	}
	return p.Quorum()
}
