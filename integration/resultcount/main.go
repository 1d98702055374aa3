// Command resultcount prints how many results every function of some Go
// packages and their dependencies declares, read from the source alone:
// gotel's every-function test compares it with what gotel reads from the
// binary's DWARF.
//
//	resultcount -go /path/to/go cmd/go cmd/gofmt
//
// It asks that go (with the environment it runs in: GOOS, GOARCH,
// CGO_ENABLED must match the build of the binary) for the files of every
// package the named ones link (`go list -deps -json`), parses them with
// go/parser and prints one line per function:
//
//	NAME<TAB>RESULTS<TAB>FLAGS
//
// NAME is the symbol the linker gives the function: `pkg.F`, `pkg.T.M`,
// `pkg.(*T).M`, with `main` for a command's package and a generic
// function's or receiver's type arguments left out (`pkg.(*List).Push` for
// every instantiation of `pkg.(*List[T]).Push`). RESULTS counts names:
// `(a, b int)` is 2. FLAGS is `-` or some of:
//
//	g  generic: the binary has one body per shape, all with these results
//	b  declared without a body: assembly, or a body linked in by name
//	w  the (*T).M wrapper the compiler writes for a value method T.M
//
// Not printed, because the source does not name them the way the binary
// does: closures (`F.func1`), method values (`M-fm`), init functions, and
// methods promoted from embedded fields. A name declared twice with
// different result counts (a body-less declaration and a linknamed body
// elsewhere) is printed with the count `?`.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
}

type entry struct {
	results int
	flags   string
	clash   bool
}

func main() {
	goBin := flag.String("go", "go", "the go command whose GOROOT to read")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: resultcount -go GO PACKAGE...")
		os.Exit(2)
	}
	pkgs, err := list(*goBin, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "resultcount:", err)
		os.Exit(1)
	}
	out := map[string]*entry{}
	fset := token.NewFileSet()
	for _, p := range pkgs {
		prefix := p.ImportPath
		if p.Name == "main" {
			prefix = "main"
		}
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				fmt.Fprintln(os.Stderr, "resultcount:", err)
				os.Exit(1)
			}
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok {
					declare(out, prefix, fd)
				}
			}
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	w := bufio.NewWriter(os.Stdout)
	for _, n := range names {
		e := out[n]
		count := fmt.Sprint(e.results)
		if e.clash {
			count = "?"
		}
		flags := e.flags
		if flags == "" {
			flags = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", n, count, flags)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "resultcount:", err)
		os.Exit(1)
	}
}

// list runs `go list -deps -json` on the packages and decodes its stream
// of JSON objects.
func list(goBin string, patterns []string) ([]pkg, error) {
	cmd := exec.Command(goBin, append([]string{"list", "-deps", "-json"}, patterns...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var pkgs []pkg
	dec := json.NewDecoder(stdout)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("go list: %v", err)
	}
	return pkgs, nil
}

// declare records the function fd of the package whose symbols start with
// prefix.
func declare(out map[string]*entry, prefix string, fd *ast.FuncDecl) {
	name := fd.Name.Name
	if name == "_" || (fd.Recv == nil && name == "init") {
		return
	}
	results := 0
	if fd.Type.Results != nil {
		for _, f := range fd.Type.Results.List {
			if len(f.Names) == 0 {
				results++
			} else {
				results += len(f.Names)
			}
		}
	}
	flags := ""
	if fd.Type.TypeParams != nil && len(fd.Type.TypeParams.List) > 0 {
		flags += "g"
	}
	if fd.Body == nil {
		flags += "b"
	}
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		add(out, prefix+"."+name, results, flags)
		return
	}
	recv := fd.Recv.List[0].Type
	pointer := false
	if s, ok := recv.(*ast.StarExpr); ok {
		pointer, recv = true, s.X
	}
	switch r := recv.(type) {
	case *ast.IndexExpr:
		recv, flags = r.X, flags+"g"
	case *ast.IndexListExpr:
		recv, flags = r.X, flags+"g"
	}
	if p, ok := recv.(*ast.ParenExpr); ok {
		recv = p.X
	}
	id, ok := recv.(*ast.Ident)
	if !ok {
		return
	}
	if pointer {
		add(out, fmt.Sprintf("%s.(*%s).%s", prefix, id.Name, name), results, flags)
		return
	}
	add(out, fmt.Sprintf("%s.%s.%s", prefix, id.Name, name), results, flags)
	add(out, fmt.Sprintf("%s.(*%s).%s", prefix, id.Name, name), results, strings.ReplaceAll(flags, "b", "")+"w")
}

func add(out map[string]*entry, name string, results int, flags string) {
	e, ok := out[name]
	if !ok {
		out[name] = &entry{results: results, flags: flags}
		return
	}
	if e.results != results {
		e.clash = true
	}
	// A body-less declaration gives way to the one with a body.
	if !strings.Contains(flags, "b") {
		e.flags = flags
	}
}
