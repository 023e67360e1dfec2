package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// Inventory (Config.Inventory): after every Register, once it is stored
// and answered, the server reads the device's Object 3 (manufacturer,
// model number, serial number, firmware version: /3/0 in one Read, or its
// four resources one by one when the device refuses that or answers what
// does not decode) and records it with the registration's LwM2M and object
// versions in the device record (fleet.LwM2MInventory); a model number and
// a firmware version read also become the device's Model and
// FirmwareVersion, so that selectors by model or version find devices
// nobody provisioned by hand. The read never holds up or fails a
// registration: it runs on one of inventoryWorkers goroutines, one read
// at a time per device, each bounded by inventoryTimeout; a failure is
// logged and changes nothing. A queue-mode device that fell asleep before
// its turn is read after its next Update. Nothing is written when nothing
// changed. RefreshInventory reads a device again on demand (after a
// firmware update that did not make it register again).
const (
	inventoryWorkers = 16
	inventoryTimeout = 30 * time.Second
	// maxInventoryValue bounds a value kept (a model is at most 128 bytes,
	// fleet.ModelSettings).
	maxInventoryValue = 128
)

// InventoryStore is what the server records inventories with; a Store
// that implements it (store.Store does) gets Object 3 read after every
// Register, one that does not gets no inventory.
type InventoryStore interface {
	UpdateDevice(ctx context.Context, id string, fn func(*fleet.Device) error) (fleet.Device, error)
}

// ErrNoInventory: RefreshInventory on a server whose Store does not
// implement InventoryStore.
var ErrNoInventory = errors.New("lwm2m: the store keeps no inventory")

// inventoryQueue is the devices whose read is due, in order, and the
// workers reading them; guarded by Server.mu.
type inventoryQueue struct {
	pending []*client
	workers int
}

// clientInventory is one device's inventory reads; guarded by Server.mu,
// except sem.
type clientInventory struct {
	due    bool          // a read is wanted (a Register); cleared when one starts
	queued bool          // in Server.inv.pending
	sem    chan struct{} // held while a read runs: one at a time
}

var pathDevice = node.MustPath("/3/0")

// queueInventory queues c's read if it is due and not queued yet, and
// starts a worker if fewer than inventoryWorkers run.
func (s *Server) queueInventory(c *client) {
	if _, ok := s.cfg.Store.(InventoryStore); !ok || !s.cfg.Inventory {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !c.inv.due || c.inv.queued || s.byEndpoint[c.endpoint] != c {
		return
	}
	c.inv.queued = true
	s.inv.pending = append(s.inv.pending, c)
	if s.inv.workers < inventoryWorkers {
		s.inv.workers++
		s.wg.Add(1) // under s.mu, closed checked: Close waits for it
		go s.inventoryWorker()
	}
}

// inventoryWorker reads queued devices until none is left. A device that
// is no longer registered is skipped; one asleep (queue mode, or a DTLS
// device without a session) stays due for its next Update.
func (s *Server) inventoryWorker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.inv.pending) == 0 || s.closed {
			s.inv.workers--
			s.mu.Unlock()
			return
		}
		c := s.inv.pending[0]
		s.inv.pending[0] = nil
		s.inv.pending = s.inv.pending[1:]
		c.inv.queued = false
		asleep := c.reg.Queue && s.cfg.Now().After(c.awakeUntil) || c.conn == nil && c.reg.Secure
		run := c.inv.due && !asleep && s.byEndpoint[c.endpoint] == c
		if run {
			c.inv.due = false
		}
		s.mu.Unlock()
		if !run {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, inventoryTimeout)
		if err := s.refreshInventory(ctx, c); err != nil && s.ctx.Err() == nil {
			s.log.Warn("inventory: object 3 not recorded", "endpoint", c.endpoint, "err", err)
		}
		cancel()
	}
}

// RefreshInventory reads the device's Object 3 now and records it as the
// read after a Register does: for a device whose firmware or settings
// changed without a new Register. It waits for a read of the device under
// way, and for a sleeping device, as long as ctx lets it.
func (s *Server) RefreshInventory(ctx context.Context, endpoint string) error {
	c, err := s.lookup(endpoint)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c.inv.due = false
	s.mu.Unlock()
	if err := s.refreshInventory(ctx, c); err != nil {
		return fmt.Errorf("lwm2m: inventory of %s: %w", endpoint, err)
	}
	return nil
}

// refreshInventory reads and records c's inventory, one read at a time.
func (s *Server) refreshInventory(ctx context.Context, c *client) error {
	st, ok := s.cfg.Store.(InventoryStore)
	if !ok {
		return ErrNoInventory
	}
	s.mu.Lock()
	if c.inv.sem == nil {
		c.inv.sem = make(chan struct{}, 1)
	}
	sem := c.inv.sem
	s.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-sem }()
	inv, err := s.readObject3(ctx, c.endpoint)
	if err != nil {
		return err
	}
	s.mu.Lock()
	reg, deviceID := c.reg, c.deviceID
	s.mu.Unlock()
	inv.LwM2MVersion, inv.ObjectVersions = reg.Version, maps.Clone(reg.Versions)
	return s.recordInventory(ctx, st, c.endpoint, deviceID, inv)
}

