package engine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "checkpoint")
	for _, content := range []string{"first\n", "second, longer than the first\n", "3\n"} {
		if err := writeFileAtomic(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("file holds %q (%v), want %q", got, err, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v (%v), want 0644", fi.Mode(), err)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	// A write that cannot complete leaves the old content in place: here
	// the temporary file's name is taken by a directory.
	if err := os.Mkdir(p+".tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("never\n"), 0o644); err == nil {
		t.Fatal("write over a blocked temporary file succeeded")
	}
	if got, _ := os.ReadFile(p); string(got) != "3\n" {
		t.Fatalf("failed write changed the file to %q", got)
	}
	// A directory that does not exist is an error, not a silent loss.
	if err := writeFileAtomic(filepath.Join(dir, "missing", "checkpoint"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
