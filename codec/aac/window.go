package aac

import "math"

// Window lengths and KBD alpha values of AAC-LC (ISO/IEC 14496-3 §4.6.11.3.2).
const (
	longWindowLen  = 2048 // full length of a long window (1024 new lines)
	shortWindowLen = 256  // full length of a short window (128 new lines)
	kbdAlphaLong   = 4.0
	kbdAlphaShort  = 6.0
)

// sineWindow returns the full sine window of length n:
// w(i) = sin(pi/n * (i + 0.5)), 0 <= i < n.
func sineWindow(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Sin(math.Pi / float64(n) * (float64(i) + 0.5))
	}
	return w
}

// kbdWindow returns the full Kaiser-Bessel-derived window of length n with
// the given alpha (4 for n = 2048, 6 for n = 256 in AAC).
func kbdWindow(n int, alpha float64) []float64 {
	half := n / 2
	q := float64(n) / 4
	// Running sum of the Kaiser kernel over 0..half.
	cum := make([]float64, half+1)
	sum := 0.0
	for i := 0; i <= half; i++ {
		r := (float64(i) - q) / q
		sum += besselI0(math.Pi * alpha * math.Sqrt(math.Max(0, 1-r*r)))
		cum[i] = sum
	}
	w := make([]float64, n)
	for i := 0; i < half; i++ {
		w[i] = math.Sqrt(cum[i] / sum)
		w[n-1-i] = w[i]
	}
	return w
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// summed as a power series until terms stop mattering.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	h := x / 2
	for k := 1; k < 200; k++ {
		term *= h / float64(k)
		t := term * term
		sum += t
		if t < sum*1e-20 {
			break
		}
	}
	return sum
}

// aacWindow returns the full window of the given shape (sineShape or
// kbdShape) and length (longWindowLen or shortWindowLen).
func aacWindow(shape, n int) []float64 {
	if shape == kbdShape {
		if n == shortWindowLen {
			return kbdWindow(n, kbdAlphaShort)
		}
		return kbdWindow(n, kbdAlphaLong)
	}
	return sineWindow(n)
}
