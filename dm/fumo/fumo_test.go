package fumo

import (
	"errors"
	"os"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

func TestState(t *testing.T) {
	tests := []struct {
		in       string
		want     State
		name     string
		terminal bool
	}{
		{"10", StateIdle, "Idle", false},
		{"20", StateDownloadFailed, "DownloadFailed", true},
		{"30", StateDownloadProgressing, "DownloadProgressing", false},
		{"40", StateDownloadComplete, "DownloadComplete", false},
		{" 50 ", StateReadyToUpdate, "ReadyToUpdate", false},
		{"60", StateUpdateProgressing, "UpdateProgressing", false},
		{"70", StateUpdateFailedHaveData, "UpdateFailedHaveData", true},
		{"80", StateUpdateFailedNoData, "UpdateFailedNoData", true},
		{"90", StateUpdateSuccessfulHaveData, "UpdateSuccessfulHaveData", true},
		{"100", StateUpdateSuccessfulNoData, "UpdateSuccessfulNoData", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseState(tt.in)
			if err != nil || got != tt.want || got.String() != tt.name || got.Terminal() != tt.terminal {
				t.Errorf("ParseState(%q) = %v (%v), terminal %v; want %v", tt.in, got, err, got.Terminal(), tt.want)
			}
		})
	}
	for _, bad := range []string{"", "15", "abc", "-10", "1000"} {
		if _, err := ParseState(bad); !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseState(%q): err %v, want ErrBadValue", bad, err)
		}
	}
	if s := State(15).String(); s != "State(15)" {
		t.Errorf("State(15) = %s", s)
	}
}

func TestResultCode_Class(t *testing.T) {
	tests := []struct {
		code   ResultCode
		class  Class
		vendor bool
		name   string
	}{
		{200, ClassSuccess, false, "Successful"},
		{201, ClassUnknown, false, "ResultCode(201)"},
		{249, ClassUnknown, false, "ResultCode(249)"},
		{250, ClassSuccess, true, "VendorSuccess(250)"},
		{299, ClassSuccess, true, "VendorSuccess(299)"},
		{300, ClassUnknown, false, "ResultCode(300)"},
		{400, ClassClientError, false, "ManagementClientError"},
		{401, ClassClientError, false, "UserCancelled"},
		{402, ClassClientError, false, "CorruptedFirmwareUpdatePackage"},
		{403, ClassClientError, false, "FirmwareUpdatePackageDeviceMismatch"},
		{404, ClassClientError, false, "FailedFirmwareUpdatePackageValidation"},
		{405, ClassClientError, false, "FirmwareUpdatePackageNotAcceptable"},
		{406, ClassClientError, false, "AlternateDownloadAuthenticationFailure"},
		{407, ClassClientError, false, "AlternateDownloadRequestTimeOut"},
		{408, ClassClientError, false, "NotImplemented"},
		{409, ClassClientError, false, "UndefinedError"},
		{410, ClassClientError, false, "FirmwareUpdateFailed"},
		{411, ClassClientError, false, "MalformedOrBadURL"},
		{412, ClassClientError, false, "AlternateDownloadServerUnavailable"},
		{413, ClassUnknown, false, "ResultCode(413)"},
		{449, ClassUnknown, false, "ResultCode(449)"},
		{450, ClassClientError, true, "VendorClientError(450)"},
		{499, ClassClientError, true, "VendorClientError(499)"},
		{500, ClassServerError, false, "AlternateDownloadServerError"},
		{501, ClassServerError, false, "DownloadFailedOutOfMemory"},
		{502, ClassServerError, false, "UpdateFailedOutOfMemory"},
		{503, ClassServerError, false, "DownloadFailedNetworkIssues"},
		{504, ClassUnknown, false, "ResultCode(504)"},
		{550, ClassServerError, true, "VendorServerError(550)"},
		{599, ClassServerError, true, "VendorServerError(599)"},
		{600, ClassUnknown, false, "ResultCode(600)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := tt.code.Class(); c != tt.class {
				t.Errorf("%d: class %v, want %v", tt.code, c, tt.class)
			}
			if v := tt.code.VendorSpecific(); v != tt.vendor {
				t.Errorf("%d: vendor %v", tt.code, v)
			}
			if s := tt.code.String(); s != tt.name {
				t.Errorf("%d: %s, want %s", tt.code, s, tt.name)
			}
			if tt.code.Successful() != (tt.class == ClassSuccess) {
				t.Errorf("%d: Successful wrong", tt.code)
			}
		})
	}
	for _, bad := range []string{"", "2OO", "99", "1000", "-200", "200.0"} {
		if _, err := ParseResultCode(bad); !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseResultCode(%q): %v, want ErrBadValue", bad, err)
		}
	}
}

