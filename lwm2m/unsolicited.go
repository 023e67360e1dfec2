package lwm2m

import (
	"net/netip"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// unsolicitedQuiet is how often a device's unsolicited notifications make
// an EventUnsolicited: one is enough to set its observations up again.
const unsolicitedQuiet = 5 * time.Second

// noteUnsolicited tells the listeners about a notification, rejected as
// unsolicited, from a registered device: after a gateway restart the
// device still notifies the observations of the previous process, and
// the Reset it gets ends them; a job waiting on the device must read its
// state and observe again now rather than at its next Update.
func (s *Server) noteUnsolicited(cc *udpClient.Conn, m *pool.Message) {
	if _, err := m.Observe(); err != nil || m.Type() == message.Acknowledgement {
		return // not a notification
	}
	now := s.cfg.Now()
	s.mu.Lock()
	c := s.byConn[cc]
	if c == nil {
		// A restored registration: its device's address, before it sent
		// anything on this connection.
		from, _ := netip.ParseAddrPort(cc.RemoteAddr().String())
		for _, x := range s.byEndpoint {
			if a, err := netip.ParseAddrPort(x.reg.Address); err == nil && a == from {
				c = x
				break
			}
		}
	}
	if c == nil || now.Sub(c.unsolicitedAt) < unsolicitedQuiet {
		s.mu.Unlock()
		return
	}
	c.unsolicitedAt = now
	s.mu.Unlock()
	s.emit(c, Event{Kind: EventUnsolicited})
}
