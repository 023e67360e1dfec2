package store

import (
	"bytes"
	"crypto/rand"
	"io"
	"strconv"
	"sync"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// benchStore has one device, one package and n jobs cycling
// queued -> waiting_device -> queued.
func benchStore(b *testing.B, n int) *Store {
	s, _ := openTest(b)
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	for i := 0; i < n; i++ {
		s.CreateJob(ctx, fleet.Job{ID: "j" + strconv.Itoa(i), DeviceID: "d1", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull})
	}
	return s
}

func flip(s *Store, id string) error {
	j, err := s.Job(ctx, id)
	if err != nil {
		return err
	}
	to := fleet.JobWaitingDevice
	if j.State == fleet.JobWaitingDevice {
		to = fleet.JobQueued
	}
	t := Transition{JobID: id, From: j.State, To: to, Mutate: func(j *fleet.Job) error { j.History = nil; return nil }}
	_, err = s.TransitionJob(ctx, t)
	return err
}

// BenchmarkTransition_Fsync: one writer, so one transition per commit and
// fsync.
func BenchmarkTransition_Fsync(b *testing.B) {
	s := benchStore(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := flip(s, "j0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransition_Grouped: 256 workers, each on its own job, sharing
// commits (group commit). ns/op is per transition.
func BenchmarkTransition_Grouped(b *testing.B) {
	const workers = 256
	s := benchStore(b, workers)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/workers + 1
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := flip(s, id); err != nil {
					b.Error(err)
					return
				}
			}
		}("j" + strconv.Itoa(w))
	}
	wg.Wait()
}

// BenchmarkPackageRead_1KiB reads a 64 MiB package in 1 KiB blocks.
func BenchmarkPackageRead_1KiB(b *testing.B) {
	path := b.TempDir() + "/bench.db"
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 64<<20)
	rand.Read(data)
	if _, err := s.PutPackage(ctx, pkgOf("big", data), bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.OpenPackage(ctx, "big")
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := io.ReadFull(r, buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
