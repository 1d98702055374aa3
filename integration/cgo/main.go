// Command cgo is a cgo-enabled program (linked by the C toolchain), for
// the tests that gotel reads such binaries as well as pure-Go ones.
//
// It prints "ready", then per line on stdin calls viaC and label once and
// prints "done N".
package main

/*
static int add(int a, int b) { return a + b; }
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
)

//go:noinline
func viaC(a, b int) int { return int(C.add(C.int(a), C.int(b))) }

//go:noinline
func label(name string, n int) string { return fmt.Sprintf("%s#%d", name, n) }

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		s := viaC(i, 40)
		fmt.Println(label("call", s))
		fmt.Printf("done %d\n", i)
	}
}
