package fleet

import "strings"

// VerifyVersion tells whether a job's success is checked against the
// device's firmware version: the job's setting, else the package's, else
// def (the gateway's default, on).
func VerifyVersion(j *Job, p *Package, def bool) bool {
	switch {
	case j != nil && j.Verify != nil:
		return *j.Verify
	case p != nil && p.Verify != nil:
		return *p.Verify
	}
	return def
}

// NormalizeVersion is a firmware version as compared: surrounding space
// trimmed, lower case, without a leading "v" before a digit ("V2.0 " and
// "2.0" are the same version). Devices format the version they report in
// ./DevDetail/FwV or /3/0/3 their own way.
func NormalizeVersion(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	return v
}

// SameVersion compares two firmware versions after NormalizeVersion; an
// empty version matches nothing.
func SameVersion(a, b string) bool {
	na, nb := NormalizeVersion(a), NormalizeVersion(b)
	return na != "" && na == nb
}
