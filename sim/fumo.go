package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Fault is a failure the simulated FUMO client injects.
type Fault int

const (
	FaultNone Fault = iota
	// FaultCorruptDownload flips a byte of the download: integrity check
	// fails, result 402.
	FaultCorruptDownload
	// FaultNetworkCut cuts the first download half-way; the device resumes
	// with Range and succeeds.
	FaultNetworkCut
	// FaultNetworkDown fails every download attempt: result 503.
	FaultNetworkDown
	// FaultInstallFailure fails the install: result 410.
	FaultInstallFailure
	// FaultUserCancel: the user refuses the update: result 401.
	FaultUserCancel
	// FaultRebootDuringUpdate: the device reboots while installing, then
	// reports success from its new firmware.
	FaultRebootDuringUpdate
	// FaultNoReport: the device does the work of an Exec as usual (State
	// and ./DevDetail/FwV change) but its Generic Alert 1226 is lost: it
	// never reaches the server and Report delivers nothing for it. Wait,
	// WaitContext and Outcomes tell when the work ended and how.
	FaultNoReport
)

// fumoMOType is the Type property of a FUMO object's root, by which a
// server finds the object wherever the device keeps it.
const fumoMOType = "urn:oma:mo:oma-fumo:1.0"

// fumoLeaves are the leaves EnableFUMO creates (empty) under the root, so
// that the object's structure shows Download, Update and DownloadAndUpdate.
var fumoLeaves = []string{"PkgName", "PkgVersion", "Download/PkgURL", "Update/PkgData", "DownloadAndUpdate/PkgURL"}

// FUMO makes a DMDevice a FUMO client: Exec on Download, Update or
// DownloadAndUpdate under Root is accepted with 202, the work runs in the
// background, and the result goes to the server in a Generic Alert 1226 in
// a new session. Exec on a node the device does not have is answered 404,
// on another node 405.
type FUMO struct {
	Root       string // default ./FwUpdate/1; any place, e.g. ./Vendor/FOTA/fw
	NewVersion string // FwV after a successful install (default: PkgVersion node, else "2.0")
	// VersionFormat, when set, is the fmt format the device writes the
	// new version into ./DevDetail/FwV with ("V%s " makes "V2.0 "), as
	// devices format their version their own way.
	VersionFormat string
	// ExpectSHA256 is the package digest the device was told to expect
	// (hex); empty skips the check.
	ExpectSHA256 string
	Fault        Fault
	Delay        time.Duration // a slow device waits this long before each step
	HTTP         *http.Client  // for downloads (default http.DefaultClient)

	// ReportFor is how long the device keeps trying to deliver a result
	// to a server that does not answer, as FUMO clients keep a Generic
	// Alert until it is acknowledged (default 60 s).
	ReportFor time.Duration

	dev      *DMDevice
	mu       sync.Mutex
	pkg      []byte
	execs    int // Exec commands received
	late     int // Exec commands received after the device reported success
	success  bool
	reports  chan int
	wg       sync.WaitGroup
	busy     int           // Execs whose work or report has not ended (under mu)
	idle     chan struct{} // closed when busy falls to 0 (under mu)
	outcomes []int         // result codes of the work done, in order (under mu)
}

// EnableFUMO installs f on d: the FUMO object at f.Root (Type
// urn:oma:mo:oma-fumo:1.0; State 10; PkgName, PkgVersion,
// Download/PkgURL, Update/PkgData and DownloadAndUpdate/PkgURL empty
// unless set before) and f as d's Exec handler. Results the device
// reported come out of f.Report.
func (d *DMDevice) EnableFUMO(f *FUMO) {
	if f.Root == "" {
		f.Root = "./FwUpdate/1"
	}
	f.dev, f.reports = d, make(chan int, 16)
	d.SetNode(f.Root+"/State", []byte("10"))
	for _, leaf := range fumoLeaves {
		d.ensureLeaf(f.Root + "/" + leaf)
	}
	d.SetNodeType(f.Root, fumoMOType)
	d.mu.Lock()
	d.fumo = f
	d.mu.Unlock()
	d.Exec = f.exec
}

// Report waits for the next result the device reported to the server.
func (f *FUMO) Report(ctx context.Context) (int, error) {
	select {
	case r := <-f.reports:
		return r, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Wait waits for background work to end.
func (f *FUMO) Wait() { f.wg.Wait() }

// WaitContext is Wait bounded by ctx: it returns nil once no background
// work (download, install, result report) runs, or ctx's error.
func (f *FUMO) WaitContext(ctx context.Context) error {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Outcomes are the FUMO result codes of the Execs whose work has ended, in
// the order they ended, reported to the server or not (FaultNoReport).
func (f *FUMO) Outcomes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.outcomes...)
}

// begin and end bracket one Exec's background work.
func (f *FUMO) begin() {
	f.wg.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy++
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
}

func (f *FUMO) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy--; f.busy == 0 {
		close(f.idle)
		f.idle = nil
	}
	f.wg.Done()
}

func (f *FUMO) state(s int) { f.dev.SetNode(f.Root+"/State", []byte(fmt.Sprint(s))) }

