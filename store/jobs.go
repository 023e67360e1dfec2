package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

func getJob(tx *bolt.Tx, id string) (fleet.Job, error) {
	var j fleet.Job
	if err := getJSON(tx.Bucket(bucketJobs), id, &j); err != nil {
		return j, fmt.Errorf("store: job %s: %w", id, err)
	}
	return j, nil
}

// putJob writes j and moves its index entries from old (nil when new).
func putJob(tx *bolt.Tx, old, j *fleet.Job) error {
	if old != nil {
		if err := tx.Bucket(bucketJobState).Delete(indexKey(string(old.State), old.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketJobState).Put(indexKey(string(j.State), j.ID), nil); err != nil {
		return err
	}
	if err := tx.Bucket(bucketJobDevice).Put(indexKey(j.DeviceID, j.ID), nil); err != nil {
		return err
	}
	if j.CampaignID != "" {
		if err := tx.Bucket(bucketJobCampaign).Put(indexKey(j.CampaignID, j.ID), nil); err != nil {
			return err
		}
	}
	return putJSON(tx.Bucket(bucketJobs), j.ID, j)
}

// CreateJob stores a new job (state queued unless set) for an existing
// device and package.
func (s *Store) CreateJob(ctx context.Context, j fleet.Job) (fleet.Job, error) {
	if j.State == "" {
		j.State = fleet.JobQueued
	}
	if err := j.Validate(); err != nil {
		return j, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := s.opts.Now().UTC()
	j.Created, j.Updated = now, now
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketJobs).Get([]byte(j.ID)) != nil {
			return fmt.Errorf("store: job %s: %w", j.ID, ErrExists)
		}
		if tx.Bucket(bucketDevices).Get([]byte(j.DeviceID)) == nil {
			return fmt.Errorf("store: job %s: device %s: %w", j.ID, j.DeviceID, ErrNotFound)
		}
		if tx.Bucket(bucketPackages).Get([]byte(j.PackageID)) == nil {
			return fmt.Errorf("store: job %s: package %s: %w", j.ID, j.PackageID, ErrNotFound)
		}
		if j.CampaignID != "" && tx.Bucket(bucketCampaigns).Get([]byte(j.CampaignID)) == nil {
			return fmt.Errorf("store: job %s: campaign %s: %w", j.ID, j.CampaignID, ErrNotFound)
		}
		return putJob(tx, nil, &j)
	})
	return j, err
}

// Job returns the job with id.
func (s *Store) Job(ctx context.Context, id string) (fleet.Job, error) {
	var j fleet.Job
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		j, err = getJob(tx, id)
		return err
	})
	return j, err
}

// Transition asks to move a job from one state to another. Mutate, when
// set, changes other fields in the same write (attempts, reason, codes,
// deadlines); it must not change the id, device, package or state.
type Transition struct {
	JobID  string
	From   fleet.JobState
	To     fleet.JobState
	Note   string
	Mutate func(*fleet.Job) error
}

