package wbxml_test

import (
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/wbxml"
)

// Decoding a tiny document with a one-page code space: <Msg><Text>hi</Text></Msg>.
func ExampleDecode() {
	pages, _ := wbxml.NewCodePages(wbxml.Page{Number: 0, Tags: map[string]byte{"Msg": 0x05, "Text": 0x06}})
	in := []byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x46, 0x03, 'h', 'i', 0x00, 0x01, 0x01}
	doc, err := wbxml.Decode(in, pages, wbxml.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Root.Name, doc.Root.Children[0].Name, string(doc.Root.Children[0].Text))
	_, err = wbxml.Decode(in[:8], pages, wbxml.Limits{})
	fmt.Println(err)
	// Output:
	// Msg Text hi
	// wbxml: offset 7: STR_I: inline string without terminating NUL: unexpected end of input
}

// Encoding writes STR_I text, or OPAQUE for raw bytes.
func ExampleEncode() {
	pages, _ := wbxml.NewCodePages(wbxml.Page{Number: 0, Tags: map[string]byte{"Msg": 0x05, "Text": 0x06}})
	doc := &wbxml.Document{
		Header: wbxml.Header{Version: 0x03, PublicID: 1, Charset: wbxml.CharsetUTF8},
		Root: &wbxml.Element{Name: "Msg", Children: []*wbxml.Element{
			{Name: "Text", Text: []byte("hi")},
			{Name: "Text", Text: []byte{0xFF}, Opaque: true},
		}},
	}
	out, err := wbxml.Encode(doc, pages)
	fmt.Printf("% x %v\n", out, err)
	// Output: 03 01 6a 00 45 46 03 68 69 00 01 46 c3 01 ff 01 01 <nil>
}
