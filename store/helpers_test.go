package store

import (
	"encoding/binary"

	"github.com/fumo-gw/fumo-gw/fleet"
	bolt "go.etcd.io/bbolt"
)

type txAlias = bolt.Tx

// stageForTest leaves an upload half-written, as a crash would.
func stageForTest(s *Store, p fleet.Package, part []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketBlobs).CreateBucket([]byte(p.ID))
		if err != nil {
			return err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, 0), part); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketPkgStaging), p.ID, p)
	})
}
