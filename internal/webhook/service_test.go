package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/webhook"
)

const secret = "0123456789abcdef-secret"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type ignore struct{}

func (ignore) Notify(channel.Event) {}

type meter struct {
	mu      sync.Mutex
	results map[string]int
	pending int
}

func (m *meter) WebhookDelivered(r string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		m.results = map[string]int{}
	}
	m.results[r]++
}

func (m *meter) SetWebhooksPending(n int) {
	m.mu.Lock()
	m.pending = n
	m.mu.Unlock()
}

func (m *meter) get(r string) (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.results[r], m.pending
}

// rig is a channel model, a memory store with one app and a running
// webhook Service observing the model.
type rig struct {
	t    *testing.T
	ch   *channel.Manager
	st   *store.Memory
	app  string
	svc  *webhook.Service
	m    *meter
	stop func()
}

func newRig(t *testing.T, cfg webhook.Config) *rig {
	t.Helper()
	st := store.NewMemory()
	a, _ := store.NewApp("t", time.Now())
	if err := st.PutApp(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ch: channel.NewManager(channel.Config{}, quiet), st: st, app: a.ID, m: &meter{}}
	r.svc = webhook.New(cfg, st, nil, quiet)
	r.svc.SetMeter(r.m)
	r.ch.Observe(r.svc.Observe)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.ch.Run(ctx) }()
	go func() { defer wg.Done(); r.svc.Run(ctx) }()
	r.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(r.stop)
	return r
}

func (r *rig) endpoint(url string) string {
	r.t.Helper()
	e, err := webhook.AddEndpoint(context.Background(), r.st, r.app, url, secret)
	if err != nil {
		r.t.Fatal(err)
	}
	return e.ID
}

