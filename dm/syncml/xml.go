package syncml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// DecodeXML decodes an XML SyncML DM message with DefaultLimits.
func DecodeXML(b []byte) (*Message, error) { return DefaultLimits.DecodeXML(b) }

// DecodeXML decodes an XML SyncML DM message within l. Namespaces are not
// checked (clients quote them either way, or leave out the metinf one); a
// DOCTYPE may name the SyncML DTD but must not declare anything; bare '&'
// that starts no entity is kept as text, as some clients send it in UI alert
// options ("MAXDT=15&DR=1").
func (l Limits) DecodeXML(b []byte) (*Message, error) {
	l = l.withDefaults()
	if err := l.checkSize(b); err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, utf8BOM)
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{Permissive: true, MaxDepth: l.MaxDepth, CharsetReader: charsetReader}
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, xmlSyntaxError(b, err, l)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Directive:
			if err := checkDirective(t.Data); err != nil {
				return nil, err
			}
		case *etree.Element:
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, &DecodeError{Offset: -1, Msg: "text outside the root element", Err: ErrMalformed}
			}
		}
	}
	if root == nil {
		return nil, &DecodeError{Offset: len(b), Msg: "expected a root element", Err: ErrMalformed}
	}
	count := 0
	tree, err := fromEtree(root, &count, l.MaxElements)
	if err != nil {
		return nil, rooted(err)
	}
	return messageFromTree(tree)
}

// checkDirective accepts <!DOCTYPE SyncML PUBLIC "..." "..."> and refuses an
// internal subset: entity declarations are a classic amplification attack,
// and nothing in SyncML needs them.
func checkDirective(d string) error {
	if strings.ContainsAny(d, "[<") || strings.Contains(strings.ToUpper(d), "ENTITY") {
		return &DecodeError{Offset: -1, Msg: "DOCTYPE with an internal subset or entity declarations is not accepted", Err: ErrMalformed}
	}
	return nil
}

// charsetReader accepts the XML declaration's encoding when it is UTF-8 (or
// its ASCII subset); a client announcing anything else is refused rather than
// misread.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported (UTF-8 only)", charset)
}

// xmlSyntaxError turns an etree error into a DecodeError with the byte
// offset where the standard decoder stops on the same input.
func xmlSyntaxError(b []byte, err error, l Limits) error {
	sentinel := ErrMalformed
	if errors.Is(err, etree.ErrMaxDepth) {
		sentinel = ErrTooLarge
		err = fmt.Errorf("elements nested deeper than %d", l.MaxDepth)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	dec.CharsetReader = charsetReader
	depth := 0
	offset := int(-1)
	for {
		tok, terr := dec.RawToken()
		if terr != nil {
			if terr != io.EOF {
				offset = int(dec.InputOffset())
			}
			break
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > l.MaxDepth {
				offset = int(dec.InputOffset())
			}
		case xml.EndElement:
			depth--
		}
		if offset >= 0 {
			break
		}
	}
	if offset < 0 {
		offset = len(b)
	}
	msg := strings.TrimPrefix(err.Error(), "XML syntax error on ")
	if errors.Is(err, etree.ErrXML) {
		msg = "unbalanced or unexpected element"
	}
	return &DecodeError{Offset: offset, Msg: "xml: " + msg, Err: sentinel}
}

// fromEtree converts the etree element to the codec's element tree. Inside
// Data, nested elements are kept as their XML text.
func fromEtree(x *etree.Element, count *int, max int) (*element, error) {
	*count++
	if *count > max {
		return nil, &DecodeError{Offset: -1, Msg: fmt.Sprintf("more than %d elements", max), Err: ErrTooLarge}
	}
	e := &element{Name: x.Tag, Offset: -1}
	if p, ok := codePages.PageOf(x.Tag); ok {
		e.Page = p
	}
	if x.Tag == "Data" && len(x.ChildElements()) > 0 {
		var buf bytes.Buffer
		for _, t := range x.Child {
			t.WriteTo(&buf, &etree.WriteSettings{CanonicalText: true})
		}
		e.Text = buf.Bytes()
		return e, nil
	}
	var textBuf []byte
	hasText := false
	for _, t := range x.Child {
		switch t := t.(type) {
		case *etree.Element:
			c, err := fromEtree(t, count, max)
			if err != nil {
				if de, ok := err.(*DecodeError); ok && x.Parent() != nil {
					return nil, prefixPath(de, t.Tag)
				}
				return nil, err
			}
			e.Children = append(e.Children, c)
		case *etree.CharData:
			textBuf = append(textBuf, t.Data...)
			hasText = hasText || !t.IsWhitespace()
		}
	}
	if len(e.Children) > 0 {
		if hasText {
			return nil, malformed(e, "text mixed with elements in <%s>", e.Name)
		}
		return e, nil
	}
	e.Text = textBuf
	return e, nil
}

// EncodeXML writes m as XML: an XML declaration, the SyncML 1.2 namespace on
// the root and the metinf namespace on each MetInf element, no indentation.
// Text that XML cannot carry (invalid UTF-8, control characters, binary
// Item Data) is an ErrUnencodable error: send such data as Format b64.
func EncodeXML(m *Message) ([]byte, error) {
	root, err := messageToTree(m)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true}
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	x, err := toEtree(root, "")
	if err != nil {
		return nil, err
	}
	x.CreateAttr("xmlns", NamespaceSyncML)
	doc.SetRoot(x)
	return doc.WriteToBytes()
}

func toEtree(e *element, path string) (*etree.Element, error) {
	path += "/" + e.Name
	x := etree.NewElement(e.Name)
	if e.Page == PageMetInf {
		x.CreateAttr("xmlns", NamespaceMetInf)
	}
	if len(e.Text) > 0 {
		if i := invalidXMLText(e.Text); i >= 0 {
			return nil, fmt.Errorf("syncml: encode xml: %s: byte %d of the text cannot be written in XML (binary data needs Format b64): %w",
				strings.TrimPrefix(path, "/"), i, ErrUnencodable)
		}
		x.SetText(string(e.Text))
	}
	for _, c := range e.Children {
		cx, err := toEtree(c, path)
		if err != nil {
			return nil, err
		}
		x.AddChild(cx)
	}
	return x, nil
}

// invalidXMLText returns the offset of the first byte that XML 1.0 text
// cannot hold (invalid UTF-8, a control character other than tab, LF, CR,
// U+FFFE/U+FFFF), or -1.
func invalidXMLText(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			return i
		}
		i += n
	}
	return -1
}
