package stats

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func durs(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, v := range ms {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestSamplesPercentile(t *testing.T) {
	oneToHundred := make([]int, 100)
	for i := range oneToHundred {
		oneToHundred[i] = 100 - i // reversed: Percentile must sort
	}
	twenty := make([]int, 20)
	for i := range twenty {
		twenty[i] = i + 1
	}
	cases := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", durs(7), 50, 7 * time.Millisecond},
		{"single p99", durs(7), 99, 7 * time.Millisecond},
		{"p0 is min", durs(5, 1, 9), 0, 1 * time.Millisecond},
		{"p100 is max", durs(5, 1, 9), 100, 9 * time.Millisecond},
		{"1..100 p50", durs(oneToHundred...), 50, 50 * time.Millisecond},
		{"1..100 p95", durs(oneToHundred...), 95, 95 * time.Millisecond},
		{"1..100 p99", durs(oneToHundred...), 99, 99 * time.Millisecond},
		{"1..100 p99.5", durs(oneToHundred...), 99.5, 100 * time.Millisecond},
		{"1..20 p95 (float edge)", durs(twenty...), 95, 19 * time.Millisecond},
		{"four p50", durs(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"four p51", durs(10, 20, 30, 40), 51, 30 * time.Millisecond},
		{"ties", durs(3, 3, 3, 8), 75, 3 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Samples
			for _, d := range tc.in {
				s.Add(d)
			}
			if got := s.Percentile(tc.p); got != tc.want {
				t.Fatalf("p%v = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSamplesSummaryAndMerge(t *testing.T) {
	var a, b Samples
	for _, d := range durs(1, 2, 3) {
		a.Add(d)
	}
	for _, d := range durs(4, 10) {
		b.Add(d)
	}
	a.Merge(&b)
	got := a.Summary()
	want := Summary{Count: 5, Min: 1, Mean: 4, P50: 3, P95: 10, P99: 10, Max: 10}
	if got != want {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
	if (&Samples{}).Summary() != (Summary{}) {
		t.Fatal("empty summary not zero")
	}
}

func TestHistogramExactRange(t *testing.T) {
	// Below 128 µs every value has its own bucket: percentiles are exact.
	cases := []struct {
		in   []int // µs
		p    float64
		want int
	}{
		{[]int{5}, 50, 5},
		{[]int{1, 2, 3, 4}, 50, 2},
		{[]int{1, 2, 3, 4}, 75, 3},
		{[]int{1, 2, 3, 4}, 100, 4},
		{[]int{100, 0, 50}, 0, 0},
		{[]int{127, 126, 125, 124}, 25, 124},
	}
	for _, tc := range cases {
		var h Histogram
		for _, v := range tc.in {
			h.Add(time.Duration(v) * time.Microsecond)
		}
		if got := h.Percentile(tc.p); got != time.Duration(tc.want)*time.Microsecond {
			t.Errorf("%v p%v = %v, want %dµs", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Bounds tile the value range without gaps or overlaps and every value
	// lands in the bucket whose bounds contain it.
	prevHi := int64(-1)
	for i := range nBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d,%d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/64+1e-12 {
			t.Fatalf("bucket %d = [%d,%d] wider than 1/64 of its bound", i, lo, hi)
		}
		prevHi = hi
	}
	if bucketOf(-5) != 0 || bucketOf(1<<62) != nBuckets-1 {
		t.Fatal("out-of-range values not clamped")
	}
}

// TestHistogramAgainstSamples compares the histogram with exact percentiles
// on random latency-like data: they must agree within the bucket width.
func TestHistogramAgainstSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, h2 Histogram
	var s Samples
	for i := range 50000 {
		d := time.Duration(r.ExpFloat64()*float64(40*time.Millisecond)) + 2*time.Millisecond
		d = d.Truncate(time.Microsecond)
		s.Add(d)
		if i%2 == 0 {
			h.Add(d)
		} else {
			h2.Add(d)
		}
	}
	h.Merge(&h2)
	if h.Count() != 50000 {
		t.Fatalf("count %d", h.Count())
	}
	for _, p := range []float64{0, 1, 50, 90, 95, 99, 99.9, 100} {
		exact, approx := s.Percentile(p), h.Percentile(p)
		if approx < exact || float64(approx-exact) > float64(exact)/64+float64(time.Microsecond) {
			t.Errorf("p%v: histogram %v, exact %v", p, approx, exact)
		}
	}
	hs, ss := h.Summary(), s.Summary()
	if hs.Min != ss.Min || hs.Max != ss.Max || hs.Count != ss.Count {
		t.Errorf("summary %+v vs exact %+v", hs, ss)
	}
	if d := hs.Mean - ss.Mean; d < -0.01 || d > 0.01 {
		t.Errorf("mean %v vs exact %v", hs.Mean, ss.Mean)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 12000 0 3 0 1234 567 0 0 20 0 9 0 100 123456789 2000 18446744073709551615\n")
	cpu, err := ParseStatCPU(stat)
	if err != nil || cpu != (1234+567)*10*time.Millisecond {
		t.Fatalf("cpu %v, %v", cpu, err)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 abc 12 13"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil {
			t.Errorf("stat %q parsed", bad)
		}
	}
	status := []byte("Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n")
	if rss, err := ParseStatusRSS(status); err != nil || rss != 20480*1024 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := ParseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("status %q parsed", bad)
		}
	}
	// The real thing: this process uses some memory and, after some work,
	// some CPU.
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	ps, err := ReadProc(os.Getpid())
	if err != nil || ps.RSS <= 0 {
		t.Fatalf("ReadProc(self) = %+v, %v", ps, err)
	}
	if _, err := ReadProc(-1); err == nil || !strings.Contains(err.Error(), "proc") {
		t.Fatalf("ReadProc(-1): %v", err)
	}
}

func BenchmarkHistogramAdd(b *testing.B) {
	var h Histogram
	vals := make([]time.Duration, 1024)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range vals {
		vals[i] = time.Duration(r.IntN(int(time.Second)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add(vals[i&1023])
		i++
	}
}

func BenchmarkSamplesPercentile(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	base := make([]time.Duration, 1000)
	for i := range base {
		base[i] = time.Duration(r.IntN(int(time.Second)))
	}
	b.ReportAllocs()
	for b.Loop() {
		s := Samples{v: slices.Clone(base)}
		_ = s.Percentile(99)
	}
}

func TestSummarizeFloats(t *testing.T) {
	cases := []struct {
		in   []float64
		want FloatSummary
	}{
		{nil, FloatSummary{}},
		{[]float64{3}, FloatSummary{Count: 1, Min: 3, Mean: 3, P5: 3, P50: 3, P95: 3, Max: 3}},
		{[]float64{4, 1, 3, 2}, FloatSummary{Count: 4, Min: 1, Mean: 2.5, P5: 1, P50: 2, P95: 4, Max: 4}},
	}
	for _, tc := range cases {
		in := slices.Clone(tc.in)
		if got := SummarizeFloats(tc.in); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("input modified: %v", tc.in)
		}
	}
}
