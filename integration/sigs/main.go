// Command sigs exercises the signatures gotel's end-to-end tests assert on.
//
// It prints "ready" and then, for every line read on stdin, runs one round of
// calls with fixed arguments (see round) and prints "done N". The line
// "exec PATH" replaces the process image instead (same pid). Tests attach
// gotel first and then drive rounds, so every value below is an expectation.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

//go:noinline
func ints(a int8, b int16, c int32, d int64, e uint8, f uint16, g uint32, h uint64, i int) int64 {
	return int64(a) + int64(b) + int64(c) + d + int64(e) + int64(f) + int64(g) + int64(h) + int64(i)
}

//go:noinline
func flip(b bool) bool { return !b }

//go:noinline
func greet(name string, times int) (string, int) {
	return "hello, " + name, len(name) * times
}

// many has more integer arguments than the nine ABI registers, so its last
// two arguments and its result are passed on the stack.
//
//go:noinline
func many(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 int) int {
	return a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
}

// mixed takes and returns a float in an XMM register, which eBPF cannot read.
//
//go:noinline
func mixed(x int64, f float64, s string) (float64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	return f * float64(x), nil
}

// deep recurses with a 512-byte frame: a fresh goroutine's 8 KiB stack must
// grow (runtime.morestack, stack copy) several times before depth 0.
//
//go:noinline
func deep(n int) int {
	var pad [512]byte
	pad[n%512] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%512])
}

// Counter checks pointer-receiver method naming: main.(*Counter).Add.
type Counter struct{ total int }

//go:noinline
func (c *Counter) Add(d int) int {
	c.total += d
	return c.total
}

// Peek has an unnamed value receiver: Go before 1.22 leaves it out of DWARF.
//
//go:noinline
func (Counter) Peek(x int) int { return x * 2 }

// blank has a `_` parameter, also missing from DWARF before Go 1.22.
//
//go:noinline
func blank(_ int, s string) string { return s + "!" }

// fail returns the error shapes users meet most: nil, errors.New,
// fmt.Errorf with %w, and a *strconv.NumError.
//
//go:noinline
func fail(n int) (int, error) {
	switch n {
	case 0:
		return 0, nil
	case 1:
		return 1, errors.New("boom: a message longer than twenty-three bytes")
	case 2:
		return 2, fmt.Errorf("wrapped: %w", errors.New("inner"))
	}
	_, err := strconv.Atoi("x")
	return 3, err
}

// show takes an empty interface.
//
//go:noinline
func show(v any) bool { return v != nil }

// Request and URL give field paths through pointers: r.URL.Path.
type URL struct {
	Scheme, Host, Path string
	Port               int
}

type Body struct{ N int }

type Request struct {
	Method string
	URL    *URL
	Body   *Body // nil: a path through it is null
	Depth  int32
	Ports  []int
}

//go:noinline
func handle(r *Request, tag string) int { return len(r.URL.Path) + len(tag) }

//go:noinline
func double(x int) int { return 2 * x }

// refs takes the reference kinds shown by size or name: maps (count),
// chans (len, cap), funcs (the function they run), and nil ones.
//
//go:noinline
func refs(m map[string]int, ch chan int, f func(int) int, nm map[string]int, nc chan int, nf func(int) int) int {
	return len(m) + len(ch) + f(1)
}

type Point struct{ X, Y int32 }

// slices takes 21 words of slice headers: the later ones arrive on the stack.
//
//go:noinline
func slices(ints []int, bs []byte, raw []byte, pts []Point, names []string, big []uint16, empty []int) int {
	return len(ints) + len(bs) + len(raw) + len(pts) + len(names) + len(big) + len(empty)
}

// explode panics for n > 0; guard recovers and returns -1 then.
//
//go:noinline
func explode(n int) int {
	if n > 0 {
		panic("boom")
	}
	return n
}

//go:noinline
func guard(n int) (r int) {
	defer func() {
		if recover() != nil {
			r = -1
		}
	}()
	return explode(n)
}

var sink int64

func round(c *Counter) {
	sink += ints(-8, -1600, -320000, -6400000000, 200, 60000, 4000000000, 18000000000000000000, -42)
	if flip(true) {
		sink++
	}
	s, n := greet("a name longer than twenty-three bytes", 3)
	sink += int64(len(s) + n)
	sink += int64(many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
	f, _ := mixed(3, 1.5, "x")
	sink += int64(f)
	done := make(chan int)
	go func() { done <- deep(40) }()
	sink += int64(<-done)
	sink += int64(c.Add(5))
	sink += int64(c.Peek(9))
	sink += int64(len(blank(7, "kept")))
	for i := 0; i < 4; i++ {
		if _, err := fail(i); err != nil {
			sink++
		}
	}
	if show(42) && !show(nil) {
		sink++
	}
	u := &URL{Scheme: "https", Host: "example.com", Path: "/api/v1/items", Port: 8443}
	sink += int64(handle(&Request{Method: "GET", URL: u, Depth: 3, Ports: []int{80, 443}}, "t"))
	big := make([]uint16, 20)
	for i := range big {
		big[i] = uint16(i * 1000)
	}
	sink += int64(guard(0) + guard(1))
	sink += int64(slices([]int{1, -2, 3}, []byte("hello"), []byte{0, 1, 255}, []Point{{1, 2}, {3, 4}}, []string{"a", "b"}, big, nil))
	ch := make(chan int, 4)
	ch <- 1
	sink += int64(refs(map[string]int{"a": 1, "b": 2, "c": 3}, ch, double, nil, nil, nil))
}

func main() {
	fmt.Println("ready")
	c := &Counter{}
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		// "exec PATH" replaces this process image, keeping the pid.
		if line := in.Text(); strings.HasPrefix(line, "exec ") {
			p := strings.TrimPrefix(line, "exec ")
			if err := syscall.Exec(p, []string{p}, os.Environ()); err != nil {
				panic(err)
			}
		}
		round(c)
		fmt.Printf("done %d\n", i)
	}
}
