package wbxml

import "fmt"

// Page is one tag code page: the token (0x05–0x3F) of each tag name.
type Page struct {
	Number byte
	Tags   map[string]byte
}

// CodePages maps tag tokens to names and back across several pages. Build it
// once with NewCodePages and share it; it is read-only afterwards.
type CodePages struct {
	names     map[uint16]string // page<<8 | token -> name
	tokens    map[pageName]byte // page, name -> token
	firstPage map[string]byte   // name -> lowest-numbered page defining it
}

type pageName struct {
	page byte
	name string
}

// NewCodePages indexes the pages. A token outside 0x05–0x3F or defined twice
// on one page is an error.
func NewCodePages(pages ...Page) (*CodePages, error) {
	cp := &CodePages{
		names:     make(map[uint16]string),
		tokens:    make(map[pageName]byte),
		firstPage: make(map[string]byte),
	}
	for _, p := range pages {
		for name, tok := range p.Tags {
			if tok < 0x05 || tok > 0x3F {
				return nil, fmt.Errorf("wbxml: page %d tag %s: token %#x outside 0x05-0x3F", p.Number, name, tok)
			}
			key := uint16(p.Number)<<8 | uint16(tok)
			if other, dup := cp.names[key]; dup {
				return nil, fmt.Errorf("wbxml: page %d token %#x: both %s and %s", p.Number, tok, other, name)
			}
			cp.names[key] = name
			cp.tokens[pageName{p.Number, name}] = tok
			if first, seen := cp.firstPage[name]; !seen || p.Number < first {
				cp.firstPage[name] = p.Number
			}
		}
	}
	return cp, nil
}

// Name returns the tag name of token on page.
func (cp *CodePages) Name(page, token byte) (string, bool) {
	n, ok := cp.names[uint16(page)<<8|uint16(token)]
	return n, ok
}

// Token returns the token of name on page.
func (cp *CodePages) Token(page byte, name string) (byte, bool) {
	t, ok := cp.tokens[pageName{page, name}]
	return t, ok
}

// PageOf returns the lowest-numbered page that defines name, for callers
// (such as an XML reader) that know only the name.
func (cp *CodePages) PageOf(name string) (byte, bool) {
	p, ok := cp.firstPage[name]
	return p, ok
}
