package bridge_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

type fault struct {
	id     string
	dm     sim.Fault
	lw     sim.LwM2MFault
	reason fleet.Reason
	native string // fmt of the job's native codes
}

// TestMixedCampaign: one campaign of 51 DM and 51 LwM2M devices, all
// updated from the same package by the same pipeline. Four faulty devices
// at the head of the list cross the failure threshold (4) and pause the
// campaign; resuming it completes it; two more faults after the resume
// stay under the threshold. Faulty devices end failed with the unified
// reason and their native codes (an LwM2M failure records its Update
// Result and the FUMO code it maps to); the others succeed with the new
// firmware installed and recorded.
func TestMixedCampaign(t *testing.T) {
	h := newHarness(t, 16<<10, nil)
	early := []fault{
		{id: "dm-corrupt", dm: sim.FaultCorruptDownload, reason: fleet.ReasonIntegrity, native: "[{dm 402}]"},
		{id: "lw-corrupt", lw: sim.LwM2MFaultCorrupt, reason: fleet.ReasonIntegrity, native: "[{lwm2m 5} {dm 402}]"},
		{id: "dm-install", dm: sim.FaultInstallFailure, reason: fleet.ReasonUpdateFailed, native: "[{dm 410}]"},
		{id: "lw-update", lw: sim.LwM2MFaultUpdateFailure, reason: fleet.ReasonUpdateFailed, native: "[{lwm2m 8} {dm 410}]"},
	}
	late := []fault{
		{id: "dm-cancel", dm: sim.FaultUserCancel, reason: fleet.ReasonCancelled, native: "[{dm 401}]"},
		{id: "lw-storage", lw: sim.LwM2MFaultOutOfStorage, reason: fleet.ReasonOutOfStorage, native: "[{lwm2m 2} {dm 501}]"},
	}
	var devices []string
	add := func(f fault) {
		if strings.HasPrefix(f.id, "dm-") {
			h.addDM(f.id, f.dm)
		} else {
			h.addLwM2M(f.id, f.lw)
		}
		devices = append(devices, f.id)
	}
	for _, f := range early {
		add(f)
	}
	var good []string
	for i := range 49 {
		good = append(good, fmt.Sprintf("dm-%02d", i), fmt.Sprintf("lw-%02d", i))
	}
	for _, id := range good {
		add(fault{id: id})
	}
	for _, f := range late {
		add(f)
	}
	sub := h.gw.Bridge.Subscribe(4096)
	defer sub.Close()

	c, err := h.gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Devices: devices, MaxInFlight: 20, FailureThreshold: 4})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != fleet.CampaignDraft || len(c.Devices) != 104 {
		t.Fatalf("created %+v", c)
	}
	if _, err := h.gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	p := h.waitCampaign("c1", fleet.CampaignPaused, 60*time.Second)
	if p.Jobs[fleet.JobFailed] < 4 || !strings.Contains(p.Campaign.StateNote, "threshold 4") {
		t.Fatalf("paused with %v: %s", p.Jobs, p.Campaign.StateNote)
	}
	// Paused: the jobs in flight finish, no new job starts.
	deadline := time.Now().Add(60 * time.Second)
	for p.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		p, _ = h.gw.Bridge.CampaignProgress(ctx, "c1")
	}
	created := p.Devices - p.Pending
	time.Sleep(500 * time.Millisecond) // five ticks
	if p, _ = h.gw.Bridge.CampaignProgress(ctx, "c1"); p.Devices-p.Pending != created || p.InFlight() != 0 || p.Campaign.State != fleet.CampaignPaused {
		t.Fatalf("paused campaign moved on: %d jobs then %d, in flight %d", created, p.Devices-p.Pending, p.InFlight())
	}
	if created >= len(devices) {
		t.Fatalf("every job was created before the pause (%d)", created)
	}

	if _, err := h.gw.Bridge.ResumeCampaign(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	p = h.waitCampaign("c1", fleet.CampaignDone, 120*time.Second)
	if p.Jobs[fleet.JobSucceeded] != len(good) || p.Jobs[fleet.JobFailed] != 6 || p.Pending != 0 {
		t.Fatalf("done with %v, pending %d: %s", p.Jobs, p.Pending, p.Campaign.StateNote)
	}
	if sum := p.Campaign.Counters[fleet.JobSucceeded] + p.Campaign.Counters[fleet.JobFailed]; sum != len(devices) {
		t.Errorf("stored counters %v do not add up to %d", p.Campaign.Counters, len(devices))
	}

	jobs := campaignJobs(t, h.gw.Store, "c1")
	// Never more than MaxInFlight unfinished jobs: when each job was
	// created, count the jobs created before it that had not ended.
	most := 0
	for _, j := range jobs {
		n := 0
		for _, k := range jobs {
			if !k.Created.After(j.Created) && k.History[len(k.History)-1].At.After(j.Created) {
				n++
			}
		}
		most = max(most, n)
	}
	if most > 20 || most < 10 {
		t.Errorf("at most %d jobs in flight, want 10 to 20 (MaxInFlight 20)", most)
	}
	for _, f := range append(early, late...) {
		j := jobs[f.id]
		if j.State != fleet.JobFailed || j.Reason != f.reason || natives(j) != f.native {
			t.Errorf("%s: job %s %s native %s, want failed %s %s", f.id, j.ID, j.State, natives(j), f.reason, f.native)
		}
	}
	for _, id := range good {
		j := jobs[id]
		if j.State != fleet.JobSucceeded {
			t.Errorf("%s: job %s %s (%s): %+v", id, j.ID, j.State, j.Reason, j.History)
			continue
		}
		dev, _ := h.gw.Store.Device(ctx, id)
		if dev.FirmwareVersion != "2.0" {
			t.Errorf("%s: recorded firmware %q", id, dev.FirmwareVersion)
		}
		if fw := h.fws[id]; fw != nil {
			if _, result, version := fw.State(); result != 1 || version != "2.0" || !bytes.Equal(fw.Installed(), h.img) || fw.Executions() != 1 {
				t.Errorf("%s: result %d version %s executions %d", id, result, version, fw.Executions())
			}
		}
		if d := h.dms[id]; d != nil {
			if v, _ := d.Node("./DevDetail/FwV"); string(v) != "2.0" {
				t.Errorf("%s: device firmware %q", id, v)
			}
		}
	}

	// The event stream told the same story: every job's end, the pause,
	// the resume and the end of the campaign.
	ends, states := map[string]fleet.JobState{}, []fleet.CampaignState{}
	for done := false; !done; {
		select {
		case ev := <-sub.C:
			switch ev.Kind {
			case bridge.EventJob:
				if ev.Job.Terminal() {
					ends[ev.JobID] = ev.Job
				}
				if ev.CampaignID != "c1" {
					t.Errorf("job event without its campaign: %+v", ev)
				}
			case bridge.EventCampaign:
				states = append(states, ev.Campaign)
			}
		default:
			done = true
		}
	}
	if len(ends) != len(devices) || sub.Dropped() != 0 {
		t.Errorf("events: %d job ends, %d dropped", len(ends), sub.Dropped())
	}
	want := []fleet.CampaignState{fleet.CampaignDraft, fleet.CampaignRunning, fleet.CampaignPaused, fleet.CampaignRunning, fleet.CampaignDone}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("campaign events %v, want %v", states, want)
	}
}
