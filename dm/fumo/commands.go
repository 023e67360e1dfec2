package fumo

import (
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// The builders return commands without a CmdID: the DM session numbers
// commands as it sends them.

func leafItem(target, format string, data []byte) syncml.Item {
	return syncml.Item{
		Target: &syncml.Location{LocURI: target},
		Meta:   &syncml.Meta{Format: format},
		Data:   data,
	}
}

// ReplacePackageInfo sets <x>/PkgName and <x>/PkgVersion.
func ReplacePackageInfo(r Root, name, version string) *syncml.Replace {
	return &syncml.Replace{Items: []syncml.Item{
		leafItem(r.PkgName(), "chr", []byte(name)),
		leafItem(r.PkgVersion(), "chr", []byte(version)),
	}}
}

// ReplacePkgURL sets the PkgURL under the node of op (pull delivery).
func ReplacePkgURL(r Root, op Operation, url string) (*syncml.Replace, error) {
	target, err := r.PkgURL(op)
	if err != nil {
		return nil, err
	}
	if url == "" {
		return nil, fmt.Errorf("fumo: empty PkgURL: %w", ErrBadValue)
	}
	return &syncml.Replace{Items: []syncml.Item{leafItem(target, "chr", []byte(url))}}, nil
}

// ReplacePkgData pushes the whole package to <x>/Update/PkgData. The DM
// session splits it as a large object (Meta Size on the first chunk,
// MoreData on all but the last) when it exceeds the device's MaxMsgSize.
func ReplacePkgData(r Root, pkg []byte) *syncml.Replace {
	it := leafItem(r.PkgData(), "bin", pkg)
	it.Meta.Type = "application/octet-stream"
	return &syncml.Replace{Items: []syncml.Item{it}}
}

// Exec executes the node of op; correlator (the job id) comes back in the
// device's Generic Alert 1226 so the result can be matched to the job.
func Exec(r Root, op Operation, correlator string) *syncml.Exec {
	return &syncml.Exec{
		Correlator: correlator,
		Item:       syncml.Item{Target: &syncml.Location{LocURI: r.Node(op)}},
	}
}

// GetState reads <x>/State.
func GetState(r Root) *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: r.State()}}}}
}

// DevDetailFwV is the firmware version node the gateway reads to verify an
// update.
const DevDetailFwV = "./DevDetail/FwV"

// GetFirmwareVersion reads ./DevDetail/FwV.
func GetFirmwareVersion() *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: DevDetailFwV}}}}
}

// MOType is the Type property of a FUMO root node <x>.
const MOType = "urn:oma:mo:oma-fumo:1.0"

// GetStruct reads the structure of the tree below uri (Get uri?list=Struct,
// DM 1.2): the device lists every node with its Format, no data.
func GetStruct(uri string) *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri + "?list=Struct"}}}}
}

// GetType reads the Type property of a node (Get uri?prop=Type).
func GetType(uri string) *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri + "?prop=Type"}}}}
}
