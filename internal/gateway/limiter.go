package gateway

import (
	"sync"
	"time"
)

// maxLimiterKeys bounds a keyedLimiter's memory (about 100 bytes a key). When
// it is full, keys whose bucket has refilled are forgotten (they are
// equivalent to new ones); if none has, new keys are refused.
const maxLimiterKeys = 10000

// keyedLimiter is a token bucket per key (client IP, app id). Safe for
// concurrent use.
type keyedLimiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyedLimiter(rate float64, burst, maxKeys int) *keyedLimiter {
	return &keyedLimiter{rate: rate, burst: float64(burst), max: maxKeys, now: time.Now, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket and reports whether there was one.
func (l *keyedLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.sweepLocked(now)
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweepLocked forgets buckets that are full again; l.mu held.
func (l *keyedLimiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
