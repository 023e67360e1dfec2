package main

import (
	"flag"
	"strings"
	"testing"
)

// helpForms are the ways to ask a command (args) for help.
func helpForms(args ...string) [][]string {
	forms := [][]string{append([]string{"help"}, args...)}
	for _, h := range []string{"-h", "-help", "--help", "help"} {
		forms = append(forms, append(append([]string(nil), args...), h))
	}
	return forms
}

// TestHelp_ClientCommands: every client command and every verb answers
// -h, -help, --help, help (and "help COMMAND [VERB]") with its own usage
// on stdout, exit 0: a command its verbs, a verb its description and
// flags. No token or API is needed.
func TestHelp_ClientCommands(t *testing.T) {
	t.Setenv("FUMO_GW_TOKEN", "")
	for _, n := range cliNouns {
		for _, args := range helpForms(n.name) {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errs := runCLI(nil, args...)
				if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: fumo-gw "+n.name+" ") || !strings.Contains(out, capitalize(n.desc)) {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
				}
				for _, v := range n.verbs {
					if !strings.Contains(out, "  "+v.synopsis(n.name)+"\n      "+v.desc+"\n") {
						t.Errorf("verb %s missing:\n%s", v.name, out)
					}
				}
			})
		}
		for _, v := range n.verbs {
			forms := append(helpForms(n.name, v.name), []string{n.name, "help", v.name}, []string{n.name, v.name, "-json", "-h"})
			for _, args := range forms {
				t.Run(strings.Join(args, " "), func(t *testing.T) {
					code, out, errs := runCLI(nil, args...)
					if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: fumo-gw "+v.synopsis(n.name)+"\n\n"+capitalize(v.desc)+".\n") ||
						!strings.Contains(out, "common flags: -api URL") {
						t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
					}
					fs := flag.NewFlagSet("", flag.ContinueOnError)
					v.cmd(fs, nil)
					fs.VisitAll(func(f *flag.Flag) {
						if !strings.Contains(out, "\n  -"+f.Name+" ") && !strings.Contains(out, "\n  -"+f.Name+"\n") && !strings.Contains(out, "\n  -"+f.Name+"\t") {
							t.Errorf("flag -%s missing:\n%s", f.Name, out)
						}
					})
				})
			}
		}
	}
}

// TestHelp_ClientUsageErrors: no verb, an unknown verb, or help on an
// unknown verb show the command's usage on stderr, exit 2; a verb's bad
// flag shows the verb's.
func TestHelp_ClientUsageErrors(t *testing.T) {
	t.Setenv("FUMO_GW_TOKEN", "")
	for _, n := range cliNouns {
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"no verb", []string{n.name}, "usage: fumo-gw " + n.name + " "},
			{"unknown verb", []string{n.name, "dance"}, `fumo-gw ` + n.name + `: unknown verb "dance"` + "\nusage: fumo-gw " + n.name + " "},
			{"help on an unknown verb", []string{n.name, "help", "dance"}, `unknown verb "dance"`},
			{"flag as the verb", []string{n.name, "-json"}, `unknown verb "-json"`},
		} {
			t.Run(n.name+" "+c.name, func(t *testing.T) {
				code, out, errs := runCLI(nil, c.args...)
				if code != 2 || out != "" || !strings.Contains(errs, c.want) || !strings.Contains(errs, "verbs:\n") {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
				}
			})
		}
		for _, v := range n.verbs {
			t.Run(n.name+" "+v.name+" unknown flag", func(t *testing.T) {
				code, out, errs := runCLI(nil, n.name, v.name, "-nope")
				if code != 2 || out != "" || !strings.Contains(errs, "flag provided but not defined: -nope\nusage: fumo-gw "+v.synopsis(n.name)+"\n") {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
				}
			})
		}
	}
}

// TestHelp_OtherCommands: the commands that are not API clients, and the
// verbs of sim and syncml, answer every help form with their usage (on
// stdout or, as their flag sets do, stderr), exit 0; bad usage exits 2.
func TestHelp_OtherCommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: fumo-gw <command>"},
		{[]string{"serve"}, "usage: fumo-gw serve"},
		{[]string{"demo"}, "usage: fumo-gw demo"},
		{[]string{"replay"}, "usage: fumo-gw replay"},
		{[]string{"bench"}, "usage: fumo-gw bench"},
		{[]string{"sim"}, "usage: fumo-gw sim"},
		{[]string{"sim", "dm"}, "usage: fumo-gw sim"},
		{[]string{"sim", "lwm2m"}, "usage: fumo-gw sim"},
		{[]string{"syncml"}, "usage: fumo-gw syncml decode|encode"},
		{[]string{"syncml", "decode"}, "usage: fumo-gw syncml decode FILE"},
		{[]string{"syncml", "encode"}, "usage: fumo-gw syncml encode FILE"},
	} {
		forms := helpForms(c.args...)
		if len(c.args) == 0 {
			forms = forms[1:] // "help" alone is below
		}
		for _, args := range forms {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errs := runCLI(nil, args...)
				if code != 0 || !strings.Contains(out+errs, c.want) {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
				}
			})
		}
	}
	for _, args := range [][]string{{}, {"dance"}, {"help", "dance"}, {"serve", "-nope"}, {"demo", "-nope"}, {"replay", "-nope"},
		{"bench", "-nope"}, {"sim", "dance"}, {"syncml", "dance"}, {"syncml", "decode"}} {
		t.Run(strings.Join(args, " ")+" exits 2", func(t *testing.T) {
			code, out, errs := runCLI(nil, args...)
			if code != 2 || !strings.Contains(errs, "usage") {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
		})
	}
}
