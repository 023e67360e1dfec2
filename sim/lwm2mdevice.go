package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/options/config"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2MDevice is a simulated LwM2M 1.0/1.1 client over CoAP (UDP, or DTLS
// with a PSK) with Objects 1 (Server), 3 (Device) and 5 (Firmware Update).
// It registers, sends Updates, answers Read/Write/Execute/Discover/
// Write-Attributes/Observe on its connection, and runs the Object 5 state
// machine (see LwM2MFirmware). Fields are settings: set them before Start.
type LwM2MDevice struct {
	Endpoint string
	Server   string // host:port of the LwM2M server
	// PSKIdentity and PSKKey make the device use DTLS.
	PSKIdentity string
	PSKKey      []byte
	Version     string // "1.0" or "1.1" (default)
	Lifetime    int    // seconds (default 300); an Update goes every Lifetime/2
	// Queue puts the device in queue mode: it is awake for AwakeWindow
	// after each message it sends, ignores requests while asleep, and
	// wakes every SleepFor to send an Update.
	Queue       bool
	AwakeWindow time.Duration // default 2s
	SleepFor    time.Duration // default 1s
	// Root is an alternate path prefix declared at registration ("" none).
	Root string
	// Firmware is the Object 5 behaviour (nil: defaults).
	Firmware *LwM2MFirmware
	Model    string // /3/0/1 (default "SIM-L1")
	// Manufacturer and SerialNumber are /3/0/0 and /3/0/2 (default
	// "fumo-gw sim" and "SN-" + Endpoint); /3/0/3 is Firmware.Version.
	Manufacturer, SerialNumber string
	// Formats, when set, are the only content formats the device reads
	// in, as a Wakaama client built with SenML JSON only: a Read or
	// Observe whose Accept names another is answered FormatRefusal, one
	// without Accept 5.00 unless its default format (text/plain for a
	// single value, else TLV in 1.0, SenML CBOR in 1.1) is among them. The
	// first that carries several values is the ct= it registers with.
	Formats []codec.Format
	// FormatRefusal answers an Accept outside Formats (default 4.06;
	// Wakaama and Anjay answer 5.00).
	FormatRefusal codes.Code
	// NoContentFormat leaves ct= out of the registration.
	NoContentFormat bool
	// Object3Fault makes Reads of Object 3 fail (see LwM2MObject3Fault).
	Object3Fault LwM2MObject3Fault
	Logger       *slog.Logger
	// LocalIP is the source address of the device's sockets (default the
	// system's choice): a load run spreads its devices over loopback
	// addresses, as a fleet comes from many.
	LocalIP net.IP
	// DTLSRecordVersion is the record-layer version the device's
	// ClientHello records go out with (0: pion's own, 0xFEFD); stock
	// mbedTLS (Anjay) sends 0xFE00.
	DTLSRecordVersion uint16

	mu        sync.Mutex
	conn      *udpClient.Conn
	regPath   string // "/rd/<id>"
	values    map[node.Path]node.Value
	observers map[string]*simObserver // by token
	awakeTill time.Time
	pending   map[node.Path]bool // changes to notify when awake
	registers int
	updates   int
	stop      chan struct{}
	done      chan struct{}
	closed    bool
	fw        *LwM2MFirmware
	// refusedReads counts Reads refused for their format (Formats).
	refusedReads int
}

type simObserver struct {
	token  message.Token
	path   node.Path
	format codec.Format
	seq    uint32
	cc     *udpClient.Conn
}

// ErrSimClosed: the device was closed.
var ErrSimClosed = errors.New("sim: device closed")

func (d *LwM2MDevice) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger.With("endpoint", d.Endpoint)
}

func (d *LwM2MDevice) defaults() {
	if d.Version == "" {
		d.Version = "1.1"
	}
	if d.Lifetime == 0 {
		d.Lifetime = 300
	}
	if d.AwakeWindow == 0 {
		d.AwakeWindow = 2 * time.Second
	}
	if d.SleepFor == 0 {
		d.SleepFor = time.Second
	}
	if d.Model == "" {
		d.Model = "SIM-L1"
	}
	if d.Manufacturer == "" {
		d.Manufacturer = "fumo-gw sim"
	}
	if d.SerialNumber == "" {
		d.SerialNumber = "SN-" + d.Endpoint
	}
	if d.FormatRefusal == 0 {
		d.FormatRefusal = codes.NotAcceptable
	}
	d.fw = d.Firmware
	if d.fw == nil {
		d.fw = &LwM2MFirmware{}
	}
	d.fw.defaults()
	d.fw.dev = d
}

