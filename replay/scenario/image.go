package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// Image is the content of a setup's package: size bytes of the SHA-256
// chain seeded with id (repeatable, incompressible), and its hex digest.
func Image(id string, size int) ([]byte, string) {
	img := make([]byte, 0, size+sha256.Size)
	block := sha256.Sum256([]byte(id))
	for len(img) < size {
		img = append(img, block[:]...)
		block = sha256.Sum256(block[:])
	}
	img = img[:size]
	sum := sha256.Sum256(img)
	return img, hex.EncodeToString(sum[:])
}

// Nonces makes a gateway's nonces repeatable, so that a recorded session
// replays byte for byte (md5 credentials depend on them): first the given
// ones in order, then "nonce-0000000001", "nonce-0000000002", ...
func Nonces(first ...string) func() ([]byte, error) {
	var mu sync.Mutex
	n := 0
	return func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(first) > 0 {
			b := []byte(first[0])
			first = first[1:]
			return b, nil
		}
		n++
		return []byte(fmt.Sprintf("nonce-%010d", n)), nil
	}
}
