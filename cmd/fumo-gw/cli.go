package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// The API client sub-commands: package, device, model, job, campaign.
// Each takes the common flags -api, -token (or -data-dir to read the token
// a local serve generated) and -json; flags may come before or after the
// arguments.

// cliCommon describes the flags every client verb takes.
const cliCommon = `common flags: -api URL [$FUMO_GW_API, default http://127.0.0.1:8081]  -token T [$FUMO_GW_TOKEN]
              -data-dir DIR (read DIR/api-token when no token is given; default fumo-gw-data)  -json
flags may also follow the arguments
`

// cliEnv is what a client sub-command runs with.
type cliEnv struct {
	c      *client.Client
	json   bool
	stdout io.Writer
}

// clientFlags adds the common flags to fs and returns a function that
// builds the client after parsing.
func clientFlags(fs *flag.FlagSet, stdout io.Writer) func() (*cliEnv, error) {
	base := fs.String("api", envOr("FUMO_GW_API", "http://127.0.0.1:8081"), "operator API base URL")
	token := fs.String("token", os.Getenv("FUMO_GW_TOKEN"), "API bearer token")
	dir := fs.String("data-dir", "fumo-gw-data", "data directory of a local serve (its api-token file)")
	asJSON := fs.Bool("json", false, "print JSON (for scripts)")
	return func() (*cliEnv, error) {
		t := *token
		if t == "" {
			b, err := os.ReadFile(filepath.Join(*dir, "api-token"))
			if err != nil {
				return nil, fmt.Errorf("no token: give -token, $FUMO_GW_TOKEN, or the -data-dir of the serve (%w)", err)
			}
			t = strings.TrimSpace(string(b))
		}
		return &cliEnv{c: &client.Client{Base: *base, Token: t}, json: *asJSON, stdout: stdout}, nil
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runClient runs "package", "device", "model", "job" and "campaign"
// sub-commands. "-h", "-help", "--help" or "help" after the command shows
// its verbs, after a verb (or "help VERB") the verb's flags: on stdout,
// exit 0. No verb or an unknown one shows the command's verbs on stderr,
// exit 2. A lone "help" after a verb is help; "-- help" is an argument.
func runClient(ctx context.Context, noun string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	n := cliNounNamed(noun)
	switch {
	case len(args) == 0:
		n.usage(stderr)
		return 2
	case isHelp(args[0]) && len(args) == 1:
		n.usage(stdout)
		return 0
	case args[0] == "help" && len(args) == 2:
		if v, ok := n.verb(args[1]); ok {
			v.usage(stdout, n.name)
			return 0
		}
		fmt.Fprintf(stderr, "fumo-gw %s: unknown verb %q\n", noun, args[1])
		n.usage(stderr)
		return 2
	}
	v, ok := n.verb(args[0])
	if !ok {
		fmt.Fprintf(stderr, "fumo-gw %s: unknown verb %q\n", noun, args[0])
		n.usage(stderr)
		return 2
	}
	if len(args) == 2 && args[1] == "help" {
		v.usage(stdout, n.name)
		return 0
	}
	fs := flag.NewFlagSet(noun+" "+v.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // help goes to stdout, errors to stderr: below
	env := clientFlags(fs, stdout)
	run := v.cmd(fs, stdin)
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			v.usage(stdout, n.name)
			return 0
		}
		v.usage(stderr, n.name)
		return 2
	}
	e, err := env()
	if err != nil {
		fmt.Fprintln(stderr, "fumo-gw:", err)
		return 2
	}
	if err := run(ctx, e, rest); err != nil {
		fmt.Fprintf(stderr, "fumo-gw %s %s: %v\n", noun, v.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "usage: fumo-gw %s  (-h: its flags)\n", v.synopsis(noun))
			return 2
		}
		return 1
	}
	return 0
}

// optionalBool is a boolean flag that may stay unset (nil): -verify,
// -verify=true, -verify=false.
type optionalBool struct{ p **bool }

func (o optionalBool) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatBool(**o.p)
}

func (o optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*o.p = &v
	return nil
}

func (o optionalBool) IsBoolFlag() bool { return true }

// verifyFlag declares -verify on fs, stored in p (nil when not given).
func verifyFlag(fs *flag.FlagSet, p **bool) {
	fs.Var(optionalBool{p}, "verify", "check the device's firmware version after a successful update (a job's setting wins over its package's; default true)")
}

