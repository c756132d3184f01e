package gateway

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentSessionsConverge runs several sessions doing random actions at
// once (publish, unpublish, role changes, mutes, subscribes, dropped sockets
// and rejoins with known_speakers) and then checks the promise of the
// protocol: every client's view, built only from the pushes it got, equals
// the set of streams that exist.
func TestConcurrentSessionsConverge(t *testing.T) {
	e := newEnv(t, nil)
	const n, steps = 6, 25
	type actor struct {
		c    *client
		uid  uint32
		view map[uint32]bool
	}
	apply := func(a *actor, ms []msg) {
		for _, m := range ms {
			u, _ := strconv.ParseUint(fmt.Sprint(m.status()["uid"]), 10, 32)
			switch m.action() {
			case "stream-added":
				a.view[uint32(u)] = true
			case "stream-removed":
				delete(a.view, uint32(u))
			}
		}
	}
	actors := make([]*actor, n)
	for i := range actors {
		a := &actor{uid: uint32(i + 1), view: map[uint32]bool{}}
		a.c = e.dial()
		a.c.join(fmt.Sprint(a.uid), "broadcaster")
		actors[i] = a
	}
	var wg sync.WaitGroup
	for i, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range steps {
				switch rng.IntN(8) {
				case 0, 1:
					a.c.call("publish", nil)
				case 2:
					a.c.call("unpublish", nil)
				case 3:
					a.c.call("set_role", map[string]any{"role": []string{"audience", "broadcaster"}[rng.IntN(2)]})
				case 4:
					a.c.call("mute_local", map[string]any{"target": "all", "mute": rng.IntN(2) == 0})
				case 5:
					a.c.call("subscribe", map[string]any{"uid": rng.IntN(n) + 1})
				case 6:
					apply(a, a.c.pending)
					a.c.pending = nil
					a.c.conn.CloseNow()
					<-a.c.done
					known := []any{fmt.Sprint(a.uid)}
					for u := range a.view {
						known = append(known, fmt.Sprint(u))
					}
					nc := e.dial()
					nc.uid = fmt.Sprint(a.uid)
					f := nc.joinFields(e.token("room", nc.uid, 3600), "room", nc.uid, "broadcaster")
					f["known_speakers"] = known
					// The old socket's detach may not have happened yet: then
					// this join replaces it (uid conflict) instead of resuming.
					if r := nc.call("join", f); r.code() != "200" {
						t.Errorf("rejoin %d: %s", a.uid, r)
						return
					}
					a.c = nc
				case 7:
					a.c.call("ping", nil)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	publishing := map[uint32]bool{}
	for _, mi := range e.mgr.Members(e.app.ID, "room") {
		if mi.Publishing {
			publishing[mi.UID] = true
		}
	}
	for _, a := range actors {
		apply(a, a.c.sync())
		want := maps.Clone(publishing)
		delete(want, a.uid)
		if !maps.Equal(a.view, want) {
			t.Errorf("uid %d sees %v, streams are %v", a.uid, slices.Sorted(maps.Keys(a.view)), slices.Sorted(maps.Keys(want)))
		}
	}
}
