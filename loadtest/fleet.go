package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// Target is a running gateway, reached through its operator API; its
// devices reach it at DM and CoAP. PID, when known, is its process, whose
// memory the fleet scenarios read from /proc.
type Target struct {
	API, Token string
	DM         string // DM endpoint URL
	CoAP       string // LwM2M UDP host:port
	CoAPS      string // LwM2M DTLS host:port ("": none)
	PID        int
}

func (t Target) check(o FleetOptions) error {
	if t.API == "" || t.DM == "" || t.CoAP == "" {
		return fmt.Errorf("%w: target needs the API, DM and CoAP addresses", ErrBounds)
	}
	if o.DTLS > 0 && t.CoAPS == "" {
		return fmt.Errorf("%w: DTLS devices need the target's CoAPS address", ErrBounds)
	}
	return Loopback(t.API, t.DM, t.CoAP, t.CoAPS)
}

// FleetOptions set up a fleet scenario.
type FleetOptions struct {
	// DM and LwM2M are the number of devices of each kind.
	DM, LwM2M int
	// DTLS is the share of the LwM2M devices (0 to 1) that use DTLS with
	// a PSK instead of plain UDP (registration and package pulls).
	DTLS float64
	// ImageSize is the package size (campaign).
	ImageSize int
	// InFlight is the campaign's MaxInFlight (default 200).
	InFlight int
	// Timeout bounds the whole scenario (default 30 min).
	Timeout time.Duration
	// PerIP devices share a loopback source address (default 8).
	PerIP int
	// Push delivers the gateway's Package 0 to the simulated DM devices:
	// the gateway must post to it (serve -push-url).
	Push *sim.PushGateway
	// Prefix makes device and package ids unique on a gateway that has
	// seen earlier runs (default "b<unix time>").
	Prefix string
	// Progress, when set, gets a line now and then.
	Progress func(format string, args ...any)
}

