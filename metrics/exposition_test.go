package metrics_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/fumo-gw/fumo-gw/metrics"
)

func ExampleWrite() {
	metrics.Write(os.Stdout, []metrics.Family{
		{Name: "fumo_lwm2m_registrations", Help: "LwM2M registrations current.", Type: metrics.Gauge,
			Samples: []metrics.Sample{{Value: 2}}},
		{Name: "fumo_dm_messages_total", Help: "DM client messages answered, by encoding.", Type: metrics.Counter,
			Samples: []metrics.Sample{
				{Labels: []metrics.Label{{Name: "encoding", Value: "xml"}}, Value: 3},
				{Labels: []metrics.Label{{Name: "encoding", Value: "wbxml"}}, Value: 12},
			}},
	})
	// Output:
	// # HELP fumo_dm_messages_total DM client messages answered, by encoding.
	// # TYPE fumo_dm_messages_total counter
	// fumo_dm_messages_total{encoding="wbxml"} 12
	// fumo_dm_messages_total{encoding="xml"} 3
	// # HELP fumo_lwm2m_registrations LwM2M registrations current.
	// # TYPE fumo_lwm2m_registrations gauge
	// fumo_lwm2m_registrations 2
}

// TestWrite_Escapes: help texts and label values with backslashes,
// double quotes, line feeds and non-ASCII come back unchanged through a
// strict reader.
func TestWrite_Escapes(t *testing.T) {
	values := []string{`C:\fw\`, `say "hi"`, "two\nlines", `\n is not a line feed`, "ü €", `\"`, ""}
	f := metrics.Family{Name: "fumo_test_total", Help: "A help\nwith a \\ and \"quotes\".", Type: metrics.Counter}
	for i, v := range values {
		f.Samples = append(f.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "v", Value: v}}, Value: float64(i)})
	}
	var b bytes.Buffer
	if err := metrics.Write(&b, []metrics.Family{f}); err != nil {
		t.Fatal(err)
	}
	e, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	got := e.fams["fumo_test_total"]
	if got.help != f.Help || got.typ != "counter" {
		t.Errorf("help %q type %q", got.help, got.typ)
	}
	for i, v := range values {
		if n, ok := got.value(map[string]string{"v": v}); !ok || n != float64(i) {
			t.Errorf("label value %q: %v %v", v, n, ok)
		}
	}
}

// TestWrite_Values: numbers are written so that they read back exactly.
func TestWrite_Values(t *testing.T) {
	cases := []struct {
		v    float64
		text string
	}{
		{0, "0"}, {7, "7"}, {-3, "-3"}, {1 << 53, "9007199254740992"}, {1.5, "1.5"}, {1e300, "1e+300"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		metrics.Write(&b, []metrics.Family{{Name: "g", Type: metrics.Gauge, Samples: []metrics.Sample{{Value: c.v}}}})
		want := "# TYPE g gauge\ng " + c.text + "\n"
		if b.String() != want {
			t.Errorf("%v: %q, want %q", c.v, b.String(), want)
		}
		e, err := parseExposition(b.String())
		if err != nil {
			t.Fatal(err)
		}
		if got := e.fams["g"].samples[0].value; got != c.v && !(math.IsNaN(got) && math.IsNaN(c.v)) {
			t.Errorf("%v read back as %v", c.v, got)
		}
	}
}

// TestWrite_Stable: the order of families, samples and labels given
// does not change the bytes written.
func TestWrite_Stable(t *testing.T) {
	fams := func() []metrics.Family {
		var out []metrics.Family
		for _, name := range []string{"b_total", "a_total", "c"} {
			f := metrics.Family{Name: name, Help: "h", Type: metrics.Counter}
			for _, x := range []string{"2", "10", "1"} {
				for _, y := range []string{"q", "p"} {
					f.Samples = append(f.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "y", Value: y}, {Name: "x", Value: x}}, Value: 1})
				}
			}
			out = append(out, f)
		}
		return out
	}
	var first bytes.Buffer
	if err := metrics.Write(&first, fams()); err != nil {
		t.Fatal(err)
	}
	e, err := parseExposition(first.String())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(e.order) {
		t.Errorf("families not in name order: %v", e.order)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		fs := fams()
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		for _, f := range fs {
			r.Shuffle(len(f.Samples), func(i, j int) { f.Samples[i], f.Samples[j] = f.Samples[j], f.Samples[i] })
			for _, s := range f.Samples {
				r.Shuffle(len(s.Labels), func(i, j int) { s.Labels[i], s.Labels[j] = s.Labels[j], s.Labels[i] })
			}
		}
		var b bytes.Buffer
		if err := metrics.Write(&b, fs); err != nil {
			t.Fatal(err)
		}
		if b.String() != first.String() {
			t.Fatalf("output depends on input order:\n%s\n---\n%s", first.String(), b.String())
		}
	}
}

// TestWrite_Invalid: what cannot be valid exposition text is refused,
// and nothing is written.
func TestWrite_Invalid(t *testing.T) {
	one := func(labels ...metrics.Label) []metrics.Sample { return []metrics.Sample{{Labels: labels, Value: 1}} }
	cases := []struct {
		name string
		fams []metrics.Family
	}{
		{"empty name", []metrics.Family{{Name: "", Type: metrics.Gauge}}},
		{"name with a dash", []metrics.Family{{Name: "fumo-x", Type: metrics.Gauge}}},
		{"name starting with a digit", []metrics.Family{{Name: "1x", Type: metrics.Gauge}}},
		{"no type", []metrics.Family{{Name: "x"}}},
		{"two families of one name", []metrics.Family{{Name: "x", Type: metrics.Gauge}, {Name: "x", Type: metrics.Counter}}},
		{"label name with a colon", []metrics.Family{{Name: "x", Type: metrics.Gauge, Samples: one(metrics.Label{Name: "a:b", Value: "v"})}}},
		{"reserved label name", []metrics.Family{{Name: "x", Type: metrics.Gauge, Samples: one(metrics.Label{Name: "__name__", Value: "v"})}}},
		{"label twice", []metrics.Family{{Name: "x", Type: metrics.Gauge, Samples: one(metrics.Label{Name: "a", Value: "1"}, metrics.Label{Name: "a", Value: "2"})}}},
		{"value not UTF-8", []metrics.Family{{Name: "x", Type: metrics.Gauge, Samples: one(metrics.Label{Name: "a", Value: "\xff"})}}},
		{"series twice", []metrics.Family{{Name: "x", Type: metrics.Gauge, Samples: append(one(), one()...)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := metrics.Write(&b, c.fams); !errors.Is(err, metrics.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %q", b.String())
			}
		})
	}
}
