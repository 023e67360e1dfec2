// Package reliability holds the gateway-level failure tests: a whole
// gateway (DM endpoint, package downloads, LwM2M over UDP and DTLS, the
// operator API) on loopback ports, simulated DM and LwM2M devices running
// a mixed firmware campaign, and the failures a deployed gateway meets
// while it works: every listener bombarded with malformed input by a
// separate attacker (127.0.0.2), devices whose link drops in the middle
// of a download and who resume it. The tests assert outcomes (every job
// succeeded, every device runs the new image, the store is consistent,
// memory and goroutines stay bounded), never speed: deadlines are
// generous, so they pass on a slow CI machine under -race.
//
// The package has no code of its own besides this comment; everything is
// in its _test.go files.
package reliability
