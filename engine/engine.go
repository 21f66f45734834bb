// Package engine is trialog's log engine: it appends entries with a durable
// index in MySQL, feeds them to Trillian in that order, publishes C2SP
// checkpoints under the consistency guard, keeps the Merkle tree's nodes to
// serve proofs, and answers entries, proofs and receipts. It knows statements
// only through the statement registry it is given: no trial, consent or
// record rule lives here, and it imports no domain package. HTTP is not its
// business either (personality serves it).
//
// The engine's contract with the rest of trialogd is the exported methods
// of Log; its contract with storage is the Store interface.
package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/internal/throttle"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/witness"
)

// Store is what the engine needs of trialog's database; *storage.Store is
// the implementation, and its methods document consistency and errors.
// Append is the one write path for entries: it runs each entry's Check
// against the domain state of its keys (locked for the append), assigns
// leaf indices under the log's lock and commits entries, index references
// and state changes in one transaction, so an index once returned is
// durable. Reads return
// storage.ErrNotFound for a missing row and storage.ErrMissing when the
// log's order names entries that are not there.
type Store interface {
	LogConfig(ctx context.Context) (*storage.LogConfig, error)
	InitLogConfig(ctx context.Context, c storage.LogConfig) error

	Append(ctx context.Context, es []storage.Entry) ([]storage.Appended, error)
	NextIndex(ctx context.Context) (int64, error)
	EntryByID(ctx context.Context, id []byte) (*storage.Entry, error)
	EntryByIndex(ctx context.Context, index int64) (*storage.Entry, error)
	EntriesRange(ctx context.Context, start, count int64) ([]storage.Entry, error)
	EntriesByRef(ctx context.Context, ref string) ([]storage.Entry, error)
	LeafHashes(ctx context.Context, from, to int64) ([][]byte, error)

	StoreCheckpoint(ctx context.Context, c storage.Checkpoint) error
	LatestCheckpoint(ctx context.Context) (*storage.Checkpoint, error)
	CheckpointAt(ctx context.Context, size int64) (*storage.Checkpoint, error)
	// StoreCosigned records the cosigned note of the stored checkpoint of
	// that size (with a witness policy); LatestCosigned returns the largest
	// checkpoint that has one, its Note the cosigned note.
	StoreCosigned(ctx context.Context, size int64, note []byte) error
	LatestCosigned(ctx context.Context) (*storage.Checkpoint, error)

	// StateValue reads the domain state under key as last committed;
	// BuildState builds the state of a log that predates it from the
	// entries of these types, once (Append keeps it from then on, in the
	// same transaction as the entries).
	StateValue(ctx context.Context, key string) ([]byte, bool, error)
	BuildState(ctx context.Context, types []string, apply func(ctx context.Context, st storage.State, e storage.Entry) error) (int, error)

	// Keys lists a principal's registered keys (for receipts).
	Keys(ctx context.Context, principalID string) ([]storage.Key, error)
	DB() *sql.DB
}

var _ Store = (*storage.Store)(nil)

// KeyResolver returns the public keys registered to a principal, by key id
// (hex SHA-256 of the key). Submissions' signatures are verified against
// them. principals.Directory implements it.
type KeyResolver interface {
	Keys(ctx context.Context, principalID string) (map[string]ed25519.PublicKey, error)
}

