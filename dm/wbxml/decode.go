package wbxml

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Element is one node of a decoded document. SyncML elements hold either
// children or text, so the text of an element is kept as one byte slice
// (pieces concatenated in order).
type Element struct {
	Page     byte   // code page of the tag
	Name     string // tag name from the code pages (or the LITERAL name)
	Children []*Element
	// Text is the element's character content. After Decode it may alias
	// the input; copy it before changing the input.
	Text []byte
	// Opaque is true when the text came as OPAQUE (raw bytes), and asks
	// Encode to write it as OPAQUE.
	Opaque bool
	// Offset is the byte offset of the element's tag in the decoded input.
	Offset int
}

// Document is a decoded WBXML document.
type Document struct {
	Header Header
	Root   *Element
}

// Limits bound the work a decoder does for one document. Zero fields take the
// value from DefaultLimits.
type Limits struct {
	MaxDepth     int // nesting of elements
	MaxElements  int // elements in the document
	MaxTextBytes int // text across all elements (STR_T can repeat a string)
}

// DefaultLimits suit SyncML DM messages: depth 8 to 12 in practice, a few
// thousand elements, text no larger than the message.
var DefaultLimits = Limits{MaxDepth: 64, MaxElements: 1 << 16, MaxTextBytes: 16 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultLimits.MaxElements
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultLimits.MaxTextBytes
	}
	return l
}

type decoder struct {
	in        []byte
	pos       int
	cp        *CodePages
	lim       Limits
	hdr       Header
	page      byte // current tag code page
	elements  int
	textBytes int
}

// Decode parses a whole WBXML document with the tag names of cp.
func Decode(data []byte, cp *CodePages, lim Limits) (*Document, error) {
	d := &decoder{in: data, cp: cp, lim: lim.withDefaults()}
	if err := d.header(); err != nil {
		return nil, err
	}
	if err := d.skipPIs(); err != nil {
		return nil, err
	}
	if d.pos >= len(d.in) {
		return nil, d.errf(ErrTruncated, "expected the root element")
	}
	root, err := d.body()
	if err != nil {
		return nil, err
	}
	if err := d.skipPIs(); err != nil {
		return nil, err
	}
	if d.pos != len(d.in) {
		return nil, d.errf(ErrMalformed, "expected end of document after the root element, found byte %#02x", d.in[d.pos])
	}
	return &Document{Header: d.hdr, Root: root}, nil
}

func (d *decoder) errf(sentinel error, format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (d *decoder) byte(what string) (byte, error) {
	if d.pos >= len(d.in) {
		return 0, d.errf(ErrTruncated, "expected %s", what)
	}
	b := d.in[d.pos]
	d.pos++
	return b, nil
}

// mbUint32 reads a multi-byte unsigned integer (at most 5 bytes, 32 bits).
func (d *decoder) mbUint32(what string) (uint32, error) {
	start := d.pos
	var v uint64
	for i := 0; i < 5; i++ {
		if d.pos >= len(d.in) {
			return 0, d.errf(ErrTruncated, "expected %s (multi-byte integer)", what)
		}
		b := d.in[d.pos]
		d.pos++
		v = v<<7 | uint64(b&0x7F)
		if b&0x80 == 0 {
			if v > 0xFFFFFFFF {
				d.pos = start
				return 0, d.errf(ErrMalformed, "%s does not fit in 32 bits", what)
			}
			return uint32(v), nil
		}
	}
	d.pos = start
	return 0, d.errf(ErrMalformed, "%s: multi-byte integer longer than 5 bytes", what)
}

func (d *decoder) header() error {
	v, err := d.byte("version byte")
	if err != nil {
		return err
	}
	if v < 0x01 || v > 0x03 {
		d.pos--
		return d.errf(ErrUnsupported, "version %#02x, expected 0x01-0x03 (WBXML 1.1-1.3)", v)
	}
	d.hdr.Version = v
	if d.hdr.PublicID, err = d.mbUint32("public identifier"); err != nil {
		return err
	}
	var fpiIndex uint32
	fpiAt := d.pos
	if d.hdr.PublicID == 0 {
		if fpiIndex, err = d.mbUint32("public identifier string-table index"); err != nil {
			return err
		}
	}
	if d.hdr.Charset, err = d.mbUint32("charset"); err != nil {
		return err
	}
	switch d.hdr.Charset {
	case CharsetUnknown, CharsetASCII, CharsetLatin1, CharsetUTF8:
	default:
		return d.errf(ErrUnsupported, "charset MIBenum %d (UTF-8, US-ASCII and ISO-8859-1 are supported)", d.hdr.Charset)
	}
	n, err := d.mbUint32("string table length")
	if err != nil {
		return err
	}
	if uint64(n) > uint64(len(d.in)-d.pos) {
		return d.errf(ErrTruncated, "string table of %d bytes, only %d left", n, len(d.in)-d.pos)
	}
	d.hdr.StringTable = d.in[d.pos : d.pos+int(n)]
	d.pos += int(n)
	if d.hdr.PublicID == 0 {
		s, err := d.tableString(fpiIndex, fpiAt)
		if err != nil {
			return err
		}
		d.hdr.PublicIDText = string(s)
	}
	return nil
}

// tableString returns the NUL-terminated string at index in the string table.
func (d *decoder) tableString(index uint32, at int) ([]byte, error) {
	t := d.hdr.StringTable
	if uint64(index) >= uint64(len(t)) {
		return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("string-table index %d outside a table of %d bytes", index, len(t)), Err: ErrMalformed}
	}
	end := bytes.IndexByte(t[index:], 0)
	if end < 0 {
		// The last entry runs to the end of the table: the Android OMA-DM
		// engine writes its public id this way, without the NUL.
		return t[index:], nil
	}
	return t[index : int(index)+end], nil
}

