// Package replay owns replaying recorded SyncML DM sessions: it reads a
// scenario folder (NNN-c2s.* client messages and NNN-s2c.* server
// messages, XML or WBXML), posts the client messages in order to a DM
// server, and compares each answer with the recorded one after
// normalising what legitimately differs between runs (the gateway's
// address, RespURI session tokens).
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

// Load reads a scenario folder in file-name order.
func Load(dir string) ([]Message, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
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
			return nil, err
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
)

// Canonical is a message as indented-free XML with the run-specific parts
// normalised: the comparison form.
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
	return token.ReplaceAllString(s, "/s/TOKEN"), nil
}

// Mismatch is the first difference between a recorded answer and the live
// one.
type Mismatch struct {
	File      string
	Want, Got string
}

func (m *Mismatch) Error() string {
	i := 0
	for i < len(m.Want) && i < len(m.Got) && m.Want[i] == m.Got[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("replay: %s differs at byte %d:\n want …%s\n got  …%s", m.File, i, clip(m.Want[from:]), clip(m.Got[from:]))
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160]
	}
	return s
}

// Run posts the client messages to url (the DM endpoint) in order, each
// later message of a session to the RespURI the server gave, and compares
// every server answer with the recorded one that follows it.
func Run(ctx context.Context, c *http.Client, url string, msgs []Message) error {
	if c == nil {
		c = http.DefaultClient
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
				return &Mismatch{File: m.Name, Want: want, Got: got}
			}
			answer = nil
			continue
		}
		msg, enc, err := syncml.Decode(m.Body)
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		target := url
		if msg.Header.SessionID == session && respURI != "" {
			target = respURI
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.Body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", enc.ContentType())
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("replay: %s: %w", m.Name, err)
		}
		answer, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("replay: %s: HTTP %s: %s", m.Name, resp.Status, bytes.TrimSpace(answer))
		}
		session, respURI = msg.Header.SessionID, ""
		if a, _, err := syncml.Decode(answer); err == nil {
			respURI = a.Header.RespURI
		}
	}
	return nil
}
