// Command bench calls one small non-inlined function in a tight loop, so that the
// cost gotel adds per traced call can be measured against an untraced run.
//
//	bench -duration 5s -goroutines 1 [-no-wait] [-calls N] [-func work|nested|float|inlined]
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
	"math"
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

// Customer and Item make Order a nested struct with a slice: what a tracer copies
// through a pointer, a string header, a slice header and its elements.
type Customer struct {
	Name string
	Tier int
}

// Item is one element of Order.Items.
type Item struct {
	SKU string
	Qty int
}

// Order is workNested's argument.
type Order struct {
	ID       int
	Customer Customer
	Items    []Item
}

// workNested is the traced function of -func nested: reading a nested struct and a
// slice through a pointer costs a tracer more than work's registers do.
//
//go:noinline
func workNested(o *Order, n int) int {
	return o.ID + o.Customer.Tier + len(o.Items) + n
}

// workFloat is the traced function of -func float: a float64 argument and
// result in XMM registers, which eBPF cannot read. It moves x out of XMM
// (gotel reads it there: a landing site in the callee), and the loop moves
// the result out (a landing site after the call): four traps per traced
// call with landing sites, two without.
//
//go:noinline
func workFloat(x float64, n int) float64 {
	return math.Float64frombits(math.Float64bits(x) ^ uint64(n&1))
}

// workInlined is the traced function of -func inlined: small enough that
// the compiler inlines it into the loop, so gotel probes that inlined site
// (its start and its exit) instead of a call.
func workInlined(a, b int) int {
	return a*b + len(payload)
}

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each goroutine calls work")
	goroutines := flag.Int("goroutines", 1, "how many goroutines call work concurrently")
	noWait := flag.Bool("no-wait", false, "start at once instead of waiting for a newline on stdin")
	calls := flag.Uint64("calls", 0, "make exactly this many calls per goroutine instead of running for -duration")
	fn := flag.String("func", "work", "the function called in the loop: work, nested (workNested), float (workFloat) or inlined (workInlined)")
	flag.Parse()
	if *goroutines < 1 {
		fmt.Fprintln(os.Stderr, "bench: -goroutines must be at least 1")
		os.Exit(2)
	}

	if *fn != "work" && *fn != "nested" && *fn != "float" && *fn != "inlined" {
		fmt.Fprintln(os.Stderr, "bench: -func must be work, nested, float or inlined")
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
			order := &Order{
				ID:       g,
				Customer: Customer{Name: "gotel-bench-customer", Tier: 3},
				Items:    []Item{{SKU: "sku-0001", Qty: 1}, {SKU: "sku-0002", Qty: 2}, {SKU: "sku-0003", Qty: 3}},
			}
			for {
				// Check the clock once per batch: time.Now costs about as much as work.
				// The branch is outside the batch so work's loop stays as it was.
				switch *fn {
				case "nested":
					for i := 0; i < 1024; i++ {
						acc += workNested(order, i)
					}
				case "inlined":
					for i := 0; i < 1024; i++ {
						acc += workInlined(i, g)
					}
				case "float":
					for i := 0; i < 1024; i++ {
						acc += int(math.Float64bits(workFloat(float64(i), g)) >> 52)
					}
				default:
					for i := 0; i < 1024; i++ {
						acc += work(i, g, int(n), payload)
					}
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
