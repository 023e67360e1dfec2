package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the README's "run it" command: it ends by itself with the
// final table, the failing device failed with FUMO 410, every other one
// on 2.0.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo"}, nil, &out, &errb); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out.String(), errb.String())
	}
	table := out.String()[strings.Index(out.String(), "DEVICE"):]
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 7 {
		t.Fatalf("table:\n%s", table)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case f[0] == "dm-3":
			if !strings.Contains(l, "1.0 → 1.0") || !strings.Contains(l, "failed") || f[len(f)-2] != "410" {
				t.Errorf("failing device: %s", l)
			}
		case strings.HasPrefix(f[0], "lw-"):
			if !strings.Contains(l, "1.0 → 2.0") || f[len(f)-2] != "200" || f[len(f)-1] != "1" {
				t.Errorf("lwm2m device: %s", l)
			}
		default:
			if !strings.Contains(l, "1.0 → 2.0") || f[len(f)-2] != "200" {
				t.Errorf("dm device: %s", l)
			}
		}
	}
	if code := run(context.Background(), []string{"demo", "-devices", "1"}, nil, &out, &errb); code != 2 {
		t.Errorf("-devices 1: exit %d", code)
	}
}
