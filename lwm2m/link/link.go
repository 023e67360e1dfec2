// Package link owns the CoRE Link Format (RFC 6690) as LwM2M uses it: the
// object list of a Register or Update payload and the answer of a
// Discover. Pure: bytes in, values out.
package link

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed: the payload is not link format; the error names the offset.
var ErrMalformed = errors.New("link: malformed")

// Param is one link parameter; Value is "" for a parameter without one
// (e.g. "obs"). Quoted values are unquoted.
type Param struct {
	Name, Value string
	HasValue    bool
}

// Link is one link: its target (without the angle brackets) and
// parameters in order.
type Link struct {
	Target string
	Params []Param
}

// Param returns a parameter's value and whether the link has it.
func (l Link) Param(name string) (string, bool) {
	for _, p := range l.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// MaxLinks bounds how many links Parse accepts.
const MaxLinks = 4096

// Parse parses a link-format payload. An empty payload is no links.
func Parse(b []byte) ([]Link, error) {
	s := string(b)
	var links []Link
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	skipSpace()
	if i == len(s) {
		return nil, nil
	}
	for {
		skipSpace()
		if i >= len(s) || s[i] != '<' {
			return nil, fmt.Errorf("%w: offset %d: expected '<'", ErrMalformed, i)
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return nil, fmt.Errorf("%w: offset %d: unterminated target", ErrMalformed, i)
		}
		l := Link{Target: s[i+1 : i+end]}
		if strings.ContainsAny(l.Target, "<\"") {
			return nil, fmt.Errorf("%w: offset %d: bad target %q", ErrMalformed, i, l.Target)
		}
		i += end + 1
		for i < len(s) && s[i] == ';' {
			i++
			start := i
			for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ',' {
				i++
			}
			p := Param{Name: strings.TrimSpace(s[start:i])}
			if p.Name == "" || strings.ContainsAny(p.Name, " \"<>") {
				return nil, fmt.Errorf("%w: offset %d: bad parameter name", ErrMalformed, start)
			}
			if i < len(s) && s[i] == '=' {
				i++
				p.HasValue = true
				if i < len(s) && s[i] == '"' {
					q := strings.IndexByte(s[i+1:], '"')
					if q < 0 {
						return nil, fmt.Errorf("%w: offset %d: unterminated quoted value", ErrMalformed, i)
					}
					p.Value = s[i+1 : i+1+q]
					i += q + 2
				} else {
					start := i
					for i < len(s) && s[i] != ';' && s[i] != ',' {
						i++
					}
					p.Value = strings.TrimSpace(s[start:i])
					if strings.ContainsAny(p.Value, "\"<>") {
						return nil, fmt.Errorf("%w: offset %d: bad parameter value", ErrMalformed, start)
					}
				}
			}
			l.Params = append(l.Params, p)
		}
		links = append(links, l)
		if len(links) > MaxLinks {
			return nil, fmt.Errorf("%w: more than %d links", ErrMalformed, MaxLinks)
		}
		skipSpace()
		if i == len(s) {
			return links, nil
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("%w: offset %d: expected ',' or ';'", ErrMalformed, i)
		}
		i++
	}
}

// Encode renders links; values that are not plain tokens are quoted.
func Encode(links []Link) []byte {
	var b strings.Builder
	for n, l := range links {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('<')
		b.WriteString(l.Target)
		b.WriteByte('>')
		for _, p := range l.Params {
			b.WriteByte(';')
			b.WriteString(p.Name)
			if !p.HasValue {
				continue
			}
			b.WriteByte('=')
			if needsQuotes(p.Value) {
				b.WriteByte('"')
				b.WriteString(p.Value)
				b.WriteByte('"')
			} else {
				b.WriteString(p.Value)
			}
		}
	}
	return []byte(b.String())
}

func needsQuotes(v string) bool {
	if v == "" {
		return true
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_' || c == ':' || c == '/') {
			return true
		}
	}
	return false
}
