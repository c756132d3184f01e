package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/webhook"
)

var webhookSubcommands = []subcommand{
	{"add", "add a webhook endpoint to an app (prints its secret, once)"},
	{"list", "list an app's webhook endpoints"},
	{"remove", "remove a webhook endpoint"},
}

var webhookHelp = groupHelp("webhook", `Webhook endpoints receive an app's channel events as Agora's notification
callbacks do: a signed JSON POST per event (docs/webhooks.md). Each endpoint
has a secret that signs the requests (Agora-Signature, Agora-Signature-V2).
The commands work on a stopped server's data directory and on a running
server (through its control socket); a change applies to the next event.
The REST API also lists deliveries and redelivers (docs/rest-api.md).`, webhookSubcommands, `  minirtc webhook add --app-id 0123456789abcdef0123456789abcdef --url https://example.com/agora
  minirtc webhook list --app-id 0123456789abcdef0123456789abcdef
  minirtc webhook remove --app-id 0123456789abcdef0123456789abcdef 5c0ef3b3a2e44b1c9f7d6f5a8e2b1c3d
`)

var webhookSubHelp = map[string]string{
	"add": `minirtc webhook add --app-id ID --url URL [--secret SECRET] [--data-dir DIR] [--json]

Adds a webhook endpoint to the app and prints its id and secret. Without
--secret a random one is made (give your Agora receiver's secret to keep it
unchanged). The secret is not shown again.

Examples:
  minirtc webhook add --app-id 0123456789abcdef0123456789abcdef --url https://example.com/agora
  minirtc webhook add --app-id 0123456789abcdef0123456789abcdef --url http://10.0.0.5:3000/ncs --secret "$NCS_SECRET"`,
	"list": `minirtc webhook list --app-id ID [--data-dir DIR] [--json]

Lists the app's webhook endpoints (ids, URLs, creation times; never secrets).

Examples:
  minirtc webhook list --app-id 0123456789abcdef0123456789abcdef`,
	"remove": `minirtc webhook remove --app-id ID WEBHOOK-ID [--data-dir DIR]

Removes a webhook endpoint: its pending deliveries are given up.

Examples:
  minirtc webhook remove --app-id 0123456789abcdef0123456789abcdef 5c0ef3b3a2e44b1c9f7d6f5a8e2b1c3d`,
}

// hookStore is what the webhook commands need: a running server's control
// socket or the store file itself.
type hookStore interface {
	Webhooks(ctx context.Context, app string) ([]webhook.Endpoint, error)
	AddWebhook(ctx context.Context, app, url, secret string) (webhook.Endpoint, error)
	RemoveWebhook(ctx context.Context, app, id string) error
}

func webhookCmd(args []string, stdout, stderr io.Writer) error {
	sub, done, err := subcommandOf("webhook", webhookHelp, webhookSubHelp, args, stdout, stderr)
	if done {
		return err
	}
	fs := newFlagSet("webhook "+sub, stderr, webhookSubHelp[sub])
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory of the server (its store, or its control socket while it runs)")
	asJSON := fs.Bool("json", false, "print JSON")
	appID := fs.String("app-id", "", "the app (required)")
	url := fs.String("url", "", "the endpoint's URL, http:// or https:// (add)")
	secret := fs.String("secret", "", "the signing secret, 16+ characters (add; default: a random one)")
	pos, err := parseCommandFlags(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	want := 0
	if sub == "remove" {
		want = 1
	}
	if len(pos) != want || *appID == "" || (sub == "add" && *url == "") {
		fs.Usage()
		return errUsage
	}
	ctx := context.Background()
	hooks, closeHooks, err := openHookStore(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer closeHooks()
	switch sub {
	case "add":
		e, err := hooks.AddWebhook(ctx, *appID, *url, *secret)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, e)
		}
		fmt.Fprintf(stdout, "id:     %s\nurl:    %s\nsecret: %s\n\nThe secret is shown only now; the receiver verifies Agora-Signature-V2 with it (docs/webhooks.md).\n",
			e.ID, e.URL, e.Secret)
		return nil
	case "list":
		list, err := hooks.Webhooks(ctx, *appID)
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []webhook.Endpoint{}
			}
			return printJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tCREATED")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.ID, e.URL, e.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default: // remove
		if err := hooks.RemoveWebhook(ctx, *appID, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed webhook %s\n", pos[0])
		return nil
	}
}

// openHookStore reaches the server using dataDir (reachServer).
func openHookStore(ctx context.Context, dataDir string) (hookStore, func(), error) {
	return reachServer(ctx, dataDir, func(c *control.Client) hookStore { return c }, func(st store.Store) hookStore { return storeHooks{st} })
}

// storeHooks is hookStore over the store file of a stopped server.
type storeHooks struct{ st store.Store }

func (s storeHooks) Webhooks(ctx context.Context, app string) ([]webhook.Endpoint, error) {
	if err := s.app(ctx, app); err != nil {
		return nil, err
	}
	return control.ListWebhooks(ctx, s.st, app)
}

func (s storeHooks) AddWebhook(ctx context.Context, app, url, secret string) (webhook.Endpoint, error) {
	if err := s.app(ctx, app); err != nil {
		return webhook.Endpoint{}, err
	}
	return webhook.AddEndpoint(ctx, s.st, app, url, secret)
}

func (s storeHooks) RemoveWebhook(ctx context.Context, app, id string) error {
	if err := s.app(ctx, app); err != nil {
		return err
	}
	return control.RemoveWebhook(ctx, s.st, app, id)
}

func (s storeHooks) app(ctx context.Context, id string) error {
	_, err := s.st.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no app with id %s (see minirtc app list)", id)
	}
	return err
}
