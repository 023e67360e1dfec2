package fleet

import (
	"encoding/hex"
	"time"
)

// Package is a firmware image known to the gateway. Its bytes live in the
// store as a blob; Size and SHA256 are checked when it is stored.
type Package struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"` // lowercase hex
	ContentType string `json:"content_type,omitempty"`
	// Verify, when set, says whether jobs with this package check the
	// device's firmware version after a successful update (default yes);
	// a job's own setting wins.
	Verify  *bool     `json:"verify,omitempty"`
	Created time.Time `json:"created"`
}

// MaxPackageSize bounds a firmware image (4 GiB).
const MaxPackageSize = 4 << 30

// Validate checks a package record.
func (p *Package) Validate() error {
	if err := validID("package id", p.ID); err != nil {
		return err
	}
	if p.Name == "" || p.Version == "" {
		return invalid("package %s: name and version are required", p.ID)
	}
	if p.Size <= 0 || p.Size > MaxPackageSize {
		return invalid("package %s: size %d outside 1..%d", p.ID, p.Size, int64(MaxPackageSize))
	}
	if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 || hex.EncodeToString(b) != p.SHA256 {
		return invalid("package %s: sha256 %q is not 64 lowercase hex digits", p.ID, p.SHA256)
	}
	return nil
}
