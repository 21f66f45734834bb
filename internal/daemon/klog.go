package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-sql-driver/mysql"

	"k8s.io/klog/v2"
)

// RouteLibraryLogs sends the log lines of Trillian's packages (klog) to slog, with
// their informational chatter (one line per sequencer pass) demoted to
// debug.
// RouteLibraryLogs also sends the MySQL driver's own log lines to logger.
// Both libraries log through process-wide loggers, so only main (and test
// mains) call this.
func RouteLibraryLogs(logger *slog.Logger) {
	klog.SetSlogLogger(slog.New(demoted{logger.Handler()}))
	mysql.SetLogger(mysqlLogger{logger})
}

type mysqlLogger struct{ l *slog.Logger }

func (m mysqlLogger) Print(v ...any) { m.l.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

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
