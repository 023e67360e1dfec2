package store

import (
	"bytes"
	"fmt"
	"maps"
	"strconv"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// TestCountJobsByState: the index count agrees with decoding every job,
// across transitions and a restart; states without jobs are absent.
func TestCountJobsByState(t *testing.T) {
	s, path := openTest(t)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	if got, err := s.CountJobsByState(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	for i := range 7 {
		if _, err := s.CreateJob(ctx, fleet.Job{ID: "j" + strconv.Itoa(i), DeviceID: "d1", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			t.Fatal(err)
		}
	}
	moves := []Transition{
		{JobID: "j0", From: fleet.JobQueued, To: fleet.JobWaitingDevice},
		{JobID: "j1", From: fleet.JobQueued, To: fleet.JobWaitingDevice},
		{JobID: "j1", From: fleet.JobWaitingDevice, To: fleet.JobDelivering},
		{JobID: "j2", From: fleet.JobQueued, To: fleet.JobCancelled},
		{JobID: "j3", From: fleet.JobQueued, To: fleet.JobFailed, Mutate: func(j *fleet.Job) error { j.Reason = fleet.ReasonNetwork; return nil }},
	}
	for _, m := range moves {
		if _, err := s.TransitionJob(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	want := map[fleet.JobState]int{fleet.JobQueued: 3, fleet.JobWaitingDevice: 1, fleet.JobDelivering: 1, fleet.JobCancelled: 1, fleet.JobFailed: 1}
	for _, phase := range []string{"open", "reopened"} {
		got, err := s.CountJobsByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := s.Jobs(ctx, JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		byDecoding := map[fleet.JobState]int{}
		for _, j := range decoded {
			byDecoding[j.State]++
		}
		if !maps.Equal(got, want) || !maps.Equal(got, byDecoding) {
			t.Errorf("%s: counts %v, want %v (decoded %v)", phase, got, want, byDecoding)
		}
		s = reopen(t, s, path)
	}
}

// TestCountCampaignsByState counts campaigns in every state.
func TestCountCampaignsByState(t *testing.T) {
	s, _ := openTest(t)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	if got, err := s.CountCampaignsByState(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	states := []fleet.CampaignState{fleet.CampaignDraft, fleet.CampaignDraft, fleet.CampaignRunning, fleet.CampaignPaused, fleet.CampaignCancelled}
	for i, st := range states {
		id := "c" + strconv.Itoa(i)
		if _, err := s.CreateCampaign(ctx, fleet.Campaign{ID: id, PackageID: "p1", Operation: fleet.OpUpdate, Devices: []string{"d1"}, MaxInFlight: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateCampaign(ctx, id, func(c *fleet.Campaign) error { c.State = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CountCampaignsByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[fleet.CampaignState]int{fleet.CampaignDraft: 2, fleet.CampaignRunning: 1, fleet.CampaignPaused: 1, fleet.CampaignCancelled: 1}
	if !maps.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// BenchmarkCountJobsByState against CountJobs, which decodes every job
// (10 000 jobs; compare ns/op and allocs/op).
func BenchmarkCountJobsByState(b *testing.B) {
	s := benchStore(b, 10_000)
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CountJobsByState(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CountJobs(ctx, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCampaignJobStates: a campaign's job states from the indexes equal
// what decoding its jobs gives, other campaigns' and free jobs left out,
// across moves.
func TestCampaignJobStates(t *testing.T) {
	s, _ := openTest(t)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	for _, id := range []string{"c1", "c2"} {
		if _, err := s.CreateCampaign(ctx, fleet.Campaign{ID: id, PackageID: "p1", Operation: fleet.OpUpdate, Devices: []string{"d1"}, MaxInFlight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []string{"c1", "c1", "c1", "c2", ""} {
		if _, err := s.CreateJob(ctx, fleet.Job{ID: fmt.Sprintf("j%d", i), DeviceID: "d1", PackageID: "p1", CampaignID: c,
			Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobQueued, To: fleet.JobCancelled}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		campaign string
		want     map[string]fleet.JobState
	}{
		{"c1", map[string]fleet.JobState{"j0": fleet.JobQueued, "j1": fleet.JobCancelled, "j2": fleet.JobQueued}},
		{"c2", map[string]fleet.JobState{"j3": fleet.JobQueued}},
		{"none", map[string]fleet.JobState{}},
	} {
		got, err := s.CampaignJobStates(ctx, tc.campaign)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.campaign, got, err, tc.want)
		}
		counts, err := s.CountJobs(ctx, tc.campaign)
		jobs, _ := s.Jobs(ctx, JobFilter{CampaignID: tc.campaign})
		byDecoding := map[fleet.JobState]int{}
		for _, j := range jobs {
			byDecoding[j.State]++
		}
		if err != nil || !maps.Equal(counts, byDecoding) {
			t.Errorf("%s: counts %v %v, decoded %v", tc.campaign, counts, err, byDecoding)
		}
	}
}
