package sim_test

import (
	"reflect"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

// treeDevice has DevInfo, DevDetail and a FUMO object at a vendor's place.
func treeDevice(s *scriptServer) *sim.DMDevice {
	d := s.device()
	d.EnableFUMO(&sim.FUMO{Root: "./Vendor/FOTA/fw"})
	return d
}

// wholeTree is treeDevice's tree as Get ./?list=Struct lists it.
var wholeTree = []string{
	"./DevDetail node", "./DevDetail/FwV chr",
	"./DevInfo node", "./DevInfo/DevId chr", "./DevInfo/Mod chr",
	"./Vendor node", "./Vendor/FOTA node", "./Vendor/FOTA/fw node",
	"./Vendor/FOTA/fw/Download node", "./Vendor/FOTA/fw/Download/PkgURL chr",
	"./Vendor/FOTA/fw/DownloadAndUpdate node", "./Vendor/FOTA/fw/DownloadAndUpdate/PkgURL chr",
	"./Vendor/FOTA/fw/PkgName chr", "./Vendor/FOTA/fw/PkgVersion chr", "./Vendor/FOTA/fw/State chr",
	"./Vendor/FOTA/fw/Update node", "./Vendor/FOTA/fw/Update/PkgData chr",
}

// getOnce runs a session whose server sends cmds once and returns the
// device's answer to them.
func getOnce(t *testing.T, d func(*scriptServer) *sim.DMDevice, cmds ...syncml.Command) *syncml.Message {
	t.Helper()
	s := newScriptServer(t, func(r *request) *syncml.Message {
		if r.n == 1 {
			return answer(r.msg, 212, cmds...)
		}
		return answer(r.msg, 200)
	})
	if _, err := d(s).Session(testContext(t), sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d client messages, want 2", len(reqs))
	}
	return reqs[1].msg
}

// itemsOf lists a Results' items as "LocURI Format[=Data]".
func itemsOf(res *syncml.Results) []string {
	var out []string
	for _, it := range res.Items {
		s := it.Source.LocURI + " " + it.Meta.Format
		if it.Data != nil {
			s += "=" + string(it.Data)
		}
		out = append(out, s)
	}
	return out
}

func TestDMDevice_TreeGet(t *testing.T) {
	cases := []struct {
		name   string
		target string
		code   int
		items  []string // nil: no Results
	}{
		{"root structure", ".?list=Struct", 200, wholeTree},
		{"root structure with slash", "./?list=Struct", 200, wholeTree},
		{"FUMO structure", "./Vendor/FOTA/fw/Update?list=Struct", 200, []string{"./Vendor/FOTA/fw/Update/PkgData chr"}},
		{"leaf structure", "./DevDetail/FwV?list=Struct", 200, []string{}},
		{"no such node's structure", "./FwUpdate?list=Struct", 404, nil},
		{"MO type", "./Vendor/FOTA/fw?prop=Type", 200, []string{"./Vendor/FOTA/fw?prop=Type chr=urn:oma:mo:oma-fumo:1.0"}},
		{"no type", "./Vendor/FOTA?prop=Type", 404, nil},
		{"no such node's type", "./FwUpdate/1?prop=Type", 404, nil},
		{"another property", "./Vendor/FOTA/fw?prop=ACL", 406, nil},
		{"leaf", "./DevDetail/FwV", 200, []string{"./DevDetail/FwV chr=1.0"}},
		{"empty leaf", "./Vendor/FOTA/fw/PkgName", 200, []string{"./Vendor/FOTA/fw/PkgName chr="}},
		{"interior node", "./Vendor/FOTA/fw", 200, []string{"./Vendor/FOTA/fw node=Download/DownloadAndUpdate/PkgName/PkgVersion/State/Update"}},
		{"no such node", "./FwUpdate/1/State", 404, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := getOnce(t, treeDevice, get(c.target))
			if got := statusCodes(out)["4"]; got != c.code {
				t.Errorf("status %d, want %d", got, c.code)
			}
			res := commandsOf[*syncml.Results](out)
			if c.items == nil {
				if len(res) != 0 {
					t.Errorf("results %v, want none", itemsOf(res[0]))
				}
				return
			}
			if len(res) != 1 {
				t.Fatalf("%d Results, want 1", len(res))
			}
			if got := itemsOf(res[0]); !reflect.DeepEqual(got, c.items) && (len(got) != 0 || len(c.items) != 0) {
				t.Errorf("items\n got %q\nwant %q", got, c.items)
			}
		})
	}
}

// TestDMDevice_TreeTypeOfLeaf: SetNodeType works on any node.
func TestDMDevice_TreeTypeOfLeaf(t *testing.T) {
	out := getOnce(t, func(s *scriptServer) *sim.DMDevice {
		d := s.device()
		d.SetNodeType("./DevDetail/FwV", "text/plain")
		return d
	}, get("./DevDetail/FwV?prop=Type"))
	res := commandsOf[*syncml.Results](out)
	if len(res) != 1 || !reflect.DeepEqual(itemsOf(res[0]), []string{"./DevDetail/FwV?prop=Type chr=text/plain"}) {
		t.Errorf("results %+v", res)
	}
}

func TestDMDevice_TreeExec(t *testing.T) {
	cases := []struct {
		name   string
		fumo   bool
		target string
		code   int
	}{
		{"FUMO: another root", true, "./FwUpdate/1/DownloadAndUpdate", 404},
		{"FUMO: not executable", true, "./Vendor/FOTA/fw/State", 405},
		{"no FUMO: no such node", false, "./FwUpdate/1/DownloadAndUpdate", 404},
		{"no FUMO: a node", false, "./DevDetail/FwV", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := func(s *scriptServer) *sim.DMDevice {
				if c.fumo {
					return treeDevice(s)
				}
				return s.device()
			}
			out := getOnce(t, dev, exec(c.target))
			if got := statusCodes(out)["4"]; got != c.code {
				t.Errorf("Exec status %d, want %d", got, c.code)
			}
		})
	}
}

// TestDMDevice_TreeDelete: deleting an interior node deletes what is below.
func TestDMDevice_TreeDelete(t *testing.T) {
	var d *sim.DMDevice
	getOnce(t, func(s *scriptServer) *sim.DMDevice {
		d = treeDevice(s)
		return d
	}, &syncml.Delete{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./Vendor/FOTA/fw/Download"}}}},
		get("./Vendor/FOTA/fw"))
	if _, ok := d.Node("./Vendor/FOTA/fw/Download/PkgURL"); ok {
		t.Error("a leaf below the deleted node is left")
	}
	if _, ok := d.Node("./Vendor/FOTA/fw/State"); !ok {
		t.Error("a leaf beside the deleted node is gone")
	}
}

// TestDMDevice_TreeWithoutFUMO: a device without a FUMO object still lists
// its tree, and has no FUMO type anywhere.
func TestDMDevice_TreeWithoutFUMO(t *testing.T) {
	out := getOnce(t, (*scriptServer).device, get("./?list=Struct"), get("./FwUpdate/1?prop=Type"))
	if got := statusCodes(out); got["4"] != 200 || got["5"] != 404 {
		t.Errorf("statuses %v, want 200 for the structure and 404 for the type", got)
	}
	res := commandsOf[*syncml.Results](out)
	want := []string{"./DevDetail node", "./DevDetail/FwV chr", "./DevInfo node", "./DevInfo/DevId chr", "./DevInfo/Mod chr"}
	if len(res) != 1 || !reflect.DeepEqual(itemsOf(res[0]), want) {
		t.Errorf("structure %+v, want %q", res, want)
	}
}
