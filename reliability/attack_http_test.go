package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// SyncML content types a DM client sends.
const (
	ctXML   = "application/vnd.syncml.dm+xml"
	ctWBXML = "application/vnd.syncml.dm+wbxml"
)

// do sends one HTTP request and notes its answer: the HTTP status, the
// status a SyncML answer gives the SyncHdr ("syncml 401"), or "error".
func (a *attacker) do(ctx context.Context, what, method, url string, body io.Reader, header ...string) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		a.note(what, "bad request: "+err.Error())
		return
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.note(what, "error")
		}
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	answer := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.syncml") {
		answer = "syncml ?"
		if m, _, err := syncml.Decode(b); err == nil {
			for _, c := range m.Body.Commands {
				if s, ok := c.(*syncml.Status); ok && s.CmdRef == "0" {
					answer = fmt.Sprintf("syncml %d", s.Code)
				}
			}
		}
	}
	a.note(what, answer)
}

// pkg1 is a DM package 1 (Alert 1201, DevInfo, Final) of device devID,
// with cred (nil: none).
func pkg1(rng *rand.Rand, devID, user string, cred *syncml.Cred, enc syncml.Encoding) []byte {
	m := &syncml.Message{Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto,
		SessionID: strconv.Itoa(1 + rng.IntN(0xfff)), MsgID: "1",
		Target: syncml.Location{LocURI: "http://gateway/dm"}, Source: syncml.Location{LocURI: devID, LocName: user}, Cred: cred}}
	m.Body.Commands = append(m.Body.Commands, &syncml.Alert{CmdID: "1", Code: 1201},
		&syncml.Replace{CmdID: "2", Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./DevInfo/DevId"}, Data: []byte(devID)}}})
	m.Body.Final = true
	b, err := syncml.Encode(m, enc)
	if err != nil {
		panic(err)
	}
	return b
}

// dmRound sends the DM endpoint one of each malformed message.
func (a *attacker) dmRound(ctx context.Context, rng *rand.Rand) {
	url := a.httpBase + dm.DefaultPath
	post := func(what, ct string, body []byte, header ...string) {
		a.do(ctx, what, http.MethodPost, url, bytes.NewReader(body), append([]string{"Content-Type", ct}, header...)...)
	}
	dev := pick(rng, a.dmDevices)
	xml := pkg1(rng, "IMEI:"+dev, dev, nil, syncml.EncodingXML)
	wbxml := pkg1(rng, "IMEI:"+dev, dev, nil, syncml.EncodingWBXML)

	garbage := randomBytes(rng, 1+rng.IntN(4096))
	if rng.IntN(2) == 0 {
		garbage[0] = '<'
	}
	post("dm garbage as XML", ctXML, garbage)
	post("dm truncated XML", ctXML, xml[:rng.IntN(len(xml))])
	post("dm truncated WBXML", ctWBXML, wbxml[:rng.IntN(len(wbxml))])
	post("dm garbage WBXML", ctWBXML, append([]byte{0x02, 0xa4, 0x01, 0x6a, 0x00}, randomBytes(rng, rng.IntN(2048))...))
	flipped := bytes.Clone(wbxml)
	for range 1 + rng.IntN(4) {
		flipped[rng.IntN(len(flipped))] = byte(rng.Uint32())
	}
	post("dm corrupted WBXML", ctWBXML, flipped)
	// Well-formed messages with credentials that are not right.
	wrongMD5 := &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential(dev, "guess", randomBytes(rng, 16))}
	post("dm wrong md5 credentials", ctXML, pkg1(rng, "IMEI:"+dev, dev, wrongMD5, syncml.EncodingXML))
	wrongBasic := &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential(dev, "guess")}
	post("dm wrong basic credentials", ctWBXML, pkg1(rng, "IMEI:"+dev, dev, wrongBasic, syncml.EncodingWBXML))
	stranger := fmt.Sprintf("IMEI:attacker-%d", rng.IntN(1000))
	post("dm unknown device", ctXML, pkg1(rng, stranger, "x", wrongMD5, syncml.EncodingXML))
	post("dm bad hmac header", ctXML, xml, syncml.HMACHeaderName, pick(rng, []string{"algorithm=SHA1, username=x, mac=y", "mac", `username="`, strings.Repeat("a=b,", 2000)}))
	// Bad transport: method, media type, size, paths, headers.
	a.do(ctx, "dm wrong method", pick(rng, []string{http.MethodGet, http.MethodPut, http.MethodDelete}), url, nil)
	post("dm wrong media type", pick(rng, []string{"text/plain", "application/json", "multipart/form-data; boundary=x"}), xml)
	post("dm garbled media type", "application/vnd.syncml.dm+xml; charset=\"", xml)
	post("dm no media type", "", garbage)
	a.do(ctx, "dm session token", http.MethodPost, url+pick(rng, []string{"/s/", "/s/" + strconv.Itoa(rng.IntN(1e6)), "/s/a/b", "/x"}), bytes.NewReader(xml), "Content-Type", ctXML)
	post("dm huge header", ctXML, xml, "X-Junk", strings.Repeat("j", 64<<10))
	if rng.IntN(4) == 0 { // 600 KiB each: not every round
		big := dm.DefaultMaxMsgSize + 1 + rng.IntN(64<<10)
		post("dm oversized", ctXML, make([]byte, big))
		a.do(ctx, "dm oversized chunked", http.MethodPost, url, io.LimitReader(zeros{}, int64(big)), "Content-Type", ctWBXML)
	}
}

