// Command secrets calls functions whose arguments, results and fields
// hold secrets, for gotel's redaction test: every secret value contains
// "SECRET" (or is the number 987654321987), which must never appear in
// gotel's output. Each line on stdin runs one round, then "done N".
package main

import (
	"bufio"
	"fmt"
	"os"
)

// Creds holds a token between two fields that are shown.
type Creds struct {
	User  string
	Token string
	Port  int
}

// Key is copied as one run of bytes unless a field is redacted.
type Key struct {
	ID     int
	APIKey uint64
}

// Account reaches a Creds through a pointer.
type Account struct {
	ID    int
	Creds *Creds
	Keys  []Key
}

//go:noinline
func login(user string, password string, attempt int) bool {
	return len(user) > 0 && len(password) > 0 && attempt < 3
}

//go:noinline
func connect(c Creds) int { return c.Port }

//go:noinline
func connectPtr(c *Creds) int { return c.Port + 1 }

//go:noinline
func connectAll(cs []Creds) int { return len(cs) }

//go:noinline
func account(a *Account) int { return a.ID + len(a.Keys) }

//go:noinline
func issue(user string) (token string, ok bool) { return user + "-SECRET-issued", true }

//go:noinline
func describe(v any) int {
	if v == nil {
		return 0
	}
	return 1
}

func round(n int) {
	c := Creds{User: "bob", Token: "tok-SECRET-value", Port: 5432}
	login("alice", "hunter2-SECRET-pw", n)
	connect(c)
	connectPtr(&Creds{User: "carol", Token: "ptr-SECRET-token", Port: 6543})
	connectAll([]Creds{c, {User: "dave", Token: "elem-SECRET-token", Port: 7}})
	account(&Account{ID: 9, Creds: &c, Keys: []Key{{ID: 1, APIKey: 987654321987}}})
	issue("erin")
	describe(&Creds{User: "frank", Token: "any-SECRET-token", Port: 8})
	describe(Key{ID: 2, APIKey: 987654321987})
}

func main() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for i := 1; in.Scan(); i++ {
		round(i)
		fmt.Printf("done %d\n", i)
	}
}
