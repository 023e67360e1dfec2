package metrics_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// A strict reader of the text exposition format 0.0.4, for the tests: it
// refuses anything a Prometheus server would refuse, and more (blank
// lines, a sample before its TYPE, a family split in two, trailing
// commas) that this package never writes.

type parsedSample struct {
	labels map[string]string
	value  float64
}

type parsedFamily struct {
	name, help, typ string
	hasHelp         bool
	samples         []parsedSample
}

// value is the sample whose labels are exactly labels (nil: none).
func (f *parsedFamily) value(labels map[string]string) (float64, bool) {
	for _, s := range f.samples {
		if len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// sum adds up all samples of the family.
func (f *parsedFamily) sum() float64 {
	var t float64
	for _, s := range f.samples {
		t += s.value
	}
	return t
}

type exposition struct {
	order []string // family names in the order they came
	fams  map[string]*parsedFamily
}

func parseExposition(text string) (*exposition, error) {
	e := &exposition{fams: map[string]*parsedFamily{}}
	if text == "" {
		return e, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("the last line does not end with a line feed")
	}
	var cur *parsedFamily
	closed := map[string]bool{}
	// enter makes name the current family, refusing to reopen one.
	enter := func(name string) (*parsedFamily, error) {
		if cur != nil && cur.name == name {
			return cur, nil
		}
		if cur != nil {
			closed[cur.name] = true
		}
		if closed[name] {
			return nil, fmt.Errorf("family %s continues after another one", name)
		}
		f := e.fams[name]
		if f == nil {
			f = &parsedFamily{name: name}
			e.fams[name] = f
			e.order = append(e.order, name)
		}
		cur = f
		return f, nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if err := parseLine(line, enter); err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
	}
	return e, nil
}

func parseLine(line string, enter func(string) (*parsedFamily, error)) error {
	switch {
	case line == "":
		return fmt.Errorf("blank line")
	case strings.HasPrefix(line, "# HELP "), strings.HasPrefix(line, "# TYPE "):
		rest := line[len("# HELP "):]
		name, arg, ok := strings.Cut(rest, " ")
		if !ok || !metricName(name) {
			return fmt.Errorf("bad metric name")
		}
		f, err := enter(name)
		if err != nil {
			return err
		}
		if len(f.samples) > 0 {
			return fmt.Errorf("%s after the samples", line[2:6])
		}
		if strings.HasPrefix(line, "# HELP ") {
			if f.hasHelp {
				return fmt.Errorf("second HELP")
			}
			h, err := unescape(arg, false)
			if err != nil {
				return err
			}
			f.help, f.hasHelp = h, true
			return nil
		}
		if f.typ != "" {
			return fmt.Errorf("second TYPE")
		}
		switch arg {
		case "counter", "gauge", "histogram", "summary", "untyped":
			f.typ = arg
			return nil
		}
		return fmt.Errorf("unknown type %q", arg)
	case strings.HasPrefix(line, "#"):
		return nil // a comment
	}
	n := 0
	for n < len(line) && (isNameByte(line[n], true) && (n > 0 || line[n] < '0' || line[n] > '9')) {
		n++
	}
	name, rest := line[:n], line[n:]
	if !metricName(name) {
		return fmt.Errorf("bad metric name")
	}
	f, err := enter(name)
	if err != nil {
		return err
	}
	if f.typ == "" {
		return fmt.Errorf("sample before its TYPE")
	}
	s := parsedSample{labels: map[string]string{}}
	if strings.HasPrefix(rest, "{") {
		if rest, err = parseLabels(rest[1:], s.labels); err != nil {
			return err
		}
	}
	fields := strings.Split(rest, " ")
	if len(fields) < 2 || len(fields) > 3 || fields[0] != "" {
		return fmt.Errorf("want one space, a value and an optional timestamp")
	}
	if s.value, err = strconv.ParseFloat(fields[1], 64); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if len(fields) == 3 {
		if _, err := strconv.ParseInt(fields[2], 10, 64); err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
	}
	for _, o := range f.samples {
		if fmt.Sprint(o.labels) == fmt.Sprint(s.labels) {
			return fmt.Errorf("a second sample of the series %v", s.labels)
		}
	}
	f.samples = append(f.samples, s)
	return nil
}

// parseLabels reads name="value" pairs up to the closing brace and
// returns what follows it.
func parseLabels(s string, into map[string]string) (string, error) {
	if strings.HasPrefix(s, "}") {
		return s[1:], nil
	}
	for {
		n := 0
		for n < len(s) && isNameByte(s[n], false) && (n > 0 || s[n] < '0' || s[n] > '9') {
			n++
		}
		name := s[:n]
		if name == "" || strings.HasPrefix(name, "__") {
			return "", fmt.Errorf("bad label name %q", name)
		}
		if _, dup := into[name]; dup {
			return "", fmt.Errorf("label %s twice", name)
		}
		s = s[n:]
		if !strings.HasPrefix(s, `="`) {
			return "", fmt.Errorf("label %s: want =\"", name)
		}
		s = s[2:]
		end := -1
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return "", fmt.Errorf("label %s: value without closing quote", name)
		}
		v, err := unescape(s[:end], true)
		if err != nil {
			return "", fmt.Errorf("label %s: %w", name, err)
		}
		into[name] = v
		s = s[end+1:]
		switch {
		case strings.HasPrefix(s, "}"):
			return s[1:], nil
		case strings.HasPrefix(s, ","):
			s = s[1:]
		default:
			return "", fmt.Errorf("after label %s: want , or }", name)
		}
	}
}

// unescape undoes \\ and \n, and \" in label values; any other escape,
// or a bare double quote in a label value, is an error.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && label:
			return "", fmt.Errorf("unescaped double quote")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("backslash at the end")
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !label {
				return "", fmt.Errorf(`\" in a help text`)
			}
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func isNameByte(c byte, metric bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' && metric
}

func metricName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		if !isNameByte(s[i], true) {
			return false
		}
	}
	return true
}