// zeros reads zero bytes for ever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// downloadRound asks the package download path for unsigned packages,
// and for the (leaked) signed one with bad Range and validator headers.
func (a *attacker) downloadRound(ctx context.Context, rng *rand.Rand) {
	parts := strings.Split(strings.TrimPrefix(a.fileURL, "/"), "/") // fw, job, pkg, sig
	forged := fmt.Sprintf("/fw/%s/%s/%x", parts[1], parts[2], randomBytes(rng, 16))
	for _, p := range []string{forged, "/fw/" + parts[1] + "/" + parts[2], "/fw/", "/fw/../../etc/passwd", "/fw/a/b/c/d", fmt.Sprintf("/fw/%s/other/%s", parts[1], parts[3])} {
		a.do(ctx, "download unsigned", http.MethodGet, a.httpBase+p, nil)
	}
	ranges := []string{"bytes=abc", "bytes=999999999-", "bytes=5-1", "bytes=-", "bytes=-0", "bytes=" + strings.Repeat("0-0,", 300) + "0-0",
		"bytes=0-18446744073709551616", "items=0-5", "bytes=--5", fmt.Sprintf("bytes=%d-%d", rng.IntN(1<<20), rng.IntN(1<<20))}
	a.do(ctx, "download bad range", http.MethodGet, a.httpBase+a.fileURL, nil, "Range", pick(rng, ranges))
	a.do(ctx, "download bad validators", http.MethodGet, a.httpBase+a.fileURL, nil, "Range", "bytes=0-99",
		"If-Range", pick(rng, []string{`"`, "W/", "Mon, 99 Foo"}), "If-None-Match", pick(rng, []string{`"`, "*,*", `W/"`}))
	a.do(ctx, "download wrong method", pick(rng, []string{http.MethodPost, http.MethodPut, http.MethodDelete}), a.httpBase+a.fileURL, bytes.NewReader(randomBytes(rng, 64)))
}

