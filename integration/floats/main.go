// floats: functions returning float64 and float32 in X0, called from sites
// that use the result in different ways: through fmt (runtime.convT64 /
// convT32 take it in an integer register), as raw bits (math.Float64bits:
// a movq), negated, converted to float32, widened to float64 (exact),
// compared, and passed on to another function in X0. Each call's int64
// argument names it; after each round the program prints the exact bits
// of every result as "want fn:n:bits ...", for the test to compare with
// what gotel read.
//
// On each line of stdin: one round, then "want …" and "done N".
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

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		round()
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
