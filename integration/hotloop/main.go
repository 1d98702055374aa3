// Command hotloop calls one small non-inlined function in a tight loop for
// -duration and prints, every -every, how many calls per second it made in
// that window ("rate N"): what a probe on a hot function costs the app,
// moment by moment.
package main

import (
	"flag"
	"fmt"
	"sync/atomic"
	"time"
)

//go:noinline
func spin(n int) int {
	return n*3 + 1
}

func main() {
	duration := flag.Duration("duration", 30*time.Second, "how long to run")
	every := flag.Duration("every", 250*time.Millisecond, "how often to print the rate")
	flag.Parse()
	var calls uint64
	go func() {
		acc := 0
		for i := 0; ; i++ {
			acc += spin(i)
			if i&1023 == 0 {
				atomic.AddUint64(&calls, 1024)
			}
		}
	}()
	start := time.Now()
	last := uint64(0)
	tick := time.NewTicker(*every)
	for now := range tick.C {
		n := atomic.LoadUint64(&calls)
		fmt.Printf("rate %d\n", uint64(float64(n-last)/every.Seconds()))
		last = n
		if now.Sub(start) >= *duration {
			return
		}
	}
}