func (s *Store) transition(tx *bolt.Tx, t Transition) (fleet.Job, error) {
	old, err := getJob(tx, t.JobID)
	if err != nil {
		return old, err
	}
	if old.State != t.From {
		return old, fmt.Errorf("store: job %s is %s, not %s: %w", t.JobID, old.State, t.From, ErrStale)
	}
	if !fleet.CanTransition(t.From, t.To) {
		return old, fmt.Errorf("store: job %s: %s -> %s: %w", t.JobID, t.From, t.To, ErrTransition)
	}
	j := old
	j.History = append(append([]fleet.Transition(nil), old.History...), fleet.Transition{From: t.From, To: t.To, At: s.opts.Now().UTC(), Note: t.Note})
	j.Native = append([]fleet.NativeCode(nil), old.Native...)
	if t.Mutate != nil {
		if err := t.Mutate(&j); err != nil {
			return old, err
		}
	}
	if j.ID != old.ID || j.DeviceID != old.DeviceID || j.PackageID != old.PackageID || j.CampaignID != old.CampaignID || j.State != old.State {
		return old, fmt.Errorf("store: job %s: mutate changed identity or state: %w", t.JobID, ErrInvalid)
	}
	j.State, j.Updated = t.To, s.opts.Now().UTC()
	if err := j.Validate(); err != nil {
		return old, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return j, putJob(tx, &old, &j)
}

// TransitionJob moves a job if it is still in t.From (ErrStale otherwise,
// so two workers cannot both advance it). It returns after the change is
// committed and fsynced: the caller may act on it.
func (s *Store) TransitionJob(ctx context.Context, t Transition) (fleet.Job, error) {
	var j fleet.Job
	err := s.update(ctx, func(tx *bolt.Tx) (err error) {
		j, err = s.transition(tx, t)
		return err
	})
	return j, err
}

// JobFilter selects jobs; set at most one of State, DeviceID, CampaignID
// (the index used), or none for all. After and Limit page by id.
type JobFilter struct {
	State      fleet.JobState
	DeviceID   string
	CampaignID string
	After      string
	Limit      int
}

// Jobs lists jobs matching f, ordered by id within the index.
func (s *Store) Jobs(ctx context.Context, f JobFilter) ([]fleet.Job, error) {
	var out []fleet.Job
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ids []string
		switch {
		case f.State != "":
			ids = indexIDs(tx.Bucket(bucketJobState), string(f.State), f.After, f.Limit)
		case f.DeviceID != "":
			ids = indexIDs(tx.Bucket(bucketJobDevice), f.DeviceID, f.After, f.Limit)
		case f.CampaignID != "":
			ids = indexIDs(tx.Bucket(bucketJobCampaign), f.CampaignID, f.After, f.Limit)
		default:
			c := tx.Bucket(bucketJobs).Cursor()
			k, _ := c.Seek([]byte(f.After))
			for ; k != nil && (f.Limit == 0 || len(ids) < f.Limit); k, _ = c.Next() {
				if string(k) != f.After {
					ids = append(ids, string(k))
				}
			}
		}
		for _, id := range ids {
			j, err := getJob(tx, id)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return out, err
}

// CountJobs counts a campaign's jobs by state (all jobs when campaignID is
// empty).
func (s *Store) CountJobs(ctx context.Context, campaignID string) (map[fleet.JobState]int, error) {
	if campaignID == "" {
		return s.CountJobsByState(ctx)
	}
	counts := map[fleet.JobState]int{}
	states, err := s.CampaignJobStates(ctx, campaignID)
	for _, st := range states {
		counts[st]++
	}
	return counts, err
}

// CampaignJobStates returns the state of each of a campaign's jobs by job
// id, from the indexes alone (no job is decoded): a campaign's scheduler
// reads it every tick, and a campaign has as many jobs as devices.
func (s *Store) CampaignJobStates(ctx context.Context, campaignID string) (map[string]fleet.JobState, error) {
	states := map[string]fleet.JobState{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range indexIDs(tx.Bucket(bucketJobCampaign), campaignID, "", 0) {
			states[id] = ""
		}
		if len(states) == 0 {
			return nil
		}
		c := tx.Bucket(bucketJobState).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("store: job_state index key %q has no separator", k)
			}
			if _, ok := states[string(k[i+1:])]; ok {
				states[string(k[i+1:])] = fleet.JobState(k[:i])
			}
		}
		for id, st := range states {
			if st == "" {
				return fmt.Errorf("store: job %s is in the campaign index and in no state", id)
			}
		}
		return nil
	})
	return states, err
}

// MoveJob is TransitionJob in the shape drivers declare (they do not
// import the store): from -> to with a note and an optional mutation.
func (s *Store) MoveJob(ctx context.Context, id string, from, to fleet.JobState, note string, mutate func(*fleet.Job) error) (fleet.Job, error) {
	return s.TransitionJob(ctx, Transition{JobID: id, From: from, To: to, Note: note, Mutate: mutate})
}

// JobsOfDevice lists a device's jobs.
func (s *Store) JobsOfDevice(ctx context.Context, deviceID string) ([]fleet.Job, error) {
	return s.Jobs(ctx, JobFilter{DeviceID: deviceID})
}

