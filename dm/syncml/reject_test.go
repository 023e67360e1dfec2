package syncml

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/wbxml"
)

// A minimal valid message, and ways to break it.
const okHdr = `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>` +
	`<Target><LocURI>srv</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source></SyncHdr>`

func msgXML(body string) []byte {
	return []byte(`<SyncML xmlns="SYNCML:SYNCML1.2">` + okHdr + `<SyncBody>` + body + `</SyncBody></SyncML>`)
}

func TestDecodeXML_Rejects(t *testing.T) {
	deep := strings.Repeat("<Item>", 100_000) + strings.Repeat("</Item>", 100_000)
	many := strings.Repeat(`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>`, 20_000)
	tests := []struct {
		name string
		in   []byte
		want error
		msg  string // part of the error text: the place and what was expected
	}{
		{"syntax: unclosed", []byte(`<SyncML><SyncHdr></SyncML>`), ErrMalformed, "offset "},
		{"syntax: garbage", []byte(`<SyncML><</SyncML>`), ErrMalformed, "offset "},
		{"not SyncML", []byte(`<html/>`), ErrMalformed, "expected <SyncML>"},
		{"no SyncBody", []byte(`<SyncML>` + okHdr + `</SyncML>`), ErrMalformed, "missing <SyncHdr> or <SyncBody>"},
		{"two SyncHdr", []byte(`<SyncML>` + okHdr + okHdr + `<SyncBody/></SyncML>`), ErrMalformed, "second <SyncHdr>"},
		{"no VerDTD", []byte(`<SyncML><SyncHdr><VerProto>DM/1.2</VerProto></SyncHdr><SyncBody/></SyncML>`), ErrMalformed, "SyncML/SyncHdr: missing <VerDTD>"},
		{"unknown element in command", msgXML(`<Replace><CmdID>2</CmdID><Foo/><Item><Data>x</Data></Item></Replace>`), ErrMalformed, "SyncML/SyncBody/Replace/Foo: unexpected element"},
		{"unknown element in item", msgXML(`<Get><CmdID>2</CmdID><Item><Target><LocURI>.</LocURI></Target><Bar/></Item></Get>`), ErrMalformed, "Get/Item/Bar"},
		{"unknown element in meta", msgXML(`<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Meta><Colour>red</Colour></Meta></Item></Alert>`), ErrMalformed, "Item/Meta/Colour"},
		{"status code not a number", msgXML(`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>OK</Data></Status>`), ErrMalformed, "SyncML/SyncBody/Status/Data: \"OK\" is not a number"},
		{"which status", msgXML(`<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status><Status><CmdID>2</CmdID><CmdRef>1</CmdRef><Cmd>Alert</Cmd><Data>2x</Data></Status>`), ErrMalformed, "Status[2]/Data"},
		{"alert code not a number", msgXML(`<Alert><CmdID>1</CmdID><Data>12 26</Data></Alert>`), ErrMalformed, "Alert/Data"},
		{"NextNonce not base64", msgXML(`<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><NextNonce>@@@</NextNonce></Meta></Chal><Data>401</Data></Status>`), ErrMalformed, "NextNonce \"@@@\" is not base64"},
		{"Exec without Item", msgXML(`<Exec><CmdID>1</CmdID></Exec>`), ErrMalformed, "Exec: missing <Item>"},
		{"two Items in Exec", msgXML(`<Exec><CmdID>1</CmdID><Item><Target><LocURI>.</LocURI></Target></Item><Item><Target><LocURI>.</LocURI></Target></Item></Exec>`), ErrMalformed, "given twice"},
		{"command after Final", msgXML(`<Final/><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>`), ErrMalformed, "command after <Final>"},
		{"text in Final", msgXML(`<Final>yes</Final>`), ErrMalformed, "expected an empty element"},
		{"mixed content", msgXML(`<Alert>hello<CmdID>1</CmdID><Data>1201</Data></Alert>`), ErrMalformed, "text mixed with elements"},
		{"LocURI missing", []byte(strings.Replace(string(msgXML("")), `<LocURI>srv</LocURI>`, "", 1)), ErrMalformed, "Target: missing <LocURI>"},
		{"invalid UTF-8", msgXML("<Alert><CmdID>1</CmdID><Data>1201</Data><Item><Data>\xff\xfe</Data></Item></Alert>"), ErrMalformed, "UTF-8"},
		{"DOCTYPE declaring entities", []byte(`<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>` + string(msgXML(`<Alert><CmdID>1</CmdID><Data>1201</Data><Item><Data>&b;</Data></Item></Alert>`))), ErrMalformed, "DOCTYPE"},
		{"ISO-8859-1", append([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), msgXML("")...), ErrMalformed, "ISO-8859-1"},
		{"nested 100k deep", []byte(`<SyncML>` + deep + `</SyncML>`), ErrTooLarge, "nested deeper than 32"},
		{"too many elements", msgXML(many), ErrTooLarge, "more than 100000 elements"},
		{"over 4 MiB", msgXML(strings.Repeat(" ", 4<<20)), ErrTooLarge, "larger than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeXML(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("a message came back with the error")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestDecode_VersionError(t *testing.T) {
	for _, tt := range []struct {
		name, dtd, proto string
		status           int
	}{{"VerDTD 1.1", "1.1", "DM/1.2", 505}, {"VerProto DM/1.1", "1.2", "DM/1.1", 513}} {
		t.Run(tt.name, func(t *testing.T) {
			x := strings.Replace(strings.Replace(string(msgXML("<Final/>")), ">1.2</VerDTD>", ">"+tt.dtd+"</VerDTD>", 1), ">DM/1.2<", ">"+tt.proto+"<", 1)
			for _, enc := range []Encoding{EncodingXML, EncodingWBXML} {
				in := []byte(x)
				if enc == EncodingWBXML {
					m, _ := DecodeXML(in)
					in, _ = EncodeWBXML(m)
				}
				m, _, err := Decode(in)
				var ve *VersionError
				if !errors.Is(err, ErrUnsupportedVersion) || !errors.As(err, &ve) {
					t.Fatalf("%v: err %v", enc, err)
				}
				if ve.StatusCode() != tt.status || m == nil || m.Header.SessionID != "1" || m.Header.MsgID != "1" {
					t.Errorf("%v: status %d, message %+v", enc, ve.StatusCode(), m)
				}
			}
		})
	}
}

func TestDecode_UnknownCommandKept(t *testing.T) {
	m, err := DecodeXML(msgXML(`<Sync><CmdID>4</CmdID><Target><LocURI>db</LocURI></Target></Sync>` +
		`<Atomic><CmdID>5</CmdID><Map><CmdID>6</CmdID></Map></Atomic><Final/>`))
	if err != nil {
		t.Fatal(err)
	}
	u, ok := m.Body.Commands[0].(*Unknown)
	if !ok || u.Tag != "Sync" || u.CmdID != "4" {
		t.Fatalf("first command %#v", m.Body.Commands[0])
	}
	inner := m.Body.Commands[1].(*Atomic).Commands[0].(*Unknown)
	if inner.Tag != "Map" || inner.CmdID != "6" {
		t.Errorf("inner %#v", inner)
	}
	if _, err := EncodeWBXML(&Message{Header: m.Header, Body: Body{Commands: []Command{&Unknown{Tag: "Frob", CmdID: "1"}}}}); !errors.Is(err, ErrUnencodable) {
		t.Errorf("unknown tag off the code page: %v", err)
	}
}

func TestDecodeWBXML_Rejects(t *testing.T) {
	good, err := EncodeWBXML(mustXML(t, msgXML(`<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/>`)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		_, err := DecodeWBXML(good[:i])
		var de *DecodeError
		if !errors.Is(err, ErrMalformed) || !errors.As(err, &de) || de.Offset < 0 || de.Offset > i {
			t.Fatalf("cut at %d: %v", i, err)
		}
	}
	tests := []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"string-table index", []byte{0x02, 0x00, 0x07, 0x6A, 0x00, 0x6D}, ErrMalformed, "offset 2: wbxml: string-table index 7"},
		{"STR_I invalid UTF-8", []byte{0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6C, 0x71, 0x03, 0xC3, 0x28, 0x00, 0x01}, ErrMalformed, "offset 8: wbxml: string is not valid UTF-8"},
		{"deep", append([]byte{0x02, 0xA4, 0x01, 0x6A, 0x00}, bytes.Repeat([]byte{0x54}, 100_000)...), ErrTooLarge, "nested deeper than 32"},
		{"over the size limit", append(good, make([]byte, 4<<20)...), ErrTooLarge, "larger than the limit"},
		{"not SyncML", []byte{0x02, 0xA4, 0x01, 0x6A, 0x00, 0x14}, ErrMalformed, "root element <Item>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeWBXML(tt.in)
			if !errors.Is(err, tt.want) || m != nil {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func mustXML(t *testing.T, b []byte) *Message {
	t.Helper()
	m, err := DecodeXML(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEncodeXML_Unencodable(t *testing.T) {
	m := mustXML(t, msgXML(`<Final/>`))
	for _, data := range [][]byte{{0xFF, 0x00}, []byte("a\x01b"), []byte("\uFFFE")} {
		m.Body.Commands = []Command{&Replace{CmdID: "1", Items: []Item{{Target: &Location{LocURI: "./x"}, Data: data}}}}
		if _, err := EncodeXML(m); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%q: %v", data, err)
		}
		if _, err := EncodeWBXML(m); err != nil {
			t.Errorf("WBXML carries %q as OPAQUE, got %v", data, err)
		}
	}
	m.Body.Commands = []Command{nil}
	if _, err := EncodeXML(m); !errors.Is(err, ErrUnencodable) {
		t.Errorf("nil command: %v", err)
	}
	if _, err := Encode(m, Encoding(9)); !errors.Is(err, ErrUnencodable) {
		t.Errorf("bad encoding: %v", err)
	}
}

// TestDecode_Lenient: what real clients send and the decoders accept, each
// equal to the canonical form.
func TestDecode_Lenient(t *testing.T) {
	canonical := mustXML(t, msgXML(`<Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>c1</Correlator><Item>`+
		`<Source><LocURI>./FwUpdate/x</LocURI></Source><Meta><Type xmlns="syncml:metinf">t</Type>`+
		`<Format xmlns="syncml:metinf">int</Format></Meta><Data>200</Data></Item></Alert><Final/>`))
	tests := []struct {
		name string
		in   string
	}{
		{"children in any order", `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody><Alert><Correlator>c1</Correlator><Item><Data>200</Data><Meta><Format xmlns="syncml:metinf">int</Format><Type xmlns="syncml:metinf">t</Type></Meta><Source><LocURI>./FwUpdate/x</LocURI></Source></Item><Data>1226</Data><CmdID>3</CmdID></Alert><Final/></SyncBody>` +
			`<SyncHdr><Source><LocURI>IMEI:1</LocURI></Source><MsgID>1</MsgID><Target><LocURI>srv</LocURI></Target><SessionID>1</SessionID><VerProto>DM/1.2</VerProto><VerDTD>1.2</VerDTD></SyncHdr></SyncML>`},
		{"single quotes, no metinf namespace, declaration, BOM, whitespace", "\xEF\xBB\xBF\n<?xml version='1.0' encoding='UTF-8'?>\n<SyncML xmlns='SYNCML:SYNCML1.2'>\n  " + okHdr + "\n <SyncBody>\n  <Alert>\n   <CmdID> 3 </CmdID>\n   <Data>1226</Data><Correlator>c1</Correlator>\n   <Item><Source><LocURI>./FwUpdate/x</LocURI></Source><Meta><Type>t</Type><Format>int</Format></Meta><Data>200</Data></Item>\n  </Alert>\n  <Final/>\n </SyncBody>\n</SyncML>\n"},
		{"namespace prefixes and a MetInf wrapper", `<s:SyncML xmlns:s="SYNCML:SYNCML1.2" xmlns:m="syncml:metinf">` + okHdr + `<s:SyncBody><s:Alert><s:CmdID>3</s:CmdID><s:Data>1226</s:Data><s:Correlator>c1</s:Correlator><s:Item><s:Source><s:LocURI>./FwUpdate/x</s:LocURI></s:Source><s:Meta><m:MetInf><m:Type>t</m:Type><m:Format>int</m:Format><m:Mem><m:FreeMem>1</m:FreeMem></m:Mem></m:MetInf></s:Meta><s:Data>200</s:Data></s:Item></s:Alert><s:Final/></s:SyncBody></s:SyncML>`},
		{"CDATA data and a DOCTYPE naming the DTD", `<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">` + string(msgXML(`<Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>c1</Correlator><Item><Source><LocURI>./FwUpdate/x</LocURI></Source><Meta><Type>t</Type><Format>int</Format></Meta><Data><![CDATA[200]]></Data></Item></Alert><Final/>`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeXML([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if dump(m) != dump(canonical) {
				t.Errorf("got  %s\nwant %s", dump(m), dump(canonical))
			}
		})
	}
	bare, err := DecodeXML(msgXML(`<Alert><CmdID>2</CmdID><Data>1101</Data><Item><Data>MAXDT=15&DR=1</Data></Item></Alert>`))
	if err != nil || string(bare.Body.Commands[0].(*Alert).Items[0].Data) != "MAXDT=15&DR=1" {
		t.Errorf("bare ampersand: %v", err)
	}
}

// TestDecodeWBXML_AnyTextToken: every text may come as STR_I, STR_T or
// OPAQUE; an OPAQUE NextNonce is the raw nonce, an STR_I one is base64.
func TestDecodeWBXML_AnyTextToken(t *testing.T) {
	canonical := mustXML(t, msgXML(`<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>`+
		`<Chal><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">AAEC/w==</NextNonce></Meta></Chal><Data>401</Data></Status><Final/>`))
	var table []byte
	var rewrite func(e *element, mode int)
	rewrite = func(e *element, mode int) {
		if len(e.Text) > 0 {
			switch {
			case e.Name == "NextNonce" && mode != 0:
				e.Text, e.Opaque = []byte{0, 1, 2, 0xFF}, true // raw bytes
			case mode == 1:
				e.Opaque = true
			case mode == 2:
				// STR_T: an element named in the table; encode then patch below.
				table = append(table, e.Text...)
				table = append(table, 0)
			}
		}
		for _, c := range e.Children {
			rewrite(c, mode)
		}
	}
	for mode, name := range []string{"STR_I", "OPAQUE", "OPAQUE nonce with STR_T text"} {
		t.Run(name, func(t *testing.T) {
			r, _ := messageToTree(canonical)
			table = nil
			rewrite(r, mode)
			doc := &wbxml.Document{Header: wbxml.Header{Version: 2, PublicID: PublicID1_2, Charset: wbxml.CharsetUTF8, StringTable: table}, Root: r}
			b, err := wbxml.Encode(doc, codePages)
			if err != nil {
				t.Fatal(err)
			}
			if mode == 2 {
				b = strTextify(t, b, table)
			}
			m, err := DecodeWBXML(b)
			if err != nil {
				t.Fatal(err)
			}
			if dump(m) != dump(canonical) {
				t.Errorf("got  %s\nwant %s", dump(m), dump(canonical))
			}
		})
	}
}

// strTextify replaces each STR_I string of b that is in the string table
// with an STR_T reference to it.
func strTextify(t *testing.T, b, table []byte) []byte {
	hdr := 5 + len(table)
	if table != nil {
		hdr = 4 + len(wbxml.AppendMbUint32(nil, uint32(len(table)))) + len(table)
	}
	out := append([]byte(nil), b[:hdr]...)
	body := b[hdr:]
	for i := 0; i < len(body); i++ {
		if body[i] == 0x03 {
			end := bytes.IndexByte(body[i+1:], 0)
			s := body[i+1 : i+1+end]
			if idx := bytes.Index(table, append(append([]byte(nil), s...), 0)); idx >= 0 && len(s) > 0 {
				out = append(out, 0x83)
				out = wbxml.AppendMbUint32(out, uint32(idx))
				i += end + 1
				continue
			}
		}
		out = append(out, body[i])
	}
	if bytes.Equal(out, b) {
		t.Fatal("no STR_I was replaced")
	}
	return out
}
