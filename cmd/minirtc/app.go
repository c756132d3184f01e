package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/store"
)

var appSubcommands = []subcommand{
	{"create", "create an app (prints its appId and appCertificate)"},
	{"list", "list the apps"},
	{"disable", "refuse new joins and media of an app"},
	{"enable", "enable a disabled app"},
}

var appHelp = groupHelp("app", `Apps own channels and sign tokens: each has a 32-hex appId and appCertificate.
The commands work on a stopped server's data directory and on a running
server (through its control socket, {data-dir}/minirtc.sock); a change takes
effect at once.`, appSubcommands, `  minirtc app create --name prod
  minirtc app create --name dev --no-token-ok      # joins with the appId as key (development only)
  minirtc app list --json
  minirtc app disable 970ca35de60c44645bbae8a215061b33
`)

// appSubHelp is each app subcommand's help page.
var appSubHelp = map[string]string{
	"create": `minirtc app create [--name NAME] [--no-token-ok] [--enforce-publisher-token] [--max-users N] [--data-dir DIR] [--json]

Creates an app with a random appId and appCertificate and prints them.

Examples:
  minirtc app create --name prod
  minirtc app create --name dev --no-token-ok --json`,
	"list": `minirtc app list [--data-dir DIR] [--json]

Lists the apps with their certificates.

Examples:
  minirtc app list
  minirtc app list --data-dir /var/lib/minirtc --json`,
	"disable": `minirtc app disable APPID [--data-dir DIR] [--json]

Disables an app: new joins, tokens and media connections of it are refused.

Examples:
  minirtc app disable 970ca35de60c44645bbae8a215061b33`,
	"enable": `minirtc app enable APPID [--data-dir DIR] [--json]

Enables a disabled app again.

Examples:
  minirtc app enable 970ca35de60c44645bbae8a215061b33`,
}

// appStore is what the app commands need: a running server's control socket
// or the store file itself.
type appStore interface {
	Apps(ctx context.Context) ([]store.App, error)
	CreateApp(ctx context.Context, req control.CreateRequest) (store.App, error)
	SetEnabled(ctx context.Context, id string, enabled bool) (store.App, error)
}

func appCmd(args []string, stdout, stderr io.Writer) error {
	sub, done, err := subcommandOf("app", appHelp, appSubHelp, args, stdout, stderr)
	if done {
		return err
	}
	fs := newFlagSet("app "+sub, stderr, appSubHelp[sub])
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory of the server (its store, or its control socket while it runs)")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "app name (create)")
	noToken := fs.Bool("no-token-ok", false, "allow joins without a token, with the appId as key (development only; create)")
	enforce := fs.Bool("enforce-publisher-token", false, "require a token to publish: refuse the appId as key for publishing (tokens always need publish privileges) (create)")
	maxUsers := fs.Int("max-users", 0, "members per channel, 0 = node default (create)")
	pos, err := parseCommandFlags(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	ctx := context.Background()
	apps, closeApps, err := openAppStore(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer closeApps()

	switch sub {
	case "create":
		if len(pos) != 0 {
			fs.Usage()
			return errUsage
		}
		a, err := apps.CreateApp(ctx, control.CreateRequest{Name: *name, Settings: store.AppSettings{
			AllowNoToken: *noToken, EnforcePublisherToken: *enforce, MaxUsersPerChannel: *maxUsers}})
		if err != nil {
			return err
		}
		return printApps(stdout, []store.App{a}, *asJSON, true)
	case "list":
		list, err := apps.Apps(ctx)
		if err != nil {
			return err
		}
		return printApps(stdout, list, *asJSON, false)
	default: // disable, enable
		if len(pos) != 1 {
			fs.Usage()
			return errUsage
		}
		a, err := apps.SetEnabled(ctx, pos[0], sub == "enable")
		if err != nil {
			return err
		}
		return printApps(stdout, []store.App{a}, *asJSON, true)
	}
}

// openAppStore reaches the server using dataDir (reachServer).
func openAppStore(ctx context.Context, dataDir string) (appStore, func(), error) {
	return reachServer(ctx, dataDir, func(c *control.Client) appStore { return c }, func(st store.Store) appStore { return storeApps{st} })
}

// storeApps is appStore over the store file of a stopped server.
type storeApps struct{ st store.Store }

func (s storeApps) Apps(ctx context.Context) ([]store.App, error) { return s.st.Apps(ctx) }

func (s storeApps) CreateApp(ctx context.Context, req control.CreateRequest) (store.App, error) {
	a, err := store.NewApp(req.Name, time.Now())
	if err != nil {
		return a, err
	}
	a.Settings = req.Settings
	return a, s.st.PutApp(ctx, a)
}

func (s storeApps) SetEnabled(ctx context.Context, id string, enabled bool) (store.App, error) {
	a, err := s.st.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("no app with id %s (see minirtc app list)", id)
	}
	if err != nil {
		return a, err
	}
	a.Enabled = enabled
	return a, s.st.PutApp(ctx, a)
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
