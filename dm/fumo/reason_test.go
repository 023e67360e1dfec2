package fumo

import (
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// TestReasonOf: every FUMO result code row maps to its pipeline reason.
func TestReasonOf(t *testing.T) {
	cases := map[ResultCode]fleet.Reason{
		200: fleet.ReasonNone, 250: fleet.ReasonNone,
		400: fleet.ReasonUnknown, 401: fleet.ReasonCancelled, 402: fleet.ReasonIntegrity,
		403: fleet.ReasonUnsupportedPackage, 404: fleet.ReasonIntegrity, 405: fleet.ReasonUnsupportedPackage,
		406: fleet.ReasonAuth, 407: fleet.ReasonTimeout, 408: fleet.ReasonUnsupportedPackage, 409: fleet.ReasonUnknown,
		410: fleet.ReasonUpdateFailed, 411: fleet.ReasonBadURI, 412: fleet.ReasonNetwork, 470: fleet.ReasonUnknown,
		500: fleet.ReasonNetwork, 501: fleet.ReasonOutOfStorage, 502: fleet.ReasonOutOfStorage,
		503: fleet.ReasonNetwork, 560: fleet.ReasonNetwork, 600: fleet.ReasonUnknown,
	}
	for code, want := range cases {
		if got := ReasonOf(code); got != want {
			t.Errorf("ReasonOf(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestReasonOfStatus(t *testing.T) {
	cases := map[int]fleet.Reason{
		401: fleet.ReasonAuth, 403: fleet.ReasonAuth, 404: fleet.ReasonUnsupportedPackage,
		405: fleet.ReasonUnsupportedPackage, 420: fleet.ReasonOutOfStorage, 416: fleet.ReasonOutOfStorage,
		408: fleet.ReasonTimeout, 214: fleet.ReasonCancelled, 500: fleet.ReasonUnknown,
	}
	for code, want := range cases {
		if got := reasonOfStatus(code); got != want {
			t.Errorf("reasonOfStatus(%d) = %q, want %q", code, got, want)
		}
	}
}
