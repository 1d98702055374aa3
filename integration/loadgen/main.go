// Command loadgen drives an HTTP server for a while from a few connections
// and prints "requests N errors M seconds S" when done. It stands in for the
// demo's traffic when measuring what gotel costs beside a busy app.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/e?iters=2", "what to GET")
	workers := flag.Int("workers", 8, "concurrent connections")
	duration := flag.Duration("duration", 30*time.Second, "how long")
	flag.Parse()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	var requests, errors int64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Get(*url)
				if err != nil {
					atomic.AddInt64(&errors, 1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&requests, 1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	fmt.Printf("requests %d errors %d seconds %.1f\n", requests, errors, time.Since(start).Seconds())
}
