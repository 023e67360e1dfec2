package download

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Transports a download is counted under.
const (
	ProtocolHTTP = "http"
	ProtocolCoAP = "coap" // a ReadFileAt, over coap:// or coaps://
)

// Outcomes of a download request, as Stats.Requests names them.
const (
	OutcomeOK                 = "ok"                  // HTTP 200 (GET or HEAD); a CoAP block read
	OutcomePartial            = "partial"             // HTTP 206 (a Range)
	OutcomeNotModified        = "not_modified"        // HTTP 304
	OutcomePreconditionFailed = "precondition_failed" // HTTP 412
	OutcomeBadRange           = "bad_range"           // HTTP 416; a CoAP read past the end
	OutcomeNotFound           = "not_found"           // unsigned path or no such package
	OutcomeMethod             = "method_not_allowed"  // HTTP 405
	OutcomeError              = "error"               // the store failed
)

// RequestKey names one counter of Stats.Requests.
type RequestKey struct{ Protocol, Outcome string }

// Stats counts what a Server served since it was created.
type Stats struct {
	// BytesHTTP and BytesCoAP count package bytes written to HTTP clients
	// and read for other transports (CoAP Block2) respectively.
	BytesHTTP, BytesCoAP int64
	// Requests counts HTTP requests and CoAP block reads (one per
	// ReadFileAt) by outcome; every outcome a protocol can have is
	// present (all for HTTP; ok, bad_range, not_found, error for CoAP).
	Requests map[RequestKey]int64
	// Errors counts requests that failed on the store (logged at error
	// level for HTTP; returned to the caller for CoAP).
	Errors int64
}

// outcome indexes the request counters.
type outcome int

const (
	outOK outcome = iota
	outPartial
	outNotModified
	outPreconditionFailed
	outBadRange
	outNotFound
	outMethod
	outError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{OutcomeOK, OutcomePartial, OutcomeNotModified, OutcomePreconditionFailed,
	OutcomeBadRange, OutcomeNotFound, OutcomeMethod, OutcomeError}

// coapOutcomes are the outcomes a ReadFileAt can have.
var coapOutcomes = []outcome{outOK, outBadRange, outNotFound, outError}

// stats holds the Server's counters; lock-free, ready at its zero value.
type stats struct {
	bytesHTTP, bytesCoAP atomic.Int64
	http, coap           [numOutcomes]atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{BytesHTTP: st.bytesHTTP.Load(), BytesCoAP: st.bytesCoAP.Load(), Requests: make(map[RequestKey]int64, int(numOutcomes)+len(coapOutcomes))}
	for i, name := range outcomeNames {
		out.Requests[RequestKey{ProtocolHTTP, name}] = st.http[i].Load()
	}
	for _, o := range coapOutcomes {
		out.Requests[RequestKey{ProtocolCoAP, outcomeNames[o]}] = st.coap[o].Load()
	}
	out.Errors = out.Requests[RequestKey{ProtocolHTTP, OutcomeError}] + out.Requests[RequestKey{ProtocolCoAP, OutcomeError}]
	return out
}

// servedHTTP counts an HTTP request that reached http.ServeContent; only
// a 200 or 206 carries package bytes (others carry an error text).
func (st *stats) servedHTTP(cw *countingWriter) {
	if cw.code == 0 || cw.code == http.StatusOK || cw.code == http.StatusPartialContent {
		st.bytesHTTP.Add(cw.n)
	}
	o := outOK
	switch cw.code {
	case http.StatusPartialContent:
		o = outPartial
	case http.StatusNotModified:
		o = outNotModified
	case http.StatusPreconditionFailed:
		o = outPreconditionFailed
	case http.StatusRequestedRangeNotSatisfiable:
		o = outBadRange
	case http.StatusNotFound:
		o = outNotFound
	case http.StatusInternalServerError:
		o = outError // ServeContent's own failures (a store read at the start)
	}
	st.http[o].Add(1)
}

// readCoAP counts one ReadFileAt that found its package: n bytes read,
// past telling a read beyond the end of a non-empty package.
func (st *stats) readCoAP(n int, past bool, err error) {
	st.bytesCoAP.Add(int64(n))
	switch {
	case past:
		st.coap[outBadRange].Add(1)
	case err != nil && !errors.Is(err, io.EOF):
		st.coap[outError].Add(1)
	default:
		st.coap[outOK].Add(1)
	}
}

// refusedCoAP counts a ReadFileAt that found no package (or failed
// looking for it).
func (st *stats) refusedCoAP(err error) {
	if errors.Is(err, fleet.ErrNotFound) {
		st.coap[outNotFound].Add(1)
	} else {
		st.coap[outError].Add(1)
	}
}

// WriteHeader records the status for the counters.
func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}
