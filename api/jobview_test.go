package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
)

// TestJobStepTimeout: a job shows when its current step times out: for a
// DM device that has not called in, the time it started waiting plus the
// waiting step's timeout (7 days by default).
func TestJobStepTimeout(t *testing.T) {
	h := newHarness(t, nil)
	h.upload("fw2")
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "quiet", Protocol: "dm", Model: "Quiet",
		DM: &api.DMSettings{DeviceID: "IMEI:quiet", Auth: "md5", Username: "q", Password: "q", FUMORoot: "./FwUpdate/1"}}, nil)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/jobs", bridge.JobRequest{ID: "j1", DeviceID: "quiet", PackageID: "fw2"}, nil)
	var j struct {
		State         string    `json:"state"`
		Updated       time.Time `json:"updated"`
		StepTimeoutAt time.Time `json:"step_timeout_at"`
	}
	eventually(t, "the job waiting for its device", func() bool {
		_, b := h.call(http.MethodGet, "/api/v1/jobs/j1", nil)
		return json.Unmarshal(b, &j) == nil && j.State == "waiting_device"
	})
	if want := j.Updated.Add(7 * 24 * time.Hour); !j.StepTimeoutAt.Equal(want) {
		t.Errorf("step_timeout_at %s, want %s", j.StepTimeoutAt, want)
	}
}
