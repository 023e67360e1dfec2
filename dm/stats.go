package dm

import (
	"net/http"
	"sync/atomic"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Reasons a message is rejected, as Stats.Rejected names them. The first
// six are refusals at the HTTP level (no SyncML answer), the last three
// SyncML answers with one Status on the SyncHdr.
const (
	RejectMethod       = "method"        // not a POST (HTTP 405)
	RejectMediaType    = "media_type"    // not a SyncML content type (415)
	RejectTooLarge     = "too_large"     // over MaxMsgSize (413)
	RejectMalformed    = "malformed"     // unreadable or undecodable body (400)
	RejectNotFound     = "not_found"     // no such endpoint or session token (404)
	RejectWrongSession = "wrong_session" // the token is another device's or session's (403)
	RejectForbidden    = "forbidden"     // unknown device, or not a DM device (SyncML 403)
	RejectSequence     = "sequence"      // MsgID out of sequence, session ended, encoding changed (SyncML 400)
	RejectVersion      = "version"       // unsupported VerDTD or VerProto (SyncML 505, 513)
)

// reject indexes the rejection counters.
type reject int

const (
	rejMethod reject = iota
	rejMediaType
	rejTooLarge
	rejMalformed
	rejNotFound
	rejWrongSession
	rejForbidden
	rejSequence
	rejVersion
	numRejects
)

var rejectNames = [numRejects]string{RejectMethod, RejectMediaType, RejectTooLarge, RejectMalformed, RejectNotFound,
	RejectWrongSession, RejectForbidden, RejectSequence, RejectVersion}

// Stats counts what a Server did since it was created.
type Stats struct {
	// SessionsStarted counts sessions whose first message was answered;
	// SessionsEnded those whose last one was (a device that goes away in
	// the middle of a session never ends it: the difference is not the
	// number of sessions under way).
	SessionsStarted, SessionsEnded int64
	// MessagesXML and MessagesWBXML count messages the session engine
	// answered (stored, then sent), by encoding.
	MessagesXML, MessagesWBXML int64
	// AuthFailures counts messages whose credentials were wrong.
	AuthFailures int64
	// Rejected counts refused messages by reason (a Reject* constant;
	// every reason is present, zero or not).
	Rejected map[string]int64
	// Errors counts requests that failed inside the server (HTTP 500,
	// logged at error level).
	Errors int64
	// Retransmissions counts messages that repeated a session's last one
	// (a client that lost the reply), answered with the stored reply.
	Retransmissions int64
}

// stats holds the Server's counters; it is lock-free and its zero value
// is ready.
type stats struct {
	sessionsStarted, sessionsEnded atomic.Int64
	messages                       [2]atomic.Int64 // xml, wbxml
	authFailures                   atomic.Int64
	rejected                       [numRejects]atomic.Int64
	errors                         atomic.Int64
	retransmissions                atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		SessionsStarted: st.sessionsStarted.Load(), SessionsEnded: st.sessionsEnded.Load(),
		MessagesXML: st.messages[0].Load(), MessagesWBXML: st.messages[1].Load(),
		AuthFailures: st.authFailures.Load(), Errors: st.errors.Load(), Retransmissions: st.retransmissions.Load(),
		Rejected: make(map[string]int64, numRejects),
	}
	for i, name := range rejectNames {
		out.Rejected[name] = st.rejected[i].Load()
	}
	return out
}

// answered counts a message the session engine answered.
func (st *stats) answered(enc syncml.Encoding, first bool, out *StepOutput) {
	if enc == syncml.EncodingWBXML {
		st.messages[1].Add(1)
	} else {
		st.messages[0].Add(1)
	}
	if first {
		st.sessionsStarted.Add(1)
	}
	if out.Session.Ended {
		st.sessionsEnded.Add(1)
	}
	if out.Auth.Failed {
		st.authFailures.Add(1)
	}
}

// refusedHTTP counts a message refused with an HTTP status.
func (st *stats) refusedHTTP(code int) {
	i := rejMalformed
	switch code {
	case http.StatusMethodNotAllowed:
		i = rejMethod
	case http.StatusUnsupportedMediaType:
		i = rejMediaType
	case http.StatusRequestEntityTooLarge:
		i = rejTooLarge
	case http.StatusNotFound:
		i = rejNotFound
	case http.StatusForbidden:
		i = rejWrongSession
	}
	st.rejected[i].Add(1)
}

// refusedSyncML counts a message answered with a SyncHdr refusal.
func (st *stats) refusedSyncML(code int) {
	i := rejVersion
	switch code {
	case 403:
		i = rejForbidden
	case 400:
		i = rejSequence
	}
	st.rejected[i].Add(1)
}