func (r *rig) join(chName string, uid uint32, role channel.Role, profile channel.Profile, os string) {
	r.t.Helper()
	_, err := r.ch.Join(channel.JoinRequest{App: r.app, Channel: chName, UID: uid, Role: role, Profile: profile,
		Endpoint: ignore{}, Client: channel.ClientInfo{Kind: "wechat", OS: os}})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) ref(chName string, uid uint32) channel.Ref {
	return channel.Ref{App: r.app, Channel: chName, UID: uid}
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// script runs a live-channel session and returns the Agora event types
// (and minirtc's) it must produce, in order.
func script(r *rig, chName string) []int {
	r.join(chName, 1, channel.RoleBroadcaster, channel.ProfileLive, "Android 13")
	r.join(chName, 2, channel.RoleAudience, channel.ProfileLive, "iOS 17.1")
	must(r.t, r.ch.SetRole(r.ref(chName, 2), channel.RoleBroadcaster))
	must(r.t, r.ch.SetRole(r.ref(chName, 2), channel.RoleAudience))
	must(r.t, r.ch.Kick(r.app, chName, 2, "kicked by a rule"))
	must(r.t, r.ch.Leave(r.ref(chName, 1), errcode.LeaveNormal))
	return []int{101, 103, 105, 111, 112, 1005, 106, 104, 102}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func types(ns []agoraNotice) []int {
	out := make([]int, len(ns))
	for i, n := range ns {
		out[i] = n.EventType
	}
	return out
}

// TestScriptedSessionAgoraReceiver: a session in a live channel reaches an
// Agora-style receiver as exactly the expected notices, in order, each
// signed (V1 and V2) and with Agora's payload fields: platform from the
// client's os, leave reasons (3 kicked, 1 quit), duration, lastUid,
// increasing clientSeq.
func TestScriptedSessionAgoraReceiver(t *testing.T) {
	r := newRig(t, webhook.Config{})
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	want := script(r, "room")
	waitFor(t, "all notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	time.Sleep(100 * time.Millisecond) // nothing more may come
	got := recv.notices()
	if !slices.Equal(types(got), want) {
		t.Fatalf("event types %v, want %v", types(got), want)
	}
	var lastSeq int64
	for i, n := range got {
		if !n.sigV1OK || n.ProductID != 1 || n.NoticeID == "" || n.NotifyMs == 0 || n.Payload.ChannelName != "room" || n.Payload.TS == 0 {
			t.Errorf("notice %d: %+v", i, n)
		}
		if n.Payload.ClientSeq != 0 {
			if n.Payload.ClientSeq <= lastSeq {
				t.Errorf("notice %d: clientSeq %d after %d", i, n.Payload.ClientSeq, lastSeq)
			}
			lastSeq = n.Payload.ClientSeq
		}
	}
	if len(unique(got)) != len(got) {
		t.Errorf("noticeIds repeat: %+v", got)
	}
	byType := map[int]agoraNotice{}
	for _, n := range got {
		byType[n.EventType] = n
	}
	if p := byType[103].Payload; p.UID != 1 || p.Platform != 1 {
		t.Errorf("103: %+v", p)
	}
	if p := byType[105].Payload; p.UID != 2 || p.Platform != 2 {
		t.Errorf("105: %+v", p)
	}
	if p := byType[106].Payload; p.UID != 2 || p.Reason != 3 {
		t.Errorf("106: %+v", p)
	}
	if p := byType[104].Payload; p.UID != 1 || p.Reason != 1 || p.Duration < 0 {
		t.Errorf("104: %+v", p)
	}
	if p := byType[102].Payload; p.LastUID != 1 {
		t.Errorf("102: %+v", p)
	}
	if recv.badSig != 0 {
		t.Errorf("%d bad signatures", recv.badSig)
	}
	if sent, pending := r.m.get(webhook.ResultSent); sent != len(want) || pending != 0 {
		t.Errorf("metrics: sent %d pending %d", sent, pending)
	}
}

// TestCommunicationProfile: communication channels report 107/108 and no
// role changes.
func TestCommunicationProfile(t *testing.T) {
	r := newRig(t, webhook.Config{})
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	r.join("call", 7, channel.RoleAudience, channel.ProfileCommunication, "Windows 11")
	must(t, r.ch.SetRole(r.ref("call", 7), channel.RoleBroadcaster))
	must(t, r.ch.Detach(r.ref("call", 7), errcode.LeaveTimeout, 0))
	want := []int{101, 107, 108, 102}
	waitFor(t, "notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := recv.notices()
	if !slices.Equal(types(got), want) {
		t.Fatalf("types %v, want %v", types(got), want)
	}
	if p := got[1].Payload; p.Platform != 5 {
		t.Errorf("107 platform %d, want 5 (Windows)", p.Platform)
	}
	if p := got[2].Payload; p.Reason != 2 {
		t.Errorf("108 reason %d, want 2 (timeout)", p.Reason)
	}
}

// TestReceiverDownThenBack: the endpoint's port refuses connections for
// 5 s, then a receiver listens there: every notice arrives, in order,
// nothing lost. The backoff is short (50-400 ms), the logic the same as
// with the defaults.
func TestReceiverDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused until the receiver starts
	// The receiver is down for a minute (5 s with -short), with the default
	// first backoff (1 s) and a 10 s cap so that delivery resumes soon after.
	down, maxBackoff := time.Minute, 10*time.Second
	if testing.Short() {
		down, maxBackoff = 5*time.Second, 400*time.Millisecond
	}
	r := newRig(t, webhook.Config{MinBackoff: min(time.Second, maxBackoff/8), MaxBackoff: maxBackoff})
	r.endpoint("http://" + addr + "/agora")
	var want []int
	for i := range 3 {
		want = append(want, script(r, fmt.Sprintf("room%d", i))...)
	}
	time.Sleep(down)
	if n, _ := r.m.get(webhook.ResultRetried); n == 0 {
		t.Fatal("no failed attempt counted while the receiver was down")
	}
	recv := newAgoraReceiver(secret)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: recv}
	go srv.Serve(ln)
	defer srv.Close()
	waitFor(t, "every notice", 15*time.Second+2*maxBackoff, func() bool { return len(unique(recv.notices())) >= len(want) })
	time.Sleep(200 * time.Millisecond)
	got := unique(recv.notices())
	// Per channel, the order of the session; across channels any.
	for i := range 3 {
		name := fmt.Sprintf("room%d", i)
		var seq []int
		for _, n := range got {
			if n.Payload.ChannelName == name {
				seq = append(seq, n.EventType)
			}
		}
		if !slices.Equal(seq, want[:9]) {
			t.Errorf("%s: %v, want %v", name, seq, want[:9])
		}
	}
	if _, pending := r.m.get(webhook.ResultSent); pending != 0 {
		t.Errorf("pending %d after delivery", pending)
	}
}

// TestSlowEndpointDoesNotBlockOthers: an endpoint that never answers holds
// only its own deliveries (each attempt ends at Timeout, at most half of
// Concurrency in flight to it); another endpoint of the app gets every
// notice at once, and the channel model is not held.
func TestSlowEndpointDoesNotBlockOthers(t *testing.T) {
	hang := make(chan struct{})
	var slowHits atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		slowHits.Add(1)
		select {
		case <-hang:
		case <-req.Context().Done():
		}
	}))
	defer slow.Close()
	// Count the attempts in flight to the slow endpoint on the sender's side.
	var inFlight, maxInFlight atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if "http://"+req.URL.Host == slow.URL {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
		}
		return http.DefaultTransport.RoundTrip(req)
	})}
	r := newRig(t, webhook.Config{Timeout: 500 * time.Millisecond, Concurrency: 4, MinBackoff: 100 * time.Millisecond, Client: client})
	defer close(hang)
	recv := newAgoraReceiver(secret)
	fast := httptest.NewServer(recv)
	defer fast.Close()
	r.endpoint(slow.URL)
	r.endpoint(fast.URL)
	var want []int
	start := time.Now()
	for i := range 10 {
		want = append(want, script(r, fmt.Sprintf("c%d", i))...)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the channel model took %v for the sessions", d)
	}
	waitFor(t, "the fast endpoint's notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	if slowHits.Load() == 0 {
		t.Fatal("the slow endpoint was never tried")
	}
	// Its 10 channels were tried in parallel, but never more than half of
	// Concurrency (4) at once, and each attempt ended at Timeout.
	time.Sleep(1500 * time.Millisecond)
	if m := maxInFlight.Load(); m != 2 {
		t.Errorf("at most %d attempts in flight at the slow endpoint, want 2", m)
	}
	if slowHits.Load() <= 2 {
		t.Errorf("only %d attempts at the slow endpoint: attempts did not time out", slowHits.Load())
	}
}

