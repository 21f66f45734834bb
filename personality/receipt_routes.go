package personality

import (
	"net/http"

	"github.com/gorilla/mux"
)

// ReceiptContentType is the media type of GET /v1/entries/{id}/receipt: a
// text file, as C2SP tlog-proofs are (docs/receipts.md).
const ReceiptContentType = "text/plain; charset=utf-8"

// getReceipt serves an entry's receipt against the latest checkpoint, as
// text (public). Unknown ids are 404; an entry not yet in a published
// checkpoint is 404 too, with Retry-After, since its receipt does not exist
// yet (409 means a fork in this API, 503 an outage).
func (a *API) getReceipt(r *http.Request) (int, any, error) {
	rc, err := a.log.Receipt(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rawBody{ReceiptContentType, rc.Marshal()}, nil
}
