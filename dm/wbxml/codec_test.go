package wbxml

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testPages are the SyncML DM code pages (the real table lives in
// dm/syncml; a copy keeps this package's tests self-contained).
var testPages = func() *CodePages {
	p0 := map[string]byte{}
	for i, n := range strings.Fields("Add Alert Archive Atomic Chal Cmd CmdID CmdRef Copy Cred Data Delete Exec Final Get Item Lang LocName LocURI Map MapItem Meta MsgID MsgRef NoResp NoResults Put Replace RespURI Results Search Sequence SessionID SftDel Source SourceRef Status Sync SyncBody SyncHdr SyncML Target TargetRef") {
		p0[n] = byte(0x05 + i)
	}
	for i, n := range strings.Fields("VerDTD VerProto NumberOfChanges MoreData Field Filter Record FilterType SourceParent TargetParent Move Correlator") {
		p0[n] = byte(0x31 + i)
	}
	p1 := map[string]byte{}
	for i, n := range strings.Fields("Anchor EMI Format FreeID FreeMem Last Mark MaxMsgSize Mem MetInf Next NextNonce SharedMem Size Type Version MaxObjSize FieldLevel") {
		p1[n] = byte(0x05 + i)
	}
	cp, err := NewCodePages(Page{Number: 0, Tags: p0}, Page{Number: 1, Tags: p1})
	if err != nil {
		panic(err)
	}
	return cp
}()

func readVectors(t testing.TB) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob("testdata/*.wbxml")
	if len(files) != 10 {
		t.Fatalf("found %d vectors, want 10", len(files))
	}
	vs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vs[filepath.Base(f)] = b
	}
	return vs
}

// stripOffsets clears Offset so trees from different inputs compare equal.
func stripOffsets(e *Element) {
	e.Offset = 0
	for _, c := range e.Children {
		stripOffsets(c)
	}
}

func find(e *Element, name string) *Element {
	if e.Name == name {
		return e
	}
	for _, c := range e.Children {
		if f := find(c, name); f != nil {
			return f
		}
	}
	return nil
}

