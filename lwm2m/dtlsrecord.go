package lwm2m

import "encoding/binary"

// DTLS record framing (RFC 6347 §4.1): a datagram holds one or more
// records, each a 13-byte header (content type, version, epoch, sequence
// number, length) and length bytes of fragment. A handshake record's
// fragment starts with the handshake message type.
const (
	recordHeaderLen      = 13
	contentTypeHandshake = 22
	handshakeClientHello = 1
)

// DTLS 1.2 and 1.0 as record-layer versions: the two pion/dtls v3.1.15
// accepts (recordlayer.Header.Unmarshal).
const (
	dtls12Minor = 0xfd
	dtls10Minor = 0xff
)

// wholeRecords tells whether b is a sequence of whole records, as
// pion/dtls's recordlayer.UnpackDatagram frames it: no datagram is empty,
// and a record ending the datagram has a fragment of at least one byte.
func wholeRecords(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for off := 0; off < len(b); {
		if len(b)-off <= recordHeaderLen {
			return false
		}
		end := off + recordHeaderLen + int(binary.BigEndian.Uint16(b[off+11:]))
		if end > len(b) {
			return false
		}
		off = end
	}
	return true
}

// rewriteRecordVersion makes the ClientHello records of a DTLS datagram
// acceptable to pion/dtls, in place: every epoch-0 handshake record whose
// fragment is (a fragment of) a ClientHello and whose record version is
// 0xFE** but neither 1.2 (0xFEFD) nor 1.0 (0xFEFF) gets 0xFEFD. It changes
// only bytes 1-2 of such records, and nothing in a datagram that is not
// whole records (wholeRecords). It returns how many records it changed and
// the version the first of them had.
//
// Why: a TLS server must accept any {03,XX} record version on a
// ClientHello (RFC 5246 Appendix E.1); for DTLS that is {FE,XX}. Stock
// mbedTLS (the Anjay client) sends its ClientHello in a record of version
// 0xFE00 with client_version 0xFEFD, and pion drops it before the
// handshake: recordlayer.Header.Unmarshal takes only 0xFEFD and 0xFEFF.
// The handshake then negotiates DTLS 1.2 from client_version, which pion
// checks on its own (flight0handler.go: must be 0xFEFD).
//
// Why it is safe: the record header is in neither the handshake transcript
// nor the cookie. In pion/dtls v3.1.15, fragmentBuffer.push strips the
// record header (buf[recordlayer.FixedHeaderSize:]) and reassembles the
// handshake messages alone; conn.go handleIncomingPacket pushes those
// (handshake header and body) into the handshake cache that the Finished
// verify data and the extended master secret hash; the cookie is random
// per connection (flight0handler.go, flight0Generate) and compared with
// the ClientHello's cookie field (flight2handler.go); nothing keeps the
// record header of an epoch-0 handshake record.
func rewriteRecordVersion(b []byte) (n int, from uint16) {
	if !wholeRecords(b) {
		return 0, 0
	}
	for off := 0; off < len(b); {
		length := int(binary.BigEndian.Uint16(b[off+11:]))
		if length > 0 && b[off] == contentTypeHandshake && b[off+3] == 0 && b[off+4] == 0 &&
			b[off+recordHeaderLen] == handshakeClientHello &&
			b[off+1] == 0xfe && b[off+2] != dtls12Minor && b[off+2] != dtls10Minor {
			if n == 0 {
				from = binary.BigEndian.Uint16(b[off+1:])
			}
			b[off+2] = dtls12Minor
			n++
		}
		off += recordHeaderLen + length
	}
	return n, from
}

// refusal tells why pion/dtls's listener would open no session for a
// datagram from an address that has none (after rewriteRecordVersion), as
// its accept filter decides (listener.go, Listen): the datagram must be
// whole records, the first a handshake record of version 1.2 or 1.0.
// refused is false when it would open one.
func refusal(b []byte) (cause dtlsCause, refused bool) {
	switch {
	case !wholeRecords(b):
		return causeMalformed, true
	case b[1] != 0xfe || b[2] != dtls12Minor && b[2] != dtls10Minor:
		return causeBadVersion, true
	case b[0] != contentTypeHandshake:
		return causeNoSession, true
	}
	return 0, false
}
