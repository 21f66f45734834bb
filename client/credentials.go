package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/trialog/trialog/api"
)

// RotateToken gives a principal a new token and kills every earlier one
// (admin token). The new token is shown only in this answer.
func (c *Client) RotateToken(ctx context.Context, principal string) (string, error) {
	var out api.RotatedToken
	err := c.do(ctx, http.MethodPost, "/v1/admin/principals/"+url.PathEscape(principal)+"/token", struct{}{}, &out)
	return out.Token, err
}

// AddKey registers one more Ed25519 key (base64 of the raw key) to a
// principal (admin token); the registration is logged as principal.key.
func (c *Client) AddKey(ctx context.Context, principal, publicKey string, wait time.Duration) (*api.AddedKey, error) {
	var out api.AddedKey
	return &out, c.do(ctx, http.MethodPost, "/v1/admin/principals/"+url.PathEscape(principal)+"/keys"+waitQuery(wait), api.NewKey{PublicKey: publicKey}, &out)
}

// RevokeKey revokes a principal's key (admin token); the revocation is
// logged as principal.key-revocation.
func (c *Client) RevokeKey(ctx context.Context, principal, keyID string, wait time.Duration) (*api.Entry, error) {
	var out api.RevokedKey
	err := c.do(ctx, http.MethodDelete, "/v1/admin/principals/"+url.PathEscape(principal)+"/keys/"+url.PathEscape(keyID)+waitQuery(wait), nil, &out)
	return out.Entry, err
}

// Deactivate kills a principal's tokens and revokes every key it holds
// (admin token), one logged revocation per key.
func (c *Client) Deactivate(ctx context.Context, principal string, wait time.Duration) ([]*api.Entry, error) {
	var out api.Deactivated
	err := c.do(ctx, http.MethodDelete, "/v1/admin/principals/"+url.PathEscape(principal)+waitQuery(wait), nil, &out)
	return out.Entries, err
}

// Undelegate withdraws a delegation of a trial (the trial owner's token);
// the revocation is logged as trial.delegation-revocation.
func (c *Client) Undelegate(ctx context.Context, trialID, principal string, wait time.Duration) (*api.Entry, error) {
	var out api.RevokedKey
	err := c.do(ctx, http.MethodDelete, "/v1/trials/"+url.PathEscape(trialID)+"/delegates/"+url.PathEscape(principal)+waitQuery(wait), nil, &out)
	return out.Entry, err
}
