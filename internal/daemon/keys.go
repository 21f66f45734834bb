package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/storage"
)

// checkKeys checks, without creating anything, that this process holds the
// keys of the log in the database, if there is one yet. In the embedded mode
// it runs before the election, so that a standby with missing or wrong keys
// fails at its start rather than when it should take over.
func checkKeys(ctx context.Context, cfg Config, store *storage.Store) error {
	lc, err := store.LogConfig(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // a new log: the leader creates the keys
	}
	if err != nil {
		return fmt.Errorf("reading the log's configuration: %w", err)
	}
	keyFile := cfg.SigningKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "log.key")
	}
	b, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the log key in %s is not this log's key (%s): the file does not exist", keyFile, lc.LogPublicKey)
	}
	if err != nil {
		return fmt.Errorf("reading the log key: %w", err)
	}
	signer, vkey, err := engine.ParseNoteKey(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	if signer.Name() != cfg.Origin {
		return fmt.Errorf("the log key in %s is named %q but the origin is %q: they must match", keyFile, signer.Name(), cfg.Origin)
	}
	if lc.Origin != cfg.Origin {
		return fmt.Errorf("this database holds the log %q, not %q", lc.Origin, cfg.Origin)
	}
	if vkey != lc.LogPublicKey {
		return fmt.Errorf("the log key in %s is not this log's key (%s)", keyFile, lc.LogPublicKey)
	}
	svcFile := cfg.ServiceKeyFile
	if svcFile == "" {
		svcFile = filepath.Join(cfg.DataDir, "service.key")
	}
	b, err = os.ReadFile(svcFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the service key in %s is not this log's service key: the file does not exist", svcFile)
	}
	if err != nil {
		return fmt.Errorf("service key %s: %w", svcFile, err)
	}
	priv, err := engine.ParseEd25519Key(b)
	if err != nil {
		return fmt.Errorf("service key %s: %w", svcFile, err)
	}
	if !lc.ServicePublicKey.Equal(priv.Public()) {
		return fmt.Errorf("the service key in %s is not this log's service key", svcFile)
	}
	return nil
}
