package store

import (
	"context"
	"fmt"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

func validateDevice(d *fleet.Device) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// CreateDevice stores a new device; its id, DM device id and LwM2M
// endpoint must be unused.
func (s *Store) CreateDevice(ctx context.Context, d fleet.Device) (fleet.Device, error) {
	if err := validateDevice(&d); err != nil {
		return d, err
	}
	now := s.opts.Now().UTC()
	d.Created, d.Updated = now, now
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDevices).Get([]byte(d.ID)) != nil {
			return fmt.Errorf("store: device %s: %w", d.ID, ErrExists)
		}
		return putDevice(tx, nil, &d)
	})
	return d, err
}

// putDevice writes d and moves its index entries from old (nil for a new
// device) in the same transaction.
func putDevice(tx *bolt.Tx, old, d *fleet.Device) error {
	if old != nil {
		if err := unindexDevice(tx, old); err != nil {
			return err
		}
	}
	dmid, ep := tx.Bucket(bucketDevDMID), tx.Bucket(bucketDevEndpoint)
	if d.DM != nil {
		if other := dmid.Get([]byte(d.DM.DeviceID)); other != nil && string(other) != d.ID {
			return fmt.Errorf("store: dm device id %s belongs to %s: %w", d.DM.DeviceID, other, ErrExists)
		}
		if err := dmid.Put([]byte(d.DM.DeviceID), []byte(d.ID)); err != nil {
			return err
		}
	}
	if d.LwM2M != nil {
		if other := ep.Get([]byte(d.LwM2M.Endpoint)); other != nil && string(other) != d.ID {
			return fmt.Errorf("store: endpoint %s belongs to %s: %w", d.LwM2M.Endpoint, other, ErrExists)
		}
		if err := ep.Put([]byte(d.LwM2M.Endpoint), []byte(d.ID)); err != nil {
			return err
		}
		if err := indexPSK(tx, d); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketDevProtocol).Put(indexKey(string(d.Protocol), d.ID), nil); err != nil {
		return err
	}
	if err := tx.Bucket(bucketDevModel).Put(indexKey(d.Model, d.ID), nil); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketDevices), d.ID, d)
}

func unindexDevice(tx *bolt.Tx, d *fleet.Device) error {
	if d.DM != nil {
		if err := tx.Bucket(bucketDevDMID).Delete([]byte(d.DM.DeviceID)); err != nil {
			return err
		}
	}
	if d.LwM2M != nil {
		if err := tx.Bucket(bucketDevEndpoint).Delete([]byte(d.LwM2M.Endpoint)); err != nil {
			return err
		}
		if d.LwM2M.PSKIdentity != "" {
			if err := tx.Bucket(bucketDevPSK).Delete([]byte(d.LwM2M.PSKIdentity)); err != nil {
				return err
			}
		}
	}
	if err := tx.Bucket(bucketDevProtocol).Delete(indexKey(string(d.Protocol), d.ID)); err != nil {
		return err
	}
	return tx.Bucket(bucketDevModel).Delete(indexKey(d.Model, d.ID))
}

func getDevice(tx *bolt.Tx, id string) (fleet.Device, error) {
	var d fleet.Device
	if err := getJSON(tx.Bucket(bucketDevices), id, &d); err != nil {
		return d, fmt.Errorf("store: device %s: %w", id, err)
	}
	return d, nil
}

// Device returns the device with id.
func (s *Store) Device(ctx context.Context, id string) (fleet.Device, error) {
	var d fleet.Device
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		d, err = getDevice(tx, id)
		return err
	})
	return d, err
}

// DeviceByDMID returns the DM device whose SyncML device id is dmID.
func (s *Store) DeviceByDMID(ctx context.Context, dmID string) (fleet.Device, error) {
	return s.deviceBy(ctx, bucketDevDMID, dmID)
}

// DeviceByEndpoint returns the LwM2M device with that endpoint name.
func (s *Store) DeviceByEndpoint(ctx context.Context, endpoint string) (fleet.Device, error) {
	return s.deviceBy(ctx, bucketDevEndpoint, endpoint)
}

func (s *Store) deviceBy(ctx context.Context, index []byte, key string) (fleet.Device, error) {
	var d fleet.Device
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(index).Get([]byte(key))
		if id == nil {
			return fmt.Errorf("store: device %s: %w", key, ErrNotFound)
		}
		d, err = getDevice(tx, string(id))
		return err
	})
	return d, err
}

// UpdateDevice applies fn to the stored device and writes the result if fn
// returns nil and the result is valid. The id cannot change.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*fleet.Device) error) (fleet.Device, error) {
	var d fleet.Device
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getDevice(tx, id)
		if err != nil {
			return err
		}
		d = old
		d.DM, d.LwM2M = cloneDM(old.DM), cloneLwM2M(old.LwM2M)
		if err := fn(&d); err != nil {
			return err
		}
		if d.ID != id {
			return fmt.Errorf("store: device %s: the id cannot change: %w", id, ErrInvalid)
		}
		if err := validateDevice(&d); err != nil {
			return err
		}
		d.Updated = s.opts.Now().UTC()
		return putDevice(tx, &old, &d)
	})
	return d, err
}

func cloneDM(m *fleet.DMInfo) *fleet.DMInfo {
	if m == nil {
		return nil
	}
	c := *m
	c.DevInfo, c.DevDetail = cloneMap(m.DevInfo), cloneMap(m.DevDetail)
	return &c
}

func cloneLwM2M(m *fleet.LwM2MInfo) *fleet.LwM2MInfo {
	if m == nil {
		return nil
	}
	c := *m
	if m.Registration != nil {
		r := *m.Registration
		c.Registration = &r
	}
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// DeleteDevice removes a device that no unfinished job refers to.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		d, err := getDevice(tx, id)
		if err != nil {
			return err
		}
		for _, jid := range indexIDs(tx.Bucket(bucketJobDevice), id, "", 0) {
			j, err := getJob(tx, jid)
			if err == nil && !j.State.Terminal() {
				return fmt.Errorf("store: device %s has unfinished job %s: %w", id, jid, ErrInUse)
			}
		}
		if err := unindexDevice(tx, &d); err != nil {
			return err
		}
		if err := deleteDMState(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bucketDevices).Delete([]byte(id))
	})
}

// DeviceFilter selects devices; empty fields match all. After and Limit
// page through ids in order.
type DeviceFilter struct {
	Protocol fleet.Protocol
	Model    string
	After    string
	Limit    int
}

// Devices lists devices matching f, ordered by id.
func (s *Store) Devices(ctx context.Context, f DeviceFilter) ([]fleet.Device, error) {
	var out []fleet.Device
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ids []string
		switch {
		case f.Model != "":
			ids = indexIDs(tx.Bucket(bucketDevModel), f.Model, f.After, 0)
		case f.Protocol != "":
			ids = indexIDs(tx.Bucket(bucketDevProtocol), string(f.Protocol), f.After, 0)
		default:
			c := tx.Bucket(bucketDevices).Cursor()
			k, _ := c.Seek([]byte(f.After))
			for ; k != nil; k, _ = c.Next() {
				if string(k) != f.After {
					ids = append(ids, string(k))
				}
			}
		}
		for _, id := range ids {
			d, err := getDevice(tx, id)
			if err != nil {
				return err
			}
			if f.Protocol != "" && d.Protocol != f.Protocol {
				continue
			}
			out = append(out, d)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}
