package reliability

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
)

// CoAP message types, codes and options (RFC 7252, 7959, 7641) the
// attacker writes by hand, so that it can also write them wrong.
const (
	coapCON, coapNON, coapACK, coapRST = 0, 1, 2, 3

	coapEmpty, coapGET, coapPOST, coapPUT, coapDELETE = 0x00, 0x01, 0x02, 0x03, 0x04
	coapContent                                       = 0x45 // 2.05

	optObserve, optURIPath, optContentFormat, optURIQuery, optBlock2, optBlock1 = 6, 11, 12, 15, 23, 27
)

type coapOpt struct {
	num int
	val []byte
}

// coapMessage encodes a CoAP message; options in any order (sorted here).
func coapMessage(typ, code byte, mid uint16, token []byte, opts []coapOpt, payload []byte) []byte {
	b := []byte{0x40 | typ<<4 | byte(len(token)&0xf), code, byte(mid >> 8), byte(mid)}
	b = append(b, token...)
	opts = slices.Clone(opts)
	slices.SortStableFunc(opts, func(x, y coapOpt) int { return x.num - y.num })
	prev := 0
	for _, o := range opts {
		dn, dx := optNibble(o.num - prev)
		ln, lx := optNibble(len(o.val))
		b = append(b, dn<<4|ln)
		b = append(append(append(b, dx...), lx...), o.val...)
		prev = o.num
	}
	if len(payload) > 0 {
		b = append(append(b, 0xff), payload...)
	}
	return b
}

// optNibble is an option delta or length's nibble and extension bytes.
func optNibble(n int) (byte, []byte) {
	switch {
	case n < 13:
		return byte(n), nil
	case n < 269:
		return 13, []byte{byte(n - 13)}
	default:
		return 14, binary.BigEndian.AppendUint16(nil, uint16(n-269))
	}
}

// uriPath is the Uri-Path options of p ("/rd/x").
func uriPath(p string) []coapOpt {
	var out []coapOpt
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		out = append(out, coapOpt{optURIPath, []byte(s)})
	}
	return out
}

func uriQuery(q ...string) []coapOpt {
	var out []coapOpt
	for _, s := range q {
		out = append(out, coapOpt{optURIQuery, []byte(s)})
	}
	return out
}

// uintOpt is the minimal big-endian encoding of v (RFC 7252 §3.2).
func uintOpt(v uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, v)
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// listenAttacker opens a UDP socket on the attacker's address.
func listenAttacker() (*net.UDPConn, error) {
	return net.ListenUDP("udp", &net.UDPAddr{IP: attackerIP})
}

// readAnswers notes what the gateway answers on s, by CoAP message type
// and code (DTLS: by record type), until s is closed.
func (a *attacker) readAnswers(s *net.UDPConn, what string) {
	buf := make([]byte, 2048)
	for {
		n, _, err := s.ReadFromUDP(buf)
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(what, "dtls"):
			a.note(what, fmt.Sprintf("record type %d", buf[0]))
			continue
		case n < 4:
			a.note(what, "short")
			continue
		}
		typ := [4]string{"CON", "NON", "ACK", "RST"}[buf[0]>>4&3]
		a.note(what, fmt.Sprintf("%s %d.%02d", typ, buf[1]>>5, buf[1]&31))
	}
}

