// Package store owns the gateway's state: one bbolt file holding devices,
// packages (records and their bytes), jobs and campaigns, with the indexes
// that find them. It is the only package that imports bbolt; others declare
// the small interfaces they need and Store implements them.
//
// Layout (one bucket each):
//
//	meta          "schema" -> schema version (8 bytes, big-endian)
//	devices       id -> fleet.Device (JSON)
//	dev_protocol  protocol \x00 id       (index)
//	dev_model     model \x00 id          (index)
//	dev_dmid      DM device id -> id     (unique)
//	dev_endpoint  LwM2M endpoint -> id   (unique)
//	dev_psk       DTLS PSK identity -> id (unique; schema 2)
//	packages      id -> fleet.Package (JSON), only once its bytes are complete
//	pkg_staging   id -> fleet.Package of an upload under way
//	blobs         id -> bucket of chunks: 8-byte big-endian index -> bytes
//	jobs          id -> fleet.Job (JSON)
//	job_state     state \x00 id          (index)
//	job_device    device id \x00 id      (index)
//	job_campaign  campaign id \x00 id    (index)
//	campaigns     id -> fleet.Campaign (JSON)
//
// Durability: every write returns only after its transaction is committed
// and fsynced, so a caller may act on a write as soon as it returns; indexes
// change in the same transaction as their record. Every write goes through
// one group committer: the writes of concurrent callers share a commit and
// its fsync, and a caller alone waits for nobody. A write's function (and a
// callback passed to UpdateDevice or UpdateCampaign) may therefore run more
// than once, in a fresh transaction each time. A package
// upload is written in bounded transactions to pkg_staging and blobs, and
// becomes visible in packages only in a final transaction after its size and
// SHA-256 are verified; Open removes what a crash left in staging.
package store
