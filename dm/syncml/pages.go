package syncml

import "github.com/fumo-gw/fumo-gw/dm/wbxml"

// WBXML code pages of SyncML DM 1.2 (OMA SyncML RepPro / MetInf).
const (
	PageSyncML byte = 0
	PageMetInf byte = 1
)

// PublicID1_2 is the WBXML public identifier of SyncML 1.2 (written A4 01).
const PublicID1_2 = 0x1201

var syncMLPage = wbxml.Page{Number: PageSyncML, Tags: map[string]byte{
	"Add": 0x05, "Alert": 0x06, "Archive": 0x07, "Atomic": 0x08, "Chal": 0x09, "Cmd": 0x0A, "CmdID": 0x0B,
	"CmdRef": 0x0C, "Copy": 0x0D, "Cred": 0x0E, "Data": 0x0F, "Delete": 0x10, "Exec": 0x11, "Final": 0x12,
	"Get": 0x13, "Item": 0x14, "Lang": 0x15, "LocName": 0x16, "LocURI": 0x17, "Map": 0x18, "MapItem": 0x19,
	"Meta": 0x1A, "MsgID": 0x1B, "MsgRef": 0x1C, "NoResp": 0x1D, "NoResults": 0x1E, "Put": 0x1F,
	"Replace": 0x20, "RespURI": 0x21, "Results": 0x22, "Search": 0x23, "Sequence": 0x24, "SessionID": 0x25,
	"SftDel": 0x26, "Source": 0x27, "SourceRef": 0x28, "Status": 0x29, "Sync": 0x2A, "SyncBody": 0x2B,
	"SyncHdr": 0x2C, "SyncML": 0x2D, "Target": 0x2E, "TargetRef": 0x2F, "VerDTD": 0x31, "VerProto": 0x32,
	"NumberOfChanges": 0x33, "MoreData": 0x34, "Field": 0x35, "Filter": 0x36, "Record": 0x37,
	"FilterType": 0x38, "SourceParent": 0x39, "TargetParent": 0x3A, "Move": 0x3B, "Correlator": 0x3C,
}}

var metInfPage = wbxml.Page{Number: PageMetInf, Tags: map[string]byte{
	"Anchor": 0x05, "EMI": 0x06, "Format": 0x07, "FreeID": 0x08, "FreeMem": 0x09, "Last": 0x0A, "Mark": 0x0B,
	"MaxMsgSize": 0x0C, "Mem": 0x0D, "MetInf": 0x0E, "Next": 0x0F, "NextNonce": 0x10, "SharedMem": 0x11,
	"Size": 0x12, "Type": 0x13, "Version": 0x14, "MaxObjSize": 0x15, "FieldLevel": 0x16,
}}

// codePages is built once; NewCodePages fails only on a table typo, which the
// package tests catch.
var codePages = mustCodePages()

func mustCodePages() *wbxml.CodePages {
	cp, err := wbxml.NewCodePages(syncMLPage, metInfPage)
	if err != nil {
		panic(err)
	}
	return cp
}