func TestRoot(t *testing.T) {
	r := Root("./FwUpdate/fw1")
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	got := []string{r.PkgName(), r.PkgVersion(), r.State(), r.Node(OpDownload), r.Node(OpUpdate),
		r.Node(OpDownloadAndUpdate), r.PkgData()}
	want := []string{"./FwUpdate/fw1/PkgName", "./FwUpdate/fw1/PkgVersion", "./FwUpdate/fw1/State",
		"./FwUpdate/fw1/Download", "./FwUpdate/fw1/Update", "./FwUpdate/fw1/DownloadAndUpdate",
		"./FwUpdate/fw1/Update/PkgData"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("path %d: %s, want %s", i, got[i], want[i])
		}
	}
	if u, _ := Root("./FUMO").PkgURL(OpDownloadAndUpdate); u != "./FUMO/DownloadAndUpdate/PkgURL" {
		t.Errorf("PkgURL = %s", u)
	}
	if _, err := r.PkgURL(OpUpdate); !errors.Is(err, ErrBadValue) {
		t.Errorf("Update has no PkgURL, got %v", err)
	}
	for _, bad := range []Root{"", ".", "FwUpdate/x", "./", "./a//b", "./a/../b", "./a/"} {
		if err := bad.Validate(); !errors.Is(err, ErrBadValue) {
			t.Errorf("Validate(%q) = %v", bad, err)
		}
	}
}

// TestBuilders_Encode: the builders' commands are valid SyncML that a
// device reads back with the right targets.
func TestBuilders_Encode(t *testing.T) {
	r := Root("./DevDetail/Ext/Software/FwUpdate/x1")
	url, err := ReplacePkgURL(r, OpDownload, "https://gw.example/pkg/abc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReplacePkgURL(r, OpDownload, ""); !errors.Is(err, ErrBadValue) {
		t.Errorf("empty url: %v", err)
	}
	cmds := []syncml.Command{
		ReplacePackageInfo(r, "widget-fw", "2.4.1"), url,
		ReplacePkgData(r, []byte{0, 1, 2}), Exec(r, OpDownloadAndUpdate, "job-1"), GetState(r), GetFirmwareVersion(),
	}
	for i, c := range cmds {
		switch c := c.(type) {
		case *syncml.Replace:
			c.CmdID = string(rune('1' + i))
		case *syncml.Exec:
			c.CmdID = string(rune('1' + i))
		case *syncml.Get:
			c.CmdID = string(rune('1' + i))
		}
	}
	m := &syncml.Message{
		Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: "1", MsgID: "1",
			Target: syncml.Location{LocURI: "IMEI:1"}, Source: syncml.Location{LocURI: "srv"}},
		Body: syncml.Body{Commands: cmds, Final: true},
	}
	b, err := syncml.EncodeWBXML(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := syncml.DecodeWBXML(b)
	if err != nil {
		t.Fatal(err)
	}
	info := back.Body.Commands[0].(*syncml.Replace)
	if info.Items[0].Target.LocURI != r.PkgName() || string(info.Items[1].Data) != "2.4.1" {
		t.Errorf("package info: %+v", info.Items)
	}
	if u := back.Body.Commands[1].(*syncml.Replace).Items[0]; u.Target.LocURI != r.PkgName()[:len(r)]+"/Download/PkgURL" || string(u.Data) != "https://gw.example/pkg/abc" {
		t.Errorf("PkgURL item: %+v", u)
	}
	pd := back.Body.Commands[2].(*syncml.Replace).Items[0]
	if pd.Meta.Format != "bin" || pd.Meta.Type != "application/octet-stream" || string(pd.Data) != "\x00\x01\x02" {
		t.Errorf("PkgData item: %+v %+v", pd, pd.Meta)
	}
	x := back.Body.Commands[3].(*syncml.Exec)
	if x.Correlator != "job-1" || x.Item.Target.LocURI != r.Node(OpDownloadAndUpdate) {
		t.Errorf("exec: %+v", x)
	}
	if g := back.Body.Commands[5].(*syncml.Get); g.Items[0].Target.LocURI != DevDetailFwV {
		t.Errorf("get FwV: %+v", g.Items[0].Target)
	}
}