// coapDatagrams is one round of malformed and unwelcome CoAP for the
// LwM2M UDP listener.
func (a *attacker) coapDatagrams(rng *rand.Rand) [][]byte {
	mid := func() uint16 { return uint16(rng.Uint32()) }
	tok := func() []byte { return randomBytes(rng, 1+rng.IntN(8)) }
	con := func(code byte, opts []coapOpt, payload []byte) []byte {
		return coapMessage(coapCON, code, mid(), tok(), opts, payload)
	}
	links := []byte(`</1/0>,</3/0>,</5/0>`)
	block2 := func(num uint32, szx uint32) coapOpt { return coapOpt{optBlock2, uintOpt(num<<4 | szx)} }
	file := uriPath(a.fileURL)
	out := [][]byte{
		// Not CoAP, or not CoAP any more.
		randomBytes(rng, 1+rng.IntN(300)),
		randomBytes(rng, 1+rng.IntN(3)),                                 // shorter than a header
		append([]byte{0x80 | byte(rng.IntN(64)), 0x01, 0, 1}, tok()...), // version 2
		{0x49, 0x01, 0x00, 0x01, 0xaa},                                  // TKL 9 (reserved)
		{0x48, 0x01, 0x00, 0x02, 0xaa, 0xbb},                            // the token is cut
		{0x40, 0x01, 0x00, 0x03, 0xf1},                                  // option nibble 15 without a payload marker
		{0x40, 0x01, 0x00, 0x04, 0xbd, 0xff},                            // option length past the end
		{0x40, 0x01, 0x00, 0x05, 0xe0, 0x01},                            // 2-byte delta cut short
		{0x40, 0x01, 0x00, 0x06, 0xb2, 'r', 'd', 0xff},                  // a payload marker and no payload
		{0x40, 0x20, 0x00, 0x07},                                        // code class 1 (reserved)
		coapMessage(coapCON, coapGET, mid(), tok(), append(uriPath("/rd"), coapOpt{9, []byte("x")}), nil), // unknown critical option
		// Unknown paths and wrong methods.
		con(coapGET, uriPath(pick(rng, []string{"/foo/bar", "/.well-known/core", "/rd", "/5/0/3", "/rd/nope", "/dp"})), nil),
		con(coapPUT, uriPath("/rd"), randomBytes(rng, 16)),
		coapMessage(coapNON, coapDELETE, mid(), tok(), uriPath("/rd/"+fmt.Sprint(rng.IntN(1e6))), nil),
		// Registration interface abuse.
		con(coapPOST, uriPath("/rd"), links), // no ep
		con(coapPOST, append(uriPath("/rd"), uriQuery(fmt.Sprintf("ep=attacker-%d", rng.IntN(100)))...), links), // unknown endpoint
		con(coapPOST, append(uriPath("/rd"), uriQuery("ep=x", "lt=abc", "lwm2m=9.9", "b=Z")...), links),
		con(coapPOST, append(uriPath("/rd"), uriQuery("ep="+pick(rng, a.secureEndpoints), "lt=60")...), links), // a DTLS device's endpoint over plain UDP
		con(coapPOST, append(uriPath("/rd"), uriQuery("ep="+strings.Repeat("e", 255))...), randomBytes(rng, 200)),
		con(coapPOST, uriPath("/rd/"+fmt.Sprint(rng.IntN(1e6))), links), // Update of no registration
		con(coapPOST, append(uriPath("/dp"), coapOpt{optContentFormat, uintOpt(110)}), randomBytes(rng, 64)),
		con(coapPOST, append(uriPath("/rd"), coapOpt{optBlock1, uintOpt(5<<4 | 8 | 6)}), links), // Block1 starting mid-way
		// Package URIs: unsigned, and the signed one with bogus Block2.
		con(coapGET, uriPath(fmt.Sprintf("/fw/job/fw2/%x", randomBytes(rng, 16))), nil),
		con(coapGET, append(slices.Clone(file), block2(rng.Uint32()&0xfffff, 7)), nil),         // SZX 7 (reserved)
		con(coapGET, append(slices.Clone(file), block2(0xfffff, 6)), nil),                      // far past the end
		con(coapGET, append(slices.Clone(file), coapOpt{optBlock2, randomBytes(rng, 4)}), nil), // 4-byte option
		con(coapGET, append(slices.Clone(file), coapOpt{optBlock2, uintOpt(1<<4 | 8 | 2)}, coapOpt{optObserve, nil}), nil),
		con(coapGET, append(slices.Clone(file), coapOpt{optBlock1, uintOpt(2<<4 | 6)}), nil),
		// Answers to nothing: unsolicited ACK, RST, responses.
		coapMessage(coapACK, coapEmpty, mid(), nil, nil, nil),
		coapMessage(coapRST, coapEmpty, mid(), nil, nil, nil),
		coapMessage(coapACK, coapContent, mid(), tok(), nil, randomBytes(rng, 8)),
		coapMessage(coapCON, coapContent, mid(), tok(), []coapOpt{{optObserve, uintOpt(rng.Uint32() & 0xffffff)}}, []byte("1")),
		coapMessage(coapNON, coapContent, mid(), tok(), nil, nil),
	}
	if rng.IntN(10) == 0 {
		out = append(out, randomBytes(rng, 1400+rng.IntN(8000))) // larger than any MTU
	}
	return out
}

