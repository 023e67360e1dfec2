package sim

import (
	"bytes"
	"slices"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2MObject3Fault is a failure the simulated Object 3 (Device) injects
// into Reads (and Observes) of /3, /3/0 and its resources.
type LwM2MObject3Fault int

const (
	LwM2MObject3OK LwM2MObject3Fault = iota
	// LwM2MObject3Error: every Read under /3 is answered 5.00.
	LwM2MObject3Error
	// LwM2MObject3Malformed: every Read under /3 is answered 2.05 in the
	// format asked with a payload that does not decode in it (a truncated
	// TLV or SenML, text that is not UTF-8).
	LwM2MObject3Malformed
	// LwM2MObject3InstanceRefused: a Read of /3 or /3/0 is answered 4.05;
	// the resources read one by one.
	LwM2MObject3InstanceRefused
	// LwM2MObject3Silent: Reads under /3 get no answer at all.
	LwM2MObject3Silent
)

// announcedFormat is the ct= of the device's registration: the first of
// Formats that carries several values, or by default SenML CBOR (1.1) or
// TLV (1.0); none with NoContentFormat.
func (d *LwM2MDevice) announcedFormat() (codec.Format, bool) {
	if d.NoContentFormat {
		return 0, false
	}
	if len(d.Formats) == 0 {
		if d.Version == "1.0" {
			return codec.FormatTLV, true
		}
		return codec.FormatSenMLCBOR, true
	}
	for _, f := range d.Formats {
		if f != codec.FormatText && f != codec.FormatOpaque {
			return f, true
		}
	}
	return 0, false
}

// readRefused answers a Read (or Observe) of p in format f that the
// device refuses, and tells whether it did: Object3Fault under /3; a
// format outside Formats (FormatRefusal for an Accept naming it, 5.00 for
// a Read without Accept whose default format it is, as Wakaama does).
func (d *LwM2MDevice) readRefused(w *coapWriter, r *pool.Message, p node.Path, f codec.Format) bool {
	if p.Len() >= 1 && p.ID(0) == 3 {
		switch d.Object3Fault {
		case LwM2MObject3Error:
			_ = w.SetResponse(codes.InternalServerError, message.TextPlain, nil)
			return true
		case LwM2MObject3Malformed:
			_ = w.SetResponse(codes.Content, message.MediaType(f), bytes.NewReader(malformed(f)))
			return true
		case LwM2MObject3Silent:
			return true
		case LwM2MObject3InstanceRefused:
			if p.Len() < 3 {
				_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
				return true
			}
		}
	}
	if len(d.Formats) == 0 || slices.Contains(d.Formats, f) {
		return false
	}
	code := codes.InternalServerError
	if _, err := r.Accept(); err == nil {
		code = d.FormatRefusal
	}
	d.mu.Lock()
	d.refusedReads++
	d.mu.Unlock()
	_ = w.SetResponse(code, message.TextPlain, nil)
	return true
}

// malformed is a payload that does not decode in f.
func malformed(f codec.Format) []byte {
	switch f {
	case codec.FormatTLV:
		return []byte{0xc8, 0x01, 0x20, 'x'} // resource 1, 32 bytes announced, 1 given
	case codec.FormatSenMLJSON:
		return []byte(`[{"bn":"/3/0/","n":"1","vs":`)
	case codec.FormatSenMLCBOR:
		return []byte{0x81, 0xa2, 0x21} // an array of one map of two, cut short
	}
	return []byte{0xff, 0xfe, 0xfd} // not UTF-8
}

// RefusedReads counts the Reads and Observes refused for their format
// (Formats).
func (d *LwM2MDevice) RefusedReads() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refusedReads
}
