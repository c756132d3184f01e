package aac

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestWindowCheckpoints compares the window formulas with the reference
// values in shared/data/aac/window_checkpoints.tsv, copied to testdata.
func TestWindowCheckpoints(t *testing.T) {
	f, err := os.Open("testdata/window_checkpoints.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		n, _ := strconv.Atoi(c[1])
		i, _ := strconv.Atoi(c[2])
		want, _ := strconv.ParseFloat(c[3], 64)
		shape := sineShape
		if c[0] == "kbd" {
			shape = kbdShape
		}
		if got := aacWindow(shape, n)[i]; math.Abs(got-want) > 1e-11 {
			t.Errorf("%s N=%d n=%d: got %.12f want %.12f", c[0], n, i, got, want)
		}
		rows++
	}
	if rows < 10 {
		t.Fatalf("only %d checkpoints read", rows)
	}
	for _, shape := range []int{sineShape, kbdShape} {
		for _, n := range []int{longWindowLen, shortWindowLen} {
			w := aacWindow(shape, n)
			for i := range n / 2 {
				if s := w[i]*w[i] + w[i+n/2]*w[i+n/2]; math.Abs(s-1) > 1e-12 {
					t.Fatalf("shape %d N=%d: Princen-Bradley fails at %d: %g", shape, n, i, s)
				}
			}
		}
	}
}
