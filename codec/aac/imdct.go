package aac

import "math"

// imdct computes the inverse MDCT of ISO/IEC 14496-3 §4.6.11.3.1,
//
//	y[n] = 2/N * sum_{k<N/2} X[k] cos(2pi/N (n + n0)(k + 1/2)),  n0 = (N/2+1)/2,
//
// for N = 2048 or 256, through a DCT-IV of size M = N/2 computed with an
// M/2-point complex FFT. All tables are built in newIMDCT; transform does not
// allocate.
type imdct struct {
	m    int          // number of coefficients (N/2)
	pre  []complex128 // exp(-i pi (4k+1) / 4M) / M, k < M/2 (scale 2/N folded in)
	post []complex128 // exp(-i pi n / M), n < M/2
	rev  []int32      // bit reversal permutation of M/2
	tw   []complex128 // per FFT stage of size s >= 8: exp(-2 pi i k / s), k < s/2
	buf  []complex128 // FFT work area
	u    []float64    // DCT-IV output
}

func newIMDCT(n int) *imdct {
	m := n / 2
	q := m / 2
	t := &imdct{
		m:    m,
		pre:  make([]complex128, q),
		post: make([]complex128, q),
		rev:  make([]int32, q),
		tw:   make([]complex128, 0, q),
		buf:  make([]complex128, q),
		u:    make([]float64, m),
	}
	for k := range q {
		a := -math.Pi * float64(4*k+1) / float64(4*m)
		t.pre[k] = complex(math.Cos(a)/float64(m), math.Sin(a)/float64(m))
		b := -math.Pi * float64(k) / float64(m)
		t.post[k] = complex(math.Cos(b), math.Sin(b))
	}
	// Twiddles of every stage from size 8 up, each stage's run contiguous.
	for size := 8; size <= q; size <<= 1 {
		for k := range size / 2 {
			a := -2 * math.Pi * float64(k) / float64(size)
			t.tw = append(t.tw, complex(math.Cos(a), math.Sin(a)))
		}
	}
	bits := 0
	for 1<<bits < q {
		bits++
	}
	for k := range q {
		r := 0
		for b := range bits {
			if k&(1<<b) != 0 {
				r |= 1 << (bits - 1 - b)
			}
		}
		t.rev[k] = int32(r)
	}
	return t
}

// transform writes the N = 2M outputs for the M coefficients in x to y.
func (t *imdct) transform(x, y []float64) {
	m := t.m
	y = y[:2*m]
	u := t.u[:m]
	t.dct4(x, u)
	// Unfold the DCT-IV output u into the 2M IMDCT outputs.
	h := m / 2
	for n := range h {
		y[n] = u[h+n]
	}
	for n := h; n < 3*h; n++ {
		y[n] = -u[3*h-1-n]
	}
	for n := 3 * h; n < 2*m; n++ {
		y[n] = -u[n-3*h]
	}
}

// dct4 writes u[n] = 1/M * sum_k x[k] cos(pi/M (n+1/2)(k+1/2)) for the M
// values of x (a DCT-IV, scaled), using the M/2-point FFT.
func (t *imdct) dct4(x, u []float64) {
	m := t.m
	q := m / 2
	x = x[:m]
	u = u[:m]
	buf := t.buf[:q]
	pre := t.pre[:q]
	rev := t.rev[:q]
	for k := range q {
		buf[rev[k]] = complex(x[2*k], x[m-1-2*k]) * pre[k]
	}
	t.fft(buf)
	post := t.post[:q]
	for n := range q {
		r := buf[n] * post[n]
		u[2*n] = real(r)
		u[m-1-2*n] = -imag(r)
	}
}

// fft is an in-place radix-2 decimation-in-time FFT of x, whose input is
// already in bit-reversed order. The first two stages (twiddles 1 and -i)
// run together; later stages read their twiddles contiguously from tw.
func (t *imdct) fft(x []complex128) {
	n := len(x)
	for i := 0; i+3 < n; i += 4 {
		a0, a1, a2, a3 := x[i], x[i+1], x[i+2], x[i+3]
		b0, b1, b2, b3 := a0+a1, a0-a1, a2+a3, a2-a3
		b3 = complex(imag(b3), -real(b3)) // times -i
		x[i], x[i+1], x[i+2], x[i+3] = b0+b2, b1+b3, b0-b2, b1-b3
	}
	tw := t.tw
	for size := 8; size <= n; size <<= 1 {
		half := size >> 1
		w := tw[:half]
		tw = tw[half:]
		for start := 0; start < n; start += size {
			lo := x[start : start+half]
			hi := x[start+half : start+size]
			hi = hi[:len(lo)]
			w := w[:len(lo)]
			for k, a := range lo {
				b := hi[k] * w[k]
				lo[k] = a + b
				hi[k] = a - b
			}
		}
	}
}