func alertWith(typ, format, source, data string) *syncml.Alert {
	it := syncml.Item{Meta: &syncml.Meta{Type: typ, Format: format, Mark: "critical"}}
	if source != "" {
		it.Source = &syncml.Location{LocURI: source}
	}
	if data != "-" {
		it.Data = []byte(data)
	}
	return &syncml.Alert{CmdID: "4", Code: 1226, Correlator: "c1", Items: []syncml.Item{it}}
}

// TestParseGenericAlert_Variants: the alert variants seen in the wild.
func TestParseGenericAlert_Variants(t *testing.T) {
	tests := []struct {
		name    string
		alert   *syncml.Alert
		typ     AlertType
		root    Root
		result  ResultCode
		wantErr error
	}{
		{"spec form on executed node", alertWith("org.openmobilealliance.dm.firmwareupdate.downloadandupdate", "int", "./FwUpdate/pkg1/DownloadAndUpdate", "200"), AlertDownloadAndUpdate, "./FwUpdate/pkg1", 200, nil},
		{"source is the root", alertWith("org.openmobilealliance.dm.firmwareupdate.download", "int", "./FwUpdate/pkg1", "503"), AlertDownload, "./FwUpdate/pkg1", 503, nil},
		{"without .dm.", alertWith("org.openmobilealliance.firmwareupdate.update", "int", "./FUMO/Update", "410"), AlertUpdate, "./FUMO", 410, nil},
		{"reversed-domain-name prefix", alertWith("Reversed-Domain-Name: org.openmobilealliance.dm.firmwareupdate.update", "int", "./FUMO/Update", "200"), AlertUpdate, "./FUMO", 200, nil},
		{"upper case", alertWith("ORG.OPENMOBILEALLIANCE.DM.FIRMWAREUPDATE.DOWNLOADANDUPDATE", "INT", "./FUMO", "402"), AlertDownloadAndUpdate, "./FUMO", 402, nil},
		{"format chr", alertWith("org.openmobilealliance.dm.firmwareupdate.download", "chr", "./F/x/Download", " 251 "), AlertDownload, "./F/x", 251, nil},
		{"device request without result", alertWith("org.openmobilealliance.dm.firmwareupdate.devicerequest", "", "./FwUpdate/x", "-"), AlertDeviceRequest, "./FwUpdate/x", 0, nil},
		{"user request", alertWith("org.openmobilealliance.dm.firmwareupdate.userrequest", "int", "./FwUpdate/x", "200"), AlertUserRequest, "./FwUpdate/x", 200, nil},
		{"unknown type", alertWith("com.vendor.battery.low", "int", "./Bat", "200"), 0, "", 0, ErrNotFUMOAlert},
		{"missing type", alertWith("", "int", "./Bat", "200"), 0, "", 0, ErrNotFUMOAlert},
		{"result not a number", alertWith("org.openmobilealliance.dm.firmwareupdate.update", "int", "./FUMO", "ok"), 0, "", 0, ErrBadAlert},
		{"no result for an exec", alertWith("org.openmobilealliance.dm.firmwareupdate.update", "int", "./FUMO", "-"), 0, "", 0, ErrBadAlert},
		{"bad format", alertWith("org.openmobilealliance.dm.firmwareupdate.update", "b64", "./FUMO", "MjAw"), 0, "", 0, ErrBadAlert},
		{"no items", &syncml.Alert{CmdID: "2", Code: 1226}, 0, "", 0, ErrBadAlert},
		{"not a generic alert", &syncml.Alert{CmdID: "2", Code: 1201}, 0, "", 0, ErrNotFUMOAlert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reps, err := ParseGenericAlert(tt.alert)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(reps) != 1 {
				t.Fatalf("%v %v", reps, err)
			}
			r := reps[0]
			if r.Type != tt.typ || r.Root != tt.root || r.Result != tt.result || r.Correlator != "c1" || r.Mark != "critical" || r.AlertCmdID != "4" {
				t.Errorf("got %+v", r)
			}
		})
	}
}

