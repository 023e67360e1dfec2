package sim

import "errors"

// Errors a DM session of the simulator ends with.
var (
	// ErrAuthRefused: the server refused the device's credentials.
	ErrAuthRefused = errors.New("sim: server refused the credentials")
	// ErrServerAuth: the server's credentials did not verify (at once, or,
	// with DMDevice.ChallengeServer, in too many messages of one session).
	ErrServerAuth = errors.New("sim: server credentials do not verify")
	// ErrProtocol: the server broke the protocol (bad message, no status).
	ErrProtocol = errors.New("sim: protocol error")
	// ErrSessionDropped: the network dropped the session after the device
	// read a server message (DMDevice.DropOnExec); nothing of that message
	// ran and the device sent nothing more.
	ErrSessionDropped = errors.New("sim: session dropped by the network")
	// ErrNoFUMO: a FUMO operation on a device without EnableFUMO.
	ErrNoFUMO = errors.New("sim: the device has no FUMO object")
)
