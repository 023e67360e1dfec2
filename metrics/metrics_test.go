package metrics_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/metrics"
	"github.com/fumo-gw/fumo-gw/sim"
)

var ctx = context.Background()

// openGateway runs a whole gateway on 127.0.0.1 with a package fw2 of n
// bytes, and returns it with the package.
func openGateway(t *testing.T, n int) (*gateway.Gateway, []byte) {
	t.Helper()
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	lc.RequestTimeout = 5 * time.Second
	g, err := gateway.Open(ctx, gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("a signing key of the test gateway")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	img := bytes.Repeat([]byte("fumo-gw metrics "), n/16+1)[:n]
	sum := sha256.Sum256(img)
	if _, err := g.Store.PutPackage(ctx, fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(n), SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	return g, img
}

// scrape asks the handler for the figures and reads them strictly.
func scrape(t *testing.T, h http.Handler) *exposition {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	e, err := parseExposition(rec.Body.String())
	if err != nil {
		t.Fatalf("malformed exposition: %v\n%s", err, rec.Body.String())
	}
	return e
}

// families are every family the gateway exposes, with its type and the
// label sets it always has (nil: one sample without labels).
var families = map[string]struct {
	typ    string
	labels []map[string]string
}{
	"fumo_dm_sessions_started_total": {typ: "counter"},
	"fumo_dm_sessions_ended_total":   {typ: "counter"},
	"fumo_dm_messages_total":         {"counter", labelSets("encoding", "xml", "wbxml")},
	"fumo_dm_auth_failures_total":    {typ: "counter"},
	"fumo_dm_retransmissions_total":  {typ: "counter"},
	"fumo_dm_rejected_messages_total": {"counter", labelSets("reason", "method", "media_type", "too_large", "malformed",
		"not_found", "wrong_session", "forbidden", "sequence", "version")},
	"fumo_lwm2m_jobs_to_waiting_total":         {"counter", labelSets("cause", "expired", "deregistered")},
	"fumo_lwm2m_delivery_no_progress_total":    {typ: "counter"},
	"fumo_lwm2m_registrations":                 {typ: "gauge"},
	"fumo_lwm2m_registers_total":               {typ: "counter"},
	"fumo_lwm2m_updates_total":                 {typ: "counter"},
	"fumo_lwm2m_deregistrations_total":         {typ: "counter"},
	"fumo_lwm2m_expirations_total":             {typ: "counter"},
	"fumo_lwm2m_requests_total":                {typ: "counter"},
	"fumo_lwm2m_request_failures_total":        {"counter", labelSets("kind", "no_answer", "error_answer")},
	"fumo_lwm2m_rejected_requests_total":       {"counter", labelSets("code", "4.00", "4.02", "4.03", "4.04", "4.05", "4.08", "4.12", "4.13", "4.15")},
	"fumo_lwm2m_unsolicited_messages_total":    {typ: "counter"},
	"fumo_lwm2m_dtls_unknown_identities_total": {typ: "counter"},
	"fumo_lwm2m_dtls_handshakes_failed_total": {"counter", labelSets("cause", "bad_version", "malformed", "no_session", "backlog",
		"unknown_identity", "timeout", "failed")},
	"fumo_lwm2m_dtls_record_versions_rewritten_total": {typ: "counter"},
	"fumo_lwm2m_rate_limited_messages_total":          {typ: "counter"},
	"fumo_lwm2m_evicted_connections_total":            {typ: "counter"},
	"fumo_http_refused_connections_total":             {typ: "counter"},
	"fumo_download_bytes_total":                       {"counter", labelSets("protocol", "http", "coap")},
	"fumo_download_requests_total":                    {"counter", downloadLabelSets()},
	"fumo_jobs": {"gauge", labelSets("state", "queued", "waiting_device", "delivering", "delivered", "updating",
		"verifying", "succeeded", "failed", "cancelled")},
	"fumo_campaigns":             {"gauge", labelSets("state", "draft", "running", "paused", "done", "cancelled")},
	"fumo_store_writes_total":    {typ: "counter"},
	"fumo_store_commits_total":   {typ: "counter"},
	"fumo_internal_errors_total": {"counter", labelSets("component", "dm", "lwm2m", "download")},
}

func labelSets(name string, values ...string) []map[string]string {
	var out []map[string]string
	for _, v := range values {
		out = append(out, map[string]string{name: v})
	}
	return out
}

func downloadLabelSets() []map[string]string {
	var out []map[string]string
	for _, o := range []string{"ok", "partial", "not_modified", "precondition_failed", "bad_range", "not_found", "method_not_allowed", "error"} {
		out = append(out, map[string]string{"protocol": "http", "outcome": o})
	}
	for _, o := range []string{"ok", "bad_range", "not_found", "error"} {
		out = append(out, map[string]string{"protocol": "coap", "outcome": o})
	}
	return out
}

// checkFamilies: every family is there, typed and documented, named as
// Prometheus names things, with all its series and no others.
func checkFamilies(t *testing.T, e *exposition) {
	t.Helper()
	for name, want := range families {
		f := e.fams[name]
		if f == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.typ != want.typ || !f.hasHelp || f.help == "" {
			t.Errorf("%s: type %q help %q, want type %s and a help text", name, f.typ, f.help, want.typ)
		}
		if sets := want.labels; sets == nil {
			if _, ok := f.value(nil); !ok || len(f.samples) != 1 {
				t.Errorf("%s: samples %+v, want one without labels", name, f.samples)
			}
		} else {
			for _, ls := range sets {
				if _, ok := f.value(ls); !ok {
					t.Errorf("%s: no series %v", name, ls)
				}
			}
			if len(f.samples) != len(sets) {
				t.Errorf("%s: %d series, want %d", name, len(f.samples), len(sets))
			}
		}
		for _, s := range f.samples {
			if s.value < 0 {
				t.Errorf("%s%v = %v, negative", name, s.labels, s.value)
			}
		}
	}
	for _, name := range e.order {
		f := e.fams[name]
		if _, known := families[name]; !known {
			t.Errorf("family %s not checked by this test", name)
		}
		if !strings.HasPrefix(name, "fumo_") || (f.typ == "counter") != strings.HasSuffix(name, "_total") {
			t.Errorf("%s (%s): want fumo_ names, _total on counters only", name, f.typ)
		}
	}
	for i := 1; i < len(e.order); i++ {
		if e.order[i-1] >= e.order[i] {
			t.Errorf("families out of order: %s before %s", e.order[i-1], e.order[i])
		}
	}
}

func value(t *testing.T, e *exposition, name string, labels map[string]string) float64 {
	t.Helper()
	f := e.fams[name]
	if f == nil {
		t.Fatalf("family %s missing", name)
	}
	v, ok := f.value(labels)
	if !ok {
		t.Fatalf("%s: no series %v", name, labels)
	}
	return v
}

func rawCoAP(t *testing.T, addr string) *udpClient.Conn {
	t.Helper()
	cc, err := udp.Dial(addr, options.WithBlockwise(false, blockwise.SZX1024, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// fetchCoAP downloads a package URI block by block (Block2, 1024 bytes)
// and returns the bytes and the number of blocks.
func fetchCoAP(t *testing.T, cc *udpClient.Conn, path string) ([]byte, int) {
	t.Helper()
	var got []byte
	for num := int64(0); ; num++ {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := cc.NewGetRequest(c, path)
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := blockwise.EncodeBlockOption(blockwise.SZX1024, num, false)
		req.SetOptionUint32(message.Block2, opt)
		resp, err := cc.Do(req)
		cc.ReleaseMessage(req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code() != codes.Content {
			t.Fatalf("block %d: %v", num, resp.Code())
		}
		b, _ := resp.ReadBody()
		got = append(got, b...)
		v, err := resp.GetOptionUint32(message.Block2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, more, _ := blockwise.DecodeBlockOption(v); !more {
			return got, int(num + 1)
		}
	}
}

// TestHandler_Gateway runs a gateway through one DM session (and one
// with a wrong password), one LwM2M registration and a read, a package
// download over HTTP and one over CoAP, a draft campaign with two jobs
// and a bad message of each protocol, and checks that the scrape is
// well-formed, complete, and that the figures moved as they should.
func TestHandler_Gateway(t *testing.T) {
	g, img := openGateway(t, 5000)
	h := metrics.Handler(g)
	before := scrape(t, h)
	checkFamilies(t, before)

	// DM: a good session over WBXML, one refused for its password, one
	// malformed message.
	if _, err := g.Store.CreateDevice(ctx, fleet.Device{ID: "dm1", Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{DeviceID: "IMEI:1",
		Auth: fleet.DMAuthMD5, Username: "dm1", Password: fleet.Secret("pw"), ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"),
		FUMORoot: "./FwUpdate/1"}}); err != nil {
		t.Fatal(err)
	}
	dmURL := "http://" + g.HTTPAddr + "/dm"
	d := &sim.DMDevice{ServerURL: dmURL, DevID: "IMEI:1", Username: "dm1", Password: "pw", Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/DevId", []byte("IMEI:1"))
	rep, err := d.Session(ctx, sim.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Password = "wrong"
	if _, err := d.Session(ctx, sim.SessionOptions{}); !errors.Is(err, sim.ErrAuthRefused) {
		t.Fatalf("session with a wrong password: %v", err)
	}
	resp, err := http.Post(dmURL, syncml.ContentTypeXML, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// LwM2M: a registration and a read; a Register from nobody.
	if _, err := g.Store.CreateDevice(ctx, fleet.Device{ID: "lw1", Protocol: fleet.ProtocolLwM2M, LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:dev:lw1"}}); err != nil {
		t.Fatal(err)
	}
	lw := &sim.LwM2MDevice{Endpoint: "urn:dev:lw1", Server: g.LwM2M.UDPAddr().String()}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lw.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Kill)
	if _, err := g.LwM2M.Read(c, "urn:dev:lw1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatal(err)
	}
	cc := rawCoAP(t, g.LwM2M.UDPAddr().String())
	req, err := cc.NewPostRequest(c, "/rd", message.AppLinkFormat, strings.NewReader("</3/0>"))
	if err != nil {
		t.Fatal(err)
	}
	req.AddQuery("ep=nobody")
	if resp, err := cc.Do(req); err != nil || resp.Code() != codes.Forbidden {
		t.Fatalf("register from nobody: %v %v", resp, err)
	}

	// Downloads: the package over HTTP and over CoAP.
	resp, err = http.Get(g.Files.URL("http://"+g.HTTPAddr, "job-x", "fw2"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, img) {
		t.Fatalf("HTTP download: %d bytes", len(body))
	}
	// The download is counted when its handler returns, which may be
	// after the client has read the last byte.
	for deadline := time.Now().Add(10 * time.Second); g.Files.Stats().Requests[download.RequestKey{Protocol: "http", Outcome: "ok"}] == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the HTTP download was never counted")
		}
		time.Sleep(time.Millisecond)
	}
	got, blocks := fetchCoAP(t, cc, g.Files.URL("", "job-x", "fw2"))
	if !bytes.Equal(got, img) {
		t.Fatalf("CoAP download: %d bytes", len(got))
	}

	// Jobs and campaigns: a draft campaign (nothing starts) of two jobs.
	for _, id := range []string{"spare1", "spare2"} {
		if _, err := g.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{DeviceID: "IMEI:" + id,
			Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Store.CreateCampaign(ctx, fleet.Campaign{ID: "c1", PackageID: "fw2", Operation: fleet.OpDownloadAndUpdate,
		Devices: []string{"spare1", "spare2"}, MaxInFlight: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"spare1", "spare2"} {
		if _, err := g.Store.CreateJob(ctx, fleet.Job{ID: "job-" + id, DeviceID: id, PackageID: "fw2", CampaignID: "c1",
			Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			t.Fatal(err)
		}
	}

	after := scrape(t, h)
	checkFamilies(t, after)
	none := map[string]string(nil)
	exact := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fumo_dm_sessions_started_total", none, 2},
		{"fumo_dm_auth_failures_total", none, 2},
		{"fumo_dm_messages_total", map[string]string{"encoding": "xml"}, 0},
		{"fumo_dm_rejected_messages_total", map[string]string{"reason": "malformed"}, 1},
		{"fumo_dm_rejected_messages_total", map[string]string{"reason": "forbidden"}, 0},
		{"fumo_lwm2m_registrations", none, 1},
		{"fumo_lwm2m_registers_total", none, 1},
		{"fumo_lwm2m_rejected_requests_total", map[string]string{"code": "4.03"}, 1},
		{"fumo_download_bytes_total", map[string]string{"protocol": "http"}, float64(len(img))},
		{"fumo_download_bytes_total", map[string]string{"protocol": "coap"}, float64(len(img))},
		{"fumo_download_requests_total", map[string]string{"protocol": "http", "outcome": "ok"}, 1},
		{"fumo_download_requests_total", map[string]string{"protocol": "coap", "outcome": "ok"}, float64(blocks)},
		{"fumo_jobs", map[string]string{"state": "queued"}, 2},
		{"fumo_jobs", map[string]string{"state": "succeeded"}, 0},
		{"fumo_campaigns", map[string]string{"state": "draft"}, 1},
		{"fumo_internal_errors_total", map[string]string{"component": "dm"}, 0},
		{"fumo_internal_errors_total", map[string]string{"component": "lwm2m"}, 0},
		{"fumo_internal_errors_total", map[string]string{"component": "download"}, 0},
	}
	for _, x := range exact {
		if v := value(t, after, x.name, x.labels); v != x.want {
			t.Errorf("%s%v = %v, want %v", x.name, x.labels, v, x.want)
		}
	}
	if v := value(t, after, "fumo_dm_messages_total", map[string]string{"encoding": "wbxml"}); v < float64(rep.Messages+2) {
		t.Errorf("%v WBXML messages answered, want at least %d", v, rep.Messages+2)
	}
	for _, name := range []string{"fumo_dm_sessions_ended_total", "fumo_lwm2m_requests_total", "fumo_store_writes_total", "fumo_store_commits_total"} {
		if a, b := after.fams[name].sum(), before.fams[name].sum(); a <= b {
			t.Errorf("%s did not move: %v -> %v", name, b, a)
		}
	}
	for name, f := range after.fams {
		if f.typ == "counter" && f.sum() < before.fams[name].sum() {
			t.Errorf("counter %s went down: %v -> %v", name, before.fams[name].sum(), f.sum())
		}
	}
}

// TestHandler_DTLSHandshakes: datagrams the DTLS listener drops are
// counted by cause, and a device whose ClientHello record has version
// 0xFE00 (stock mbedTLS) registers and is counted as rewritten.
func TestHandler_DTLSHandshakes(t *testing.T) {
	g, _ := openGateway(t, 16)
	h := metrics.Handler(g)
	dtlsAddr := g.LwM2M.DTLSAddr().String()
	if _, err := g.Store.CreateDevice(ctx, fleet.Device{ID: "lw1", Protocol: fleet.ProtocolLwM2M, LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:dev:lw1",
		PSKIdentity: "lw1", PSKKey: fleet.Secret("key-lw1-0123456")}}); err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("udp", dtlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, b := range [][]byte{
		[]byte("hello"), // not a DTLS record
		{22, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, // a ClientHello record of TLS's version
	} {
		if _, err := raw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	lw := &sim.LwM2MDevice{Endpoint: "urn:dev:lw1", Server: dtlsAddr, PSKIdentity: "lw1", PSKKey: []byte("key-lw1-0123456"), DTLSRecordVersion: 0xfe00}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lw.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Kill)
	e := scrape(t, h)
	checkFamilies(t, e)
	failed := func(cause string) float64 {
		return value(t, e, "fumo_lwm2m_dtls_handshakes_failed_total", map[string]string{"cause": cause})
	}
	for cause, want := range map[string]float64{"malformed": 1, "bad_version": 1, "no_session": 0, "timeout": 0, "failed": 0, "unknown_identity": 0} {
		if v := failed(cause); v != want {
			t.Errorf("handshakes failed %s = %v, want %v", cause, v, want)
		}
	}
	if v := value(t, e, "fumo_lwm2m_dtls_record_versions_rewritten_total", nil); v != 1 {
		t.Errorf("rewritten = %v, want 1", v)
	}
	if v := value(t, e, "fumo_lwm2m_registrations", nil); v != 1 {
		t.Errorf("registrations = %v, want 1", v)
	}
	if a, b := failed("unknown_identity"), value(t, e, "fumo_lwm2m_dtls_unknown_identities_total", nil); a != b {
		t.Errorf("unknown identities %v in one family, %v in the other", a, b)
	}
}
