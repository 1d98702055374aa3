// Command endings ends probed calls without a return, one way per line
// read from stdin: "goexit" (runtime.Goexit in a goroutine), "exit"
// (os.Exit inside a call), "crash" (an unrecovered panic inside a call).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
)

var sink int

//go:noinline
func step(n int) int {
	defer func() { sink++ }()
	if n > 0 {
		runtime.Goexit()
	}
	return n
}

//go:noinline
func worker(n int) int {
	return step(n) + 1
}

//go:noinline
func finish(code int) int {
	fmt.Println("exiting")
	os.Exit(code)
	return code
}

//go:noinline
func explode(n int) int {
	if n > 0 {
		panic(fmt.Sprintf("boom %d", n))
	}
	return n
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "goexit":
			done := make(chan struct{})
			go func() {
				defer close(done)
				worker(5)
			}()
			<-done
			// A call that returns, on the main goroutine, after.
			sink += worker(0)
			fmt.Println("done goexit")
		case "exit":
			finish(3)
		case "crash":
			explode(7)
		}
	}
}
