package webhook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/webhook"
)

// BenchmarkSessionDelivered: one channel's session (10 members join and
// leave: 22 notices) observed, stored in a bbolt outbox and delivered to a
// local receiver, per op.
//
//	go test -run '^$' -bench SessionDelivered ./internal/webhook
func BenchmarkSessionDelivered(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "minirtc.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a, _ := store.NewApp("b", time.Now())
	if err := st.PutApp(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	ch := channel.NewManager(channel.Config{}, quiet)
	svc := webhook.New(webhook.Config{}, st, nil, quiet)
	ch.Observe(svc.Observe)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ch.Run(ctx) }()
	go func() { defer wg.Done(); svc.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	if _, err := webhook.AddEndpoint(context.Background(), st, a.ID, srv.URL, secret); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprint("c", i)
		for u := uint32(1); u <= 10; u++ {
			if _, err := ch.Join(channel.JoinRequest{App: a.ID, Channel: name, UID: u, Endpoint: ignore{}, Role: channel.RoleBroadcaster}); err != nil {
				b.Fatal(err)
			}
		}
		for u := uint32(1); u <= 10; u++ {
			if err := ch.Leave(channel.Ref{App: a.ID, Channel: name, UID: u}, errcode.LeaveNormal); err != nil {
				b.Fatal(err)
			}
		}
		want := 22 * (i + 1)
		for len(recv.notices()) < want {
			time.Sleep(100 * time.Microsecond)
		}
	}
}