// inlineString reads a NUL-terminated inline string.
func (d *decoder) inlineString(what string) ([]byte, error) {
	end := bytes.IndexByte(d.in[d.pos:], 0)
	if end < 0 {
		return nil, d.errf(ErrTruncated, "%s: inline string without terminating NUL", what)
	}
	s := d.in[d.pos : d.pos+end]
	d.pos += end + 1
	return s, nil
}

// text converts a string of the document charset to UTF-8 and checks it.
func (d *decoder) text(s []byte, at int) ([]byte, error) {
	if d.hdr.Charset == CharsetLatin1 {
		if !isASCII(s) {
			out := make([]byte, 0, len(s)*2)
			for _, c := range s {
				out = utf8.AppendRune(out, rune(c))
			}
			return out, nil
		}
		return s, nil
	}
	if !utf8.Valid(s) {
		return nil, &SyntaxError{Offset: at, Msg: "string is not valid UTF-8", Err: ErrMalformed}
	}
	return s, nil
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func (d *decoder) skipPIs() error {
	for d.pos < len(d.in) && d.in[d.pos] == tokPI {
		d.pos++
		if err := d.skipAttributes("processing instruction"); err != nil {
			return err
		}
	}
	return nil
}

// skipAttributes consumes attribute tokens up to and including their END.
// Attribute code pages are separate from tag code pages, so a SWITCH_PAGE
// here does not change d.page.
func (d *decoder) skipAttributes(what string) error {
	for {
		b, err := d.byte("attribute token or END of " + what)
		if err != nil {
			return err
		}
		switch b {
		case tokEnd:
			return nil
		case tokSwitchPage:
			if _, err := d.byte("attribute code page number"); err != nil {
				return err
			}
		case tokStrI, tokExtI0, tokExtI1, tokExtI2:
			if _, err := d.inlineString("attribute value"); err != nil {
				return err
			}
		case tokStrT, tokLiteral, tokEntity, tokExtT0, tokExtT1, tokExtT2:
			at := d.pos - 1
			idx, err := d.mbUint32("attribute operand")
			if err != nil {
				return err
			}
			if b == tokStrT || b == tokLiteral {
				if _, err := d.tableString(idx, at); err != nil {
					return err
				}
			}
		case tokOpaque:
			if _, err := d.opaque(); err != nil {
				return err
			}
		case tokExt0, tokExt1, tokExt2:
		case tokPI, tokLiteralA, tokLiteralC, tokLiteralAC:
			d.pos--
			return d.errf(ErrMalformed, "token %#02x inside attributes", b)
		default:
			// attribute start (< 0x80) or attribute value (>= 0x80) token
		}
	}
}

func (d *decoder) opaque() ([]byte, error) {
	n, err := d.mbUint32("OPAQUE length")
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(d.in)-d.pos) {
		return nil, d.errf(ErrTruncated, "OPAQUE of %d bytes, only %d left", n, len(d.in)-d.pos)
	}
	b := d.in[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// startTag reads one tag (with its attributes) at d.pos and returns the new
// element and whether it has content.
func (d *decoder) startTag() (*Element, bool, error) {
	at := d.pos
	b := d.in[d.pos]
	d.pos++
	d.elements++
	if d.elements > d.lim.MaxElements {
		d.pos = at
		return nil, false, d.errf(ErrLimit, "more than %d elements", d.lim.MaxElements)
	}
	el := &Element{Page: d.page, Offset: at}
	switch b {
	case tokLiteral, tokLiteralC, tokLiteralA, tokLiteralAC:
		idx, err := d.mbUint32("LITERAL tag name index")
		if err != nil {
			return nil, false, err
		}
		name, err := d.tableString(idx, at)
		if err != nil {
			return nil, false, err
		}
		el.Name = string(name)
		b = literalFlags(b)
	default:
		name, ok := d.cp.Name(d.page, b&tagMask)
		if !ok {
			d.pos = at
			return nil, false, d.errf(ErrUnknownTag, "tag token %#02x on code page %d", b&tagMask, d.page)
		}
		el.Name = name
	}
	if b&flagAttributes != 0 {
		if err := d.skipAttributes(el.Name); err != nil {
			return nil, false, err
		}
	}
	return el, b&flagContent != 0, nil
}

func (d *decoder) addText(el *Element, s []byte, opaque bool, at int) error {
	d.textBytes += len(s)
	if d.textBytes > d.lim.MaxTextBytes {
		return &SyntaxError{Offset: at, Msg: fmt.Sprintf("more than %d bytes of text", d.lim.MaxTextBytes), Err: ErrLimit}
	}
	if el.Text == nil {
		// Alias the input, with no spare capacity: a later piece makes
		// append copy into a new array instead of writing over the input.
		el.Text = s[:len(s):len(s)]
	} else {
		el.Text = append(el.Text, s...)
	}
	el.Opaque = el.Opaque || opaque
	return nil
}

// body decodes the root element and everything inside it, iteratively.
func (d *decoder) body() (*Element, error) {
	if isGlobal(d.in[d.pos]) && !isLiteralTag(d.in[d.pos]) {
		if d.in[d.pos] != tokSwitchPage {
			return nil, d.errf(ErrMalformed, "expected the root element, found global token %#02x", d.in[d.pos])
		}
	}
	var root *Element
	var stack []*Element
	for {
		if d.pos >= len(d.in) {
			if root == nil {
				return nil, d.errf(ErrTruncated, "expected the root element")
			}
			return nil, d.errf(ErrTruncated, "expected END of <%s>", stack[len(stack)-1].Name)
		}
		at := d.pos
		b := d.in[d.pos]
		switch {
		case b == tokSwitchPage:
			d.pos++
			p, err := d.byte("code page number")
			if err != nil {
				return nil, err
			}
			d.page = p
		case b == tokEnd:
			if len(stack) == 0 {
				return nil, d.errf(ErrMalformed, "END with no open element")
			}
			d.pos++
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return root, nil
			}
		case !isGlobal(b) || isLiteralTag(b):
			el, content, err := d.startTag()
			if err != nil {
				return nil, err
			}
			if root == nil {
				root = el
			} else {
				parent := stack[len(stack)-1]
				parent.Children = append(parent.Children, el)
			}
			if content {
				if len(stack) >= d.lim.MaxDepth {
					return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("elements nested deeper than %d", d.lim.MaxDepth), Err: ErrLimit}
				}
				stack = append(stack, el)
			} else if len(stack) == 0 {
				return root, nil
			}
		default:
			if len(stack) == 0 {
				return nil, d.errf(ErrMalformed, "content token %#02x outside any element", b)
			}
			if err := d.content(stack[len(stack)-1]); err != nil {
				return nil, err
			}
		}
	}
}

