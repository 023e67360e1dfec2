// Package replay owns replaying recorded SyncML DM sessions: it reads a
// scenario folder (NNN-c2s.* client messages and NNN-s2c.* server
// messages, XML or WBXML), posts the client messages in order to a DM
// server, and compares each answer with the recorded one after
// normalising what legitimately differs between runs (the gateway's
// address, RespURI session tokens, the nonces the server issues). The
// first difference comes back as a *Mismatch with a short line diff.
// What a scenario needs set up first is package replay/scenario's.
package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Message is one recorded message.
type Message struct {
	Name       string // file name
	FromClient bool
	Body       []byte
}

// Seq is the message's number as written in its file name ("002").
func (m Message) Seq() string {
	seq, _, _ := strings.Cut(m.Name, "-")
	return seq
}

// Dir is "c2s" for a client message, "s2c" for a server one.
func (m Message) Dir() string {
	if m.FromClient {
		return "c2s"
	}
	return "s2c"
}

// Load reads a scenario folder in file-name order.
func Load(dir string) ([]Message, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.Contains(n, "-c2s.") || strings.Contains(n, "-s2c.") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("replay: %s holds no NNN-c2s/NNN-s2c messages", dir)
	}
	var msgs []Message
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		msgs = append(msgs, Message{Name: n, FromClient: strings.Contains(n, "-c2s."), Body: b})
	}
	return msgs, nil
}

// Save writes messages as NNN-c2s.xml / NNN-s2c.xml (or .wbxml), numbered
// from 1, into dir.
func Save(dir string, bodies [][]byte, fromClient []bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, b := range bodies {
		enc, err := syncml.Detect(b)
		if err != nil {
			return err
		}
		dirn := "s2c"
		if fromClient[i] {
			dirn = "c2s"
		}
		name := fmt.Sprintf("%03d-%s.%s", i+1, dirn, strings.ToLower(enc.String()))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

var (
	hostPort = regexp.MustCompile(`https?://(127\.0\.0\.1|localhost|\[::1\]):[0-9]+`)
	token    = regexp.MustCompile(`/s/[0-9a-f]{8,}`)
	// nextNonce is a nonce the server issues in a Chal; the client's
	// later credentials show whether the server took the recorded ones.
	nextNonce = regexp.MustCompile(`(<NextNonce[^>]*>)[^<]*(</NextNonce>)`)
)

// Canonical is a message as indented-free XML with the run-specific parts
// normalised: the comparison form. A loopback gateway address becomes
// http://gateway, a RespURI session token /s/TOKEN, a NextNonce NONCE.
func Canonical(body []byte) (string, error) {
	m, _, err := syncml.Decode(body)
	if err != nil {
		return "", err
	}
	x, err := syncml.EncodeXML(m)
	if err != nil {
		return "", err
	}
	s := hostPort.ReplaceAllString(string(x), "http://gateway")
	s = token.ReplaceAllString(s, "/s/TOKEN")
	return nextNonce.ReplaceAllString(s, "${1}NONCE${2}"), nil
}

// Mismatch is the first difference between a recorded answer and the live
// one, in canonical form.
type Mismatch struct {
	File      string // the recorded message's file name
	Seq       string // its number ("002")
	Want, Got string
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("replay: %s differs (- recorded, + live):\n%s", m.File, Diff(m.Want, m.Got))
}

// Options shape a replay.
type Options struct {
	HTTP *http.Client // default http.DefaultClient
	// Progress, when set, sees each message once it is done with: "sent"
	// for a client message, "matches" for a server one.
	Progress func(m Message, outcome string)
}

// Run is Replay with the client c.
func Run(ctx context.Context, c *http.Client, url string, msgs []Message) error {
	return Replay(ctx, url, msgs, Options{HTTP: c})
}

// Replay posts the client messages to url (the DM endpoint) in order,
// each later message of a session to the RespURI the server gave, and
// compares every server answer with the recorded one that follows it. The
// first difference is a *Mismatch.
func Replay(ctx context.Context, url string, msgs []Message, o Options) error {
	c := o.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	progress := o.Progress
	if progress == nil {
		progress = func(Message, string) {}
	}
	respURI, session := "", ""
	var answer []byte
	for _, m := range msgs {
		if !m.FromClient {
			if answer == nil {
				return fmt.Errorf("replay: %s: no client message before it", m.Name)
			}
			want, err := Canonical(m.Body)
			if err != nil {
				return fmt.Errorf("replay: recorded %s: %w", m.Name, err)
			}
			got, err := Canonical(answer)
			if err != nil {
				return fmt.Errorf("replay: answer for %s: %w", m.Name, err)
			}
			if want != got {
				return &Mismatch{File: m.Name, Seq: m.Seq(), Want: want, Got: got}
			}
			answer = nil
			progress(m, "matches")
			continue
		}
		msg, enc, err := syncml.Decode(m.Body)
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		// A later message of a session goes to the RespURI the server gave;
		// a package 1 (MsgID 1) starts a session, or repeats its first
		// message, at the endpoint, even under the SessionID of the last
		// session (clients reuse them).
		target := url
		if msg.Header.SessionID == session && respURI != "" && msg.Header.MsgID != "1" {
			target = respURI
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.Body))
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		req.Header.Set("Content-Type", enc.ContentType())
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		answer, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("replay: %s: HTTP %s: %s", m.Name, resp.Status, bytes.TrimSpace(answer))
		}
		if msg.Header.SessionID != session || msg.Header.MsgID == "1" {
			respURI = ""
		}
		session = msg.Header.SessionID
		if a, _, err := syncml.Decode(answer); err == nil && a.Header.RespURI != "" {
			respURI = a.Header.RespURI
		}
		progress(m, "sent")
	}
	return nil
}
