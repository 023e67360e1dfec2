// Package dm owns the gateway's OMA DM 1.2 server side: the device-facing
// HTTP endpoint (Server), authentication of devices and of the server to
// them (basic, md5 digest, HMAC with fresh nonces), the session engine, the
// per-device command queue with Status and Results routed back to callers,
// large objects both ways, and the Package 0 trigger with the Notifier
// that delivers it. It is MO-agnostic: FUMO lives in dm/fumo.
//
// Step is the pure core of a DM session: given one decoded client message,
// the stored Session, the device's credentials and its queued commands, it
// returns the reply and everything to store before sending it (the new
// Session, nonces, DevInfo, the outcomes of answered commands). It checks
// MsgIDs, authenticates, answers the SyncHdr and every command with a
// Status, routes Status and Results to the queued command they answer,
// numbers commands (inside Sequence and Atomic too), keeps the reply under
// the device's MaxMsgSize by spreading a package over several messages
// (Alert 1222 both ways), streams a queued blob as a large object one
// chunk per message (read from the store as it goes, never whole), takes
// the client's large objects (213, 424, 416, 1225), and ends the session per
// the Final rules.
//
// Server wraps Step for HTTP: it sniffs the encoding, bounds the body,
// finds the device (refusing unknown ones unless AutoEnrol is set) and the
// session (by device and SessionID, or by the RespURI token it hands out),
// commits the step through the Store interface (implemented by package
// store) before answering, then tells the ResultHandler about finished
// commands. Client alerts it does not handle itself (1226, 1224) go to the
// AlertHandler, whose answer is the alert's Status.
package dm