// Config is everything a Log needs. Zero durations and sizes take the
// defaults documented on each field.
type Config struct {
	// Origin is the log's name: the first line of its checkpoints and the
	// name of its note key, such as "example.org/trialog".
	Origin string
	// DataDir holds log.key, service.key and the checkpoint anchor.
	DataDir string
	// SigningKeyFile, if set, is the note signer key to use instead of
	// <DataDir>/log.key.
	SigningKeyFile string
	// ServiceKeyFile, if set, is the Ed25519 key (PKCS #8 PEM) for the
	// entries trialogd writes itself, instead of <DataDir>/service.key.
	ServiceKeyFile string

	Store    Store
	Trillian *grpc.ClientConn
	// MayPublish, when set, is asked right before each checkpoint is
	// signed; while it answers false this process only adopts checkpoints
	// others stored (it is not the elected leader). With a witness policy
	// it then contacts no witness either, and publishes the cosigned
	// checkpoints the leader stored once they meet its own policy.
	MayPublish func() bool
	// AnchorFile, if set, is a second copy of the anchor (the latest
	// checkpoint this process signed) beside <DataDir>/checkpoint, meant for
	// storage that a restore of the database and data directory does not
	// roll back.
	AnchorFile string
	// Evidence are further records of what the log published, kept outside
	// the database (witnesses' cosigned checkpoints, for example); at start
	// the database must not be behind any of them.
	Evidence []Evidence
	// Client, if set, is used for the log's Trillian calls instead of a
	// client on Trillian (tests pass one that misbehaves).
	Client trillian.TrillianLogClient
	// Embedded is set when Trillian runs in-process; its sequencer is then
	// run and kicked by the Log.
	Embedded *Embedded
	// Registry knows the statement kinds the log accepts.
	Registry *statement.Registry
	// Keys resolves callers' keys; required before the first submission
	// by a principal other than trialogd itself.
	Keys    KeyResolver
	Logger  *slog.Logger
	Metrics prometheus.Registerer

	// CheckpointInterval is how often a new checkpoint is considered when
	// nothing signals one sooner. Default 100ms.
	CheckpointInterval time.Duration
	// MaxBatch is the most entries appended in one MySQL transaction.
	// Default 1000.
	MaxBatch int
	// QueueSize is how many submissions may wait for the appender before
	// new ones are refused with ErrQueueFull. Default 8192.
	QueueSize int
	// NodeCacheLeaves is the largest tree whose Merkle nodes are kept in
	// memory (about NodeBytesPerLeaf bytes per leaf with the leaf index) to
	// serve proofs without reading Trillian. Zero takes
	// DefaultNodeCacheLeaves; negative turns it off.
	NodeCacheLeaves int
	// Now returns the current time; default time.Now.
	Now func() time.Time

	// Batches yield to single submissions (bulk.go): while singles are in
	// progress a batch advances BulkChunk entries (default 4) every
	// BulkInterval (default 25ms); otherwise BulkIdleChunk entries
	// (default 256) at a time.
	BulkChunk     int
	BulkIdleChunk int
	BulkInterval  time.Duration

	// WitnessPolicy, if set, names the witnesses whose cosignatures every
	// new checkpoint collects; only checkpoints the policy's quorum
	// cosigned are published (witnessing.go).
	WitnessPolicy *witness.Policy
	// WitnessTimeout bounds each witness's answer. Default 5s.
	WitnessTimeout time.Duration
	// WitnessRefresh is how often the latest checkpoint is witnessed again
	// while the log is idle, so that its cosignatures stay fresh. Default
	// one minute.
	WitnessRefresh time.Duration
}

// Log is the running log engine.
type Log struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	reg      *statement.Registry
	tclient  trillian.TrillianLogClient
	treeID   int64
	origin   string
	signer   note.Signer
	verifier note.Verifier
	vkey     string
	svcKey   ed25519.PrivateKey
	metrics  *metrics
	now      func() time.Time
	bulk     *bulkGate

	// The pipeline appends and feeds Trillian.
	*pipeline

	// The publisher signs checkpoints under the guard; Published,
	// WaitPublished and PublishOnce are its.
	*publisher
}

// ServicePrincipalID is the principal id recorded for entries trialogd
// writes itself.
const ServicePrincipalID = "trialogd"

