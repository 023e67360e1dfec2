// Command fumo-gw is the firmware-update gateway. This is the one place where
// the parts are wired together; each sub-command lives in its own file.
//
//	fumo-gw serve                run the gateway (see fumo-gw serve -h)
//	fumo-gw demo                 a gateway, simulated devices and one campaign
//	fumo-gw package|device|model|job|campaign ...   the operator API's client
//	fumo-gw replay DIR           replay a recorded SyncML session
//	fumo-gw sim dm|lwm2m ...     simulated devices against a gateway
//	fumo-gw syncml decode FILE   print a SyncML DM message (XML or WBXML) as XML
//	fumo-gw syncml encode FILE   write a SyncML DM message (XML or WBXML) as WBXML
//	fumo-gw bench [scenario ...] the load tool (see fumo-gw bench -h)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: fumo-gw <command> [arguments]

commands:
  serve                run the gateway: DM endpoint, downloads, LwM2M (UDP, DTLS), operator API (serve -h: settings)
  demo                 start a gateway with simulated DM and LwM2M devices, run one campaign, print the outcome
  package add|list     manage firmware packages through the operator API
  device add|list|show|discover|write-attributes   manage devices; LwM2M Discover and Write-Attributes
  model set|list|show|delete   per-model settings: the current release, the FUMO root of DM devices
  job create|show|cancel
  campaign create|start|pause|resume|cancel|show|watch
  replay DIR [-target URL]   replay a recorded SyncML session folder against an in-process gateway set up from
                       DIR/setup.json (or a running one) and show the first difference
  sim dm|lwm2m -gateway ADDR [-count N] [-for D] [-print-devices]   simulated devices against any gateway (sim -h)
  syncml decode FILE   print a SyncML DM message (XML or WBXML, detected) as XML
  syncml encode FILE   write a SyncML DM message (XML or WBXML, detected) as WBXML
  bench [scenario ...] measure the gateway beside bare baselines: registrations, Block2 serving, DM sessions,
                       store commits, a campaign and an idle fleet (bench -h)
FILE "-" reads standard input.
"fumo-gw COMMAND -h" (or --help, help, "fumo-gw help COMMAND") shows a command's usage and verbs,
"fumo-gw COMMAND VERB -h" (or "fumo-gw help COMMAND VERB") a verb's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	args = helpArgs(args)
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "package", "device", "model", "job", "campaign":
		return runClient(ctx, args[0], args[1:], stdin, stdout, stderr)
	case "replay":
		return runReplayContext(ctx, args[1:], stdout, stderr)
	case "sim":
		return runSimContext(ctx, args[1:], stdout, stderr)
	case "syncml":
		return runSyncML(args[1:], stdin, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" && args[1] != "help" { // help COMMAND [VERB]
			return run(ctx, append(append([]string(nil), args[1:]...), "-h"), stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "fumo-gw: unknown command %q\n%s", args[0], usage)
	return 2
}

// isHelp tells whether an argument asks for help.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// helpArgs turns a lone "help" after a command, or after the verb of sim
// and syncml, into "-h", which each of them answers with its usage (the
// client commands read "help" themselves). Anything named help is given
// as ./help.
func helpArgs(args []string) []string {
	switch args[0] {
	case "serve", "demo", "replay", "bench", "sim", "syncml":
	default:
		return args
	}
	out := append([]string(nil), args...)
	switch n := len(out); {
	case n == 2 && out[1] == "help":
		out[1] = "-h"
	case n == 3 && out[2] == "help" && (out[0] == "sim" || out[0] == "syncml"):
		out[2] = "-h"
	}
	return out
}