// apiRound sends the operator API requests without the token, with a
// wrong one, and with the token but malformed bodies (never a valid
// request: the attacker must not be able to change anything).
func (a *attacker) apiRound(ctx context.Context, rng *rand.Rand) {
	routes := []struct{ method, path string }{{"GET", "/api/v1/devices"}, {"POST", "/api/v1/devices"}, {"DELETE", "/api/v1/devices/dm-00"},
		{"POST", "/api/v1/campaigns"}, {"POST", "/api/v1/campaigns/burst/cancel"}, {"POST", "/api/v1/jobs"}, {"DELETE", "/api/v1/packages/fw2"},
		{"GET", "/api/v1/events"}, {"POST", "/api/v1/devices/lw-00/lwm2m/5/0/2"}}
	r := pick(rng, routes)
	a.do(ctx, "api no token", r.method, a.apiBase+r.path, nil)
	a.do(ctx, "api wrong token", r.method, a.apiBase+r.path, nil, "Authorization", fmt.Sprintf("Bearer %x", randomBytes(rng, 16)))
	a.do(ctx, "api wrong scheme", r.method, a.apiBase+r.path, nil, "Authorization", "Basic "+apiToken)

	auth := "Bearer " + apiToken
	bodies := []string{"{", `{"id":`, "[1,2", `{"id": 5}`, `{"unknown_field": true}`, strings.Repeat("[", 10000), `"\ud800"`, "nul\x00l", ""}
	for _, p := range []string{"/api/v1/devices", "/api/v1/campaigns", "/api/v1/jobs", "/api/v1/devices/dm-00/dm/commands"} {
		a.do(ctx, "api malformed JSON", http.MethodPost, a.apiBase+p, strings.NewReader(pick(rng, bodies)), "Authorization", auth, "Content-Type", "application/json")
	}
	a.do(ctx, "api wrong media type", http.MethodPost, a.apiBase+"/api/v1/campaigns", strings.NewReader("<x/>"), "Authorization", auth, "Content-Type", "text/xml")
	a.do(ctx, "api malformed upload", http.MethodPost, a.apiBase+"/api/v1/packages", bytes.NewReader(randomBytes(rng, 512)), "Authorization", auth,
		"Content-Type", pick(rng, []string{"multipart/form-data; boundary=zz", "multipart/form-data", "application/octet-stream"}))
	a.do(ctx, "api unknown route", http.MethodGet, a.apiBase+"/api/v1/"+pick(rng, []string{"nope", "devices/%00", "campaigns/../../x", "devices/dm-00/lwm2m/"}), nil, "Authorization", auth)
	if rng.IntN(8) == 0 {
		a.do(ctx, "api oversized JSON", http.MethodPost, a.apiBase+"/api/v1/campaigns", io.LimitReader(zeros{}, 2<<20), "Authorization", auth, "Content-Type", "application/json")
	}
}

// rawHTTPRound writes broken HTTP/1.1 straight to the gateway's and the
// API's sockets: garbage, bad request lines, bad or contradictory
// headers, a body shorter than announced.
func (a *attacker) rawHTTPRound(ctx context.Context, rng *rand.Rand) {
	reqs := []struct{ name, req string }{
		{"garbage", string(randomBytes(rng, 1+rng.IntN(512))) + "\r\n\r\n"},
		{"negative length", "POST /dm HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"},
		{"two lengths", "POST /dm HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789"},
		{"chunked and length", "POST /dm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n"},
		{"huge chunk", "POST /dm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nabc"},
		{"bad header line", "POST /dm HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n"},
		{"version 9.9", "GET /fw/a/b/c HTTP/9.9\r\nHost: x\r\n\r\n"}, // 505 is the right answer
		{"long path", "GET " + strings.Repeat("/fw", 4000) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"short body", "POST /dm HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctXML + "\r\nContent-Length: 5000\r\n\r\n<SyncML>"}, // then the connection closes
		{"control bytes", "GET /api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00\x01\r\n\r\n"},
	}
	r := pick(rng, reqs)
	what := "raw http, " + r.name
	addr := strings.TrimPrefix(a.httpBase, "http://")
	if rng.IntN(3) == 0 {
		addr = strings.TrimPrefix(a.apiBase, "http://")
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: attackerIP}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil {
			a.note(what, "dial error")
		}
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, r.req); err != nil {
		a.note(what, "write error")
		return
	}
	_ = c.(*net.TCPConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err != nil && line == "":
		a.note(what, "closed")
	case strings.HasPrefix(line, "HTTP/1.1 "):
		a.note(what, strings.Fields(line)[1])
	default:
		a.note(what, "other")
	}
}
