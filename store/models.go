package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Per-model settings (fleet.ModelSettings), keyed by model.

// PutModelSettings stores a model's settings, replacing what was there.
// Its release must be a stored package.
func (s *Store) PutModelSettings(ctx context.Context, m fleet.ModelSettings) (fleet.ModelSettings, error) {
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m.Updated = s.opts.Now().UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if m.Release != "" && tx.Bucket(bucketPackages).Get([]byte(m.Release)) == nil {
			return fmt.Errorf("store: model %s: release package %s: %w", m.Model, m.Release, ErrNotFound)
		}
		return putJSON(tx.Bucket(bucketModels), m.Model, m)
	})
	return m, err
}

// ModelSettings returns a model's settings (ErrNotFound when none).
func (s *Store) ModelSettings(ctx context.Context, model string) (fleet.ModelSettings, error) {
	var m fleet.ModelSettings
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketModels), model, &m); err != nil {
			return fmt.Errorf("store: model %q: %w", model, err)
		}
		return nil
	})
	return m, err
}

// AllModelSettings lists every model's settings, ordered by model.
func (s *Store) AllModelSettings(ctx context.Context) ([]fleet.ModelSettings, error) {
	var out []fleet.ModelSettings
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketModels).ForEach(func(k, _ []byte) error {
			var m fleet.ModelSettings
			if err := getJSON(tx.Bucket(bucketModels), string(k), &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// DeleteModelSettings removes a model's settings.
func (s *Store) DeleteModelSettings(ctx context.Context, model string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketModels)
		if b.Get([]byte(model)) == nil {
			return fmt.Errorf("store: model %q: %w", model, ErrNotFound)
		}
		return b.Delete([]byte(model))
	})
}

// releaseOf returns a model whose release is the package, "" when none.
func releaseOf(tx *bolt.Tx, pkgID string) (string, error) {
	var model string
	err := tx.Bucket(bucketModels).ForEach(func(k, _ []byte) error {
		var m fleet.ModelSettings
		if err := getJSON(tx.Bucket(bucketModels), string(k), &m); err != nil {
			return err
		}
		if m.Release == pkgID && model == "" {
			model = m.Model
		}
		return nil
	})
	return model, err
}