// TestParseGenericAlert_Vector reads the 1226 of a recorded device message,
// and several items in one alert.
func TestParseGenericAlert_Vector(t *testing.T) {
	b, err := os.ReadFile("testdata/c2s-pkg1-alert1226.xml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := syncml.DecodeXML(b)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Body.Commands[2].(*syncml.Alert)
	reps, err := ParseGenericAlert(a)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{AlertCmdID: "3", Correlator: "job-7d1f-0001", Source: "./FwUpdate/fw1/DownloadAndUpdate",
		Root: "./FwUpdate/fw1", Type: AlertDownloadAndUpdate, Result: ResultCorruptedPackage, Mark: "critical"}
	if len(reps) != 1 || reps[0] != want {
		t.Errorf("got %+v\nwant %+v", reps, want)
	}
	a.Items = append(a.Items, alertWith("org.openmobilealliance.dm.firmwareupdate.download", "int", "./FwUpdate/fw2", "200").Items...)
	reps, err = ParseGenericAlert(a)
	if err != nil || len(reps) != 2 || reps[1].Root != "./FwUpdate/fw2" || reps[1].Result != 200 {
		t.Errorf("two items: %+v %v", reps, err)
	}
}

func TestAlertType_String(t *testing.T) {
	for _, op := range []Operation{OpDownload, OpUpdate, OpDownloadAndUpdate} {
		s := op.AlertType().String()
		back, ok := ParseAlertType(s)
		if !ok || back != op.AlertType() {
			t.Errorf("%v: %s does not parse back", op, s)
		}
	}
}

func FuzzParseGenericAlert(f *testing.F) {
	f.Add("org.openmobilealliance.dm.firmwareupdate.download", "int", "./FwUpdate/x/Download", "200")
	f.Add("Reversed-Domain-Name: org.openmobilealliance.firmwareupdate.userrequest", "", "./FUMO", "")
	f.Fuzz(func(t *testing.T, typ, format, source, data string) {
		reps, err := ParseGenericAlert(alertWith(typ, format, source, data))
		if err != nil {
			if !errors.Is(err, ErrBadAlert) && !errors.Is(err, ErrNotFUMOAlert) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		r := reps[0]
		if r.Result != 0 && (r.Result < 100 || r.Result > 999) || r.Result == 0 && !r.Type.IsRequest() {
			t.Fatalf("bad report %+v", r)
		}
		if back, ok := ParseAlertType(r.Type.String()); !ok || back != r.Type {
			t.Fatalf("type %v does not round-trip", r.Type)
		}
	})
}

func TestParseCommandID(t *testing.T) {
	tests := []struct {
		id, job, kind string
		attempt       int
		ok            bool
	}{
		{"job1.deliver", "job1", "deliver", 1, true},
		{"job1.exec.2", "job1", "exec", 2, true},
		{"a.b.verify.12", "a.b", "verify", 12, true},
		{"a.2.exec", "a.2", "exec", 1, true},
		{"job1.exec.1", "", "", 0, false},
		{"job1.exec.02", "", "", 0, false},
		{"job1.other", "", "", 0, false},
		{"exec", "", "", 0, false},
		{"0123abcd", "", "", 0, false},
	}
	for _, tt := range tests {
		job, kind, attempt, ok := parseCommandID(tt.id)
		if job != tt.job || kind != tt.kind || attempt != tt.attempt || ok != tt.ok {
			t.Errorf("parseCommandID(%q) = %q %q %d %v", tt.id, job, kind, attempt, ok)
		}
	}
	for _, a := range []int{0, 1, 2, 7} {
		j := fleet.Job{ID: "x.y", Attempts: a}
		job, kind, attempt, ok := parseCommandID(commandID(j, kindExec))
		if !ok || job != "x.y" || kind != kindExec || attempt != max(a, 1) {
			t.Errorf("round trip of attempt %d: %q %q %d %v", a, job, kind, attempt, ok)
		}
	}
}
