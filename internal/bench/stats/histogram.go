package stats

import (
	"math/bits"
	"time"
)

// Histogram geometry: values (in microseconds) below 2^subBits are counted
// exactly; above, every power-of-two range is split into 2^(subBits-1)
// buckets, so a bucket's width is at most 1/64 of its lower bound
// (a relative error under 1.6%, far below the spread of network latencies).
const (
	subBits  = 7
	subCount = 1 << subBits // exact buckets 0..127 µs
	halfSub  = subCount / 2 // buckets per doubling above that
	maxShift = 40           // values up to 2^47 µs (4.5 years)
	nBuckets = subCount + maxShift*halfSub
)

// Histogram counts durations in log-linear buckets of microseconds. Its
// zero value is ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts   []uint32
	n        uint64
	sum      float64
	min, max int64 // µs
}

func bucketOf(us int64) int {
	if us < subCount {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - subBits // >= 1
	if shift > maxShift {
		return nBuckets - 1
	}
	mant := int(us >> shift) // in [halfSub, subCount)
	return subCount + (shift-1)*halfSub + mant - halfSub
}

// bucketBounds returns the smallest and largest value counted by bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := (i-subCount)/halfSub + 1
	mant := int64((i-subCount)%halfSub + halfSub)
	return mant << shift, (mant+1)<<shift - 1
}

// Add records one observation; negative durations count as 0.
func (h *Histogram) Add(d time.Duration) {
	us := max(d.Microseconds(), 0)
	if h.counts == nil {
		h.counts = make([]uint32, nBuckets)
		h.min, h.max = us, us
	}
	h.counts[bucketOf(us)]++
	h.n++
	h.sum += float64(us)
	h.min = min(h.min, us)
	h.max = max(h.max, us)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint32, nBuckets)
		h.min, h.max = o.min, o.max
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Percentile returns the nearest-rank p-th percentile, to the resolution of
// the bucket that holds it: the bucket's upper bound, clamped to the
// observed minimum and maximum (so p=0 and p=100 are exact).
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	r := uint64(rank(p, int(min(h.n, uint64(^uint(0)>>1))))) //nolint:gosec // G115: rank returns 1..n and n is clamped to MaxInt
	var cum uint64
	for i, c := range h.counts {
		cum += uint64(c)
		if cum >= r {
			_, hi := bucketBounds(i)
			return time.Duration(min(max(hi, h.min), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Summary returns count, min, mean, p50, p95, p99 and max.
func (h *Histogram) Summary() Summary {
	if h.n == 0 {
		return Summary{}
	}
	us := func(v int64) float64 { return float64(v) / 1e3 }
	return Summary{
		Count: int(h.n), Min: us(h.min), Mean: ms(time.Duration(h.sum/float64(h.n)) * time.Microsecond), //nolint:gosec // G115: a count of observations held in memory, far below MaxInt
		P50: ms(h.Percentile(50)), P95: ms(h.Percentile(95)), P99: ms(h.Percentile(99)), Max: us(h.max),
	}
}
