package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/receipt"
)

// runEntry fetches an entry and its receipt and verifies both: the
// checkpoint, the inclusion proof, the entry id, and every statement
// signature with the keys the receipt names.
func runEntry(ctx context.Context, env *environ, args []string) error {
	c := commands()["entry"]
	fs := flagsWith(env, "entry", c.summary, c.example, " ENTRY_ID")
	url := urlFlag(fs, env)
	keyFlag := logKeyFlag(fs, env, "checks the answer (default: the key the server announces)")
	asJSON := fs.Bool("json", false, "print the entry as the server answered it (after verifying it)")
	out := fs.String("receipt", "", "also save the entry's receipt in this file")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErrorf("name one entry id")
	}
	id := rest[0]
	cl := client.New(*url, "")
	v, key, note, err := logVerifier(ctx, cl, *keyFlag)
	if err != nil {
		return err
	}
	e, err := cl.Entry(ctx, id)
	if err != nil {
		return fmt.Errorf("fetching entry %s: %w", id, err)
	}
	if e.ID != id {
		return fmt.Errorf("the server answered entry %s for %s", e.ID, id)
	}
	if e.Status != api.StatusIncluded {
		return fmt.Errorf("entry %s is %s: not yet in a published checkpoint, so it cannot be verified yet; retry in a moment", id, e.Status)
	}
	if _, _, err := v.Entry(e); err != nil {
		return fmt.Errorf("entry %s does not verify: %w", id, err)
	}
	// The receipt adds the signers' keys: with them the statement's
	// signatures are checked too.
	rb, err := cl.Receipt(ctx, id)
	if client.IsStatus(err, http.StatusNotFound) {
		// Published between the two requests, or an older server.
		rb, err = cl.Receipt(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("fetching the receipt of entry %s: %w", id, err)
	}
	rv, err := receipt.NewVerifier(key)
	if err != nil {
		return err
	}
	r, err := receipt.Parse(rb)
	if err != nil {
		return fmt.Errorf("the receipt of entry %s is malformed: %w", id, err)
	}
	vr, err := rv.Verify(r)
	if err != nil {
		return fmt.Errorf("the receipt of entry %s does not verify: %w", id, err)
	}
	if vr.EntryID != id {
		return fmt.Errorf("the receipt served for entry %s proves entry %s", id, vr.EntryID)
	}
	if *out != "" {
		if err := writeFileAtomic(*out, rb, 0o644); err != nil {
			return err
		}
	}
	// A key without a key entry should be trialogd's service key.
	var serviceKey string
	if info, err := cl.Log(ctx); err == nil {
		serviceKey = info.ServiceKey
	}
	w := env.stdout
	if *asJSON {
		b, _ := json.MarshalIndent(e, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return nil
	}
	fmt.Fprintf(w, "entry      %s (verified)\n", e.ID)
	fmt.Fprintf(w, "type       %s\n", orUnknown(vr.StatementType()))
	fmt.Fprintf(w, "leaf       %d, received %s\n", e.LeafIndex, e.ReceivedAt)
	fmt.Fprintf(w, "checkpoint %s, size %d, root %s\n", vr.Origin, vr.TreeSize, b64(vr.RootHash))
	for _, s := range vr.Signers {
		if s.KeyEntry != "" {
			life, err := checkKeyLife(ctx, cl, v, serviceKey, s)
			if err != nil {
				return fmt.Errorf("entry %s: signer key %s: %w", id, s.KeyID(), err)
			}
			fmt.Fprintf(w, "signed by  key %s, registered by entry %s%s\n", s.KeyID(), s.KeyEntry, life)
		} else if b64(s.PublicKey) == serviceKey {
			fmt.Fprintf(w, "signed by  key %s, trialogd's service key (as GET /v1/log announces it)\n", s.KeyID())
		} else {
			fmt.Fprintf(w, "signed by  key %s, with no key entry and not the service key the server announces\n", s.KeyID())
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, e.Statement, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(vr.Payload)
	}
	fmt.Fprintf(w, "statement\n%s\n", pretty.Bytes())
	if *out != "" {
		fmt.Fprintf(w, "receipt saved in %s\n", *out)
	}
	if note != "" {
		fmt.Fprintf(w, "(%s)\n", note)
	}
	return nil
}

func runLog(ctx context.Context, env *environ, args []string) error {
	fs := flags(env, "log")
	url := urlFlag(fs, env)
	keyFlag := logKeyFlag(fs, env, "when given, the log must announce this key")
	keyOnly := fs.Bool("public-key", false, "print only the log's public key, as --log-key takes it")
	if err := parse(fs, args); err != nil {
		return err
	}
	info, err := client.New(*url, "").Log(ctx)
	if err != nil {
		return err
	}
	key, err := logKey(*keyFlag)
	if err != nil {
		return err
	}
	if key != "" && key != info.PublicKey {
		return fmt.Errorf("%s announces the log key %s, not the one given", *url, info.PublicKey)
	}
	v, err := client.NewVerifier(info.PublicKey)
	if err != nil {
		return err
	}
	cp, err := v.Checkpoint([]byte(info.Checkpoint))
	if err != nil {
		return err
	}
	if *keyOnly {
		fmt.Fprintln(env.stdout, info.PublicKey)
		return nil
	}
	fmt.Fprintf(env.stdout, "origin       %s\npublic key   %s\nservice key  %s\ntree size    %d\nroot hash    %s\n", info.Origin, info.PublicKey, info.ServiceKey, cp.Size, b64(cp.Hash))
	return nil
}