// errUnchanged ends an UpdateDevice that would write nothing new.
var errUnchanged = errors.New("lwm2m: inventory unchanged")

// recordInventory writes inv to the device record, unless the record
// already says so.
func (s *Server) recordInventory(ctx context.Context, st InventoryStore, endpoint, deviceID string, inv fleet.LwM2MInventory) error {
	now := s.cfg.Now().UTC()
	d, err := s.cfg.Store.DeviceByEndpoint(ctx, endpoint)
	if err != nil {
		return err
	}
	if d.ID != deviceID || !applyInventory(&d, inv, now) {
		return nil
	}
	d, err = st.UpdateDevice(ctx, deviceID, func(d *fleet.Device) error {
		if !applyInventory(d, inv, now) {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("inventory recorded", "endpoint", endpoint, "device", deviceID, "manufacturer", inv.Manufacturer,
		"model", d.Model, "serial", inv.SerialNumber, "firmware", d.FirmwareVersion, "lwm2m", inv.LwM2MVersion)
	return nil
}

// applyInventory puts inv in d and tells whether that changed d. A model
// number or firmware version the device did not give leaves d's as they
// are (as provisioned, or as last read).
func applyInventory(d *fleet.Device, inv fleet.LwM2MInventory, now time.Time) bool {
	if d.LwM2M == nil {
		return false
	}
	changed := false
	if inv.ModelNumber != "" && d.Model != inv.ModelNumber {
		d.Model, changed = inv.ModelNumber, true
	}
	if inv.FirmwareVersion != "" && d.FirmwareVersion != inv.FirmwareVersion {
		d.FirmwareVersion, changed = inv.FirmwareVersion, true
	}
	if !d.LwM2M.Inventory.SameAs(&inv) {
		inv.Updated = now
		d.LwM2M.Inventory, changed = &inv, true
	}
	return changed
}

// readObject3 reads /3/0 and takes resources 0 to 3 from it; when the
// device refuses that Read, or its answer does not decode or holds none of
// them, it reads the four resources one by one. It fails when the device
// does not answer, or when it gave none of the four.
func (s *Server) readObject3(ctx context.Context, endpoint string) (fleet.LwM2MInventory, error) {
	var inv fleet.LwM2MInventory
	got := 0
	// read reads p and takes what it holds; answered tells a device's
	// refusal or undecodable answer from no answer.
	read := func(p node.Path) (answered bool, err error) {
		c, err := s.Read(ctx, endpoint, p, AnyFormat)
		if err != nil {
			var ce *CodeError
			return errors.As(err, &ce), err
		}
		recs, err := codec.Decode(c.Format, p, c.Payload)
		if err != nil {
			return true, err
		}
		n := got
		for _, r := range recs {
			switch takeInventory(&inv, r) {
			case 1:
				got++
			case -1:
				s.log.Debug("inventory: value ignored: not printable text of at most 128 bytes", "endpoint", endpoint, "path", r.Path.String())
			}
		}
		if got == n {
			return true, errNothingInObject3
		}
		return true, nil
	}
	answered, err := read(pathDevice)
	if err == nil {
		return inv, nil
	}
	if !answered {
		return inv, err // no use asking four times
	}
	s.log.Debug("inventory: /3/0 not read whole, reading its resources", "endpoint", endpoint, "err", err)
	first := fmt.Errorf("read %s: %w", pathDevice, err)
	for id := uint16(0); id <= 3; id++ {
		p := pathDevice.Append(id)
		answered, err := read(p)
		if err != nil && !answered {
			return inv, err
		}
		if err != nil {
			s.log.Debug("inventory: resource not read", "endpoint", endpoint, "path", p.String(), "err", err)
		}
	}
	if got == 0 {
		return inv, fmt.Errorf("object 3 gave nothing; %w", first)
	}
	return inv, nil
}

// errNothingInObject3: an Object 3 answer without any of resources 0-3.
var errNothingInObject3 = errors.New("no manufacturer, model number, serial number or firmware version")

// takeInventory puts a record of /3/0/0 to /3/0/3 in inv: 1 when taken,
// 0 when it is another resource, -1 when its value is not printable text
// of at most maxInventoryValue bytes.
func takeInventory(inv *fleet.LwM2MInventory, r node.Record) int {
	if r.Path.Len() != 3 || r.Path.ID(0) != 3 || r.Path.ID(1) != 0 || r.Path.ID(2) > 3 {
		return 0
	}
	v, err := r.Value.Str()
	v = strings.TrimSpace(v)
	if err != nil || !printable(v) {
		return -1
	}
	if v == "" {
		return 0
	}
	switch r.Path.ID(2) {
	case 0:
		inv.Manufacturer = v
	case 1:
		inv.ModelNumber = v
	case 2:
		inv.SerialNumber = v
	case 3:
		inv.FirmwareVersion = v
	}
	return 1
}

// printable tells whether s is UTF-8 text without control characters, at
// most maxInventoryValue bytes.
func printable(s string) bool {
	if len(s) > maxInventoryValue || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
