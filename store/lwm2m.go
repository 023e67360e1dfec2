package store

import (
	"context"
	"fmt"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

// indexPSK records d's DTLS PSK identity; identities are unique.
func indexPSK(tx *bolt.Tx, d *fleet.Device) error {
	if d.LwM2M == nil || d.LwM2M.PSKIdentity == "" {
		return nil
	}
	b := tx.Bucket(bucketDevPSK)
	if other := b.Get([]byte(d.LwM2M.PSKIdentity)); other != nil && string(other) != d.ID {
		return fmt.Errorf("store: psk identity %s belongs to %s: %w", d.LwM2M.PSKIdentity, other, ErrExists)
	}
	return b.Put([]byte(d.LwM2M.PSKIdentity), []byte(d.ID))
}

// indexPSKIdentities is the migration to schema 2: it indexes the PSK
// identities of the devices a schema-1 file holds.
func indexPSKIdentities(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketDevPSK); err != nil {
		return err
	}
	return tx.Bucket(bucketDevices).ForEach(func(k, _ []byte) error {
		d, err := getDevice(tx, string(k))
		if err != nil {
			return err
		}
		return indexPSK(tx, &d)
	})
}

// DeviceByPSKIdentity returns the LwM2M device that owns a DTLS PSK
// identity.
func (s *Store) DeviceByPSKIdentity(ctx context.Context, identity string) (fleet.Device, error) {
	return s.deviceBy(ctx, bucketDevPSK, identity)
}

// SetRegistration stores an LwM2M device's current registration (nil
// removes it). Concurrent calls share commits; it returns once committed.
func (s *Store) SetRegistration(ctx context.Context, deviceID string, reg *fleet.Registration) error {
	return s.grouped(ctx, func(tx *bolt.Tx) error {
		d, err := getDevice(tx, deviceID)
		if err != nil {
			return err
		}
		if d.LwM2M == nil {
			return fmt.Errorf("store: device %s is not an LwM2M device: %w", deviceID, ErrInvalid)
		}
		d.LwM2M.Registration = reg
		d.Updated = s.opts.Now().UTC()
		return putJSON(tx.Bucket(bucketDevices), d.ID, d)
	})
}

// RegisteredDevices lists the LwM2M devices that have a registration, for
// a server to restore them at start.
func (s *Store) RegisteredDevices(ctx context.Context) ([]fleet.Device, error) {
	var out []fleet.Device
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range indexIDs(tx.Bucket(bucketDevProtocol), string(fleet.ProtocolLwM2M), "", 0) {
			d, err := getDevice(tx, id)
			if err != nil {
				return err
			}
			if d.LwM2M != nil && d.LwM2M.Registration != nil {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}
