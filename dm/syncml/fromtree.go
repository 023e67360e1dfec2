package syncml

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fumo-gw/fumo-gw/dm/wbxml"
)

// The mapping from the element tree (built by either decoder) to a Message.
// Children are matched by name in any order; an error names the element path
// from the root.

type element = wbxml.Element

func malformed(e *element, format string, args ...any) error {
	return &DecodeError{Offset: e.Offset, Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// under prefixes the path of err (raised inside child) with child's label.
func under(err error, parent, child *element) error {
	de, ok := err.(*DecodeError)
	if !ok {
		return err
	}
	label := child.Name
	n, k := 0, 0
	for _, c := range parent.Children {
		if c.Name == child.Name {
			n++
			if c == child {
				k = n
			}
		}
	}
	if n > 1 {
		label = fmt.Sprintf("%s[%d]", child.Name, k)
	}
	return prefixPath(de, label)
}

func prefixPath(de *DecodeError, label string) error {
	if de.Path == "" {
		de.Path = label
	} else {
		de.Path = label + "/" + de.Path
	}
	return de
}

func messageFromTree(root *element) (*Message, error) {
	if root.Name != "SyncML" {
		return nil, malformed(root, "root element <%s>, expected <SyncML>", root.Name)
	}
	m := &Message{}
	var haveHdr, haveBody bool
	for _, c := range root.Children {
		var err error
		switch c.Name {
		case "SyncHdr":
			if haveHdr {
				err = malformed(c, "second <SyncHdr>")
			} else {
				haveHdr = true
				err = decodeHeader(&m.Header, c)
			}
		case "SyncBody":
			if haveBody {
				err = malformed(c, "second <SyncBody>")
			} else {
				haveBody = true
				err = decodeBody(&m.Body, c)
			}
		default:
			err = malformed(c, "unexpected element, expected <SyncHdr> or <SyncBody>")
		}
		if err != nil {
			return nil, rooted(under(err, root, c))
		}
	}
	if !haveHdr || !haveBody {
		return nil, rooted(malformed(root, "missing <SyncHdr> or <SyncBody>"))
	}
	if m.Header.VerDTD != VerDTD || m.Header.VerProto != VerProto {
		return m, &VersionError{VerDTD: m.Header.VerDTD, VerProto: m.Header.VerProto}
	}
	return m, nil
}

func rooted(err error) error {
	if de, ok := err.(*DecodeError); ok {
		return prefixPath(de, "SyncML")
	}
	return err
}

// text returns the trimmed character content of a leaf element.
func text(e *element) (string, error) {
	if len(e.Children) > 0 {
		return "", malformed(e.Children[0], "element inside <%s>, expected text", e.Name)
	}
	if !utf8.Valid(e.Text) {
		return "", malformed(e, "text is not valid UTF-8")
	}
	return string(bytes.Trim(e.Text, " \t\r\n")), nil
}

func number(e *element, max int64) (int64, error) {
	s, err := text(e)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || n < 0 || n > max {
		return 0, malformed(e, "%q is not a number in 0..%d", s, max)
	}
	return n, nil
}

// empty checks an element that must have no content (Final, NoResp, MoreData).
func empty(e *element) error {
	if len(e.Children) > 0 || len(bytes.Trim(e.Text, " \t\r\n")) > 0 {
		return malformed(e, "expected an empty element")
	}
	return nil
}

// once guards single-valued children.
func once(seen map[string]bool, c *element) error {
	if seen[c.Name] {
		return malformed(c, "<%s> given twice", c.Name)
	}
	seen[c.Name] = true
	return nil
}

func decodeHeader(h *Header, e *element) error {
	seen := map[string]bool{}
	for _, c := range e.Children {
		if err := once(seen, c); err != nil {
			return under(err, e, c)
		}
		var err error
		switch c.Name {
		case "VerDTD":
			h.VerDTD, err = text(c)
		case "VerProto":
			h.VerProto, err = text(c)
		case "SessionID":
			h.SessionID, err = text(c)
		case "MsgID":
			h.MsgID, err = text(c)
		case "Target":
			err = decodeLocation(&h.Target, c)
		case "Source":
			err = decodeLocation(&h.Source, c)
		case "RespURI":
			h.RespURI, err = text(c)
		case "NoResp":
			h.NoResp, err = true, empty(c)
		case "Cred":
			h.Cred, err = decodeCred(c)
		case "Meta":
			h.Meta, err = decodeMeta(c)
		default:
			err = malformed(c, "unexpected element in <SyncHdr>")
		}
		if err != nil {
			return under(err, e, c)
		}
	}
	for _, name := range []string{"VerDTD", "VerProto", "SessionID", "MsgID", "Target", "Source"} {
		if !seen[name] {
			return malformed(e, "missing <%s>", name)
		}
	}
	return nil
}

func decodeLocation(l *Location, e *element) error {
	seen := map[string]bool{}
	for _, c := range e.Children {
		if err := once(seen, c); err != nil {
			return under(err, e, c)
		}
		var err error
		switch c.Name {
		case "LocURI":
			l.LocURI, err = text(c)
		case "LocName":
			l.LocName, err = text(c)
		default:
			err = malformed(c, "unexpected element in <%s>", e.Name)
		}
		if err != nil {
			return under(err, e, c)
		}
	}
	if !seen["LocURI"] {
		return malformed(e, "missing <LocURI>")
	}
	return nil
}

func decodeCred(e *element) (*Cred, error) {
	cr := &Cred{}
	seen := map[string]bool{}
	for _, c := range e.Children {
		if err := once(seen, c); err != nil {
			return nil, under(err, e, c)
		}
		var err error
		switch c.Name {
		case "Meta":
			cr.Meta, err = decodeMeta(c)
		case "Data":
			cr.Data, err = text(c)
		default:
			err = malformed(c, "unexpected element in <Cred>")
		}
		if err != nil {
			return nil, under(err, e, c)
		}
	}
	if !seen["Data"] {
		return nil, malformed(e, "missing <Data>")
	}
	return cr, nil
}

func decodeChal(e *element) (*Chal, error) {
	ch := &Chal{}
	for _, c := range e.Children {
		if c.Name != "Meta" || ch.Meta != nil {
			return nil, under(malformed(c, "unexpected element in <Chal>, expected one <Meta>"), e, c)
		}
		m, err := decodeMeta(c)
		if err != nil {
			return nil, under(err, e, c)
		}
		ch.Meta = m
	}
	if ch.Meta == nil {
		return nil, malformed(e, "missing <Meta>")
	}
	return ch, nil
}

// metInfIgnored lists MetInf elements that only SyncML DS uses; a DM message
// carrying them is still understood.
var metInfIgnored = map[string]bool{
	"Anchor": true, "FreeID": true, "FreeMem": true, "Last": true, "Mem": true, "Next": true,
	"SharedMem": true, "FieldLevel": true,
}

const maxSize = 1<<53 - 1

func decodeMeta(e *element) (*Meta, error) {
	m := &Meta{}
	if err := decodeMetInf(m, e, map[string]bool{}); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeMetInf(m *Meta, e *element, seen map[string]bool) error {
	for _, c := range e.Children {
		if c.Name != "EMI" && c.Name != "MetInf" {
			if err := once(seen, c); err != nil {
				return under(err, e, c)
			}
		}
		var err error
		switch c.Name {
		case "MetInf": // a wrapper some encoders write inside Meta
			err = decodeMetInf(m, c, seen)
		case "Format":
			m.Format, err = text(c)
		case "Type":
			m.Type, err = text(c)
		case "Mark":
			m.Mark, err = text(c)
		case "Version":
			m.Version, err = text(c)
		case "Size":
			m.Size, err = number(c, maxSize)
		case "MaxMsgSize":
			m.MaxMsgSize, err = number(c, maxSize)
		case "MaxObjSize":
			m.MaxObjSize, err = number(c, maxSize)
		case "NextNonce":
			m.NextNonce, err = nonce(c)
		case "EMI":
			var s string
			s, err = text(c)
			m.EMI = append(m.EMI, s)
		default:
			if !metInfIgnored[c.Name] {
				err = malformed(c, "unexpected element in <Meta>")
			}
		}
		if err != nil {
			return under(err, e, c)
		}
	}
	return nil
}

// nonce decodes a NextNonce: OPAQUE content is the raw nonce, text is base64.
func nonce(e *element) ([]byte, error) {
	if len(e.Children) > 0 {
		return nil, malformed(e.Children[0], "element inside <NextNonce>")
	}
	if e.Opaque {
		return bytes.Clone(e.Text), nil
	}
	s := strings.Trim(string(e.Text), " \t\r\n")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, malformed(e, "NextNonce %q is not base64", s)
	}
	return b, nil
}

func decodeItem(e *element) (Item, error) {
	var it Item
	seen := map[string]bool{}
	for _, c := range e.Children {
		if err := once(seen, c); err != nil {
			return it, under(err, e, c)
		}
		var err error
		switch c.Name {
		case "Target":
			it.Target = &Location{}
			err = decodeLocation(it.Target, c)
		case "Source":
			it.Source = &Location{}
			err = decodeLocation(it.Source, c)
		case "Meta":
			it.Meta, err = decodeMeta(c)
		case "Data":
			it.Data, err = data(c)
		case "MoreData":
			it.MoreData, err = true, empty(c)
		default:
			err = malformed(c, "unexpected element in <Item>")
		}
		if err != nil {
			return it, under(err, e, c)
		}
	}
	return it, nil
}

// data returns Item Data exactly as sent (never nil).
func data(e *element) ([]byte, error) {
	if len(e.Children) > 0 {
		return nil, malformed(e.Children[0], "element inside <Data> of a WBXML item (nested documents come as OPAQUE)")
	}
	if e.Text == nil {
		return []byte{}, nil
	}
	return bytes.Clone(e.Text), nil
}
