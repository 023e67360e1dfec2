// Package wbxml owns the WBXML 1.1–1.3 binary XML format (WAP-192): the
// document header, the global tokens, and the tag code pages that a caller
// (such as dm/syncml) supplies.
//
// Decode turns bytes into a small element tree (Element) and never panics:
// every length and index is checked against the input, depth and element
// counts are bounded by Limits, and an error names the byte offset where it
// failed. Encode writes an Element tree back with STR_I and OPAQUE text.
//
// Attributes are not used by SyncML; the decoder skips them token by token
// so that a document carrying them still decodes. Text arrives as STR_I
// (inline), STR_T (string-table reference), ENTITY or OPAQUE; an element
// whose text came as OPAQUE is marked so the caller can tell raw bytes from
// text.
//
// The package is pure: bytes in, values out, no I/O.
package wbxml
