package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// syncmlVerbs are the syncml verbs and what they do.
var syncmlVerbs = map[string]string{
	"decode": "Print a SyncML DM message (XML or WBXML, detected) as indented XML on stdout",
	"encode": "Write a SyncML DM message (XML or WBXML, detected) as WBXML on stdout",
}

const syncmlUsage = `usage: fumo-gw syncml decode|encode FILE ("-" for standard input)

  decode  print a message (XML or WBXML, detected) as indented XML
  encode  write a message (XML or WBXML, detected) as WBXML
`

// runSyncML is the capture-debugging tool: decode prints a message as
// indented XML, encode writes it as WBXML.
func runSyncML(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && isHelp(args[0]):
		fmt.Fprint(stdout, syncmlUsage)
		return 0
	case len(args) == 2 && syncmlVerbs[args[0]] != "" && isHelp(args[1]):
		fmt.Fprintf(stdout, "usage: fumo-gw syncml %s FILE (\"-\" for standard input; ./-h for a file named -h)\n\n%s.\n", args[0], syncmlVerbs[args[0]])
		return 0
	case len(args) != 2 || syncmlVerbs[args[0]] == "":
		fmt.Fprint(stderr, syncmlUsage)
		return 2
	}
	in, err := readInput(args[1], stdin)
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw: %v\n", err)
		return 1
	}
	m, enc, err := syncml.Decode(in)
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw: %s: %v\n", args[1], err)
		return 1
	}
	var out []byte
	if args[0] == "decode" {
		out, err = syncml.EncodeXML(m)
		if errors.Is(err, syncml.ErrUnencodable) && binaryToB64(m) > 0 {
			fmt.Fprintln(stderr, "fumo-gw: note: binary Item Data shown as base64 (Format b64)")
			out, err = syncml.EncodeXML(m)
		}
		if err == nil {
			out, err = indentXML(out)
		}
	} else {
		out, err = syncml.EncodeWBXML(m)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw: %s (%v): %v\n", args[1], enc, err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "fumo-gw: %v\n", err)
		return 1
	}
	return 0
}

// maxInput bounds what the tool reads: one byte over the codec's limit is
// enough for the codec to say the message is too large.
const maxInput = 4<<20 + 1

func readInput(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return io.ReadAll(io.LimitReader(r, maxInput))
}

// indentXML re-reads our own one-line XML and writes it indented for people.
func indentXML(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := indent(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// binaryToB64 rewrites Item Data that XML cannot carry as base64 with Format
// b64, the way DM carries binary data in XML. It returns how many items changed.
func binaryToB64(m *syncml.Message) int {
	n := 0
	fix := func(items []syncml.Item) {
		for i := range items {
			it := &items[i]
			if it.Data == nil || xmlSafe(it.Data) {
				continue
			}
			if it.Meta == nil {
				it.Meta = &syncml.Meta{}
			}
			it.Meta.Format = "b64"
			it.Data = []byte(base64.StdEncoding.EncodeToString(it.Data))
			n++
		}
	}
	var walk func([]syncml.Command)
	walk = func(cmds []syncml.Command) {
		for _, c := range cmds {
			switch c := c.(type) {
			case *syncml.Add:
				fix(c.Items)
			case *syncml.Replace:
				fix(c.Items)
			case *syncml.Delete:
				fix(c.Items)
			case *syncml.Get:
				fix(c.Items)
			case *syncml.Copy:
				fix(c.Items)
			case *syncml.Alert:
				fix(c.Items)
			case *syncml.Results:
				fix(c.Items)
			case *syncml.Status:
				fix(c.Items)
			case *syncml.Exec:
				items := []syncml.Item{c.Item}
				fix(items)
				c.Item = items[0]
			case *syncml.Sequence:
				walk(c.Commands)
			case *syncml.Atomic:
				walk(c.Commands)
			}
		}
	}
	walk(m.Body.Commands)
	return n
}

// xmlSafe reports whether XML text can carry b unchanged.
func xmlSafe(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}
