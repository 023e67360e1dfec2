package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// dtlsRecordVersionHandshake bounds the handshake of dialDTLSRecordVersion:
// a server that drops the ClientHello never answers, pion's client
// retransmits it without end, and go-coap's reader would hold the
// handshake (and the device's first request) for the connection's life.
const dtlsRecordVersionHandshake = 10 * time.Second

// dialDTLSRecordVersion is go-coap's dtls.Dial with the device's
// ClientHello records sent with record-layer version v
// (LwM2MDevice.DTLSRecordVersion), as stock mbedTLS sends 0xFE00. It
// handshakes before it returns.
func dialDTLSRecordVersion(addr string, local net.IP, v uint16, psk []piondtls.ClientOption, opts ...udp.Option) (*udpClient.Conn, error) {
	var dialer net.Dialer
	if local != nil {
		dialer.LocalAddr = &net.UDPAddr{IP: local}
	}
	c, err := dialer.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(&recordVersionConn{Conn: c, version: v}), c.RemoteAddr(), psk...)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dtlsRecordVersionHandshake)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dtls handshake: %w", err)
	}
	return dtls.Client(conn, append(opts, options.WithCloseSocket())...), nil
}

// recordVersionConn is a UDP connection that sends every ClientHello
// record (an epoch-0 handshake record whose fragment is a ClientHello)
// with record-layer version version; all else goes out unchanged.
type recordVersionConn struct {
	net.Conn
	version uint16
}

func (c *recordVersionConn) Write(b []byte) (int, error) {
	out := append([]byte(nil), b...) // the caller's buffer stays as it was
	setClientHelloVersion(out, c.version)
	return c.Conn.Write(out)
}

// setClientHelloVersion sets the record version of every ClientHello
// record of a DTLS datagram (RFC 6347 §4.1: 13-byte record headers of
// content type, version, epoch, sequence number, length) and returns how
// many it set; it stops at a record that runs past the datagram.
func setClientHelloVersion(b []byte, v uint16) int {
	n := 0
	for off := 0; off+13 < len(b); {
		end := off + 13 + int(binary.BigEndian.Uint16(b[off+11:]))
		if end > len(b) {
			break
		}
		if end > off+13 && b[off] == 22 && b[off+3] == 0 && b[off+4] == 0 && b[off+13] == 1 {
			binary.BigEndian.PutUint16(b[off+1:], v)
			n++
		}
		off = end
	}
	return n
}
