// Command demo is the walkthrough target: an HTTP server that computes e.
//
// GET /e?iters=N (default 100) calls computeE(N). The listening address is
// printed on stdout as "listening on HOST:PORT" so scripts can use -addr :0.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
)

// computeE approximates e with the first `iterations` terms of sum 1/k!.
//
//go:noinline
func computeE(iterations int64) float64 {
	res := 2.0
	fact := 1.0
	for i := int64(2); i < iterations; i++ {
		fact *= float64(i)
		res += 1 / fact
	}
	return res
}

func handleE(w http.ResponseWriter, r *http.Request) {
	iters := int64(100)
	if s := r.URL.Query().Get("iters"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			http.Error(w, "iters must be an integer", http.StatusBadRequest)
			return
		}
		iters = n
	}
	fmt.Fprintf(w, "e = %0.10f\n", computeE(iters))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	http.HandleFunc("/e", handleE)
	log.Fatal(http.Serve(ln, nil))
}
