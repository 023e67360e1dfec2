// Package dm owns the gateway's OMA DM 1.2 server side: authentication of
// devices and of the server to them (basic, md5 digest, HMAC with nonces),
// the session engine, and the Package 0 trigger with the Notifier that
// delivers it.
//
// Step is the pure core of a DM session: given one decoded client message,
// the stored Session, the device's credentials and its queued commands, it
// returns the reply and everything to store before sending it (the new
// Session, nonces, DevInfo, the outcomes of answered commands). It checks
// MsgIDs, authenticates, answers the SyncHdr and every command with a
// Status, routes Status and Results to the queued command they answer,
// numbers commands (inside Sequence and Atomic too), keeps the reply under
// the device's MaxMsgSize by spreading a package over several messages
// (Alert 1222 both ways), and ends the session per the Final rules.
//
// Not here yet (see the DM server issue): the HTTP handler, persistence of
// sessions and the command queue in the store, large objects (MoreData).
package dm
