package limit

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Conns counts the connections open per source address and refuses those
// beyond a cap. Memory is one map entry per address with a connection
// open. It is safe for concurrent use.
type Conns struct {
	perIP   int
	refused atomic.Int64

	mu   sync.Mutex
	open map[netip.Addr]int
}

// NewConns returns a Conns that lets perIP connections (at least 1) be
// open per source address.
func NewConns(perIP int) *Conns {
	if perIP < 1 {
		panic(fmt.Sprintf("limit: %d connections per source", perIP))
	}
	return &Conns{perIP: perIP, open: map[netip.Addr]int{}}
}

// Acquire counts a new connection from ip and tells whether it is within
// the cap; one that is not is not counted as open (do not Release it),
// only as refused. The zero Addr (no IP: a Unix socket, a pipe) is never
// limited nor counted.
func (c *Conns) Acquire(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[ip] >= c.perIP {
		c.refused.Add(1)
		return false
	}
	c.open[ip]++
	return true
}

// Release ends a connection Acquire let open.
func (c *Conns) Release(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch n := c.open[ip]; {
	case n > 1:
		c.open[ip] = n - 1
	case n == 1:
		delete(c.open, ip)
	default:
		panic("limit: Release of " + ip.String() + " without Acquire")
	}
}

// Open is the number of connections open from ip.
func (c *Conns) Open(ip netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open[ip.Unmap()]
}

// Refused counts the connections Acquire refused.
func (c *Conns) Refused() int64 { return c.refused.Load() }
