// Package fumo owns OMA FUMO 1.0 (Firmware Update Management Object) as the
// gateway speaks it over DM 1.2: the State and result-code vocabularies, the
// tree paths under a per-device root, the commands that start an update
// (Replace PkgName/PkgVersion/PkgURL/PkgData, Exec Download/Update/
// DownloadAndUpdate with a Correlator), and the parsing of the Generic Alert
// 1226 that reports the outcome, in the variants real devices send.
//
// The vocabulary and builders are pure; they work on dm/syncml values.
//
// Driver runs FUMO jobs for DM devices on top of the dm command queue: it
// commits each job transition (fleet job states) before it acts, queues
// the commands under ids derived from the job id (so that resuming after a
// restart repeats nothing), wakes the device with a Package 0 when asked,
// follows the Exec status (202 async, 200 with a same-session report,
// errors), matches the Generic Alert 1226 to the job (Correlator first,
// then device, FUMO root and type), verifies ./DevDetail/FwV against the
// package version, and reports progress to a Listener.
package fumo
