package media

import "sync"

// WantedFunc learns when a stream is wanted on this node without a source of
// its own, so that something outside the hub can fetch it from elsewhere (a
// cluster node pulls it from the node that has its publisher), and when it
// no longer is.
//
// A stream is wanted while it has at least one reader and no publisher, or
// only a relay (PublishOptions.Relay) as its publisher. The hub calls
// WantedFunc(key, true) when a stream becomes wanted (its first reader
// arrives while nobody publishes it here, or its local publisher went away
// while readers wait in its grace period) and WantedFunc(key, false) when it
// stops being wanted (its last reader left, a publisher that is not a relay
// took it, or it ended).
//
// Calls for one key are serialized, alternate (true, false, true...) and
// always end on the current state: a change that happens while a call is
// running is reported once that call returns. Calls for different keys may
// run concurrently. The hub calls it outside its locks, from the goroutine
// that caused the change (a Subscribe, a Reader.Close, a publisher, a timer);
// it must not block for long. It may call back into the hub.
type WantedFunc func(key Key, wanted bool)

// wantedState is the hub's record of what OnWanted was told, per key.
type wantedState struct {
	mu   sync.Mutex // lock order: wanted.mu, then Hub.mu, then Stream.mu
	sent map[Key]bool
	busy map[Key]bool // a goroutine is reporting this key (see syncWanted)
}

// SetOnWanted sets Config.OnWanted (for a component built after the hub);
// call it before the hub is used.
func (h *Hub) SetOnWanted(fn WantedFunc) { h.cfg.OnWanted = fn }

// wantedNow reports whether key's stream is wanted now. It takes h.mu and
// the stream's mu.
func (h *Hub) wantedNow(key Key) bool {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended && len(s.readers) > 0 && (s.pub == nil || s.pub.relay)
}

// syncWanted tells OnWanted key's current state if it is not what OnWanted
// was last told. Every change of a stream's readers or publisher is followed
// by a call, made without any hub lock held.
//
// One goroutine at a time reports a key (busy): a caller that finds the key
// busy leaves it to that goroutine, which checks the state again after each
// call it makes and stops only when OnWanted was told the current state.
// The caller's change happened before it found the key busy, hence before
// the reporting goroutine's last check: no change is lost, and the calls for
// a key are never reordered.
func (h *Hub) syncWanted(key Key) {
	fn := h.cfg.OnWanted
	if fn == nil {
		return
	}
	w := &h.wanted
	w.mu.Lock()
	if w.busy[key] {
		w.mu.Unlock()
		return
	}
	if w.busy == nil {
		w.busy = make(map[Key]bool)
		w.sent = make(map[Key]bool)
	}
	w.busy[key] = true
	for {
		now := h.wantedNow(key)
		if now == w.sent[key] {
			break
		}
		if now {
			w.sent[key] = true
		} else {
			delete(w.sent, key)
		}
		w.mu.Unlock()
		fn(key, now)
		w.mu.Lock()
	}
	delete(w.busy, key)
	w.mu.Unlock()
}
