package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// The DM server's state: queued commands (by id, and ordered per device)
// and sessions (per device and by RespURI token). dm declares the
// interface; these methods implement it.

func getDMCommand(tx *bolt.Tx, id string) (fleet.DMCommand, error) {
	var c fleet.DMCommand
	if err := getJSON(tx.Bucket(bucketDMCommands), id, &c); err != nil {
		if errors.Is(err, ErrNotFound) {
			return c, fmt.Errorf("store: dm command %s: %w", id, ErrNotFound)
		}
		return c, err
	}
	return c, nil
}

func seqKey(deviceID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(deviceID), 0), seq)
}

// EnqueueDMCommand adds c at the end of its device's queue (state pending)
// and returns it with Seq and times set. The device must exist and speak DM.
func (s *Store) EnqueueDMCommand(ctx context.Context, c fleet.DMCommand) (fleet.DMCommand, error) {
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) (err error) {
		c, err = s.enqueue(tx, c)
		return err
	})
	return c, err
}

// enqueue is EnqueueDMCommand inside tx; c is validated.
func (s *Store) enqueue(tx *bolt.Tx, c fleet.DMCommand) (fleet.DMCommand, error) {
	d, err := getDevice(tx, c.DeviceID)
	if err != nil {
		return c, err
	}
	if d.Protocol != fleet.ProtocolDM {
		return c, fmt.Errorf("store: device %s is not a DM device: %w", d.ID, ErrInvalid)
	}
	c.BlobSize = 0
	if c.Blob != "" {
		var p fleet.Package
		if err := getJSON(tx.Bucket(bucketPackages), c.Blob, &p); err != nil {
			return c, fmt.Errorf("store: package %s: %w", c.Blob, err)
		}
		c.BlobSize = p.Size
	}
	b := tx.Bucket(bucketDMCommands)
	if b.Get([]byte(c.ID)) != nil {
		return c, fmt.Errorf("store: dm command %s: %w", c.ID, ErrExists)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return c, err
	}
	now := s.opts.Now().UTC()
	c.Seq, c.State, c.Created, c.Updated = seq, fleet.DMCommandPending, now, now
	c.SessionID, c.SessionToken, c.Attempts, c.Outcome, c.Error = "", "", 0, nil, ""
	if err := putJSON(b, c.ID, c); err != nil {
		return c, err
	}
	if err := tx.Bucket(bucketDMCmdDevice).Put(indexKey(c.DeviceID, c.ID), nil); err != nil {
		return c, err
	}
	return c, tx.Bucket(bucketDMQueue).Put(seqKey(c.DeviceID, seq), []byte(c.ID))
}

// indexDMCommandsByDevice is the migration to schema 3: every stored DM
// command gets its entry in the per-device index.
func indexDMCommandsByDevice(tx *bolt.Tx) error {
	idx, err := tx.CreateBucketIfNotExists(bucketDMCmdDevice)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDMCommands).ForEach(func(k, v []byte) error {
		var c fleet.DMCommand
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("dm command %s: %w", k, err)
		}
		return idx.Put(indexKey(c.DeviceID, c.ID), nil)
	})
}

// DMCommand returns one queued command with its state and outcome.
func (s *Store) DMCommand(ctx context.Context, id string) (fleet.DMCommand, error) {
	var c fleet.DMCommand
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		c, err = getDMCommand(tx, id)
		return err
	})
	return c, err
}

// DMCommands lists a device's commands not finished yet, in queue order.
func (s *Store) DMCommands(ctx context.Context, deviceID string) ([]fleet.DMCommand, error) {
	var out []fleet.DMCommand
	err := s.view(ctx, func(tx *bolt.Tx) error {
		p := append([]byte(deviceID), 0)
		c := tx.Bucket(bucketDMQueue).Cursor()
		for k, v := c.Seek(p); k != nil && len(k) == len(p)+8 && string(k[:len(p)]) == string(p); k, v = c.Next() {
			cmd, err := getDMCommand(tx, string(v))
			if err != nil {
				return err
			}
			out = append(out, cmd)
		}
		return nil
	})
	return out, err
}

// putSession writes a session under key, its last reply apart.
func putSession(tx *bolt.Tx, key []byte, ss fleet.DMSession) error {
	reply := ss.LastReply
	ss.LastReply = nil
	if err := putJSON(tx.Bucket(bucketDMSessions), string(key), ss); err != nil {
		return err
	}
	if reply == nil {
		return tx.Bucket(bucketDMReplies).Delete(key)
	}
	return tx.Bucket(bucketDMReplies).Put(key, reply)
}

