package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

// Transitions measures job state transitions in the store: Concurrency
// jobs, each moved back and forth between queued and waiting_device by
// its own goroutine with TransitionJob (read, check, history, state
// index, and a commit shared with the writes made at the same moment:
// group commit). The baseline is bbolt itself with one fsync per write:
// the same goroutines each writing a job-sized value in its own Update.
// One goroutine alone (one commit per transition) is reported beside.
func Transitions(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	dir, err := benchDir(o.Dir, "store-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "fumo-gw.db"), nil)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	if _, err := s.CreateDevice(ctx, fleet.Device{ID: "d1", Protocol: fleet.ProtocolLwM2M, LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:bench:d1"}}); err != nil {
		return Result{}, err
	}
	img := []byte("firmware")
	sum := sha256.Sum256(img)
	if _, err := s.PutPackage(ctx, fleet.Package{ID: "p1", Name: "fw", Version: "2.0", Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
		return Result{}, err
	}
	jobs := make([]fleet.Job, o.Concurrency)
	for w := range jobs {
		if jobs[w], err = s.CreateJob(ctx, fleet.Job{ID: fmt.Sprintf("job-%04d", w), DeviceID: "d1", PackageID: "p1",
			Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			return Result{}, err
		}
	}
	value, _ := json.Marshal(jobs[0])

	db, err := bolt.Open(filepath.Join(dir, "bare.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("jobs")); return err }); err != nil {
		return Result{}, err
	}

	flip := func() func(context.Context, int) error {
		return func(ctx context.Context, w int) error {
			to := fleet.JobWaitingDevice
			if jobs[w].State == fleet.JobWaitingDevice {
				to = fleet.JobQueued
			}
			// History is cleared so that a job's record stays the same
			// size however long the run.
			t := store.Transition{JobID: jobs[w].ID, From: jobs[w].State, To: to, Mutate: func(j *fleet.Job) error { j.History = nil; return nil }}
			var err error
			jobs[w], err = s.TransitionJob(ctx, t)
			return err
		}
	}
	put := func(_ context.Context, w int) error {
		return db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("jobs")).Put([]byte(jobs[w].ID), value)
		})
	}
	gw, base, err := paired(ctx, o, [2]func(context.Context, int) error{flip(), put})
	if err != nil {
		return Result{}, err
	}
	single, took, err := drive(ctx, 1, o.Duration/time.Duration(o.Rounds), flip())
	if err != nil {
		return Result{}, err
	}
	p := o.params()
	delete(p, "devices")
	r := Result{Scenario: "store-transitions", Metric: "transitions/s", Value: gw, Params: p,
		Extra: map[string]float64{"one writer transitions/s": float64(single) / took.Seconds()}}
	r.compare("bbolt, fsync per write", base, 10, ">= 10x bbolt with one fsync per write")
	return r, nil
}

// benchDir makes a fresh directory for one scenario's files.
func benchDir(parent, prefix string) (string, error) {
	if parent != "" {
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", err
		}
	}
	return os.MkdirTemp(parent, prefix)
}
