package bridge

import (
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
)

// FUMOState maps an Object 5 State (/5/0/3) and Update Result (/5/0/5) to
// the FUMO state a DM device would be in (architecture note, "LwM2M
// State/Result → FUMO State"). Object 5 has no DownloadComplete: a
// downloaded package is ReadyToUpdate (40 passes by).
func FUMOState(s firmware.State, r firmware.Result) fumo.State {
	switch s {
	case firmware.StateDownloading:
		return fumo.StateDownloadProgressing
	case firmware.StateDownloaded:
		if r == firmware.ResultUpdateFailed {
			return fumo.StateUpdateFailedHaveData
		}
		return fumo.StateReadyToUpdate
	case firmware.StateUpdating:
		return fumo.StateUpdateProgressing
	case firmware.StateIdle:
		switch r {
		case firmware.ResultSuccess:
			return fumo.StateUpdateSuccessfulNoData
		case firmware.ResultUpdateFailed:
			return fumo.StateUpdateFailedNoData
		case firmware.ResultNotEnoughFlash, firmware.ResultOutOfRAM, firmware.ResultConnectionLost,
			firmware.ResultIntegrityFailure, firmware.ResultUnsupportedPackage, firmware.ResultInvalidURI,
			firmware.ResultUnsupportedProtocol:
			return fumo.StateDownloadFailed
		}
		return fumo.StateIdle // initial, cancelled (10), deferred (11)
	}
	return 0 // not an Object 5 state
}

// FUMOResult maps an Update Result to the FUMO result code of the Generic
// Alert a DM device would send; final is false when the result ends
// nothing (0 initial, 11 deferred) or is unknown.
func FUMOResult(r firmware.Result) (code fumo.ResultCode, final bool) {
	switch r {
	case firmware.ResultSuccess:
		return fumo.ResultSuccessful, true
	case firmware.ResultNotEnoughFlash, firmware.ResultOutOfRAM:
		return fumo.ResultDownloadFailedOutOfMemory, true
	case firmware.ResultConnectionLost:
		return fumo.ResultDownloadFailedNetwork, true
	case firmware.ResultIntegrityFailure:
		return fumo.ResultCorruptedPackage, true
	case firmware.ResultUnsupportedPackage:
		return fumo.ResultPackageNotAcceptable, true
	case firmware.ResultInvalidURI, firmware.ResultUnsupportedProtocol:
		return fumo.ResultBadURL, true
	case firmware.ResultUpdateFailed:
		return fumo.ResultUpdateFailed, true
	case firmware.ResultCancelled:
		return fumo.ResultUserCancelled, true
	}
	return 0, false
}
