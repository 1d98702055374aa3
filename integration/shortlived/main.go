// Command shortlived lives briefly, like a CLI: -delay after its start it
// calls tick(i) every -every until -life has passed since its start, then
// prints "ticks N" and exits. With -hold a goroutine enters hold(7) 50 ms
// before the end and stays there: a call the exit ends.
package main

import (
	"flag"
	"fmt"
	"time"
)

var sink int

//go:noinline
func tick(n int) int {
	sink += n
	return n * 2
}

//go:noinline
func hold(n int) int {
	for n > 0 {
		time.Sleep(time.Hour)
	}
	return n
}

func main() {
	start := time.Now()
	delay := flag.Duration("delay", 50*time.Millisecond, "first call after this long")
	life := flag.Duration("life", 300*time.Millisecond, "exit after this long")
	every := flag.Duration("every", 5*time.Millisecond, "between calls")
	held := flag.Bool("hold", false, "leave a call of hold open at exit")
	flag.Parse()
	time.Sleep(*delay - time.Since(start))
	if *held {
		go func() {
			time.Sleep(*life - 50*time.Millisecond - time.Since(start))
			hold(7)
		}()
	}
	n := 0
	for {
		tick(n)
		n++
		if time.Since(start)+*every >= *life {
			break
		}
		time.Sleep(*every)
	}
	fmt.Println("ticks", n)
}
