package syncml

import (
	"errors"

	"github.com/fumo-gw/fumo-gw/dm/wbxml"
)

// DecodeWBXML decodes a WBXML SyncML DM message with DefaultLimits.
func DecodeWBXML(b []byte) (*Message, error) { return DefaultLimits.DecodeWBXML(b) }

// DecodeWBXML decodes a WBXML SyncML DM message within l. Any public
// identifier is accepted (devices label DM 1.2 documents as SyncML 1.1);
// VerDTD and VerProto decide the version.
func (l Limits) DecodeWBXML(b []byte) (*Message, error) {
	l = l.withDefaults()
	if err := l.checkSize(b); err != nil {
		return nil, err
	}
	doc, err := wbxml.Decode(b, codePages, wbxml.Limits{MaxDepth: l.MaxDepth, MaxElements: l.MaxElements, MaxTextBytes: l.MaxBytes})
	if err != nil {
		var se *wbxml.SyntaxError
		if errors.As(err, &se) {
			sentinel := ErrMalformed
			if errors.Is(err, wbxml.ErrLimit) {
				sentinel = ErrTooLarge
			}
			return nil, &DecodeError{Offset: se.Offset, Msg: "wbxml: " + se.Msg + ": " + se.Err.Error(), Err: sentinel}
		}
		return nil, &DecodeError{Offset: -1, Msg: err.Error(), Err: ErrMalformed}
	}
	return messageFromTree(doc.Root)
}

// EncodeWBXML writes m as WBXML 1.2 with the SyncML 1.2 public id (0x1201),
// UTF-8, an empty string table, text as STR_I and Item Data as OPAQUE.
func EncodeWBXML(m *Message) ([]byte, error) {
	root, err := messageToTree(m)
	if err != nil {
		return nil, err
	}
	doc := &wbxml.Document{
		Header: wbxml.Header{Version: 0x02, PublicID: PublicID1_2, Charset: wbxml.CharsetUTF8},
		Root:   root,
	}
	return wbxml.Encode(doc, codePages)
}
