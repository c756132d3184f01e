package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStore(t testing.TB, cfg Config) (*Store, *clock) {
	t.Helper()
	clk := newClock()
	if cfg.Now == nil {
		cfg.Now = clk.now
	}
	s, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func TestRingsKeepTheNewest(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		add   int
		want  []int // codes, oldest first
	}{
		{"empty", 3, 0, nil},
		{"under", 3, 2, []int{0, 1}},
		{"exact", 3, 3, []int{0, 1, 2}},
		{"wrapped once", 3, 4, []int{1, 2, 3}},
		{"wrapped many", 3, 11, []int{8, 9, 10}},
		{"limit one", 1, 5, []int{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, Config{MaxEvents: tc.limit, MaxSamples: tc.limit})
			m := Member{"app", "room", 7}
			for i := range tc.add {
				s.AddStates(m, Pusher, StateEvent{Code: i})
				var st NetStats
				st.Set("videoFPS", float64(i))
				s.AddNet(m, Player, NetSample{Target: 9, Stats: st})
			}
			r, ok := s.Recent("app", "room", 7)
			if ok != (tc.add > 0) {
				t.Fatalf("known %v", ok)
			}
			var codes, fps []int
			for _, e := range r.PusherStates {
				codes = append(codes, e.Code)
			}
			for _, n := range r.PlayerNet {
				v, _ := n.Stats.Get("videoFPS")
				fps = append(fps, int(v))
			}
			if fmt.Sprint(codes) != fmt.Sprint(tc.want) || fmt.Sprint(fps) != fmt.Sprint(tc.want) {
				t.Fatalf("states %v net %v, want %v", codes, fps, tc.want)
			}
			if len(r.PlayerStates) != 0 || len(r.PusherNet) != 0 {
				t.Fatalf("kinds mixed up: %+v", r)
			}
		})
	}
}

func TestMembersAreBounded(t *testing.T) {
	s, clk := newStore(t, Config{MaxMembers: 3, MaxAge: time.Minute})
	add := func(uid uint32) { s.AddStates(Member{"a", "c", uid}, Pusher, StateEvent{Code: int(uid)}) }
	add(1)
	add(2)
	add(3)
	add(1) // 1 is now the most recent; 2 the least
	add(4)
	if _, ok := s.Recent("a", "c", 2); ok {
		t.Fatal("least recently updated member kept over the limit")
	}
	for _, uid := range []uint32{1, 3, 4} {
		if _, ok := s.Recent("a", "c", uid); !ok {
			t.Fatalf("member %d forgotten", uid)
		}
	}
	if s.Members() != 3 {
		t.Fatalf("%d members", s.Members())
	}
	// Age: silent members disappear from queries at once and from memory on the next report.
	clk.add(61 * time.Second)
	if _, ok := s.Recent("a", "c", 1); ok {
		t.Fatal("stale member still reported")
	}
	if got := s.Channel("a", "c"); len(got) != 0 {
		t.Fatalf("stale channel %+v", got)
	}
	add(5)
	if s.Members() != 1 {
		t.Fatalf("%d members after expiry", s.Members())
	}
}

func TestChannel(t *testing.T) {
	s, _ := newStore(t, Config{})
	for _, m := range []Member{{"a", "c", 30}, {"a", "c", 10}, {"a", "other", 20}, {"b", "c", 40}, {"a", "c", 20}} {
		s.AddStates(m, Player, StateEvent{Target: 1, Code: 2004})
	}
	got := s.Channel("a", "c")
	var uids []uint32
	for _, r := range got {
		uids = append(uids, r.UID)
		if r.App != "a" || r.Channel != "c" || len(r.PlayerStates) != 1 {
			t.Fatalf("report %+v", r)
		}
	}
	if fmt.Sprint(uids) != "[10 20 30]" {
		t.Fatalf("uids %v", uids)
	}
	if got := s.Channel("a", "none"); got != nil {
		t.Fatalf("%+v", got)
	}
}

// Reports and queries from many goroutines (run with -race): the rings and
// the member index stay consistent and bounded.
func TestConcurrentReports(t *testing.T) {
	s, _ := newStore(t, Config{MaxMembers: 50, MaxEvents: 8, MaxSamples: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m := Member{"app", fmt.Sprint("ch", i%5), uint32(g*1000 + i%20)}
				s.AddStates(m, Kind(i%2), StateEvent{Code: i})
				s.AddNet(m, Kind(i%2), NetSample{ClientTS: int64(i)})
				if r, ok := s.Recent(m.App, m.Channel, m.UID); ok && (len(r.PusherStates) > 8 || len(r.PlayerNet) > 8) {
					t.Errorf("ring over its limit: %d %d", len(r.PusherStates), len(r.PlayerNet))
				}
				s.Channel("app", m.Channel)
			}
		}()
	}
	wg.Wait()
	if n := s.Members(); n != 50 {
		t.Fatalf("%d members, want the limit 50", n)
	}
	total := 0
	for i := range 5 {
		total += len(s.Channel("app", fmt.Sprint("ch", i)))
	}
	if total != 50 {
		t.Fatalf("channel index holds %d members, the store 50", total)
	}
}

func TestNetStatsJSON(t *testing.T) {
	var st NetStats
	if st.Set("bogus", 1) || st.Set("videoFPS", nan()) {
		t.Fatal("accepted an unknown field or NaN")
	}
	st.Set("videoBitrate", 512)
	st.Set("netJitter", 1.5)
	st.Set("videoFPS", 0) // a frozen stream: zero must survive
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"videoBitrate":512,"videoFPS":0,"netJitter":1.5}` {
		t.Fatalf("%s", b)
	}
	var back NetStats
	if err := json.Unmarshal(b, &back); err != nil || back != st || back.Len() != 3 {
		t.Fatalf("%v %+v", err, back)
	}
	if _, ok := back.Get("audioBitrate"); ok {
		t.Fatal("unset field reported")
	}
	if len(NetFieldNames()) != 16 {
		t.Fatal(NetFieldNames())
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{MaxEvents: -1}, {MaxLogBytes: 10 << 20, AppDayBytes: 15 << 20}, {RetentionDays: -2}} {
		if _, err := New(cfg, discard()); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("nil logger accepted")
	}
}

func BenchmarkAddStates(b *testing.B) {
	s, _ := newStore(b, Config{})
	ev := []StateEvent{{Code: 1002, Message: "push started"}, {Code: 1003}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.AddStates(Member{"app", "room", uint32(i % 1000)}, Pusher, ev...)
	}
}