// Start registers the device and runs its Update loop until Close.
func (d *LwM2MDevice) Start(ctx context.Context) error {
	d.defaults()
	d.mu.Lock()
	d.values = map[node.Path]node.Value{}
	d.observers = map[string]*simObserver{}
	d.pending = map[node.Path]bool{}
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	d.initValuesLocked()
	d.mu.Unlock()
	if err := d.connect(); err != nil {
		return err
	}
	if err := d.Register(ctx); err != nil {
		d.closeConn()
		return err
	}
	go d.loop()
	return nil
}

func (d *LwM2MDevice) initValuesLocked() {
	set := func(p string, v node.Value) { d.values[node.MustPath(p)] = v }
	set("/1/0/0", node.Integer(1))
	set("/1/0/1", node.Integer(int64(d.Lifetime)))
	set("/1/0/2", node.Integer(0))
	set("/1/0/3", node.Integer(0))
	set("/1/0/6", node.Boolean(true))
	b := "U"
	if d.Queue {
		b = "UQ"
	}
	set("/1/0/7", node.String(b))
	set("/3/0/0", node.String(d.Manufacturer))
	set("/3/0/1", node.String(d.Model))
	set("/3/0/2", node.String(d.SerialNumber))
	set("/3/0/3", node.String(d.fw.Version))
	set("/3/0/9", node.Integer(87))
	set("/3/0/16", node.String(b))
	d.fw.initValuesLocked(set)
}

// connect dials the server (DTLS when a PSK is set) with a new socket.
func (d *LwM2MDevice) connect() error {
	cc, err := d.dial(d.Server, len(d.PSKKey) > 0, options.WithHandlerFunc(d.handle), options.WithProcessReceivedMessageFunc(config.ProcessReceivedMessageFunc[*udpClient.Conn](d.received)))
	if err != nil {
		return fmt.Errorf("sim: %s: dial %s: %w", d.Endpoint, d.Server, err)
	}
	d.mu.Lock()
	old := d.conn
	d.conn = cc
	d.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	// A connected UDP socket dies on an ICMP port unreachable (the server
	// restarting); like a real client, open a new one and register again.
	cc.AddOnClose(func() {
		d.mu.Lock()
		lost := d.conn == cc && !d.closed
		d.mu.Unlock()
		if lost {
			go d.recover()
		}
	})
	return nil
}

// received logs every message the device's connection reads (debug).
func (d *LwM2MDevice) received(m *pool.Message, cc *udpClient.Conn, handler config.HandlerFunc[*udpClient.Conn]) {
	if d.Logger != nil {
		p, _ := m.Options().Path()
		d.log().Debug("sim: coap in", "local", cc.NetConn().LocalAddr().String(), "type", m.Type(), "code", m.Code(), "mid", m.MessageID(), "token", m.Token().String(), "path", p)
	}
	cc.ProcessReceivedMessageWithHandler(m, handler)
}

// recover re-connects and re-registers after the connection died, retrying
// until it works or the device is closed.
func (d *LwM2MDevice) recover() {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		select {
		case <-d.stop:
			return
		case <-time.After(delay):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.Reboot(ctx)
		cancel()
		if err == nil {
			return
		}
		d.log().Debug("sim: re-register failed", "err", err)
	}
}

func (d *LwM2MDevice) closeConn() {
	d.mu.Lock()
	cc := d.conn
	d.conn = nil
	d.mu.Unlock()
	if cc != nil {
		_ = cc.Close()
	}
}

func (d *LwM2MDevice) currentConn() (*udpClient.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil, ErrSimClosed
	}
	return d.conn, nil
}

