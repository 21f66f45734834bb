package personality

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/storage"
)

// countingStore counts the token lookups that reach MariaDB.
type countingStore struct {
	*storage.Store
	byToken atomic.Int64
}

func (c *countingStore) PrincipalByToken(ctx context.Context, h []byte) (*storage.Principal, error) {
	c.byToken.Add(1)
	return c.Store.PrincipalByToken(ctx, h)
}

// A token guesser repeating one unknown token costs one database lookup,
// not one per request; a new guess costs one more; the admin's real token
// still authenticates.
func TestRepeatedBadTokenCostsNoQuery(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := storage.Migrate(ctx, db, false); err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: storage.New(db)}
	tokFile := filepath.Join(t.TempDir(), "admin.token")
	dir, err := principals.New(ctx, principals.Config{Store: st, AdminTokenFile: tokFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Principals: dir}).Handler())
	defer srv.Close()

	get := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/admin/principals/nobody/token", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const guess = "tlg_0000000000000000000000000000000000000000000"
	for i := range 10 {
		if code := get(guess); code != http.StatusUnauthorized {
			t.Fatalf("request %d with an unknown token: %d, want 401", i+1, code)
		}
	}
	if n := st.byToken.Load(); n != 1 {
		t.Fatalf("10 requests with one unknown token made %d token lookups in MariaDB, want 1", n)
	}
	if code := get(strings.Replace(guess, "0", "1", 1)); code != http.StatusUnauthorized {
		t.Fatalf("another unknown token: %d, want 401", code)
	}
	if n := st.byToken.Load(); n != 2 {
		t.Fatalf("a second unknown token made the lookups %d, want 2", n)
	}
	admin, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Authenticate(ctx, strings.TrimSpace(string(admin))); err != nil {
		t.Fatalf("the admin token does not authenticate: %v", err)
	}
}
