package link

import (
	"fmt"
	"strconv"
	"strings"
)

// Objects is what a Register or Update payload says about the client: its
// alternate root path, preferred content format, object versions and the
// object instances it has.
type Objects struct {
	Root          string            // "" or e.g. "/lwm2m" (from rt="oma.lwm2m")
	ContentFormat int               // ct= on the root link, -1 when absent
	Versions      map[uint16]string // object id -> ver= (absent: default)
	Instances     []string          // "/3/0", "/5/0" and bare objects "/9"
}

// ParseObjects reads a registration payload.
func ParseObjects(b []byte) (Objects, error) {
	links, err := Parse(b)
	if err != nil {
		return Objects{}, err
	}
	o := Objects{ContentFormat: -1, Versions: map[uint16]string{}}
	for _, l := range links {
		if rt, _ := l.Param("rt"); rt == "oma.lwm2m" {
			o.Root = strings.TrimSuffix(l.Target, "/")
			if ct, ok := l.Param("ct"); ok {
				first, _, _ := strings.Cut(strings.TrimSpace(ct), " ")
				n, err := strconv.Atoi(first)
				if err != nil || n < 0 || n > 65535 {
					return Objects{}, fmt.Errorf("%w: root link: bad ct %q", ErrMalformed, ct)
				}
				o.ContentFormat = n
			}
			continue
		}
		t := strings.TrimPrefix(l.Target, o.Root)
		ids := strings.Split(strings.Trim(t, "/"), "/")
		if t == "" || len(ids) > 2 {
			return Objects{}, fmt.Errorf("%w: link %q is not an object or object instance", ErrMalformed, l.Target)
		}
		var nums [2]uint64
		for i, id := range ids {
			n, err := strconv.ParseUint(id, 10, 16)
			if err != nil || n > 65534 {
				return Objects{}, fmt.Errorf("%w: link %q: bad id %q", ErrMalformed, l.Target, id)
			}
			nums[i] = n
		}
		if v, ok := l.Param("ver"); ok {
			o.Versions[uint16(nums[0])] = v
		}
		o.Instances = append(o.Instances, "/"+strings.Join(ids, "/"))
	}
	return o, nil
}

// Has tells whether the client declared the object (with or without
// instances).
func (o Objects) Has(object uint16) bool {
	p := "/" + strconv.Itoa(int(object))
	for _, in := range o.Instances {
		if in == p || strings.HasPrefix(in, p+"/") {
			return true
		}
	}
	return false
}
