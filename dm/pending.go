package dm

import (
	"sync"
	"time"
)

// pendingCache keeps, in memory only, what the server told devices in
// messages it did not store: a message whose credentials are missing or
// wrong changes nothing stored (anyone who knows a device id can send
// one), so its challenge's nonce, and the state of a session not stored
// yet, wait here for the device's next message. Entries are bounded in
// number and age; a restart forgets them and the device is challenged
// again.
type pendingCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]pending // by DM device id
}

// pending is one device's unstored exchange.
type pending struct {
	// nonce is the nonce last challenged to the device (nil for basic);
	// its next credentials may be computed with it or with the stored one.
	nonce []byte
	// sessionID and state are the session the challenge was sent in, as
	// it stands after the unstored message: the device's next message
	// goes on from it when its MsgID follows (a session not stored yet,
	// or an HMAC session whose message failed).
	sessionID string
	state     *Session
	expires   time.Time
}

// Bounds of the pending cache.
const (
	pendingTTL = 10 * time.Minute
	pendingMax = 10000
)

func newPendingCache(now func() time.Time) *pendingCache {
	return &pendingCache{now: now, m: map[string]pending{}}
}

// get returns dmID's pending exchange (zero when none is in force).
func (c *pendingCache) get(dmID string) pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[dmID]
	if !ok || c.now().After(p.expires) {
		return pending{}
	}
	return p
}

// session returns the unstored state of dmID's session sid, nil when none.
func (c *pendingCache) session(dmID, sid string) *Session {
	p := c.get(dmID)
	if p.state == nil || p.sessionID != sid {
		return nil
	}
	st := p.state.clone()
	return &st
}

// put records what the server told dmID in a message it did not store: a
// nil nonce keeps the one in force. When the cache is full the expired entries go, then the one
// closest to expiry.
func (c *pendingCache) put(dmID string, nonce []byte, sid string, state *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	old, ok := c.m[dmID]
	if !ok && len(c.m) >= pendingMax {
		c.evict(now)
	}
	p := pending{nonce: old.nonce, expires: now.Add(pendingTTL)}
	if ok && now.After(old.expires) {
		p.nonce = nil
	}
	if nonce != nil {
		p.nonce = append([]byte(nil), nonce...)
	}
	if state != nil {
		st := state.clone()
		p.sessionID, p.state = sid, &st
	}
	c.m[dmID] = p
}

func (c *pendingCache) evict(now time.Time) {
	oldest := ""
	for k, v := range c.m {
		if now.After(v.expires) {
			delete(c.m, k)
			continue
		}
		if oldest == "" || v.expires.Before(c.m[oldest].expires) {
			oldest = k
		}
	}
	if len(c.m) >= pendingMax {
		delete(c.m, oldest)
	}
}

// drop forgets dmID's pending exchange (it authenticated; what matters
// is stored now).
func (c *pendingCache) drop(dmID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, dmID)
}
