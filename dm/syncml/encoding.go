package syncml

import (
	"bytes"
	"fmt"
	"strconv"
)

// Encoding is a wire encoding of SyncML DM.
type Encoding int

const (
	EncodingXML Encoding = iota + 1
	EncodingWBXML
)

// Content types of SyncML DM 1.2 over HTTP.
const (
	ContentTypeXML   = "application/vnd.syncml.dm+xml"
	ContentTypeWBXML = "application/vnd.syncml.dm+wbxml"
)

func (e Encoding) String() string {
	switch e {
	case EncodingXML:
		return "xml"
	case EncodingWBXML:
		return "wbxml"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// ContentType is the HTTP Content-Type of messages in encoding e.
func (e Encoding) ContentType() string {
	if e == EncodingWBXML {
		return ContentTypeWBXML
	}
	return ContentTypeXML
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Detect tells the encoding from the first bytes: a WBXML version byte
// (0x01–0x03), or XML ('<' after an optional BOM and whitespace).
func Detect(b []byte) (Encoding, error) {
	if len(b) == 0 {
		return 0, &DecodeError{Offset: 0, Msg: "empty message", Err: ErrMalformed}
	}
	if b[0] >= 0x01 && b[0] <= 0x03 {
		return EncodingWBXML, nil
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(b, utf8BOM), " \t\r\n")
	if len(t) > 0 && t[0] == '<' {
		return EncodingXML, nil
	}
	return 0, &DecodeError{Offset: 0, Msg: fmt.Sprintf("first byte %#02x is neither a WBXML version (0x01-0x03) nor the start of XML", b[0]), Err: ErrMalformed}
}

// Decode detects the encoding of b and decodes it with DefaultLimits.
func Decode(b []byte) (*Message, Encoding, error) {
	return DefaultLimits.Decode(b)
}

// Decode detects the encoding of b and decodes it within l.
func (l Limits) Decode(b []byte) (*Message, Encoding, error) {
	enc, err := Detect(b)
	if err != nil {
		return nil, 0, err
	}
	var m *Message
	if enc == EncodingWBXML {
		m, err = l.DecodeWBXML(b)
	} else {
		m, err = l.DecodeXML(b)
	}
	return m, enc, err
}

// Encode writes m in encoding enc.
func Encode(m *Message, enc Encoding) ([]byte, error) {
	switch enc {
	case EncodingXML:
		return EncodeXML(m)
	case EncodingWBXML:
		return EncodeWBXML(m)
	}
	return nil, fmt.Errorf("syncml: encode: %v: %w", enc, ErrUnencodable)
}

func itoa(n int) string { return strconv.Itoa(n) }
