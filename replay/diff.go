package replay

import (
	"fmt"
	"strings"
)

// Lines splits canonical (one-line) XML into one element per line,
// indented by depth: the form a difference is shown in.
func Lines(x string) []string {
	var out []string
	depth := 0
	for len(x) > 0 {
		i := strings.Index(x, "><")
		piece := x
		if i >= 0 {
			piece, x = x[:i+1], x[i+1:]
		} else {
			x = ""
		}
		closing := strings.HasPrefix(piece, "</")
		if closing {
			depth = max(0, depth-1)
		}
		out = append(out, strings.Repeat("  ", depth)+piece)
		// An opening tag alone on its line opens a level; one that holds
		// its text and end tag, or ends in "/>", does not.
		if !closing && !strings.HasPrefix(piece, "<?") && !strings.HasSuffix(piece, "/>") && !strings.Contains(piece, "</") {
			depth++
		}
	}
	return out
}

// Diff shows the first place where got differs from want as a short
// line diff of their Lines: a few lines of context, "-" for want, "+" for
// got. It returns "" when they are equal.
func Diff(want, got string) string {
	if want == got {
		return ""
	}
	a, b := Lines(want), Lines(got)
	ops := diffLines(a, b)
	const context, maxChanged = 3, 24
	first := -1
	for i, op := range ops {
		if op.kind != ' ' {
			first = i
			break
		}
	}
	if first < 0 {
		return "" // equal lines; cannot happen for different strings
	}
	var sb strings.Builder
	if first > context {
		fmt.Fprintf(&sb, "@@ line %d @@\n", ops[first].line)
	}
	for _, op := range ops[max(0, first-context):first] {
		sb.WriteString("  " + clipLine(op.text) + "\n")
	}
	changed, equalRun := 0, 0
	i := first
	for ; i < len(ops) && equalRun < context; i++ {
		op := ops[i]
		if op.kind == ' ' {
			equalRun++
		} else {
			equalRun = 0
			changed++
			if changed > maxChanged {
				sb.WriteString("  …\n")
				break
			}
		}
		sb.WriteString(string(op.kind) + " " + clipLine(op.text) + "\n")
	}
	for ; i < len(ops); i++ {
		if ops[i].kind != ' ' {
			sb.WriteString("(more differences follow)\n")
			break
		}
	}
	return sb.String()
}

type diffOp struct {
	kind byte // ' ', '-', '+'
	text string
	line int // 1-based line in want (the line it would be at for '+')
}

// diffLines is a longest-common-subsequence line diff. Messages past a
// size where that gets expensive are compared line by line from the
// first difference instead.
func diffLines(a, b []string) []diffOp {
	// Common prefix and suffix need no table.
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	var ops []diffOp
	for i := range p {
		ops = append(ops, diffOp{' ', a[i], i + 1})
	}
	ma, mb := a[p:len(a)-s], b[p:len(b)-s]
	if len(ma)*len(mb) > 4_000_000 {
		for i, l := range ma {
			ops = append(ops, diffOp{'-', l, p + i + 1})
		}
		for _, l := range mb {
			ops = append(ops, diffOp{'+', l, p + len(ma) + 1})
		}
	} else {
		ops = append(ops, lcs(ma, mb, p)...)
	}
	for i := len(a) - s; i < len(a); i++ {
		ops = append(ops, diffOp{' ', a[i], i + 1})
	}
	return ops
}

func lcs(a, b []string, offset int) []diffOp {
	// n[i][j]: length of the LCS of a[i:] and b[j:].
	n := make([][]int, len(a)+1)
	for i := range n {
		n[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				n[i][j] = n[i+1][j+1] + 1
			} else {
				n[i][j] = max(n[i+1][j], n[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], offset + i + 1})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || n[i+1][j] >= n[i][j+1]):
			ops = append(ops, diffOp{'-', a[i], offset + i + 1})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], offset + i + 1})
			j++
		}
	}
	return ops
}

// clipLine keeps a line short enough to read (large object data is long).
func clipLine(s string) string {
	const n = 160
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}
