package node

import (
	"fmt"
	"sort"
)

// Operations a resource allows, as in the OMA registry: "R", "W", "RW",
// "E" or "" (none).
type Operations string

// Readable, Writable and Executable tell what the operations allow.
func (o Operations) Readable() bool   { return o == "R" || o == "RW" }
func (o Operations) Writable() bool   { return o == "W" || o == "RW" }
func (o Operations) Executable() bool { return o == "E" }

// ResourceModel describes one resource of an object.
type ResourceModel struct {
	ID       uint16
	Name     string
	Ops      Operations
	Multiple bool
	Type     Type
}

// ObjectModel describes an object: whether it has several instances and
// its resources.
type ObjectModel struct {
	ID        uint16
	Name      string
	Version   string
	Multiple  bool
	Resources []ResourceModel
}

// Resource returns the resource model with that id.
func (o *ObjectModel) Resource(id uint16) (ResourceModel, bool) {
	i := sort.Search(len(o.Resources), func(i int) bool { return o.Resources[i].ID >= id })
	if i < len(o.Resources) && o.Resources[i].ID == id {
		return o.Resources[i], true
	}
	return ResourceModel{}, false
}

// Object ids of the models this package knows.
const (
	ObjectServer             = 1
	ObjectDevice             = 3
	ObjectFirmwareUpdate     = 5
	ObjectSoftwareManagement = 9
)

