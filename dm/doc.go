// Package dm owns the gateway's OMA DM 1.2 server side: authentication of
// devices and of the server to them (basic, md5 digest, HMAC with nonces),
// and the Package 0 trigger with the Notifier that delivers it.
//
// The session engine, the HTTP handler and the per-device command queue
// will live here too (see the DM server issue); the pieces in this package
// today are pure decisions (Authenticate) and a small delivery interface
// (Notifier), so the engine can be built on them.
package dm