func (d *LwM2MDevice) registerPayload() []byte {
	var links []link.Link
	root := d.Root
	if d.Version != "1.0" || root != "" {
		r := root
		if r == "" {
			r = "/"
		}
		params := []link.Param{{Name: "rt", Value: "oma.lwm2m", HasValue: true}}
		if ct, ok := d.announcedFormat(); ok {
			params = append(params, link.Param{Name: "ct", Value: strconv.Itoa(int(ct)), HasValue: true})
		}
		links = append(links, link.Link{Target: r, Params: params})
	}
	if d.Version != "1.0" {
		links = append(links, link.Link{Target: root + "/1", Params: []link.Param{{Name: "ver", Value: "1.1", HasValue: true}}})
	}
	for _, t := range []string{"/1/0", "/3/0", "/5/0"} {
		links = append(links, link.Link{Target: root + t})
	}
	return link.Encode(links)
}

// dial opens a CoAP connection from a new socket, over DTLS with the
// device's PSK when secure; block-wise is done by hand, as on the server.
func (d *LwM2MDevice) dial(addr string, secure bool, extra ...udp.Option) (*udpClient.Conn, error) {
	opts := append([]udp.Option{
		options.WithBlockwise(false, blockwise.SZX1024, time.Minute),
		options.WithErrors(func(error) {}),
	}, extra...)
	if d.LocalIP != nil {
		opts = append(opts, options.WithDialer(&net.Dialer{LocalAddr: &net.UDPAddr{IP: d.LocalIP}}))
	}
	if !secure {
		return udp.Dial(addr, opts...)
	}
	psk := []piondtls.ClientOption{
		piondtls.WithPSK(func([]byte) ([]byte, error) { return d.PSKKey, nil }),
		piondtls.WithPSKIdentityHint([]byte(d.PSKIdentity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8),
	}
	if d.DTLSRecordVersion != 0 {
		return dialDTLSRecordVersion(addr, d.LocalIP, d.DTLSRecordVersion, psk, opts...)
	}
	return dtls.Dial(addr, dtls.NewDTLSClientOptions(psk...), opts...)
}

// Register sends a Register and keeps the registration path; it drops
// the observations of the previous registration, as a rebooted client
// does.
func (d *LwM2MDevice) Register(ctx context.Context) error {
	cc, err := d.currentConn()
	if err != nil {
		return err
	}
	req, err := cc.NewPostRequest(ctx, "/rd", message.AppLinkFormat, bytes.NewReader(d.registerPayload()))
	if err != nil {
		return err
	}
	defer cc.ReleaseMessage(req)
	req.AddQuery("ep=" + d.Endpoint)
	req.AddQuery("lt=" + strconv.Itoa(d.Lifetime))
	req.AddQuery("lwm2m=" + d.Version)
	switch {
	case d.Queue && d.Version == "1.0":
		req.AddQuery("b=UQ")
	case d.Queue:
		req.AddQuery("b=U")
		req.AddQuery("Q")
	default:
		req.AddQuery("b=U")
	}
	d.mu.Lock()
	d.observers = map[string]*simObserver{}
	d.wakeLocked() // awake from the moment it sends
	d.mu.Unlock()
	resp, err := cc.Do(req)
	if err != nil {
		return fmt.Errorf("sim: %s: register: %w", d.Endpoint, err)
	}
	if resp.Code() != codes.Created {
		return fmt.Errorf("sim: %s: register: %v", d.Endpoint, resp.Code())
	}
	loc, err := resp.Options().LocationPath()
	if err != nil || !strings.HasPrefix(loc, "/rd/") {
		return fmt.Errorf("sim: %s: register: bad Location-Path %q", d.Endpoint, loc)
	}
	d.mu.Lock()
	d.regPath = loc
	d.registers++
	d.wakeLocked()
	d.mu.Unlock()
	d.log().Debug("sim: registered", "location", loc)
	return nil
}

// Update sends a registration Update; on 4.04 it registers again.
func (d *LwM2MDevice) Update(ctx context.Context) error {
	cc, err := d.currentConn()
	if err != nil {
		return err
	}
	d.mu.Lock()
	path := d.regPath
	d.wakeLocked() // awake from the moment it sends
	d.mu.Unlock()
	resp, err := cc.Post(ctx, path, message.TextPlain, nil)
	if err != nil {
		return fmt.Errorf("sim: %s: update: %w", d.Endpoint, err)
	}
	switch resp.Code() {
	case codes.Changed:
	case codes.NotFound:
		return d.Register(ctx)
	default:
		return fmt.Errorf("sim: %s: update: %v", d.Endpoint, resp.Code())
	}
	d.mu.Lock()
	d.updates++
	d.wakeLocked()
	d.mu.Unlock()
	d.flushPending()
	return nil
}

// Rebind moves the device to a new source port and sends an Update from
// it, as a NAT rebinding does.
func (d *LwM2MDevice) Rebind(ctx context.Context) error {
	if err := d.connect(); err != nil {
		return err
	}
	return d.Update(ctx)
}

// Reboot drops the connection and registers again from a new socket (a
// new registration id).
func (d *LwM2MDevice) Reboot(ctx context.Context) error {
	if err := d.connect(); err != nil {
		return err
	}
	return d.Register(ctx)
}

// Counts returns how many Registers and Updates the device sent.
func (d *LwM2MDevice) Counts() (registers, updates int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.registers, d.updates
}

// Value returns a resource's current value.
func (d *LwM2MDevice) Value(p string) node.Value {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.values[node.MustPath(p)]
}

// SetValue changes a resource and notifies its observers.
func (d *LwM2MDevice) SetValue(p string, v node.Value) {
	d.mu.Lock()
	d.values[node.MustPath(p)] = v
	d.mu.Unlock()
	d.changed(node.MustPath(p))
}

// Send posts values to /dp in SenML CBOR (LwM2M 1.1 Send).
func (d *LwM2MDevice) Send(ctx context.Context, paths ...string) error {
	cc, err := d.currentConn()
	if err != nil {
		return err
	}
	var recs []node.Record
	d.mu.Lock()
	for _, p := range paths {
		pp := node.MustPath(p)
		recs = append(recs, d.recordsLocked(pp)...)
	}
	d.mu.Unlock()
	b, err := codec.Encode(codec.FormatSenMLCBOR, node.Path{}, recs)
	if err != nil {
		return err
	}
	resp, err := cc.Post(ctx, "/dp", message.MediaType(codec.FormatSenMLCBOR), bytes.NewReader(b))
	if err != nil {
		return err
	}
	if resp.Code() != codes.Changed {
		return fmt.Errorf("sim: %s: send: %v", d.Endpoint, resp.Code())
	}
	return nil
}

// Close de-registers (best effort) and stops the device.
func (d *LwM2MDevice) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed || d.stop == nil {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	cc, path := d.conn, d.regPath
	d.mu.Unlock()
	<-d.done
	if cc != nil && path != "" {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, _ = cc.Delete(ctx, path)
		cancel()
	}
	d.fw.wg.Wait()
	d.closeConn()
	return nil
}

// Kill stops the device without de-registering (a device that vanished).
func (d *LwM2MDevice) Kill() {
	d.mu.Lock()
	if d.closed || d.stop == nil {
		d.mu.Unlock()
		return
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	<-d.done
	d.closeConn()
}

// loop sends Updates: every Lifetime/2, or in queue mode after each
// sleep.
func (d *LwM2MDevice) loop() {
	defer close(d.done)
	every := time.Duration(d.Lifetime) * time.Second / 2
	if d.Queue {
		every = d.AwakeWindow + d.SleepFor
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.Update(ctx); err != nil {
			d.log().Debug("sim: update failed", "err", err)
		}
		cancel()
	}
}

func (d *LwM2MDevice) wakeLocked() { d.awakeTill = time.Now().Add(d.AwakeWindow) }

// asleep tells whether a queue-mode device has its radio off; an awake
// one stays awake for AwakeWindow after each request it answers.
func (d *LwM2MDevice) asleep() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Queue && time.Now().After(d.awakeTill) {
		return true
	}
	d.wakeLocked()
	return false
}

// handle answers the server's requests on the device's connection.
func (d *LwM2MDevice) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	if d.asleep() {
		return // radio off: no answer
	}
	if r.Code() == codes.Empty || r.Code()>>5 != 0 {
		// A response (or empty message) that answers none of the
		// device's requests, such as a late answer to a request it gave
		// up on: never answered with a response (RFC 7252 §4.2; go-coap
		// acknowledges a Confirmable one).
		return
	}
	p, _ := r.Options().Path()
	p = strings.TrimPrefix(p, d.Root)
	path, err := node.ParsePath(p)
	if err != nil {
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
		return
	}
	var body []byte
	if r.Body() != nil {
		body, _ = r.ReadBody()
	}
	switch r.Code() {
	case codes.GET:
		d.get(w, r, path)
	case codes.PUT, codes.POST:
		if path.Len() == 3 && path.ID(0) == 5 || path.Len() == 3 && r.Code() == codes.POST && d.executable(path) {
			if d.fw.handle(w, r, path, body) {
				return
			}
		}
		if r.Code() == codes.POST && d.executable(path) {
			d.execute(w, path)
			return
		}
		if qs, _ := r.Queries(); r.Code() == codes.PUT && len(qs) > 0 && len(body) == 0 {
			_ = w.SetResponse(codes.Changed, message.TextPlain, nil) // Write-Attributes
			return
		}
		d.write(w, r, path, body)
	default:
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
	}
}

