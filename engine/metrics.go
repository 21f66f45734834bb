package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	submissions   *prometheus.CounterVec
	appendSeconds prometheus.Histogram
	batchSize     prometheus.Histogram
	treeSize      prometheus.Gauge
	stageSeconds  *prometheus.HistogramVec
	guardFailures prometheus.Counter
	guardFailing  prometheus.Gauge
}

func newMetrics(r prometheus.Registerer, published func() *Published) *metrics {
	m := &metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trialog_submissions_total",
			Help: "Envelopes submitted, by result: new, duplicate, rejected, unavailable.",
		}, []string{"result"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trialog_append_seconds",
			Help:    "Time to commit one batch of entries to MySQL.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trialog_append_batch_entries",
			Help:    "Entries per MySQL append transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trialog_stage_seconds",
			Help:    "Time of each pipeline stage's unit of work: feed (AddSequencedLeaves of a batch), sequence (one in-process sequencer pass), publish (one checkpoint), witness (the quorum's cosignatures on one checkpoint).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"stage"}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trialog_tree_size",
			Help: "Size of the latest published checkpoint.",
		}),
		guardFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trialog_checkpoint_guard_failures_total",
			Help: "Times a new root was refused because it was not consistent with the last signed checkpoint.",
		}),
		guardFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trialog_checkpoint_guard_failing",
			Help: "1 while the consistency guard refuses to sign, else 0.",
		}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trialog_checkpoint_age_seconds",
		Help: "Seconds since the latest published checkpoint was signed.",
	}, func() float64 {
		if cp := published(); cp != nil {
			return time.Since(cp.CreatedAt).Seconds()
		}
		return -1
	})
	r.MustRegister(m.submissions, m.appendSeconds, m.stageSeconds, m.batchSize, m.treeSize, m.guardFailures, m.guardFailing, age)
	return m
}

// observe records the time of one unit of work of a pipeline stage.
func (m *metrics) observe(stage string, start time.Time) {
	m.stageSeconds.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}
