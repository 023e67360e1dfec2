package node

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // String() of the result; "" for an error
		len  int
	}{
		{"root", "/", "/", 0},
		{"empty is root", "", "/", 0},
		{"object", "/5", "/5", 1},
		{"instance", "/5/0", "/5/0", 2},
		{"resource", "/5/0/3", "/5/0/3", 3},
		{"resource instance", "/3/0/7/1", "/3/0/7/1", 4},
		{"no leading slash, trailing slash", "5/0/3/", "/5/0/3", 3},
		{"largest id", "/65534", "/65534", 1},
		{"zero", "/0/0/0/0", "/0/0/0/0", 4},
		{"reserved id", "/65535", "", 0},
		{"beyond 16 bits", "/70000", "", 0},
		{"leading zero", "/01", "", 0},
		{"letter", "/a", "", 0},
		{"sign", "/+5", "", 0},
		{"negative", "/-1", "", 0},
		{"empty id", "/5//3", "", 0},
		{"too long", "/1/2/3/4/5", "", 0},
		{"space", "/5/ 0", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrBadPath) {
					t.Errorf("ParsePath(%q) = %v, %v; want ErrBadPath", tt.in, p, err)
				}
				return
			}
			if err != nil || p.String() != tt.want || p.Len() != tt.len {
				t.Errorf("ParsePath(%q) = %v (len %d), %v; want %s (len %d)", tt.in, p, p.Len(), err, tt.want, tt.len)
			}
			if p != MustPath(p.String()) {
				t.Errorf("%v does not parse back to itself", p)
			}
		})
	}
}

func TestMustPath_Panics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustPath(\"/a\") did not panic")
		}
	}()
	MustPath("/a")
}