// New prepares the log: keys, the Trillian tree and trialog's record of it,
// and the last signed checkpoint. On a database already set up it checks
// that the keys and origin are those of the log it holds, and that the
// database was not rolled back behind the checkpoint kept in DataDir.
func New(ctx context.Context, cfg Config) (*Log, error) {
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
	if cfg.BulkChunk <= 0 {
		cfg.BulkChunk = 4
	}
	if cfg.BulkIdleChunk <= 0 {
		cfg.BulkIdleChunk = 256
	}
	if cfg.BulkInterval <= 0 {
		cfg.BulkInterval = 25 * time.Millisecond
	}
	if cfg.WitnessRefresh <= 0 {
		cfg.WitnessRefresh = time.Minute
	}
	if cfg.NodeCacheLeaves == 0 {
		cfg.NodeCacheLeaves = DefaultNodeCacheLeaves
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	s := &Log{
		cfg:    cfg,
		store:  cfg.Store,
		log:    cfg.Logger,
		reg:    cfg.Registry,
		origin: cfg.Origin,
		now:    cfg.Now,
		bulk:   newBulkGate(cfg.BulkChunk, min(cfg.BulkIdleChunk, cfg.MaxBatch), cfg.BulkInterval, time.Now),
	}
	switch {
	case cfg.Client != nil:
		s.tclient = cfg.Client
	case cfg.Embedded != nil:
		s.tclient = cfg.Embedded.Log
	default:
		s.tclient = trillian.NewTrillianLogClient(cfg.Trillian)
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

	s.publisher = &publisher{
		store: s.store, tclient: s.tclient, treeID: s.treeID, origin: s.origin, signer: s.signer, verifier: s.verifier,
		dataDir: cfg.DataDir, interval: cfg.CheckpointInterval, embedded: cfg.Embedded, nodeLimit: cfg.NodeCacheLeaves,
		log: s.log, now: s.now, kick: make(chan struct{}, 1), cpChang: make(chan struct{}),
		anchorFile: cfg.AnchorFile, evidence: cfg.Evidence, mayPublish: cfg.MayPublish,
		signedC: make(chan struct{}), persistC: make(chan struct{}, 1),
		witnessPolicy: cfg.WitnessPolicy, witnessRefresh: cfg.WitnessRefresh,
	}
	if cfg.NodeCacheLeaves > 0 {
		s.nodes.Store(newNodeStore())
	}
	s.metrics = newMetrics(cfg.Metrics, s.Published)
	s.publisher.metrics = s.metrics
	if cfg.WitnessPolicy != nil {
		if s.witness, err = s.newWitnessCollector(cfg); err != nil {
			return nil, err
		}
	}
	s.pipeline = &pipeline{
		store: s.store, tclient: s.tclient, treeID: s.treeID, embedded: cfg.Embedded, maxBatch: cfg.MaxBatch, queueSize: cfg.QueueSize,
		log: s.log, metrics: s.metrics, fedNew: s.publisher.kickPublisher,
		queue: make(chan *appendReq, cfg.QueueSize), appendWarn: throttle.New(10 * time.Second),
		fed: make(chan []storage.Entry, 64), kickF: make(chan struct{}, 1),
	}
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
	mine, where, err := s.readAnchors(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case mine == nil:
		if stored != nil {
			s.setPublished(stored)
		}
	case stored == nil || stored.Size < mine.Size:
		return nil, fmt.Errorf("%w: the log published a checkpoint of size %d (%s), but the database's checkpoints end before it: the database was rolled back or rows were removed; refusing to start (see \"Restore safety\" in docs/operations.md)", ErrRolledBack, mine.Size, where)
	case stored.Size == mine.Size && !bytes.Equal(stored.Root, mine.Root):
		return nil, fmt.Errorf("%w: the database's checkpoint of size %d is not the one the log published (%s); refusing to start (see \"Restore safety\" in docs/operations.md)", ErrRolledBack, mine.Size, where)
	default:
		// The publisher adopts the database's newer checkpoint only once
		// Trillian proves it consistent with this one.
		s.setPublished(mine)
	}
	if s.witness != nil {
		s.publisher.sizeEvidence = append(s.publisher.sizeEvidence, witnessSizes{s.witness})
	}
	// Before anything is signed: the witnesses know the size they last
	// cosigned, which a restore of the database and data directory does
	// not roll back.
	if err := s.checkSizes(ctx, stored); err != nil {
		return nil, err
	}
	if s.witness != nil {
		if err := s.loadCosigned(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run runs the pipeline until ctx ends: the appender, the feeder, the
// publisher, with a witness policy the witness loop, and with an embedded
// Trillian its sequencer. It returns after they have all stopped.
func (s *Log) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(s.appender)
	run(s.feeder)
	run(s.publisher.loop)
	if s.cfg.Embedded != nil {
		run(func(ctx context.Context) { s.cfg.Embedded.RunSequencer(ctx, s.treeID) })
	}
	if s.witness != nil {
		run(s.witnessLoop)
		run(s.persistCosigned)
	}
	wg.Wait()
	return nil
}

// TreeID is the Trillian tree behind the log.
func (s *Log) TreeID() int64 { return s.treeID }

// Origin is the log's origin line.
func (s *Log) Origin() string { return s.origin }

// PublicKey is the note verifier key of the log's checkpoints.
func (s *Log) PublicKey() string { return s.vkey }

// ServicePublicKey is the key that signs trialogd's own entries.
func (s *Log) ServicePublicKey() ed25519.PublicKey {
	return s.svcKey.Public().(ed25519.PublicKey)
}

// Ready reports why the log cannot take submissions, or nil.
func (s *Log) Ready(ctx context.Context) error {
	if s.Published() == nil {
		if s.witness != nil && s.latestSigned() != nil {
			if w := s.witnessErr.Load(); w != nil {
				return errors.New(*w)
			}
			if s.standingBy() {
				// A standby asks no witness (witnessing.go).
				return errors.New("waiting for the leader's cosigned checkpoint")
			}
			return errors.New("no checkpoint has been cosigned by the witness quorum yet")
		}
		return errors.New("no checkpoint has been signed yet")
	}
	if g := s.guardErr.Load(); g != nil {
		return fmt.Errorf("checkpoint guard: %s", *g)
	}
	if w := s.witnessErr.Load(); w != nil {
		return errors.New(*w)
	}
	if err := s.store.DB().PingContext(ctx); err != nil {
		return errors.New("MySQL is unreachable")
	}
	if _, err := latestRoot(ctx, s.tclient, s.treeID); err != nil {
		return errors.New("the Trillian log server is unreachable")
	}
	return nil
}
