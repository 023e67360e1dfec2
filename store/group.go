package store

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs write functions of concurrent callers in shared
// transactions without waiting for company: the first caller commits at
// once; callers arriving meanwhile are committed together as soon as that
// commit ends. One caller alone pays one fsync and no delay (bbolt's Batch
// waits MaxBatchDelay); many pay one fsync per group.
type groupCommit struct {
	mu      sync.Mutex
	pending []*groupReq
	running bool
}

type groupReq struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// grouped runs fn in a write transaction shared with concurrent callers
// and returns once that transaction is committed (or fn's own error). fn
// may run more than once, each time in a new transaction: it must only
// read its inputs.
func (s *Store) grouped(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.counts.writes.Add(1)
	r := &groupReq{fn: fn, done: make(chan error, 1)}
	g := s.group
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if !g.running {
		g.running = true
		go s.runGroups()
	}
	g.mu.Unlock()
	return <-r.done
}

func (s *Store) runGroups() {
	g := s.group
	for {
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		for len(batch) > 0 {
			failed := -1
			var ferr error
			err := s.db.Update(func(tx *bolt.Tx) error {
				for i, r := range batch {
					if err := r.fn(tx); err != nil {
						failed, ferr = i, err
						return err
					}
				}
				return nil
			})
			if err == nil {
				s.counts.commits.Add(1)
			}
			if failed >= 0 {
				// Only the failing caller fails; the others run again
				// without it (the transaction was rolled back).
				batch[failed].done <- ferr
				batch = append(batch[:failed:failed], batch[failed+1:]...)
				continue
			}
			for _, r := range batch {
				r.done <- err
			}
			break
		}
	}
}