func (o *FleetOptions) defaults() error {
	if o.InFlight == 0 {
		o.InFlight = 200
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.PerIP == 0 {
		o.PerIP = 8
	}
	if o.Prefix == "" {
		o.Prefix = "b" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	switch {
	case o.DM < 0 || o.LwM2M < 0 || o.DM+o.LwM2M < 1 || o.DM+o.LwM2M > MaxDevices:
		return fmt.Errorf("%w: %d DM + %d LwM2M devices (1..%d in all)", ErrBounds, o.DM, o.LwM2M, MaxDevices)
	case o.ImageSize < 0 || o.ImageSize > MaxImage:
		return fmt.Errorf("%w: image %d bytes (up to %d)", ErrBounds, o.ImageSize, MaxImage)
	case o.Timeout > 2*time.Hour:
		return fmt.Errorf("%w: timeout %s (up to 2h)", ErrBounds, o.Timeout)
	case o.DTLS < 0 || o.DTLS > 1:
		return fmt.Errorf("%w: DTLS share %v (0 to 1)", ErrBounds, o.DTLS)
	case o.DM > 0 && o.Push == nil:
		return fmt.Errorf("%w: DM devices need a push gateway", ErrBounds)
	}
	return nil
}

// overDTLS tells whether LwM2M device j (0-based among them) uses DTLS:
// the DTLS share of every hundred.
func (o FleetOptions) overDTLS(j int) bool { return float64(j%100) < o.DTLS*100 }

// benchPSK is a device's pre-shared key, derived from its id.
func benchPSK(id string) []byte {
	sum := sha256.Sum256([]byte("fumo-gw bench psk " + id))
	return sum[:16]
}

// simFleet is the simulated devices of one run, in this process.
type simFleet struct {
	ids    []string
	fumos  []*sim.FUMO
	fws    []*sim.LwM2MFirmware
	lws    []*sim.LwM2MDevice
	digest string
}

func (f *simFleet) close() {
	for _, d := range f.lws {
		d.Kill()
	}
}

// provision adds the devices through the API, then starts them: each DM
// device runs one session (the gateway learns its nonce), each LwM2M
// device registers over UDP.
func provision(ctx context.Context, c *client.Client, t Target, o FleetOptions, digest string) (*simFleet, error) {
	f := &simFleet{digest: digest, fumos: make([]*sim.FUMO, o.DM), fws: make([]*sim.LwM2MFirmware, o.LwM2M), lws: make([]*sim.LwM2MDevice, o.LwM2M)}
	n := o.DM + o.LwM2M
	f.ids = make([]string, n)
	for i := range n {
		kind := "dm"
		if i >= o.DM {
			kind = "lw"
		}
		f.ids[i] = fmt.Sprintf("%s-%s-%05d", o.Prefix, kind, i)
	}
	start := time.Now()
	if err := parallel(ctx, n, 16, func(i int) error {
		id := f.ids[i]
		r := api.DeviceRequest{ID: id, Model: "bench", FirmwareVersion: "1.0"}
		if i < o.DM {
			// Server credentials: the gateway signs Package 0 with them.
			r.Protocol, r.DM = fleet.ProtocolDM, &api.DMSettings{DeviceID: "IMEI:" + id, Auth: fleet.DMAuthMD5, Username: id, Password: "pw-" + id,
				ServerID: "fumo-gw", ServerPassword: "srv-" + id}
		} else {
			r.Protocol, r.LwM2M = fleet.ProtocolLwM2M, &api.LwM2MSettings{Endpoint: "urn:bench:" + id}
			if o.overDTLS(i - o.DM) {
				r.LwM2M.PSKIdentity, r.LwM2M.PSKKeyHex = "urn:bench:"+id, hex.EncodeToString(benchPSK(id))
			}
		}
		_, err := c.AddDevice(ctx, r)
		return err
	}); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	o.Progress("%d devices provisioned through the API in %s", n, time.Since(start).Round(time.Millisecond))

	// One HTTP client per source address, shared by its DM devices.
	clients := map[int]*http.Client{}
	clientFor := func(i int) *http.Client {
		k := i / o.PerIP
		if c, ok := clients[k]; ok {
			return c
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(i, o.PerIP)}}
		c := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: o.PerIP}}
		clients[k] = c
		return c
	}
	dms := make([]*sim.DMDevice, o.DM)
	for i := range o.DM {
		id := f.ids[i]
		dms[i] = &sim.DMDevice{ServerURL: t.DM, DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
			ServerID: "fumo-gw", ServerPassword: "srv-" + id, Encoding: syncml.EncodingWBXML, HTTP: clientFor(i)}
		dms[i].SetNode("./DevDetail/FwV", []byte("1.0"))
		f.fumos[i] = &sim.FUMO{ExpectSHA256: digest, HTTP: dms[i].HTTP}
		dms[i].EnableFUMO(f.fumos[i])
	}
	start = time.Now()
	var mu sync.Mutex
	if err := parallel(ctx, n, 32, func(i int) error {
		if i < o.DM {
			if _, err := dms[i].Session(ctx, sim.SessionOptions{}); err != nil {
				return fmt.Errorf("first session of %s: %w", f.ids[i], err)
			}
			o.Push.Add(dms[i])
			return nil
		}
		j := i - o.DM
		fw := &sim.LwM2MFirmware{ExpectSHA256: digest}
		d := &sim.LwM2MDevice{Endpoint: "urn:bench:" + f.ids[i], Server: t.CoAP, Firmware: fw, Lifetime: 3600, LocalIP: sourceIP(i, o.PerIP)}
		if o.overDTLS(j) {
			d.Server, d.PSKIdentity, d.PSKKey = t.CoAPS, d.Endpoint, benchPSK(f.ids[i])
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := d.Start(rctx); err != nil {
			return fmt.Errorf("register %s: %w", f.ids[i], err)
		}
		mu.Lock()
		f.fws[j], f.lws[j] = fw, d
		mu.Unlock()
		return nil
	}); err != nil {
		f.close()
		return nil, err
	}
	o.Progress("%d DM devices had a session and %d LwM2M devices registered in %s", o.DM, o.LwM2M, time.Since(start).Round(time.Millisecond))
	return f, nil
}

