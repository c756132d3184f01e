package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/tokenserver"
)

// wireTokenServer serves the built-in token service on the HTTP port when
// tokenServer.enabled is set. It signs for tokenServer.appId, or the first
// app, reading the store per request (a rotated certificate applies at once).
func (n *Node) wireTokenServer(cfg config.Config) error {
	tc := cfg.TokenServer
	if !tc.Enabled {
		return nil
	}
	creds := func(ctx context.Context) (tokenserver.Credentials, error) {
		var a store.App
		if tc.AppID != "" {
			var err error
			if a, err = n.store.App(ctx, tc.AppID); err != nil {
				return tokenserver.Credentials{}, fmt.Errorf("tokenServer.appId %s: %w", tc.AppID, err)
			}
		} else {
			apps, err := n.store.Apps(ctx)
			if err != nil {
				return tokenserver.Credentials{}, err
			}
			if len(apps) == 0 {
				return tokenserver.Credentials{}, errors.New("no app")
			}
			a = apps[0]
		}
		if !a.Enabled {
			return tokenserver.Credentials{}, fmt.Errorf("app %s is disabled", a.ID)
		}
		return tokenserver.Credentials{AppID: a.ID, AppCert: a.Certificate}, nil
	}
	h, err := tokenserver.New(tokenserver.Config{
		Credentials:    creds,
		Secret:         tc.Secret,
		AllowedOrigins: tc.AllowedOrigins,
		Lifetime:       tc.Lifetime,
		NoPublish:      tc.SubscriberOnly,
	}, n.log)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.mux.Handle(tc.Path, h)
	n.log.Info("token server enabled", "path", tc.Path, "origins", tc.AllowedOrigins, "secret", tc.Secret != "")
	return nil
}
