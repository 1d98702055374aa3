//! Go's own tools, built from each toolchain's GOROOT with DWARF: programs
//! nobody here wrote, heavy on the standard library.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use gotel::golang::{signature, without_type_args, BinaryInfo};
use serde_json::json;

/// Where built tools are kept between runs: beside the toolchains
/// scripts/bootstrap.sh installs.
fn cache_dir() -> PathBuf {
    match std::env::var_os("GOTEL_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/gotel"),
    }
}

/// The environment every GOROOT build and `go list` here runs in: the
/// source reader must see the files the build compiled.
fn go_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        // cmd/ is its own module, vendored: -mod=mod would ask the network.
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", "amd64")
}

/// Where what is built from `tc`'s GOROOT is kept: one directory per
/// toolchain (its version and where it is).
fn tool_dir(tc: &Toolchain) -> PathBuf {
    let goroot = tc.go.canonicalize().unwrap();
    let key = format!(
        "{}-{:08x}",
        tc.version,
        fnv(goroot.to_string_lossy().as_bytes())
    );
    cache_dir().join("tools").join(key)
}

/// `cmd/<name>` built by `tc` from its own GOROOT, once per toolchain.
fn tool(tc: &Toolchain, name: &str) -> PathBuf {
    let dir = tool_dir(tc);
    let out = dir.join(name);
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    // Built beside and renamed: a test killed mid-build leaves no half file.
    let partial = dir.join(format!("{name}.partial.{}", std::process::id()));
    let status = go_env(Command::new(&tc.go).args(["build", "-o"]).arg(&partial))
        .arg(format!("cmd/{name}"))
        .current_dir(&dir)
        .status()
        .expect("go build");
    assert!(
        status.success(),
        "{}: go build cmd/{name} failed",
        tc.version
    );
    std::fs::rename(&partial, &out).unwrap();
    out
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// One function as the source declares it.
#[derive(Debug)]
struct Declared {
    /// None: declared twice with different counts.
    results: Option<usize>,
    flags: String,
}

/// Every function of `pkgs` and what they link, by symbol name, read from
/// `tc`'s GOROOT by integration/resultcount.
fn declared(tc: &Toolchain, pkgs: &[&str]) -> HashMap<String, Declared> {
    // A GOROOT's sources do not change: read once per toolchain, packages
    // and version of the reader.
    let source = std::fs::read(repo().join("integration/resultcount/main.go")).unwrap();
    let key = fnv(&[&source[..], pkgs.join(" ").as_bytes()].concat());
    let cached = tool_dir(tc).join(format!("declared-{key:08x}.tsv"));
    let text = match std::fs::read_to_string(&cached) {
        Ok(t) => t,
        Err(_) => {
            let t = read_declarations(tc, pkgs);
            std::fs::create_dir_all(tool_dir(tc)).unwrap();
            let partial = cached.with_extension(format!("partial.{}", std::process::id()));
            std::fs::write(&partial, &t).unwrap();
            std::fs::rename(&partial, &cached).unwrap();
            t
        }
    };
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                Declared {
                    results: f[1].parse().ok(),
                    flags: f[2].to_string(),
                },
            )
        })
        .collect()
}