// verifyNote shows a verification switch that is set: " (verify off)".
func verifyNote(v *bool) string {
	switch {
	case v == nil:
		return ""
	case *v:
		return " (verify on)"
	}
	return " (verify off)"
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// cliCommand declares its flags on fs and returns what runs after parsing.
type cliCommand func(fs *flag.FlagSet, stdin io.Reader) func(ctx context.Context, e *cliEnv, args []string) error

// cliNouns are the client commands.
var cliNouns = []cliNoun{
	{"package", "firmware packages in the gateway's store", []cliVerb{
		{"add", "-id ID -version V [-name N] [-verify=false] FILE", "upload a firmware image (its size and SHA-256 computed here)", packageAdd},
		{"list", "", "list the stored packages", simple(func(ctx context.Context, e *cliEnv, _ []string) error { return e.packages(ctx) })},
	}},
	{"device", "devices (DM and LwM2M): provisioning, state, and LwM2M Discover and Write-Attributes", []cliVerb{
		{"add", "-id ID -protocol dm|lwm2m [-model M] [-fw V] (-dm-id ... -username ... -password ... [-auth md5] [-server-id ... -server-password ... [-server-auth basic|md5|hmac]] [-fumo-root ./FwUpdate/1] | -endpoint EP [-psk-identity I -psk-key HEX]) | -f FILE.json",
			"provision a device, from flags or from an api.DeviceRequest as JSON (-f, \"-\" for stdin)", deviceAdd},
		{"list", "[-protocol P] [-model M] [-fw V]", "list devices, all of them or those matching", deviceList},
		{"show", "ID", "show a device: registration, queued DM commands, current job",
			withID(func(ctx context.Context, e *cliEnv, id string) (any, error) { return e.c.Device(ctx, id) })},
		{"discover", "ID PATH", "LwM2M Discover: the links the device lists under PATH (e.g. /3/0) with their attributes", deviceDiscover},
		{"write-attributes", "ID PATH [-pmin S] [-pmax S] [-gt X] [-lt X] [-st X]",
			"LwM2M Write-Attributes: set notification attributes on PATH (checked by the gateway before it sends them)", deviceWriteAttributes},
	}},
	{"model", "per-model settings: the current release, the FUMO root of DM devices", []cliVerb{
		{"set", "MODEL [-release PKG] [-fumo-root ROOT]", "replace the model's settings: what is not given is cleared", modelSet},
		{"list", "", "list every model's settings", simple(func(ctx context.Context, e *cliEnv, _ []string) error { return e.models(ctx) })},
		{"show", "MODEL", "show a model's settings",
			withID(func(ctx context.Context, e *cliEnv, model string) (any, error) { return e.c.Model(ctx, model) })},
		{"delete", "MODEL", "delete a model's settings", simple(modelDelete)},
	}},
	{"job", "update jobs: one device, one package", []cliVerb{
		{"create", "-device ID -package ID [-id ID] [-operation download_and_update] [-delivery pull|push] [-verify=false]", "create a job", jobCreate},
		{"show", "ID", "show a job and its history", withID(func(ctx context.Context, e *cliEnv, id string) (any, error) { return e.c.Job(ctx, id) })},
		{"cancel", "ID", "cancel a job", withID(func(ctx context.Context, e *cliEnv, id string) (any, error) { return e.c.CancelJob(ctx, id) })},
	}},
	{"campaign", "campaigns: one package to many devices, paced", []cliVerb{
		{"create", "-package ID (-devices a,b,c | -protocol P [-model M] [-fw V]) [-id ID] [-max-in-flight N] [-rate N] [-failures N [-percent]] [-verify=false] [-start]",
			"create a draft campaign (and start it with -start)", campaignCreate},
		{"start", "ID", "start a draft campaign", campaignAction("start")},
		{"pause", "ID", "pause a campaign: no new jobs start; jobs under way go on", campaignAction("pause")},
		{"resume", "ID", "resume a paused campaign", campaignAction("resume")},
		{"cancel", "ID", "end a campaign: no new jobs; unfinished ones are cancelled where the device allows", campaignAction("cancel")},
		{"show", "ID", "show a campaign's progress",
			withID(func(ctx context.Context, e *cliEnv, id string) (any, error) { return e.c.Campaign(ctx, id) })},
		{"watch", "ID", "live progress until the campaign ends (bars on a terminal, lines otherwise)",
			simple(func(ctx context.Context, e *cliEnv, args []string) error {
				if len(args) != 1 {
					return usageError{"one campaign id"}
				}
				_, err := watchCampaign(ctx, e.c, args[0], e.stdout, isTerminal(e.stdout) && !e.json)
				return err
			})},
	}},
}

func simple(fn func(ctx context.Context, e *cliEnv, args []string) error) cliCommand {
	return func(*flag.FlagSet, io.Reader) func(context.Context, *cliEnv, []string) error { return fn }
}

// withID runs fn on the one id argument and prints its answer.
func withID(fn func(ctx context.Context, e *cliEnv, id string) (any, error)) cliCommand {
	return simple(func(ctx context.Context, e *cliEnv, args []string) error {
		if len(args) != 1 {
			return usageError{"one id"}
		}
		v, err := fn(ctx, e, args[0])
		if err != nil {
			return err
		}
		return e.print(v)
	})
}

func campaignAction(action string) cliCommand {
	return withID(func(ctx context.Context, e *cliEnv, id string) (any, error) {
		return e.c.CampaignAction(ctx, id, action)
	})
}

// print writes v as JSON with -json, or as a short summary otherwise.
func (e *cliEnv) print(v any) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	switch x := v.(type) {
	case fleet.Job:
		fmt.Fprintf(e.stdout, "job %s: device %s, package %s%s, %s", x.ID, x.DeviceID, x.PackageID, verifyNote(x.Verify), x.State)
		if x.Reason != "" {
			fmt.Fprintf(e.stdout, " (%s)", x.Reason)
		}
		for _, n := range x.Native {
			fmt.Fprintf(e.stdout, " %s:%d", n.Protocol, n.Code)
		}
		fmt.Fprintf(e.stdout, ", attempts %d\n", x.Attempts)
		for _, h := range x.History {
			fmt.Fprintf(e.stdout, "  %s  %s -> %s  %s\n", h.At.Format(time.RFC3339), h.From, h.To, h.Note)
		}
	case bridge.Progress:
		fmt.Fprintf(e.stdout, "campaign %s: %s, package %s%s, %d devices, %s\n", x.Campaign.ID, x.Campaign.State, x.Campaign.PackageID,
			verifyNote(x.Campaign.Verify), x.Devices, countsLine(x))
	case fleet.ModelSettings:
		fmt.Fprintf(e.stdout, "model %q: release %s, fumo root %s\n", x.Model, orDash(x.Release), orDash(x.FUMORoot))
	case api.DeviceView:
		fmt.Fprintf(e.stdout, "device %s: %s, model %q, firmware %q\n", x.ID, x.Protocol, x.Model, x.FirmwareVersion)
		if x.LwM2M != nil {
			fmt.Fprintf(e.stdout, "  endpoint %s, registered %v", x.LwM2M.Endpoint, x.LwM2M.Registered)
			if r := x.LwM2M.Registration; r != nil {
				fmt.Fprintf(e.stdout, " from %s (lifetime %ds, binding %s)", r.Address, r.Lifetime, r.Binding)
			}
			fmt.Fprintln(e.stdout)
			if inv := x.LwM2M.Inventory; inv != nil {
				var objs []string
				for o, v := range inv.ObjectVersions {
					objs = append(objs, "/"+o+" "+v)
				}
				sort.Strings(objs)
				fmt.Fprintf(e.stdout, "  reported: manufacturer %q, model %q, serial %q, firmware %q, lwm2m %s", inv.Manufacturer, inv.ModelNumber,
					inv.SerialNumber, inv.FirmwareVersion, orDash(inv.LwM2MVersion))
				if len(objs) > 0 {
					fmt.Fprintf(e.stdout, ", objects %s", strings.Join(objs, ", "))
				}
				fmt.Fprintln(e.stdout)
			}
		}
		if x.DM != nil {
			fmt.Fprintf(e.stdout, "  dm id %s, auth %s", x.DM.DeviceID, x.DM.Auth)
			if x.DM.ServerAuth != "" {
				fmt.Fprintf(e.stdout, ", server auth %s", x.DM.ServerAuth)
			}
			fmt.Fprintf(e.stdout, ", %d commands queued\n", x.DM.QueuedCommands)
		}
		if x.CurrentJob != nil {
			fmt.Fprintf(e.stdout, "  current job %s: %s\n", x.CurrentJob.ID, x.CurrentJob.State)
		}
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countsLine(p bridge.Progress) string {
	parts := []string{fmt.Sprintf("pending %d", p.Pending)}
	for _, s := range jobStates {
		if n := p.Jobs[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	return strings.Join(parts, ", ")
}

var jobStates = []fleet.JobState{fleet.JobQueued, fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobDelivered,
	fleet.JobUpdating, fleet.JobVerifying, fleet.JobSucceeded, fleet.JobFailed, fleet.JobCancelled}

func packageAdd(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	id := fs.String("id", "", "package id (required)")
	name := fs.String("name", "", "name (default: the id)")
	version := fs.String("version", "", "firmware version the image installs (required)")
	var verify *bool
	verifyFlag(fs, &verify)
	return func(ctx context.Context, e *cliEnv, args []string) error {
		if len(args) != 1 || *id == "" || *version == "" {
			return usageError{"want -id, -version and one FILE"}
		}
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		size, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		n := *name
		if n == "" {
			n = *id
		}
		p, err := e.c.UploadPackage(ctx, client.PackageUpload{ID: *id, Name: n, Version: *version, SHA256: hex.EncodeToString(h.Sum(nil)),
			Size: size, Verify: verify}, f)
		if err != nil {
			return err
		}
		if e.json {
			return e.print(p)
		}
		fmt.Fprintf(e.stdout, "package %s stored: version %s, %d bytes, sha256 %s%s\n", p.ID, p.Version, p.Size, p.SHA256, verifyNote(p.Verify))
		return nil
	}
}

func (e *cliEnv) packages(ctx context.Context) error {
	ps, err := e.c.Packages(ctx)
	if err != nil || e.json {
		if err == nil {
			err = e.print(ps)
		}
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tVERSION\tSIZE\tSHA-256\tVERIFY")
	for _, p := range ps {
		verify := "-"
		if p.Verify != nil {
			verify = map[bool]string{true: "on", false: "off"}[*p.Verify]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.ID, p.Name, p.Version, p.Size, p.SHA256[:16]+"…", verify)
	}
	return tw.Flush()
}

// modelSet replaces a model's settings.
func modelSet(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	var r api.ModelRequest
	fs.StringVar(&r.Release, "release", "", "id of the package that is the model's current release")
	fs.StringVar(&r.FUMORoot, "fumo-root", "", "FUMO root of the model's DM devices that have none of their own (e.g. ./FwUpdate/1)")
	return func(ctx context.Context, e *cliEnv, args []string) error {
		if len(args) != 1 {
			return usageError{"want one MODEL"}
		}
		m, err := e.c.SetModel(ctx, args[0], r)
		if err != nil {
			return err
		}
		return e.print(m)
	}
}

func modelDelete(ctx context.Context, e *cliEnv, args []string) error {
	if len(args) != 1 {
		return usageError{"one model"}
	}
	if err := e.c.DeleteModel(ctx, args[0]); err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stdout, "model %q: settings deleted\n", args[0])
	}
	return nil
}

func (e *cliEnv) models(ctx context.Context) error {
	ms, err := e.c.Models(ctx)
	if err != nil || e.json {
		if err == nil {
			err = e.print(nonNilList(ms))
		}
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tRELEASE\tFUMO ROOT\tUPDATED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Model, orDash(m.Release), orDash(m.FUMORoot), m.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
}

// nonNilList makes an empty list print as [] rather than null.
func nonNilList[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func deviceAdd(fs *flag.FlagSet, stdin io.Reader) func(context.Context, *cliEnv, []string) error {
	file := fs.String("f", "", "a JSON device request (\"-\": standard input)")
	var r api.DeviceRequest
	var dmS api.DMSettings
	var lw api.LwM2MSettings
	fs.StringVar(&r.ID, "id", "", "device id")
	fs.StringVar((*string)(&r.Protocol), "protocol", "", "dm or lwm2m")
	fs.StringVar(&r.Model, "model", "", "model")
	fs.StringVar(&r.FirmwareVersion, "fw", "", "current firmware version")
	fs.StringVar(&dmS.DeviceID, "dm-id", "", "DM device id (SyncHdr Source, e.g. IMEI:...)")
	fs.StringVar((*string)(&dmS.Auth), "auth", "md5", "DM auth: basic, md5 or hmac")
	fs.StringVar(&dmS.Username, "username", "", "DM username")
	fs.StringVar(&dmS.Password, "password", "", "DM password")
	fs.StringVar(&dmS.ServerID, "server-id", "", "server id the device authenticates")
	fs.StringVar(&dmS.ServerPassword, "server-password", "", "server password")
	fs.StringVar((*string)(&dmS.ServerAuth), "server-auth", "", "server credential type towards the device: basic, md5 or hmac (default: the same as -auth)")
	fs.StringVar(&dmS.FUMORoot, "fumo-root", "", "FUMO node root (default ./FwUpdate/1)")
	fs.StringVar(&lw.Endpoint, "endpoint", "", "LwM2M endpoint name")
	fs.StringVar(&lw.PSKIdentity, "psk-identity", "", "DTLS PSK identity")
	fs.StringVar(&lw.PSKKeyHex, "psk-key", "", "DTLS PSK key (hex)")
	return func(ctx context.Context, e *cliEnv, _ []string) error {
		if *file != "" {
			var rd io.Reader = stdin
			if *file != "-" {
				f, err := os.Open(*file)
				if err != nil {
					return err
				}
				defer f.Close()
				rd = f
			}
			r = api.DeviceRequest{}
			dec := json.NewDecoder(rd)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("%s: %w", *file, err)
			}
		} else {
			switch r.Protocol {
			case fleet.ProtocolDM:
				r.DM = &dmS
			case fleet.ProtocolLwM2M:
				r.LwM2M = &lw
			}
		}
		v, err := e.c.AddDevice(ctx, r)
		if err != nil {
			return err
		}
		return e.print(v)
	}
}

func deviceList(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	protocol := fs.String("protocol", "", "only dm or lwm2m devices")
	model := fs.String("model", "", "only this model")
	fw := fs.String("fw", "", "only devices on this firmware version")
	return func(ctx context.Context, e *cliEnv, _ []string) error {
		q := url.Values{}
		for k, v := range map[string]string{"protocol": *protocol, "model": *model, "firmware_version": *fw, "limit": "1000"} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var all []api.DeviceView
		for {
			ds, err := e.c.Devices(ctx, q)
			if err != nil {
				return err
			}
			all = append(all, ds...)
			if len(ds) < 1000 {
				break
			}
			q.Set("after", ds[len(ds)-1].ID)
		}
		if e.json {
			return e.print(all)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROTOCOL\tMODEL\tFIRMWARE\tREACHABLE")
		for _, d := range all {
			reach := "-"
			if d.LwM2M != nil {
				reach = map[bool]string{true: "registered", false: "not registered"}[d.LwM2M.Registered]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Protocol, d.Model, d.FirmwareVersion, reach)
		}
		return tw.Flush()
	}
}

func jobCreate(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	var r bridge.JobRequest
	fs.StringVar(&r.ID, "id", "", "job id (default generated)")
	fs.StringVar(&r.DeviceID, "device", "", "device id (required)")
	fs.StringVar(&r.PackageID, "package", "", "package id (required)")
	fs.StringVar((*string)(&r.Operation), "operation", "", "download, update or download_and_update (default)")
	fs.StringVar((*string)(&r.Delivery), "delivery", "", "pull (default) or push")
	verifyFlag(fs, &r.Verify)
	return func(ctx context.Context, e *cliEnv, _ []string) error {
		if r.DeviceID == "" || r.PackageID == "" {
			return usageError{"want -device and -package"}
		}
		j, err := e.c.CreateJob(ctx, r)
		if err != nil {
			return err
		}
		return e.print(j)
	}
}

func campaignCreate(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	var r bridge.CampaignRequest
	var sel fleet.Selector
	devices := fs.String("devices", "", "comma-separated device ids")
	start := fs.Bool("start", false, "start the campaign once created")
	fs.StringVar(&r.ID, "id", "", "campaign id (default generated)")
	fs.StringVar(&r.PackageID, "package", "", "package id (required)")
	fs.StringVar((*string)(&r.Operation), "operation", "", "download, update or download_and_update (default)")
	fs.StringVar((*string)(&r.Delivery), "delivery", "", "pull (default) or push")
	fs.StringVar((*string)(&sel.Protocol), "protocol", "", "select devices of this protocol")
	fs.StringVar(&sel.Model, "model", "", "select devices of this model")
	fs.StringVar(&sel.FirmwareVersion, "fw", "", "select devices on this firmware version")
	fs.IntVar(&r.MaxInFlight, "max-in-flight", 0, "jobs under way at once (default 10)")
	fs.IntVar(&r.RatePerMinute, "rate", 0, "job starts per minute (0: no limit)")
	fs.IntVar(&r.FailureThreshold, "failures", 0, "failed jobs that pause the campaign (0: none)")
	fs.BoolVar(&r.FailurePercent, "percent", false, "-failures is a percentage of finished jobs")
	verifyFlag(fs, &r.Verify)
	return func(ctx context.Context, e *cliEnv, _ []string) error {
		if *devices != "" {
			r.Devices = strings.Split(*devices, ",")
		}
		if sel != (fleet.Selector{}) {
			r.Selector = &sel
		}
		p, err := e.c.CreateCampaign(ctx, r)
		if err != nil {
			return err
		}
		if *start {
			if p, err = e.c.CampaignAction(ctx, p.Campaign.ID, "start"); err != nil {
				return err
			}
		}
		return e.print(p)
	}
}

// watchCampaign shows a campaign's progress until it ends: bars redrawn
// in place on a terminal, a line per change otherwise. It returns the
// last progress.
func watchCampaign(ctx context.Context, c *client.Client, id string, w io.Writer, bars bool) (bridge.Progress, error) {
	var last string
	drawn := 0
	for {
		p, err := c.Campaign(ctx, id)
		if err != nil {
			return p, err
		}
		if bars {
			if drawn > 0 {
				fmt.Fprintf(w, "\x1b[%dA", drawn)
			}
			drawn = drawBars(w, p)
		} else if line := countsLine(p); line != last {
			fmt.Fprintf(w, "%s  campaign %s %s: %s\n", time.Now().Format("15:04:05"), id, p.Campaign.State, line)
			last = line
		}
		if p.Campaign.State == fleet.CampaignDone || p.Campaign.State == fleet.CampaignCancelled {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// drawBars draws one bar per job state and returns the lines drawn.
func drawBars(w io.Writer, p bridge.Progress) int {
	const width = 30
	total := max(p.Devices, 1)
	rows := []struct {
		name string
		n    int
	}{{"pending", p.Pending}}
	for _, s := range jobStates {
		rows = append(rows, struct {
			name string
			n    int
		}{string(s), p.Jobs[s]})
	}
	fmt.Fprintf(w, "\x1b[2Kcampaign %s: %s (%d devices)\n", p.Campaign.ID, p.Campaign.State, p.Devices)
	for _, r := range rows {
		fill := r.n * width / total
		fmt.Fprintf(w, "\x1b[2K  %-15s [%s%s] %d\n", r.name, strings.Repeat("#", fill), strings.Repeat(".", width-fill), r.n)
	}
	return len(rows) + 1
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// resultTable prints a campaign's outcome per device: protocol, old and
// new firmware, outcome, the FUMO result code and the LwM2M Update
// Result.
func resultTable(ctx context.Context, c *client.Client, id string, before map[string]string, w io.Writer) error {
	jobs, err := c.Jobs(ctx, url.Values{"campaign": {id}, "limit": {"1000"}})
	if err != nil {
		return err
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].DeviceID < jobs[k].DeviceID })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tPROTOCOL\tFIRMWARE\tOUTCOME\tFUMO CODE\tLWM2M RESULT")
	for _, j := range jobs {
		d, err := c.Device(ctx, j.DeviceID)
		if err != nil {
			return err
		}
		fumoCode, lwResult := "-", "-"
		for _, n := range j.Native {
			switch n.Protocol {
			case fleet.ProtocolDM:
				fumoCode = fmt.Sprint(n.Code)
			case fleet.ProtocolLwM2M:
				lwResult = fmt.Sprint(n.Code)
			}
		}
		if j.State == fleet.JobSucceeded {
			if fumoCode == "-" {
				fumoCode = "200"
			}
			if d.Protocol == fleet.ProtocolLwM2M && lwResult == "-" {
				lwResult = "1"
			}
		}
		outcome := string(j.State)
		if j.Reason != "" {
			outcome += " (" + string(j.Reason) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s → %s\t%s\t%s\t%s\n", j.DeviceID, d.Protocol, before[j.DeviceID], d.FirmwareVersion, outcome, fumoCode, lwResult)
	}
	return tw.Flush()
}
