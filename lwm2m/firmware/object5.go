// Package firmware owns LwM2M Object 5 (Firmware Update): its states,
// results and paths, the mapping of results to the gateway's unified
// reasons, and the per-device driver that runs a job on an LwM2M device
// (choose pull or push, deliver, watch State and Update Result, Execute
// Update, verify the new version after the device re-registers).
package firmware

import (
	"strconv"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// State is /5/0/3.
type State int

const (
	StateIdle        State = 0
	StateDownloading State = 1
	StateDownloaded  State = 2
	StateUpdating    State = 3
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateDownloading:
		return "downloading"
	case StateDownloaded:
		return "downloaded"
	case StateUpdating:
		return "updating"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Result is /5/0/5, Update Result.
type Result int

const (
	ResultInitial             Result = 0
	ResultSuccess             Result = 1
	ResultNotEnoughFlash      Result = 2
	ResultOutOfRAM            Result = 3
	ResultConnectionLost      Result = 4
	ResultIntegrityFailure    Result = 5
	ResultUnsupportedPackage  Result = 6
	ResultInvalidURI          Result = 7
	ResultUpdateFailed        Result = 8
	ResultUnsupportedProtocol Result = 9
	ResultCancelled           Result = 10 // 1.1
	ResultDeferred            Result = 11 // 1.1, not final
)

var resultNames = map[Result]string{0: "initial", 1: "success", 2: "not enough flash", 3: "out of RAM", 4: "connection lost",
	5: "integrity check failure", 6: "unsupported package type", 7: "invalid URI", 8: "firmware update failed",
	9: "unsupported protocol", 10: "cancelled", 11: "deferred"}

func (r Result) String() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Failed tells whether a result ends a download or update in failure.
func (r Result) Failed() bool { return r >= ResultNotEnoughFlash && r <= ResultCancelled }

// Protocol is a /5/0/8 value: how the device can fetch a Package URI.
type Protocol int

const (
	ProtocolCoAP  Protocol = 0
	ProtocolCoAPS Protocol = 1
	ProtocolHTTP  Protocol = 2
	ProtocolHTTPS Protocol = 3
)

// DeliveryMethod is /5/0/9.
type DeliveryMethod int

const (
	DeliveryPullOnly DeliveryMethod = 0
	DeliveryPushOnly DeliveryMethod = 1
	DeliveryBoth     DeliveryMethod = 2
)

// Paths of Object 5 instance 0 (and the Device object's firmware version).
var (
	PathObject          = node.MustPath("/5/0")
	PathPackage         = node.MustPath("/5/0/0")
	PathPackageURI      = node.MustPath("/5/0/1")
	PathUpdate          = node.MustPath("/5/0/2")
	PathState           = node.MustPath("/5/0/3")
	PathUpdateResult    = node.MustPath("/5/0/5")
	PathProtocolSupport = node.MustPath("/5/0/8")
	PathDeliveryMethod  = node.MustPath("/5/0/9")
	PathCancel          = node.MustPath("/5/0/10")
	PathFirmwareVersion = node.MustPath("/3/0/3")
)

// ReasonOf maps an Update Result to the unified reason of a failed job.
func ReasonOf(r Result) fleet.Reason {
	switch r {
	case ResultNotEnoughFlash, ResultOutOfRAM:
		return fleet.ReasonOutOfStorage
	case ResultConnectionLost:
		return fleet.ReasonNetwork
	case ResultIntegrityFailure:
		return fleet.ReasonIntegrity
	case ResultUnsupportedPackage:
		return fleet.ReasonUnsupportedPackage
	case ResultInvalidURI, ResultUnsupportedProtocol:
		return fleet.ReasonBadURI
	case ResultUpdateFailed:
		return fleet.ReasonUpdateFailed
	case ResultCancelled:
		return fleet.ReasonCancelled
	case ResultSuccess, ResultInitial, ResultDeferred:
		return fleet.ReasonNone
	}
	return fleet.ReasonUnknown
}
