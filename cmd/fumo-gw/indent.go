package main

import (
	"bytes"

	"github.com/beevik/etree"
)

// indent writes the XML document b with two-space indentation.
func indent(buf *bytes.Buffer, b []byte) error {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return err
	}
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true}
	doc.Indent(2)
	_, err := doc.WriteTo(buf)
	return err
}
