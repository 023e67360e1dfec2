package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/replay"
	"github.com/fumo-gw/fumo-gw/replay/scenario"
)

const replayUsage = `usage: fumo-gw replay [--target URL] [--timeout D] [--force] [--verbose] DIR

Replays the recorded SyncML DM session in DIR (NNN-c2s.* and NNN-s2c.* files, XML or
WBXML): posts each client message in order (later messages of a session to the RespURI
the gateway gave) and compares each answer with the recorded server message, after
normalising the gateway's loopback address, RespURI session tokens and NextNonce values.
Prints one line per message ("001 c2s sent", "002 s2c matches"); on the first difference,
"NNN s2c differs" and a short diff (- recorded, + live).

By default the messages go to an in-process DM gateway on 127.0.0.1 (a port the system
chooses) with a temporary store, set up as DIR/setup.json says (devices and credentials,
packages, queued DM commands, jobs, and repeatable nonces; see testdata/syncml/README.md).
A folder whose setup.json is decode_only is only decoded, and the reason printed.

flags:
  --target URL   replay against an already running gateway's DM endpoint instead, e.g.
                 http://127.0.0.1:8080/dm. No setup is done and setup.json is not read:
                 that gateway must already know the scenario's devices, credentials and
                 jobs, and since md5 credentials depend on the nonces the gateway issues,
                 sessions after the first match only if it issues the recorded ones.
  --timeout D    give up after D (default 1m)
  --force        replay a decode_only folder anyway, to see where it differs
  --verbose      the in-process gateway's log on standard error

exit status: 0 every server message matches (or the folder is decode-only), 1 a
difference or an error, 2 bad usage.
`

// runReplay is `fumo-gw replay`: it replays a recorded scenario folder
// and reports the first difference.
func runReplay(args []string, stdout, stderr io.Writer) int {
	return runReplayContext(context.Background(), args, stdout, stderr)
}

// runReplayContext is runReplay, given up when ctx ends (main's context
// ends on SIGINT and SIGTERM).
func runReplayContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("target", "", "")
	timeout := fs.Duration("timeout", time.Minute, "")
	force := fs.Bool("force", false, "")
	verbose := fs.Bool("verbose", false, "")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, replayUsage)
		return 0
	}
	if err == nil && len(pos) != 1 {
		err = fmt.Errorf("want one folder, got %d arguments", len(pos))
	}
	if err == nil && *target != "" {
		if u, perr := url.Parse(*target); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			err = fmt.Errorf("--target %q is not an http(s) URL", *target)
		}
	}
	if err == nil && *timeout <= 0 {
		err = fmt.Errorf("--timeout must be positive")
	}
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw replay: %v\n%s", err, replayUsage)
		return 2
	}
	dir := pos[0]
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	return replayDir(ctx, replayJob{dir: dir, target: *target, force: *force, log: log}, stdout, stderr)
}

// replayJob is what runReplay was asked to do.
type replayJob struct {
	dir, target string
	force       bool
	log         *slog.Logger
}

func replayDir(ctx context.Context, j replayJob, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fumo-gw replay: %v\n", err)
		return 1
	}
	msgs, err := replay.Load(j.dir)
	if err != nil {
		return fail(err)
	}
	endpoint := j.target
	if endpoint == "" {
		setup, err := scenario.Load(j.dir)
		if errors.Is(err, scenario.ErrNoSetup) {
			return fail(fmt.Errorf("%w (the in-process gateway needs it; --target replays against a gateway set up already)", err))
		}
		if err != nil {
			return fail(err)
		}
		if setup.DecodeOnly != "" && !j.force {
			return decodeOnly(msgs, setup.DecodeOnly, stdout, stderr)
		}
		tmp, err := os.MkdirTemp("", "fumo-gw-replay-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		g, err := scenario.Start(ctx, scenario.Config{StorePath: filepath.Join(tmp, "state.db"), Setup: setup, Logger: j.log})
		if err != nil {
			return fail(err)
		}
		defer g.Close()
		endpoint = g.URL
	}
	err = replay.Replay(ctx, endpoint, msgs, replay.Options{Progress: func(m replay.Message, outcome string) {
		fmt.Fprintf(stdout, "%s %s %s\n", m.Seq(), m.Dir(), outcome)
	}})
	var mis *replay.Mismatch
	if errors.As(err, &mis) {
		fmt.Fprintf(stdout, "%s s2c differs (- recorded, + live):\n%s", mis.Seq, replay.Diff(mis.Want, mis.Got))
		fmt.Fprintf(stderr, "fumo-gw replay: %s: message %s differs\n", j.dir, mis.Seq)
		return 1
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// decodeOnly decodes every message of a folder that cannot be replayed
// against fumo-gw and says why.
func decodeOnly(msgs []replay.Message, reason string, stdout, stderr io.Writer) int {
	for _, m := range msgs {
		_, enc, err := syncml.Decode(m.Body)
		if err != nil {
			fmt.Fprintf(stderr, "fumo-gw replay: %s: %v\n", m.Name, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s %s decoded (%v)\n", m.Seq(), m.Dir(), enc)
	}
	fmt.Fprintf(stdout, "decode-only, not replayed: %s\n", reason)
	return 0
}

// parseInterleaved parses flags given before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}
