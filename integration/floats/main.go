// floats: functions returning float64 and float32 in X0, called from sites
// that use the result in different ways: through fmt (runtime.convT64 /
// convT32 take it in an integer register), as raw bits (math.Float64bits:
// a movq), negated, converted to float32, widened to float64 (exact),
// compared, and passed on to another function in X0. Each call's int64
// argument names it; after each round the program prints the exact bits
// of every result as "want fn:n:bits ...", for the test to compare with
// what gotel read.
//
// Float arguments: scale (a float64 before an int), blend (three floats
// and an int), pick (read on one path, kept in XMM on the other), twice
// (moved out where both paths meet, one after changing it: never read) and
// (*service).Authorise(amount float32), each called directly, through a
// func value and (Authorise) through an interface; every argument passed
// is printed as "args fn:n:name:bits ..." in call order.
//
// On each line of stdin: one round, then "args …", "want …" and "done N".
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
)

// area is πr² for r = n + 0.5.
//
//go:noinline
func area(n int64) float64 {
	r := float64(n) + 0.5
	return math.Pi * r * r
}

// third is n/3 in float32.
//
//go:noinline
func third(n int64) float32 {
	return float32(n) / 3
}

//go:noinline
func use(f float64) {
	sinkf += f
}

var (
	sinkf  float64
	sink32 float32
	bits   []uint64
)

func round() {
	fmt.Println("A", area(1))                                // through fmt: convT64 takes it in RAX
	bits = append(bits, math.Float64bits(area(2)))           // movq to a register
	neg := -area(3)                                          // negated in XMM
	sinkf += neg                                             //
	sink32 = float32(area(4))                                // converted in XMM
	use(area(5))                                             // passed on in X0
	bits = append(bits, uint64(math.Float32bits(third(6))))  // movd to a register
	bits = append(bits, math.Float64bits(float64(third(7)))) // widened (exact), then movq
	if v := area(8); v > 100 {                               // compared
		sinkf += v
	}
	fmt.Println("T", third(10)) // through fmt: convT32
	bits = bits[:0]
}

// passed notes an argument's exact bits, in call order.
func passed(f string, n int64, name string, bits uint64) {
	argLog = append(argLog, fmt.Sprintf("%s:%d:%s:%x", f, n, name, bits))
}

var argLog []string

// note keeps a value where the compiler cannot drop it.
//
//go:noinline
func note(n int64, bits uint64) { sinkBits += bits + uint64(n) }

var sinkBits uint64

// scale takes a float64 (X0) before an int (RAX).
//
//go:noinline
func scale(x float64, n int64) int64 {
	note(n, math.Float64bits(x))
	return n * 2
}

// blend takes three floats (X0, X1, X2) and an int.
//
//go:noinline
func blend(a, b float64, w float32, n int64) {
	note(n, math.Float64bits(a))
	note(n, math.Float64bits(b))
	note(n, uint64(math.Float32bits(w)))
}

// pick moves x out of XMM on one path only.
//
//go:noinline
func pick(x float64, n int64) float64 {
	if n > 50 {
		return x * 2
	}
	note(n, math.Float64bits(x))
	return x
}

// twice moves x out of XMM where both paths meet, one of them after
// tripling it in XMM: a probe there would read 3x for that path's calls,
// so x is never read.
//
//go:noinline
func twice(x float64, n int64) {
	if n > 50 {
		x = x * 3
	}
	note(n, math.Float64bits(x))
}

type service struct{ spent float32 }

// Authorise takes a float32 (X0) after its receiver (RAX).
//
//go:noinline
func (s *service) Authorise(amount float32) bool {
	note(1, uint64(math.Float32bits(amount)))
	s.spent += 1
	return s.spent < 1e9
}

type authoriser interface{ Authorise(amount float32) bool }

// argRound makes each call with distinct values and notes them.
func argRound() {
	f64 := func(x float64) uint64 { return math.Float64bits(x) }
	f32 := func(x float32) uint64 { return uint64(math.Float32bits(x)) }
	scale(1.25, 1)
	passed("scale", 1, "x", f64(1.25))
	fv := scale
	fv(-3.5e-7, 2)
	passed("scale", 2, "x", f64(-3.5e-7))
	blend(0.1, 2.2, 0.3, 3)
	passed("blend", 3, "a", f64(0.1))
	passed("blend", 3, "b", f64(2.2))
	passed("blend", 3, "w", f32(0.3))
	bv := blend
	negZero := math.Copysign(0, -1)
	bv(1e300, negZero, 7.5, 4)
	passed("blend", 4, "a", f64(1e300))
	passed("blend", 4, "b", f64(math.Copysign(0, -1)))
	passed("blend", 4, "w", f32(7.5))
	pick(6.25, 5)
	passed("pick", 5, "x", f64(6.25))
	pick(9.5, 60)
	passed("pick", 60, "x", f64(9.5))
	twice(1.5, 7)
	passed("twice", 7, "x", f64(1.5))
	twice(2.5, 70)
	passed("twice", 70, "x", f64(2.5))
	s := &service{}
	s.Authorise(12.5)
	passed("(*service).Authorise", 0, "amount", f32(12.5))
	var a authoriser = s
	a.Authorise(99.75)
	passed("(*service).Authorise", 0, "amount", f32(99.75))
	m := s.Authorise
	m(0.001)
	passed("(*service).Authorise", 0, "amount", f32(0.001))
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		round()
		argLog = argLog[:0]
		argRound()
		fmt.Println("args " + strings.Join(argLog, " "))
		var want []string
		for _, n := range []int64{1, 2, 3, 4, 5, 8} {
			want = append(want, fmt.Sprintf("area:%d:%x", n, math.Float64bits(area(n))))
		}
		for _, n := range []int64{6, 7, 10} {
			want = append(want, fmt.Sprintf("third:%d:%x", n, math.Float32bits(third(n))))
		}
		fmt.Println("want " + strings.Join(want, " "))
		fmt.Printf("done %d\n", i)
	}
}
