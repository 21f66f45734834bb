package consentsvc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// memStore keeps subjects in memory, with storage's errors.
type memStore struct {
	mu       sync.Mutex
	subjects map[string]storage.ConsentSubject
	hashes   map[string]string // secret hash → subject
	logged   map[string]bool   // erasures marked logged
	passes   int               // UnloggedErasures calls
	down     error
}

func (m *memStore) CreateConsentSubject(ctx context.Context, subject, trial string, h []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subjects[subject] = storage.ConsentSubject{Subject: subject, TrialID: trial}
	m.hashes[string(h)] = subject
	return nil
}

func (m *memStore) ConsentSubject(ctx context.Context, subject string) (*storage.ConsentSubject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return nil, m.down
	}
	c, ok := m.subjects[subject]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &c, nil
}

func (m *memStore) ConsentSubjectBySecret(ctx context.Context, h []byte) (*storage.ConsentSubject, error) {
	m.mu.Lock()
	s, ok := m.hashes[string(h)]
	m.mu.Unlock()
	if !ok {
		return nil, storage.ErrNotFound
	}
	return m.ConsentSubject(ctx, s)
}

func (m *memStore) EraseConsentSubject(ctx context.Context, subject string, h []byte, at time.Time) (time.Time, error) {
	return time.Time{}, errors.New("not used")
}

func (m *memStore) UnloggedErasures(ctx context.Context) ([]storage.ConsentSubject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.passes++
	var out []storage.ConsentSubject
	for _, c := range m.subjects {
		if c.ErasedAt != nil && !m.logged[c.Subject] {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memStore) MarkErasureLogged(ctx context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logged[subject] = true
	return nil
}

// memLog records what trialogd logs itself; the first fail calls fail.
type memLog struct {
	Log
	mu       sync.Mutex
	payloads []string
	fail     int
	logged   chan struct{}
}

func (l *memLog) SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*engine.Submission, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return nil, engine.ErrQueueFull
	}
	l.payloads = append(l.payloads, string(payload))
	select {
	case l.logged <- struct{}{}:
	default:
	}
	return &engine.Submission{Entry: &api.Entry{}, New: true}, nil
}

// TestRunRelogsErasures: an erased subject whose consent.erasure failed to
// be logged is logged by the next pass, as the same statement, and only
// once: later passes find it marked logged.
func TestRunRelogsErasures(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	st := &memStore{subjects: map[string]storage.ConsentSubject{
		"sub_aa": {Subject: "sub_aa", TrialID: "NCT01234567", ErasedAt: &at},
		"sub_bb": {Subject: "sub_bb", TrialID: "NCT01234567"},
	}, hashes: map[string]string{}, logged: map[string]bool{}}
	lg := &memLog{fail: 1, logged: make(chan struct{}, 1)}
	s := New(Config{Store: st, Log: lg, ErasureInterval: time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	select {
	case <-lg.logged:
	case <-time.After(10 * time.Second):
		t.Fatal("the erasure was not logged again after a failed pass")
	}
	// Later passes find it marked logged and submit nothing more.
	st.mu.Lock()
	after := st.passes
	st.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		st.mu.Lock()
		n := st.passes
		st.mu.Unlock()
		if n >= after+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconciler stopped making passes")
		}
	}
	stop()
	<-done
	want, _ := json.Marshal(consent.ErasureStatement("NCT01234567", "sub_aa", at))
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if len(lg.payloads) != 1 || lg.payloads[0] != string(want) {
		t.Fatalf("logged %q, want %s", lg.payloads, want)
	}
	for _, p := range lg.payloads {
		if strings.Contains(p, "sub_bb") {
			t.Fatal("a subject that was not erased was logged as erased")
		}
	}
}

func TestSubjects(t *testing.T) {
	st := &memStore{subjects: map[string]storage.ConsentSubject{"sub_aa": {Subject: "sub_aa", TrialID: "NCT01234567"}}, hashes: map[string]string{}}
	ctx := context.Background()
	sub, err := Subjects(st).Subject(ctx, "sub_aa")
	if err != nil || sub.Trial != "NCT01234567" || sub.Erased {
		t.Fatalf("Subject = %+v, %v", sub, err)
	}
	if _, err := Subjects(st).Subject(ctx, "sub_zz"); !errors.Is(err, consent.ErrUnknownSubject) {
		t.Fatalf("unknown subject: %v", err)
	}
	st.down = errors.New("dial tcp: connection refused")
	if _, err := Subjects(st).Subject(ctx, "sub_aa"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("database away: %v, want ErrUnavailable", err)
	}
}

func TestSecrets(t *testing.T) {
	// The secret's hash is labelled: not the plain SHA-256 of the secret.
	sec := make([]byte, 32)
	if got := secretHash(sec); len(got) != 32 || string(got) == string(secretHash(append([]byte{1}, sec[1:]...))) {
		t.Fatal("secretHash does not tell secrets apart")
	}
	for _, bad := range []string{"", "not base64", base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.RawStdEncoding.EncodeToString(sec)} {
		if _, err := decodeSecret(bad); !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("decodeSecret(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if b, err := decodeSecret(base64.StdEncoding.EncodeToString(sec)); err != nil || len(b) != 32 {
		t.Fatalf("a good secret: %v", err)
	}
	if err := CheckAllowed(statement.Caller{Role: statement.RoleSite}); !errors.Is(err, statement.ErrForbidden) {
		t.Fatalf("a site checking consent: %v", err)
	}
	if err := CheckAllowed(statement.Caller{Role: statement.RoleDataUser}); err != nil {
		t.Fatalf("a data user checking consent: %v", err)
	}
}
