package lwm2m

import (
	"slices"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// A Read or Observe left to the device (AnyFormat) is not sent without an
// Accept option: a client answers that in its default format, and some
// (Wakaama built with SenML JSON only) default to one they lack and answer
// 5.00. It asks instead in a format the device supports, by what it said:
//
//  1. the ct= of its registration, when it is one this server decodes
//     (TLV, SenML JSON, SenML CBOR);
//  2. for a single value (a resource instance, or a resource the models
//     do not know as multiple): text/plain, or opaque for an opaque
//     resource, which every client reads in;
//  3. the format its LwM2M version makes mandatory for objects, instances
//     and multiple resources: TLV in 1.0; in 1.1 and later, where no such
//     format is mandatory, SenML CBOR, then SenML JSON;
//  4. no Accept (the device's choice), when nothing else is left.
//
// The first is asked; when the device answers 4.06, 4.15 or 5.00 (what
// clients answer an Accept they lack), the second is asked once.

// readFormats lists the formats a Read or Observe of path left to the
// device asks in: the first, and the one to retry in.
func readFormats(reg fleet.Registration, path node.Path) []codec.Format {
	fs := make([]codec.Format, 0, 2)
	add := func(f codec.Format) {
		if len(fs) < cap(fs) && !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	if announced := codec.Format(reg.ContentFormat); reg.ContentFormat > 0 && structured(announced) {
		add(announced)
	}
	if singleValue(path) {
		if rm, ok := node.ResourceOf(path); ok && rm.Type == node.TypeOpaque {
			add(codec.FormatOpaque)
		} else {
			add(codec.FormatText)
		}
	}
	if reg.Version == "" || reg.Version == "1.0" {
		add(codec.FormatTLV)
	} else {
		add(codec.FormatSenMLCBOR)
		add(codec.FormatSenMLJSON)
	}
	add(AnyFormat)
	return fs
}

// structured tells whether f is a format this server decodes that carries
// several values.
func structured(f codec.Format) bool {
	return f == codec.FormatTLV || f == codec.FormatSenMLJSON || f == codec.FormatSenMLCBOR
}

// singleValue tells whether path names one value: a resource instance, or
// a resource that the models do not know as multiple.
func singleValue(path node.Path) bool {
	switch path.Len() {
	case 4:
		return true
	case 3:
		rm, ok := node.ResourceOf(path)
		return !ok || !rm.Multiple
	}
	return false
}

// formatRefused tells whether err is an answer a device gives to an Accept
// it cannot meet: 4.06 Not Acceptable, 4.15 Unsupported Content-Format,
// or 5.00, which Wakaama and Anjay answer when they lack the format.
func formatRefused(err error) bool {
	return IsCode(err, codes.NotAcceptable) || IsCode(err, codes.UnsupportedMediaType) || IsCode(err, codes.InternalServerError)
}
