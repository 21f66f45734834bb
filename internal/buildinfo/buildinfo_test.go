package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadAndString(t *testing.T) {
	i := Read()
	if i.Version == "" || i.GoVersion != runtime.Version() {
		t.Fatalf("Read() = %+v", i)
	}
	s := i.String("trialogd")
	if !strings.HasPrefix(s, "trialogd "+i.Version+" (revision ") || !strings.HasSuffix(s, runtime.Version()+")") {
		t.Fatalf("String = %q", s)
	}
}

func TestLinkerVersionWins(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7"
	if got := Read().Version; got != "v9.8.7" {
		t.Fatalf("version %q, want the linker's v9.8.7", got)
	}
}

func TestCollector(t *testing.T) {
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(Collector())
	mfs, err := r.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "trialog_build_info" || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].Metric[0]
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	i := Read()
	if m.GetGauge().GetValue() != 1 || labels["version"] != i.Version || labels["revision"] != i.Revision || labels["goversion"] != i.GoVersion {
		t.Fatalf("trialog_build_info = %v %v, want 1 with %+v", m.GetGauge().GetValue(), labels, i)
	}
}
