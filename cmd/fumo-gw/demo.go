package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/sim"
)

// runDemo starts a gateway on loopback ports with a temporary store and a
// few simulated DM and LwM2M devices, uploads a package, runs one campaign
// across both protocols with one device set to fail, shows the progress
// live and prints the outcome per device.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	each := fs.Int("devices", 3, "simulated devices of each protocol")
	verbose := fs.Bool("v", false, "show the gateway's log")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: fumo-gw demo [-devices N] [-v]\n\nStart a gateway with simulated DM and LwM2M devices, run one campaign, print the outcome.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *each < 2 || *each > 200 {
		fmt.Fprintln(stderr, "demo: -devices 2..200")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := demo(ctx, *each, *verbose, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, each int, verbose bool, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "fumo-gw-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	// DM devices are woken by Package 0: the demo's push gateway hands
	// them to the simulated devices.
	push := sim.NewPushGateway()
	go func() {
		for range push.Errors {
		}
	}()
	ps := httptest.NewServer(push)
	defer ps.Close()

	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	g, err := gateway.Open(ctx, gateway.Config{StorePath: filepath.Join(dir, "fumo-gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("the demo's signing key, for this run only"), Notifier: &dm.HTTPNotifier{URL: ps.URL},
		Tick: 100 * time.Millisecond, PollInterval: time.Second, Retry: bridge.RetryPolicy{Backoff: time.Second}, Logger: log})
	if err != nil {
		return err
	}
	defer g.Close()
	token := "demo-token-" + hex.EncodeToString([]byte(dir))[:16]
	a, err := api.New(api.Config{Gateway: g, Token: token, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	c := &client.Client{Base: "http://" + ln.Addr().String(), Token: token}
	fmt.Fprintf(stdout, "gateway: DM http://%s/dm, LwM2M coap://%s, API http://%s (store in %s)\n", g.HTTPAddr, g.LwM2M.UDPAddr(), ln.Addr(), dir)

	// The package: 64 KiB, version 2.0.
	img := make([]byte, 64<<10)
	for i := range img {
		img[i] = byte(i*31 + i>>8)
	}
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	if _, err := c.AddPackage(ctx, "rocket-2.0", "rocket", "2.0", digest, int64(len(img)), bytes.NewReader(img)); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	fmt.Fprintf(stdout, "package rocket-2.0 uploaded: %d bytes, sha256 %s…\n", len(img), digest[:16])

	// The devices, provisioned through the API; the last DM device fails
	// its install (FUMO 410).
	var ids []string
	before := map[string]string{}
	for i := 1; i <= each; i++ {
		id := fmt.Sprintf("dm-%d", i)
		fault := sim.FaultNone
		if i == each {
			fault = sim.FaultInstallFailure
		}
		if err := demoDM(ctx, c, g, push, id, digest, fault); err != nil {
			return err
		}
		ids, before[id] = append(ids, id), "1.0"
	}
	for i := 1; i <= each; i++ {
		id := fmt.Sprintf("lw-%d", i)
		d, err := demoLwM2M(ctx, c, g, id, digest)
		if err != nil {
			return err
		}
		defer d.Kill()
		ids, before[id] = append(ids, id), "1.0"
	}
	fmt.Fprintf(stdout, "%d DM and %d LwM2M devices provisioned and connected (%s set to fail its install)\n", each, each, fmt.Sprintf("dm-%d", each))

	p, err := c.CreateCampaign(ctx, bridge.CampaignRequest{ID: "demo", PackageID: "rocket-2.0", Devices: ids, MaxInFlight: 2 * each})
	if err == nil {
		p, err = c.CampaignAction(ctx, p.Campaign.ID, "start")
	}
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	fmt.Fprintln(stdout, "campaign demo started")
	p, err = watchCampaign(ctx, c, "demo", stdout, isTerminal(stdout))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ncampaign demo %s: %d succeeded, %d failed\n\n", p.Campaign.State, p.Jobs[fleet.JobSucceeded], p.Jobs[fleet.JobFailed])
	return resultTable(ctx, c, "demo", before, stdout)
}

func demoDM(ctx context.Context, c *client.Client, g *gateway.Gateway, push *sim.PushGateway, id, digest string, fault sim.Fault) error {
	if _, err := c.AddDevice(ctx, api.DeviceRequest{ID: id, Protocol: fleet.ProtocolDM, Model: "Rocket-DM", FirmwareVersion: "1.0",
		DM: &api.DMSettings{DeviceID: "IMEI:" + id, Auth: fleet.DMAuthMD5, Username: id, Password: "pw-" + id, ServerID: "fumo-gw", ServerPassword: "srv-" + id}}); err != nil {
		return fmt.Errorf("provision %s: %w", id, err)
	}
	d := &sim.DMDevice{ServerURL: "http://" + g.HTTPAddr + "/dm", DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv-" + id, Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/Mod", []byte("Rocket-DM"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	d.EnableFUMO(&sim.FUMO{ExpectSHA256: digest, Fault: fault})
	if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
		return fmt.Errorf("first session of %s: %w", id, err)
	}
	push.Add(d)
	return nil
}

func demoLwM2M(ctx context.Context, c *client.Client, g *gateway.Gateway, id, digest string) (*sim.LwM2MDevice, error) {
	if _, err := c.AddDevice(ctx, api.DeviceRequest{ID: id, Protocol: fleet.ProtocolLwM2M, Model: "Rocket-L", FirmwareVersion: "1.0",
		LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:" + id}}); err != nil {
		return nil, fmt.Errorf("provision %s: %w", id, err)
	}
	d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: g.LwM2M.UDPAddr().String(), Model: "Rocket-L",
		Firmware: &sim.LwM2MFirmware{ExpectSHA256: digest}}
	if err := d.Start(ctx); err != nil {
		return nil, fmt.Errorf("register %s: %w", id, err)
	}
	return d, nil
}
