package codec

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// unhex reads hex with spaces, and "quoted" ASCII runs:
// `c8 06 0b "lwm2mclient"`.
func unhex(s string) []byte {
	var out []byte
	for i, part := range strings.Split(s, `"`) {
		if i%2 == 1 {
			out = append(out, part...)
			continue
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(part), ""))
		if err != nil {
			panic(fmt.Sprintf("bad hex %q: %v", part, err))
		}
		out = append(out, b...)
	}
	return out
}

// rec builds a record from a path string.
func rec(p string, v node.Value) node.Record {
	return node.Record{Path: node.MustPath(p), Value: v}
}

// sameRecords compares paths and values (Value.Equal).
func sameRecords(a, b []node.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Path != b[i].Path || !a[i].Value.Equal(b[i].Value) {
			return false
		}
	}
	return true
}

func assertRecords(t testing.TB, got, want []node.Record) {
	t.Helper()
	if !sameRecords(got, want) {
		t.Errorf("records\n got  %v\n want %v", got, want)
	}
}

// referenceTLV is the Read of /5/0 captured from a client (reference
// lwm2m-object5.md).
const referenceTLV = `c1 03 01  c1 05 00  c8 06 0b "lwm2mclient"  c3 07 "1.0"  86 08 41 00 00 41 01 01  c1 09 01`

// referenceRecords is referenceTLV after node.Typed.
var referenceRecords = []node.Record{
	rec("/5/0/3", node.Integer(1)),
	rec("/5/0/5", node.Integer(0)),
	rec("/5/0/6", node.String("lwm2mclient")),
	rec("/5/0/7", node.String("1.0")),
	rec("/5/0/8/0", node.Integer(0)),
	rec("/5/0/8/1", node.Integer(1)),
	rec("/5/0/9", node.Integer(1)),
}
