package secretfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "admin.token")
	if err := Write(path, []byte("s3cret\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, %v; want 0700", di.Mode().Perm(), err)
	}
	if err := Write(path, []byte("other\n")); err == nil {
		t.Fatal("an existing secret was overwritten")
	}
	if b, _ := os.ReadFile(path); string(b) != "s3cret\n" {
		t.Fatalf("the secret now reads %q", b)
	}
}
