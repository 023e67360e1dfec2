// Package syncml owns the SyncML DM 1.2 message: its typed model (Message,
// Header, the commands of a SyncBody, Item, Meta, Cred, Chal), its two wire
// encodings — XML (read and written with github.com/beevik/etree) and WBXML
// (the SyncML and MetInf code pages over dm/wbxml) — and the credential
// maths of OMA DM 1.2 (basic, md5 digest, HMAC) with the Package 0
// notification.
//
// Both decoders build the same small element tree and then one mapping turns
// it into a Message, so XML and WBXML decode to equal values. Decoding is
// lenient where real clients differ (child order, namespaces and their
// quoting, the metinf namespace missing, STR_I/STR_T/OPAQUE for any text, an
// OPAQUE NextNonce carrying raw bytes) and strict where it matters: an
// element the model does not know inside a command is an error naming its
// path, an unknown command in a SyncBody is kept as *Unknown so a server can
// answer it with a status, and a VerDTD/VerProto other than 1.2 and DM/1.2 is
// a *VersionError that still carries the decoded message.
//
// The package is pure: bytes in, values out, no I/O, clocks or randomness.
package syncml
