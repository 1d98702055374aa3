// Command shapes exercises the function shapes and dynamic values gotel's
// end-to-end tests assert on: generics, closures, defer, variadic and
// embedded methods, standard-library functions, and interfaces holding
// values of many types.
//
// It prints "ready", then runs one round of calls per line on stdin and
// prints "done N". Every argument below is an expectation of the tests.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
)

//go:noinline
func Max[T int | int64 | string](a, b T) T {
	if a > b {
		return a
	}
	return b
}

// Stack is a generic type with a pointer-receiver method.
type Stack[T any] struct{ items []T }

//go:noinline
func (s *Stack[T]) Push(v T) int {
	s.items = append(s.items, v)
	return len(s.items)
}

// Wide's value receiver takes all nine integer registers: the
// dictionary of Sum's shape body then goes to the stack.
type Wide[T any] struct{ A, B, C, D, E, F, G, H, I int }

//go:noinline
func (w Wide[T]) Sum(x, y int) int { return w.A + w.I + x + y }

// withDefer's deferred closure rewrites the named result after return.
//
//go:noinline
func withDefer(n int) (r int) {
	defer func() { r *= 10 }()
	return n + 1
}

//go:noinline
func sum(label string, xs ...int) int {
	t := len(label)
	for _, x := range xs {
		t += x
	}
	return t
}

// Base's method is promoted to Derived.
type Base struct{ ID int }

//go:noinline
func (b *Base) Describe(prefix string) string { return prefix + strconv.Itoa(b.ID) }

type Derived struct {
	Base
	Name string
}

type Celsius int16

type Point struct{ X, Y int32 }

type Tagged struct {
	Name  string
	Score float64
	OK    bool
}

// MyErr is a user error type with a string field.
type MyErr struct {
	Code int
	Msg  string
}

func (e *MyErr) Error() string { return fmt.Sprintf("code %d: %s", e.Code, e.Msg) }

// OpErr is a user error with strings, an int and the error it wraps past
// the first 32 bytes: read by its own recipe, not by guesses.
type OpErr struct {
	Op     string
	Path   string
	Code   int
	Detail string
	Err    error
}

