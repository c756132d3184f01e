package media

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// wantLog records OnWanted calls.
type wantLog struct {
	mu  sync.Mutex
	evs []string
}

func (w *wantLog) fn(k Key, wanted bool) {
	w.mu.Lock()
	w.evs = append(w.evs, fmt.Sprintf("%s=%v", k.UID, wanted))
	w.mu.Unlock()
}

func (w *wantLog) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.evs)
}

// TestOnWanted: the hub says when a stream is wanted without a source of its
// own (readers, and no publisher or only a relay) and when it stops being.
func TestOnWanted(t *testing.T) {
	type env struct {
		h   *Hub
		rd  []*Reader
		pub *Publisher
		t   *testing.T
	}
	sub := func(e *env) {
		r, err := e.h.Subscribe(key, SubscribeOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		e.rd = append(e.rd, r)
	}
	closeReader := func(e *env) { e.rd[0].Close(); e.rd = e.rd[1:] }
	publish := func(relay bool) func(e *env) {
		return func(e *env) {
			p, err := e.h.PublishWith(key, PublishOptions{Relay: relay})
			if err != nil {
				e.t.Fatal(err)
			}
			if err := p.Write(vpkt(0, true)); err != nil {
				e.t.Fatal(err)
			}
			e.pub = p
		}
	}
	cases := []struct {
		name string
		cfg  Config
		ops  []func(*env)
		want []string
	}{
		{"first reader wants, last reader leaves", Config{}, []func(*env){sub, sub, closeReader, closeReader}, []string{"1=true", "1=false"}},
		{"a local publisher: never wanted", Config{}, []func(*env){publish(false), sub, sub, closeReader}, nil},
		{"a local publisher arrives for waiting readers", Config{}, []func(*env){sub, publish(false), closeReader}, []string{"1=true", "1=false"}},
		{"a relay keeps the stream wanted until the readers leave", Config{}, []func(*env){sub, publish(true), sub, closeReader, closeReader}, []string{"1=true", "1=false"}},
		{"a relay without readers is not wanted", Config{}, []func(*env){publish(true), sub, closeReader}, []string{"1=true", "1=false"}},
		{"a local publisher takes over from a relay", Config{}, []func(*env){sub, publish(true), publish(false)}, []string{"1=true", "1=false"}},
		{"the local publisher goes away while readers wait", Config{Grace: time.Minute}, []func(*env){publish(false), sub, func(e *env) { e.pub.Close(nil) }, closeReader},
			[]string{"1=true", "1=false"}},
		{"the stream ends", Config{}, []func(*env){sub, sub, func(e *env) { e.h.EndStream(key, nil) }}, []string{"1=true", "1=false"}},
		{"the reader is ended", Config{}, []func(*env){sub, func(e *env) { e.rd[0].End(errcode.NoAuthorized("test")) }}, []string{"1=true", "1=false"}},
		{"the viewer is closed", Config{}, []func(*env){func(e *env) {
			r, err := e.h.Subscribe(key, SubscribeOptions{Viewer: "9"})
			if err != nil {
				e.t.Fatal(err)
			}
			e.rd = append(e.rd, r)
		}, func(e *env) { e.h.CloseViewer(key.AppID, key.Channel, "9", errcode.NoAuthorized("test")) }}, []string{"1=true", "1=false"}},
		{"the hub closes", Config{}, []func(*env){sub, func(e *env) { e.h.Close() }}, []string{"1=true", "1=false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log wantLog
			c.cfg.OnWanted = log.fn
			e := &env{h: newTestHub(t, c.cfg, nil), t: t}
			for _, op := range c.ops {
				op(e)
			}
			if got := log.get(); !slices.Equal(got, c.want) {
				t.Fatalf("OnWanted calls %q, want %q", got, c.want)
			}
		})
	}
}

// TestOnWantedHoldTimeout: a reader that gave up waiting for the stream
// leaves it unwanted.
func TestOnWantedHoldTimeout(t *testing.T) {
	var log wantLog
	h := newTestHub(t, Config{HoldTimeout: 20 * time.Millisecond, OnWanted: log.fn}, nil)
	r, err := h.Subscribe(key, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next(t.Context(), nil)
	if err == nil {
		t.Fatal("a held reader got media from nowhere")
	}
	if got, want := log.get(), []string{"1=true", "1=false"}; !slices.Equal(got, want) {
		t.Fatalf("OnWanted calls %q, want %q", got, want)
	}
}

// TestOnWantedRelayReplacedByPublisher: the stream's own publisher takes the
// stream from a live relay (which would refuse any other live publisher),
// and the relay hears why.
func TestOnWantedRelayReplacedByPublisher(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	var relayEnd error
	relay, err := h.PublishWith(key, PublishOptions{Relay: true, OnClose: func(err error) { relayEnd = err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Write(vpkt(0, true)); err != nil {
		t.Fatal(err)
	}
	own, err := h.PublishWith(key, PublishOptions{Wildcard: true})
	if err != nil {
		t.Fatalf("the stream's publisher was refused while a relay fed the stream: %v", err)
	}
	if err := own.Write(vpkt(40, true)); err != nil {
		t.Fatal(err)
	}
	if relayEnd == nil {
		t.Fatal("the replaced relay was not told")
	}
	if err := relay.Write(vpkt(80, false)); !errors.Is(err, ErrPublisherGone) {
		t.Fatalf("the replaced relay may still write: %v", err)
	}
	// A relay never displaces a live publisher.
	if _, err := h.PublishWith(key, PublishOptions{Relay: true}); err == nil {
		t.Fatal("a relay took over a live publisher")
	}
}

// TestOnWantedConcurrent: readers come and go on many goroutines; the calls
// for the key alternate and end on the current state, and a callback that
// calls back into the hub does not deadlock. Run with -race.
func TestOnWantedConcurrent(t *testing.T) {
	var (
		mu   sync.Mutex
		last = map[Key]bool{}
		bad  []string
		n    int
	)
	var h *Hub
	fn := func(k Key, wanted bool) {
		_ = h.Live(k) // back into the hub
		mu.Lock()
		defer mu.Unlock()
		if last[k] == wanted {
			bad = append(bad, fmt.Sprintf("%s told %v twice", k.UID, wanted))
		}
		last[k] = wanted
		n++
	}
	h = newTestHub(t, Config{OnWanted: fn}, nil)
	keys := []Key{{AppID: "a", Channel: "c", UID: "1"}, {AppID: "a", Channel: "c", UID: "2"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := keys[g%len(keys)]
			for i := range 300 {
				r, err := h.Subscribe(k, SubscribeOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 && g < 2 {
					// A relay comes and goes meanwhile.
					if p, err := h.PublishWith(k, PublishOptions{Relay: true}); err == nil {
						p.Close(nil)
					}
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d out-of-order calls, first: %s", len(bad), bad[0])
	}
	if n == 0 {
		t.Fatal("OnWanted was never called")
	}
	for _, k := range keys {
		if last[k] {
			t.Fatalf("%s: the last call said wanted, but it has no reader", k.UID)
		}
	}
}

// TestPublisherFinish: a publisher whose source ended for good ends the
// stream at once (no grace), but only while it is the stream's publisher.
func TestPublisherFinish(t *testing.T) {
	h := newTestHub(t, Config{Grace: time.Minute}, nil)
	old, err := h.PublishWith(key, PublishOptions{Relay: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Write(vpkt(0, true)); err != nil {
		t.Fatal(err)
	}
	own, err := h.Publish(key, nil) // takes over from the relay
	if err != nil {
		t.Fatal(err)
	}
	old.Finish(errcode.NotPublishing("relay gone"))
	if !h.Live(key) {
		t.Fatal("a replaced publisher's Finish ended the stream")
	}
	r, err := h.Subscribe(key, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	own.Finish(errcode.NotPublishing("source ended"))
	if _, err := r.TryNext(nil); err == nil || !strings.Contains(err.Error(), "source ended") {
		t.Fatalf("reader after Finish: %v, want the reason at once", err)
	}
	if h.Live(key) {
		t.Fatal("the stream outlived its publisher's Finish")
	}
}
