package syncml_test

import (
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// A client's Generic Alert 1226 reporting a FUMO result, read from XML as a
// real client writes it (single-quoted namespace, Correlator before Data).
func ExampleDecodeXML() {
	msg := []byte(`<?xml version="1.0"?>
<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
<SessionID>3F3</SessionID><MsgID>1</MsgID><Target><LocURI>https://dm.example.net/dm</LocURI></Target>
<Source><LocURI>IMEI:493005100592800</LocURI></Source></SyncHdr>
<SyncBody><Alert><CmdID>3</CmdID><Correlator>job-1</Correlator><Data>1226</Data>
<Item><Source><LocURI>./FwUpdate/fw1/DownloadAndUpdate</LocURI></Source>
<Meta><Type xmlns='syncml:metinf'>org.openmobilealliance.dm.firmwareupdate.downloadandupdate</Type>
<Format>int</Format></Meta><Data>402</Data></Item></Alert><Final/></SyncBody></SyncML>`)
	m, err := syncml.DecodeXML(msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	a := m.Body.Commands[0].(*syncml.Alert)
	fmt.Println(m.Header.Source.LocURI, a.Code, a.Correlator, a.Items[0].Source.LocURI, string(a.Items[0].Data))
	// Output: IMEI:493005100592800 1226 job-1 ./FwUpdate/fw1/DownloadAndUpdate 402
}

// A server package with an Exec on DownloadAndUpdate, written as WBXML and
// read back.
func ExampleEncodeWBXML() {
	m := &syncml.Message{
		Header: syncml.Header{
			VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: "1", MsgID: "2",
			Target: syncml.Location{LocURI: "IMEI:493005100592800"},
			Source: syncml.Location{LocURI: "https://dm.example.net/dm"},
		},
		Body: syncml.Body{
			Commands: []syncml.Command{
				&syncml.Status{CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: "SyncHdr", Code: 212},
				&syncml.Exec{CmdID: "2", Correlator: "job-1",
					Item: syncml.Item{Target: &syncml.Location{LocURI: "./FwUpdate/fw1/DownloadAndUpdate"}}},
			},
			Final: true,
		},
	}
	b, err := syncml.EncodeWBXML(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	back, _ := syncml.DecodeWBXML(b)
	x := back.Body.Commands[1].(*syncml.Exec)
	fmt.Printf("% x\n", b[:4])
	fmt.Println(x.CommandName(), x.Correlator, x.Item.Target.LocURI)
	// Output:
	// 02 a4 01 6a
	// Exec job-1 ./FwUpdate/fw1/DownloadAndUpdate
}
