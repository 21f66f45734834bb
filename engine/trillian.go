package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/client"
	"github.com/google/trillian/extension"
	tlog "github.com/google/trillian/log"
	"github.com/google/trillian/quota"
	"github.com/google/trillian/server"
	"github.com/google/trillian/server/admin"
	"github.com/google/trillian/storage/mysql"
	"github.com/google/trillian/util/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trialog/trialog/internal/throttle"
)

// maxGRPCMessage bounds gRPC messages between trialogd and Trillian; batches
// of leaves are split well below it.
const maxGRPCMessage = 64 << 20

// EmbeddedOptions configures the in-process Trillian.
type EmbeddedOptions struct {
	// BatchSize is the most leaves one sequencer pass integrates.
	BatchSize int
	// Interval is the sequencer's fallback pass interval; passes also run
	// as soon as Kick is called.
	Interval time.Duration
	Logger   *slog.Logger
	// MaySequence, when set, is asked before each sequencer pass; a pass
	// runs only while it answers true (this process is the leader).
	MaySequence func() bool
}

// Embedded is Trillian's log server, admin server and sequencer running in
// this process on trialog's database, reached over an in-memory gRPC
// connection (no network port) exactly as an external Trillian would be.
type Embedded struct {
	// Conn reaches the embedded servers over in-memory gRPC (tree admin).
	Conn *grpc.ClientConn
	// Log calls the embedded log server directly, without gRPC.
	Log      trillian.TrillianLogClient
	registry extension.Registry
	srv      *grpc.Server
	seq      *tlog.SequencerManager
	info     tlog.OperationInfo
	kick     chan struct{}
	passDone chan struct{} // receives after each pass that integrated leaves
	log      *slog.Logger
	wg       sync.WaitGroup
	onPass   func(leaves int, d time.Duration)
	opts     EmbeddedOptions
}

// StartEmbedded starts Trillian in-process on db (whose schema must include
// Trillian's tables). Run RunSequencer for the log's tree; Close at the end.
func StartEmbedded(ctx context.Context, db *sql.DB, opts EmbeddedOptions) (*Embedded, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4096
	}
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	registry := extension.Registry{
		AdminStorage: mysql.NewAdminStorage(db),
		LogStorage:   mysql.NewLogStorage(db, nil),
		QuotaManager: quota.Noop(), // a nil QuotaManager crashes the sequencer
	}
	// In memory, not on a TCP port: Trillian's gRPC API has no
	// authentication, and any local process able to call AddSequencedLeaves
	// could put a leaf that is not trialog's into the tree.
	lis := bufconn.Listen(4 << 20)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxGRPCMessage), grpc.MaxSendMsgSize(maxGRPCMessage))
	logServer := server.NewTrillianLogRPCServer(registry, clock.System)
	trillian.RegisterTrillianLogServer(srv, logServer)
	trillian.RegisterTrillianAdminServer(srv, admin.New(registry, []trillian.TreeType{trillian.TreeType_PREORDERED_LOG}))
	e := &Embedded{
		Log:      directLogClient{logServer},
		registry: registry,
		srv:      srv,
		seq:      tlog.NewSequencerManager(registry, 0),
		info: tlog.OperationInfo{
			Registry:    registry,
			BatchSize:   opts.BatchSize,
			NumWorkers:  1,
			RunInterval: opts.Interval,
			TimeSource:  clock.System,
		},
		kick:     make(chan struct{}, 1),
		passDone: make(chan struct{}, 1),
		log:      opts.Logger,
		opts:     opts,
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			e.log.Error("embedded Trillian gRPC server stopped", "err", err)
		}
	}()
	var err error
	e.Conn, err = grpc.NewClient("passthrough:///embedded-trillian",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return e, nil
}

// Dial connects to a Trillian log server.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
}

// RunSequencer integrates sequenced leaves of tree treeID until ctx ends:
// a pass runs whenever Kick is called and at least every Interval.
func (e *Embedded) RunSequencer(ctx context.Context, treeID int64) {
	t := time.NewTicker(e.info.RunInterval)
	defer t.Stop()
	warn := throttle.New(10 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-t.C:
		}
		for {
			if e.opts.MaySequence != nil && !e.opts.MaySequence() {
				break
			}
			start := time.Now()
			n, err := e.seq.ExecutePass(ctx, treeID, &e.info)
			if e.onPass != nil && err == nil && n > 0 {
				e.onPass(n, time.Since(start))
			}
			if err != nil {
				if ctx.Err() == nil {
					warn.Warn(e.log, "sequencer pass failed", err, "tree", treeID)
				}
				break
			}
			warn.Reset()
			if n > 0 {
				select {
				case e.passDone <- struct{}{}:
				default:
				}
			}
			if n < e.info.BatchSize {
				break
			}
		}
	}
}

// Kick asks the sequencer for a pass now.
func (e *Embedded) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Integrated receives after sequencer passes that integrated leaves.
func (e *Embedded) Integrated() <-chan struct{} { return e.passDone }

// Close stops the gRPC server and closes the client connection.
func (e *Embedded) Close() {
	e.Conn.Close()
	e.srv.GracefulStop()
	e.wg.Wait()
}

// CreateTree creates and initialises the PREORDERED_LOG tree trialog
// feeds: trialogd assigns leaf indices itself and hands leaves to Trillian
// in batches with AddSequencedLeaves.
func CreateTree(ctx context.Context, conn *grpc.ClientConn, name string) (int64, error) {
	if len(name) > 20 {
		name = name[:20] // Trillian's DisplayName limit
	}
	tree, err := client.CreateAndInitTree(ctx, &trillian.CreateTreeRequest{Tree: &trillian.Tree{
		TreeState:       trillian.TreeState_ACTIVE,
		TreeType:        trillian.TreeType_PREORDERED_LOG,
		DisplayName:     name,
		Description:     "trialog",
		MaxRootDuration: durationpb.New(0),
	}}, trillian.NewTrillianAdminClient(conn), trillian.NewTrillianLogClient(conn))
	if err != nil {
		return 0, fmt.Errorf("creating the Trillian tree: %w", err)
	}
	return tree.TreeId, nil
}
