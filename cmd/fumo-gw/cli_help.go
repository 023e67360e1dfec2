package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help of the client commands: each command lists its verbs, each verb
// shows its synopsis, a one-line description and its flags.

// cliNoun is a client command and its verbs, in the order help lists
// them.
type cliNoun struct {
	name, desc string
	verbs      []cliVerb
}

// cliVerb is one verb: its arguments as help shows them, a one-line
// description, and what runs it.
type cliVerb struct {
	name, args, desc string
	cmd              cliCommand
}

func cliNounNamed(name string) cliNoun {
	for _, n := range cliNouns {
		if n.name == name {
			return n
		}
	}
	panic("fumo-gw: no client command " + name)
}

func (n cliNoun) verb(name string) (cliVerb, bool) {
	for _, v := range n.verbs {
		if v.name == name {
			return v, true
		}
	}
	return cliVerb{}, false
}

// usage lists the command's verbs, each with its arguments and
// description.
func (n cliNoun) usage(w io.Writer) {
	names := make([]string, len(n.verbs))
	for i, v := range n.verbs {
		names[i] = v.name
	}
	fmt.Fprintf(w, "usage: fumo-gw %s %s [flags] [args]\n\n%s.\n\nverbs:\n", n.name, strings.Join(names, "|"), capitalize(n.desc))
	for _, v := range n.verbs {
		fmt.Fprintf(w, "  %s\n      %s\n", v.synopsis(n.name), v.desc)
	}
	fmt.Fprintf(w, "\n%s\"fumo-gw %s VERB -h\" shows a verb's flags.\n", cliCommon, n.name)
}

// usage shows the verb's synopsis, description and flags (declared on a
// fresh flag set, so that the defaults shown are the defaults).
func (v cliVerb) usage(w io.Writer, noun string) {
	fmt.Fprintf(w, "usage: fumo-gw %s\n\n%s.\n\n", v.synopsis(noun), capitalize(v.desc))
	fs := flag.NewFlagSet(noun+" "+v.name, flag.ContinueOnError)
	v.cmd(fs, nil)
	fs.SetOutput(w)
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "flags:")
		fs.PrintDefaults()
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, cliCommon)
}

// synopsis is "noun verb args".
func (v cliVerb) synopsis(noun string) string {
	return strings.TrimSpace(noun + " " + v.name + " " + v.args)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
