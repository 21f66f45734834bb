package personality

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
)

// defaultCredentialWait is how long credential calls wait for their entries'
// inclusion when the request names no wait.
const defaultCredentialWait = 10 * time.Second

// adminCall authenticates an admin and reads the principal id and the wait.
func (a *API) adminCall(r *http.Request) (string, time.Duration, error) {
	caller, err := a.caller(r)
	if err != nil {
		return "", 0, err
	}
	if caller.Role != statement.RoleAdmin {
		return "", 0, newError(http.StatusForbidden, "permission_denied", "only an admin may change a principal's credentials")
	}
	wait, err := parseWait(r)
	if err != nil {
		return "", 0, err
	}
	if wait == 0 {
		wait = defaultCredentialWait
	}
	return mux.Vars(r)["id"], wait, nil
}

func (a *API) postToken(r *http.Request) (int, any, error) {
	id, _, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct{}
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	tok, err := a.principals.RotateToken(r.Context(), id)
	return http.StatusCreated, api.RotatedToken{Token: tok}, err
}

func (a *API) postKey(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	var req api.NewKey
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	out, err := a.principals.AddKey(r.Context(), id, req.PublicKey, wait)
	return http.StatusCreated, out, err
}

func (a *API) deleteKey(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	e, err := a.principals.RevokeKey(r.Context(), id, mux.Vars(r)["key_id"], wait)
	return http.StatusOK, api.RevokedKey{Entry: e}, err
}

func (a *API) deletePrincipal(r *http.Request) (int, any, error) {
	id, wait, err := a.adminCall(r)
	if err != nil {
		return 0, nil, err
	}
	es, err := a.principals.DeactivatePrincipal(r.Context(), id, wait)
	return http.StatusOK, api.Deactivated{Entries: es}, err
}

// deleteDelegate lets the trial's owner withdraw a delegation: 200 with the
// trial.delegation-revocation entry (or the first one, withdrawn twice).
func (a *API) deleteDelegate(r *http.Request) (int, any, error) {
	trial, wait, err := a.ownedTrial(r)
	if err != nil {
		return 0, nil, err
	}
	d, err := a.trials.Undelegate(r.Context(), trial, mux.Vars(r)["principal"], wait)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.RevokedKey{Entry: d.Entry}, nil
}