// TestGiveUpAndRedeliver: an endpoint answering 500 is retried until
// RetryFor, then the entry is failed (counted); Redeliver queues it again
// and, the endpoint fixed, it is delivered with the same noticeId.
func TestGiveUpAndRedeliver(t *testing.T) {
	r := newRig(t, webhook.Config{RetryFor: 400 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	recv := newAgoraReceiver(secret)
	recv.refuse = true
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	r.join("g", 1, channel.RoleBroadcaster, channel.ProfileLive, "")
	ctx := context.Background()
	var failed []store.OutboxEntry
	waitFor(t, "give up", 5*time.Second, func() bool {
		es, _ := r.st.RecentOutbox(ctx, r.app, 10)
		failed = failed[:0]
		for _, e := range es {
			if e.Status == store.DeliveryFailed {
				failed = append(failed, e)
			}
		}
		return len(failed) == 2
	})
	if n, _ := r.m.get(webhook.ResultFailed); n != 2 {
		t.Errorf("failed counted %d, want 2", n)
	}
	// Newest first: failed[1] is 101, retried until RetryFor; 103 waited
	// behind it (one in flight per channel) and got one attempt.
	if !strings.Contains(failed[1].LastError, "503") || failed[1].LastStatus != 503 || failed[1].Attempts < 2 || failed[1].EventType != 101 {
		t.Errorf("failed entry: %+v", failed[1])
	}
	recv.mu.Lock()
	recv.refuse = false
	recv.mu.Unlock()
	// Oldest first, as an operator replaying a channel's history would.
	for i := len(failed) - 1; i >= 0; i-- {
		if _, err := r.svc.Redeliver(ctx, r.app, failed[i].NoticeID); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "redelivery", 5*time.Second, func() bool { return len(recv.notices()) == 2 })
	got := recv.notices()
	if got[0].EventType != 101 || got[1].EventType != 103 || got[0].NoticeID != failed[1].NoticeID {
		t.Errorf("redelivered %+v (failed %+v)", got, failed)
	}
	if _, err := r.svc.Redeliver(ctx, r.app, "nope"); err == nil {
		t.Error("redeliver of an unknown notice succeeded")
	}
}

// TestRemovedEndpoint: entries for an endpoint removed before delivery are
// given up, not retried for ever.
func TestRemovedEndpoint(t *testing.T) {
	r := newRig(t, webhook.Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	id := r.endpoint("http://127.0.0.1:1/none")
	r.join("x", 1, channel.RoleAudience, channel.ProfileLive, "")
	waitFor(t, "a failed attempt", 5*time.Second, func() bool { n, _ := r.m.get(webhook.ResultRetried); return n > 0 })
	must(t, r.st.DeleteWebhookEndpoint(context.Background(), r.app, id))
	waitFor(t, "give up", 5*time.Second, func() bool { _, p := r.m.get(""); return p == 0 })
}

// TestPublisherEvents: minirtc's own events for a stream: media started
// (1001), interrupted (1003) and resumed (1004) within the grace period,
// interrupted again and ended by the media plane (1002, media-ended).
func TestPublisherEvents(t *testing.T) {
	r := newRig(t, webhook.Config{})
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	r.join("p", 3, channel.RoleBroadcaster, channel.ProfileLive, "")
	if _, _, err := r.ch.Publish(r.ref("p", 3), "rtmp://x/live/s"); err != nil {
		t.Fatal(err)
	}
	must(t, r.ch.MediaStarted(r.app, "p", 3))
	must(t, r.ch.MediaPaused(r.app, "p", 3))
	must(t, r.ch.MediaResumed(r.app, "p", 3))
	must(t, r.ch.MediaPaused(r.app, "p", 3))
	must(t, r.ch.MediaStopped(r.app, "p", 3))
	want := []int{101, 103, 1001, 1003, 1004, 1003, 1002}
	waitFor(t, "notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := recv.notices()
	if !slices.Equal(types(got), want) {
		t.Fatalf("types %v, want %v", types(got), want)
	}
	for _, n := range got[2:] {
		if n.Payload.UID != 3 || n.Payload.ClientSeq == 0 {
			t.Errorf("%d: %+v", n.EventType, n.Payload)
		}
	}
}

// TestTokenExpiredEvent: a token expiry reported to the channel model (the
// gateway does so) becomes 1006 before the leave (reason 0).
func TestTokenExpiredEvent(t *testing.T) {
	r := newRig(t, webhook.Config{})
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	r.join("e", 4, channel.RoleAudience, channel.ProfileLive, "")
	must(t, r.ch.TokenExpired(r.ref("e", 4)))
	must(t, r.ch.Leave(r.ref("e", 4), errcode.LeaveOther))
	want := []int{101, 105, 1006, 106, 102}
	waitFor(t, "notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := recv.notices()
	if !slices.Equal(types(got), want) || got[3].Payload.Reason != 0 || got[2].Payload.UID != 4 {
		t.Fatalf("got %v (%+v), want %v", types(got), got, want)
	}
}

// TestClientErrorEvent: a client's report of a failing component is 1007
// with the component, its code and message, and for a player the uid it
// plays.
func TestClientErrorEvent(t *testing.T) {
	r := newRig(t, webhook.Config{})
	recv := newAgoraReceiver(secret)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	r.join("e", 4, channel.RoleBroadcaster, channel.ProfileLive, "")
	must(t, r.ch.ClientError(r.ref("e", 4), channel.ClientReport{Component: "player", Code: 3005, Message: "rtmp io error", Target: 9}))
	want := []int{101, 103, 1007}
	waitFor(t, "notices", 5*time.Second, func() bool { return len(recv.notices()) >= len(want) })
	got := recv.notices()
	if !slices.Equal(types(got), want) {
		t.Fatalf("got %v, want %v", types(got), want)
	}
	p := got[2].Payload
	if p.UID != 4 || p.Component != "player" || p.Code != 3005 || p.Message != "rtmp io error" || p.Target != 9 || p.ChannelName != "e" {
		t.Fatalf("1007 payload %+v", p)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
