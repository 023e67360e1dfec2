package node

import (
	"errors"
	"testing"
)

// FuzzParsePath: a path that parses has at most 4 ids of at most MaxID,
// and its String parses back to it (String is the canonical form); one
// that does not is ErrBadPath.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/", "", "/5/0/3", "3/0/7/1", "/5/0/", "/65534", "/65535", "/01", "//", "/1/2/3/4/5", "/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("ParsePath(%q): untyped error %v", s, err)
			}
			return
		}
		if p.Len() > 4 {
			t.Fatalf("ParsePath(%q) has %d ids", s, p.Len())
		}
		for i := range p.Len() {
			if p.ID(i) > MaxID {
				t.Fatalf("ParsePath(%q): id %d is %d", s, i, p.ID(i))
			}
		}
		back, err := ParsePath(p.String())
		if err != nil || back != p {
			t.Fatalf("ParsePath(%q).String() = %q parses to %v, %v", s, p.String(), back, err)
		}
	})
}
