// Package personality is trialog's Trillian personality: DSSE envelopes and
// leaves, the submission pipeline that orders entries and feeds Trillian,
// signed checkpoints guarded by consistency proofs, proofs, receipts and the
// HTTP API.
package personality

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// Config is everything a Service needs. Zero durations and sizes take the
// defaults documented on each field.
type Config struct {
	// Origin is the log's name: the first line of its checkpoints and the
	// name of its note key, such as "example.org/trialog".
	Origin string
	// DataDir holds log.key, service.key and admin.token.
	DataDir string
	// SigningKeyFile, if set, is the note signer key to use instead of
	// <DataDir>/log.key.
	SigningKeyFile string
	// ServiceKeyFile, if set, is the Ed25519 key (PKCS #8 PEM) for the
	// entries trialogd writes itself, instead of <DataDir>/service.key.
	ServiceKeyFile string

	Store    *storage.Store
	Trillian *grpc.ClientConn
	// Embedded is set when Trillian runs in-process; its sequencer is then
	// run and kicked by the Service.
	Embedded *Embedded
	Registry *statement.Registry
	Logger   *slog.Logger
	Metrics  prometheus.Registerer

	// CheckpointInterval is how often a new checkpoint is considered when
	// nothing signals one sooner. Default 100ms.
	CheckpointInterval time.Duration
	// MaxBatch is the most entries appended in one MySQL transaction.
	// Default 1000.
	MaxBatch int
	// QueueSize is how many submissions may wait for the appender before
	// new ones are refused with 503. Default 8192.
	QueueSize int
	// NodeCacheLeaves is the largest tree whose Merkle nodes are kept in
	// memory (about 100 bytes per leaf with the leaf index) to serve proofs
	// without reading Trillian. Default 4,194,304; negative turns it off.
	NodeCacheLeaves int
	// RateLimit is the requests per second each principal may make (its
	// token bucket's rate); RateBurst the bucket's size (default twice the
	// rate). Zero turns rate limiting off.
	RateLimit float64
	RateBurst int
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Service is the running log.
type Service struct {
	cfg      Config
	store    *storage.Store
	log      *slog.Logger
	reg      *statement.Registry
	tclient  trillian.TrillianLogClient
	treeID   int64
	origin   string
	signer   note.Signer
	verifier note.Verifier
	vkey     string
	svcKey   ed25519.PrivateKey
	admin    string // admin token's path
	metrics  *metrics
	now      func() time.Time

	queue      chan *appendReq
	queued     atomic.Int64 // entries waiting in queue
	appendWarn throttle
	fed        chan []storage.Entry // appended batches, for the feeder's fast path
	kickF      chan struct{}        // wakes the feeder
	kickP      chan struct{}        // wakes the publisher

	cpMu    sync.Mutex
	cp      *Published    // latest published checkpoint
	cpChang chan struct{} // closed and replaced when cp changes

	pubMu sync.Mutex                // serialises PublishOnce
	front *compact.Range            // compact range of the latest checkpoint's tree
	nodes atomic.Pointer[nodeStore] // every node up to the latest checkpoint; nil when off

	principalMu sync.Mutex // serialises CreatePrincipal

	guardErr atomic.Pointer[string] // set while the consistency guard refuses
	auth     *authCache
}

// AdminPrincipalID is the id of the principal holding the admin token.
const AdminPrincipalID = "admin"

// ServicePrincipalID is the principal id recorded for entries trialogd
// writes itself.
const ServicePrincipalID = "trialogd"

// New prepares the log: keys, the Trillian tree and trialog's record of it,
// the admin token and a first checkpoint. On a database already set up it
// checks that the keys and origin are those of the log it holds.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Origin == "" {
		return nil, errors.New("origin is required")
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 100 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeCacheLeaves == 0 {
		cfg.NodeCacheLeaves = 1 << 22
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	s := &Service{
		cfg:        cfg,
		store:      cfg.Store,
		log:        cfg.Logger,
		reg:        cfg.Registry,
		tclient:    trillian.NewTrillianLogClient(cfg.Trillian),
		origin:     cfg.Origin,
		now:        cfg.Now,
		queue:      make(chan *appendReq, cfg.QueueSize),
		appendWarn: throttle{period: 10 * time.Second},
		fed:        make(chan []storage.Entry, 64),
		kickF:      make(chan struct{}, 1),
		kickP:      make(chan struct{}, 1),
		cpChang:    make(chan struct{}),
		auth:       newAuthCache(cfg.Store, 10*time.Second),
	}
	registerServiceKinds(s.reg)
	if cfg.NodeCacheLeaves > 0 {
		s.nodes.Store(newNodeStore())
	}
	if cfg.Embedded != nil {
		s.tclient = cfg.Embedded.Log
	}

	keyFile := cfg.SigningKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "log.key")
	}
	var err error
	s.signer, s.vkey, err = LoadOrCreateNoteKey(keyFile, cfg.Origin)
	if err != nil {
		return nil, err
	}
	if s.signer.Name() != cfg.Origin {
		return nil, fmt.Errorf("the log key in %s is named %q but the origin is %q: they must match", keyFile, s.signer.Name(), cfg.Origin)
	}
	if s.verifier, err = note.NewVerifier(s.vkey); err != nil {
		return nil, err
	}
	svcFile := cfg.ServiceKeyFile
	if svcFile == "" {
		svcFile = filepath.Join(cfg.DataDir, "service.key")
	}
	if s.svcKey, err = LoadOrCreateEd25519Key(svcFile); err != nil {
		return nil, fmt.Errorf("service key %s: %w", svcFile, err)
	}
	lc, err := s.store.LogConfig(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		treeID, err := CreateTree(ctx, cfg.Trillian, "trialog")
		if err != nil {
			return nil, err
		}
		lc = &storage.LogConfig{TreeID: treeID, Origin: cfg.Origin, LogPublicKey: s.vkey, ServicePublicKey: s.svcKey.Public().(ed25519.PublicKey)}
		if err := s.store.InitLogConfig(ctx, *lc); err != nil {
			return nil, fmt.Errorf("recording the new log: %w", err)
		}
		s.log.Info("created a new log", "origin", cfg.Origin, "tree_id", treeID, "public_key", s.vkey)
	case err != nil:
		return nil, fmt.Errorf("reading the log's configuration: %w", err)
	default:
		if lc.Origin != cfg.Origin {
			return nil, fmt.Errorf("this database holds the log %q, not %q", lc.Origin, cfg.Origin)
		}
		if lc.LogPublicKey != s.vkey {
			return nil, fmt.Errorf("the log key in %s is not this log's key (%s)", keyFile, lc.LogPublicKey)
		}
		if !lc.ServicePublicKey.Equal(s.svcKey.Public()) {
			return nil, fmt.Errorf("the service key in %s is not this log's service key", svcFile)
		}
	}
	s.treeID = lc.TreeID
	if err := s.buildState(ctx); err != nil {
		return nil, err
	}
	// Only once the keys are known to be this log's: a refused start
	// creates no admin token.
	s.admin = filepath.Join(cfg.DataDir, "admin.token")
	tok, err := LoadOrCreateToken(s.admin)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if err := s.store.EnsureAdmin(ctx, AdminPrincipalID, TokenHash(tok)); err != nil {
		return nil, fmt.Errorf("registering the admin token: %w", err)
	}

	s.metrics = newMetrics(cfg.Metrics, s)
	if cfg.Embedded != nil {
		cfg.Embedded.onPass = func(_ int, d time.Duration) {
			s.metrics.stageSeconds.WithLabelValues("sequence").Observe(d.Seconds())
		}
	}

	var stored *Published
	if cp, err := s.store.LatestCheckpoint(ctx); err == nil {
		if stored, err = s.parsePublished(cp); err != nil {
			return nil, fmt.Errorf("the latest stored checkpoint does not verify with the log key: %w", err)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	// The last checkpoint this trialogd signed, kept beside its key, anchors
	// the consistency guard: rows removed from MySQL cannot make it forget
	// what it published.
	mine, err := s.readAnchor()
	if err != nil {
		return nil, err
	}
	switch {
	case mine == nil:
		if stored != nil {
			s.setPublished(stored)
		}
	case stored == nil || stored.Size < mine.Size:
		return nil, fmt.Errorf("this trialogd signed a checkpoint of size %d (%s), but the database's checkpoints end before it: the database was rolled back or rows were removed; refusing to start", mine.Size, s.anchorPath())
	case stored.Size == mine.Size && !bytes.Equal(stored.Root, mine.Root):
		return nil, fmt.Errorf("the database's checkpoint of size %d is not the one this trialogd signed (%s); refusing to start", mine.Size, s.anchorPath())
	default:
		// The publisher adopts the database's newer checkpoint only once
		// Trillian proves it consistent with this one.
		s.setPublished(mine)
	}
	return s, nil
}

func (s *Service) anchorPath() string { return filepath.Join(s.cfg.DataDir, "checkpoint") }

// readAnchor reads the last checkpoint this trialogd signed, if any.
func (s *Service) readAnchor() (*Published, error) {
	b, err := os.ReadFile(s.anchorPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cp, _, _, err := log.ParseCheckpoint(b, s.origin, s.verifier)
	if err != nil {
		return nil, fmt.Errorf("%s does not hold a checkpoint of this log: %w", s.anchorPath(), err)
	}
	return &Published{Size: cp.Size, Root: cp.Hash, Note: b}, nil
}

// writeAnchor records a checkpoint just signed and stored. A crash can leave
// the previous one, which is an earlier checkpoint and still a valid anchor.
func (s *Service) writeAnchor(p *Published) error {
	tmp := s.anchorPath() + ".tmp"
	if err := os.WriteFile(tmp, p.Note, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.anchorPath())
}

// Run runs the pipeline until ctx ends: the appender, the feeder, the
// publisher and, with an embedded Trillian, its sequencer. It returns after
// they have all stopped.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(s.appender)
	run(s.feeder)
	run(s.publisher)
	if s.cfg.Embedded != nil {
		run(func(ctx context.Context) { s.cfg.Embedded.RunSequencer(ctx, s.treeID) })
	}
	run(func(ctx context.Context) { s.logErasures(ctx, 5*time.Minute) })
	wg.Wait()
	return nil
}

// TreeID is the Trillian tree behind the log.
func (s *Service) TreeID() int64 { return s.treeID }

// Origin is the log's origin line.
func (s *Service) Origin() string { return s.origin }

// PublicKey is the note verifier key of the log's checkpoints.
func (s *Service) PublicKey() string { return s.vkey }

// ServicePublicKey is the key that signs trialogd's own entries.
func (s *Service) ServicePublicKey() ed25519.PublicKey {
	return s.svcKey.Public().(ed25519.PublicKey)
}

// AdminTokenPath is where the admin token is kept.
func (s *Service) AdminTokenPath() string { return s.admin }

// Ready reports why the service cannot take submissions, or nil.
func (s *Service) Ready(ctx context.Context) error {
	if s.Published() == nil {
		return errors.New("no checkpoint has been signed yet")
	}
	if g := s.guardErr.Load(); g != nil {
		return fmt.Errorf("checkpoint guard: %s", *g)
	}
	if err := s.store.DB().PingContext(ctx); err != nil {
		return errors.New("MySQL is unreachable")
	}
	if _, err := s.latestRoot(ctx); err != nil {
		return errors.New("the Trillian log server is unreachable")
	}
	return nil
}
