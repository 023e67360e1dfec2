package wbxml

import (
	"bytes"
	"fmt"
)

// Encode writes doc as WBXML. Tags are looked up on their element's Page;
// text is written as STR_I, or as OPAQUE when the element is marked Opaque or
// the text holds a NUL byte. The string table is written as given in the
// header; a non-empty PublicIDText with PublicID 0 must be found in it.
func Encode(doc *Document, cp *CodePages) ([]byte, error) {
	return AppendEncode(nil, doc, cp)
}

// AppendEncode is Encode appending to dst.
func AppendEncode(dst []byte, doc *Document, cp *CodePages) ([]byte, error) {
	h := doc.Header
	if h.Version < 0x01 || h.Version > 0x03 {
		return nil, fmt.Errorf("wbxml: encode: version %#02x, want 0x01-0x03", h.Version)
	}
	if h.Charset != CharsetUTF8 {
		return nil, fmt.Errorf("wbxml: encode: charset %d, the encoder writes UTF-8 (%d) only", h.Charset, CharsetUTF8)
	}
	if doc.Root == nil {
		return nil, fmt.Errorf("wbxml: encode: document has no root element")
	}
	dst = append(dst, h.Version)
	dst = AppendMbUint32(dst, h.PublicID)
	if h.PublicID == 0 {
		i := bytes.Index(h.StringTable, append([]byte(h.PublicIDText), 0))
		if h.PublicIDText == "" || i < 0 {
			return nil, fmt.Errorf("wbxml: encode: public id 0 needs PublicIDText %q in the string table", h.PublicIDText)
		}
		dst = AppendMbUint32(dst, uint32(i))
	}
	dst = AppendMbUint32(dst, h.Charset)
	dst = AppendMbUint32(dst, uint32(len(h.StringTable)))
	dst = append(dst, h.StringTable...)
	w := writer{buf: dst, cp: cp}
	if err := w.element(doc.Root, 0); err != nil {
		return nil, err
	}
	return w.buf, nil
}

// AppendMbUint32 appends v as a WBXML multi-byte integer.
func AppendMbUint32(dst []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7F)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7F) | 0x80
	}
	return append(dst, tmp[i:]...)
}

type writer struct {
	buf  []byte
	cp   *CodePages
	page byte
}

const maxEncodeDepth = 256

func (w *writer) element(e *Element, depth int) error {
	if depth > maxEncodeDepth {
		return fmt.Errorf("wbxml: encode: elements nested deeper than %d", maxEncodeDepth)
	}
	tok, ok := w.cp.Token(e.Page, e.Name)
	if !ok {
		return fmt.Errorf("wbxml: encode: <%s> is not on code page %d", e.Name, e.Page)
	}
	if e.Page != w.page {
		w.buf = append(w.buf, tokSwitchPage, e.Page)
		w.page = e.Page
	}
	hasContent := len(e.Text) > 0 || len(e.Children) > 0
	if !hasContent {
		w.buf = append(w.buf, tok)
		return nil
	}
	w.buf = append(w.buf, tok|flagContent)
	if len(e.Text) > 0 {
		if e.Opaque || bytes.IndexByte(e.Text, 0) >= 0 {
			w.buf = append(w.buf, tokOpaque)
			w.buf = AppendMbUint32(w.buf, uint32(len(e.Text)))
			w.buf = append(w.buf, e.Text...)
		} else {
			w.buf = append(w.buf, tokStrI)
			w.buf = append(w.buf, e.Text...)
			w.buf = append(w.buf, 0)
		}
	}
	for _, c := range e.Children {
		if err := w.element(c, depth+1); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, tokEnd)
	return nil
}
