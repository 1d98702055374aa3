// Command bench calls one small non-inlined function in a tight loop, so that the
// cost gotel adds per traced call can be measured against an untraced run.
//
//	bench -duration 5s -goroutines 1 [-no-wait] [-calls N]
//
// Without -no-wait it prints "ready" and waits for a newline on stdin before the
// loop starts, so a tracer can attach first. At the end it prints one line:
//
//	calls=<total> seconds=<elapsed> rate=<calls/s>
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// payload is passed as work's string argument: 40 bytes, so a tracer that captures
// strings copies a realistic, fixed amount per call.
const payload = "gotel-bench-payload-0123456789abcdefghij"

// work is the traced function. It must stay a real call: //go:noinline keeps the
// compiler from inlining it into the loop, which would leave nothing to probe.
//
//go:noinline
func work(a, b, c int, s string) int {
	return a + b + c + len(s)
}

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each goroutine calls work")
	goroutines := flag.Int("goroutines", 1, "how many goroutines call work concurrently")
	noWait := flag.Bool("no-wait", false, "start at once instead of waiting for a newline on stdin")
	calls := flag.Uint64("calls", 0, "make exactly this many calls per goroutine instead of running for -duration")
	flag.Parse()
	if *goroutines < 1 {
		fmt.Fprintln(os.Stderr, "bench: -goroutines must be at least 1")
		os.Exit(2)
	}

	if !*noWait {
		fmt.Println("ready")
		// Any input, even EOF, starts the run; the tracer attaches in between.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}

	var total uint64
	var sink int64 // keeps work's result live so the loop is not optimised away
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(*duration)
	for g := 0; g < *goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var n uint64
			acc := 0
			for {
				// Check the clock once per batch: time.Now costs about as much as work.
				for i := 0; i < 1024; i++ {
					acc += work(i, g, int(n), payload)
				}
				n += 1024
				if *calls > 0 {
					if n >= *calls {
						break
					}
				} else if !time.Now().Before(deadline) {
					break
				}
			}
			atomic.AddUint64(&total, n)
			atomic.AddInt64(&sink, int64(acc))
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	made := atomic.LoadUint64(&total)
	_ = atomic.LoadInt64(&sink)
	fmt.Printf("calls=%d seconds=%.3f rate=%.0f\n", made, elapsed, float64(made)/elapsed)
}
