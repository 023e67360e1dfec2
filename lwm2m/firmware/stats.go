package firmware

import (
	"sync/atomic"

	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// Stats counts what the driver did since it was created.
type Stats struct {
	// WaitingExpired and WaitingDeregistered count jobs moved back to
	// waiting for their device because its registration expired, or it
	// de-registered, while the package was on its way.
	WaitingExpired, WaitingDeregistered int64
	// NoProgress counts delivery attempts given up on because the device
	// showed no progress in time.
	NoProgress int64
}

type stats struct {
	expired, deregistered, noProgress atomic.Int64
}

func (st *stats) countGone(kind lwm2m.EventKind) {
	if kind == lwm2m.EventExpired {
		st.expired.Add(1)
	} else {
		st.deregistered.Add(1)
	}
}

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	return Stats{WaitingExpired: d.stats.expired.Load(), WaitingDeregistered: d.stats.deregistered.Load(), NoProgress: d.stats.noProgress.Load()}
}