// Campaign runs one campaign over a fresh fleet of simulated devices
// against t and measures it: wall time, jobs per second, the gateway's
// peak resident memory, and that every device got the image.
func Campaign(ctx context.Context, t Target, o FleetOptions) (Result, error) {
	if err := t.check(o); err != nil {
		return Result{}, err
	}
	if o.ImageSize == 0 {
		o.ImageSize = 256 << 10
	}
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := &client.Client{Base: t.API, Token: t.Token}
	img := make([]byte, o.ImageSize)
	for i := range img {
		img[i] = byte(i*131 + i>>9)
	}
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	pkgID := o.Prefix + "-fw"
	if _, err := c.AddPackage(ctx, pkgID, "bench", "2.0", digest, int64(len(img)), bytes.NewReader(img)); err != nil {
		return Result{}, fmt.Errorf("upload: %w", err)
	}
	f, err := provision(ctx, c, t, o, digest)
	if err != nil {
		return Result{}, err
	}
	defer f.close()
	rssBefore := ProcessMemory(t.PID, "VmRSS")

	start := time.Now()
	p, err := c.CreateCampaign(ctx, bridge.CampaignRequest{ID: o.Prefix + "-campaign", PackageID: pkgID, Devices: interleave(f.ids, o.DM), MaxInFlight: o.InFlight})
	if err == nil {
		p, err = c.CampaignAction(ctx, p.Campaign.ID, "start")
	}
	if err != nil {
		return Result{}, fmt.Errorf("campaign: %w", err)
	}
	last, moved, finished := time.Now(), time.Now(), 0
	for p.Campaign.State != fleet.CampaignDone && p.Campaign.State != fleet.CampaignCancelled {
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("campaign: %d of %d jobs finished: %w", p.Finished(), p.Devices, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		if p, err = c.Campaign(ctx, p.Campaign.ID); err != nil {
			return Result{}, err
		}
		if p.Finished() != finished {
			finished, moved = p.Finished(), time.Now()
		} else if time.Since(moved) > 3*time.Minute {
			return Result{}, fmt.Errorf("campaign: stalled at %d of %d jobs finished (%v)", p.Finished(), p.Devices, p.Jobs)
		}
		if time.Since(last) > 10*time.Second {
			o.Progress("campaign: %d of %d jobs finished, %d in flight, gateway RSS %d MiB", p.Finished(), p.Devices, p.InFlight(), ProcessMemory(t.PID, "VmRSS")>>20)
			last = time.Now()
		}
	}
	wall := time.Since(start)
	installed := 0
	for _, fu := range f.fumos {
		if all, _ := fu.Executions(); all > 0 {
			installed++ // checked below through the job states
		}
	}
	for _, fw := range f.fws {
		if bytes.Equal(fw.Installed(), img) {
			installed++
		}
	}
	n := o.DM + o.LwM2M
	r := Result{Scenario: "campaign", Metric: "jobs/s", Value: float64(n) / wall.Seconds(),
		Params: map[string]any{"dm": o.DM, "lwm2m": o.LwM2M, "dtls": o.DTLS, "image": o.ImageSize, "in_flight": o.InFlight},
		Extra: map[string]float64{"wall s": wall.Seconds(), "succeeded": float64(p.Jobs[fleet.JobSucceeded]),
			"failed": float64(p.Jobs[fleet.JobFailed] + p.Jobs[fleet.JobCancelled]), "image MiB/s served": float64(n) * float64(o.ImageSize) / (1 << 20) / wall.Seconds()}}
	if hwm := ProcessMemory(t.PID, "VmHWM"); hwm > 0 {
		r.Extra["gateway peak RSS MiB"] = float64(hwm) / (1 << 20)
		r.Extra["gateway RSS before MiB"] = float64(rssBefore) / (1 << 20)
		r.Target = "all succeed, peak RSS < 1 GiB"
		met := hwm < 1<<30 && p.Jobs[fleet.JobSucceeded] == n
		r.Met = &met
	}
	if p.Jobs[fleet.JobSucceeded] != n {
		return r, fmt.Errorf("campaign %s: %d of %d jobs succeeded (%v)", p.Campaign.State, p.Jobs[fleet.JobSucceeded], n, p.Jobs)
	}
	if installed != n {
		return r, fmt.Errorf("campaign: %d of %d devices show the new image", installed, n)
	}
	return r, nil
}

// interleave orders ids (the first dm of them DM devices) DM, LwM2M, DM,
// ... so that the campaign's jobs in flight are of both kinds.
func interleave(ids []string, dm int) []string {
	out := make([]string, 0, len(ids))
	d, l := ids[:dm], ids[dm:]
	for len(d) > 0 || len(l) > 0 {
		if len(d) > 0 {
			out, d = append(out, d[0]), d[1:]
		}
		if len(l) > 0 {
			out, l = append(out, l[0]), l[1:]
		}
	}
	return out
}

// Idle registers a fleet and leaves it idle: LwM2M devices registered
// (their sockets open, Object 5 observed), DM devices after one session
// with their keep-alive connection open. It reports the gateway's
// resident memory per device of each kind.
func Idle(ctx context.Context, t Target, o FleetOptions) (Result, error) {
	if err := t.check(o); err != nil {
		return Result{}, err
	}
	if t.PID == 0 {
		return Result{}, errors.New("loadtest: idle needs the gateway's process id for its memory")
	}
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := &client.Client{Base: t.API, Token: t.Token}
	// The figures include each device's record in the store as well as
	// its connection: the bbolt file is mapped, its pages count in RSS.
	before := settledRSS(ctx, t.PID)
	lw := o
	lw.DM = 0
	dmOnly := o
	dmOnly.LwM2M, dmOnly.Prefix = 0, o.Prefix+"d"
	start := time.Now()
	f, err := provision(ctx, c, t, lw, "")
	if err != nil {
		return Result{}, err
	}
	defer f.close()
	afterLw := settledRSS(ctx, t.PID)
	g, err := provision(ctx, c, t, dmOnly, "")
	if err != nil {
		return Result{}, err
	}
	defer g.close()
	afterDM := settledRSS(ctx, t.PID)
	r := Result{Scenario: "idle", Metric: "devices held", Value: float64(o.DM + o.LwM2M),
		Params: map[string]any{"dm": o.DM, "lwm2m": o.LwM2M, "dtls": o.DTLS},
		Extra: map[string]float64{"gateway RSS before MiB": float64(before) / (1 << 20), "gateway RSS after MiB": float64(afterDM) / (1 << 20),
			"setup s": time.Since(start).Seconds()}}
	if o.LwM2M > 0 {
		r.Extra["KiB per registered LwM2M device"] = float64(afterLw-before) / 1024 / float64(o.LwM2M)
	}
	if o.DM > 0 {
		r.Extra["KiB per idle DM device"] = float64(afterDM-afterLw) / 1024 / float64(o.DM)
	}
	return r, nil
}

// settledRSS reads a process's resident memory once it stops changing
// much (the gateway finishes handling what just arrived).
func settledRSS(ctx context.Context, pid int) int64 {
	prev := ProcessMemory(pid, "VmRSS")
	for range 20 {
		select {
		case <-ctx.Done():
			return prev
		case <-time.After(500 * time.Millisecond):
		}
		cur := ProcessMemory(pid, "VmRSS")
		if d := cur - prev; d < 1<<20 && d > -(1<<20) {
			return cur
		}
		prev = cur
	}
	return prev
}

// ProcessMemory reads a memory field (VmRSS, VmHWM) of
// /proc/<pid>/status, in bytes; 0 when unknown (not Linux, no such
// process).
func ProcessMemory(pid int, field string) int64 {
	if pid <= 0 {
		return 0
	}
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