func (f *FUMO) exec(_ context.Context, node, correlator string, _ []byte) int {
	if !f.dev.hasNode(node) {
		return 404 // e.g. a server that took another FUMO root
	}
	op, ok := strings.CutPrefix(node, f.Root+"/")
	if !ok || (op != "Download" && op != "Update" && op != "DownloadAndUpdate") {
		return 405
	}
	f.mu.Lock()
	f.execs++
	if f.success {
		f.late++
	}
	f.mu.Unlock()
	f.begin()
	go func() {
		defer f.end()
		code := f.run(op)
		f.mu.Lock()
		f.outcomes = append(f.outcomes, code)
		f.mu.Unlock()
		if f.Fault == FaultNoReport {
			return // the Generic Alert is lost
		}
		f.report(op, node, correlator, code)
	}()
	return 202
}

// run does the work of an Exec and returns the FUMO result code.
func (f *FUMO) run(op string) int {
	time.Sleep(f.Delay)
	if f.Fault == FaultUserCancel {
		return 401
	}
	if op != "Update" {
		url, _ := f.dev.Node(f.Root + "/" + op + "/PkgURL")
		f.state(30)
		data, err := f.download(string(url))
		if err != nil {
			f.state(20)
			return 503
		}
		if f.Fault == FaultCorruptDownload && len(data) > 0 {
			data[len(data)/2] ^= 0xFF
		}
		if !f.intact(data) {
			f.state(20)
			return 402
		}
		f.mu.Lock()
		f.pkg = data
		f.mu.Unlock()
		f.state(50)
		if op == "Download" {
			return 200
		}
	} else {
		f.mu.Lock()
		have := f.pkg != nil
		f.mu.Unlock()
		// EnableFUMO creates PkgData empty: only data is a pushed package.
		if pushed, _ := f.dev.Node(f.Root + "/Update/PkgData"); len(pushed) > 0 {
			if !f.intact(pushed) {
				return 402
			}
		} else if !have {
			return 405 // nothing to install
		}
	}
	f.state(60)
	time.Sleep(f.Delay)
	if f.Fault == FaultInstallFailure {
		f.state(80)
		return 410
	}
	v := f.NewVersion
	if v == "" {
		v = "2.0"
		if pv, ok := f.dev.Node(f.Root + "/PkgVersion"); ok && len(pv) > 0 {
			v = string(pv)
		}
	}
	if f.VersionFormat != "" {
		v = fmt.Sprintf(f.VersionFormat, v)
	}
	if f.Fault == FaultRebootDuringUpdate {
		time.Sleep(10 * time.Millisecond) // the device is down; the new firmware boots
	}
	f.dev.SetNode("./DevDetail/FwV", []byte(v))
	f.state(100)
	return 200
}

func (f *FUMO) intact(data []byte) bool {
	if f.ExpectSHA256 == "" {
		return true
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == f.ExpectSHA256
}

// errCut is the injected network cut.
var errCut = errors.New("sim: network cut")

// download fetches url, resuming with Range after a cut (3 attempts).
func (f *FUMO) download(url string) ([]byte, error) {
	c := f.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	var data []byte
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		if f.Fault == FaultNetworkDown {
			err = errCut
			continue
		}
		var part []byte
		part, err = f.fetch(c, url, int64(len(data)), attempt == 0 && f.Fault == FaultNetworkCut)
		data = append(data, part...)
		if err == nil {
			return data, nil
		}
	}
	return nil, err
}

// fetch reads url from offset; cut stops half-way as a dropped link would.
func (f *FUMO) fetch(c *http.Client, url string, offset int64, cut bool) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case offset > 0 && resp.StatusCode != http.StatusPartialContent:
		return nil, fmt.Errorf("sim: resume got HTTP %d", resp.StatusCode)
	case offset == 0 && resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("sim: download got HTTP %d", resp.StatusCode)
	}
	if cut {
		half := resp.ContentLength / 2
		b, _ := io.ReadAll(io.LimitReader(resp.Body, half))
		return b, errCut
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// report sends the result in a Generic Alert 1226, in a new session.
func (f *FUMO) report(op, node, correlator string, code int) {
	typ := "org.openmobilealliance.dm.firmwareupdate." + strings.ToLower(op)
	alert := syncml.Alert{Code: 1226, Correlator: correlator, Items: []syncml.Item{{
		Source: &syncml.Location{LocURI: node},
		Meta:   &syncml.Meta{Type: typ, Format: "int", Mark: "critical"},
		Data:   []byte(fmt.Sprint(code)),
	}}}
	if code == 200 {
		f.mu.Lock()
		f.success = true
		f.mu.Unlock()
	}
	until := time.Now().Add(f.ReportFor)
	if f.ReportFor <= 0 {
		until = time.Now().Add(time.Minute)
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if _, err := f.dev.Session(context.Background(), SessionOptions{Alerts: []syncml.Alert{alert}}); err == nil {
			f.reports <- code
			return
		}
		if time.Now().After(until) {
			break
		}
		time.Sleep(wait)
	}
	f.reports <- -1
}

// Executions counts the Exec commands the device received, and those
// received after it had reported a successful update.
func (f *FUMO) Executions() (all, afterSuccess int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.execs, f.late
}
