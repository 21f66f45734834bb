package engine

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/secretfile"
)

// LoadOrCreateNoteKey reads a note signer key (golang.org/x/mod/sumdb/note
// format, "PRIVATE+KEY+<name>+<hash>+<base64>") from path, or generates one
// named name and writes it with mode 0600 if the file does not exist.
func LoadOrCreateNoteKey(path, name string) (note.Signer, string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return nil, "", fmt.Errorf("generating the log key: %w", err)
		}
		if err := secretfile.Write(path, []byte(skey+"\n")); err != nil {
			return nil, "", err
		}
		signer, err := note.NewSigner(skey)
		return signer, vkey, err
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the log key: %w", err)
	}
	return ParseNoteKey(string(b))
}

// ParseNoteKey parses a note signer key and returns the signer and its
// verifier key string.
func ParseNoteKey(skey string) (note.Signer, string, error) {
	skey = strings.TrimSpace(skey)
	signer, err := note.NewSigner(skey)
	if err != nil {
		// Never echo the key: it is a secret.
		return nil, "", errors.New("the log key is not a note signer key (PRIVATE+KEY+name+hash+base64)")
	}
	// Derive the verifier key from the private key: the key type byte 0x01
	// is Ed25519, followed by its 32-byte seed.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, "", errors.New("the log key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, "", err
	}
	return signer, vkey, nil
}

// LoadOrCreateEd25519Key reads an Ed25519 private key (PKCS #8, PEM) from
// path, or generates one and writes it with mode 0600.
func LoadOrCreateEd25519Key(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := secretfile.Write(path, envelope.MarshalPrivateKey(priv)); err != nil {
			return nil, err
		}
		return priv, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseEd25519Key(b)
}

// ParseEd25519Key parses a PEM PKCS #8 Ed25519 private key.
func ParseEd25519Key(b []byte) (ed25519.PrivateKey, error) { return envelope.ParsePrivateKey(b) }