// coapRound sends a round of coapDatagrams from the attacker's long-lived
// sockets, and a few from a new socket each round (new source port: the
// server's state per peer must not pile up).
func (a *attacker) coapRound(ctx context.Context, rng *rand.Rand) {
	for _, m := range a.coapDatagrams(rng) {
		s := pick(rng, a.udpSocks)
		if _, err := s.WriteToUDP(m, a.udp); err != nil && ctx.Err() == nil {
			a.note("coap send", "error")
			continue
		}
		a.note("coap datagram", "sent")
	}
	fresh, err := listenAttacker()
	if err != nil {
		a.note("coap fresh socket", "error")
		return
	}
	defer fresh.Close()
	for _, m := range [][]byte{
		randomBytes(rng, 1+rng.IntN(100)),
		coapMessage(coapCON, coapGET, uint16(rng.Uint32()), randomBytes(rng, 4), uriPath("/nothing/here"), nil),
		coapMessage(coapACK, coapEmpty, uint16(rng.Uint32()), nil, nil, nil),
	} {
		if _, err := fresh.WriteToUDP(m, a.udp); err == nil {
			a.note("coap fresh datagram", "sent")
		}
	}
}

// dtlsRecord is a DTLS 1.2 record of epoch 0 holding body.
func dtlsRecord(contentType byte, seq uint64, body []byte) []byte {
	b := []byte{contentType, 0xfe, 0xfd, 0, 0}
	b = append(b, byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// clientHello is a handshake message of type 1 around body, with the
// lengths given (a liar's lengths when they differ from len(body)).
func clientHello(length, fragLen int, body []byte) []byte {
	u24 := func(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }
	b := append([]byte{1}, u24(length)...)
	b = append(b, 0, 0) // message sequence
	b = append(b, u24(0)...)
	b = append(b, u24(fragLen)...)
	return append(b, body...)
}

// dtlsDatagrams is one round of garbage for the DTLS listener.
func dtlsDatagrams(rng *rand.Rand) [][]byte {
	body := randomBytes(rng, rng.IntN(200))
	// A plausible ClientHello start: version, random, empty session id,
	// a cookie of random length, then garbage.
	hello := append([]byte{0xfe, 0xfd}, randomBytes(rng, 32)...)
	hello = append(hello, 0, byte(rng.IntN(40)))
	hello = append(hello, randomBytes(rng, rng.IntN(64))...)
	return [][]byte{
		randomBytes(rng, 1+rng.IntN(300)),
		dtlsRecord(22, rng.Uint64()&0xffffffffffff, clientHello(len(body), len(body), body)),
		dtlsRecord(22, 0, clientHello(len(hello), len(hello), hello)),
		dtlsRecord(22, 1, clientHello(1<<20, len(body), body)),                      // claims 1 MiB
		dtlsRecord(22, 2, clientHello(len(body)+50, len(body)+50, body)),            // fragment longer than the record
		dtlsRecord(22, 3, clientHello(len(body), len(body), body))[:5+rng.IntN(20)], // cut
		dtlsRecord(23, 4, randomBytes(rng, 64)),                                     // application data, no session
		dtlsRecord(21, 5, []byte{2, 40}),                                            // an alert out of the blue
		append([]byte{22, 0xfe, 0xff, 0, 1}, randomBytes(rng, 20)...),               // DTLS 1.0, epoch 1
	}
}

// dtlsRound sends garbage datagrams to the DTLS listener.
func (a *attacker) dtlsRound(ctx context.Context, rng *rand.Rand) {
	for _, m := range dtlsDatagrams(rng) {
		if _, err := a.dtlsSock.WriteToUDP(m, a.dtls); err != nil && ctx.Err() == nil {
			a.note("dtls send", "error")
			continue
		}
		a.note("dtls datagram", "sent")
	}
}

// handshakeRound tries two real DTLS handshakes, from a new socket each:
// one with a PSK identity no device has, one with a device's identity and
// a wrong key.
func (a *attacker) handshakeRound(ctx context.Context, rng *rand.Rand) {
	a.handshake(ctx, "dtls handshake, unknown identity", fmt.Sprintf("attacker-%d", rng.IntN(1000)), randomBytes(rng, 16))
	a.handshake(ctx, "dtls handshake, wrong key", pick(rng, a.pskIdentities), randomBytes(rng, 16))
}

func (a *attacker) handshake(ctx context.Context, what, identity string, key []byte) {
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: attackerIP}, a.dtls)
	if err != nil {
		a.note(what, "dial error")
		return
	}
	defer c.Close()
	conn, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(c), c.RemoteAddr(),
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8))
	if err != nil {
		a.note(what, "client error")
		return
	}
	defer conn.Close()
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	switch err := conn.HandshakeContext(hctx); {
	case err == nil:
		a.note(what, "ACCEPTED")
	case ctx.Err() != nil: // the attack ended first
	case hctx.Err() != nil:
		a.note(what, "no answer")
	default:
		a.note(what, "refused")
	}
}
