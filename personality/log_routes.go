package personality

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/statement"
)

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.log.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "not ready: %v", err))
		return
	}
	cp := a.log.Published()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tree_size": cp.Size})
}

func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp := a.log.Published()
	if cp == nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "no checkpoint has been signed yet"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Note)
}

func (a *API) getLog(r *http.Request) (int, any, error) {
	cp := a.log.Published()
	if cp == nil {
		return 0, nil, fmt.Errorf("%w: no checkpoint yet", engine.ErrUnavailable)
	}
	info := api.LogInfo{
		Origin:     a.log.Origin(),
		PublicKey:  a.log.PublicKey(),
		ServiceKey: base64.StdEncoding.EncodeToString(a.log.ServicePublicKey()),
		TreeSize:   cp.Size,
		RootHash:   base64.StdEncoding.EncodeToString(cp.Root),
		Checkpoint: string(cp.Note),
	}
	if !cp.CosignedAt.IsZero() {
		info.CosignedAt = cp.CosignedAt.UTC().Format(time.RFC3339)
	}
	return http.StatusOK, info, nil
}

func (a *API) getLeaves(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	start, err1 := strconv.ParseInt(q.Get("start"), 10, 64)
	count, err2 := strconv.ParseInt(q.Get("count"), 10, 64)
	if err1 != nil || err2 != nil || start < 0 || count < 1 || count > 1000 {
		return 0, nil, errInvalid("need start ≥ 0 and 1 ≤ count ≤ 1000")
	}
	es, err := a.log.Entries(r.Context(), start, count)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entries": es}, nil
}

func (a *API) getLeaf(r *http.Request) (int, any, error) {
	idx, err := strconv.ParseInt(mux.Vars(r)["index"], 10, 64)
	if err != nil || idx < 0 {
		return 0, nil, errInvalid("a leaf index is a non-negative integer")
	}
	e, err := a.log.EntryByIndex(r.Context(), idx)
	return http.StatusOK, e, err
}

func (a *API) getEntry(r *http.Request) (int, any, error) {
	e, err := a.log.EntryByID(r.Context(), mux.Vars(r)["id"])
	return http.StatusOK, e, err
}

func (a *API) getInclusion(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var size int64
	if v := q.Get("tree_size"); v != "" {
		var err error
		if size, err = strconv.ParseInt(v, 10, 64); err != nil || size < 1 {
			return 0, nil, errInvalid("tree_size must be a positive integer")
		}
	}
	p, err := a.log.InclusionProofByHash(r.Context(), q.Get("leaf_hash"), size)
	return http.StatusOK, p, err
}

func (a *API) getConsistency(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, nil, errInvalid("from and to must be integers with 1 ≤ from ≤ to")
	}
	p, err := a.log.ConsistencyProof(r.Context(), from, to)
	return http.StatusOK, p, err
}

func (a *API) postEntry(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(r, MaxEnvelopeBody)
	if err != nil {
		return 0, nil, err
	}
	sub, err := a.log.Submit(r.Context(), caller, body, wait)
	if err != nil {
		return 0, nil, err
	}
	return submitStatus(sub, wait), sub.Entry, nil
}

// submitStatus follows API.md: with wait, once proven, 201 for a new entry
// and 200 for an envelope logged before; without wait, or when the wait ran
// out, 202 with the entry as far as known. Either way a resubmission never
// makes a second entry: the answer carries the first one.
func submitStatus(sub *engine.Submission, wait time.Duration) int {
	switch {
	case wait <= 0 || sub.Entry.Status != api.StatusIncluded:
		return http.StatusAccepted
	case sub.New:
		return http.StatusCreated
	default:
		return http.StatusOK
	}
}

func (a *API) postBatch(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Envelopes []json.RawMessage `json:"envelopes"`
	}
	if err := decodeJSON(r, MaxBatchBody, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Envelopes) == 0 || len(req.Envelopes) > MaxBatch {
		return 0, nil, errInvalid("envelopes must hold 1 to %d envelopes", MaxBatch)
	}
	bodies := make([][]byte, len(req.Envelopes))
	tooBig := make([]bool, len(req.Envelopes))
	for i, e := range req.Envelopes {
		if len(e) > MaxEnvelopeBody {
			tooBig[i] = true
			bodies[i] = nil
			continue
		}
		bodies[i] = e
	}
	subs, errs := a.log.SubmitBatch(r.Context(), caller, bodies, wait)
	for i := range tooBig {
		if tooBig[i] {
			errs[i] = newError(http.StatusRequestEntityTooLarge, "too_large", "envelopes[%d] is over the limit of %d bytes", i, MaxEnvelopeBody)
		}
	}
	if err := allUnavailable(errs); err != nil {
		return 0, nil, err
	}
	out := make([]api.BatchResult, len(bodies))
	for i := range bodies {
		if errs[i] != nil {
			e := a.classify(r, errs[i])
			out[i] = api.BatchResult{Status: e.Status, Error: &api.ErrorBody{Code: e.Code, Message: e.Message}}
			continue
		}
		out[i] = api.BatchResult{Entry: subs[i].Entry, Status: submitStatus(subs[i], wait)}
	}
	return http.StatusOK, map[string]any{"results": out}, nil
}

func (a *API) postPrincipal(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	if caller.Role != statement.RoleAdmin {
		return 0, nil, newError(http.StatusForbidden, "permission_denied", "only an admin may create principals")
	}
	var np api.NewPrincipal
	if err := decodeJSON(r, MaxEnvelopeBody, &np); err != nil {
		return 0, nil, err
	}
	p, err := a.principals.CreatePrincipal(r.Context(), np)
	return http.StatusCreated, p, err
}

func (a *API) postRecordsVerify(r *http.Request) (int, any, error) {
	var req struct {
		SHA256 string `json:"sha256"`
	}
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	es, cp, err := a.log.EntriesByDigest(r.Context(), req.SHA256)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entries": es, "checkpoint": string(cp.Note)}, nil
}

// allUnavailable returns the error when every envelope of a batch failed
// because the log is unavailable: the whole request then answers 503.
func allUnavailable(errs []error) error {
	for _, err := range errs {
		if err == nil || !errors.Is(err, engine.ErrUnavailable) {
			return nil
		}
	}
	return errs[0]
}
