package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// Receipt returns the receipt of an included entry as trialogd serves it
// (receipt parses and verifies it). An entry not yet in a
// published checkpoint answers 404 with Retry-After.
func (c *Client) Receipt(ctx context.Context, id string) ([]byte, error) {
	return c.getText(ctx, "/v1/entries/"+url.PathEscape(id)+"/receipt", 8<<20)
}

// getText fetches a text resource of at most limit bytes.
func (c *Client) getText(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp, b)
	}
	return b, nil
}