// getSession reads the session under key with its last reply.
func getSession(tx *bolt.Tx, key []byte) (fleet.DMSession, error) {
	var ss fleet.DMSession
	if err := getJSON(tx.Bucket(bucketDMSessions), string(key), &ss); err != nil {
		return ss, err
	}
	if r := tx.Bucket(bucketDMReplies).Get(key); r != nil {
		ss.LastReply = append([]byte(nil), r...)
	}
	return ss, nil
}

func deleteSession(tx *bolt.Tx, key []byte) error {
	if err := tx.Bucket(bucketDMSessions).Delete(key); err != nil {
		return err
	}
	return tx.Bucket(bucketDMReplies).Delete(key)
}

// AllDMCommands lists every DM command of a device, finished ones too,
// in the order they were queued.
func (s *Store) AllDMCommands(ctx context.Context, deviceID string) ([]fleet.DMCommand, error) {
	var out []fleet.DMCommand
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range indexIDs(tx.Bucket(bucketDMCmdDevice), deviceID, "", 0) {
			c, err := getDMCommand(tx, id)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, err
}

// DMSession returns a stored session.
func (s *Store) DMSession(ctx context.Context, deviceID, sessionID string) (fleet.DMSession, error) {
	var ss fleet.DMSession
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if ss, err = getSession(tx, indexKey(deviceID, sessionID)); err != nil {
			return fmt.Errorf("store: dm session %s/%s: %w", deviceID, sessionID, err)
		}
		return nil
	})
	return ss, err
}

// DMSessionByToken returns the session a RespURI token names.
func (s *Store) DMSessionByToken(ctx context.Context, token string) (fleet.DMSession, error) {
	var ss fleet.DMSession
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketDMTokens).Get([]byte(token))
		if key == nil {
			return fmt.Errorf("store: dm session token: %w", ErrNotFound)
		}
		var err error
		ss, err = getSession(tx, key)
		return err
	})
	return ss, err
}

