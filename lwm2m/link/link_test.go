package link

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Link
	}{
		{"empty", "", nil},
		{"register payload", `</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</5/0>`, []Link{
			{"/", []Param{{"rt", "oma.lwm2m", true}, {"ct", "110", true}}},
			{"/1", []Param{{"ver", "1.1", true}}},
			{"/1/0", nil}, {"/3/0", nil}, {"/5/0", nil},
		}},
		{"discover answer", `</5/0>;pmin=10, </5/0/3>;obs,</5/0/8>;dim=2`, []Link{
			{"/5/0", []Param{{"pmin", "10", true}}},
			{"/5/0/3", []Param{{"obs", "", false}}},
			{"/5/0/8", []Param{{"dim", "2", true}}},
		}},
		{"quoted comma", `</a>;title="x, y";rt="p q"`, []Link{{"/a", []Param{{"title", "x, y", true}, {"rt", "p q", true}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			again, err := Parse(Encode(got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip: %v %+v", err, again)
			}
		})
	}
}

func TestParse_Malformed(t *testing.T) {
	for _, in := range []string{"/3/0", "</3/0", "</3/0>,", "</3/0>;", `</3>;a="x`, "</3/0> </5/0>", `</3>;a=b"c`, "<<a>"} {
		t.Run(in, func(t *testing.T) {
			if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseObjects(t *testing.T) {
	o, err := ParseObjects([]byte(`</lwm2m>;rt="oma.lwm2m";ct=11542,</lwm2m/1>;ver=1.1,</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5/0>,</lwm2m/9>`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Root != "/lwm2m" || o.ContentFormat != 11542 || o.Versions[1] != "1.1" {
		t.Fatalf("%+v", o)
	}
	if want := []string{"/1", "/1/0", "/3/0", "/5/0", "/9"}; !reflect.DeepEqual(o.Instances, want) {
		t.Fatalf("instances %v", o.Instances)
	}
	if !o.Has(5) || !o.Has(9) || o.Has(4) {
		t.Fatal("Has")
	}
	for _, bad := range []string{`</3/0/1>`, `</x>`, `</70000>`, `</>;rt="oma.lwm2m";ct=abc`} {
		if _, err := ParseObjects([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</5/0>`))
	f.Add([]byte(`</5/0>;pmin=10, </5/0/3>;obs`))
	f.Fuzz(func(t *testing.T, b []byte) {
		links, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(Encode(links))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", Encode(links), err)
		}
		if len(again) != len(links) {
			t.Fatalf("round trip changed the link count")
		}
		_, _ = ParseObjects(b)
	})
}
