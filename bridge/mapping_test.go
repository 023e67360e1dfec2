package bridge

import (
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
)

// Each row of the architecture note's State/Result -> FUMO State table.
func TestFUMOState(t *testing.T) {
	tests := []struct {
		state  firmware.State
		result firmware.Result
		want   fumo.State
	}{
		{0, 0, fumo.StateIdle},
		{1, 0, fumo.StateDownloadProgressing},
		{2, 0, fumo.StateReadyToUpdate},
		{3, 0, fumo.StateUpdateProgressing},
		{0, 1, fumo.StateUpdateSuccessfulNoData},
		{0, 2, fumo.StateDownloadFailed},
		{0, 3, fumo.StateDownloadFailed},
		{0, 4, fumo.StateDownloadFailed},
		{0, 5, fumo.StateDownloadFailed},
		{0, 6, fumo.StateDownloadFailed},
		{0, 7, fumo.StateDownloadFailed},
		{0, 9, fumo.StateDownloadFailed},
		{2, 8, fumo.StateUpdateFailedHaveData},
		{0, 8, fumo.StateUpdateFailedNoData},
		{0, 10, fumo.StateIdle},
		// Not in the table: what a device in these states means.
		{0, 11, fumo.StateIdle},
		{2, 11, fumo.StateReadyToUpdate},
		{1, 4, fumo.StateDownloadProgressing},
		{7, 0, 0},
	}
	for _, tt := range tests {
		if got := FUMOState(tt.state, tt.result); got != tt.want {
			t.Errorf("FUMOState(%d, %d) = %v, want %v", tt.state, tt.result, got, tt.want)
		}
	}
}

// Each row of the Update Result -> FUMO result code table, and the reason
// both protocols give the same failure.
func TestFUMOResult(t *testing.T) {
	tests := []struct {
		result firmware.Result
		want   fumo.ResultCode
		final  bool
	}{
		{0, 0, false},
		{1, 200, true},
		{2, 501, true},
		{3, 501, true},
		{4, 503, true},
		{5, 402, true},
		{6, 405, true},
		{7, 411, true},
		{8, 410, true},
		{9, 411, true},
		{10, 401, true},
		{11, 0, false},
		{12, 0, false},
	}
	for _, tt := range tests {
		got, final := FUMOResult(tt.result)
		if got != tt.want || final != tt.final {
			t.Errorf("FUMOResult(%d) = %d %v, want %d %v", tt.result, got, final, tt.want, tt.final)
		}
		if !final {
			continue
		}
		// The unified reason is the same whichever protocol reported.
		lw, dm := firmware.ReasonOf(tt.result), fumo.ReasonOf(got)
		if lw != dm {
			t.Errorf("result %d: LwM2M reason %q, FUMO %d reason %q", tt.result, lw, got, dm)
		}
		if tt.result == firmware.ResultSuccess && lw != fleet.ReasonNone {
			t.Errorf("success has reason %q", lw)
		}
	}
}