var models = map[uint16]*ObjectModel{
	1: {ID: 1, Name: "LwM2M Server", Version: "1.1", Multiple: true, Resources: []ResourceModel{
		{0, "Short Server ID", "R", false, TypeInteger},
		{1, "Lifetime", "RW", false, TypeInteger},
		{2, "Default Minimum Period", "RW", false, TypeInteger},
		{3, "Default Maximum Period", "RW", false, TypeInteger},
		{4, "Disable", "E", false, TypeNone},
		{5, "Disable Timeout", "RW", false, TypeInteger},
		{6, "Notification Storing When Disabled or Offline", "RW", false, TypeBoolean},
		{7, "Binding", "RW", false, TypeString},
		{8, "Registration Update Trigger", "E", false, TypeNone},
		{9, "Bootstrap-Request Trigger", "E", false, TypeNone},
		{10, "APN Link", "RW", false, TypeObjlnk},
		{11, "TLS-DTLS Alert Code", "R", false, TypeUnsigned},
		{12, "Last Bootstrapped", "R", false, TypeTime},
		{13, "Registration Priority Order", "RW", false, TypeUnsigned},
		{14, "Initial Registration Delay Timer", "RW", false, TypeUnsigned},
		{15, "Registration Failure Block", "RW", false, TypeBoolean},
		{16, "Bootstrap on Registration Failure", "RW", false, TypeBoolean},
		{17, "Communication Retry Count", "RW", false, TypeUnsigned},
		{18, "Communication Retry Timer", "RW", false, TypeUnsigned},
		{19, "Communication Sequence Delay Timer", "RW", false, TypeUnsigned},
		{20, "Communication Sequence Retry Count", "RW", false, TypeUnsigned},
		{22, "Preferred Transport", "RW", false, TypeString},
		{23, "Mute Send", "RW", false, TypeBoolean},
	}},
	3: {ID: 3, Name: "Device", Version: "1.1", Resources: []ResourceModel{
		{0, "Manufacturer", "R", false, TypeString},
		{1, "Model Number", "R", false, TypeString},
		{2, "Serial Number", "R", false, TypeString},
		{3, "Firmware Version", "R", false, TypeString},
		{4, "Reboot", "E", false, TypeNone},
		{5, "Factory Reset", "E", false, TypeNone},
		{6, "Available Power Sources", "R", true, TypeInteger},
		{7, "Power Source Voltage", "R", true, TypeInteger},
		{8, "Power Source Current", "R", true, TypeInteger},
		{9, "Battery Level", "R", false, TypeInteger},
		{10, "Memory Free", "R", false, TypeInteger},
		{11, "Error Code", "R", true, TypeInteger},
		{12, "Reset Error Code", "E", false, TypeNone},
		{13, "Current Time", "RW", false, TypeTime},
		{14, "UTC Offset", "RW", false, TypeString},
		{15, "Timezone", "RW", false, TypeString},
		{16, "Supported Binding and Modes", "R", false, TypeString},
		{17, "Device Type", "R", false, TypeString},
		{18, "Hardware Version", "R", false, TypeString},
		{19, "Software Version", "R", false, TypeString},
		{20, "Battery Status", "R", false, TypeInteger},
		{21, "Memory Total", "R", false, TypeInteger},
		{22, "ExtDevInfo", "R", true, TypeObjlnk},
	}},
	5: {ID: 5, Name: "Firmware Update", Version: "1.1", Resources: []ResourceModel{
		{0, "Package", "W", false, TypeOpaque},
		{1, "Package URI", "RW", false, TypeString},
		{2, "Update", "E", false, TypeNone},
		{3, "State", "R", false, TypeInteger},
		{5, "Update Result", "R", false, TypeInteger},
		{6, "PkgName", "R", false, TypeString},
		{7, "PkgVersion", "R", false, TypeString},
		{8, "Firmware Update Protocol Support", "R", true, TypeInteger},
		{9, "Firmware Update Delivery Method", "R", false, TypeInteger},
		{10, "Cancel", "E", false, TypeNone},
		{11, "Severity", "RW", false, TypeInteger},
		{12, "Last State Change Time", "R", false, TypeTime},
		{13, "Maximum Defer Period", "RW", false, TypeUnsigned},
		{14, "Automatic Upgrade at Download", "RW", false, TypeBoolean},
	}},
	9: {ID: 9, Name: "LWM2M Software Management", Version: "1.1", Multiple: true, Resources: []ResourceModel{
		{0, "PkgName", "R", false, TypeString},
		{1, "PkgVersion", "R", false, TypeString},
		{2, "Package", "W", false, TypeOpaque},
		{3, "Package URI", "W", false, TypeString},
		{4, "Install", "E", false, TypeNone},
		{5, "Checkpoint", "R", false, TypeObjlnk},
		{6, "Uninstall", "E", false, TypeNone},
		{7, "Update State", "R", false, TypeInteger},
		{8, "Update Supported Objects", "RW", false, TypeBoolean},
		{9, "Update Result", "R", false, TypeInteger},
		{10, "Activate", "E", false, TypeNone},
		{11, "Deactivate", "E", false, TypeNone},
		{12, "Activation State", "R", false, TypeBoolean},
		{13, "Package Settings", "RW", false, TypeObjlnk},
		{14, "User Name", "W", false, TypeString},
		{15, "Password", "W", false, TypeString},
		{16, "Status Reason", "R", false, TypeString},
		{17, "Software Component Link", "R", true, TypeObjlnk},
		{18, "Software Component tree length", "R", false, TypeUnsigned},
	}},
}

// Model returns (a copy of) the model of a known object.
func Model(object uint16) (ObjectModel, bool) {
	m, ok := models[object]
	if !ok {
		return ObjectModel{}, false
	}
	c := *m
	c.Resources = append([]ResourceModel(nil), m.Resources...)
	return c, true
}

// ResourceOf returns the model of the resource a path (of 3 or 4 ids)
// names.
func ResourceOf(p Path) (ResourceModel, bool) {
	if p.Len() < 3 {
		return ResourceModel{}, false
	}
	m, ok := models[p.ids[0]]
	if !ok {
		return ResourceModel{}, false
	}
	return m.Resource(p.ids[2])
}

// Typed converts raw values (TLV bytes, text) to the types the models
// give; records of unknown resources keep their raw values. The error
// names the first record that does not fit its type.
func Typed(recs []Record) ([]Record, error) {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = r
		if r.Value.typ != TypeRawBinary && r.Value.typ != TypeRawText {
			continue
		}
		rm, ok := ResourceOf(r.Path)
		if !ok || rm.Type == TypeNone {
			continue
		}
		v, err := r.Value.As(rm.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Path, err)
		}
		out[i].Value = v
	}
	return out, nil
}