func (d *LwM2MDevice) executable(p node.Path) bool {
	rm, ok := node.ResourceOf(p)
	return ok && rm.Ops.Executable()
}

func (d *LwM2MDevice) execute(w *responsewriter.ResponseWriter[*udpClient.Conn], p node.Path) {
	switch p.String() {
	case "/1/0/8": // Registration Update Trigger
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = d.Update(ctx)
		}()
	case "/3/0/4": // Reboot
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = d.Reboot(ctx)
		}()
	default:
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	}
}

// recordsLocked lists the records at or under p.
func (d *LwM2MDevice) recordsLocked(p node.Path) []node.Record {
	var recs []node.Record
	for k, v := range d.values {
		if k.HasPrefix(p) {
			recs = append(recs, node.Record{Path: k, Value: v})
		}
	}
	sortRecords(recs)
	return recs
}

func sortRecords(recs []node.Record) {
	slices.SortFunc(recs, func(a, b node.Record) int { return a.Path.Compare(b.Path) })
}

// formatFor picks the answer's format: the Accept option, else text for
// a single resource, else TLV (1.0) or SenML CBOR (1.1).
func (d *LwM2MDevice) formatFor(r *pool.Message, p node.Path, recs []node.Record) codec.Format {
	if a, err := r.Accept(); err == nil {
		return codec.Format(a)
	}
	if len(recs) == 1 && recs[0].Path == p && recs[0].Value.Type() != node.TypeOpaque {
		return codec.FormatText
	}
	if d.Version == "1.0" {
		return codec.FormatTLV
	}
	return codec.FormatSenMLCBOR
}

