package metrics

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ContentType is the media type of the text exposition format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family's type. Only the two this gateway needs exist.
type Type int

const (
	// Counter only goes up (and back to zero when the process restarts).
	Counter Type = iota + 1
	// Gauge goes up and down.
	Gauge
)

func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Label is one label of a sample.
type Label struct{ Name, Value string }

// Sample is one time series' current value.
type Sample struct {
	Labels []Label
	Value  float64
}

// Family is a metric: its name, help text, type and samples.
type Family struct {
	Name, Help string
	Type       Type
	Samples    []Sample
}

// ErrInvalid: a family Write cannot render as valid exposition text.
var ErrInvalid = errors.New("metrics: invalid family")

// Write renders families in the text exposition format 0.0.4: per family
// a HELP line (unless Help is empty) and a TYPE line, then its samples. Families come in name order,
// labels in name order, samples in the order of their label values, so
// the same figures always give the same bytes. Help texts and label
// values are escaped as the format says. A family Write cannot render
// (a bad metric or label name, a repeated family or series, label values
// that are not UTF-8) is an error wrapping ErrInvalid, and nothing is
// written.
func Write(w io.Writer, fams []Family) error {
	sorted, err := normalize(fams)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, f := range sorted {
		if f.Help != "" {
			bw.WriteString("# HELP " + f.Name + " " + escapeHelp(f.Help) + "\n")
		}
		bw.WriteString("# TYPE " + f.Name + " " + f.Type.String() + "\n")
		for _, s := range f.Samples {
			bw.WriteString(f.Name)
			if len(s.Labels) > 0 {
				bw.WriteString(labelString(s.Labels))
			}
			bw.WriteString(" " + formatValue(s.Value) + "\n")
		}
	}
	return bw.Flush()
}

// normalize checks fams and returns copies sorted for output.
func normalize(fams []Family) ([]Family, error) {
	out := make([]Family, len(fams))
	names := map[string]bool{}
	for i, f := range fams {
		if !validName(f.Name, true) {
			return nil, fmt.Errorf("%w: metric name %q", ErrInvalid, f.Name)
		}
		if names[f.Name] {
			return nil, fmt.Errorf("%w: %s: two families of that name", ErrInvalid, f.Name)
		}
		names[f.Name] = true
		if f.Type != Counter && f.Type != Gauge {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, f.Name, f.Type)
		}
		samples := make([]Sample, len(f.Samples))
		keys := map[string]bool{}
		for j, s := range f.Samples {
			labels := slices.Clone(s.Labels)
			slices.SortFunc(labels, func(a, b Label) int { return cmp.Compare(a.Name, b.Name) })
			for k, l := range labels {
				if !validName(l.Name, false) || strings.HasPrefix(l.Name, "__") {
					return nil, fmt.Errorf("%w: %s: label name %q", ErrInvalid, f.Name, l.Name)
				}
				if k > 0 && labels[k-1].Name == l.Name {
					return nil, fmt.Errorf("%w: %s: label %s twice", ErrInvalid, f.Name, l.Name)
				}
				if !utf8.ValidString(l.Value) {
					return nil, fmt.Errorf("%w: %s: label %s: value is not UTF-8", ErrInvalid, f.Name, l.Name)
				}
			}
			key := labelString(labels)
			if keys[key] {
				return nil, fmt.Errorf("%w: %s%s: two samples of that series", ErrInvalid, f.Name, key)
			}
			keys[key] = true
			samples[j] = Sample{Labels: labels, Value: s.Value}
		}
		slices.SortFunc(samples, func(a, b Sample) int { return compareLabels(a.Labels, b.Labels) })
		f.Samples = samples
		out[i] = f
	}
	slices.SortFunc(out, func(a, b Family) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// compareLabels orders label sets (sorted by name) by their names and
// values, pair by pair.
func compareLabels(a, b []Label) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := cmp.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// validName: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, no colon for labels.
func validName(s string, metric bool) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' && metric || c >= '0' && c <= '9' && i > 0
		if !ok {
			return false
		}
	}
	return true
}

// labelString renders {a="x",b="y"} (labels sorted by name).
func labelString(labels []Label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// The format escapes a backslash and a line feed in help texts, and a
// double quote too in label values.
var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// formatValue writes whole numbers without an exponent up to 2^53 (the
// counters are integers) and anything else in Go's shortest form, which
// Prometheus parses; infinities and NaN as the format spells them.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) <= 1<<53:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
