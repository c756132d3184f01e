package aac

import (
	"math"
	"math/rand/v2"
	"testing"
)

// directMDCT evaluates the MDCT definition term by term.
func directMDCT(z []float64) []float64 {
	n := len(z)
	n0 := float64(n)/4 + 0.5
	out := make([]float64, n/2)
	for k := range out {
		s := 0.0
		for i, x := range z {
			s += x * math.Cos(2*math.Pi/float64(n)*(float64(i)+n0)*(float64(k)+0.5))
		}
		out[k] = 2 * s
	}
	return out
}

func TestMDCTMatchesDefinition(t *testing.T) {
	for _, n := range []int{256, 2048} {
		t.Run(map[int]string{256: "short", 2048: "long"}[n], func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			z := make([]float64, n)
			for i := range z {
				z[i] = rng.Float64()*2 - 1
			}
			want := directMDCT(z)
			got := make([]float64, n/2)
			newMDCTPlan(n).forward(z, got)
			for k := range want {
				if d := math.Abs(got[k] - want[k]); d > 1e-9*float64(n) {
					t.Fatalf("X[%d] = %g, want %g", k, got[k], want[k])
				}
			}
		})
	}
}

// TestMDCTPerfectReconstruction windows, transforms, inverts (with the
// definition of the IMDCT) and overlap-adds two blocks: the middle half must
// equal the input.
func TestMDCTPerfectReconstruction(t *testing.T) {
	const n = 256
	m := n / 2
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float64, 3*m)
	for i := range x {
		x[i] = rng.Float64()*2 - 1
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Sin(math.Pi / n * (float64(i) + 0.5))
	}
	plan := newMDCTPlan(n)
	n0 := float64(n)/4 + 0.5
	out := make([]float64, 3*m)
	for b := 0; b < 2; b++ {
		z := make([]float64, n)
		for i := range z {
			z[i] = x[b*m+i] * w[i]
		}
		c := make([]float64, m)
		plan.forward(z, c)
		for i := 0; i < n; i++ {
			s := 0.0
			for k, v := range c {
				s += v * math.Cos(2*math.Pi/n*(float64(i)+n0)*(float64(k)+0.5))
			}
			out[b*m+i] += 2.0 / n * s * w[i]
		}
	}
	for i := m; i < 2*m; i++ {
		if math.Abs(out[i]-x[i]) > 1e-9 {
			t.Fatalf("sample %d: got %g want %g", i, out[i], x[i])
		}
	}
}
