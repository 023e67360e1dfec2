// Package limit owns the gateway's per-source limits: what one source IP
// address may take of a listener, so that one misbehaving address (a
// flood, a slow-loris client) cannot starve the other devices.
//
//   - Rate is a token bucket per source address (datagrams or requests
//     per second, with a burst), in bounded memory: a source whose bucket
//     has refilled is forgotten, and at most MaxSources are tracked.
//   - Conns counts the connections open per source address and refuses
//     those beyond a cap; Listener applies it to a net.Listener.
//   - ConnSet holds the connections of each source address up to a cap
//     and, beyond it, evicts the oldest instead: for connections whose
//     loss costs their peer nothing (UDP exchanges complete in a
//     datagram), to bound their state without turning anyone away.
//
// Everything here is keyed by netip.Addr (IPv4-mapped IPv6 addresses are
// unmapped first, so that both forms of one address share a limit). The
// package has no goroutines: time only moves when a caller asks, on the
// clock it was given.
//
// A UDP source address can be forged: per-source limits keep a flood from
// one address off the others, but a flood that forges many addresses has
// to be stopped before it reaches the gateway.
package limit
