package aac

import (
	"math"
	"math/rand/v2"
	"testing"
)

// imdctDirect evaluates the IMDCT definition term by term.
func imdctDirect(x []float64) []float64 {
	m := len(x)
	n := 2 * m
	n0 := (float64(m) + 1) / 2
	y := make([]float64, n)
	for i := range y {
		s := 0.0
		for k, v := range x {
			s += v * math.Cos(2*math.Pi/float64(n)*(float64(i)+n0)*(float64(k)+0.5))
		}
		y[i] = 2 / float64(n) * s
	}
	return y
}

func TestIMDCTMatchesDefinition(t *testing.T) {
	for _, n := range []int{longWindowLen, shortWindowLen} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		x := make([]float64, n/2)
		for i := range x {
			x[i] = rng.Float64()*2000 - 1000
		}
		want := imdctDirect(x)
		got := make([]float64, n)
		newIMDCT(n).transform(x, got)
		maxErr := 0.0
		for i := range got {
			maxErr = math.Max(maxErr, math.Abs(got[i]-want[i]))
		}
		if maxErr > 1e-9 {
			t.Errorf("N=%d: max error %g", n, maxErr)
		}
	}
}
