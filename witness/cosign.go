package witness

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// ProofFunc returns the RFC 6962 consistency proof from the tree of size
// from to the tree of size to (0 < from < to).
type ProofFunc func(ctx context.Context, from, to uint64) ([][]byte, error)

// Options configure a Collector.
type Options struct {
	Policy *Policy
	// Log verifies the log's own signature on the checkpoints it is given.
	Log note.Verifier
	// Proof proves consistency between tree sizes of the log.
	Proof ProofFunc
	// HTTPClient sends the requests; default a client with keep-alive.
	HTTPClient *http.Client
	// Timeout bounds each witness's answer, retries after a 409 included.
	// Default 5s.
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Collector submits a log's checkpoints to the witnesses of a policy and
// gathers their cosignatures. It remembers, per witness, the size the
// witness last cosigned. It is safe for concurrent use.
type Collector struct {
	opts    Options
	log     *slog.Logger
	metrics *collectorMetrics

	mu    sync.Mutex
	known map[string]uint64 // witness → size it last cosigned, once learnt
}

// NewCollector returns a Collector. Every witness of the policy must have a
// URL.
func NewCollector(o Options) (*Collector, error) {
	if o.Policy == nil || o.Log == nil || o.Proof == nil {
		return nil, errors.New("witness: Policy, Log and Proof are required")
	}
	if o.Policy.RequiresNone() {
		return nil, fmt.Errorf("%w: the quorum is none, so no cosignature would be required; run without a witness policy instead", ErrPolicy)
	}
	for _, w := range o.Policy.Witnesses {
		if w.URL == "" {
			return nil, fmt.Errorf("%w: witness %s has no URL to submit checkpoints to", ErrPolicy, w.Name)
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	c := &Collector{opts: o, log: o.Logger, known: map[string]uint64{}}
	c.metrics = newCollectorMetrics(o.Metrics)
	return c, nil
}

// Policy is the collector's policy.
func (c *Collector) Policy() *Policy { return c.opts.Policy }

// FailureError says which witnesses did not cosign and why, when the quorum
// was not met.
type FailureError struct {
	Quorum   string
	Failures map[string]error
}

// Unwrap returns each witness's failure, for errors.Is and errors.As.
func (e *FailureError) Unwrap() []error {
	out := make([]error, 0, len(e.Failures))
	for _, err := range e.Failures {
		out = append(out, err)
	}
	return out
}

func (e *FailureError) Error() string {
	names := make([]string, 0, len(e.Failures))
	for n := range e.Failures {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "witness quorum %s not met", e.Quorum)
	for i, n := range names {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", n, e.Failures[n])
	}
	return b.String()
}

// Cosign submits a checkpoint signed by the log to every witness in
// parallel and returns it with the cosignatures gathered once they meet the
// quorum, without waiting for slower witnesses (they finish in the
// background, within the timeout, so that their recorded size stays
// current). It fails with a *FailureError when every witness has answered
// or timed out and the quorum is not met.
func (c *Collector) Cosign(ctx context.Context, signed []byte) (*Cosigned, []byte, error) {
	n, err := note.Open(signed, note.VerifierList(c.opts.Log))
	if err != nil {
		return nil, nil, fmt.Errorf("the checkpoint to witness does not verify with the log's key: %w", err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, nil, err
	}
	toSend := signed

	type result struct {
		name  string
		lines []byte
		err   error
	}
	ws := c.opts.Policy.Witnesses
	results := make(chan result, len(ws))
	for _, w := range ws {
		go func() {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Timeout)
			defer cancel()
			lines, err := c.cosignOne(wctx, w, uint64(cp.N), toSend)
			results <- result{w.Name, lines, err}
		}()
	}
	got := map[string]bool{}
	failures := map[string]error{}
	var lines []byte
	for range ws {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if r.err != nil {
			failures[r.name] = r.err
			continue
		}
		got[r.name] = true
		lines = append(lines, r.lines...)
		if c.opts.Policy.Satisfied(got) {
			out := append(append([]byte(nil), toSend...), lines...)
			cs, err := c.opts.Policy.Verify(out, c.opts.Log)
			if err != nil {
				return nil, nil, err
			}
			return cs, out, nil
		}
	}
	return nil, nil, &FailureError{Quorum: c.opts.Policy.Quorum(), Failures: failures}
}

// cosignOne obtains one witness's cosignature: from the size it last
// cosigned (0 until known), again from the size a 409 reports.
func (c *Collector) cosignOne(ctx context.Context, w *Witness, size uint64, signed []byte) ([]byte, error) {
	start := time.Now()
	lines, err := c.tryCosign(ctx, w, size, signed)
	c.metrics.latency.WithLabelValues(w.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		c.metrics.failures.WithLabelValues(w.Name, reason(err)).Inc()
		return nil, err
	}
	c.metrics.size.WithLabelValues(w.Name).Set(float64(size))
	return lines, nil
}

func (c *Collector) tryCosign(ctx context.Context, w *Witness, size uint64, signed []byte) ([]byte, error) {
	c.mu.Lock()
	old := c.known[w.Name]
	c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > size {
			c.log.Error("witness evidence: the witness cosigned a larger tree of this log than the checkpoint being published; a fork or a rollback of the log",
				"witness", w.Name, "witness_size", old, "checkpoint_size", size, "checkpoint", string(signed))
			return nil, fmt.Errorf("%w (%d > %d)", ErrAhead, old, size)
		}
		var proof [][]byte
		if old > 0 && old < size {
			p, err := c.opts.Proof(ctx, old, size)
			if err != nil {
				return nil, fmt.Errorf("consistency proof from %d to %d: %w", old, size, err)
			}
			proof = p
		}
		lines, err := addCheckpoint(ctx, c.opts.HTTPClient, w.AddCheckpointURL(), old, proof, signed)
		var conflict *ConflictError
		switch {
		case err == nil:
			if err := c.checkCosignature(w, signed, lines); err != nil {
				return nil, err
			}
			c.setKnown(w.Name, size)
			return onlyWitnessLines(w, lines), nil
		case errors.As(err, &conflict) && attempt < 2:
			c.setKnown(w.Name, conflict.Known)
			old = conflict.Known
			continue
		case errors.Is(err, ErrInconsistent), errors.Is(err, ErrSplitView):
			// SPEC: C2SP tlog-witness — a refused consistency proof may be
			// proof of log misbehaviour: keep the evidence.
			c.log.Error("witness evidence: the witness refused this checkpoint as inconsistent with a tree it cosigned before; a fork of the log",
				"witness", w.Name, "old_size", old, "checkpoint", string(signed), "err", err)
			return nil, err
		default:
			return nil, err
		}
	}
}

func (c *Collector) setKnown(name string, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known[name] = size
}

// checkCosignature verifies that the answer holds a valid cosignature of
// the witness on the checkpoint.
// SPEC: C2SP tlog-witness — the client may concatenate the answer to the
// checkpoint and verify it with the witness keys it trusts.
func (c *Collector) checkCosignature(w *Witness, signed, lines []byte) error {
	n, err := note.Open(append(append([]byte(nil), signed...), lines...), note.VerifierList(w.verifier))
	if err != nil {
		return fmt.Errorf("the witness's answer holds no valid cosignature: %w", err)
	}
	if len(n.Sigs) == 0 {
		return errors.New("the witness's answer holds no valid cosignature")
	}
	return nil
}

// onlyWitnessLines keeps the answer's lines made with the witness's key
// (unknown ones are ignored, per the protocol).
func onlyWitnessLines(w *Witness, lines []byte) []byte {
	var out []byte
	for _, l := range strings.SplitAfter(string(lines), "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "— "), " ")
		if !ok || !strings.HasPrefix(l, "— ") || name != w.verifier.Name() {
			continue
		}
		sig, err := decodeSigHash(strings.TrimSuffix(rest, "\n"))
		if err != nil || sig != w.verifier.KeyHash() {
			continue
		}
		out = append(out, l...)
	}
	return out
}

// Known returns the size each witness last cosigned, as far as known.
func (c *Collector) Known() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.known))
	for k, v := range c.known {
		out[k] = v
	}
	return out
}

