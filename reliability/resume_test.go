package reliability

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestDevicesDropMidDownloadResume: every device of a mixed campaign loses
// its link in the middle of its package download and resumes it. DM
// devices (sim.FaultNetworkCut) read half the HTTP body, drop, and ask
// for the rest with a Range; LwM2M devices (sim.LwM2MFaultDropAndResume)
// close their CoAP socket half-way through the Block2 pull, pause, and go
// on from a new socket (new source port; over DTLS a new session) at the
// next block; one LwM2M device that only speaks HTTP resumes with a Range.
// Every job succeeds, every device installed exactly the image, and no
// device fetched it twice: a DM device's two requests carry one image
// between them, an LwM2M device asked for each block about once.
func TestDevicesDropMidDownloadResume(t *testing.T) {
	h := newHarness(t, 96<<10, nil)
	const each = 6
	blocks := (len(h.img) + 1023) / 1024 // the device asks for 1 KiB blocks

	dmLogs := map[string]*fetchLog{}
	for _, id := range ids("dm", each) {
		dmLogs[id] = &fetchLog{}
		h.addDM(id, sim.FaultNetworkCut, dmLogs[id].client())
	}
	lwIDs := ids("lw", each)
	for i, id := range lwIDs {
		h.addLwM2M(id, &sim.LwM2MFirmware{Fault: sim.LwM2MFaultDropAndResume}, i < 2) // lw-00, lw-01 over DTLS
	}
	httpLog := &fetchLog{}
	h.addLwM2M("lw-http", &sim.LwM2MFirmware{Fault: sim.LwM2MFaultDropAndResume, Protocols: []int{2}, HTTP: httpLog.client()}, false)

	devices := append(append(ids("dm", each), lwIDs...), "lw-http")
	h.startCampaign("resume", devices, len(devices))
	h.waitCampaign("resume", 90*time.Second)
	h.checkSucceeded("resume", devices)

	// DM: a full GET cut half-way, then one Range GET for the rest; the
	// two bodies add up to the image, not more.
	checkResumed := func(id string, l *fetchLog) {
		t.Helper()
		reqs := l.all()
		if len(reqs) != 2 {
			t.Errorf("%s: %d package requests, want 2 (cut, resume): %+v", id, len(reqs), reqs)
			return
		}
		first, resume := reqs[0], reqs[1]
		if first.rng != "" || first.status != http.StatusOK || first.n <= 0 || first.n >= int64(len(h.img)) {
			t.Errorf("%s: first request %+v, want a 200 cut before the end of %d bytes", id, first, len(h.img))
		}
		if want := fmt.Sprintf("bytes=%d-", first.n); resume.rng != want || resume.status != http.StatusPartialContent {
			t.Errorf("%s: resumed with %+v, want Range %q answered 206", id, resume, want)
		}
		if got := first.n + resume.n; got != int64(len(h.img)) {
			t.Errorf("%s: read %d bytes in all for an image of %d", id, got, len(h.img))
		}
	}
	for id, l := range dmLogs {
		checkResumed(id, l)
	}
	st := h.gw.Files.Stats()
	if partial := st.Requests[download.RequestKey{Protocol: download.ProtocolHTTP, Outcome: download.OutcomePartial}]; partial < each+1 {
		t.Errorf("the gateway served %d Range requests, want at least %d (every DM device and lw-http resumed)", partial, each+1)
	}
	// The gateway may have written a whole image into the socket of a
	// cut download; never a second one.
	if httpDevices := int64(each + 1); st.BytesHTTP >= 2*httpDevices*int64(len(h.img)) {
		t.Errorf("the gateway wrote %d bytes over HTTP for %d devices of a %d-byte image", st.BytesHTTP, httpDevices, len(h.img))
	}

	// LwM2M over CoAP: one drop and resume each, every block asked for
	// about once (a block lost with the old socket is asked again).
	for _, id := range lwIDs {
		fw := h.fws[id]
		if n := fw.Resumes(); n != 1 {
			t.Errorf("%s: %d resumed pulls, want 1", id, n)
		}
		if n := fw.BlocksFetched(); n < blocks || n > blocks+blocks/4 {
			t.Errorf("%s: asked for %d blocks of a %d-block image, want about %d (the pull resumed, it did not start over)", id, n, blocks, blocks)
		}
	}
	if st.BytesCoAP >= 2*int64(each*len(h.img)) {
		t.Errorf("the gateway read %d bytes for CoAP pulls of %d devices, a %d-byte image", st.BytesCoAP, each, len(h.img))
	}
	t.Logf("gateway: %d bytes over HTTP (%d Range requests), %d read for CoAP; lw-00 asked for %d blocks of %d",
		st.BytesHTTP, st.Requests[download.RequestKey{Protocol: download.ProtocolHTTP, Outcome: download.OutcomePartial}], st.BytesCoAP, h.fws["lw-00"].BlocksFetched(), blocks)
	// LwM2M over HTTP: the same as a DM device.
	if fw := h.fws["lw-http"]; fw.Resumes() != 1 || fw.BlocksFetched() != 0 {
		t.Errorf("lw-http: %d resumes, %d CoAP blocks; want 1 resume over HTTP", fw.Resumes(), fw.BlocksFetched())
	}
	checkResumed("lw-http", httpLog)
}

// fetchLog is an HTTP client's record of its package requests: the Range
// asked for, the status and the body bytes read.
type fetchLog struct {
	mu   sync.Mutex
	reqs []fetch
	tr   http.RoundTripper
}

type fetch struct {
	rng    string
	status int
	n      int64
}

// client is an HTTP client (its own connections) that records in l.
func (l *fetchLog) client() *http.Client {
	l.tr = http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: l}
}

func (l *fetchLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.tr.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, download.DefaultPath+"/") {
		return resp, err
	}
	l.mu.Lock()
	i := len(l.reqs)
	l.reqs = append(l.reqs, fetch{rng: r.Header.Get("Range"), status: resp.StatusCode})
	l.mu.Unlock()
	resp.Body = &countingBody{ReadCloser: resp.Body, add: func(n int) {
		l.mu.Lock()
		l.reqs[i].n += int64(n)
		l.mu.Unlock()
	}}
	return resp, nil
}

func (l *fetchLog) all() []fetch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

type countingBody struct {
	io.ReadCloser
	add func(int)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.add(n)
	return n, err
}