// CommitDMStep stores what one DM message changed, all or nothing: the
// session (a new session replaces the device's earlier ones), command
// states and outcomes, and the device record. Sent commands must be
// pending (or sent in another session); requeued and finished ones must
// belong to the device and not be finished already. Concurrent steps of
// different devices share one commit (group commit, no added delay); each
// returns only once its step is on disk.
func (s *Store) CommitDMStep(ctx context.Context, st fleet.DMStep) error {
	ss := st.Session
	if ss.DeviceID == "" || ss.SessionID == "" || ss.Token == "" {
		return fmt.Errorf("store: dm session without device, id or token: %w", ErrInvalid)
	}
	if e := st.Enrol; e != nil {
		if e.ID != ss.DeviceID {
			return fmt.Errorf("store: enrolled device %s is not the session's %s: %w", e.ID, ss.DeviceID, ErrInvalid)
		}
		if err := validateDevice(e); err != nil {
			return err
		}
	}
	// The function may run more than once: it only reads its inputs.
	return s.grouped(ctx, func(tx *bolt.Tx) error {
		now := s.opts.Now().UTC()
		if e := st.Enrol; e != nil {
			nd := *e
			nd.DM = cloneDM(e.DM)
			nd.Created, nd.Updated = now, now
			if tx.Bucket(bucketDevices).Get([]byte(nd.ID)) != nil {
				return fmt.Errorf("store: device %s: %w", nd.ID, ErrExists)
			}
			if err := putDevice(tx, nil, &nd); err != nil {
				return err
			}
		}
		d, err := getDevice(tx, ss.DeviceID)
		if err != nil {
			return err
		}
		if st.Device != nil {
			nd := d
			nd.DM = cloneDM(d.DM)
			if err := st.Device(&nd); err != nil {
				return err
			}
			nd.ID, nd.Created, nd.Updated = d.ID, d.Created, now
			if err := validateDevice(&nd); err != nil {
				return err
			}
			if err := putDevice(tx, &d, &nd); err != nil {
				return err
			}
		}
		sessions, tokens := tx.Bucket(bucketDMSessions), tx.Bucket(bucketDMTokens)
		key := indexKey(ss.DeviceID, ss.SessionID)
		if prev := sessions.Get(key); prev == nil || ss.Authenticated {
			// A device runs one session at a time: a message of a session
			// in which it authenticated ends the others. A new session in
			// which it has not ends only the others that have not either,
			// so that a forged package 1 cannot end the device's session,
			// and a device keeps at most one session of each kind.
			var old []fleet.DMSession
			p := append([]byte(ss.DeviceID), 0)
			c := sessions.Cursor()
			for k, v := c.Seek(p); k != nil && len(k) > len(p) && string(k[:len(p)]) == string(p); k, v = c.Next() {
				var o fleet.DMSession
				if err := json.Unmarshal(v, &o); err != nil {
					return err
				}
				if string(k) != string(key) && (ss.Authenticated || !o.Authenticated) {
					old = append(old, o)
				}
			}
			for _, o := range old {
				if err := tokens.Delete([]byte(o.Token)); err != nil {
					return err
				}
				if err := deleteSession(tx, indexKey(o.DeviceID, o.SessionID)); err != nil {
					return err
				}
			}
		}
		if prev := sessions.Get(key); prev != nil {
			// A session that reuses the SessionID of an earlier one (devices
			// that always send 1) replaces it: the old token goes.
			var o fleet.DMSession
			if err := json.Unmarshal(prev, &o); err != nil {
				return err
			}
			if o.Token != ss.Token {
				if err := tokens.Delete([]byte(o.Token)); err != nil {
					return err
				}
			}
		}
		ss.Updated = now
		if err := putSession(tx, key, ss); err != nil {
			return err
		}
		if err := tokens.Put([]byte(ss.Token), key); err != nil {
			return err
		}
		cmds := tx.Bucket(bucketDMCommands)
		// late: the device's answer to a command withdrawn after it was
		// sent is still recorded (requeueing it changes nothing).
		change := func(id string, late bool, fn func(*fleet.DMCommand) error) error {
			c, err := getDMCommand(tx, id)
			if err != nil {
				return err
			}
			if c.DeviceID != ss.DeviceID {
				return fmt.Errorf("store: dm command %s belongs to device %s: %w", id, c.DeviceID, ErrInvalid)
			}
			if c.State.Terminal() && !(late && withdrawnAfterSent(c)) {
				return fmt.Errorf("store: dm command %s is %s: %w", id, c.State, ErrStale)
			}
			if err := fn(&c); err != nil {
				return err
			}
			c.Updated = now
			if c.State.Terminal() {
				if err := tx.Bucket(bucketDMQueue).Delete(seqKey(c.DeviceID, c.Seq)); err != nil {
					return err
				}
			}
			return putJSON(cmds, id, c)
		}
		for _, id := range st.Sent {
			err := change(id, false, func(c *fleet.DMCommand) error {
				switch {
				case c.State == fleet.DMCommandSent && c.SentIn(ss):
					return fmt.Errorf("store: dm command %s already sent in session %s: %w", id, ss.SessionID, ErrStale)
				case c.State == fleet.DMCommandSent && c.AtMostOnce:
					return fmt.Errorf("store: dm command %s is sent at most once: %w", id, ErrStale)
				}
				c.State, c.SessionID, c.SessionToken = fleet.DMCommandSent, ss.SessionID, ss.Token
				c.Attempts++
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, id := range st.Resent {
			err := change(id, false, func(c *fleet.DMCommand) error {
				if c.State != fleet.DMCommandSent || !c.SentIn(ss) {
					return fmt.Errorf("store: dm command %s was not sent in session %s: %w", id, ss.SessionID, ErrStale)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, id := range st.Requeue {
			if err := change(id, true, func(c *fleet.DMCommand) error {
				if !c.State.Terminal() {
					c.State = fleet.DMCommandPending
				}
				return nil
			}); err != nil {
				return err
			}
		}
		for _, f := range st.Finished {
			if !f.State.Terminal() {
				return fmt.Errorf("store: dm command %s finished as %q: %w", f.ID, f.State, ErrInvalid)
			}
			if err := change(f.ID, true, func(c *fleet.DMCommand) error {
				c.State, c.Outcome, c.Error = f.State, f.Outcome, f.Error
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// deleteDMState removes a device's sessions and its commands, finished
// ones included.
func deleteDMState(tx *bolt.Tx, deviceID string) error {
	p := append([]byte(deviceID), 0)
	var keys, tokens [][]byte
	sessions := tx.Bucket(bucketDMSessions)
	c := sessions.Cursor()
	for k, v := c.Seek(p); k != nil && len(k) > len(p) && string(k[:len(p)]) == string(p); k, v = c.Next() {
		var o fleet.DMSession
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		keys, tokens = append(keys, append([]byte(nil), k...)), append(tokens, []byte(o.Token))
	}
	for i := range keys {
		if err := deleteSession(tx, keys[i]); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDMTokens).Delete(tokens[i]); err != nil {
			return err
		}
	}
	var qkeys [][]byte
	q := tx.Bucket(bucketDMQueue)
	qc := q.Cursor()
	for k, _ := qc.Seek(p); k != nil && len(k) == len(p)+8 && string(k[:len(p)]) == string(p); k, _ = qc.Next() {
		qkeys = append(qkeys, append([]byte(nil), k...))
	}
	for _, k := range qkeys {
		if err := q.Delete(k); err != nil {
			return err
		}
	}
	idx := tx.Bucket(bucketDMCmdDevice)
	for _, id := range indexIDs(idx, deviceID, "", 0) {
		if err := tx.Bucket(bucketDMCommands).Delete([]byte(id)); err != nil {
			return err
		}
		if err := idx.Delete(indexKey(deviceID, id)); err != nil {
			return err
		}
	}
	return nil
}

// ReadPackageAt reads len(p) bytes of a stored package at off (io.EOF at
// the end) in one read transaction, copying only the bytes asked for: the
// cheap per-block read that block-wise and chunked transfers need.
func (s *Store) ReadPackageAt(ctx context.Context, id string, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("store: package %s: negative offset", id)
	}
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var pkg fleet.Package
		if err := getJSON(tx.Bucket(bucketPackages), id, &pkg); err != nil {
			return fmt.Errorf("store: package %s: %w", id, err)
		}
		b := tx.Bucket(bucketBlobs).Bucket([]byte(id))
		if b == nil {
			return fmt.Errorf("store: package %s: %w", id, ErrNotFound)
		}
		chunk := int64(s.opts.ChunkSize)
		for n < len(p) {
			pos := off + int64(n)
			if pos >= pkg.Size {
				return io.EOF
			}
			v := b.Get(binary.BigEndian.AppendUint64(nil, uint64(pos/chunk)))
			within := pos % chunk
			if within >= int64(len(v)) {
				return fmt.Errorf("store: package %s: chunk %d missing or short: %w", id, pos/chunk, ErrNotFound)
			}
			n += copy(p[n:], v[within:])
		}
		return nil
	})
	return n, err
}

// WithdrawDMCommands takes commands out of their device's queue: each
// ends failed with the error "withdrawn: why". Ids that are unknown or
// already finished are skipped. A command already sent (or answered) may
// be acted on by the device: without force nothing changes and the error
// wraps ErrStale; with force a sent command is withdrawn too (it is not
// sent again in a later session), an answered one is left as it is.
func (s *Store) WithdrawDMCommands(ctx context.Context, why string, force bool, ids ...string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return s.withdraw(tx, why, force, ids)
	})
}

// withdraw is WithdrawDMCommands inside tx.
func (s *Store) withdraw(tx *bolt.Tx, why string, force bool, ids []string) error {
	cmds := tx.Bucket(bucketDMCommands)
	now := s.opts.Now().UTC()
	var pending []fleet.DMCommand
	for _, id := range ids {
		c, err := getDMCommand(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case (c.State == fleet.DMCommandSent || c.State == fleet.DMCommandDone) && !force:
			return fmt.Errorf("store: dm command %s was sent in session %s: %w", id, c.SessionID, ErrStale)
		case c.State == fleet.DMCommandPending, c.State == fleet.DMCommandSent:
			pending = append(pending, c)
		}
	}
	for _, c := range pending {
		if err := tx.Bucket(bucketDMQueue).Delete(seqKey(c.DeviceID, c.Seq)); err != nil {
			return err
		}
		c.State, c.Error, c.Updated = fleet.DMCommandFailed, withdrawnPrefix+why, now
		if err := putJSON(cmds, c.ID, c); err != nil {
			return err
		}
	}
	return nil
}

const withdrawnPrefix = "withdrawn: "

// withdrawnAfterSent tells a command withdrawn while a session had it.
func withdrawnAfterSent(c fleet.DMCommand) bool {
	return c.State == fleet.DMCommandFailed && c.SessionID != "" && strings.HasPrefix(c.Error, withdrawnPrefix)
}
