package fleet

import (
	"strings"
	"time"
)

// ModelSettings are what the gateway keeps per device model (the Model of
// a device: DM DevInfo Mod, or as provisioned): the package that is the
// model's current release, which a device asking for an update gets, and
// the FUMO root its DM devices use when none is provisioned per device.
type ModelSettings struct {
	Model    string    `json:"model"`
	Release  string    `json:"release,omitempty"`   // package id
	FUMORoot string    `json:"fumo_root,omitempty"` // e.g. ./FwUpdate/1
	Updated  time.Time `json:"updated"`
}

// Validate checks a model's settings.
func (m *ModelSettings) Validate() error {
	if m.Model == "" || len(m.Model) > 128 || strings.ContainsRune(m.Model, 0) {
		return invalid("model %q: want 1-128 bytes without NUL", m.Model)
	}
	if m.Release != "" {
		if err := validID("model release package id", m.Release); err != nil {
			return err
		}
	}
	if r := m.FUMORoot; r != "" && !strings.HasPrefix(r, "./") {
		return invalid("model %s: fumo root %q must start with ./", m.Model, r)
	}
	return nil
}
