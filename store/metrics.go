package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

// CountJobsByState counts every job by state, for metrics. It walks the
// keys of the job_state index (one short key per job: state, NUL, id) in
// one read transaction and decodes no job record: the cost grows with the
// number of jobs, but far slower than CountJobs("") does, which decodes
// every job with its history.
func (s *Store) CountJobsByState(ctx context.Context) (map[fleet.JobState]int, error) {
	counts := map[fleet.JobState]int{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJobState).Cursor()
		for k, _ := c.First(); k != nil; {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("store: job_state index key %q has no separator", k)
			}
			state := fleet.JobState(k[:i])
			n := 0
			prefix := append([]byte(state), 0)
			for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				n++
			}
			counts[state] = n
		}
		return nil
	})
	return counts, err
}

// CountCampaignsByState counts every campaign by state, for metrics. A
// campaign has no index by state: each record is read and its state
// decoded, so the cost grows with the size of the campaign records (their
// device lists included). Campaigns are few next to jobs.
func (s *Store) CountCampaignsByState(ctx context.Context) (map[fleet.CampaignState]int, error) {
	counts := map[fleet.CampaignState]int{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCampaigns).ForEach(func(k, v []byte) error {
			var c struct {
				State fleet.CampaignState `json:"state"`
			}
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("store: campaign %s: %w", k, err)
			}
			counts[c.State]++
			return nil
		})
	})
	return counts, err
}