func decodeSigHash(b64 string) (uint32, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) < 4 {
		return 0, errors.New("malformed signature")
	}
	return binary.BigEndian.Uint32(b), nil
}

func reason(err error) string {
	var conflict *ConflictError
	var status *StatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &conflict):
		return "conflict"
	case errors.Is(err, ErrSplitView), errors.Is(err, ErrInconsistent), errors.Is(err, ErrAhead):
		return "inconsistent"
	case errors.Is(err, ErrUnknownLog):
		return "unknown_log"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrBadRequest):
		return "bad_request"
	case errors.As(err, &status):
		return "status"
	default:
		return "error"
	}
}

type collectorMetrics struct {
	latency  *prometheus.HistogramVec
	failures *prometheus.CounterVec
	size     *prometheus.GaugeVec
}

func newCollectorMetrics(r prometheus.Registerer) *collectorMetrics {
	m := &collectorMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trialog_witness_request_seconds",
			Help:    "Time for a witness to cosign a checkpoint (add-checkpoint, retries after 409 included), by witness.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"witness"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trialog_witness_failures_total",
			Help: "Checkpoints a witness did not cosign, by witness and reason (timeout, conflict, inconsistent, unknown_log, forbidden, bad_request, status, error).",
		}, []string{"witness", "reason"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trialog_witness_cosigned_tree_size",
			Help: "Tree size of the latest checkpoint each witness cosigned.",
		}, []string{"witness"}),
	}
	r.MustRegister(m.latency, m.failures, m.size)
	return m
}
