package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trialog/trialog/internal/throttle"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/witness"
)

// With a witness policy, checkpoints go through two states: signed (by the
// publisher, under the consistency guard) and published (once the policy's
// quorum of witnesses cosigned them). The witness loop below moves the
// latest signed checkpoint to published; everything that serves a
// checkpoint — /v1/checkpoint, /tlog/, ?wait, entries, receipts — reads
// Published(), so nothing the witnesses have not seen is ever served.
//
// With several processes on one log (Config.MayPublish), only the elected
// leader talks to the witnesses. A standby sends them nothing: it publishes
// the cosigned checkpoints the leader records in MySQL, once they meet its
// own policy. Otherwise every replica would submit every checkpoint too,
// multiplying the witnesses' load, racing the leader at them (409s) and
// each publishing only what it got cosigned itself.

func (s *publisher) newWitnessCollector(cfg Config) (*witness.Collector, error) {
	c, err := witness.NewCollector(witness.Options{
		Policy:  cfg.WitnessPolicy,
		Log:     s.verifier,
		Proof:   s.signedConsistency,
		Timeout: cfg.WitnessTimeout,
		Logger:  s.log,
		Metrics: cfg.Metrics,
	})
	if err != nil {
		return nil, err
	}
	cfg.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trialog_checkpoint_cosigned_age_seconds",
		Help: "Seconds since the witness quorum cosigned the published checkpoint (its oldest needed cosignature's timestamp): the log's freshness.",
	}, func() float64 {
		if cp := s.Published(); cp != nil && !cp.CosignedAt.IsZero() {
			return s.now().Sub(cp.CosignedAt).Seconds()
		}
		return -1
	}))
	return c, nil
}

// signedConsistency proves consistency between two signed tree sizes, from
// the node store when it holds them, else from Trillian.
func (s *publisher) signedConsistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	if ns := s.nodeStore(); ns != nil {
		if h, ok := ns.consistency(from, to); ok {
			return h, nil
		}
	}
	resp, err := s.tclient.GetConsistencyProof(ctx, &trillian.GetConsistencyProofRequest{LogId: s.treeID, FirstTreeSize: int64(from), SecondTreeSize: int64(to)})
	if err != nil {
		return nil, trillianErr("GetConsistencyProof", err)
	}
	return resp.GetProof().GetHashes(), nil
}

// witnessLoop has every new signed checkpoint cosigned and publishes it
// once the quorum has; while idle, it has the latest one cosigned again
// every WitnessRefresh so that its cosignatures stay fresh (re-signing the
// same tree gives the same Ed25519 signature; the witnesses' timestamps are
// what is new). When the quorum is not met it retries with backoff, and
// Ready says why.
//
// While the process may not publish (a standby) it contacts no witness:
// each pass follows the leader instead (followCosigned), when a newly
// signed checkpoint is adopted and every checkpoint interval, since the
// leader records the cosigned checkpoint after the signed one. Once elected
// it witnesses the latest signed checkpoint at once.
func (s *publisher) witnessLoop(ctx context.Context) {
	const minBackoff, maxBackoff = 250 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	var witnessedAt time.Time // when the published checkpoint was last cosigned, on our clock
	warn := throttle.New(10 * time.Second)
	for {
		s.cpMu.Lock()
		ch, signed, pub := s.signedC, s.cp, s.cosigned
		s.cpMu.Unlock()
		if s.standingBy() {
			s.followCosigned(ctx, warn)
			witnessedAt, backoff = time.Time{}, minBackoff
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-time.After(s.interval):
			}
			continue
		}
		due := signed != nil && (pub == nil || pub.Size < signed.Size || time.Since(witnessedAt) >= s.witnessRefresh)
		if due {
			err := s.witnessOnce(ctx, signed)
			if err == nil {
				if s.witnessErr.Swap(nil) != nil {
					s.log.Info("the witness quorum cosigns checkpoints again", "tree_size", signed.Size)
				}
				warn.Reset()
				backoff = minBackoff
				witnessedAt = time.Now()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			msg := err.Error()
			s.witnessErr.Store(&msg)
			warn.Warn(s.log, "the witness quorum did not cosign the checkpoint; it is not published", err, "tree_size", signed.Size)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		var refresh <-chan time.Time
		if signed != nil {
			refresh = time.After(s.witnessRefresh - time.Since(witnessedAt))
		}
		select {
		case <-ctx.Done():
			return
		case <-refresh:
		case <-ch:
		}
	}
}

// witnessOnce collects the quorum's cosignatures on signed and publishes
// the cosigned checkpoint.
func (s *publisher) witnessOnce(ctx context.Context, signed *Published) error {
	defer s.metrics.observe("witness", time.Now())
	cs, cosigned, err := s.witness.Cosign(ctx, signed.Note)
	if err != nil {
		return err
	}
	if cs.Size != signed.Size {
		return errors.New("the cosigned checkpoint is not the one submitted")
	}
	p := &Published{Size: signed.Size, Root: signed.Root, Note: cosigned, CreatedAt: signed.CreatedAt, CosignedAt: cs.CosignedAt}
	s.setCosigned(p)
	s.witnessed.Store(p)
	// Kept so that a restart and the standbys serve it at once, off the
	// loop's path: losing it only delays publication after a restart until
	// the quorum cosigns again.
	select {
	case s.persistC <- struct{}{}:
	default:
	}
	return nil
}

// persistCosigned records in MySQL the latest checkpoint this process's
// witnesses cosigned whenever it changes; when several are cosigned
// meanwhile, only the latest. What it loaded or followed from MySQL is not
// written back: a standby leaving would otherwise replace the leader's
// fresher cosignatures on the same tree with older ones.
func (s *publisher) persistCosigned(ctx context.Context) {
	var stored *Published
	store := func(ctx context.Context) {
		p := s.witnessed.Load()
		if p == nil || p == stored {
			return
		}
		if err := s.store.StoreCosigned(ctx, int64(p.Size), p.Note); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("recording the cosigned checkpoint failed", "tree_size", p.Size, "err", err)
			}
			return
		}
		stored = p
	}
	for {
		select {
		case <-ctx.Done():
			// One last time on the way out, so that a restart finds the
			// latest.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			store(sctx)
			cancel()
			return
		case <-s.persistC:
			store(ctx)
		}
	}
}