// JobsInState lists the jobs in one state.
func (s *Store) JobsInState(ctx context.Context, state fleet.JobState) ([]fleet.Job, error) {
	return s.Jobs(ctx, JobFilter{State: state})
}

// StepJob commits a job's transition from -> to together with its DM
// queue work (fleet.DMWork), all or nothing: a cancel cannot land between
// a job's move and the commands that go with it. With from == to there is
// no transition and no history entry: mutate and the work apply only
// while the job is still in from. ErrStale when the job is elsewhere.
func (s *Store) StepJob(ctx context.Context, id string, from, to fleet.JobState, note string, mutate func(*fleet.Job) error, w fleet.DMWork) (fleet.Job, error) {
	for i := range w.Enqueue {
		if err := w.Enqueue[i].Validate(); err != nil {
			return fleet.Job{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	var j fleet.Job
	err := s.update(ctx, func(tx *bolt.Tx) (err error) {
		if from == to {
			if j, err = s.touch(tx, id, from, mutate); err != nil {
				return err
			}
		} else if j, err = s.transition(tx, Transition{JobID: id, From: from, To: to, Note: note, Mutate: mutate}); err != nil {
			return err
		}
		for _, id := range w.Guard {
			c, err := getDMCommand(tx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if c.State == fleet.DMCommandSent || c.State == fleet.DMCommandDone {
				return fmt.Errorf("store: job %s: dm command %s was sent in session %s: %w", id, c.ID, c.SessionID, ErrStale)
			}
		}
		withdraw := w.Withdraw
		if w.WithdrawPrefix != "" {
			withdraw = append(append([]string(nil), withdraw...), queuedWithPrefix(tx, j.DeviceID, w.WithdrawPrefix)...)
		}
		if len(withdraw) > 0 {
			if err := s.withdraw(tx, w.Why, w.Force, withdraw); err != nil {
				return err
			}
		}
		for _, c := range w.Enqueue {
			if c.DeviceID != j.DeviceID {
				return fmt.Errorf("store: job %s: a command for device %s: %w", id, c.DeviceID, ErrInvalid)
			}
			if tx.Bucket(bucketDMCommands).Get([]byte(c.ID)) != nil {
				continue
			}
			if _, err := s.enqueue(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	return j, err
}

// touch applies mutate to a job still in state (no transition, no
// history entry). Updated stays: it is when the job entered its state,
// from which step timeouts run.
func (s *Store) touch(tx *bolt.Tx, id string, state fleet.JobState, mutate func(*fleet.Job) error) (fleet.Job, error) {
	old, err := getJob(tx, id)
	if err != nil {
		return old, err
	}
	if old.State != state {
		return old, fmt.Errorf("store: job %s is %s, not %s: %w", id, old.State, state, ErrStale)
	}
	if mutate == nil {
		return old, nil
	}
	j := old
	j.History = append([]fleet.Transition(nil), old.History...)
	j.Native = append([]fleet.NativeCode(nil), old.Native...)
	if err := mutate(&j); err != nil {
		return old, err
	}
	if j.ID != old.ID || j.DeviceID != old.DeviceID || j.PackageID != old.PackageID || j.CampaignID != old.CampaignID || j.State != old.State {
		return old, fmt.Errorf("store: job %s: mutate changed identity or state: %w", id, ErrInvalid)
	}
	if err := j.Validate(); err != nil {
		return old, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return j, putJob(tx, &old, &j)
}

// queuedWithPrefix lists the device's unfinished DM commands whose id
// starts with prefix.
func queuedWithPrefix(tx *bolt.Tx, deviceID, prefix string) []string {
	var ids []string
	p := append([]byte(deviceID), 0)
	c := tx.Bucket(bucketDMQueue).Cursor()
	for k, v := c.Seek(p); k != nil && len(k) == len(p)+8 && bytes.HasPrefix(k, p); k, v = c.Next() {
		if strings.HasPrefix(string(v), prefix) {
			ids = append(ids, string(v))
		}
	}
	return ids
}
