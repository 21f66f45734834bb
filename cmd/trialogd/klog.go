package main

import (
	"context"
	"log/slog"

	"k8s.io/klog/v2"
)

// routeKlog sends the log lines of Trillian's packages (klog) to slog, with
// their informational chatter (one line per sequencer pass) demoted to
// debug.
func routeKlog(logger *slog.Logger) {
	klog.SetSlogLogger(slog.New(demoted{logger.Handler()}))
}

type demoted struct{ slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return d.Handler.Enabled(ctx, demote(l))
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return d.Handler.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.Handler.WithAttrs(as)} }
func (d demoted) WithGroup(n string) slog.Handler       { return demoted{d.Handler.WithGroup(n)} }

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}
