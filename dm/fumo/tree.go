package fumo

import (
	"fmt"
	"strings"
)

// Root is the FUMO node <x> of a device, e.g. "./FwUpdate/fw1" or "./FUMO";
// devices place it differently, so it is configured per device or model.
type Root string

// DefaultRoot is the FUMO root of a device whose record names none.
const DefaultRoot Root = "./FwUpdate/1"

// Validate checks that r is an absolute DM URI ("./..." with no empty, "."
// or ".." segment and no trailing slash).
func (r Root) Validate() error {
	s := string(r)
	if !strings.HasPrefix(s, "./") || len(s) < 3 {
		return fmt.Errorf("fumo: root %q must start with \"./\": %w", s, ErrBadValue)
	}
	for _, seg := range strings.Split(s[2:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("fumo: root %q has an empty or relative segment: %w", s, ErrBadValue)
		}
	}
	return nil
}

func (r Root) child(p string) string { return string(r) + "/" + p }

// PkgName is <x>/PkgName.
func (r Root) PkgName() string { return r.child("PkgName") }

// PkgVersion is <x>/PkgVersion.
func (r Root) PkgVersion() string { return r.child("PkgVersion") }

// State is <x>/State.
func (r Root) State() string { return r.child("State") }

// Node is the node executed for op: <x>/Download, <x>/Update or
// <x>/DownloadAndUpdate.
func (r Root) Node(op Operation) string { return r.child(op.node()) }

// PkgURL is the PkgURL leaf under the node of op (Download or
// DownloadAndUpdate; Update has no PkgURL).
func (r Root) PkgURL(op Operation) (string, error) {
	if op != OpDownload && op != OpDownloadAndUpdate {
		return "", fmt.Errorf("fumo: %v has no PkgURL: %w", op, ErrBadValue)
	}
	return r.child(op.node() + "/PkgURL"), nil
}

// PkgData is <x>/Update/PkgData, the target of a pushed package.
func (r Root) PkgData() string { return r.child("Update/PkgData") }

// Operation is what an Exec asks of the device.
type Operation int

const (
	OpDownload Operation = iota + 1
	OpUpdate
	OpDownloadAndUpdate
)

func (op Operation) node() string {
	switch op {
	case OpDownload:
		return "Download"
	case OpUpdate:
		return "Update"
	case OpDownloadAndUpdate:
		return "DownloadAndUpdate"
	}
	return "Operation?"
}

func (op Operation) String() string { return op.node() }

// AlertType is the Generic Alert type that reports the outcome of op.
func (op Operation) AlertType() AlertType {
	switch op {
	case OpDownload:
		return AlertDownload
	case OpUpdate:
		return AlertUpdate
	}
	return AlertDownloadAndUpdate
}
