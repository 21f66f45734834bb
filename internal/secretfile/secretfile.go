// Package secretfile writes trialogd's secrets (the log key, the service
// key, the admin token) the one way they are written: a new file, mode 0600,
// in a directory made 0700 if missing, synced before it is reported written.
package secretfile

import (
	"os"
	"path/filepath"
)

// Write creates path with data; it never overwrites a file (a secret that
// already exists is the one in use).
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
