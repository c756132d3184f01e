package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/store"
)

var apikeySubcommands = []subcommand{
	{"create", "create a REST API key (prints its id and secret, once)"},
	{"list", "list the REST API keys"},
	{"delete", "delete a REST API key"},
}

var apikeyHelp = groupHelp("apikey", `REST API keys authenticate operators on the REST API (docs/rest-api.md) with
HTTP Basic auth, as Agora's customer ID and secret do: curl -u ID:SECRET ...
Only a hash of each secret is stored, so create prints the secret once. Until
a key exists (or MINIRTC_API_KEY=id:secret is set) every API call gets 401.
The commands work on a stopped server's data directory and on a running
server (through its control socket); a change takes effect at once.`, apikeySubcommands, `  minirtc apikey create --name ci
  minirtc apikey list --json
  minirtc apikey delete 5c0ef3b3a2e44b1c9f7d6f5a8e2b1c3d
`)

var apikeySubHelp = map[string]string{
	"create": `minirtc apikey create [--name NAME] [--data-dir DIR] [--json]

Creates a REST API key and prints its id and secret. The secret is not
stored and cannot be shown again: keep it, or delete the key and create another.

Examples:
  minirtc apikey create --name ci
  minirtc apikey create --name backend --json`,
	"list": `minirtc apikey list [--data-dir DIR] [--json]

Lists the REST API keys (ids, names, creation times; never secrets).

Examples:
  minirtc apikey list`,
	"delete": `minirtc apikey delete ID [--data-dir DIR]

Deletes a REST API key: calls with it are refused from now on.

Examples:
  minirtc apikey delete 5c0ef3b3a2e44b1c9f7d6f5a8e2b1c3d`,
}

// keyStore is what the apikey commands need: a running server's control
// socket or the store file itself.
type keyStore interface {
	APIKeys(ctx context.Context) ([]control.APIKeyInfo, error)
	CreateAPIKey(ctx context.Context, name string) (control.APIKeyInfo, error)
	DeleteAPIKey(ctx context.Context, id string) error
}

func apikeyCmd(args []string, stdout, stderr io.Writer) error {
	sub, done, err := subcommandOf("apikey", apikeyHelp, apikeySubHelp, args, stdout, stderr)
	if done {
		return err
	}
	fs := newFlagSet("apikey "+sub, stderr, apikeySubHelp[sub])
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory of the server (its store, or its control socket while it runs)")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "a label for the key (create)")
	pos, err := parseCommandFlags(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	want := 0
	if sub == "delete" {
		want = 1
	}
	if len(pos) != want {
		fs.Usage()
		return errUsage
	}
	ctx := context.Background()
	keys, closeKeys, err := openKeyStore(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer closeKeys()
	switch sub {
	case "create":
		k, err := keys.CreateAPIKey(ctx, *name)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, k)
		}
		fmt.Fprintf(stdout, "id:     %s\nsecret: %s\nname:   %s\n\nThe secret is shown only now. Use it with HTTP Basic auth, e.g.\n  curl -u %s:%s http://HOST:8080/rest/v1/apps\n",
			k.ID, k.Secret, k.Name, k.ID, k.Secret)
		return nil
	case "list":
		list, err := keys.APIKeys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []control.APIKeyInfo{}
			}
			return printJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default: // delete
		if err := keys.DeleteAPIKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted API key %s\n", pos[0])
		return nil
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openKeyStore reaches the server using dataDir (reachServer).
func openKeyStore(ctx context.Context, dataDir string) (keyStore, func(), error) {
	return reachServer(ctx, dataDir, func(c *control.Client) keyStore { return c }, func(st store.Store) keyStore { return storeKeys{st} })
}

// storeKeys is keyStore over the store file of a stopped server.
type storeKeys struct{ st store.Store }

func (s storeKeys) APIKeys(ctx context.Context) ([]control.APIKeyInfo, error) {
	keys, err := s.st.APIKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]control.APIKeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, control.KeyInfo(k))
	}
	return out, nil
}

func (s storeKeys) CreateAPIKey(ctx context.Context, name string) (control.APIKeyInfo, error) {
	return control.CreateAPIKey(ctx, s.st, name)
}

func (s storeKeys) DeleteAPIKey(ctx context.Context, id string) error {
	err := s.st.DeleteAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no API key with id %s (see minirtc apikey list)", id)
	}
	return err
}
