// Package client is a Go client for trialogd's HTTP API that verifies what it
// receives: every checkpoint against the log's note key, every inclusion and
// consistency proof against a checkpoint, every leaf against its entry.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trialog/trialog/api"
)

// Client calls one trialogd.
type Client struct {
	// URL is the base URL, such as http://127.0.0.1:8080.
	URL string
	// Token is the API token; empty for public calls only.
	Token string
	// HTTP is the HTTP client; nil means one with a 60 s timeout.
	HTTP *http.Client
}

// New returns a client for baseURL.
func New(baseURL, token string) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// APIError is an error answer from trialogd.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// Log returns the log's description and latest checkpoint (unverified;
// see Verifier).
func (c *Client) Log(ctx context.Context) (*api.LogInfo, error) {
	var out api.LogInfo
	return &out, c.do(ctx, http.MethodGet, "/v1/log", nil, &out)
}

// Checkpoint returns the latest signed checkpoint note.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.getText(ctx, "/v1/checkpoint", 1<<16)
}

// Submit posts one envelope. With wait > 0 trialogd answers once the entry
// is proven; the returned status is 201 (new), 200 (logged before) or 202
// (not yet proven).
func (c *Client) Submit(ctx context.Context, env any, wait time.Duration) (*api.Entry, int, error) {
	var out api.Entry
	status, err := c.doStatus(ctx, http.MethodPost, "/v1/entries"+waitQuery(wait), env, &out)
	if err != nil {
		return nil, status, err
	}
	return &out, status, nil
}

// SubmitBatch posts up to 1,000 envelopes.
func (c *Client) SubmitBatch(ctx context.Context, envs []json.RawMessage, wait time.Duration) ([]api.BatchResult, error) {
	var out api.BatchResults
	if err := c.do(ctx, http.MethodPost, "/v1/entries:batch"+waitQuery(wait), api.Batch{Envelopes: envs}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(envs) {
		return nil, fmt.Errorf("the batch answer has %d results for %d envelopes", len(out.Results), len(envs))
	}
	return out.Results, nil
}

// CreatePrincipal registers a principal (admin token).
func (c *Client) CreatePrincipal(ctx context.Context, p api.NewPrincipal) (*api.CreatedPrincipal, error) {
	var out api.CreatedPrincipal
	return &out, c.do(ctx, http.MethodPost, "/v1/admin/principals", p, &out)
}

// Entry returns an entry by id.
func (c *Client) Entry(ctx context.Context, id string) (*api.Entry, error) {
	var out api.Entry
	return &out, c.do(ctx, http.MethodGet, "/v1/entries/"+url.PathEscape(id), nil, &out)
}

// Leaf returns the entry at a leaf index.
func (c *Client) Leaf(ctx context.Context, index int64) (*api.Entry, error) {
	var out api.Entry
	return &out, c.do(ctx, http.MethodGet, "/v1/log/leaves/"+strconv.FormatInt(index, 10), nil, &out)
}

// Leaves returns up to count entries from start.
func (c *Client) Leaves(ctx context.Context, start, count int64) ([]*api.Entry, error) {
	var out api.Entries
	return out.Entries, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/leaves?start=%d&count=%d", start, count), nil, &out)
}

// InclusionProof returns the proof for a leaf hash (hex) at treeSize (0: the
// latest checkpoint).
func (c *Client) InclusionProof(ctx context.Context, leafHash string, treeSize int64) (*api.InclusionProof, error) {
	q := "/v1/proofs/inclusion?leaf_hash=" + url.QueryEscape(leafHash)
	if treeSize > 0 {
		q += "&tree_size=" + strconv.FormatInt(treeSize, 10)
	}
	var out api.InclusionProof
	return &out, c.do(ctx, http.MethodGet, q, nil, &out)
}

// ConsistencyProof returns the proof between two tree sizes.
func (c *Client) ConsistencyProof(ctx context.Context, from, to int64) (*api.ConsistencyProof, error) {
	var out api.ConsistencyProof
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", from, to), nil, &out)
}

// VerifyRecord asks which entries notarized a document digest (hex).
func (c *Client) VerifyRecord(ctx context.Context, sha256Hex string) (*api.EntriesProven, error) {
	var out api.EntriesProven
	return &out, c.do(ctx, http.MethodPost, "/v1/records/verify", api.RecordsVerify{SHA256: sha256Hex}, &out)
}

// Do calls any endpoint with a JSON body and decodes the JSON answer.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (int, error) {
	return c.doStatus(ctx, method, path, body, out)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doStatus(ctx, method, path, body, out)
	return err
}

func (c *Client) doStatus(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, apiError(resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func apiError(resp *http.Response, body []byte) error {
	var e api.Error
	ae := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		ae.Code, ae.Message = e.Error.Code, e.Error.Message
	} else {
		ae.Code, ae.Message = "http", strings.TrimSpace(string(body))
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ae.RetryAfter = time.Duration(ra) * time.Second
	}
	return ae
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func waitQuery(wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	return "?wait=" + url.QueryEscape(wait.String())
}

// IsStatus reports whether err is an API error with this HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
