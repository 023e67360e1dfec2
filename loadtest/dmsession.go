package loadtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/beevik/etree"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// DMSessions measures DM session handling: Concurrency devices at a time
// each run a client-initiated session (package 1: Alert 1201 and a
// Replace of ./DevInfo with MD5 credentials; package 2: the server's
// Statuses and Final), cycling over Devices provisioned devices in SyncML
// XML over HTTP keep-alive connections, each worker from its own loopback
// address. fumo-gw authenticates each device, rotates its nonce and
// commits the session step to the store before it answers; the baseline
// is a bare net/http server parsing the same package with etree and
// answering the same Statuses built with etree.
func DMSessions(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	g, closeGW, err := inProcess(ctx, o.Dir)
	if err != nil {
		return Result{}, err
	}
	defer closeGW()
	if err := parallel(ctx, o.Devices, 16, func(i int) error {
		id := fmt.Sprintf("dm-%06d", i)
		_, err := g.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "bench",
			DM: &fleet.DMInfo{DeviceID: "IMEI:" + id, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw-" + id)}})
		return err
	}); err != nil {
		return Result{}, err
	}
	bareLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	bare := &http.Server{Handler: http.HandlerFunc(bareDM), ReadHeaderTimeout: 10 * time.Second}
	go baseline(func() { _ = bare.Serve(bareLn) })
	defer bare.Close()

	// Each worker has its own HTTP client (keep-alive, its own source
	// address) and its share of the devices, one set per side.
	devices := func(url string) [][]*sim.DMDevice {
		per := make([][]*sim.DMDevice, o.Concurrency)
		clients := make([]*http.Client, o.Concurrency)
		for w := range clients {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(w, 1)}}
			clients[w] = &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2}}
		}
		for i := range o.Devices {
			id := fmt.Sprintf("dm-%06d", i)
			dev := &sim.DMDevice{ServerURL: url, DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
				Encoding: syncml.EncodingXML, HTTP: clients[i%o.Concurrency]}
			dev.SetNode("./DevInfo/Man", []byte("fumo-gw bench"))
			dev.SetNode("./DevInfo/Mod", []byte("bench"))
			dev.SetNode("./DevInfo/DmV", []byte("1.2"))
			dev.SetNode("./DevInfo/Lang", []byte("en-US"))
			per[i%o.Concurrency] = append(per[i%o.Concurrency], dev)
		}
		return per
	}
	gwDevs, bareDevs := devices("http://"+g.HTTPAddr+"/dm"), devices("http://"+bareLn.Addr().String()+"/dm")
	// A first session per device, on both sides: the gateway learns the
	// device's nonce, so that the measured sessions are the steady state.
	for _, side := range [][][]*sim.DMDevice{gwDevs, bareDevs} {
		if err := parallel(ctx, o.Concurrency, o.Concurrency, func(w int) error {
			for _, d := range side[w] {
				if err := checkIn(ctx, d); err != nil {
					return fmt.Errorf("warm-up: %w", err)
				}
			}
			return nil
		}); err != nil {
			return Result{}, err
		}
	}
	session := func(side [][]*sim.DMDevice) func(context.Context, int) error {
		next := make([]int, o.Concurrency)
		return func(ctx context.Context, w int) error {
			d := side[w][next[w]%len(side[w])]
			next[w]++
			return checkIn(ctx, d)
		}
	}
	gw, base, err := paired(ctx, o, [2]func(context.Context, int) error{session(gwDevs), session(bareDevs)})
	if err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "dm-session", Metric: "sessions/s", Value: gw, Params: o.params()}
	r.compare("bare net/http+etree", base, 0.5, ">= 50% of bare net/http + etree")
	return r, nil
}

func checkIn(ctx context.Context, d *sim.DMDevice) error {
	rep, err := d.Session(ctx, sim.SessionOptions{})
	if err != nil {
		return err
	}
	if rep.HeaderStatus != 212 && rep.HeaderStatus != 200 {
		return fmt.Errorf("%s: SyncHdr status %d", d.DevID, rep.HeaderStatus)
	}
	return nil
}

// bareDM is the baseline: it parses a SyncML DM package with etree and
// answers, built with etree, a Status for the SyncHdr (212, accepted),
// one for each command (200) and Final. It checks and stores nothing.
func bareDM(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := etree.NewDocument()
	if err := in.ReadFromBytes(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	root := in.SelectElement("SyncML")
	if root == nil || root.SelectElement("SyncHdr") == nil || root.SelectElement("SyncBody") == nil {
		http.Error(w, "not SyncML", http.StatusBadRequest)
		return
	}
	text := func(e *etree.Element, path string) string {
		if c := e.FindElement(path); c != nil {
			return c.Text()
		}
		return ""
	}
	hdr := root.SelectElement("SyncHdr")
	msgID, src, tgt := text(hdr, "MsgID"), text(hdr, "Source/LocURI"), text(hdr, "Target/LocURI")
	out := etree.NewDocument()
	sm := out.CreateElement("SyncML")
	sm.CreateAttr("xmlns", "SYNCML:SYNCML1.2")
	oh := sm.CreateElement("SyncHdr")
	oh.CreateElement("VerDTD").SetText("1.2")
	oh.CreateElement("VerProto").SetText("DM/1.2")
	oh.CreateElement("SessionID").SetText(text(hdr, "SessionID"))
	oh.CreateElement("MsgID").SetText(msgID)
	oh.CreateElement("Target").CreateElement("LocURI").SetText(src)
	oh.CreateElement("Source").CreateElement("LocURI").SetText(tgt)
	ob := sm.CreateElement("SyncBody")
	cmdID := 0
	status := func(ref, cmd, code string) *etree.Element {
		cmdID++
		st := ob.CreateElement("Status")
		st.CreateElement("CmdID").SetText(fmt.Sprint(cmdID))
		st.CreateElement("MsgRef").SetText(msgID)
		st.CreateElement("CmdRef").SetText(ref)
		st.CreateElement("Cmd").SetText(cmd)
		st.CreateElement("Data").SetText(code)
		return st
	}
	hs := status("0", "SyncHdr", "212")
	hs.CreateElement("TargetRef").SetText(tgt)
	hs.CreateElement("SourceRef").SetText(src)
	for _, c := range root.SelectElement("SyncBody").ChildElements() {
		if c.Tag == "Status" || c.Tag == "Final" {
			continue
		}
		status(text(c, "CmdID"), c.Tag, "200")
	}
	ob.CreateElement("Final")
	b, err := out.WriteToBytes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", syncml.EncodingXML.ContentType())
	_, _ = w.Write(b)
}
