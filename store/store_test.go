package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fumo-gw/fumo-gw/fleet"
)

var ctx = context.Background()

// openTest opens a store in t.TempDir and checks the file on cleanup.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, &Options{ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.db != nil {
			if err := s.Check(); err != nil {
				t.Error(err)
			}
			s.Close()
		}
	})
	return s, path
}

// reopen simulates a restart.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, &Options{ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	*s = *s2
	return s
}

func dump(t testing.TB, s *Store) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func dmDev(id, dmid string) fleet.Device {
	return fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "W7", DM: &fleet.DMInfo{DeviceID: dmid, Auth: fleet.DMAuthMD5, Username: "u", Password: fleet.Secret("p")}}
}

func lwDev(id, ep string) fleet.Device {
	return fleet.Device{ID: id, Protocol: fleet.ProtocolLwM2M, Model: "L1", LwM2M: &fleet.LwM2MInfo{Endpoint: ep}}
}

func pkgOf(id string, data []byte) fleet.Package {
	sum := sha256.Sum256(data)
	return fleet.Package{ID: id, Name: "fw", Version: "2.0", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func TestDevices_CRUDAndIndexes(t *testing.T) {
	s, path := openTest(t)
	for _, d := range []fleet.Device{dmDev("d1", "IMEI:1"), dmDev("d2", "IMEI:2"), lwDev("l1", "urn:1")} {
		if _, err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s, path)
	if d, err := s.DeviceByDMID(ctx, "IMEI:2"); err != nil || d.ID != "d2" || string(d.DM.Password.Reveal()) != "p" {
		t.Errorf("by dm id: %+v %v", d, err)
	}
	if d, err := s.DeviceByEndpoint(ctx, "urn:1"); err != nil || d.ID != "l1" {
		t.Errorf("by endpoint: %v", err)
	}
	list, _ := s.Devices(ctx, DeviceFilter{Protocol: fleet.ProtocolDM})
	if len(list) != 2 {
		t.Errorf("dm devices: %d", len(list))
	}
	list, _ = s.Devices(ctx, DeviceFilter{Model: "L1"})
	if len(list) != 1 || list[0].ID != "l1" {
		t.Errorf("by model: %v", list)
	}
	page, _ := s.Devices(ctx, DeviceFilter{After: "d1", Limit: 1})
	if len(page) != 1 || page[0].ID != "d2" {
		t.Errorf("page: %v", page)
	}
	// Moving the DM id and model moves the indexes in the same write.
	_, err := s.UpdateDevice(ctx, "d1", func(d *fleet.Device) error { d.DM.DeviceID, d.Model = "IMEI:9", "W8"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeviceByDMID(ctx, "IMEI:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old dm id still indexed: %v", err)
	}
	if list, _ := s.Devices(ctx, DeviceFilter{Model: "W7"}); len(list) != 1 {
		t.Errorf("old model index: %v", list)
	}
	if err := s.DeleteDevice(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	if _, err := s.DeviceByDMID(ctx, "IMEI:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted device still indexed: %v", err)
	}
}

// TestBadInput_ChangesNothing: every refused write leaves the file as it was.
func TestBadInput_ChangesNothing(t *testing.T) {
	s, _ := openTest(t)
	data := bytes.Repeat([]byte("firmware"), 1000)
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateJob(ctx, fleet.Job{ID: "j1", DeviceID: "d1", PackageID: "p1", Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	wrongSum := pkgOf("p2", data)
	wrongSum.SHA256 = strings.Repeat("00", 32)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"invalid device", func() error { d := dmDev("d9", ""); _, err := s.CreateDevice(ctx, d); return err }, ErrInvalid},
		{"duplicate device", func() error { _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:5")); return err }, ErrExists},
		{"dm id of another device", func() error { _, err := s.CreateDevice(ctx, dmDev("d5", "IMEI:1")); return err }, ErrExists},
		{"update unknown device", func() error {
			_, err := s.UpdateDevice(ctx, "nope", func(*fleet.Device) error { return nil })
			return err
		}, ErrNotFound},
		{"update making it invalid", func() error {
			_, err := s.UpdateDevice(ctx, "d1", func(d *fleet.Device) error { d.DM.Auth = "x"; return nil })
			return err
		}, ErrInvalid},
		{"delete a device with a running job", func() error { return s.DeleteDevice(ctx, "d1") }, ErrInUse},
		{"job for unknown device", func() error {
			_, err := s.CreateJob(ctx, fleet.Job{ID: "j2", DeviceID: "zz", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull})
			return err
		}, ErrNotFound},
		{"invalid job", func() error { _, err := s.CreateJob(ctx, fleet.Job{ID: "j3"}); return err }, ErrInvalid},
		{"stale transition", func() error {
			_, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobDelivering, To: fleet.JobDelivered})
			return err
		}, ErrStale},
		{"transition not allowed", func() error {
			_, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobQueued, To: fleet.JobSucceeded})
			return err
		}, ErrTransition},
		{"transition of unknown job", func() error {
			_, err := s.TransitionJob(ctx, Transition{JobID: "nope", From: fleet.JobQueued, To: fleet.JobFailed})
			return err
		}, ErrNotFound},
		{"mutate changing the device", func() error {
			_, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobQueued, To: fleet.JobDelivering, Mutate: func(j *fleet.Job) error { j.DeviceID = "x"; return nil }})
			return err
		}, ErrInvalid},
		{"failed without a reason", func() error {
			_, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobQueued, To: fleet.JobFailed})
			return err
		}, ErrInvalid},
		{"truncated upload", func() error { _, err := s.PutPackage(ctx, pkgOf("p2", data), bytes.NewReader(data[:5000])); return err }, ErrSize},
		{"upload longer than declared", func() error {
			_, err := s.PutPackage(ctx, pkgOf("p2", data), io.MultiReader(bytes.NewReader(data), strings.NewReader("x")))
			return err
		}, ErrSize},
		{"upload failing mid-stream", func() error {
			_, err := s.PutPackage(ctx, pkgOf("p2", data), io.MultiReader(bytes.NewReader(data[:3000]), iotest.ErrReader(io.ErrClosedPipe)))
			return err
		}, io.ErrClosedPipe},
		{"sha-256 mismatch", func() error { _, err := s.PutPackage(ctx, wrongSum, bytes.NewReader(data)); return err }, ErrIntegrity},
		{"duplicate package", func() error { _, err := s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data)); return err }, ErrExists},
		{"delete a package in use", func() error { return s.DeletePackage(ctx, "p1") }, ErrInUse},
		{"campaign for unknown package", func() error {
			_, err := s.CreateCampaign(ctx, fleet.Campaign{ID: "c1", PackageID: "zz", Operation: fleet.OpUpdate, Devices: []string{"d1"}, MaxInFlight: 1})
			return err
		}, ErrNotFound},
		{"cancelled context", func() error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.CreateDevice(c, dmDev("d7", "IMEI:7"))
			return err
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if after := dump(t, s); after != before {
				t.Errorf("store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestPackages_StreamAndRead(t *testing.T) {
	s, path := openTest(t)
	data := make([]byte, 10_000+37)
	for i := range data {
		data[i] = byte(i * 7)
	}
	p, err := s.PutPackage(ctx, pkgOf("p1", data), iotest.OneByteReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	r, err := s.OpenPackage(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, data); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(r, 1020, 10))
	if !bytes.Equal(got, data[1020:1030]) {
		t.Error("range across a chunk boundary")
	}
	if _, err := s.OpenPackage(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown package: %v", err)
	}
	if list, _ := s.Packages(ctx); len(list) != 1 {
		t.Errorf("packages %v", list)
	}
	if err := s.DeletePackage(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Package(ctx, "p1"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
}

// TestPackages_CrashedUploadRemoved: an upload a crash interrupted (staging
// record and some chunks) is gone after the next Open.
func TestPackages_CrashedUploadRemoved(t *testing.T) {
	s, path := openTest(t)
	data := bytes.Repeat([]byte{1}, 5000)
	p := pkgOf("p1", data)
	// The state a crash between two chunk transactions leaves.
	if err := stageForTest(s, p, data[:3000]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump(t, s), "pkg_staging") {
		t.Fatal("no staging left to clean")
	}
	s = reopen(t, s, path)
	if d := dump(t, s); strings.Contains(d, "pkg_staging/") || strings.Contains(d, "blobs/") {
		t.Errorf("leftovers after reopen:\n%s", d)
	}
	if _, err := s.PutPackage(ctx, p, bytes.NewReader(data)); err != nil {
		t.Errorf("upload again: %v", err)
	}
}

func TestJobs_TransitionsAndIndexes(t *testing.T) {
	s, path := openTest(t)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	if _, err := s.CreateCampaign(ctx, fleet.Campaign{ID: "c1", PackageID: "p1", Operation: fleet.OpDownloadAndUpdate, Devices: []string{"d1"}, MaxInFlight: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"j1", "j2"} {
		if _, err := s.CreateJob(ctx, fleet.Job{ID: id, DeviceID: "d1", PackageID: "p1", CampaignID: "c1", Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []fleet.JobState{fleet.JobQueued, fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobDelivered, fleet.JobUpdating}
	for i := 1; i < len(steps); i++ {
		if _, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: steps[i-1], To: steps[i], Note: "step"}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobUpdating, To: fleet.JobFailed, Mutate: func(j *fleet.Job) error {
		j.Reason, j.Attempts = fleet.ReasonIntegrity, 1
		j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: 402})
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	j, _ = s.Job(ctx, "j1")
	if j.State != fleet.JobFailed || len(j.History) != 5 || j.Native[0].Code != 402 || j.Reason != fleet.ReasonIntegrity {
		t.Errorf("job %+v", j)
	}
	if l, _ := s.Jobs(ctx, JobFilter{State: fleet.JobFailed}); len(l) != 1 || l[0].ID != "j1" {
		t.Errorf("failed index %v", l)
	}
	if l, _ := s.Jobs(ctx, JobFilter{State: fleet.JobUpdating}); len(l) != 0 {
		t.Errorf("stale index entry %v", l)
	}
	if l, _ := s.Jobs(ctx, JobFilter{DeviceID: "d1"}); len(l) != 2 {
		t.Errorf("by device %v", l)
	}
	counts, _ := s.CountJobs(ctx, "c1")
	if counts[fleet.JobFailed] != 1 || counts[fleet.JobQueued] != 1 {
		t.Errorf("counts %v", counts)
	}
	c, err := s.UpdateCampaign(ctx, "c1", func(c *fleet.Campaign) error { c.State = fleet.CampaignRunning; return nil })
	if err != nil || c.State != fleet.CampaignRunning {
		t.Errorf("campaign %v %v", c, err)
	}
	if _, err := s.UpdateCampaign(ctx, "c1", func(c *fleet.Campaign) error { c.PackageID = "p2"; return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("package change: %v", err)
	}
}

// TestTransitionJobConcurrent_OneWinner: of many workers racing to advance the
// same job, exactly one wins; a refused one does not hold back the others.
func TestTransitionJobConcurrent_OneWinner(t *testing.T) {
	s, _ := openTest(t)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	s.CreateJob(ctx, fleet.Job{ID: "j1", DeviceID: "d1", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull})
	s.CreateJob(ctx, fleet.Job{ID: "j2", DeviceID: "d1", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull})
	results := make(chan error, 21)
	for i := 0; i < 20; i++ {
		go func() {
			_, err := s.TransitionJob(ctx, Transition{JobID: "j1", From: fleet.JobQueued, To: fleet.JobDelivering})
			results <- err
		}()
	}
	go func() {
		_, err := s.TransitionJob(ctx, Transition{JobID: "j2", From: fleet.JobQueued, To: fleet.JobWaitingDevice})
		results <- err
	}()
	wins, stale := 0, 0
	for i := 0; i < 21; i++ {
		switch err := <-results; {
		case err == nil:
			wins++
		case errors.Is(err, ErrStale):
			stale++
		default:
			t.Fatal(err)
		}
	}
	if wins != 2 || stale != 19 {
		t.Errorf("wins %d stale %d", wins, stale)
	}
	if j, _ := s.Job(ctx, "j1"); len(j.History) != 1 {
		t.Errorf("history %v", j.History)
	}
}

func TestOpen_Schema(t *testing.T) {
	s, path := openTest(t)
	s.db.Update(func(tx *txAlias) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	s.Close()
	if _, err := Open(path, nil); !errors.Is(err, ErrSchema) {
		t.Errorf("newer schema: %v", err)
	}
	s.db = nil
	// An older schema runs the migrations up to the current one.
	path2 := filepath.Join(t.TempDir(), "old.db")
	s2, _ := Open(path2, nil)
	s2.db.Update(func(tx *txAlias) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte{0, 0, 0, 0, 0, 0, 0, 0}) })
	s2.Close()
	// Version 0 means "new file": no migration needed.
	s3, err := Open(path2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
}

// TestPackageReader_ConcurrentReadAt: ranges served to several devices at
// once from one reader stay correct.
func TestPackageReader_ConcurrentReadAt(t *testing.T) {
	s, _ := openTest(t)
	data := make([]byte, 8*1024+5)
	for i := range data {
		data[i] = byte(i % 251)
	}
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	r, err := s.OpenPackage(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			buf := make([]byte, 700)
			for off := int64(g * 97); off < int64(len(data)); off += 700 {
				n, err := r.ReadAt(buf, off)
				if err != nil && err != io.EOF || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					done <- errors.New("mismatch at " + strings.Repeat("x", 0) + string(rune('0'+g)))
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrate runs the migration hook in order and stops at a missing step.
func TestMigrate(t *testing.T) {
	s, _ := openTest(t)
	var ran []int
	s.opts.Migrations = map[int]Migration{
		2: func(tx *txAlias) error {
			ran = append(ran, 2)
			return tx.Bucket(bucketMeta).Put([]byte("m2"), []byte("x"))
		},
		3: func(tx *txAlias) error { ran = append(ran, 3); return nil },
	}
	if err := s.db.Update(func(tx *txAlias) error { return s.migrate(tx, 1, 3) }); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || ran[0] != 2 || ran[1] != 3 || !strings.Contains(dump(t, s), `meta/"m2"`) {
		t.Errorf("ran %v", ran)
	}
	err := s.db.Update(func(tx *txAlias) error { return s.migrate(tx, 1, 4) })
	if !errors.Is(err, ErrSchema) {
		t.Errorf("missing step: %v", err)
	}
}

func TestStats_CountWritesAndCommits(t *testing.T) {
	s, _ := openTest(t)
	before := s.Stats()
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err == nil {
		t.Fatal("duplicate device stored")
	}
	after := s.Stats()
	if after.Writes-before.Writes != 2 || after.Commits-before.Commits != 1 {
		t.Fatalf("stats %+v -> %+v, want 2 writes and 1 commit", before, after)
	}
}
