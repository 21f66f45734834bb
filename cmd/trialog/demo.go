package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
)

func runDemo(ctx context.Context, env *environ, args []string) error {
	fs := flags(env, "demo")
	url := urlFlag(fs, env)
	tokenFile := fs.String("admin-token-file", ".data/admin.token", "file holding the admin token")
	if err := parse(fs, args); err != nil {
		return err
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("reading the admin token: %w (is trialogd running? start it with make run)", err)
	}
	out := env.stdout
	pub := client.New(*url, "")
	info, err := pub.Log(ctx)
	if err != nil {
		return fmt.Errorf("asking %s for the log: %w", *url, err)
	}
	v, err := client.NewVerifier(info.PublicKey)
	if err != nil {
		return err
	}
	before, err := v.Checkpoint([]byte(info.Checkpoint))
	if err != nil {
		return fmt.Errorf("the log's checkpoint does not verify with its key: %w", err)
	}
	fmt.Fprintf(out, "log       %s (size %d)\nkey       %s\n\n", info.Origin, before.Size, info.PublicKey)

	// 1. A demo principal with a fresh Ed25519 key.
	pk, sk, _ := ed25519.GenerateKey(rand.Reader)
	admin := client.New(*url, strings.TrimSpace(string(tok)))
	p, err := admin.CreatePrincipal(ctx, api.NewPrincipal{
		Name: "Demo Hospital " + time.Now().UTC().Format("20060102-150405"), Role: "site",
		PublicKeys: []string{base64.StdEncoding.EncodeToString(pk)},
	})
	if err != nil {
		return fmt.Errorf("registering the demo principal: %w", err)
	}
	fmt.Fprintf(out, "1. registered principal %s (%s), key %s\n   its registration is logged as entry %s\n", p.ID, p.Role, p.KeyIDs[0], p.KeyEntries[0])

	// 2. A sample document, hashed locally: only its digest is sent.
	doc := []byte(fmt.Sprintf("Discharge summary (demo), generated %s\n", time.Now().UTC().Format(time.RFC3339Nano)))
	sum := sha256.Sum256(doc)
	payload, _ := json.Marshal(map[string]any{
		"type":       "record.digest",
		"digest":     map[string]string{"sha256": hex.EncodeToString(sum[:])},
		"media_type": "text/plain",
		"source":     "demo.trialog.example",
		"issued_at":  time.Now().UTC().Format(time.RFC3339),
	})
	envl := envelope.Sign(statement.PayloadType, payload, sk)
	fmt.Fprintf(out, "2. signed a record.digest statement for a sample document (sha256 %x)\n", sum)

	// 3. Submit and wait for the inclusion proof.
	c := client.New(*url, p.Token)
	e, status, err := c.Submit(ctx, envl, 10*time.Second)
	if err != nil {
		return fmt.Errorf("submitting: %w", err)
	}
	fmt.Fprintf(out, "3. submitted: HTTP %d, entry %s at leaf index %d, received %s\n", status, e.ID, e.LeafIndex, e.ReceivedAt)

	// 4. Verify everything offline.
	parsed, cp, err := v.Entry(e)
	if err != nil {
		return fmt.Errorf("the answer does not verify: %w", err)
	}
	if err := parsed.VerifySignatures(map[string]ed25519.PublicKey{envelope.KeyID(pk): pk}); err != nil {
		return fmt.Errorf("the logged statement is not the one signed: %w", err)
	}
	if !strings.Contains(string(parsed.PayloadBytes), hex.EncodeToString(sum[:])) {
		return fmt.Errorf("the logged statement does not hold the document's digest")
	}
	cons, err := pub.ConsistencyProof(ctx, int64(max(before.Size, 1)), int64(cp.Size))
	if before.Size > 0 {
		if err != nil {
			return fmt.Errorf("fetching a consistency proof: %w", err)
		}
		if err := client.VerifyConsistency(cons, before, cp); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "4. verified offline:\n")
	fmt.Fprintf(out, "   - checkpoint signed by %s, size %d, root %s\n", info.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Hash))
	fmt.Fprintf(out, "   - inclusion proof of leaf %d (%d hashes) against that root\n", e.LeafIndex, len(e.InclusionProof.Hashes))
	fmt.Fprintf(out, "   - statement signature by key %s, document digest matches\n", p.KeyIDs[0])
	if before.Size > 0 {
		fmt.Fprintf(out, "   - consistency of the log from size %d to %d\n", before.Size, cp.Size)
	}
	fmt.Fprintf(out, "\ninclusion proof:\n")
	for _, h := range e.InclusionProof.Hashes {
		fmt.Fprintf(out, "  %s\n", h)
	}
	fmt.Fprintf(out, "\ncheckpoint:\n%s", e.Checkpoint)
	return nil
}
