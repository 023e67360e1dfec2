package wbxml

// Header is the WBXML document header.
type Header struct {
	// Version is the WBXML version byte: 0x01, 0x02 or 0x03 for 1.1–1.3.
	Version byte
	// PublicID is the well-known document type (0x1201 for SyncML 1.2), or 0
	// when the type is named by PublicIDText.
	PublicID uint32
	// PublicIDText is the formal public identifier found in the string table
	// when PublicID is 0 (e.g. "-//SYNCML//DTD SyncML 1.2//EN").
	PublicIDText string
	// Charset is the IANA MIBenum of the document's strings (106 = UTF-8).
	Charset uint32
	// StringTable is the raw string table (NUL-terminated strings).
	StringTable []byte
}
