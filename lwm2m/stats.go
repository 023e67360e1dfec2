package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
)

// Stats counts what a Server did since it was created. Registered gives
// the registrations current.
type Stats struct {
	// Registers, Updates and Deregistrations count the ones answered with
	// success (each stored first); Expirations the registrations dropped
	// when their lifetime ran out.
	Registers, Updates, Deregistrations, Expirations int64
	// Requests counts downlink requests sent to devices: every exchange
	// of Read, Discover, Write (each Block1 block), Execute,
	// Write-Attributes, and every Observe. NoAnswer counts those that got
	// no answer (timeout, closed connection); ErrorAnswers those the
	// device answered with a 4.xx or 5.xx code (a 4.13 that makes a push
	// retry with smaller blocks included; an Observe that failed any
	// other way than by a timeout or a closed connection).
	Requests, NoAnswer, ErrorAnswers int64
	// Rejected counts requests from devices answered with a client error,
	// by code ("4.03"); the codes this server answers with are always
	// present.
	Rejected map[string]int64
	// Unsolicited counts responses that answered nothing in flight
	// (rejected with a Reset or ignored); UnknownPSK DTLS handshakes with
	// an identity no device has.
	Unsolicited, UnknownPSK int64
	// Errors counts failures inside the server: requests answered 5.00
	// (the store failed) and expiries that could not be stored.
	Errors int64
	// RateLimited counts messages dropped because their source address
	// was over Config.PerSourceRate; ConnsEvicted connections without a
	// registration closed because their source address opened more than
	// Config.PerSourceConns.
	RateLimited, ConnsEvicted int64
	// DTLSHandshakesFailed counts DTLS handshakes dropped before they
	// began or failed, by cause, every cause present: bad_version (a first
	// datagram whose record version is outside 0xFE**), malformed (not
	// whole DTLS records), no_session (a first datagram that is not a
	// handshake, e.g. of a session from before a restart), backlog (too
	// many new addresses at once), unknown_identity (UnknownPSK), timeout
	// (not finished in 10 s), failed (a wrong key, an alert, ...).
	DTLSHandshakesFailed map[string]int64
	// DTLSVersionsRewritten counts DTLS sessions opened by a ClientHello
	// whose record version was 0xFE** other than 1.2 or 1.0 (stock
	// mbedTLS sends 0xFE00), read as 1.2 (rewriteRecordVersion).
	DTLSVersionsRewritten int64
}

// stats holds the Server's counters; lock-free, ready at its zero value.
type stats struct {
	registers, updates, deregistrations, expirations atomic.Int64
	requests, noAnswer, errorAnswers                 atomic.Int64
	rejected                                         [32]atomic.Int64 // by the detail of a 4.xx code
	unsolicited, unknownPSK                          atomic.Int64
	errors                                           atomic.Int64
	rateLimited, connsEvicted                        atomic.Int64
	dtlsFailed                                       [numDTLSCauses]atomic.Int64 // the unknown_identity one unused: unknownPSK
	dtlsRewritten                                    atomic.Int64
}

// answeredCodes are the client errors this server answers with.
var answeredCodes = []codes.Code{codes.BadRequest, codes.BadOption, codes.Forbidden, codes.NotFound, codes.MethodNotAllowed,
	codes.RequestEntityIncomplete, codes.PreconditionFailed, codes.RequestEntityTooLarge, codes.UnsupportedMediaType}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Registers: st.registers.Load(), Updates: st.updates.Load(), Deregistrations: st.deregistrations.Load(),
		Expirations: st.expirations.Load(), Requests: st.requests.Load(), NoAnswer: st.noAnswer.Load(),
		ErrorAnswers: st.errorAnswers.Load(), Unsolicited: st.unsolicited.Load(), UnknownPSK: st.unknownPSK.Load(),
		Errors: st.errors.Load(), RateLimited: st.rateLimited.Load(), ConnsEvicted: st.connsEvicted.Load(),
		Rejected: map[string]int64{}, DTLSHandshakesFailed: map[string]int64{}, DTLSVersionsRewritten: st.dtlsRewritten.Load(),
	}
	for c := range numDTLSCauses {
		n := st.dtlsFailed[c].Load()
		if c == causeUnknownIdentity {
			n = out.UnknownPSK
		}
		out.DTLSHandshakesFailed[c.String()] = n
	}
	for _, c := range answeredCodes {
		out.Rejected[codeString(c)] = 0
	}
	for detail := range st.rejected {
		if n := st.rejected[detail].Load(); n > 0 {
			out.Rejected[codeString(codes.Code(4<<5|detail))] = n
		}
	}
	return out
}

// codeString writes a CoAP code as c.dd (RFC 7252 §12.1.1).
func codeString(c codes.Code) string { return fmt.Sprintf("%d.%02d", c>>5, c&31) }

// replied counts an answer to a device's request by its class: 4.xx is a
// rejection, 5.xx an internal error.
func (st *stats) replied(c codes.Code) {
	switch c >> 5 {
	case 4:
		st.rejected[c&31].Add(1)
	case 5:
		st.errors.Add(1)
	}
}

// sent counts a downlink exchange and what became of it.
func (st *stats) sent(resp *pool.Message, err error) {
	st.requests.Add(1)
	switch {
	case err != nil:
		st.noAnswer.Add(1)
	case resp.Code()>>5 >= 4:
		st.errorAnswers.Add(1)
	}
}

// observed counts an Observe request. go-coap reports an error code in
// the first answer only as an error: one that is not a timeout or a
// closed connection is taken for one.
func (st *stats) observed(err error) {
	st.requests.Add(1)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		st.noAnswer.Add(1)
	case err != nil:
		st.errorAnswers.Add(1)
	}
}
