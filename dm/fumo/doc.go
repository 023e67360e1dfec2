// Package fumo owns OMA FUMO 1.0 (Firmware Update Management Object) as the
// gateway speaks it over DM 1.2: the State and result-code vocabularies, the
// tree paths under a per-device root, the commands that start an update
// (Replace PkgName/PkgVersion/PkgURL/PkgData, Exec Download/Update/
// DownloadAndUpdate with a Correlator), and the parsing of the Generic Alert
// 1226 that reports the outcome, in the variants real devices send.
//
// The vocabulary and builders are pure; they work on dm/syncml values.
package fumo
