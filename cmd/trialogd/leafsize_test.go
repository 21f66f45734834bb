package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// datasetJSON is a trial.dataset listing n files.
func datasetJSON(trial string, n int) []byte {
	var files []string
	for i := range n {
		files = append(files, fmt.Sprintf(`{"path":"data/site-%04d/export.csv","size":%d,"sha256":"%s"}`, i, 1000+i, testserver.DigestOf(fmt.Sprint(i))))
	}
	return []byte(`{"type":"trial.dataset","trial_id":"` + trial + `","issued_at":"2026-11-23T14:00:00Z","name":"final lock","lock":"interim",` +
		`"manifest":{"sha256":"` + testserver.DigestOf("manifest") + `"},"files":[` + strings.Join(files, ",") + `]}`)
}

// TestLeafSizeLimit: entry bundles prefix each leaf with a 16-bit length,
// so a statement whose leaf would be over 65,535 bytes is refused with a
// message saying how to split it, and nothing is logged.
func TestLeafSizeLimit(t *testing.T) {
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	sponsor := srv.NewPrincipal(t, "Acme Pharma", "sponsor")
	const trial = "NCT01234567"
	mustSubmit(t, sponsor, registrationJSON(trial, "2026-11-01T00:00:00Z"))
	mustSubmit(t, sponsor, datasetJSON(trial, 100)) // about 16 KB: fine
	before := testserver.ReadLog(t, srv.URL)

	_, status, err := sponsor.Client.Submit(context.Background(), sponsor.Sign(datasetJSON(trial, 1000)), wait)
	var apiErr *client.APIError
	if status != http.StatusBadRequest || !errors.As(err, &apiErr) || apiErr.Code != "invalid_argument" ||
		!strings.Contains(apiErr.Message, "65535") || !strings.Contains(apiErr.Message, "digest") {
		t.Fatalf("a statement over the leaf limit: %d, %v", status, err)
	}
	if after := testserver.ReadLog(t, srv.URL); after.Size != before.Size {
		t.Fatalf("the refused statement changed the log: size %d → %d", before.Size, after.Size)
	}
}
