package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

// chunksPerTx bounds how much of an upload one transaction writes, so
// memory stays bounded whatever the package size.
const chunksPerTx = 16

// PutPackage stores a package's record and its bytes, read from r. It
// streams: at most chunksPerTx chunks are in memory. The bytes must be
// exactly p.Size long with SHA-256 p.SHA256; otherwise nothing is kept and
// the error wraps ErrSize or ErrIntegrity (or r's error).
func (s *Store) PutPackage(ctx context.Context, p fleet.Package, r io.Reader) (fleet.Package, error) {
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.Created = s.opts.Now().UTC()
	id := []byte(p.ID)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPackages).Get(id) != nil || tx.Bucket(bucketPkgStaging).Get(id) != nil {
			return fmt.Errorf("store: package %s: %w", p.ID, ErrExists)
		}
		if _, err := tx.Bucket(bucketBlobs).CreateBucket(id); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketPkgStaging), p.ID, p)
	})
	if err != nil {
		return p, err
	}
	if err := s.writeChunks(ctx, p, r); err != nil {
		if derr := s.dropStaging(p.ID); derr != nil {
			s.log.Error("could not remove a failed upload", "package", p.ID, "err", derr)
		}
		return p, err
	}
	return p, nil
}

func (s *Store) writeChunks(ctx context.Context, p fleet.Package, r io.Reader) error {
	h := sha256.New()
	var total int64
	var index uint64
	buf := make([]byte, s.opts.ChunkSize)
	for {
		var chunks [][]byte
		eof := false
		for len(chunks) < chunksPerTx {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				total += int64(n)
				if total > p.Size {
					return fmt.Errorf("store: package %s: more than the declared %d bytes: %w", p.ID, p.Size, ErrSize)
				}
				h.Write(buf[:n])
				chunks = append(chunks, append([]byte(nil), buf[:n]...))
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				eof = true
				break
			}
			if err != nil {
				return fmt.Errorf("store: package %s: reading: %w", p.ID, err)
			}
		}
		if len(chunks) > 0 {
			err := s.update(ctx, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketBlobs).Bucket([]byte(p.ID))
				for i, c := range chunks {
					if err := b.Put(binary.BigEndian.AppendUint64(nil, index+uint64(i)), c); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			index += uint64(len(chunks))
		}
		if eof {
			break
		}
	}
	if total != p.Size {
		return fmt.Errorf("store: package %s: %d bytes, declared %d: %w", p.ID, total, p.Size, ErrSize)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != p.SHA256 {
		return fmt.Errorf("store: package %s: sha-256 %s, declared %s: %w", p.ID, sum, p.SHA256, ErrIntegrity)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPkgStaging).Delete([]byte(p.ID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketPackages), p.ID, p)
	})
}

func (s *Store) dropStaging(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBlobs).Bucket([]byte(id)) != nil {
			if err := tx.Bucket(bucketBlobs).DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPkgStaging).Delete([]byte(id))
	})
}

// Package returns a complete package's record.
func (s *Store) Package(ctx context.Context, id string) (fleet.Package, error) {
	var p fleet.Package
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketPackages), id, &p); err != nil {
			return fmt.Errorf("store: package %s: %w", id, err)
		}
		return nil
	})
	return p, err
}

// Packages lists complete packages in id order.
func (s *Store) Packages(ctx context.Context) ([]fleet.Package, error) {
	var out []fleet.Package
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPackages).ForEach(func(k, _ []byte) error {
			var p fleet.Package
			if err := getJSON(tx.Bucket(bucketPackages), string(k), &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// DeletePackage removes a package no unfinished job uses.
func (s *Store) DeletePackage(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPackages).Get([]byte(id)) == nil {
			return fmt.Errorf("store: package %s: %w", id, ErrNotFound)
		}
		err := tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			j, err := getJob(tx, string(k))
			if err == nil && j.PackageID == id && !j.State.Terminal() {
				return fmt.Errorf("store: package %s is used by job %s: %w", id, k, ErrInUse)
			}
			return err
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketDMCommands).ForEach(func(k, v []byte) error {
			var c fleet.DMCommand
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			if c.Blob == id && !c.State.Terminal() {
				return fmt.Errorf("store: package %s is queued for device %s: %w", id, c.DeviceID, ErrInUse)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if model, err := releaseOf(tx, id); err != nil {
			return err
		} else if model != "" {
			return fmt.Errorf("store: package %s is the release of model %s: %w", id, model, ErrInUse)
		}
		if err := tx.Bucket(bucketBlobs).DeleteBucket([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketPackages).Delete([]byte(id))
	})
}

// OpenPackage returns a reader over a complete package's bytes. It reads
// one chunk per short read transaction (never holding one open) and keeps
// the last chunk, so sequential reads of any size are cheap.
func (s *Store) OpenPackage(ctx context.Context, id string) (*PackageReader, error) {
	p, err := s.Package(ctx, id)
	if err != nil {
		return nil, err
	}
	return &PackageReader{s: s, pkg: p, chunk: int64(s.opts.ChunkSize), cur: -1}, nil
}

// PackageReader reads a stored package: io.Reader, io.Seeker, io.ReaderAt.
// ReadAt is safe for concurrent use; Read and Seek share an offset.
type PackageReader struct {
	s     *Store
	pkg   fleet.Package
	chunk int64
	off   int64

	mu   sync.Mutex
	cur  int64 // index of the cached chunk, -1 for none
	data []byte
}

// Size is the package's length.
func (r *PackageReader) Size() int64 { return r.pkg.Size }

// Package is the package's record.
func (r *PackageReader) Package() fleet.Package { return r.pkg }

// copyAt copies from chunk i, starting at offset within it, into p. The
// chunk is cached in a buffer reused from chunk to chunk; the copy happens
// under the lock, so concurrent ReadAt calls never see a buffer change.
func (r *PackageReader) copyAt(p []byte, i, within int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i != r.cur {
		err := r.s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketBlobs).Bucket([]byte(r.pkg.ID))
			if b == nil {
				return fmt.Errorf("store: package %s: %w", r.pkg.ID, ErrNotFound)
			}
			v := b.Get(binary.BigEndian.AppendUint64(nil, uint64(i)))
			if v == nil {
				return fmt.Errorf("store: package %s: chunk %d missing: %w", r.pkg.ID, i, ErrNotFound)
			}
			r.data = append(r.data[:0], v...) // v lives only inside the transaction
			return nil
		})
		if err != nil {
			r.cur = -1
			return 0, err
		}
		r.cur = i
	}
	if within >= int64(len(r.data)) {
		return 0, fmt.Errorf("store: package %s: chunk %d shorter than expected: %w", r.pkg.ID, i, ErrNotFound)
	}
	return copy(p, r.data[within:]), nil
}

// ReadAt reads len(p) bytes at off (io.EOF at the end).
func (r *PackageReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("store: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.pkg.Size {
			return n, io.EOF
		}
		m, err := r.copyAt(p[n:], pos/r.chunk, pos%r.chunk)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read reads from the current offset.
func (r *PackageReader) Read(p []byte) (int, error) {
	if r.off >= r.pkg.Size {
		return 0, io.EOF
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset for Read.
func (r *PackageReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.pkg.Size
	default:
		return r.off, fmt.Errorf("store: seek whence %d", whence)
	}
	if offset < 0 {
		return r.off, fmt.Errorf("store: seek to negative offset %d", offset)
	}
	r.off = offset
	return offset, nil
}
