package stats

import (
	"math"
	"slices"
	"time"
)

// Samples keeps every observation, for exact percentiles. Use it where the
// count is small (one per user or connection); use Histogram per frame.
type Samples struct {
	v      []time.Duration
	sorted bool
}

// Add records one observation.
func (s *Samples) Add(d time.Duration) {
	s.v = append(s.v, d)
	s.sorted = false
}

// Merge adds all of o's observations.
func (s *Samples) Merge(o *Samples) {
	s.v = append(s.v, o.v...)
	s.sorted = false
}

// Len is the number of observations.
func (s *Samples) Len() int { return len(s.v) }

func (s *Samples) sort() {
	if !s.sorted {
		slices.Sort(s.v)
		s.sorted = true
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest observation such that at least p percent of all observations are
// less than or equal to it. p <= 0 gives the minimum. It returns 0 when
// there are no observations.
func (s *Samples) Percentile(p float64) time.Duration {
	if len(s.v) == 0 {
		return 0
	}
	s.sort()
	return s.v[rank(p, len(s.v))-1]
}

// rank is the 1-based nearest rank of percentile p among n values.
func rank(p float64, n int) int {
	if p <= 0 {
		return 1
	}
	if p >= 100 {
		return n
	}
	// A small tolerance keeps e.g. p=95, n=20 at rank 19 despite binary
	// floating point (0.95*20 = 19.000000000000004).
	r := int(math.Ceil(p/100*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// Mean returns the arithmetic mean, or 0 without observations.
func (s *Samples) Mean() time.Duration {
	if len(s.v) == 0 {
		return 0
	}
	var sum float64
	for _, d := range s.v {
		sum += float64(d)
	}
	return time.Duration(sum / float64(len(s.v)))
}

// Summary is a fixed set of statistics, in milliseconds for JSON.
type Summary struct {
	Count int     `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Summary returns count, min, mean, p50, p95, p99 and max.
func (s *Samples) Summary() Summary {
	if len(s.v) == 0 {
		return Summary{}
	}
	return Summary{
		Count: len(s.v), Min: ms(s.Percentile(0)), Mean: ms(s.Mean()),
		P50: ms(s.Percentile(50)), P95: ms(s.Percentile(95)), P99: ms(s.Percentile(99)),
		Max: ms(s.Percentile(100)),
	}
}

// FloatSummary describes a set of plain numbers (e.g. per-reader bitrates).
type FloatSummary struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P5    float64 `json:"p5"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	Max   float64 `json:"max"`
}

// SummarizeFloats returns nearest-rank percentiles of v (v is not modified).
func SummarizeFloats(v []float64) FloatSummary {
	if len(v) == 0 {
		return FloatSummary{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	at := func(p float64) float64 { return s[rank(p, len(s))-1] }
	return FloatSummary{Count: len(s), Min: s[0], Mean: sum / float64(len(s)),
		P5: at(5), P50: at(50), P95: at(95), Max: s[len(s)-1]}
}
