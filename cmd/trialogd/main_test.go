package main

import (
	"log/slog"
	"os"
	"testing"

	"github.com/trialog/trialog/internal/daemon"
)

func TestMain(m *testing.M) {
	// Trillian's klog lines and the MySQL driver's would otherwise go to
	// stderr, outside t.Log.
	daemon.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
