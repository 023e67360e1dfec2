// Command fumo-gw is the firmware-update gateway. This is the one place where
// the parts are wired together; each sub-command lives in its own file.
//
//	fumo-gw syncml decode FILE   print a SyncML DM message (XML or WBXML) as XML
//	fumo-gw syncml encode FILE   write a SyncML DM message (XML or WBXML) as WBXML
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: fumo-gw <command> [arguments]

commands:
  syncml decode FILE   print a SyncML DM message (XML or WBXML, detected) as XML
  syncml encode FILE   write a SyncML DM message (XML or WBXML, detected) as WBXML
FILE "-" reads standard input.
`

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "syncml":
		return runSyncML(args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "fumo-gw: unknown command %q\n%s", args[0], usage)
	return 2
}
