package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code writes.
const SchemaVersion = 3

var (
	bucketMeta        = []byte("meta")
	bucketDevices     = []byte("devices")
	bucketDevProtocol = []byte("dev_protocol")
	bucketDevModel    = []byte("dev_model")
	bucketDevDMID     = []byte("dev_dmid")
	bucketDevEndpoint = []byte("dev_endpoint")
	bucketPackages    = []byte("packages")
	bucketPkgStaging  = []byte("pkg_staging")
	bucketBlobs       = []byte("blobs")
	bucketJobs        = []byte("jobs")
	bucketJobState    = []byte("job_state")
	bucketJobDevice   = []byte("job_device")
	bucketJobCampaign = []byte("job_campaign")
	bucketCampaigns   = []byte("campaigns")
	bucketDMCommands  = []byte("dm_commands")
	bucketDMQueue     = []byte("dm_queue")
	bucketDMSessions  = []byte("dm_sessions")
	bucketDMTokens    = []byte("dm_session_tokens")
	bucketDevPSK      = []byte("dev_psk")
	bucketModels      = []byte("models")
	// bucketDMCmdDevice indexes every DM command (finished ones too) by
	// device, so that a deleted device takes its commands with it.
	bucketDMCmdDevice = []byte("dm_cmd_device")
	// bucketDMReplies holds each session's last reply, raw, by the
	// session's key: kept out of the session's JSON, which every step of
	// the device reads.
	bucketDMReplies = []byte("dm_replies")

	allBuckets = [][]byte{bucketMeta, bucketDevices, bucketDevProtocol, bucketDevModel, bucketDevDMID, bucketDevEndpoint,
		bucketPackages, bucketPkgStaging, bucketBlobs, bucketJobs, bucketJobState, bucketJobDevice, bucketJobCampaign, bucketCampaigns,
		bucketDMCommands, bucketDMQueue, bucketDMSessions, bucketDMTokens, bucketDevPSK, bucketModels, bucketDMCmdDevice, bucketDMReplies}
	keySchema = []byte("schema")
)

// Migration moves the file from schema version n-1 to n inside one
// transaction.
type Migration func(tx *bolt.Tx) error

// Options tune Open; a nil *Options takes the defaults.
type Options struct {
	// Timeout waits for the file lock held by another process (default 5s).
	Timeout time.Duration
	// Migrations[n] upgrades a file from version n-1 to n; entries given
	// here are added to (or replace) the built-in ones.
	Migrations map[int]Migration
	// ChunkSize is the size of stored package chunks (default 64 KiB).
	ChunkSize int
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultOptions are the settings Open uses for a nil *Options.
func DefaultOptions() Options {
	return Options{Timeout: 5 * time.Second, ChunkSize: 64 << 10, Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Migrations: map[int]Migration{2: indexPSKIdentities, 3: indexDMCommandsByDevice}}
}

// Store is the gateway's state in one bbolt file. Safe for concurrent use.
type Store struct {
	db     *bolt.DB
	opts   Options
	log    *slog.Logger
	group  *groupCommit
	counts *counters
}

type counters struct {
	writes  atomic.Int64 // changes asked for
	commits atomic.Int64 // write transactions committed (one fsync each)
}

// Stats counts the store's writes since it was opened.
type Stats struct {
	// Writes are the changes callers asked for (a refused change counts);
	// Commits the write transactions that reached the disk, each with one
	// fsync. Group commit makes Commits smaller than Writes.
	Writes, Commits int64
}

// Stats returns the write counters.
func (s *Store) Stats() Stats {
	return Stats{Writes: s.counts.writes.Load(), Commits: s.counts.commits.Load()}
}

// Open opens (or creates) the store at path, runs the migrations its schema
// needs, and removes leftovers of package uploads a crash interrupted.
func Open(path string, o *Options) (*Store, error) {
	opts := DefaultOptions()
	if o != nil {
		if o.Timeout > 0 {
			opts.Timeout = o.Timeout
		}
		if o.ChunkSize > 0 {
			opts.ChunkSize = o.ChunkSize
		}
		if o.Logger != nil {
			opts.Logger = o.Logger
		}
		if o.Now != nil {
			opts.Now = o.Now
		}
		for v, m := range o.Migrations {
			opts.Migrations[v] = m
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, log: opts.Logger.With("component", "store"), group: &groupCommit{}, counts: &counters{}}
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	version := 0
	if meta != nil {
		if v := meta.Get(keySchema); len(v) == 8 {
			version = int(binary.BigEndian.Uint64(v))
		}
	}
	if version > SchemaVersion {
		return fmt.Errorf("store: file has schema %d, this build knows %d: %w", version, SchemaVersion, ErrSchema)
	}
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("store: bucket %s: %w", b, err)
		}
	}
	if version > 0 {
		if err := s.migrate(tx, version, SchemaVersion); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion)); err != nil {
		return err
	}
	return s.cleanStaging(tx)
}

// migrate runs the migrations from version from to version to, in order,
// inside tx; a missing step is an error and nothing is changed.
func (s *Store) migrate(tx *bolt.Tx, from, to int) error {
	for v := from + 1; v <= to; v++ {
		m, ok := s.opts.Migrations[v]
		if !ok {
			return fmt.Errorf("store: no migration to schema %d: %w", v, ErrSchema)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("store: migration to schema %d: %w", v, err)
		}
		s.log.Info("migrated", "schema", v)
	}
	return nil
}

// cleanStaging drops package uploads a crash left unfinished.
func (s *Store) cleanStaging(tx *bolt.Tx) error {
	st := tx.Bucket(bucketPkgStaging)
	var ids [][]byte
	st.ForEach(func(k, _ []byte) error { ids = append(ids, append([]byte(nil), k...)); return nil })
	for _, id := range ids {
		if tx.Bucket(bucketBlobs).Bucket(id) != nil {
			if err := tx.Bucket(bucketBlobs).DeleteBucket(id); err != nil {
				return err
			}
		}
		if err := st.Delete(id); err != nil {
			return err
		}
		s.log.Warn("removed an unfinished package upload", "package", string(id))
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("store: check: %v", errs)
		}
		return nil
	})
}

// Dump writes every bucket's keys and values, for tests and debugging.
func (s *Store) Dump(w io.Writer) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return dumpBucket(w, string(name), b)
		})
	})
}

func dumpBucket(w io.Writer, prefix string, b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return dumpBucket(w, prefix+"/"+string(k), b.Bucket(k))
		}
		_, err := fmt.Fprintf(w, "%s/%q=%q\n", prefix, k, v)
		return err
	})
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.grouped(ctx, fn)
}

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func getJSON(b *bolt.Bucket, id string, v any) error {
	raw := b.Get([]byte(id))
	if raw == nil {
		return ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), raw)
}

func indexKey(parts ...string) []byte {
	var k []byte
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// indexIDs lists the ids under prefix in an index bucket, after the id
// "after", at most limit (0: all).
func indexIDs(b *bolt.Bucket, prefix, after string, limit int) []string {
	var ids []string
	p := append([]byte(prefix), 0)
	c := b.Cursor()
	k, _ := c.Seek(append(append([]byte(nil), p...), after...))
	for ; k != nil && len(k) >= len(p) && string(k[:len(p)]) == string(p); k, _ = c.Next() {
		id := string(k[len(p):])
		if id == after {
			continue
		}
		ids = append(ids, id)
		if limit > 0 && len(ids) == limit {
			break
		}
	}
	return ids
}

// Ping reads the file's root once: nil while the store answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(*bolt.Tx) error { return nil })
}