func (d *LwM2MDevice) get(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p node.Path) {
	d.mu.Lock()
	recs := d.recordsLocked(p)
	d.mu.Unlock()
	if len(recs) == 0 {
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
		return
	}
	if a, err := r.Accept(); err == nil && a == message.AppLinkFormat {
		d.discover(w, p, recs)
		return
	}
	f := d.formatFor(r, p, recs)
	if d.readRefused(w, r, p, f) {
		return
	}
	b, err := encodeFor(f, p, recs)
	if err != nil {
		_ = w.SetResponse(codes.NotAcceptable, message.TextPlain, nil)
		return
	}
	obs, errObs := r.Observe()
	if errObs == nil && obs == 0 {
		d.mu.Lock()
		o := &simObserver{token: append(message.Token(nil), r.Token()...), path: p, format: f, seq: 2, cc: w.Conn()}
		d.observers[string(o.token)] = o
		d.mu.Unlock()
		_ = w.SetResponse(codes.Content, message.MediaType(f), bytes.NewReader(b))
		w.Message().SetObserve(1)
		return
	}
	if errObs == nil && obs == 1 {
		d.mu.Lock()
		delete(d.observers, string(r.Token()))
		d.mu.Unlock()
	}
	// Answers over 1024 bytes go block by block (Block2, RFC 7959).
	szx, num := blockwise.SZX1024, int64(0)
	if v, err := r.GetOptionUint32(message.Block2); err == nil {
		if s, n, _, err := blockwise.DecodeBlockOption(v); err == nil && s <= blockwise.SZX1024 {
			szx, num = s, n
		}
	}
	if int64(len(b)) <= szx.Size() && num == 0 {
		_ = w.SetResponse(codes.Content, message.MediaType(f), bytes.NewReader(b))
		return
	}
	start := min(num*szx.Size(), int64(len(b)))
	end := min(start+szx.Size(), int64(len(b)))
	block, _ := blockwise.EncodeBlockOption(szx, num, end < int64(len(b)))
	_ = w.SetResponse(codes.Content, message.MediaType(f), bytes.NewReader(b[start:end]))
	w.Message().SetOptionUint32(message.Block2, block)
	w.Message().SetOptionUint32(message.Size2, uint32(len(b)))
}

