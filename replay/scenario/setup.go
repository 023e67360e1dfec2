// Package scenario owns the setup of a recorded SyncML DM scenario: the
// setup.json committed beside its messages (the devices the gateway knows,
// the packages it stores, the DM commands and FUMO jobs queued before the
// first message, the nonces it issues), and the in-process DM gateway that
// a scenario is replayed against (store, DM endpoint, package downloads,
// FUMO driver on 127.0.0.1). The replay tests of dm/fumo and
// `fumo-gw replay` both set a scenario up here, so they replay the same
// thing.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// FileName is the setup file in a scenario folder.
const FileName = "setup.json"

// Setup is a scenario's setup.json. Everything is created in the order
// written: packages, devices, commands, jobs.
type Setup struct {
	// DecodeOnly, when set, says why the scenario cannot be replayed
	// against fumo-gw (its server messages were not written by it); its
	// messages are only decoded.
	DecodeOnly string `json:"decode_only,omitempty"`
	// Nonces are the first nonces the gateway issues, in order (raw
	// bytes as a string); after them come the counter nonces
	// "nonce-0000000001", "nonce-0000000002", ...
	Nonces   []string  `json:"nonces,omitempty"`
	Packages []Package `json:"packages,omitempty"`
	Models   []Model   `json:"models,omitempty"`
	Devices  []Device  `json:"devices,omitempty"`
	Commands []Command `json:"commands,omitempty"`
	Jobs     []Job     `json:"jobs,omitempty"`
	// Recording says how the simulated device is set up and driven when
	// the scenario is recorded again; replay does not use it.
	Recording *Recording `json:"recording,omitempty"`
}

// Model is a device model's settings: its current release (a package of
// the setup) and FUMO root.
type Model struct {
	Model    string `json:"model"`
	Release  string `json:"release,omitempty"`
	FUMORoot string `json:"fumo_root,omitempty"`
}

// Recording is how a scenario is recorded: the simulator's switches (the
// behaviours of real DM clients it imitates) and the steps it runs.
type Recording struct {
	Sim SimSwitches `json:"sim"`
	// Steps, in order: "session" (one session; one the device drops is
	// fine), "request" (a session asking for an update), "jobs" (every job
	// of the device to its end, each result reported in a session of its
	// own). Default: session, jobs.
	Steps []string `json:"steps,omitempty"`
}

// SimSwitches are sim.DMDevice and sim.FUMO switches, as their names say.
type SimSwitches struct {
	NoLocName       bool   `json:"no_locname,omitempty"`
	ServerAuth      string `json:"server_auth,omitempty"`
	ChallengeServer bool   `json:"challenge_server,omitempty"`
	FollowChal      bool   `json:"follow_chal,omitempty"`
	SessionID       string `json:"session_id,omitempty"`
	LoseReply       int    `json:"lose_reply,omitempty"`
	DropOnExec      int    `json:"drop_on_exec,omitempty"`
	FUMORoot        string `json:"fumo_root,omitempty"` // where the device's FUMO object is (default the device's fumo_root)
	VersionFormat   string `json:"version_format,omitempty"`
	NoReport        bool   `json:"no_report,omitempty"` // FaultNoReport
	// FUMOState and FirmwareVersion start the device's <x>/State and
	// ./DevDetail/FwV (a device that updated and whose alert was lost).
	FUMOState       int    `json:"fumo_state,omitempty"`
	FirmwareVersion string `json:"firmware_version,omitempty"`
}

// Package is a stored firmware image. Its Size bytes are the SHA-256
// chain seeded with the id (see Image), so a package needs no file.
type Package struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Size    int    `json:"size"`
}

