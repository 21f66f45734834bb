package storage

import (
	"context"
	"strconv"
	"testing"
)

// BuildState replays an older database's entries once, in log order, and
// marks the state built; a second start does nothing.
func TestBuildState(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var es []Entry
	for i := 0; i < 2500; i++ {
		e := entry(strconv.Itoa(i))
		if i%2 == 1 {
			e.Type = "counted"
		}
		es = append(es, e)
	}
	for i := 0; i < len(es); i += 500 {
		if _, err := st.Append(ctx, es[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE trialog_log SET state_built = FALSE`); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	apply := func(ctx context.Context, s State, e Entry) error {
		if e.LeafIndex <= last {
			t.Errorf("entry %d after %d: not in log order", e.LeafIndex, last)
		}
		last = e.LeafIndex
		v, _, err := s.Get(ctx, "count")
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		s.Put("count", []byte(strconv.Itoa(n+1)))
		return nil
	}
	n, err := st.BuildState(ctx, []string{"counted"}, apply)
	if err != nil || n != 1250 {
		t.Fatalf("BuildState = %d, %v; want 1250 entries", n, err)
	}
	if v, _, _ := st.StateValue(ctx, "count"); string(v) != "1250" {
		t.Fatalf("count = %q, want 1250", v)
	}
	if n, err := st.BuildState(ctx, []string{"counted"}, apply); err != nil || n != 0 {
		t.Fatalf("second BuildState = %d, %v; want nothing done", n, err)
	}
}