// loadCosigned publishes, at start, the latest cosigned checkpoint recorded,
// if it still meets the policy's quorum and is no larger than the latest
// signed checkpoint. One that does not meet the policy (it changed) is left
// for the witnesses to replace.
func (s *publisher) loadCosigned(ctx context.Context) error {
	p, err := s.recordedCosigned(ctx)
	var pe *cosignedPolicyError
	if errors.As(err, &pe) {
		s.log.Info("the recorded cosigned checkpoint does not meet the witness policy; waiting for the witnesses", "tree_size", pe.size, "err", pe.err)
		return nil
	}
	if err != nil {
		return err
	}
	if p != nil {
		s.setCosigned(p)
	}
	return nil
}

// followCosigned is a standby's witness pass: it publishes the leader's
// latest cosigned checkpoint from MySQL when it is newer than the one
// published (a larger tree, or the same with fresher cosignatures). Ready
// reports a recorded checkpoint this process cannot publish until a good
// one comes.
func (s *publisher) followCosigned(ctx context.Context, warn *throttle.Throttle) {
	p, err := s.recordedCosigned(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		s.witnessErr.Store(&msg)
		warn.Warn(s.log, "the leader's cosigned checkpoint cannot be published here", err)
		return
	}
	if s.witnessErr.Swap(nil) != nil {
		warn.Reset()
	}
	if p == nil {
		return
	}
	if cur := s.Published(); cur != nil && (p.Size < cur.Size || p.Size == cur.Size && !p.CosignedAt.After(cur.CosignedAt)) {
		return
	}
	s.setCosigned(p)
}

// cosignedPolicyError is a recorded cosigned checkpoint that does not meet
// this process's witness policy.
type cosignedPolicyError struct {
	size int64
	err  error
}

func (e *cosignedPolicyError) Error() string {
	return fmt.Sprintf("the recorded cosigned checkpoint of size %d does not meet this process's witness policy: %v", e.size, e.err)
}

func (e *cosignedPolicyError) Unwrap() error { return e.err }

// recordedCosigned reads the latest cosigned checkpoint recorded in MySQL
// and checks it as if it came from the witnesses: it must meet the policy's
// quorum (a *cosignedPolicyError otherwise) and be the checkpoint of its
// row. It returns nil, nil when none is recorded or when it is larger than
// the latest checkpoint this process signed or adopted: until the publisher
// has checked that tree's consistency, it is not published.
func (s *publisher) recordedCosigned(ctx context.Context) (*Published, error) {
	c, err := s.store.LatestCosigned(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the latest cosigned checkpoint: %w", err)
	}
	if cur := s.Published(); cur != nil && bytes.Equal(cur.Note, c.Note) {
		// Already checked and published (a standby asks every checkpoint
		// interval; the row seldom changes between two asks).
		return cur, nil
	}
	cs, err := s.witnessPolicy.Verify(c.Note, s.verifier)
	if err != nil {
		return nil, &cosignedPolicyError{size: c.TreeSize, err: err}
	}
	if cs.Size != uint64(c.TreeSize) || !bytes.Equal(cs.Hash, c.RootHash) {
		return nil, fmt.Errorf("the recorded cosigned checkpoint of size %d is not the signed checkpoint of its row", c.TreeSize)
	}
	if signed := s.latestSigned(); signed == nil || cs.Size > signed.Size {
		return nil, nil
	}
	return &Published{Size: cs.Size, Root: cs.Hash, Note: c.Note, CreatedAt: c.CreatedAt, CosignedAt: cs.CosignedAt}, nil
}

// standingBy reports whether the process may not publish now: another
// process on the log is the elected leader.
func (s *publisher) standingBy() bool {
	return s.mayPublish != nil && !s.mayPublish()
}

// notifySigned wakes whoever waits for a newly signed checkpoint: the
// witness loop with a witness policy, else those waiting for publication.
// The caller holds cpMu.
func (s *publisher) notifySigned() {
	if s.witness != nil {
		close(s.signedC)
		s.signedC = make(chan struct{})
		return
	}
	close(s.cpChang)
	s.cpChang = make(chan struct{})
}

// setCosigned publishes a cosigned checkpoint: a larger tree, or the same
// tree with fresher cosignatures; never a smaller one.
func (s *publisher) setCosigned(p *Published) {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if s.cosigned != nil && p.Size < s.cosigned.Size {
		return
	}
	s.cosigned = p
	close(s.cpChang)
	s.cpChang = make(chan struct{})
}

// witnessSizes asks the policy's witnesses for the size they last cosigned
// (witness.Collector.Probe), as start-up evidence against a rolled-back
// database.
type witnessSizes struct{ c *witness.Collector }

func (w witnessSizes) KnownSizes(ctx context.Context, signed []byte) ([]KnownSize, error) {
	ks, err := w.c.Probe(ctx, signed)
	if err != nil {
		return nil, err
	}
	out := make([]KnownSize, len(ks))
	for i, k := range ks {
		out[i] = KnownSize{Where: k.Witness, Size: k.Size, Err: k.Err}
	}
	return out, nil
}
