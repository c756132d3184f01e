package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
)

// maxBody caps a request body: the largest one (create an app) is a few
// hundred bytes.
const maxBody = 64 << 10

// WriteJSON answers with v as JSON and status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is every error answer: the catalogue's code and reason (as WHIP
// and FLV answer), plus Agora's "message" on the Agora-compatible paths.
type errorBody struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// WriteError answers with err's catalogue error and HTTP status. Anything
// that is not a catalogue error becomes 500 "internal error" (its text is
// never sent; the call's log line carries it).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := errcode.From(err)
	if lw, ok := w.(*logWriter); ok {
		lw.err = err
	}
	body := errorBody{Code: e.Code, Reason: e.Message()}
	if isAgoraPath(r.URL.Path) {
		body.Message = e.Message()
	}
	WriteJSON(w, e.HTTPStatus(), body)
}

func isAgoraPath(p string) bool { return strings.HasPrefix(p, "/dev/") }

// decodeBody reads a JSON object into v. strict refuses unknown fields
// (minirtc's own endpoints); Agora's tolerate them, as Agora does.
func decodeBody(r *http.Request, v any, strict bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errcode.BadRequest("the body must be a JSON object")
		}
		return errcode.BadRequest("body: " + err.Error())
	}
	return nil
}

// page is a validated page request.
type page struct{ no, size int }

// bounds returns the slice bounds of the page in a list of n items.
func (p page) bounds(n int) (int, int) {
	lo := min(p.no*p.size, n)
	return lo, min(lo+p.size, n)
}

// Page size limits, the same for Agora's page_size and our pageSize: Agora
// documents [1, 500] with a default of 100.
const (
	defaultPageSize = 100
	maxPageSize     = 500
)

// parsePage reads a page number (from first, 0 or 1) and size from the
// query parameters noName and sizeName.
func parsePage(r *http.Request, noName, sizeName string, first int) (page, error) {
	p := page{no: 0, size: defaultPageSize}
	q := r.URL.Query()
	if v := q.Get(noName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < first {
			return p, errcode.BadRequest(fmt.Sprintf("%s must be a whole number from %d (got %q)", noName, first, v))
		}
		p.no = n - first
	}
	if v := q.Get(sizeName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, errcode.BadRequest(fmt.Sprintf("%s must be 1..%d (got %q)", sizeName, maxPageSize, v))
		}
		p.size = n
	}
	return p, nil
}

// list is the envelope of minirtc's paginated listings.
type list[T any] struct {
	Items    []T `json:"items"`
	Page     int `json:"page"` // from 1
	PageSize int `json:"pageSize"`
	Total    int `json:"total"` // items in all pages
	// MissingNodes (in a cluster) are the nodes whose items are missing
	// because they did not answer in time ("*": the node registry did not).
	MissingNodes []string `json:"missingNodes,omitempty"`
}

func paginate[T any](all []T, p page) list[T] {
	lo, hi := p.bounds(len(all))
	items := all[lo:hi]
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Page: p.no + 1, PageSize: p.size, Total: len(all)}
}
