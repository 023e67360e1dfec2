// Package bridge owns the gateway's one firmware-update pipeline for DM
// and LwM2M devices alike:
//
//   - Target, the FUMO-shaped operations on one device (deliver the
//     package by URL or by push, Exec the download, the update or both,
//     read the FUMO state, report results as Generic Alerts do), with one
//     implementation over dm/fumo and one over lwm2m/firmware;
//   - the FUMO ⇄ Object 5 mapping tables (State and Update Result to FUMO
//     state and result code);
//   - the job runner: every transition is committed to the store before
//     the gateway acts on it; retries with back-off, a timeout per step
//     and per job, cancel, and resume of every unfinished job after a
//     restart;
//   - campaigns: one package over many devices of either protocol, with
//     a limit on jobs in flight, a rate of starts per minute, a failure
//     threshold that pauses the campaign, and progress by state;
//   - the event stream (job, device and campaign events) the API serves.
package bridge
