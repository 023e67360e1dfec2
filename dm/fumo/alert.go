package fumo

import (
	"fmt"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// AlertCodeGeneric is the Alert code of a Generic Alert.
const AlertCodeGeneric = 1226

// AlertType is the Meta Type of a FUMO Generic Alert item.
type AlertType int

const (
	AlertDownload          AlertType = iota + 1 // result of Exec Download
	AlertUpdate                                 // result of Exec Update
	AlertDownloadAndUpdate                      // result of Exec DownloadAndUpdate
	AlertDeviceRequest                          // the device asks for an update
	AlertUserRequest                            // the user asks for an update
)

const alertTypePrefix = "org.openmobilealliance.dm.firmwareupdate."

var alertTypeSuffixes = map[string]AlertType{
	"download":          AlertDownload,
	"update":            AlertUpdate,
	"downloadandupdate": AlertDownloadAndUpdate,
	"devicerequest":     AlertDeviceRequest,
	"userrequest":       AlertUserRequest,
}

// String is the type as the spec writes it.
func (t AlertType) String() string {
	for s, v := range alertTypeSuffixes {
		if v == t {
			return alertTypePrefix + s
		}
	}
	return fmt.Sprintf("AlertType(%d)", int(t))
}

// IsRequest reports whether t is a device- or user-initiated request rather
// than the result of an Exec.
func (t AlertType) IsRequest() bool { return t == AlertDeviceRequest || t == AlertUserRequest }

// ParseAlertType accepts the variants devices send: any case, with or
// without ".dm.", with a "Reversed-Domain-Name:" prefix.
func ParseAlertType(s string) (AlertType, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSpace(strings.TrimPrefix(s, "reversed-domain-name:"))
	for _, prefix := range []string{alertTypePrefix, "org.openmobilealliance.firmwareupdate."} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			t, ok := alertTypeSuffixes[rest]
			return t, ok
		}
	}
	return 0, false
}

// Report is one FUMO result (or request) carried by a Generic Alert item.
type Report struct {
	AlertCmdID string
	Correlator string // echoed from the Exec, when the Exec had one
	Source     string // the item's Source LocURI: <x> or the executed node
	Root       Root   // <x>, derived from Source
	Type       AlertType
	Result     ResultCode // 0 for a request without a result
	Mark       string     // "critical", "warning", ... as sent
}

// ParseGenericAlert reads the FUMO items of a Generic Alert 1226. An item
// whose type is not a FUMO type yields ErrNotFUMOAlert (the alert may belong
// to another management object); a FUMO item without a numeric result or
// with a Format other than int (or chr, which some devices send) yields
// ErrBadAlert. Either way the server answers the alert with 415 or 400 as it
// sees fit; nothing here has side effects.
func ParseGenericAlert(a *syncml.Alert) ([]Report, error) {
	if a.Code != AlertCodeGeneric {
		return nil, fmt.Errorf("fumo: alert %d is not a Generic Alert: %w", a.Code, ErrNotFUMOAlert)
	}
	if len(a.Items) == 0 {
		return nil, fmt.Errorf("fumo: generic alert %s has no item: %w", a.CmdID, ErrBadAlert)
	}
	reports := make([]Report, 0, len(a.Items))
	for i, it := range a.Items {
		r := Report{AlertCmdID: a.CmdID, Correlator: a.Correlator}
		var typ, format string
		if it.Meta != nil {
			typ, format, r.Mark = it.Meta.Type, it.Meta.Format, it.Meta.Mark
		}
		t, ok := ParseAlertType(typ)
		if !ok {
			return nil, fmt.Errorf("fumo: generic alert %s item %d: type %q: %w", a.CmdID, i+1, typ, ErrNotFUMOAlert)
		}
		r.Type = t
		if f := strings.ToLower(strings.TrimSpace(format)); f != "" && f != "int" && f != "chr" {
			return nil, fmt.Errorf("fumo: generic alert %s item %d: format %q, want int: %w", a.CmdID, i+1, format, ErrBadAlert)
		}
		if it.Source != nil {
			r.Source = it.Source.LocURI
			r.Root = RootOf(r.Source)
		}
		switch {
		case it.Data != nil && len(strings.TrimSpace(string(it.Data))) > 0:
			code, err := ParseResultCode(string(it.Data))
			if err != nil {
				return nil, fmt.Errorf("fumo: generic alert %s item %d: %w", a.CmdID, i+1, ErrBadAlert)
			}
			r.Result = code
		case !t.IsRequest():
			return nil, fmt.Errorf("fumo: generic alert %s item %d: no result code: %w", a.CmdID, i+1, ErrBadAlert)
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// RootOf returns <x> for a Source that is either <x> itself or one of its
// executable nodes.
func RootOf(source string) Root {
	source = strings.TrimSuffix(source, "/")
	for _, node := range []string{"/DownloadAndUpdate", "/Download", "/Update"} {
		if rest, ok := strings.CutSuffix(source, node); ok {
			return Root(rest)
		}
	}
	return Root(source)
}