func encodeFor(f codec.Format, p node.Path, recs []node.Record) ([]byte, error) {
	if f == codec.FormatText {
		if len(recs) != 1 {
			return nil, codec.ErrNotSingle
		}
		return codec.EncodeText(recs[0].Value)
	}
	return codec.Encode(f, p, recs)
}

func (d *LwM2MDevice) discover(w *responsewriter.ResponseWriter[*udpClient.Conn], p node.Path, recs []node.Record) {
	links := []link.Link{{Target: d.Root + p.String()}}
	seen := map[string]bool{}
	for _, rec := range recs {
		rp := rec.Path
		if rp.Len() == 4 {
			rp = rp.Parent()
		}
		if t := d.Root + rp.String(); !seen[t] && rp != p {
			seen[t] = true
			links = append(links, link.Link{Target: t})
		}
	}
	_ = w.SetResponse(codes.Content, message.AppLinkFormat, bytes.NewReader(link.Encode(links)))
}

func (d *LwM2MDevice) write(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, p node.Path, body []byte) {
	cf, err := r.ContentFormat()
	if err != nil {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
		return
	}
	recs, err := codec.Decode(codec.Format(cf), p, body)
	if err == nil {
		recs, err = node.Typed(recs)
	}
	if err != nil {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, bytes.NewReader([]byte(err.Error())))
		return
	}
	for _, rec := range recs {
		rm, ok := node.ResourceOf(rec.Path)
		if !ok || !rm.Ops.Writable() {
			_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
			return
		}
	}
	d.mu.Lock()
	for _, rec := range recs {
		d.values[rec.Path] = rec.Value
	}
	d.mu.Unlock()
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	for _, rec := range recs {
		d.changed(rec.Path)
	}
}

// changed notifies the observers of p (when awake and allowed).
func (d *LwM2MDevice) changed(p node.Path) {
	d.mu.Lock()
	if d.fw.NeverNotify {
		d.mu.Unlock()
		return
	}
	if d.Queue && time.Now().After(d.awakeTill) {
		d.pending[p] = true
		d.mu.Unlock()
		return
	}
	var due []*simObserver
	for _, o := range d.observers {
		if p.HasPrefix(o.path) || o.path.HasPrefix(p) {
			due = append(due, o)
		}
	}
	d.mu.Unlock()
	for _, o := range due {
		d.notify(o)
	}
}

func (d *LwM2MDevice) flushPending() {
	d.mu.Lock()
	var ps []node.Path
	for p := range d.pending {
		ps = append(ps, p)
	}
	d.pending = map[node.Path]bool{}
	d.mu.Unlock()
	for _, p := range ps {
		d.changed(p)
	}
}

func (d *LwM2MDevice) notify(o *simObserver) {
	d.mu.Lock()
	recs := d.recordsLocked(o.path)
	o.seq++
	seq := o.seq
	cc := d.conn
	d.mu.Unlock()
	if cc == nil || cc != o.cc {
		return
	}
	b, err := encodeFor(o.format, o.path, recs)
	if err != nil {
		return
	}
	m := cc.AcquireMessage(context.Background())
	defer cc.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(o.token)
	m.SetObserve(seq)
	m.SetContentFormat(message.MediaType(o.format))
	m.SetBody(bytes.NewReader(b))
	m.SetType(message.NonConfirmable)
	m.SetMessageID(cc.GetMessageID())
	_ = cc.WriteMessage(m)
}
