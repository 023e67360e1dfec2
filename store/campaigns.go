package store

import (
	"context"
	"fmt"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

// CreateCampaign stores a new campaign for an existing package.
func (s *Store) CreateCampaign(ctx context.Context, c fleet.Campaign) (fleet.Campaign, error) {
	if c.State == "" {
		c.State = fleet.CampaignDraft
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := s.opts.Now().UTC()
	c.Created, c.Updated = now, now
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCampaigns).Get([]byte(c.ID)) != nil {
			return fmt.Errorf("store: campaign %s: %w", c.ID, ErrExists)
		}
		if tx.Bucket(bucketPackages).Get([]byte(c.PackageID)) == nil {
			return fmt.Errorf("store: campaign %s: package %s: %w", c.ID, c.PackageID, ErrNotFound)
		}
		return putJSON(tx.Bucket(bucketCampaigns), c.ID, c)
	})
	return c, err
}

// Campaign returns the campaign with id.
func (s *Store) Campaign(ctx context.Context, id string) (fleet.Campaign, error) {
	var c fleet.Campaign
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketCampaigns), id, &c); err != nil {
			return fmt.Errorf("store: campaign %s: %w", id, err)
		}
		return nil
	})
	return c, err
}

// UpdateCampaign applies fn and writes the result when fn returns nil and
// it is valid; the id and package cannot change.
func (s *Store) UpdateCampaign(ctx context.Context, id string, fn func(*fleet.Campaign) error) (fleet.Campaign, error) {
	var c fleet.Campaign
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var old fleet.Campaign
		if err := getJSON(tx.Bucket(bucketCampaigns), id, &old); err != nil {
			return fmt.Errorf("store: campaign %s: %w", id, err)
		}
		c = old
		c.Devices = append([]string(nil), old.Devices...)
		c.Counters = map[fleet.JobState]int{}
		for k, v := range old.Counters {
			c.Counters[k] = v
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != old.ID || c.PackageID != old.PackageID {
			return fmt.Errorf("store: campaign %s: id and package cannot change: %w", id, ErrInvalid)
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		c.Updated = s.opts.Now().UTC()
		return putJSON(tx.Bucket(bucketCampaigns), c.ID, c)
	})
	return c, err
}

// Campaigns lists campaigns in id order.
func (s *Store) Campaigns(ctx context.Context) ([]fleet.Campaign, error) {
	var out []fleet.Campaign
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCampaigns).ForEach(func(k, _ []byte) error {
			var c fleet.Campaign
			if err := getJSON(tx.Bucket(bucketCampaigns), string(k), &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}
