package api

import (
	"reflect"
	"testing"

	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// TestLinksView: a Discover answer's links become paths (without the
// alternate root, canonical) with their attributes; what is not a path
// stays as the device wrote it.
func TestLinksView(t *testing.T) {
	for _, c := range []struct {
		name, payload, root string
		want                []LwM2MLink
	}{
		{"attributes", `</3/0>;pmin=10;pmax=60,</3/0/9>;gt=50;lt=10.5;st=2,</3/0/7>;dim=3,</3/0/13>;obs`, "",
			[]LwM2MLink{{Path: "/3/0", Attributes: map[string]string{"pmin": "10", "pmax": "60"}},
				{Path: "/3/0/9", Attributes: map[string]string{"gt": "50", "lt": "10.5", "st": "2"}},
				{Path: "/3/0/7", Attributes: map[string]string{"dim": "3"}},
				{Path: "/3/0/13", Attributes: map[string]string{"obs": ""}}}},
		{"object version", `</3>;ver="1.1",</3/0>`, "",
			[]LwM2MLink{{Path: "/3", Attributes: map[string]string{"ver": "1.1"}}, {Path: "/3/0"}}},
		{"alternate root", `</lwm2m/3/0>;pmin=5,</lwm2m/3/0/1>`, "/lwm2m",
			[]LwM2MLink{{Path: "/3/0", Attributes: map[string]string{"pmin": "5"}}, {Path: "/3/0/1"}}},
		{"root elsewhere kept", `</lwm2mx/3/0>`, "/lwm2m", []LwM2MLink{{Path: "/lwm2mx/3/0"}}},
		{"trailing slash", `</3/0/>`, "", []LwM2MLink{{Path: "/3/0"}}},
		{"not a path", `</rd/x>;ct=40`, "", []LwM2MLink{{Path: "/rd/x", Attributes: map[string]string{"ct": "40"}}}},
		{"empty", ``, "", []LwM2MLink{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			links, err := link.Parse([]byte(c.payload))
			if err != nil {
				t.Fatal(err)
			}
			got := linksView(node.MustPath("/3/0"), links, c.root)
			if got.Path != "/3/0" || !reflect.DeepEqual(got.Links, c.want) {
				t.Fatalf("got %+v, want %+v", got.Links, c.want)
			}
		})
	}
}
