package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fumo-gw/fumo-gw/api"
)

// The LwM2M verbs of "device": Discover and Write-Attributes.

// deviceDiscover lists the links an LwM2M device has under a path.
func deviceDiscover(*flag.FlagSet, io.Reader) func(context.Context, *cliEnv, []string) error {
	return func(ctx context.Context, e *cliEnv, args []string) error {
		if len(args) != 2 {
			return usageError{"a device id and an LwM2M path"}
		}
		l, err := e.c.LwM2MDiscover(ctx, args[0], args[1])
		if err != nil || e.json {
			if err == nil {
				err = e.print(l)
			}
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tATTRIBUTES")
		for _, k := range l.Links {
			fmt.Fprintf(tw, "%s\t%s\n", k.Path, orDash(attributesLine(k.Attributes)))
		}
		return tw.Flush()
	}
}

// attributesLine shows link attributes as name=value, sorted by name.
func attributesLine(at map[string]string) string {
	names := make([]string, 0, len(at))
	for k := range at {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if at[k] != "" {
			names[i] = k + "=" + at[k]
		}
	}
	return strings.Join(names, " ")
}

// deviceWriteAttributes sets notification attributes on an LwM2M path.
func deviceWriteAttributes(fs *flag.FlagSet, _ io.Reader) func(context.Context, *cliEnv, []string) error {
	var at api.LwM2MAttributes
	intFlag := func(p **int, name, usage string) {
		fs.Func(name, usage, func(s string) error {
			v, err := strconv.Atoi(s)
			*p = &v
			return err
		})
	}
	floatFlag := func(p **float64, name, usage string) {
		fs.Func(name, usage, func(s string) error {
			v, err := strconv.ParseFloat(s, 64)
			*p = &v
			return err
		})
	}
	intFlag(&at.PMin, "pmin", "minimum period between notifications, in `seconds`")
	intFlag(&at.PMax, "pmax", "maximum period between notifications, in `seconds` (not under -pmin)")
	floatFlag(&at.GT, "gt", "notify when the value crosses above this `number` (a resource only)")
	floatFlag(&at.LT, "lt", "notify when the value crosses below this `number` (a resource only; under -gt)")
	floatFlag(&at.ST, "st", "notify when the value changed by at least this `step` (a resource only; 0 or more)")
	return func(ctx context.Context, e *cliEnv, args []string) error {
		if len(args) != 2 {
			return usageError{"a device id and an LwM2M path"}
		}
		if at == (api.LwM2MAttributes{}) {
			return usageError{"no attributes: give -pmin, -pmax, -gt, -lt or -st"}
		}
		if err := e.c.LwM2MWriteAttributes(ctx, args[0], args[1], at); err != nil {
			return err
		}
		if e.json {
			return e.print(map[string]any{"device": args[0], "path": args[1], "attributes": at})
		}
		fmt.Fprintf(e.stdout, "device %s: attributes of %s written: %s\n", args[0], args[1], attributesLine(attributesOf(at)))
		return nil
	}
}

// attributesOf is the attributes that are set, as the device sees them.
func attributesOf(at api.LwM2MAttributes) map[string]string {
	m := map[string]string{}
	for name, v := range map[string]*int{"pmin": at.PMin, "pmax": at.PMax} {
		if v != nil {
			m[name] = strconv.Itoa(*v)
		}
	}
	for name, v := range map[string]*float64{"gt": at.GT, "lt": at.LT, "st": at.ST} {
		if v != nil {
			m[name] = strconv.FormatFloat(*v, 'g', -1, 64)
		}
	}
	return m
}
