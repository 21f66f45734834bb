// Package buildinfo says which build of trialog is running: the version
// stamped at link time (-X github.com/trialog/trialog/internal/buildinfo.version=v1.2.3,
// as the Dockerfile does), else the module version and VCS revision Go
// records in every binary.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set by the linker; empty in a plain `go build`.
var version string

// Info describes the running binary.
type Info struct {
	Version   string // release version, or "devel"
	Revision  string // VCS commit, with "-dirty" if the tree was modified; "" if unknown
	GoVersion string
}

// Read returns the running binary's Info.
func Read() Info {
	i := Info{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && i.Revision != "" {
			i.Revision += "-dirty"
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	return i
}

// String is the one line that --version prints, e.g.
// "trialogd v1.2.0 (revision 0123abc, go1.26.8)".
func (i Info) String(program string) string {
	rev := i.Revision
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("%s %s (revision %s, %s)", program, i.Version, rev, i.GoVersion)
}

// Collector is the trialog_build_info gauge: always 1, labelled with the
// version, revision and Go version, so that dashboards can tell which build
// each replica runs.
func Collector() prometheus.Collector {
	i := Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "trialog_build_info",
		Help:        "Always 1; the labels say which build of trialogd is running.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
