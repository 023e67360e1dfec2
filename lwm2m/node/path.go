package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadPath: a path is not /o[/i[/r[/ri]]] with ids 0..65534.
var ErrBadPath = errors.New("lwm2m: bad path")

// MaxID is the largest object, instance or resource id; 65535 is reserved.
const MaxID = 65534

// Path is an LwM2M path of 0 to 4 ids: "/", "/5", "/5/0", "/5/0/3",
// "/3/0/7/1". The zero Path is the root.
type Path struct {
	ids [4]uint16
	n   uint8
}

// NewPath builds a path from ids; it panics on more than 4 ids (a
// programming error).
func NewPath(ids ...uint16) Path {
	if len(ids) > 4 {
		panic("lwm2m: path longer than 4")
	}
	var p Path
	copy(p.ids[:], ids)
	p.n = uint8(len(ids))
	return p
}

// ParsePath parses "/5/0/3" (the leading slash is optional, a trailing
// one is ignored).
func ParsePath(s string) (Path, error) {
	if s == "" || s == "/" {
		return Path{}, nil
	}
	t := strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/")
	if t == "" {
		return Path{}, fmt.Errorf("%w: %q", ErrBadPath, s)
	}
	parts := strings.Split(t, "/")
	if len(parts) > 4 {
		return Path{}, fmt.Errorf("%w: %q has more than 4 ids", ErrBadPath, s)
	}
	var p Path
	for i, part := range parts {
		v, err := strconv.ParseUint(part, 10, 16)
		if err != nil || v > MaxID || (len(part) > 1 && part[0] == '0') {
			return Path{}, fmt.Errorf("%w: %q: id %d is %q", ErrBadPath, s, i+1, part)
		}
		p.ids[i] = uint16(v)
	}
	p.n = uint8(len(parts))
	return p, nil
}

// MustPath is ParsePath for constants; it panics on a bad path.
func MustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Len is the number of ids: 0 root, 1 object, 2 instance, 3 resource,
// 4 resource instance.
func (p Path) Len() int { return int(p.n) }

// ID returns the i-th id (0-based); it panics beyond Len.
func (p Path) ID(i int) uint16 {
	if i >= int(p.n) {
		panic("lwm2m: path id out of range")
	}
	return p.ids[i]
}

// Object, Instance, Resource and ResourceInstance return the id at that
// level and whether the path has it.
func (p Path) Object() (uint16, bool)           { return p.ids[0], p.n >= 1 }
func (p Path) Instance() (uint16, bool)         { return p.ids[1], p.n >= 2 }
func (p Path) Resource() (uint16, bool)         { return p.ids[2], p.n >= 3 }
func (p Path) ResourceInstance() (uint16, bool) { return p.ids[3], p.n >= 4 }

// Append returns the path one level down; it panics on a full path.
func (p Path) Append(id uint16) Path {
	if p.n == 4 {
		panic("lwm2m: path longer than 4")
	}
	p.ids[p.n] = id
	p.n++
	return p
}

// Parent returns the path one level up (the root's parent is the root).
func (p Path) Parent() Path {
	if p.n == 0 {
		return p
	}
	p.n--
	p.ids[p.n] = 0
	return p
}

// HasPrefix tells whether q is p or one of its ancestors.
func (p Path) HasPrefix(q Path) bool {
	if q.n > p.n {
		return false
	}
	for i := 0; i < int(q.n); i++ {
		if p.ids[i] != q.ids[i] {
			return false
		}
	}
	return true
}

// String renders "/5/0/3"; the root is "/".
func (p Path) String() string {
	if p.n == 0 {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < int(p.n); i++ {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(p.ids[i])))
	}
	return b.String()
}

// Compare orders paths depth-first (/3 < /3/0 < /3/0/1 < /4).
func (p Path) Compare(q Path) int {
	for i := 0; i < int(min(p.n, q.n)); i++ {
		if p.ids[i] != q.ids[i] {
			if p.ids[i] < q.ids[i] {
				return -1
			}
			return 1
		}
	}
	return int(p.n) - int(q.n)
}