/// Runs integration/resultcount on `pkgs` with `tc`.
fn read_declarations(tc: &Toolchain, pkgs: &[&str]) -> String {
    // Built by the same toolchain: its go/parser reads its GOROOT.
    let reader = build(tc, "resultcount", "goroot", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = go_env(Command::new(&reader).arg("-go").arg(&tc.go))
        .args(pkgs)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: resultcount: {}",
        tc.version,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What comparing one binary with its source found.
#[derive(Debug, Default)]
struct Compared {
    /// Functions of the binary whose declaration the source gives.
    compared: usize,
    /// Of those, how many gotel marks as having an unknown signature
    /// (assembly, or no parameter listed in a frame of some size).
    unknown_signature: usize,
    /// How many as having unknown results (range-over-func loops).
    unknown_results: usize,
    /// Marked unknown although the source declares no result: DWARF's
    /// empty list was right, which gotel could not tell.
    unknown_needlessly: usize,
    /// Functions with other names (closures, wrappers, promoted methods).
    not_in_source: usize,
    /// Generic functions compared (every shape instantiation).
    generic: usize,
    /// Result counts that differ with no mark: what must never happen.
    silent: Vec<String>,
}

fn compare(bin: &BinaryInfo, src: &HashMap<String, Declared>) -> Compared {
    let mut c = Compared::default();
    for f in &bin.dwarf.functions {
        let Some(d) = src.get(&without_type_args(&f.name)) else {
            c.not_in_source += 1;
            continue;
        };
        // Declared twice, with different counts: nothing to compare with.
        let Some(want) = d.results else {
            c.not_in_source += 1;
            continue;
        };
        c.compared += 1;
        c.generic += usize::from(d.flags.contains('g'));
        let got = f.results().count();
        if let Some(u) = &f.incomplete {
            match u.arguments() {
                true => c.unknown_signature += 1,
                false => c.unknown_results += 1,
            }
        }
        match (&f.incomplete, got == want) {
            (Some(_), true) => c.unknown_needlessly += 1,
            (Some(_), false) => {}
            (None, true) => {}
            (None, false) => c.silent.push(format!(
                "{}: gotel shows {got} result(s), the source declares {want} [{}]: {}",
                f.name,
                d.flags,
                signature(bin, f)
            )),
        }
    }
    c
}

/// Every function of `cmd/go` (and of the standard library it links) shows
/// the number of results its source declares, or is marked as having
/// results gotel cannot know: never a silent `{}`.
#[test]
fn every_function_of_cmd_go_shows_its_declared_results_or_says_they_are_unknown() {
    for tc in toolchains() {
        let path = tool(&tc, "go");
        let bin = BinaryInfo::open(&path).unwrap();
        let src = declared(&tc, &["cmd/go"]);
        let c = compare(&bin, &src);
        eprintln!(
            "{}: {} functions; {} compared ({} generic), {} not named in source; marked unknown: {} signatures, {} results ({} of all these return nothing); {} silent mismatches",
            tc.version,
            bin.dwarf.functions.len(),
            c.compared,
            c.generic,
            c.not_in_source,
            c.unknown_signature,
            c.unknown_results,
            c.unknown_needlessly,
            c.silent.len()
        );
        assert!(
            c.silent.is_empty(),
            "{}: {} function(s) whose results gotel shows wrongly:\n{}",
            tc.version,
            c.silent.len(),
            c.silent.join("\n")
        );
        // The comparison covers most of the binary, so it proves something.
        assert!(c.compared > 7000, "{}: {c:?}", tc.version);
        assert!(c.compared > 2 * c.not_in_source, "{}: {c:?}", tc.version);
        // Assembly: signature unknown, never "takes and returns nothing".
        let f = bin.lookup("internal/bytealg.IndexByteString").unwrap();
        assert!(f.incomplete.as_ref().is_some_and(|u| u.arguments()));
        assert_eq!(signature(&bin, f), "internal/bytealg.IndexByteString(?) ?");
        // Unnamed results of an out-of-line copy of an inlinable function.
        let f = bin.lookup("strings.(*Builder).String").unwrap();
        assert!(f.inlined_sites > 0, "{}", tc.version);
        assert_eq!(
            signature(&bin, f),
            "strings.(*Builder).String(b *strings.Builder) string"
        );
    }
}

/// What `gotel functions` prints for functions whose DWARF is short.
#[test]
fn gotel_functions_says_which_signatures_are_unknown() {
    let tc = newest_toolchain();
    let path = tool(&tc, "go");
    let o = check(
        &path,
        "probes:\n  - function: runtime.futex\n    target: { exe: go }\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let why = "an assembly function, whose parameters DWARF does not list";
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines[0], "  function: runtime.futex(?) ?");
    assert_eq!(
        lines[2..],
        [
            format!(
                "  arg (all)            ?                    -              unavailable: {why}"
            ),
            format!(
                "  ret (all)            ?                    -              unavailable: {why}"
            ),
            format!("  warning: arguments and results unknown: {why}"),
        ],
        "{out}"
    );
    let o = gotel(&[
        "functions",
        path.to_str().unwrap(),
        "internal/bytealg.IndexByteString",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "internal/bytealg.IndexByteString(?) ?  // arguments and results unknown: an assembly function, whose parameters DWARF does not list\n"
    );
    // Go ≥ 1.23: a function with range-over-func loops and no result listed.
    let bin = BinaryInfo::open(&path).unwrap();
    let Some(f) = bin
        .dwarf
        .functions
        .iter()
        .find(|f| f.incomplete.as_ref().is_some_and(|u| !u.arguments()))
    else {
        assert!(tc.version.as_str() < "go1.23", "{}", tc.version);
        return;
    };
    let o = gotel(&["functions", path.to_str().unwrap(), &f.name]);
    assert!(o.status.success(), "{}", text(&o));
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let want = format!(
        "{}  // results unknown: it has range-over-func loops, and Go's compiler leaves the unnamed results of such functions out of DWARF: it may return nothing, or values DWARF does not list",
        signature(&bin, f)
    );
    assert_eq!(first, want);
    assert!(signature(&bin, f).ends_with(") ?"), "{first}");
}

/// Runs `gofmt` (reading its input from stdin, so that it waits while
/// gotel attaches) under `probes` (YAML list items without the target),
/// feeds it `input`, and returns gofmt's output and gotel's calls.
fn gofmt_traced(tc: &Toolchain, probes: &[&str], input: &str) -> (String, Vec<serde_json::Value>) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let gofmt = tool(tc, "gofmt");
    let mut child = Command::new(&gofmt)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let config: String = probes
        .iter()
        .map(|p| format!("  - {p}\n    target: {{ pid: {pid} }}\n"))
        .collect();
    let gotel = Gotel::run(&format!("probes:\n{config}"), probes.len());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (calls, _) = gotel.stop();
    (out, calls)
}

/// The calls of `function` among `calls`, as (argument, result) pairs:
/// the one argument's value and `r0`, the only result.
fn pairs(
    calls: &[serde_json::Value],
    function: &str,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    calls
        .iter()
        .filter(|c| c["function"] == function)
        .map(|c| {
            let args = c["args"].as_object().unwrap();
            let rets = c["returns"].as_object().unwrap();
            assert_eq!((args.len(), rets.len()), (1, 1), "{c}");
            (args.values().next().unwrap().clone(), rets["r0"].clone())
        })
        .collect()
}

/// gofmt formatting a file: the go/ast position methods printer calls
/// through the ast.Node interface, also inlined where called on a
/// concrete node, return an unnamed token.Pos: each call's result is where
/// its identifier or literal is in the input (offset + 1, the file's base).
#[test]
fn gofmt_positions_of_idents_and_literals_come_back_exact() {
    let input = "package p\n\nfunc  f( x int ) string { return  g(07, \"a\\tb\") }\n";
    for tc in toolchains() {
        // The assembly system call every read and write goes through
        // (runtime/internal/syscall.Syscall6, later in
        // internal/runtime/syscall/linux).
        let bin = BinaryInfo::open(&tool(&tc, "gofmt")).unwrap();
        let syscall = bin
            .dwarf
            .functions
            .iter()
            .find(|f| {
                f.name.contains("syscall")
                    && f.name.ends_with(".Syscall6")
                    && f.incomplete.is_some()
            })
            .map(|f| format!("function: {}", f.name))
            .unwrap_or_else(|| panic!("{}: no assembly Syscall6", tc.version));
        // The copies' calls (with results): not their inlined sites.
        let probes = [
            "function: go/ast.(*Ident).Pos\n    args: [x.Name]\n    inlined: false",
            "function: go/ast.(*Ident).End\n    args: [x.Name]\n    inlined: false",
            "function: go/ast.(*BasicLit).Pos\n    args: [x.Value]\n    inlined: false",
            "function: go/ast.(*BasicLit).End\n    args: [x.Value]\n    inlined: false",
            &syscall,
        ];
        let (out, calls) = gofmt_traced(&tc, &probes, input);
        // Its arguments and results are unknown, and say so.
        let syscalls: Vec<_> = calls
            .iter()
            .filter(|c| syscall.ends_with(c["function"].as_str().unwrap()))
            .collect();
        assert!(!syscalls.is_empty(), "{}", tc.version);
        let why =
            json!({"unavailable": "an assembly function, whose parameters DWARF does not list"});
        for c in syscalls {
            assert_eq!((&c["args"], &c["returns"]), (&why, &why), "{}", tc.version);
        }
        assert_eq!(
            out, "package p\n\nfunc f(x int) string { return g(07, \"a\\tb\") }\n",
            "{}",
            tc.version
        );
        let at = |token: &str| -> i64 {
            let quoted = format!(" {token}");
            let i = input
                .find(&quoted)
                .unwrap_or_else(|| input.find(&format!("({token}")).unwrap());
            i as i64 + 2
        };
        for (function, key) in [
            ("go/ast.(*Ident).Pos", "x.Name"),
            ("go/ast.(*Ident).End", "x.Name"),
            ("go/ast.(*BasicLit).Pos", "x.Value"),
            ("go/ast.(*BasicLit).End", "x.Value"),
        ] {
            let got = pairs(&calls, function);
            for (arg, r0) in &got {
                let token = arg
                    .as_str()
                    .unwrap_or_else(|| panic!("{function}: {key} {arg}"));
                let end = function.ends_with(".End") as i64 * token.len() as i64;
                assert_eq!(
                    r0.as_i64(),
                    Some(at(token) + end),
                    "{}: {function}({key}={arg}) returned {r0}",
                    tc.version
                );
            }
            let mut seen: Vec<&str> = got.iter().map(|(a, _)| a.as_str().unwrap()).collect();
            seen.sort();
            seen.dedup();
            let want: &[&str] = match function {
                "go/ast.(*Ident).Pos" => &["f", "g", "int", "p", "string", "x"],
                "go/ast.(*Ident).End" => &["int", "x"],
                "go/ast.(*BasicLit).Pos" => &["\"a\\tb\"", "07"],
                _ => &["\"a\\tb\""],
            };
            assert_eq!(seen, want, "{}: {function}", tc.version);
        }
    }
}

/// gofmt on a syntax error: the scanner's tokens and the error's text,
/// through methods with unnamed results (identifiers and literals as
/// scanned, the position and message as Error() builds them).
#[test]
fn gofmt_tokens_and_syntax_error_come_back_exact() {
    let input = "package p\n\nfunc f(x int) string { return 07 + \"a\\tb\" }\nfunc (\n";
    for tc in toolchains() {
        let probes = [
            "function: go/scanner.(*Scanner).scanIdentifier\n    args: [s.offset]",
            "function: go/scanner.(*Scanner).scanNumber\n    args: [s.offset]",
            "function: go/scanner.(*Scanner).scanString\n    args: [s.offset]",
            "function: go/token.Position.String",
            "function: go/scanner.Error.Error",
        ];
        let (out, calls) = gofmt_traced(&tc, &probes, input);
        assert_eq!(out, "", "{}", tc.version);
        let idents: Vec<(i64, String)> = calls
            .iter()
            .filter(|c| c["function"] == "go/scanner.(*Scanner).scanIdentifier")
            .map(|c| {
                assert_eq!(c["returns"].as_object().unwrap().len(), 1, "{c}");
                (
                    c["args"]["s.offset"].as_i64().unwrap(),
                    c["returns"]["r0"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(i64, String)> = [
            (0, "package"),
            (8, "p"),
            (11, "func"),
            (16, "f"),
            (18, "x"),
            (20, "int"),
            (25, "string"),
            (34, "return"),
            (55, "func"),
        ]
        .iter()
        .map(|(o, t)| (*o, t.to_string()))
        .collect();
        assert_eq!(idents, want, "{}", tc.version);
        let one = |function: &str| -> Vec<&serde_json::Value> {
            calls.iter().filter(|c| c["function"] == function).collect()
        };
        let numbers = one("go/scanner.(*Scanner).scanNumber");
        assert_eq!(numbers.len(), 1, "{}: {numbers:?}", tc.version);
        assert_eq!(numbers[0]["args"], json!({"s.offset": 41}));
        // (token.INT, "07"): two unnamed results.
        assert_eq!(numbers[0]["returns"], json!({"r0": 5, "r1": "07"}));
        let strings = one("go/scanner.(*Scanner).scanString");
        assert_eq!(strings.len(), 1, "{}: {strings:?}", tc.version);
        assert_eq!(strings[0]["args"], json!({"s.offset": 47}));
        assert_eq!(strings[0]["returns"], json!({"r0": "\"a\\tb\""}));
        let pos = json!({"Filename": "<standard input>", "Offset": 62, "Line": 4, "Column": 8});
        let positions = one("go/token.Position.String");
        assert!(!positions.is_empty(), "{}", tc.version);
        for c in positions {
            assert_eq!(c["args"], json!({ "pos": pos }), "{}", tc.version);
            assert_eq!(c["returns"], json!({"r0": "<standard input>:4:8"}));
        }
        let errors = one("go/scanner.Error.Error");
        assert!(!errors.is_empty(), "{}", tc.version);
        for c in errors {
            assert_eq!(
                c["args"],
                json!({"e": {"Pos": pos, "Msg": "expected ')', found 'EOF'"}}),
                "{}",
                tc.version
            );
            assert_eq!(
                c["returns"],
                json!({"r0": "<standard input>:4:8: expected ')', found 'EOF'"})
            );
        }
    }
}
