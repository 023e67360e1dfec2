package limit

import (
	"container/list"
	"fmt"
	"net/netip"
	"sync"
)

// ConnSet holds the open connections of each source address, oldest
// first, at most perIP of them: adding one more evicts the address's
// oldest, which the caller then closes. Unlike Conns it never refuses: it
// suits connections that cost state to keep but nothing to lose (a UDP
// "connection" whose exchanges are each complete in a datagram), where a
// flood from many ports of one address must not grow the state without
// bound, yet a client that opens a new port for each exchange must not be
// turned away. It is safe for concurrent use.
type ConnSet[C comparable] struct {
	perIP int

	mu    sync.Mutex
	byIP  map[netip.Addr]*list.List // of C, oldest first
	where map[C]*list.Element
	ipOf  map[C]netip.Addr
}

// NewConnSet returns a ConnSet that holds perIP (at least 1) connections
// per source address.
func NewConnSet[C comparable](perIP int) *ConnSet[C] {
	if perIP < 1 {
		panic(fmt.Sprintf("limit: %d connections per source", perIP))
	}
	return &ConnSet[C]{perIP: perIP, byIP: map[netip.Addr]*list.List{}, where: map[C]*list.Element{}, ipOf: map[C]netip.Addr{}}
}

// Add holds c, from ip. When ip already had perIP connections, the oldest
// is let go and returned (evicted true): close it. Adding a connection
// held already changes nothing.
func (s *ConnSet[C]) Add(ip netip.Addr, c C) (oldest C, evicted bool) {
	ip = ip.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.where[c]; ok {
		return oldest, false
	}
	l := s.byIP[ip]
	if l == nil {
		l = list.New()
		s.byIP[ip] = l
	}
	if l.Len() >= s.perIP {
		e := l.Front()
		oldest, evicted = e.Value.(C), true
		l.Remove(e)
		delete(s.where, oldest)
		delete(s.ipOf, oldest)
	}
	s.where[c] = l.PushBack(c)
	s.ipOf[c] = ip
	return oldest, evicted
}

// Remove lets c go (it closed, or no longer counts); it tells whether c
// was held.
func (s *ConnSet[C]) Remove(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.where[c]
	if !ok {
		return false
	}
	ip := s.ipOf[c]
	l := s.byIP[ip]
	l.Remove(e)
	if l.Len() == 0 {
		delete(s.byIP, ip)
	}
	delete(s.where, c)
	delete(s.ipOf, c)
	return true
}

// Open is the number of connections held for ip.
func (s *ConnSet[C]) Open(ip netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.byIP[ip.Unmap()]; l != nil {
		return l.Len()
	}
	return 0
}
