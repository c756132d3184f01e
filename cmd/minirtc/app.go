package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
)

const appUsage = `minirtc app create [--name NAME] [--no-token-ok] [--enforce-publisher-token] [--max-users N] [--data-dir DIR] [--json]
       minirtc app list [--data-dir DIR] [--json]
       minirtc app disable|enable APPID [--data-dir DIR] [--json]`

func appCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: %s\n", appUsage)
		return errUsage
	}
	sub := args[0]
	fs := newFlagSet("app "+sub, stderr, appUsage)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory of the embedded store")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "app name (create)")
	noToken := fs.Bool("no-token-ok", false, "allow joins without a token, with the appId as key (development only; create)")
	enforce := fs.Bool("enforce-publisher-token", false, "require the token's publish privileges to publish (create)")
	maxUsers := fs.Int("max-users", 0, "members per channel, 0 = node default (create)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := store.OpenBolt(filepath.Join(*dataDir, "minirtc.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()

	switch sub {
	case "create":
		if len(pos) != 0 {
			fs.Usage()
			return errUsage
		}
		a, err := store.NewApp(*name, time.Now())
		if err != nil {
			return err
		}
		a.Settings = store.AppSettings{AllowNoToken: *noToken, EnforcePublisherToken: *enforce, MaxUsersPerChannel: *maxUsers}
		if err := st.PutApp(ctx, a); err != nil {
			return err
		}
		return printApps(stdout, []store.App{a}, *asJSON, true)
	case "list":
		apps, err := st.Apps(ctx)
		if err != nil {
			return err
		}
		return printApps(stdout, apps, *asJSON, false)
	case "disable", "enable":
		if len(pos) != 1 {
			fs.Usage()
			return errUsage
		}
		a, err := st.App(ctx, pos[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no app with id %s (see minirtc app list)", pos[0])
		}
		if err != nil {
			return err
		}
		a.Enabled = sub == "enable"
		if err := st.PutApp(ctx, a); err != nil {
			return err
		}
		return printApps(stdout, []store.App{a}, *asJSON, true)
	default:
		fmt.Fprintf(stderr, "minirtc app: unknown subcommand %q\nusage: %s\n", sub, appUsage)
		return errUsage
	}
}

func defaultDataDir() string {
	if v, ok := os.LookupEnv(config.EnvName("dataDir")); ok {
		return v
	}
	return config.Default().DataDir
}

func printApps(w io.Writer, apps []store.App, asJSON, single bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if single && len(apps) == 1 {
			return enc.Encode(apps[0])
		}
		if apps == nil {
			apps = []store.App{}
		}
		return enc.Encode(apps)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP ID\tCERTIFICATE\tNAME\tENABLED\tNO TOKEN OK\tCREATED")
	for _, a := range apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\n", a.ID, a.Certificate, a.Name, a.Enabled,
			a.Settings.AllowNoToken, a.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
