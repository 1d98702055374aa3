// Command inl is the target of gotel's inlined-site tests: small functions
// the compiler inlines at their direct call sites.
//
// It prints "ready" and then, for every line read on stdin, runs one round
// of calls and prints "done N". Before each call it prints what it passes:
// "call FUNC CALLER a=… s=… n=…" (add) or "call mark CALLER id=… label=…".
package main

import (
	"bufio"
	"fmt"
	"os"
)

// Item is what add's pointer argument points at.
type Item struct{ N int }

// add is small enough to inline at each direct call; `indirect` also
// calls an out-of-line copy through a func value.
func add(a int, s string, it *Item) int {
	return a + len(s) + it.N
}

// mark is inlined at every call: it has no out-of-line copy.
func mark(id int, label string) int {
	return id*3 + len(label)
}

var (
	sink     int
	indirect = add
	words    = []string{"ab", "xyz", "hello", "q"}
)

//go:noinline
func first(k int) {
	it := &Item{N: k + 1}
	s := words[k%len(words)]
	fmt.Printf("call add main.first a=%d s=%s n=%d\n", k, s, it.N)
	sink += add(k, s, it) // site: first
}

//go:noinline
func second(k int) {
	it := &Item{N: 2 * k}
	s := words[(k+1)%len(words)]
	fmt.Printf("call add main.second a=%d s=%s n=%d\n", k+10, s, it.N)
	sink += add(k+10, s, it) // site: second
}

//go:noinline
func third(k int) {
	label := words[(k+2)%len(words)]
	fmt.Printf("call mark main.third id=%d label=%s\n", k*7, label)
	sink += mark(k*7, label) // site: third
}

//go:noinline
func fourth(k int) {
	label := words[(k+3)%len(words)]
	fmt.Printf("call mark main.fourth id=%d label=%s\n", k+100, label)
	sink += mark(k+100, label) // site: fourth
}

// fifth prints after the call: its arguments need not be spilled for
// the print before it, and may still be in registers at the site.
//
//go:noinline
func fifth(k int, it *Item) {
	s := words[k%len(words)]
	r := add(k*3, s, it) // site: fifth
	fmt.Printf("call add main.fifth a=%d s=%s n=%d\n", k*3, s, it.N)
	sink += r
}

// sixth inlines mark in a loop: each iteration is one call at the site.
//
//go:noinline
func sixth(k int) {
	for i := 0; i < 3; i++ {
		label := words[(k+i)%len(words)]
		fmt.Printf("call mark main.sixth id=%d label=%s\n", k+i, label)
		sink += mark(k+i, label) // site: sixth
	}
}

//go:noinline
func viaValue(k int) {
	it := &Item{N: k}
	fmt.Printf("call add out-of-line a=%d s=%s n=%d\n", k+1000, "v", it.N)
	sink += indirect(k+1000, "v", it)
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	n := 0
	for in.Scan() {
		n++
		for k := n; k < n+3; k++ {
			first(k)
			second(k)
			third(k)
			fourth(k)
			fifth(k, &Item{N: k + 5})
		}
		sixth(n)
		viaValue(n)
		fmt.Printf("done %d\n", n)
	}
	_ = sink
}
