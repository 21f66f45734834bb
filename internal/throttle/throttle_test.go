package throttle

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	th := New(time.Hour)
	a := errors.New("MySQL is away")
	for range 5 {
		th.Warn(log, "append failed", a)
	}
	if n := strings.Count(buf.String(), "append failed"); n != 1 {
		t.Fatalf("the same error five times: %d lines, want 1:\n%s", n, buf.String())
	}
	th.Warn(log, "append failed", errors.New("Trillian is away"))
	if !strings.Contains(buf.String(), "repeated=4") {
		t.Fatalf("a new error must count the ones left out:\n%s", buf.String())
	}
	th.Reset()
	th.Warn(log, "append failed", a)
	if n := strings.Count(buf.String(), "append failed"); n != 3 {
		t.Fatalf("after Reset the error is logged again: %d lines, want 3", n)
	}
}