func (e *OpErr) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Multi holds a value whose type has no recipe (a map, stored in the
// interface word) before one whose type has: nested values must still
// land under the right parent.
type Multi struct {
	First  any
	Second error
}

func (m *Multi) Error() string { return "multi" }

// Record is a plain struct shown through `any`: strings far into it, a
// byte slice, an error, a []string and a struct of strings inside: more
// captures than a type recipe held before (12).
type Record struct {
	ID     int
	Name   string
	Tags   [2]string
	Raw    []byte
	Cause  error
	Note   string
	Labels []string
	Origin Origin
}

// Origin is a struct of strings inside Record.
type Origin struct{ Host, Path, Query, Fragment string }

// inspect takes an empty interface (a second probe: types learned on
// first sight show completely from the next value on).
//
//go:noinline
func inspect(v any) int { return 1 }

// apply calls f out of line: its closure argument keeps a body of its own.
//
//go:noinline
func apply(f func(int) int, x int) int { return f(x) }

// twice is inlined where round calls it directly and kept out of line for
// apply's func value: that copy's DWARF entry points at the inlined
// abstract one, and only the copy lists the unnamed result.
func twice(x int) int { return 2 * x }

// Wide40 has more fields than one site can capture (32).
type Wide40 struct {
	F0, F1, F2, F3, F4, F5, F6, F7, F8, F9           int
	F10, F11, F12, F13, F14, F15, F16, F17, F18, F19 int
	F20, F21, F22, F23, F24, F25, F26, F27, F28, F29 int
	F30, F31, F32, F33, F34, F35, F36, F37, F38, F39 int
}

// crowded returns a struct too large for its return site, then an error:
// the struct is trimmed, the error still shows.
//
//go:noinline
func crowded(n int) (Wide40, error) {
	return Wide40{F0: n, F29: n + 29, F39: n + 39}, fmt.Errorf("crowded %d", n)
}

// query takes url.Values (a map[string][]string), as handlers pass
// r.URL.Query(): every key with its values.
//
//go:noinline
func query(v url.Values) int { return len(v) }

// show takes an empty interface.
//
//go:noinline
func show(v any) int { return 1 }

// check returns the error shapes users meet most.
//
//go:noinline
func check(e error) bool { return e != nil }

// Node is a linked list: pointers followed to pointer_depth.
type Node struct {
	Val  int
	Next *Node
}

//go:noinline
func walk(n *Node) int {
	t := 0
	for ; n != nil; n = n.Next {
		t += n.Val
	}
	return t
}

//go:noinline
func bump(p *int) int { *p++; return *p }

// ident compiles to a lone RET (argument and result share RAX): its entry
// and return are one instruction.
//
//go:noinline
func ident(x int) int { return x }

// Pair holds complex numbers in memory, where they are readable.
type Pair struct {
	C complex128
	F complex64
}

//go:noinline
func cplx(p *Pair, cs []complex64, r complex128) int { return len(cs) + int(real(r)) }

// Item has a string and a slice: elements of []Item need ops of their own.
type Item struct {
	Name string
	Qty  int
	Tags []string
}

//go:noinline
func items(xs []Item, ps []*Point, es []error) int { return len(xs) + len(ps) + len(es) }

// outer panics for n == 1; safe, not probed in the tests, recovers.
//
//go:noinline
func outer(n int) int {
	leaf(n)
	if n == 1 {
		panic("outer")
	}
	return n
}

//go:noinline
func leaf(n int) int { return n + 100 }

//go:noinline
func safe(n int) (r int) {
	defer func() {
		if recover() != nil {
			r = -1
		}
	}()
	return outer(n)
}

// maps takes maps whose entries fit one group or bucket (all captured);
// bigMaps a larger one (a sample: the first group or bucket) and a nil one.
// A site's last captures go to larger maps' samples in argument order.
//
//go:noinline
func maps(m map[string]int, im map[int]string) int { return len(m) + len(im) }

//go:noinline
func bigMaps(big map[int]int, nm map[string]int) int { return len(nm) + len(big) }

var sink int

// Blank has blank fields: padding and a zero-size marker. An array of more
// than one element puts it on the stack under the register ABI.
type Blank struct {
	A int32
	_ [4]byte
	B int64
	_ struct{}
	C int16
}

// Pad's blank field takes a register of its own: B comes after it.
type Pad struct {
	A int32
	_ int32
	B int64
}

//go:noinline
func blanks(b Blank, q Pad) int64 {
	return int64(b.A) + b.B + int64(b.C) + int64(q.A) + q.B
}

//go:noinline
func round(base int) {
	sink += Max(3, 7) + len(Max("apple", "pear"))
	sink += int(Max[int64](-5, -9))
	s := &Stack[string]{}
	sink += s.Push("x") + s.Push("y")
	// Through an interface: the call goes via the instantiated wrapper
	// (*Stack[string]).Push, which must not be reported as a second call.
	var pusher interface{ Push(string) int } = s
	sink += pusher.Push("z")
	sink += Wide[string]{1, 2, 3, 4, 5, 6, 7, 8, 9}.Sum(10, 20)
	sink += apply(func(x int) int { return x + base }, 5)
	sink += twice(base) + apply(twice, 21)
	if w, err := crowded(3); err != nil {
		sink += w.F0
	}
	sink += walk(&Node{1, &Node{2, &Node{3, &Node{4, nil}}}})
	sink += walk(&Node{5, nil})
	sink += cplx(&Pair{C: complex(1.5, -2), F: complex(0.25, 4)}, []complex64{complex(1, 2)}, complex(3, 4))
	sink += items([]Item{{"a", 1, []string{"x"}}, {"b", 2, nil}}, []*Point{{1, 2}, nil},
		[]error{errors.New("e1"), nil, &OpErr{"sync", "/var/x", 7, "retry later", errors.New("disk full")}})
	sink += ident(5) + ident(6)
	sink += safe(1) + safe(0)
	big := map[int]int{}
	for i := 0; i < 20; i++ {
		big[i] = i * i
	}
	sink += maps(map[string]int{"a": 1, "b": 2, "c": 3}, map[int]string{7: "seven"}) + bigMaps(big, nil)
	counter := 41
	sink += bump(&counter)
	sink += int(blanks(Blank{A: 1, B: 2, C: 3}, Pad{A: 4, B: 5}))
	sink += withDefer(4)
	sink += sum("ab", 1, 2, 3)
	d := &Derived{Base: Base{ID: 7}, Name: "d"}
	sink += len(d.Describe("id="))
	n, err := strconv.ParseInt("123", 10, 64)
	sink += int(n)
	_, err = strconv.ParseInt("x\ty", 10, 64)
	if err != nil {
		sink++
	}
	q, _ := url.ParseQuery("a=1&b=2&b=3")
	sink += len(q)
	if u, err := url.Parse("http://example.com/search?q=go+tracing&tag=ebpf&tag=go&empty="); err == nil {
		sink += query(u.Query())
	}
	if f, err := os.OpenFile("/nonexistent/gotel", os.O_RDONLY, 0); err == nil {
		f.Close()
	}
	for _, v := range []any{42, "str", true, 2.5, int8(-3), Celsius(21), &Point{1, -2},
		Point{3, 4}, Tagged{"t", 0.5, true}, (*Point)(nil), nil} {
		sink += show(v)
	}
	_, numErr := strconv.Atoi("12a")
	_, dialErr := net.Dial("tcp", "127.0.0.1:1")
	_, _, addrErr := net.SplitHostPort("1.2.3.4")
	_, urlErr := url.Parse(":foo")
	for _, e := range []error{nil, errors.New("plain"), fmt.Errorf("ctx: %w", errors.New("inner")),
		numErr, &MyErr{Code: 404, Msg: "not found"}, dialErr, addrErr, urlErr,
		&OpErr{"sync", "/var/x", 7, "retry later", errors.New("disk full")},
		&Multi{map[string]int{}, &OpErr{"stat", "/y", 2, "", errors.New("gone")}}} {
		if check(e) {
			sink++
		}
	}
	sink += inspect(Record{ID: 9, Name: "rec", Tags: [2]string{"a", "b"}, Raw: []byte("raw"),
		Cause: errors.New("why"), Note: "last", Labels: []string{"x", "y"},
		Origin: Origin{"h", "/p", "q=1", "f"}})
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		round(100)
		fmt.Printf("done %d\n", i)
	}
}
