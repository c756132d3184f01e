package aac

import "math"

// mdctPlan computes the forward MDCT of the encoder (ISO/IEC 14496-3
// §4.6.11, the analysis counterpart of the decoder's IMDCT):
//
//	X[k] = 2 * sum_{n=0..N-1} z[n] * cos(2*pi/N * (n + n0) * (k + 1/2)),  n0 = N/4 + 1/2
//
// for k = 0..N/2-1, where z is the already windowed input. With this scaling
// the decoder's IMDCT (factor 2/N) and overlap-add give the input back.
//
// The transform is folded into a DCT-IV of size M = N/2, which in turn is
// computed with one complex FFT of size M/2 plus a twiddle before and after.
// All tables and scratch space are allocated by newMDCTPlan; forward does
// not allocate.
type mdctPlan struct {
	n, m, l int // N, N/2, N/4
	// pre[n] = exp(-i*pi*n/M), post[p] = 2*exp(-i*pi*(p+1/4)/M)
	preRe, preIm   []float64
	postRe, postIm []float64
	fft            fftPlan
	v              []float64 // folded input, length M
	re, im         []float64 // FFT work, length L
}

func newMDCTPlan(n int) *mdctPlan {
	m, l := n/2, n/4
	p := &mdctPlan{
		n: n, m: m, l: l,
		preRe: make([]float64, l), preIm: make([]float64, l),
		postRe: make([]float64, l), postIm: make([]float64, l),
		v:  make([]float64, m),
		re: make([]float64, l), im: make([]float64, l),
	}
	for i := 0; i < l; i++ {
		a := -math.Pi * float64(i) / float64(m)
		p.preRe[i], p.preIm[i] = math.Cos(a), math.Sin(a)
		b := -math.Pi * (float64(i) + 0.25) / float64(m)
		p.postRe[i], p.postIm[i] = 2*math.Cos(b), 2*math.Sin(b)
	}
	p.fft.init(l)
	return p
}

// forward transforms the N windowed samples z into N/2 coefficients out.
func (p *mdctPlan) forward(z []float64, out []float64) {
	m, l := p.m, p.l
	z = z[:p.n]
	out = out[:m]
	v := p.v
	h := m / 2
	// Fold the N inputs into the M inputs of a DCT-IV, using the symmetries
	// of the cosine kernel around n = M/2 (odd) and n = 3M/2 (even).
	for j := 0; j < h; j++ {
		v[j] = -z[3*h-1-j] - z[3*h+j]
	}
	for j := h; j < m; j++ {
		v[j] = z[j-h] - z[3*h-1-j]
	}
	// DCT-IV via an L-point complex FFT: a[n] = v[2n] + i*v[M-1-2n].
	re, im := p.re, p.im
	for i := 0; i < l; i++ {
		x, y := v[2*i], v[m-1-2*i]
		c, s := p.preRe[i], p.preIm[i]
		re[i] = x*c - y*s
		im[i] = x*s + y*c
	}
	p.fft.transform(re, im)
	for i := 0; i < l; i++ {
		c, s := p.postRe[i], p.postIm[i]
		yr := re[i]*c - im[i]*s
		yi := re[i]*s + im[i]*c
		out[2*i] = yr
		out[m-1-2*i] = -yi
	}
}

// fftPlan is an in-place iterative radix-2 complex FFT (forward,
// exp(-2*pi*i*n*k/L)) of a fixed power-of-two size.
type fftPlan struct {
	size   int
	rev    []int32
	cosTab []float64 // cos(2*pi*k/L), k < L/2
	sinTab []float64 // -sin(2*pi*k/L)
}

func (f *fftPlan) init(size int) {
	f.size = size
	bits := 0
	for 1<<bits < size {
		bits++
	}
	f.rev = make([]int32, size)
	for i := range size {
		r := 0
		for b := 0; b < bits; b++ {
			if i&(1<<b) != 0 {
				r |= 1 << (bits - 1 - b)
			}
		}
		f.rev[i] = int32(r)
	}
	f.cosTab = make([]float64, size/2)
	f.sinTab = make([]float64, size/2)
	for k := range size / 2 {
		a := 2 * math.Pi * float64(k) / float64(size)
		f.cosTab[k] = math.Cos(a)
		f.sinTab[k] = -math.Sin(a)
	}
}

func (f *fftPlan) transform(re, im []float64) {
	n := f.size
	re, im = re[:n], im[:n]
	for i, r := range f.rev {
		if j := int(r); j > i {
			re[i], re[j] = re[j], re[i]
			im[i], im[j] = im[j], im[i]
		}
	}
	// First stage (butterflies of size 2) needs no multiplication.
	for i := 0; i+1 < n; i += 2 {
		ar, ai := re[i], im[i]
		br, bi := re[i+1], im[i+1]
		re[i], im[i] = ar+br, ai+bi
		re[i+1], im[i+1] = ar-br, ai-bi
	}
	for size := 4; size <= n; size <<= 1 {
		half := size >> 1
		step := n / size
		for start := 0; start < n; start += size {
			k := 0
			for j := start; j < start+half; j++ {
				c, s := f.cosTab[k], f.sinTab[k]
				k += step
				jr, ji := re[j+half], im[j+half]
				tr := jr*c - ji*s
				ti := jr*s + ji*c
				re[j+half], im[j+half] = re[j]-tr, im[j]-ti
				re[j], im[j] = re[j]+tr, im[j]+ti
			}
		}
	}
}
