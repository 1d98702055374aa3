// Command stack has a known call chain for caller-stack tests: it prints
// "ready", then for every line read on stdin calls round → a → b → c
// (none inlined) and prints "done N". A probe on main.c with `stack:`
// sees main.b, main.a, main.round, main.main, then the runtime's frames.
package main

import (
	"bufio"
	"fmt"
	"os"
)

var sink int

//go:noinline
func c(n int) int {
	sink += n
	return n + 1
}

//go:noinline
func b(n int) int { return c(n+1) + 1 }

//go:noinline
func a(n int) int { return b(n+1) + 1 }

//go:noinline
func round(n int) int { return a(n) }

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	i := 0
	for in.Scan() {
		i++
		sink += round(i)
		fmt.Printf("done %d\n", i)
	}
}
