package reliability

import (
	"context"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/sim"
)

// Bounds of TestMalformedBurstDuringCampaign: generous, so that only a
// leak crosses them (a goroutine or a few KiB per thousand malformed
// messages: the burst sends tens of thousands). Once settled, a run has
// about 10 goroutines more than before the burst (idle HTTP connections
// of the devices' clients).
const (
	burstMinimum   = 4 * time.Second // the attack lasts at least this long
	heapGrowthMax  = 64 << 20        // live heap after the burst minus before
	goroutineSlack = 32              // goroutines above the baseline once settled
)

// TestMalformedBurstDuringCampaign runs a mixed campaign (8 DM devices, 8
// LwM2M devices of which 2 over DTLS, a 96 KiB image) while an attacker
// on 127.0.0.2 bombards every listener with malformed input: the DM
// endpoint (garbage, truncated and corrupted XML and WBXML, wrong
// credentials, unknown devices, oversized bodies, bad methods, media
// types, paths and headers, broken HTTP), the package downloads (forged
// signatures, bad Range and validators), the operator API (no or wrong
// token, malformed JSON and uploads), the CoAP listener (garbage, cut
// headers, bad options, unknown paths, registration abuse, bogus Block2,
// unsolicited ACK, RST and responses, a new source port each round) and
// the DTLS listener (garbage, bogus ClientHellos, handshakes with unknown
// identities and wrong keys). Every job succeeds and every device runs
// the new image; the burst reached every listener (its reject counters
// grew) and made nothing fail inside the gateway (no internal error, no
// 5.xx, no handshake accepted, no registration hijacked); once it ends,
// the live heap and the goroutines are back near where they were.
func TestMalformedBurstDuringCampaign(t *testing.T) {
	// Connections without a registration (the attacker's, one per
	// source port) close after 3 s of silence rather than 2 min, so that
	// the goroutine count can settle while the test waits.
	h := newHarness(t, 96<<10, func(c *gateway.Config) { c.LwM2M.IdleTimeout = 3 * time.Second })
	// A device whose datagrams the burst crowded out is found again at
	// its next Update, every 5 s.
	h.lifetime = 10
	const each = 8
	dmIDs, lwIDs := ids("dm", each), ids("lw", each)
	for _, id := range dmIDs {
		h.addDM(id, sim.FaultNone, nil)
	}
	for i, id := range lwIDs {
		h.addLwM2M(id, &sim.LwM2MFirmware{Slow: 2 * time.Millisecond}, i < 2) // lw-00, lw-01 over DTLS
	}
	devices := append(append([]string(nil), dmIDs...), lwIDs...)
	// The attacker's well-formed DM messages claim to come from devices
	// that exist but take no part in the campaign: a forged package 1
	// ends the session the device it names has under way (see
	// TestForgedPackage1KeepsDeviceSession).
	decoys := ids("decoy", 2)
	for _, id := range decoys {
		h.addDM(id, sim.FaultNone, nil)
	}

	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("FUMO_ATTACK_SEED"), 10, 64); err == nil {
		seed = s // the inputs of an earlier run (their timing differs)
	}
	t.Logf("attack seed %d (FUMO_ATTACK_SEED)", seed)
	a := newAttacker(seed)
	a.httpBase, a.apiBase = "http://"+h.gw.HTTPAddr, h.api.URL
	a.udp, a.dtls = h.gw.LwM2M.UDPAddr().(*net.UDPAddr), h.gw.LwM2M.DTLSAddr().(*net.UDPAddr)
	a.fileURL = h.gw.Files.URL("", "leaked-job", "fw2")
	a.dmDevices = decoys
	for _, id := range lwIDs[:2] {
		identity, _ := pskOf(id)
		a.secureEndpoints, a.pskIdentities = append(a.secureEndpoints, "urn:dev:"+id), append(a.pskIdentities, identity)
	}

	dm0, lw0, dl0 := h.gw.DM.Stats(), h.gw.LwM2M.Stats(), h.gw.Files.Stats()
	goroutines0, heap0 := runtime.NumGoroutine(), heapAfterGC()

	attack, stop := context.WithCancel(ctx)
	defer stop()
	attacked := make(chan error, 1)
	go func() { attacked <- a.run(attack) }()
	time.Sleep(200 * time.Millisecond) // under attack before the first job
	h.startCampaign("burst", devices, len(devices))
	start := time.Now()
	end := start.Add(burstMinimum)
	h.waitCampaign("burst", 2*time.Minute)
	t.Logf("campaign done in %v under attack", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Until(end))
	stop()
	if err := <-attacked; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d attacks; what came back:\n%s", a.total(), a.report())

	h.checkSucceeded("burst", devices)
	for _, ep := range a.secureEndpoints {
		if reg, ok := h.gw.LwM2M.Registration(ep); !ok || !reg.Secure {
			t.Errorf("%s: registration %+v (registered %v), want its DTLS one", ep, reg, ok)
		}
	}

	// The burst reached every listener and was refused there.
	dm1, lw1, dl1 := h.gw.DM.Stats(), h.gw.LwM2M.Stats(), h.gw.Files.Stats()
	for _, reason := range []string{dm.RejectMalformed, dm.RejectMediaType, dm.RejectTooLarge, dm.RejectMethod, dm.RejectNotFound, dm.RejectForbidden} {
		if dm1.Rejected[reason] <= dm0.Rejected[reason] {
			t.Errorf("dm: no message rejected as %s (%d before, %d after)", reason, dm0.Rejected[reason], dm1.Rejected[reason])
		}
	}
	if dm1.AuthFailures <= dm0.AuthFailures {
		t.Errorf("dm: no authentication failure counted")
	}
	for _, code := range []string{"4.00", "4.02", "4.03", "4.04"} {
		if lw1.Rejected[code] <= lw0.Rejected[code] {
			t.Errorf("lwm2m: no request answered %s (%d before, %d after)", code, lw0.Rejected[code], lw1.Rejected[code])
		}
	}
	if lw1.Unsolicited <= lw0.Unsolicited || lw1.UnknownPSK <= lw0.UnknownPSK {
		t.Errorf("lwm2m: unsolicited %d -> %d, unknown PSK identities %d -> %d", lw0.Unsolicited, lw1.Unsolicited, lw0.UnknownPSK, lw1.UnknownPSK)
	}
	for _, k := range []download.RequestKey{{Protocol: download.ProtocolHTTP, Outcome: download.OutcomeNotFound},
		{Protocol: download.ProtocolHTTP, Outcome: download.OutcomeBadRange}, {Protocol: download.ProtocolHTTP, Outcome: download.OutcomeMethod},
		{Protocol: download.ProtocolCoAP, Outcome: download.OutcomeNotFound}} {
		if dl1.Requests[k] <= dl0.Requests[k] {
			t.Errorf("download: no %s request %s", k.Protocol, k.Outcome)
		}
	}
	for _, want := range []struct {
		what   string
		answer any
	}{{"api no token", 401}, {"api wrong token", 401}, {"api malformed JSON", 400}, {"raw http, bad header line", 400}} {
		if a.count(want.what, want.answer) == 0 {
			t.Errorf("attacker: %q never got %v", want.what, want.answer)
		}
	}
	// ... and nothing failed inside the gateway.
	if dm1.Errors != dm0.Errors || lw1.Errors != lw0.Errors || dl1.Errors != dl0.Errors {
		t.Errorf("internal errors: dm %d, lwm2m %d, download %d", dm1.Errors-dm0.Errors, lw1.Errors-lw0.Errors, dl1.Errors-dl0.Errors)
	}
	for _, line := range strings.Split(a.report(), "\n") {
		line = strings.TrimSpace(line)
		attack, answer, _ := strings.Cut(line, " -> ")
		answer, _, _ = strings.Cut(answer, ":")
		failed := strings.HasPrefix(answer, "5") || strings.Contains(answer, " 5.") || answer == "ACCEPTED"
		if failed && !(attack == "raw http, version 9.9" && answer == "505") {
			t.Errorf("attack answered: %s", line)
		}
	}

	// Resources: the goroutines the burst started end (DTLS handshakes
	// time out after 10 s), and the live heap is back near its size.
	deadline := time.Now().Add(30 * time.Second)
	n := runtime.NumGoroutine()
	for ; n > goroutines0+goroutineSlack && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the burst, %d after", goroutines0, n)
	if n > goroutines0+goroutineSlack {
		t.Errorf("%d goroutines after the burst, %d before", n, goroutines0)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	heap1 := heapAfterGC()
	t.Logf("live heap: %d KiB before the burst, %d KiB after", heap0>>10, heap1>>10)
	if heap1 > heap0 && heap1-heap0 > heapGrowthMax {
		t.Errorf("live heap grew by %d MiB during the burst (from %d MiB)", (heap1-heap0)>>20, heap0>>20)
	}
}
