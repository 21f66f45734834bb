package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/web/consentreceipt"
	"github.com/trialog/trialog/web/verify"
)

// receiptFlagSet are consent enroll's flags for the patient's printable
// receipt.
type receiptFlagSet struct {
	path, site, pageURL, logKey *string
}

func receiptFlags(fl *flag.FlagSet, env *environ) receiptFlagSet {
	return receiptFlagSet{
		path:    fl.String("receipt", "", "also write the patient's printable consent receipt to this new HTML file (mode 0600, never overwritten): the QR code of their page, the trial, the site and instructions"),
		site:    fl.String("site", "", "the site's name as patients know it, for the receipt"),
		pageURL: fl.String("page-url", env.getenv("TRIALOG_PAGE_URL"), "the base URL at which patients reach trialog's pages, for the receipt's link (env TRIALOG_PAGE_URL; default: --url)"),
		logKey:  logKeyFlag(fl, env, "pinned in the receipt's link (default: the key the server announces)"),
	}
}

// pendingReceipt is a receipt file created before the subject is minted.
type pendingReceipt struct {
	f       *os.File
	path    string
	r       consentreceipt.Receipt
	written bool
}

// open checks the flags, resolves the log key and creates the file.
func (rf receiptFlagSet) open(ctx context.Context, apiURL string) (*pendingReceipt, error) {
	r := consentreceipt.Receipt{PageURL: *rf.pageURL, Site: *rf.site}
	if r.PageURL == "" {
		r.PageURL = apiURL
	}
	key, err := logKey(*rf.logKey)
	if err != nil {
		return nil, err
	}
	if key == "" {
		info, err := client.New(apiURL, "").Log(ctx)
		if err != nil {
			return nil, fmt.Errorf("asking %s for the log's key, to pin it in the receipt: %w", apiURL, err)
		}
		key = info.PublicKey
	}
	if _, err := client.NewVerifier(key); err != nil {
		return nil, err
	}
	r.LogKey, r.Fingerprint = key, verify.KeyFingerprint(key)
	// A dry run of the link: a bad --page-url is a usage error, found
	// before anything is minted.
	probe := r
	probe.Secret, probe.TrialID = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "NCT00000000"
	if _, err := probe.Link(); err != nil {
		return nil, usageErrorf("--page-url: %v", err)
	}
	f, err := os.OpenFile(*rf.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s exists already; enroll never overwrites a file, which could hold another patient's secret", *rf.path)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the receipt file: %w", err)
	}
	return &pendingReceipt{f: f, path: *rf.path, r: r}, nil
}

func (p *pendingReceipt) write(trial, secret string, now time.Time) error {
	p.r.TrialID, p.r.Secret, p.r.Enrolled = trial, secret, now
	err := consentreceipt.Write(p.f, p.r)
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	p.written = err == nil
	return err
}

// abandon removes the file unless the receipt was written.
func (p *pendingReceipt) abandon() {
	if !p.written {
		p.f.Close()
		os.Remove(p.path)
	}
}