// Device is a DM device the gateway knows. Passwords are test
// credentials, written in clear.
type Device struct {
	ID              string `json:"id"`
	DMDeviceID      string `json:"dm_device_id"` // SyncHdr Source LocURI
	Model           string `json:"model,omitempty"`
	FirmwareVersion string `json:"firmware_version,omitempty"`
	Auth            string `json:"auth"` // basic, md5 or hmac
	Username        string `json:"username"`
	Password        string `json:"password"`
	ServerID        string `json:"server_id,omitempty"`
	ServerPassword  string `json:"server_password,omitempty"`
	ServerAuth      string `json:"server_auth,omitempty"` // default: auth
	FUMORoot        string `json:"fumo_root,omitempty"`
	// ClientNonce and ServerNonce are the nonces the recorded device and
	// gateway start from (raw bytes as a string; default none).
	ClientNonce string `json:"client_nonce,omitempty"`
	ServerNonce string `json:"server_nonce,omitempty"`
	// MaxMsgSize is what the simulated device announces when the
	// scenario is recorded again (0: none); replay does not use it.
	MaxMsgSize int64 `json:"max_msg_size,omitempty"`
}

// Command is a DM command queued for a device before the first message,
// written as the SyncML XML of the command without a CmdID, e.g.
// `<Get><Item><Target><LocURI>./DevDetail/FwV</LocURI></Target></Item></Get>`.
type Command struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	XML    string `json:"xml"`
}

// Job is a FUMO job created and started before the first message.
type Job struct {
	ID        string          `json:"id"`
	Device    string          `json:"device"`
	Package   string          `json:"package"`
	Operation fleet.Operation `json:"operation,omitempty"` // default download_and_update
	Delivery  fleet.Delivery  `json:"delivery,omitempty"`  // default pull
	// State "updating" stores the job as if the device had accepted its
	// Exec longer ago than the report timeout, and its result alert was
	// lost: the gateway queues the read of the device's state before the
	// first message. Default: created queued and started.
	State fleet.JobState `json:"state,omitempty"`
}

// Load reads dir/setup.json. A folder without one gives an error that
// matches ErrNoSetup.
func Load(dir string) (*Setup, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("scenario: %s: %w", dir, ErrNoSetup)
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(b)
}

// Parse reads a setup.json; unknown fields are refused, so that a typo
// does not silently leave something unset.
func Parse(b []byte) (*Setup, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Setup
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario: %s: %w: %w", FileName, ErrInvalid, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the references between the parts; the store checks the
// records themselves when they are created.
func (s *Setup) Validate() error {
	pkgs, devs := map[string]bool{}, map[string]bool{}
	for _, p := range s.Packages {
		if p.ID == "" || p.Size <= 0 {
			return fmt.Errorf("scenario: package %q: %w: id and a positive size are required", p.ID, ErrInvalid)
		}
		pkgs[p.ID] = true
	}
	for _, d := range s.Devices {
		if d.ID == "" || d.DMDeviceID == "" {
			return fmt.Errorf("scenario: device %q: %w: id and dm_device_id are required", d.ID, ErrInvalid)
		}
		devs[d.ID] = true
	}
	for _, c := range s.Commands {
		if c.ID == "" || !devs[c.Device] {
			return fmt.Errorf("scenario: command %q: %w: needs an id and a device of the setup", c.ID, ErrInvalid)
		}
	}
	for _, j := range s.Jobs {
		if j.ID == "" || !devs[j.Device] || !pkgs[j.Package] {
			return fmt.Errorf("scenario: job %q: %w: needs an id, a device and a package of the setup", j.ID, ErrInvalid)
		}
		if j.State != "" && j.State != fleet.JobQueued && j.State != fleet.JobUpdating {
			return fmt.Errorf("scenario: job %q: %w: state %q, want queued or updating", j.ID, ErrInvalid, j.State)
		}
	}
	for _, m := range s.Models {
		if m.Model == "" || m.Release != "" && !pkgs[m.Release] {
			return fmt.Errorf("scenario: model %q: %w: needs a name, and a release among the setup's packages", m.Model, ErrInvalid)
		}
	}
	if r := s.Recording; r != nil {
		for _, st := range r.Steps {
			if st != "session" && st != "request" && st != "jobs" {
				return fmt.Errorf("scenario: recording step %q: %w: want session, request or jobs", st, ErrInvalid)
			}
		}
	}
	return nil
}

// Package returns the package with id.
func (s *Setup) Package(id string) (Package, bool) {
	for _, p := range s.Packages {
		if p.ID == id {
			return p, true
		}
	}
	return Package{}, false
}
