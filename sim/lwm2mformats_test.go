package sim_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// formatsRegistrar is a bare CoAP server that answers a Register with 2.01 and
// hands over the registering connection and the link payload, for the
// test to send the device requests of its own.
type formatsRegistrar struct {
	addr  string
	conns chan *udpClient.Conn
	links chan []byte
}

func newFormatsRegistrar(t *testing.T) *formatsRegistrar {
	t.Helper()
	ln, err := coapNet.NewListenUDP("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &formatsRegistrar{addr: ln.LocalAddr().String(), conns: make(chan *udpClient.Conn, 4), links: make(chan []byte, 4)}
	srv := udp.NewServer(options.WithBlockwise(false, blockwise.SZX1024, time.Minute),
		options.WithHandlerFunc(func(w *responsewriter.ResponseWriter[*udpClient.Conn], req *pool.Message) {
			if p, _ := req.Options().Path(); p != "/rd" || req.Code() != codes.POST {
				_ = w.SetResponse(codes.Changed, message.TextPlain, nil) // Updates, De-registers
				return
			}
			b, _ := req.ReadBody()
			r.links <- b
			r.conns <- w.Conn()
			_ = w.SetResponse(codes.Created, message.TextPlain, nil,
				message.Option{ID: message.LocationPath, Value: []byte("rd")}, message.Option{ID: message.LocationPath, Value: []byte("r1")})
		}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return r
}

// start registers d with the formatsRegistrar and returns the connection to send
// it requests on, and the ct= it registered with (-1: none).
func (r *formatsRegistrar) start(t *testing.T, d *sim.LwM2MDevice) (*udpClient.Conn, int) {
	t.Helper()
	d.Server = r.addr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Kill)
	objs, err := link.ParseObjects(<-r.links)
	if err != nil {
		t.Fatal(err)
	}
	return <-r.conns, objs.ContentFormat
}

// readWithAccept sends a GET with an Accept (none when accept < 0) and returns the
// answer's code and content format.
func readWithAccept(t *testing.T, cc *udpClient.Conn, path string, accept int) (codes.Code, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := cc.NewGetRequest(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.ReleaseMessage(req)
	if accept >= 0 {
		req.SetAccept(message.MediaType(accept))
	}
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cf := -1
	if f, err := resp.ContentFormat(); err == nil {
		cf = int(f)
	}
	return resp.Code(), cf
}

// TestLwM2MDevice_Formats pins the "only one content format" switch: the
// format it announces, the refusal of an Accept outside Formats, and 5.00
// for a Read without Accept whose default format it lacks (what made a
// real client fail a Read without Accept).
func TestLwM2MDevice_Formats(t *testing.T) {
	type get struct {
		path   string
		accept int // -1: no Accept
		code   codes.Code
		format int // -1: none
	}
	json, tlv, text, none := int(codec.FormatSenMLJSON), int(codec.FormatTLV), int(codec.FormatText), -1
	tests := []struct {
		name  string
		dev   func(*sim.LwM2MDevice)
		ct    int
		reads []get
	}{
		{"defaults: every format, senml cbor announced", func(*sim.LwM2MDevice) {}, int(codec.FormatSenMLCBOR), []get{
			{"/3/0", -1, codes.Content, int(codec.FormatSenMLCBOR)},
			{"/3/0", tlv, codes.Content, tlv},
			{"/3/0/3", -1, codes.Content, text},
		}},
		{"senml json only, 5.00 (Wakaama)", func(d *sim.LwM2MDevice) {
			d.Formats, d.FormatRefusal = []codec.Format{codec.FormatSenMLJSON}, codes.InternalServerError
		}, json, []get{
			{"/3/0", json, codes.Content, json},
			{"/3/0/3", json, codes.Content, json},
			{"/3/0", -1, codes.InternalServerError, none}, // its default, SenML CBOR, it lacks
			{"/3/0/3", -1, codes.InternalServerError, none},
			{"/3/0", tlv, codes.InternalServerError, none},
			{"/3/0/3", text, codes.InternalServerError, none},
		}},
		{"tlv only, 4.06, nothing announced", func(d *sim.LwM2MDevice) {
			d.Formats, d.NoContentFormat = []codec.Format{codec.FormatTLV}, true
		}, -1, []get{
			{"/3/0", tlv, codes.Content, tlv},
			{"/3/0", json, codes.NotAcceptable, none},
			{"/3/0/3", text, codes.NotAcceptable, none},
		}},
		{"text and senml json", func(d *sim.LwM2MDevice) {
			d.Formats = []codec.Format{codec.FormatText, codec.FormatSenMLJSON}
		}, json, []get{
			{"/3/0/3", -1, codes.Content, text},
			{"/3/0", json, codes.Content, json},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFormatsRegistrar(t)
			d := &sim.LwM2MDevice{Endpoint: "sim-formats"}
			tt.dev(d)
			cc, ct := r.start(t, d)
			if ct != tt.ct {
				t.Fatalf("registered with ct %d, want %d", ct, tt.ct)
			}
			refused := 0
			for _, rd := range tt.reads {
				code, cf := readWithAccept(t, cc, rd.path, rd.accept)
				if code != rd.code || cf != rd.format {
					t.Fatalf("GET %s accept %d: %v in %d, want %v in %d", rd.path, rd.accept, code, cf, rd.code, rd.format)
				}
				if code != codes.Content {
					refused++
				}
			}
			if n := d.RefusedReads(); n != refused {
				t.Fatalf("RefusedReads %d, want %d", n, refused)
			}
		})
	}
}

// TestLwM2MDevice_Object3Fault pins the Object 3 faults.
func TestLwM2MDevice_Object3Fault(t *testing.T) {
	tests := []struct {
		name      string
		fault     sim.LwM2MObject3Fault
		instance  codes.Code
		resource  codes.Code
		decodable bool
	}{
		{"none", sim.LwM2MObject3OK, codes.Content, codes.Content, true},
		{"error", sim.LwM2MObject3Error, codes.InternalServerError, codes.InternalServerError, false},
		{"malformed", sim.LwM2MObject3Malformed, codes.Content, codes.Content, false},
		{"instance refused", sim.LwM2MObject3InstanceRefused, codes.MethodNotAllowed, codes.Content, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFormatsRegistrar(t)
			d := &sim.LwM2MDevice{Endpoint: "sim-obj3", Object3Fault: tt.fault, Manufacturer: "Acme", SerialNumber: "SN-1"}
			cc, _ := r.start(t, d)
			for _, c := range []struct {
				path string
				want codes.Code
			}{{"/3/0", tt.instance}, {"/3/0/0", tt.resource}} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := cc.Get(ctx, c.path, message.Option{ID: message.Accept, Value: []byte{byte(codec.FormatSenMLJSON)}})
				cancel()
				if err != nil || resp.Code() != c.want {
					t.Fatalf("GET %s: %v %v, want %v", c.path, resp, err, c.want)
				}
				if resp.Code() != codes.Content {
					continue
				}
				b, _ := resp.ReadBody()
				_, err = codec.Decode(codec.FormatSenMLJSON, node.MustPath(c.path), b)
				if (err == nil) != tt.decodable {
					t.Fatalf("GET %s: decodes %v, want %v (%q)", c.path, err == nil, tt.decodable, b)
				}
				if tt.decodable && c.path == "/3/0/0" && !bytes.Contains(b, []byte("Acme")) {
					t.Fatalf("GET /3/0/0: %q", b)
				}
			}
			// Other objects answer as ever.
			if code, _ := readWithAccept(t, cc, "/1/0/1", -1); code != codes.Content {
				t.Fatalf("GET /1/0/1: %v", code)
			}
		})
	}
}
