package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/trillian"
	tclient "github.com/google/trillian/client"
	"github.com/google/trillian/extension"
	tlog "github.com/google/trillian/log"
	"github.com/google/trillian/quota"
	"github.com/google/trillian/server"
	"github.com/google/trillian/server/admin"
	"github.com/google/trillian/storage/mysql"
	"github.com/google/trillian/types"
	"github.com/google/trillian/util/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trialog/trialog/storage"
)

// baseline measures a plain Trillian personality: a LOG tree in an
// in-process Trillian with trillian_log_signer's default settings (batch
// 1,000, interval 100ms, 10 sequencers), fed by QueueLeaf callers that do
// not wait. The figure is leaves integrated per second.
func baseline(ctx context.Context, o options) (float64, error) {
	dsn, drop, err := freshDatabase(ctx, o.dsn, "trillian")
	if err != nil {
		return 0, err
	}
	defer drop()
	// Schema through trialog's migration (Trillian's schema, unchanged);
	// the connection pool as trillian_log_server opens it: unlimited.
	sdb, err := storage.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	err = storage.Migrate(ctx, sdb, true)
	sdb.Close()
	if err != nil {
		return 0, err
	}
	db, err := mysql.OpenDB(dsn + "?sql_mode=%27STRICT_ALL_TABLES%27")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	registry := extension.Registry{
		AdminStorage: mysql.NewAdminStorage(db),
		LogStorage:   mysql.NewLogStorage(db, nil),
		QuotaManager: quota.Noop(),
	}
	srv := grpc.NewServer()
	trillian.RegisterTrillianLogServer(srv, server.NewTrillianLogRPCServer(registry, clock.System))
	trillian.RegisterTrillianAdminServer(srv, admin.New(registry, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	go srv.Serve(lis)
	defer srv.Stop()
	seqCtx, stopSeq := context.WithCancel(ctx)
	defer stopSeq()
	om := tlog.NewOperationManager(tlog.OperationInfo{
		Registry:    registry,
		BatchSize:   1000,
		NumWorkers:  10,
		RunInterval: 100 * time.Millisecond,
		TimeSource:  clock.System,
	}, tlog.NewSequencerManager(registry, 0))
	go om.OperationLoop(seqCtx)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	tree, err := tclient.CreateAndInitTree(ctx, &trillian.CreateTreeRequest{Tree: &trillian.Tree{
		TreeState: trillian.TreeState_ACTIVE, TreeType: trillian.TreeType_LOG,
		DisplayName: "bench", MaxRootDuration: durationpb.New(time.Hour),
	}}, trillian.NewTrillianAdminClient(conn), trillian.NewTrillianLogClient(conn))
	if err != nil {
		return 0, err
	}
	lc := trillian.NewTrillianLogClient(conn)
	size := func() (uint64, error) {
		resp, err := lc.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: tree.TreeId})
		if err != nil {
			return 0, err
		}
		var r types.LogRootV1
		if err := r.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
			return 0, err
		}
		return r.TreeSize, nil
	}

	// Warm up for a second, then count what is integrated during the window.
	callCtx, stopCalls := context.WithCancel(ctx)
	var queued, failed atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < o.baselineCallers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leaf := make([]byte, 600) // about the size of a trialog leaf
			for callCtx.Err() == nil {
				rand.Read(leaf)
				h := sha256.Sum256(leaf)
				_, err := lc.QueueLeaf(callCtx, &trillian.QueueLeafRequest{LogId: tree.TreeId, Leaf: &trillian.LogLeaf{LeafValue: append([]byte(nil), leaf...), LeafIdentityHash: h[:]}})
				if err != nil {
					if callCtx.Err() != nil {
						return
					}
					// Plain Trillian on MySQL times out lock waits under
					// load; a real client retries, and so does this one.
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					continue
				}
				queued.Add(1)
			}
		}()
	}
	time.Sleep(time.Second)
	q0 := queued.Load()
	start, err := size()
	if err != nil {
		stopCalls()
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(o.duration)
	end, err := size()
	elapsed := time.Since(t0)
	fmt.Printf("   plain Trillian: %.0f leaves/s queued, %d integrated of %d queued by the end\n", float64(queued.Load()-q0)/elapsed.Seconds(), end, queued.Load())
	stopCalls()
	wg.Wait()
	if err != nil {
		return 0, err
	}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   plain Trillian: %d QueueLeaf calls failed and were retried; first error: %v\n", failed.Load(), e)
	}
	return float64(end-start) / elapsed.Seconds(), nil
}
