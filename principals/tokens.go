package principals

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/trialog/trialog/internal/secretfile"
)

// LoadOrCreateToken reads a bearer token from path, or generates one and
// writes it with mode 0600.
func LoadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tok := NewToken()
		return tok, secretfile.Write(path, []byte(tok+"\n"))
	}
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

// NewToken returns a new random API token.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "tlg_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenHash is how tokens are stored: only their SHA-256.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
