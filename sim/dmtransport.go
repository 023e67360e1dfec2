package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// serverMsg is a server message as the device received it: decoded, and
// the body and x-syncml-hmac header its credentials are checked on.
type serverMsg struct {
	msg  *syncml.Message
	body []byte
	hmac string
}

// exchange posts the device's message m and reads the server's reply. With
// LoseReply, the reply to that message number is read and lost once, and
// the same bytes are posted again.
func (s *dmSession) exchange(ctx context.Context, m *syncml.Message) (serverMsg, error) {
	enc := s.d.Encoding
	if enc == 0 {
		enc = syncml.EncodingXML
	}
	body, err := syncml.Encode(m, enc)
	if err != nil {
		return serverMsg{}, err
	}
	// Computed once: a message sent again is the same bytes with the same
	// headers, as a client re-sending after a timeout does.
	mac := s.d.hmacHeader(body)
	rb, rmac, err := s.post(ctx, enc, body, mac)
	if err != nil {
		return serverMsg{}, err
	}
	if s.loseReply() {
		if rb, rmac, err = s.post(ctx, enc, body, mac); err != nil {
			return serverMsg{}, err
		}
	}
	reply, _, err := syncml.Decode(rb)
	if err != nil {
		return serverMsg{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return serverMsg{msg: reply, body: rb, hmac: rmac}, nil
}

// loseReply reports whether the reply just read is the one LoseReply
// loses (once a session).
func (s *dmSession) loseReply() bool {
	if s.lostReply || s.d.LoseReply <= 0 || s.msgID != s.d.LoseReply {
		return false
	}
	s.lostReply = true
	return true
}

// post sends one HTTP request with body to the session's URL and returns
// the reply body and its x-syncml-hmac header; both bodies go to Record.
func (s *dmSession) post(ctx context.Context, enc syncml.Encoding, body []byte, mac string) ([]byte, string, error) {
	s.report.Messages++
	s.record(true, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", enc.ContentType())
	if mac != "" {
		req.Header.Set(syncml.HMACHeaderName, mac)
	}
	c := s.d.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%w: HTTP %s: %s", ErrProtocol, resp.Status, bytes.TrimSpace(rb))
	}
	s.record(false, rb)
	return rb, resp.Header.Get(syncml.HMACHeaderName), nil
}

// record shows a message to the Record hook, numbered from 1 in the
// session.
func (s *dmSession) record(fromClient bool, body []byte) {
	s.records++
	if s.d.Record != nil {
		s.d.Record(s.records, fromClient, body)
	}
}