// literalFlags maps a LITERAL tag token to the content/attribute flags it
// stands for.
func literalFlags(b byte) byte {
	switch b {
	case tokLiteralC:
		return flagContent
	case tokLiteralA:
		return flagAttributes
	case tokLiteralAC:
		return flagContent | flagAttributes
	}
	return 0
}

func isLiteralTag(b byte) bool {
	return b == tokLiteral || b == tokLiteralC || b == tokLiteralA || b == tokLiteralAC
}

// content decodes one non-tag content token into el.
func (d *decoder) content(el *Element) error {
	at := d.pos
	b := d.in[d.pos]
	d.pos++
	switch b {
	case tokStrI:
		s, err := d.inlineString("STR_I")
		if err != nil {
			return err
		}
		t, err := d.text(s, at)
		if err != nil {
			return err
		}
		return d.addText(el, t, false, at)
	case tokStrT:
		idx, err := d.mbUint32("STR_T string-table index")
		if err != nil {
			return err
		}
		s, err := d.tableString(idx, at)
		if err != nil {
			return err
		}
		t, err := d.text(s, at)
		if err != nil {
			return err
		}
		return d.addText(el, t, false, at)
	case tokOpaque:
		s, err := d.opaque()
		if err != nil {
			return err
		}
		return d.addText(el, s, true, at)
	case tokEntity:
		c, err := d.mbUint32("ENTITY character code")
		if err != nil {
			return err
		}
		if c > utf8.MaxRune || !utf8.ValidRune(rune(c)) {
			return &SyntaxError{Offset: at, Msg: fmt.Sprintf("ENTITY %#x is not a Unicode character", c), Err: ErrMalformed}
		}
		return d.addText(el, utf8.AppendRune(nil, rune(c)), false, at)
	case tokPI:
		return d.skipAttributes("processing instruction")
	case tokExtI0, tokExtI1, tokExtI2, tokExtT0, tokExtT1, tokExtT2, tokExt0, tokExt1, tokExt2:
		d.pos = at
		return d.errf(ErrUnsupported, "extension token %#02x in <%s> (no extension is defined for this document type)", b, el.Name)
	default:
		d.pos = at
		return d.errf(ErrMalformed, "unexpected token %#02x in <%s>", b, el.Name)
	}
}
