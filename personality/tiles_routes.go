package personality

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"filippo.io/torchwood"

	"github.com/trialog/trialog/engine"
)

// Cache lifetimes of /tlog/ answers: a full tile never changes; a partial
// one is replaced by a wider one as the tree grows; the checkpoint changes
// with every publication.
const (
	cacheFullTile    = "public, max-age=31536000, immutable"
	cachePartialTile = "public, max-age=60"
	cacheCheckpoint  = "no-cache"
)

// The /tlog/ routes serve the log as C2SP tlog-tiles under the monitoring
// prefix, public: the published checkpoint, hash tiles and entry bundles,
// up to the published checkpoint's size. The engine reads the tiles
// (engine/tiles.go); this file only parses paths and writes the bytes.

func (a *API) tlogCheckpoint(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", cacheCheckpoint)
	a.checkpoint(w, r)
}

func (a *API) tlogTile(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := http.StatusOK
	defer func() {
		a.requests.WithLabelValues("tile", strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	}()
	// SPEC: C2SP tlog-tiles paths: tile/<L>/<N>[.p/<W>] and
	// tile/entries/<N>[.p/<W>], N in x-prefixed groups of three digits.
	t, err := torchwood.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/tlog/"))
	if err != nil {
		status = http.StatusNotFound
		writeError(w, newError(status, "not_found", "%s is not a C2SP tlog-tiles path such as /tlog/tile/0/x001/234 or /tlog/tile/entries/005.p/17", r.URL.Path))
		return
	}
	var data []byte
	if t.L == -1 {
		data, err = a.log.EntryBundle(r.Context(), t)
	} else {
		data, err = a.log.HashTile(r.Context(), t)
	}
	if err != nil {
		status = a.writeErr(w, r, err)
		return
	}
	if t.W == engine.TileWidth {
		w.Header().Set("Cache-Control", cacheFullTile)
	} else {
		w.Header().Set("Cache-Control", cachePartialTile)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}
