package lwm2m

import (
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// send handles POST /dp (LwM2M 1.1 Send): SenML JSON or CBOR values from
// a registered device's connection, passed to listeners as EventSend.
func (s *Server) send(w *responseWriter, r *pool.Message, body []byte) {
	s.mu.Lock()
	c := s.byConn[w.Conn()]
	s.mu.Unlock()
	if c == nil {
		s.reply(w, codes.Forbidden, "send: not registered on this connection")
		return
	}
	cf, err := r.ContentFormat()
	f := codec.Format(cf)
	if err != nil || (f != codec.FormatSenMLJSON && f != codec.FormatSenMLCBOR) {
		s.reply(w, codes.UnsupportedMediaType, "send: SenML JSON (110) or CBOR (112) only")
		return
	}
	recs, err := codec.Decode(f, node.Path{}, body)
	if err == nil {
		recs, err = node.Typed(recs)
	}
	if err != nil {
		s.reply(w, codes.BadRequest, "send: "+err.Error())
		return
	}
	s.reply(w, codes.Changed, "")
	afterResponse(r, func() { s.emit(c, Event{Kind: EventSend, Records: recs, Format: f, Payload: body}) })
}
