package wbxml

// Global tokens (WAP-192 section 7.1), the same on every code page.
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokEntity     = 0x02
	tokStrI       = 0x03
	tokLiteral    = 0x04
	tokExtI0      = 0x40
	tokExtI1      = 0x41
	tokExtI2      = 0x42
	tokPI         = 0x43
	tokLiteralC   = 0x44
	tokExtT0      = 0x80
	tokExtT1      = 0x81
	tokExtT2      = 0x82
	tokStrT       = 0x83
	tokLiteralA   = 0x84
	tokExt0       = 0xC0
	tokExt1       = 0xC1
	tokExt2       = 0xC2
	tokOpaque     = 0xC3
	tokLiteralAC  = 0xC4

	flagContent    = 0x40 // tag has content, closed by END
	flagAttributes = 0x80 // tag has attributes, closed by END
	tagMask        = 0x3F
)

// Charsets (IANA MIBenum) the decoder understands.
const (
	CharsetUnknown = 0
	CharsetASCII   = 3
	CharsetLatin1  = 4
	CharsetUTF8    = 106
)

// isGlobal reports whether b is a global token rather than a tag or
// attribute token: the low six bits of every global token are below 5.
func isGlobal(b byte) bool { return b&tagMask < 0x05 }