// TestParseExposition_RejectsMalformed: the reader the other tests rely
// on refuses malformed lines, so their passing means something.
func TestParseExposition_RejectsMalformed(t *testing.T) {
	const head = "# HELP m_total Things.\n# TYPE m_total counter\n"
	cases := []struct{ name, text string }{
		{"unescaped quote in a label value", head + "m_total{a=\"x\"y\"} 1\n"},
		{"unknown escape in a label value", head + `m_total{a="x\ty"} 1` + "\n"},
		{"label value without closing quote", head + `m_total{a="x} 1` + "\n"},
		{"unquoted label value", head + "m_total{a=x} 1\n"},
		{"trailing comma", head + `m_total{a="x",} 1` + "\n"},
		{"label name with a dash", head + `m_total{a-b="x"} 1` + "\n"},
		{"reserved label name", head + `m_total{__name__="x"} 1` + "\n"},
		{"label twice", head + `m_total{a="x",a="y"} 1` + "\n"},
		{"no value", head + "m_total\n"},
		{"two spaces", head + "m_total  1\n"},
		{"bad value", head + "m_total one\n"},
		{"bad timestamp", head + "m_total 1 soon\n"},
		{"sample before TYPE", "m_total 1\n"},
		{"TYPE twice", head + "# TYPE m_total counter\nm_total 1\n"},
		{"HELP after samples", head + "m_total 1\n# HELP m_total More.\n"},
		{"unknown type", "# TYPE m_total meter\n"},
		{"bad escape in HELP", "# HELP m_total a\\tb\n"},
		{"series twice", head + "m_total 1\nm_total 2\n"},
		{"family split", head + "m_total{a=\"1\"} 1\n# TYPE n gauge\nn 1\nm_total{a=\"2\"} 1\n"},
		{"metric name with a digit first", "# TYPE 1m gauge\n"},
		{"blank line", head + "\nm_total 1\n"},
		{"no final line feed", head + "m_total 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := parseExposition(c.text); err == nil {
				t.Errorf("accepted:\n%s", c.text)
			}
		})
	}
	good := head + `m_total{a="x\"y\\z\n",b="ü"} 1` + "\nm_total 2 1700000000000\n# a comment\n# TYPE g gauge\ng -Inf\n"
	e, err := parseExposition(good)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := e.fams["m_total"].value(map[string]string{"a": "x\"y\\z\n", "b": "ü"}); !ok || v != 1 {
		t.Errorf("escaped label value not read back: %+v", e.fams["m_total"].samples)
	}
}
