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
// session (by the RespURI token it hands out, or by device and SessionID:
// see sessions.go for how real clients' reused SessionIDs and
// retransmissions are told apart), commits the step through the Store
// interface (implemented by package store) before answering, keeping the
// reply so that a retransmitted message gets the same bytes, then tells
// the ResultHandler about finished commands; what the handler queues then
// still goes out in the same session when the step had nothing left to
// send (Continue). A message that fails authentication changes nothing
// stored: its challenge's nonce, and a session not stored yet, wait in
// memory for the device's next message; auto-enrolment stores a device
// only with the step in which it authenticated. Client alerts it does not
// handle itself (1226, 1224) go to the AlertHandler, whose answer is the
// alert's Status.
//
// Real clients differ from the reference in ways the engine follows: no
// LocName (the device's user name is used), a server credential type of
// their own (a challenge naming another type, or a fresh nonce, changes
// what the server sends, even from a message whose own credentials fail),
// a refusal of the server's credentials (401/407 on its SyncHdr: that
// message's commands were not run and go again, at most twice a session).
// Commands a device may act on unseen (AtMostOnce: a FUMO Exec) are never
// sent twice; a session that ends without their status reports them
// unanswered to their owner.
package dm