func TestPath_Methods(t *testing.T) {
	p := MustPath("/5/0/3")
	if o, ok := p.Object(); o != 5 || !ok {
		t.Errorf("Object = %d, %v", o, ok)
	}
	if i, ok := p.Instance(); i != 0 || !ok {
		t.Errorf("Instance = %d, %v", i, ok)
	}
	if r, ok := p.Resource(); r != 3 || !ok {
		t.Errorf("Resource = %d, %v", r, ok)
	}
	if _, ok := p.ResourceInstance(); ok {
		t.Error("ResourceInstance of a resource path")
	}
	if p.ID(2) != 3 {
		t.Errorf("ID(2) = %d", p.ID(2))
	}
	if got := NewPath(5, 0, 3); got != p {
		t.Errorf("NewPath = %v", got)
	}

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Append", p.Append(1).String(), "/5/0/3/1"},
		{"Append to root", Path{}.Append(5).String(), "/5"},
		{"Parent", p.Parent().String(), "/5/0"},
		{"Parent equals parsed", p.Parent() == MustPath("/5/0"), true},
		{"Parent of root", Path{}.Parent().String(), "/"},
		{"Parent then Append", p.Parent().Append(3) == p, true},
		{"HasPrefix self", p.HasPrefix(p), true},
		{"HasPrefix parent", p.HasPrefix(MustPath("/5/0")), true},
		{"HasPrefix root", p.HasPrefix(Path{}), true},
		{"HasPrefix other", p.HasPrefix(MustPath("/5/1")), false},
		{"HasPrefix longer", MustPath("/5/0").HasPrefix(p), false},
		{"Compare equal", p.Compare(MustPath("/5/0/3")), 0},
		{"Compare parent first", MustPath("/3").Compare(MustPath("/3/0")) < 0, true},
		{"Compare depth first", MustPath("/3/0/1").Compare(MustPath("/4")) < 0, true},
		{"Compare numeric", MustPath("/5/0/9").Compare(MustPath("/5/0/10")) < 0, true},
		{"Compare greater", MustPath("/5/1").Compare(MustPath("/5/0/3")) > 0, true},
		{"String root", Path{}.String(), "/"},
		{"String", MustPath("/3/0/7/1").String(), "/3/0/7/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestPath_Panics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"Append to a full path", func() { MustPath("/1/2/3/4").Append(5) }},
		{"ID beyond Len", func() { MustPath("/5").ID(1) }},
		{"NewPath of 5 ids", func() { NewPath(1, 2, 3, 4, 5) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestValue_Int(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want int64
		ok   bool
	}{
		{"integer", Integer(-5), -5, true},
		{"time", Time(time.Unix(1700000000, 0)), 1700000000, true},
		{"boolean", Boolean(true), 1, true},
		{"unsigned", Unsigned(7), 7, true},
		{"unsigned beyond int64", Unsigned(math.MaxUint64), 0, false},
		{"integral float", Float(3), 3, true},
		{"fractional float", Float(3.5), 0, false},
		{"raw 1 byte", RawBinary([]byte{0x05}), 5, true},
		{"raw 1 byte negative", RawBinary([]byte{0xff}), -1, true},
		{"raw 2 bytes negative", RawBinary([]byte{0xff, 0x7f}), -129, true},
		{"raw 4 bytes", RawBinary([]byte{0x00, 0x01, 0x00, 0x00}), 65536, true},
		{"raw 4 bytes negative", RawBinary([]byte{0xff, 0xff, 0x7f, 0xff}), -32769, true},
		{"raw 8 bytes", RawBinary([]byte{0, 0, 0, 1, 0, 0, 0, 0}), 1 << 32, true},
		{"raw 8 bytes negative", RawBinary([]byte{0x80, 0, 0, 0, 0, 0, 0, 0}), math.MinInt64, true},
		{"raw 3 bytes", RawBinary([]byte{0, 0, 1}), 0, false},
		{"raw empty", RawBinary(nil), 0, false},
		{"raw text", RawText("-42"), -42, true},
		{"raw text not a number", RawText("4x"), 0, false},
		{"string", String("1"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Int()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("Int() = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrType) {
				t.Errorf("error %v does not wrap ErrType", err)
			}
		})
	}
}

func TestValue_Uint(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want uint64
		ok   bool
	}{
		{"unsigned", Unsigned(math.MaxUint64), math.MaxUint64, true},
		{"integer", Integer(5), 5, true},
		{"negative integer", Integer(-1), 0, false},
		{"raw 1 byte is unsigned", RawBinary([]byte{0xff}), 255, true},
		{"raw 8 bytes", RawBinary([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), math.MaxUint64, true},
		{"raw 3 bytes", RawBinary([]byte{1, 2, 3}), 0, false},
		{"raw text", RawText("18446744073709551615"), math.MaxUint64, true},
		{"raw text negative", RawText("-1"), 0, false},
		{"string", String("1"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Uint()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("Uint() = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestValue_Float64(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want float64
		ok   bool
	}{
		{"float", Float(0.1), 0.1, true},
		{"integer", Integer(-3), -3, true},
		{"unsigned", Unsigned(3), 3, true},
		{"raw 4 bytes", RawBinary([]byte{0x3f, 0xc0, 0, 0}), 1.5, true},
		{"raw 8 bytes", RawBinary([]byte{0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a}), 0.1, true},
		{"raw 2 bytes", RawBinary([]byte{0x3f, 0xc0}), 0, false},
		{"raw text", RawText("-1.5e3"), -1500, true},
		{"raw text not a number", RawText("x"), 0, false},
		{"boolean", Boolean(true), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Float64()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("Float64() = %v, %v; want %v, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestValue_Bool(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want bool
		ok   bool
	}{
		{"true", Boolean(true), true, true},
		{"false", Boolean(false), false, true},
		{"raw 1", RawBinary([]byte{1}), true, true},
		{"raw 0", RawBinary([]byte{0}), false, true},
		{"raw 2", RawBinary([]byte{2}), false, false},
		{"raw 2 bytes", RawBinary([]byte{0, 1}), false, false},
		{"text 1", RawText("1"), true, true},
		{"text 0", RawText("0"), false, true},
		{"text true", RawText("true"), false, false},
		{"integer", Integer(1), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Bool()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("Bool() = %v, %v; want %v, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestValue_StrBytesObjLink(t *testing.T) {
	strs := []struct {
		name string
		v    Value
		want string
		ok   bool
	}{
		{"string", String("a"), "a", true},
		{"corelnk", Corelnk("</1>"), "</1>", true},
		{"raw text", RawText("b"), "b", true},
		{"raw binary", RawBinary([]byte("c")), "c", true},
		{"opaque", Opaque([]byte("d")), "d", true},
		{"integer", Integer(1), "", false},
	}
	for _, tt := range strs {
		t.Run("Str "+tt.name, func(t *testing.T) {
			got, err := tt.v.Str()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("Str() = %q, %v; want %q, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
	bytesCases := []struct {
		name string
		v    Value
		want string
		ok   bool
	}{
		{"opaque", Opaque([]byte{1, 2}), "\x01\x02", true},
		{"raw binary", RawBinary([]byte{3}), "\x03", true},
		{"string", String("ab"), "ab", true},
		{"raw text", RawText("cd"), "cd", true},
		{"integer", Integer(1), "", false},
	}
	for _, tt := range bytesCases {
		t.Run("Bytes "+tt.name, func(t *testing.T) {
			got, err := tt.v.Bytes()
			if tt.ok != (err == nil) || string(got) != tt.want {
				t.Errorf("Bytes() = %x, %v; want %x, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
	links := []struct {
		name string
		v    Value
		want ObjLink
		ok   bool
	}{
		{"objlnk", Link(3, 1), ObjLink{3, 1}, true},
		{"raw 4 bytes", RawBinary([]byte{0, 3, 0xff, 0xff}), ObjLink{3, 65535}, true},
		{"raw 3 bytes", RawBinary([]byte{0, 3, 0}), ObjLink{}, false},
		{"raw text", RawText("3:0"), ObjLink{3, 0}, true},
		{"raw text without colon", RawText("3"), ObjLink{}, false},
		{"raw text beyond 16 bits", RawText("3:65536"), ObjLink{}, false},
		{"string", String("3:0"), ObjLink{}, false},
	}
	for _, tt := range links {
		t.Run("ObjLink "+tt.name, func(t *testing.T) {
			got, err := tt.v.ObjLink()
			if tt.ok != (err == nil) || got != tt.want {
				t.Errorf("ObjLink() = %v, %v; want %v, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
	if s := (ObjLink{3, 0}).String(); s != "3:0" {
		t.Errorf("ObjLink.String() = %q", s)
	}
}

func TestValue_As(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		t    Type
		want Value
		ok   bool
	}{
		{"raw to integer", RawBinary([]byte{0xff}), TypeInteger, Integer(-1), true},
		{"raw to unsigned", RawBinary([]byte{0xff}), TypeUnsigned, Unsigned(255), true},
		{"raw to float", RawBinary([]byte{0x3f, 0xc0, 0, 0}), TypeFloat, Float(1.5), true},
		{"raw to boolean", RawBinary([]byte{1}), TypeBoolean, Boolean(true), true},
		{"raw to string", RawBinary([]byte("1.0")), TypeString, String("1.0"), true},
		{"raw to corelnk", RawBinary([]byte("</1>")), TypeCorelnk, Corelnk("</1>"), true},
		{"raw to opaque", RawBinary([]byte{9}), TypeOpaque, Opaque([]byte{9}), true},
		{"raw to time", RawBinary([]byte{0x65, 0x53, 0xf1, 0x00}), TypeTime, Time(time.Unix(1700000000, 0)), true},
		{"raw to objlnk", RawBinary([]byte{0, 3, 0, 0}), TypeObjlnk, Link(3, 0), true},
		{"text to integer", RawText("12"), TypeInteger, Integer(12), true},
		{"text to boolean", RawText("0"), TypeBoolean, Boolean(false), true},
		{"text to objlnk", RawText("5:1"), TypeObjlnk, Link(5, 1), true},
		{"integer to time", Integer(10), TypeTime, Time(time.Unix(10, 0)), true},
		{"time to integer", Time(time.Unix(10, 0)), TypeInteger, Integer(10), true},
		{"same type", String("x"), TypeString, String("x"), true},
		{"to none", Integer(1), TypeNone, Value{}, true},
		{"raw 3 bytes to integer", RawBinary([]byte{0, 0, 1}), TypeInteger, Integer(0), false},
		{"text to boolean fails", RawText("yes"), TypeBoolean, Boolean(false), false},
		{"to raw binary", Integer(1), TypeRawBinary, Value{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.As(tt.t)
			if tt.ok != (err == nil) {
				t.Fatalf("As(%s) = %v, %v; want ok %v", tt.t, got, err, tt.ok)
			}
			if tt.ok && !got.Equal(tt.want) {
				t.Errorf("As(%s) = %v (%s), want %v (%s)", tt.t, got, got.Type(), tt.want, tt.want.Type())
			}
		})
	}
}

func TestValue_EqualAndString(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		str  string
	}{
		{"none", Value{}, "<none>"},
		{"string", String("a"), `"a"`},
		{"integer", Integer(-1), "-1"},
		{"unsigned", Unsigned(1), "1"},
		{"float", Float(0.5), "0.5"},
		{"boolean", Boolean(true), "true"},
		{"opaque", Opaque([]byte{0xab}), "ab"},
		{"time", Time(time.Unix(5, 0)), "5"},
		{"objlnk", Link(1, 2), "1:2"},
		{"raw text", RawText("x"), `"x"`},
		{"raw binary", RawBinary([]byte{1}), "01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := tt.v.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			if !tt.v.Equal(tt.v) {
				t.Error("not Equal to itself")
			}
		})
	}
	if Integer(1).Equal(Time(time.Unix(1, 0))) {
		t.Error("Integer equals Time")
	}
	if !Float(math.NaN()).Equal(Float(math.NaN())) {
		t.Error("NaN not Equal to NaN")
	}
	if !Opaque(nil).Equal(Opaque([]byte{})) {
		t.Error("nil and empty opaque differ")
	}
	if TypeObjlnk.String() != "objlnk" || Type(99).String() != "type(99)" {
		t.Errorf("Type.String: %s %s", TypeObjlnk, Type(99))
	}
}

func TestModels(t *testing.T) {
	for _, id := range []uint16{ObjectServer, ObjectDevice, ObjectFirmwareUpdate, ObjectSoftwareManagement} {
		m, ok := Model(id)
		if !ok || m.ID != id {
			t.Fatalf("Model(%d) = %v, %v", id, m, ok)
		}
		// Resource searches a sorted list.
		for i := 1; i < len(m.Resources); i++ {
			if m.Resources[i-1].ID >= m.Resources[i].ID {
				t.Errorf("object %d: resources not sorted at %d", id, m.Resources[i].ID)
			}
		}
		for _, r := range m.Resources {
			if got, ok := m.Resource(r.ID); !ok || got != r {
				t.Errorf("object %d: Resource(%d) = %v, %v", id, r.ID, got, ok)
			}
		}
	}
	if _, ok := Model(4); ok {
		t.Error("Model(4) known")
	}
	fw, _ := Model(ObjectFirmwareUpdate)
	if _, ok := fw.Resource(4); ok {
		t.Error("/5/x/4 exists")
	}
	if r, ok := ResourceOf(MustPath("/5/0/8/1")); !ok || !r.Multiple || r.Type != TypeInteger {
		t.Errorf("ResourceOf(/5/0/8/1) = %v, %v", r, ok)
	}
	if _, ok := ResourceOf(MustPath("/5/0")); ok {
		t.Error("ResourceOf an instance path")
	}
	ops := []struct {
		o       Operations
		r, w, e bool
	}{{"R", true, false, false}, {"W", false, true, false}, {"RW", true, true, false}, {"E", false, false, true}, {"", false, false, false}}
	for _, tt := range ops {
		if tt.o.Readable() != tt.r || tt.o.Writable() != tt.w || tt.o.Executable() != tt.e {
			t.Errorf("Operations %q", tt.o)
		}
	}
}

func TestTyped(t *testing.T) {
	rec := func(p string, v Value) Record { return Record{Path: MustPath(p), Value: v} }
	// The Read of /5/0 from the reference, as TLV decodes it.
	in := []Record{
		rec("/5/0/3", RawBinary([]byte{1})),
		rec("/5/0/5", RawBinary([]byte{0})),
		rec("/5/0/6", RawBinary([]byte("lwm2mclient"))),
		rec("/5/0/7", RawBinary([]byte("1.0"))),
		rec("/5/0/8/0", RawBinary([]byte{0})),
		rec("/5/0/8/1", RawBinary([]byte{1})),
		rec("/5/0/9", RawBinary([]byte{1})),
		rec("/5/0/99", RawBinary([]byte{7})),  // unknown resource: stays raw
		rec("/5/0/2", RawBinary(nil)),         // executable: stays raw
		rec("/5/0/13", Integer(3)),            // already typed: untouched
		rec("/42/0/1", RawText("x")),          // unknown object
		rec("/5/0/14", RawText("1")),          // text
		rec("/5/0/12", RawText("1700000000")), // time from text
	}
	want := []Record{
		rec("/5/0/3", Integer(1)),
		rec("/5/0/5", Integer(0)),
		rec("/5/0/6", String("lwm2mclient")),
		rec("/5/0/7", String("1.0")),
		rec("/5/0/8/0", Integer(0)),
		rec("/5/0/8/1", Integer(1)),
		rec("/5/0/9", Integer(1)),
		rec("/5/0/99", RawBinary([]byte{7})),
		rec("/5/0/2", RawBinary(nil)),
		rec("/5/0/13", Integer(3)),
		rec("/42/0/1", RawText("x")),
		rec("/5/0/14", Boolean(true)),
		rec("/5/0/12", Time(time.Unix(1700000000, 0))),
	}
	got, err := Typed(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].Path != want[i].Path || !got[i].Value.Equal(want[i].Value) {
			t.Errorf("record %d = %v (%s), want %v (%s)", i, got[i], got[i].Value.Type(), want[i], want[i].Value.Type())
		}
	}
	if !in[0].Value.Equal(RawBinary([]byte{1})) {
		t.Error("Typed changed its input")
	}

	_, err = Typed([]Record{rec("/5/0/3", RawBinary([]byte{0, 0, 1}))})
	if !errors.Is(err, ErrType) || err.Error() != "/5/0/3: lwm2m: value type: raw-binary value read as integer" {
		t.Errorf("Typed of 3 bytes as integer: %v", err)
	}
}

func ExampleParsePath() {
	p, err := ParsePath("/5/0/3")
	if err != nil {
		panic(err)
	}
	fmt.Println(p, p.Len(), p.Parent(), p.Append(1))
	_, err = ParsePath("/5/01")
	fmt.Println(err)
	// Output:
	// /5/0/3 3 /5/0 /5/0/3/1
	// lwm2m: bad path: "/5/01": id 2 is "01"
}

func TestParsePath_DoubleSlash(t *testing.T) {
	if _, err := ParsePath("//"); err == nil {
		t.Fatal(`"//" parsed`)
	}
}

func TestObjLink_StrictText(t *testing.T) {
	for _, s := range []string{"3:0abc", " 3: 4", "3", "70000:1"} {
		if _, err := RawText(s).ObjLink(); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if l, err := RawText("3:4").ObjLink(); err != nil || l != (ObjLink{3, 4}) {
		t.Fatalf("%v %v", l, err)
	}
}

func TestModel_IsACopy(t *testing.T) {
	m, _ := Model(5)
	m.Resources[0].Name = "changed"
	if again, _ := Model(5); again.Resources[0].Name == "changed" {
		t.Fatal("Model shares its resources")
	}
}