func TestCodec_Vectors(t *testing.T) {
	for name, b := range readVectors(t) {
		t.Run(name, func(t *testing.T) {
			doc, err := Decode(b, testPages, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			h := doc.Header
			if h.Version != 2 || h.Charset != CharsetUTF8 || doc.Root.Name != "SyncML" {
				t.Errorf("header %+v root %s", h, doc.Root.Name)
			}
			if strings.HasPrefix(name, "test") {
				if h.PublicID != 0 || !strings.HasPrefix(h.PublicIDText, "-//SYNCML//DTD SyncML 1.") {
					t.Errorf("aosp public id: %d %q", h.PublicID, h.PublicIDText)
				}
			} else if h.PublicID != 0x1201 {
				t.Errorf("public id %#x", h.PublicID)
			}
			if v := find(doc.Root, "VerDTD"); v == nil || string(v.Text) != "1.2" {
				t.Errorf("VerDTD %+v", v)
			}
			if m := find(doc.Root, "MaxMsgSize"); m != nil && m.Page != 1 {
				t.Errorf("MaxMsgSize on page %d", m.Page)
			}
			// encode -> decode gives the same tree; encode is a fixpoint.
			out, err := Encode(&Document{Header: Header{Version: 2, PublicID: 0x1201, Charset: CharsetUTF8}, Root: doc.Root}, testPages)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(out, testPages, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			stripOffsets(doc.Root)
			stripOffsets(back.Root)
			normalizeEmpty(doc.Root)
			normalizeEmpty(back.Root)
			if !reflect.DeepEqual(doc.Root, back.Root) {
				t.Error("round trip changed the tree")
			}
			again, _ := Encode(back, testPages)
			if !bytes.Equal(again, out) {
				t.Error("encode is not a fixpoint")
			}
		})
	}
}

func TestCodec_OpaqueItemData(t *testing.T) {
	doc, err := Decode(readVectors(t)["c2s-pkg1-md5.wbxml"], testPages, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := find(doc.Root, "Data")
	if d == nil {
		t.Fatal("no Data")
	}
	var item *Element
	for _, c := range find(doc.Root, "Replace").Children {
		if c.Name == "Item" {
			item = c
			break
		}
	}
	data := item.Children[len(item.Children)-1]
	if data.Name != "Data" || !data.Opaque || string(data.Text) != "IMEI:493005100592800" {
		t.Errorf("item data %+v", data)
	}
}

// doc builds a WBXML document: header bytes for version 2, public id 0x1201,
// UTF-8, the given string table, then body.
func docBytes(table string, body ...byte) []byte {
	b := []byte{0x02, 0xA4, 0x01, 0x6A}
	b = AppendMbUint32(b, uint32(len(table)))
	b = append(b, table...)
	return append(b, body...)
}

// SyncML=0x2D Target=0x2E LocURI=0x17 Meta=0x1A; page 1: Type=0x13 Format=0x07.
func TestCodec_Tokens(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		check func(t *testing.T, d *Document)
	}{
		{"STR_T", docBytes("ab\x00cd\x00", 0x6D, 0x57, 0x83, 0x03, 0x01, 0x01), func(t *testing.T, d *Document) {
			if got := string(d.Root.Children[0].Text); got != "cd" {
				t.Errorf("text %q", got)
			}
		}},
		{"ENTITY and mixed pieces", docBytes("", 0x6D, 0x57, 0x03, 'a', 0x00, 0x02, 0x81, 0x63, 0x01, 0x01), func(t *testing.T, d *Document) {
			if got := string(d.Root.Children[0].Text); got != "a\u00e3" {
				t.Errorf("text %q", got)
			}
		}},
		{"page kept across END", docBytes("", 0x6D, 0x5A, 0x00, 0x01, 0x53, 0x03, 'x', 0x00, 0x01, 0x47, 0x03, 'y', 0x00, 0x01, 0x01, 0x00, 0x00, 0x57, 0x03, 'z', 0x00, 0x01, 0x01), func(t *testing.T, d *Document) {
			m := d.Root.Children[0]
			if m.Name != "Meta" || m.Children[0].Name != "Type" || m.Children[1].Name != "Format" || m.Children[1].Page != 1 {
				t.Errorf("meta %+v", m.Children)
			}
			if l := d.Root.Children[1]; l.Name != "LocURI" || l.Page != 0 {
				t.Errorf("after switching back: %+v", l)
			}
		}},
		{"attributes skipped, attribute SWITCH_PAGE does not move tags", docBytes("v\x00", 0x6D, 0xD7, 0x05, 0x03, 'x', 0x00, 0x00, 0x01, 0x83, 0x00, 0x85, 0xC3, 0x01, 0xFF, 0x01, 0x03, 'u', 0x00, 0x01, 0x57, 0x03, 'w', 0x00, 0x01, 0x01), func(t *testing.T, d *Document) {
			if len(d.Root.Children) != 2 || string(d.Root.Children[0].Text) != "u" || d.Root.Children[1].Name != "LocURI" {
				t.Errorf("children %+v", d.Root.Children)
			}
		}},
		{"PI before root, in content and after root", append([]byte{0x02, 0xA4, 0x01, 0x6A, 0x00, 0x43, 0x05, 0x03, 'p', 0x00, 0x01}, 0x6D, 0x43, 0x05, 0x01, 0x57, 0x03, 'a', 0x00, 0x01, 0x01, 0x43, 0x05, 0x01), func(t *testing.T, d *Document) {
			if string(d.Root.Children[0].Text) != "a" {
				t.Errorf("%+v", d.Root.Children)
			}
		}},
		{"LITERAL_C tag", docBytes("Foo\x00", 0x6D, 0x44, 0x00, 0x03, 'a', 0x00, 0x01, 0x01), func(t *testing.T, d *Document) {
			if c := d.Root.Children[0]; c.Name != "Foo" || string(c.Text) != "a" {
				t.Errorf("%+v", c)
			}
		}},
		{"OPAQUE with invalid UTF-8 kept", docBytes("", 0x6D, 0x57, 0xC3, 0x02, 0xFF, 0xFE, 0x01, 0x01), func(t *testing.T, d *Document) {
			if c := d.Root.Children[0]; !c.Opaque || !bytes.Equal(c.Text, []byte{0xFF, 0xFE}) {
				t.Errorf("%+v", c)
			}
		}},
		{"latin-1 converted", []byte{0x02, 0xA4, 0x01, 0x04, 0x00, 0x6D, 0x57, 0x03, 0xE9, 0x00, 0x01, 0x01}, func(t *testing.T, d *Document) {
			if got := string(d.Root.Children[0].Text); got != "é" {
				t.Errorf("%q", got)
			}
		}},
		{"public id in string table", []byte{0x01, 0x00, 0x00, 0x6A, 0x03, 'I', 'D', 0x00, 0x2D}, func(t *testing.T, d *Document) {
			if d.Header.PublicIDText != "ID" || d.Header.Version != 1 || d.Root.Name != "SyncML" {
				t.Errorf("%+v", d.Header)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decode(tt.in, testPages, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
		})
	}
}

func TestCodec_BadInput(t *testing.T) {
	nested := func(n int) []byte {
		b := docBytes("")
		for i := 0; i < n; i++ {
			b = append(b, 0x54) // <Item> with content
		}
		return b
	}
	amplify := docBytes(strings.Repeat("x", 1024)+"\x00", 0x6D)
	for i := 0; i < 100_000; i++ {
		amplify = append(amplify, 0x83, 0x00)
	}
	many := docBytes("", 0x6D)
	for i := 0; i < 70_000; i++ {
		many = append(many, 0x12) // <Final/>
	}
	tests := []struct {
		name   string
		in     []byte
		want   error
		offset int
	}{
		{"empty", nil, ErrTruncated, 0},
		{"version 0", []byte{0x00, 0x01, 0x6A, 0x00}, ErrUnsupported, 0},
		{"version 4", []byte{0x04, 0x01, 0x6A, 0x00}, ErrUnsupported, 0},
		{"mb_u_int32 over 5 bytes", []byte{0x02, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01}, ErrMalformed, 1},
		{"mb_u_int32 over 32 bits", []byte{0x02, 0x9F, 0xFF, 0xFF, 0xFF, 0x7F}, ErrMalformed, 1},
		{"charset unsupported", []byte{0x02, 0x01, 0x81, 0x7C, 0x00}, ErrUnsupported, 4},
		{"string table beyond end", []byte{0x02, 0x01, 0x6A, 0x7F, 0x00}, ErrTruncated, 4},
		{"public id index out of range", []byte{0x02, 0x00, 0x09, 0x6A, 0x00, 0x2D}, ErrMalformed, 2},
		{"STR_T index out of range", docBytes("a\x00", 0x6D, 0x57, 0x83, 0x05, 0x01, 0x01), ErrMalformed, 9},
		{"LITERAL index out of range", docBytes("", 0x6D, 0x04, 0x03, 0x01), ErrMalformed, 6},
		{"OPAQUE length beyond end", docBytes("", 0x6D, 0x57, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F), ErrTruncated, 13},
		{"STR_I without NUL", docBytes("", 0x6D, 0x57, 0x03, 'a', 'b'), ErrTruncated, 8},
		{"invalid UTF-8 in STR_I", docBytes("", 0x6D, 0x57, 0x03, 0xFF, 0x00, 0x01, 0x01), ErrMalformed, 7},
		{"invalid UTF-8 in STR_T", docBytes("\xC0\x00", 0x6D, 0x57, 0x83, 0x00, 0x01, 0x01), ErrMalformed, 9},
		{"unknown tag", docBytes("", 0x6D, 0x7F, 0x01, 0x01), ErrUnknownTag, 6},
		{"unknown page", docBytes("", 0x00, 0x07, 0x6D), ErrUnknownTag, 7},
		{"END outside element", docBytes("", 0x01), ErrMalformed, 5},
		{"trailing garbage", docBytes("", 0x2D, 0x2D), ErrMalformed, 6},
		{"missing END", docBytes("", 0x6D, 0x57), ErrTruncated, 7},
		{"extension token", docBytes("", 0x6D, 0xC0, 0x01), ErrUnsupported, 6},
		{"ENTITY not a character", docBytes("", 0x6D, 0x02, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01), ErrMalformed, 6},
		{"nested beyond MaxDepth", nested(100_000), ErrLimit, 69},
		{"elements beyond MaxElements", many, ErrLimit, 65541},
		{"STR_T amplification", amplify, ErrLimit, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in, testPages, Limits{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%T is not a *SyntaxError", err)
			}
			if tt.offset >= 0 && se.Offset != tt.offset {
				t.Errorf("offset %d, want %d (%v)", se.Offset, tt.offset, err)
			}
		})
	}
}

// TestCodec_TruncatedEverywhere: every prefix of every vector is an error,
// never a panic.
func TestCodec_TruncatedEverywhere(t *testing.T) {
	for name, b := range readVectors(t) {
		for i := 0; i < len(b); i++ {
			if _, err := Decode(b[:i], testPages, Limits{}); err == nil {
				t.Fatalf("%s cut at %d decoded", name, i)
			}
		}
	}
}

func TestCodec_HugeOpaqueDoesNotAllocate(t *testing.T) {
	in := docBytes("", 0x6D, 0x57, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F)
	allocs := testing.AllocsPerRun(10, func() { Decode(in, testPages, Limits{}) })
	if allocs > 20 {
		t.Errorf("%v allocations for a 4 GiB OPAQUE claim", allocs)
	}
}

func TestCodec_EncodeErrors(t *testing.T) {
	root := &Element{Name: "SyncML"}
	tests := []struct {
		name string
		doc  *Document
	}{
		{"bad version", &Document{Header: Header{Version: 9, PublicID: 1, Charset: CharsetUTF8}, Root: root}},
		{"non UTF-8 charset", &Document{Header: Header{Version: 2, PublicID: 1, Charset: CharsetLatin1}, Root: root}},
		{"no root", &Document{Header: Header{Version: 2, PublicID: 1, Charset: CharsetUTF8}}},
		{"unknown tag", &Document{Header: Header{Version: 2, PublicID: 1, Charset: CharsetUTF8}, Root: &Element{Name: "Nope"}}},
		{"tag on wrong page", &Document{Header: Header{Version: 2, PublicID: 1, Charset: CharsetUTF8}, Root: &Element{Page: 1, Name: "SyncML"}}},
		{"public id text not in table", &Document{Header: Header{Version: 2, Charset: CharsetUTF8, PublicIDText: "X"}, Root: root}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(tt.doc, testPages); err == nil {
				t.Error("encoded")
			}
		})
	}
	// Text with a NUL goes as OPAQUE; a public id from the string table is written as a reference.
	d := &Document{Header: Header{Version: 3, Charset: CharsetUTF8, PublicIDText: "ID", StringTable: []byte("ID\x00")},
		Root: &Element{Name: "SyncML", Children: []*Element{{Name: "LocURI", Text: []byte("a\x00b")}}}}
	out, err := Encode(d, testPages)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x03, 0x00, 0x00, 0x6A, 0x03, 'I', 'D', 0x00, 0x6D, 0x57, 0xC3, 0x03, 'a', 0x00, 'b', 0x01, 0x01}; !bytes.Equal(out, want) {
		t.Errorf("got % x\nwant % x", out, want)
	}
}

func TestAppendMbUint32(t *testing.T) {
	for _, tt := range []struct {
		v    uint32
		want []byte
	}{{0, []byte{0}}, {0x7F, []byte{0x7F}}, {0x80, []byte{0x81, 0x00}}, {0x1201, []byte{0xA4, 0x01}}, {0xFFFFFFFF, []byte{0x8F, 0xFF, 0xFF, 0xFF, 0x7F}}} {
		if got := AppendMbUint32(nil, tt.v); !bytes.Equal(got, tt.want) {
			t.Errorf("%#x: % x, want % x", tt.v, got, tt.want)
		}
	}
}

func TestNewCodePages_Errors(t *testing.T) {
	if _, err := NewCodePages(Page{Tags: map[string]byte{"A": 0x04}}); err == nil {
		t.Error("token 0x04 accepted")
	}
	if _, err := NewCodePages(Page{Tags: map[string]byte{"A": 0x05, "B": 0x05}}); err == nil {
		t.Error("duplicate token accepted")
	}
}

func FuzzDecodeDocument(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.wbxml")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Decode(b, testPages, Limits{})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(b) {
				t.Fatalf("error %v without a sane offset", err)
			}
			return
		}
		doc.Header = Header{Version: 2, PublicID: 0x1201, Charset: CharsetUTF8}
		out, err := Encode(doc, testPages)
		if err != nil {
			return // LITERAL tags have names the pages do not know
		}
		back, err := Decode(out, testPages, Limits{})
		if err != nil {
			t.Fatalf("our own encoding does not decode: %v", err)
		}
		stripOffsets(doc.Root)
		stripOffsets(back.Root)
		normalizeEmpty(doc.Root)
		normalizeEmpty(back.Root)
		if !reflect.DeepEqual(doc.Root, back.Root) {
			t.Fatalf("round trip changed the tree")
		}
	})
}

// normalizeEmpty makes nil and empty text (and Opaque on empty text) equal,
// and marks text holding a NUL as Opaque, as Encode writes it.
func normalizeEmpty(e *Element) {
	if len(e.Text) == 0 {
		e.Text, e.Opaque = nil, false
	}
	if bytes.IndexByte(e.Text, 0) >= 0 {
		e.Opaque = true
	}
	if len(e.Children) == 0 {
		e.Children = nil
	}
	for _, c := range e.Children {
		normalizeEmpty(c)
	}
}

func BenchmarkDecodeDocument(b *testing.B) {
	in := readVectors(b)["s2c-pkg2-fumo.wbxml"]
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in, testPages, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDocument(b *testing.B) {
	doc, err := Decode(readVectors(b)["s2c-pkg2-fumo.wbxml"], testPages, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	out, _ := Encode(doc, testPages)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(doc, testPages); err != nil {
			b.Fatal(err)
		}
	}
}
