// Package fleet owns the gateway's shared vocabulary: devices (DM and
// LwM2M), firmware packages, jobs and campaigns, their states, outcome
// reasons and validation. Every other package speaks these types; fleet
// depends on nothing but the standard library.
//
// Secrets (passwords, PSK keys) are of type Secret, which never prints or
// logs its value (fmt, %v, slog) yet is kept by JSON for storage.
package fleet
