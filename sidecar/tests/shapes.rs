//! End-to-end over the function shapes and dynamic values of issue #3:
//! generics (every instantiation), closures, defer, variadic and promoted
//! methods, standard-library functions, errors of the common concrete
//! types, and interfaces holding values of many types. Every toolchain.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn config(pid: u32) -> String {
    let mut c = String::from("probes:\n");
    for f in [
        "Max",
        "(*Stack).Push",
        "main.round.func1",
        "withDefer",
        "sum",
        "(*Base).Describe",
        "strconv.ParseInt",
        "os.OpenFile",
        "show",
        "main.check",
        "walk",
        "bump",
        "cplx",
        "main.items",
        "Wide.Sum",
        "ident",
        "outer",
        "leaf",
        "main.maps",
        "bigMaps",
        "main.query",
        "blanks",
    ] {
        c.push_str(&format!(
            "  - function: \"{f}\"\n    target: {{ pid: {pid} }}\n"
        ));
    }
    c.push_str(&format!(
        "  - function: walk\n    name: walk1\n    pointer_depth: 1\n    target: {{ pid: {pid} }}\n"
    ));
    c
}

fn calls_of<'a>(calls: &'a [Value], probe: &str, v: &str) -> Vec<&'a Value> {
    let c = of(calls, probe);
    assert!(!c.is_empty(), "{v}: no calls of {probe}");
    c
}

/// Runs `bin` (the shapes program) for `rounds` rounds under a gotel with
/// one probe, on `function`: its calls and gotel's log.
fn probe_alone(bin: &std::path::Path, function: &str, rounds: usize) -> (Vec<Value>, Vec<String>) {
    let mut target = Target::start(bin, &[], "ready");
    let pid = target.pid();
    let gotel = Gotel::run(
        &format!("probes:\n  - function: {function}\n    target: {{ pid: {pid} }}\n"),
        1,
    );
    for i in 1..=rounds {
        target.round(i);
    }
    gotel.stop()
}

#[test]
fn shapes_and_dynamic_values() {
    let mut big_entries_seen = 0;
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shapes", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        // Max has three instantiations: 25 attachments for 23 probes.
        let gotel = Gotel::run(&config(target.pid()), 25);
        target.round(1);
        std::thread::sleep(Duration::from_millis(300));
        let (calls, logs) = gotel.stop();
        // Reads that may fault by design (guesses at dynamic values, a
        // small map read as a large one) are not counted as faults.
        let stopped = stopped_record(&logs);
        assert_eq!(stopped["read_faults"], 0, "{v}: {stopped}");
        assert_eq!(stopped["type_recipes_failed"], 0, "{v}: {stopped}");

        // A generic function written without type arguments attaches to
        // each shape instantiation, and says which one ran.
        let max = calls_of(&calls, "Max", v);
        let mut seen: Vec<(String, Value, Value)> = max
            .iter()
            .map(|c| {
                let f = c["function"].as_str().unwrap().to_string();
                (f, c["args"].clone(), c["returns"].clone())
            })
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let shape = |t: &str| {
            if v.contains("1.19") || v.contains("1.20") {
                format!("main.Max[go.shape.{t}_0]")
            } else {
                format!("main.Max[go.shape.{t}]")
            }
        };
        let mut want = vec![
            (shape("int"), json!({"a": 3, "b": 7}), json!({"r0": 7})),
            (shape("int64"), json!({"a": -5, "b": -9}), json!({"r0": -5})),
            (
                shape("string"),
                json!({"a": "apple", "b": "pear"}),
                json!({"r0": "pear"}),
            ),
        ];
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen, want, "{v}");
        // A method of a generic type: the dictionary sits after the
        // receiver in recent Go, before it in 1.19; both read right.
        // The third call goes through an interface and the instantiated
        // wrapper: still one record per call.
        let push = calls_of(&calls, "(*Stack).Push", v);
        assert_eq!(push.len(), 3, "{v}");
        assert_eq!(
            push[0]["args"],
            json!({"s": {"items": []}, "v": "x"}),
            "{v}"
        );
        assert_eq!(
            push[1]["args"],
            json!({"s": {"items": ["x"]}, "v": "y"}),
            "{v}"
        );
        assert_eq!(push[1]["returns"], json!({"r0": 2}), "{v}");

        // A receiver that fills every register pushes the dictionary to
        // the stack, and the arguments after it.
        let wide = calls_of(&calls, "Wide.Sum", v);
        assert_eq!(wide[0]["args"]["x"], 10, "{v}: {}", wide[0]);
        assert_eq!(wide[0]["args"]["y"], 20, "{v}: {}", wide[0]);
        assert_eq!(wide[0]["args"]["w"]["I"], 9, "{v}: {}", wide[0]);
        assert_eq!(wide[0]["returns"], json!({"r0": 40}), "{v}");

        // A lone-RET body: each call once, with its own argument and result.
        let ident: Vec<_> = calls_of(&calls, "ident", v)
            .iter()
            .map(|c| {
                (
                    c["args"].clone(),
                    c["returns"].clone(),
                    c["duration_ns"].clone(),
                )
            })
            .collect();
        assert_eq!(
            ident,
            vec![
                (json!({"x": 5}), json!({"r0": 5}), json!(0)),
                (json!({"x": 6}), json!({"r0": 6}), json!(0)),
            ],
            "{v}"
        );

        // outer(1) panics and an unprobed caller recovers: no return is
        // seen, yet the next outer at that frame proves it gone. It is
        // reported as panicked, and outer(0) is a new call with its own
        // span, parent of its own leaf.
        let outer = calls_of(&calls, "outer", v);
        assert_eq!(outer.len(), 2, "{v}: {outer:?}");
        let (o1, o0) = (outer[0], outer[1]);
        assert_eq!(
            (&o1["args"], &o1["panicked"]),
            (&json!({"n": 1}), &json!(true)),
            "{v}"
        );
        assert_eq!(o0["args"], json!({"n": 0}), "{v}");
        assert_eq!(o0["returns"], json!({"r0": 0}), "{v}");
        assert_ne!(o0["span_id"], o1["span_id"], "{v}");
        assert_ne!(o0["trace_id"], o1["trace_id"], "{v}");
        let leaf = calls_of(&calls, "leaf", v);
        assert_eq!(leaf.len(), 2, "{v}");
        assert_eq!(leaf[0]["parent_span_id"], o1["span_id"], "{v}");
        assert_eq!(leaf[1]["parent_span_id"], o0["span_id"], "{v}");

        let closure = calls_of(&calls, "main.round.func1", v);
        assert_eq!(closure[0]["args"], json!({"x": 5}), "{v}");
        assert_eq!(closure[0]["returns"], json!({"r0": 105}), "{v}");
        // The result after the deferred closure rewrote it.
        let deferred = calls_of(&calls, "withDefer", v);
        assert_eq!(deferred[0]["args"], json!({"n": 4}), "{v}");
        assert_eq!(deferred[0]["returns"], json!({"r": 50}), "{v}");
        let variadic = calls_of(&calls, "sum", v);
        assert_eq!(
            variadic[0]["args"],
            json!({"label": "ab", "xs": [1, 2, 3]}),
            "{v}"
        );
        assert_eq!(variadic[0]["returns"], json!({"r0": 8}), "{v}");
        // Called through the embedding Derived.
        let promoted = calls_of(&calls, "(*Base).Describe", v);
        assert_eq!(
            promoted[0]["args"],
            json!({"b": {"ID": 7}, "prefix": "id="}),
            "{v}"
        );
        assert_eq!(promoted[0]["returns"], json!({"r0": "id=7"}), "{v}");

        // Standard library, and the messages of its error types.
        let parse = calls_of(&calls, "strconv.ParseInt", v);
        let mine: Vec<_> = parse
            .iter()
            .filter(|c| c["args"]["base"] == 10 && c["args"]["bitSize"] == 64)
            .collect();
        assert_eq!(mine.len(), 2, "{v}: {parse:?}");
        assert_eq!(mine[0]["args"]["s"], "123");
        assert_eq!(mine[0]["returns"], json!({"i": 123, "err": null}), "{v}");
        assert_eq!(mine[1]["args"]["s"], "x\ty");
        assert_eq!(
            mine[1]["returns"],
            json!({"i": 0, "err": "strconv.ParseInt: parsing \"x\\ty\": invalid syntax"}),
            "{v}"
        );
        let open = calls_of(&calls, "os.OpenFile", v);
        let open: Vec<_> = open
            .iter()
            .filter(|c| c["args"]["name"] == "/nonexistent/gotel")
            .collect();
        assert_eq!(open.len(), 1, "{v}");
        assert_eq!(
            open[0]["returns"],
            json!({"r0": null, "r1": "open /nonexistent/gotel: no such file or directory"}),
            "{v}"
        );

        // Pointers are followed pointer_depth (default 3) levels; the
        // last one shows its address; nil is null.
        let walk = calls_of(&calls, "walk", v);
        assert_eq!(walk.len(), 2, "{v}");
        let n = &walk[0]["args"]["n"];
        assert_eq!(n["Val"], 1, "{v}: {n}");
        assert_eq!(n["Next"]["Val"], 2, "{v}: {n}");
        assert_eq!(n["Next"]["Next"]["Val"], 3, "{v}: {n}");
        let last = n["Next"]["Next"]["Next"].as_str().unwrap_or_default();
        assert!(last.starts_with("0x"), "{v}: {n}");
        assert_eq!(walk[0]["returns"], json!({"r0": 10}), "{v}");
        assert_eq!(
            walk[1]["args"],
            json!({"n": {"Val": 5, "Next": null}}),
            "{v}"
        );
        let walk1 = calls_of(&calls, "walk1", v);
        assert_eq!(walk1[0]["args"]["n"]["Val"], 1, "{v}");
        assert!(walk1[0]["args"]["n"]["Next"]
            .as_str()
            .unwrap()
            .starts_with("0x"));
        let bump = calls_of(&calls, "bump", v);
        assert_eq!(bump[0]["args"], json!({"p": 41}), "{v}");
        assert_eq!(bump[0]["returns"], json!({"r0": 42}), "{v}");

        // Slices whose elements need reads of their own: structs with
        // strings, pointers to structs, errors.
        let it = calls_of(&calls, "main.items", v);
        assert_eq!(
            it[0]["args"],
            json!({
                "xs": [
                    {"Name": "a", "Qty": 1, "Tags": ["x"]},
                    {"Name": "b", "Qty": 2, "Tags": []},
                ],
                "ps": [{"X": 1, "Y": 2}, null],
                // An element's dynamic value by its type's recipe too.
                "es": ["e1", null, {"type": "*main.OpErr", "value": {
                    "Op": "sync", "Path": "/var/x", "Code": 7,
                    "Detail": "retry later", "Err": "disk full"}}],
            }),
            "{v}"
        );

        // Small maps with their entries (swiss groups since Go 1.24,
        // buckets before); a nil map; a large one by count.
        let m = calls_of(&calls, "main.maps", v);
        assert_eq!(
            m[0]["args"],
            json!({
                "m": {"len": 3, "entries": {"a": 1, "b": 2, "c": 3}},
                "im": {"len": 1, "entries": [[7, "seven"]]},
            }),
            "{v}"
        );
        // A larger map: the entries of its first group (first table of
        // the directory) or bucket 0, whichever the hash put there.
        let m = calls_of(&calls, "bigMaps", v);
        assert_eq!(m[0]["args"]["nm"], Value::Null, "{v}");
        let big = &m[0]["args"]["big"];
        assert_eq!(
            (&big["len"], &big["truncated"]),
            (&json!(20), &json!(true)),
            "{v}: {big}"
        );
        let entries = big["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}: {big}"));
        assert!(entries.len() <= 8, "{v}: {big}");
        let mut keys = Vec::new();
        for e in entries {
            let (k, val) = (e[0].as_u64().unwrap(), e[1].as_u64().unwrap());
            assert!(k < 20 && val == k * k, "{v}: {big}");
            keys.push(k);
        }
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), entries.len(), "{v}: {big}");
        big_entries_seen += entries.len();

        // url.Values: a map whose values are []string, every key with its
        // values (a []string in a map slot or a slice element).
        // Blank fields are not shown (several would repeat the key "_"),
        // and the fields after them are read from their own places: the
        // stack for Blank, the register after the blank one's for Pad.
        let b = calls_of(&calls, "blanks", v);
        assert_eq!(
            b[0]["args"],
            json!({"b": {"A": 1, "B": 2, "C": 3}, "q": {"A": 4, "B": 5}}),
            "{v}"
        );
        assert_eq!(b[0]["returns"], json!({"r0": 15}), "{v}");

        let q = calls_of(&calls, "main.query", v);
        assert_eq!(
            q[0]["args"],
            json!({"v": {"len": 3, "entries": {
                "q": ["go tracing"], "tag": ["ebpf", "go"], "empty": [""]}}}),
            "{v}"
        );
        assert_eq!(q[0]["returns"], json!({"r0": 3}), "{v}");

        // Complex numbers in memory; in XMM registers unavailable.
        let c = calls_of(&calls, "cplx", v);
        assert_eq!(
            c[0]["args"]["p"],
            json!({"C": {"real": 1.5, "imag": -2.0}, "F": {"real": 0.25, "imag": 4.0}}),
            "{v}"
        );
        assert_eq!(
            c[0]["args"]["cs"],
            json!([{"real": 1.0, "imag": 2.0}]),
            "{v}"
        );
        let why = c[0]["args"]["r"]["unavailable"]
            .as_str()
            .unwrap_or_default();
        assert!(why.contains("XMM"), "{v}: {}", c[0]);

        // Interfaces: the dynamic type and its value.
        let shown: Vec<Value> = calls_of(&calls, "show", v)
            .iter()
            .map(|c| c["args"]["v"].clone())
            .collect();
        assert_eq!(
            shown,
            vec![
                json!({"type": "int", "value": 42}),
                json!({"type": "string", "value": "str"}),
                json!({"type": "bool", "value": true}),
                json!({"type": "float64", "value": 2.5}),
                json!({"type": "int8", "value": -3}),
                json!({"type": "main.Celsius", "value": 21}),
                json!({"type": "*main.Point", "value": {"X": 1, "Y": -2}}),
                json!({"type": "main.Point", "value": {"X": 3, "Y": 4}}),
                json!({"type": "main.Tagged", "value": {"Name": "t", "Score": 0.5, "OK": true}}),
                json!({"type": "*main.Point", "value": null}),
                Value::Null,
            ],
            "{v}"
        );
        let errs: Vec<Value> = calls_of(&calls, "main.check", v)
            .iter()
            .map(|c| c["args"]["e"].clone())
            .collect();
        assert_eq!(
            errs,
            vec![
                Value::Null,
                json!("plain"),
                json!("ctx: inner"),
                json!("strconv.Atoi: parsing \"12a\": invalid syntax"),
                json!({"type": "*main.MyErr", "value": {"Code": 404, "Msg": "not found"}}),
                // Three levels: *net.OpError → *net.TCPAddr and
                // *os.SyscallError → syscall.Errno, each by its own recipe.
                json!("dial tcp 127.0.0.1:1: connect: connection refused"),
                json!("address 1.2.3.4: missing port in address"),
                json!("parse \":foo\": missing protocol scheme"),
                // Fields past the first 32 bytes, and the error inside.
                json!({"type": "*main.OpErr", "value": {
                    "Op": "sync", "Path": "/var/x", "Code": 7,
                    "Detail": "retry later", "Err": "disk full"}}),
                // A dynamic value without a recipe (a map) before one with.
                json!({"type": "*main.Multi", "value": {
                    "First": {"type": "map[string]int", "unavailable":
                        "map[string]int is stored in the interface word itself; not decoded"},
                    "Second": {"type": "*main.OpErr", "value": {
                        "Op": "stat", "Path": "/y", "Code": 2, "Detail": "", "Err": "gone"}}}}),
            ],
            "{v}"
        );
    }
    // Each toolchain's first group is empty with probability (3/4)^20.
    assert!(big_entries_seen > 0);
}

/// A dynamic type gotel has not planned for (a plain struct in `any`) is
/// learned from its first value: from the next one on, every field shows,
/// strings, slices, a []string, a struct of strings and the error inside
/// included, at any offset: 13 captures, more than the 12 a type recipe
/// held before.
#[test]
fn dynamic_types_are_learned_on_first_sight() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shapes", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let pid = target.pid();
        let gotel = Gotel::run(
            &format!("probes:\n  - function: inspect\n    target: {{ pid: {pid} }}\n"),
            1,
        );
        target.round(1);
        // One drain: the type is planned and installed.
        std::thread::sleep(Duration::from_millis(500));
        target.round(2);
        std::thread::sleep(Duration::from_millis(300));
        let (calls, _) = gotel.stop();
        let seen = calls_of(&calls, "inspect", v);
        assert_eq!(seen.len(), 2, "{v}");
        assert_eq!(
            seen[0]["args"]["v"]["type"], "main.Record",
            "{v}: {}",
            seen[0]
        );
        assert_eq!(
            seen[1]["args"]["v"],
            json!({"type": "main.Record", "value": {
                "ID": 9, "Name": "rec", "Tags": ["a", "b"], "Raw": "raw",
                "Cause": "why", "Note": "last", "Labels": ["x", "y"],
                "Origin": {"Host": "h", "Path": "/p", "Query": "q=1", "Fragment": "f"}}}),
            "{v}"
        );
    }
}

/// A function inlined at one call site and called out of line at another
/// (through a func value) returns its unnamed result: the out-of-line
/// copy's own DWARF lists `~r0`, its abstract origin does not.
#[test]
fn a_function_also_inlined_elsewhere_shows_its_result() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shapes", "e2e", &[]);
        let sig = check(
            &bin,
            "probes:\n  - function: twice\n    target: { exe: shapes }\n",
        );
        let text = String::from_utf8_lossy(&sig.stdout);
        assert!(text.contains("main.twice(x int) int"), "{v}: {text}");
        assert!(text.contains("ret r0"), "{v}: {text}");
        let (calls, _) = probe_alone(&bin, "twice", 1);
        let (inlined, seen): (Vec<&Value>, Vec<&Value>) = calls_of(&calls, "twice", v)
            .into_iter()
            .partition(|c| c.get("inlined").is_some());
        // The direct call is inlined (seen at its start, entry only);
        // apply's is the copy's.
        assert_eq!(seen.len(), 1, "{v}: {seen:?}");
        assert_eq!(seen[0]["args"], json!({"x": 21}), "{v}");
        assert_eq!(seen[0]["returns"], json!({"r0": 42}), "{v}");
        // Each inlined site `gotel check` lists (none where the compiler
        // folded the call away, as Go 1.19 does) sees its one call.
        let sites = text.matches("inlined site: main.twice inlined in").count();
        assert_eq!(inlined.len(), sites, "{v}: {inlined:?}");
        for c in inlined {
            assert_eq!(c["returns"], json!({}), "{v}");
        }
    }
}

/// A result struct too large for the return site is trimmed, and the error
/// after it still shows: results are never crowded out by a big struct.
#[test]
fn a_large_result_struct_gives_way_to_the_error_after_it() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shapes", "e2e", &[]);
        let (calls, _) = probe_alone(&bin, "crowded", 1);
        let seen = calls_of(&calls, "crowded", v);
        assert_eq!(seen.len(), 1, "{v}");
        let r = &seen[0]["returns"];
        assert_eq!(r["r1"], "crowded 3", "{v}: {r}");
        // 32 ops: 30 fields, the error's type word and message.
        assert_eq!(
            (&r["r0"]["F0"], &r["r0"]["F28"], &r["r0"]["F29"]),
            (&json!(3), &json!(0), &json!(32)),
            "{v}: {r}"
        );
        assert!(r["r0"]["F30"]["unavailable"].is_string(), "{v}: {r}");
        assert!(r["r0"]["F39"]["unavailable"].is_string(), "{v}: {r}");
    }
}

/// A call unwound by a panic that an unprobed caller recovers, followed by
/// the next call of the same function at the same frame with no other
/// probed call in between, is two calls (the first panicked), not one
/// prologue restarted by `runtime.morestack`: gotel's own probe on
/// `runtime.gopanic` saw the panic in between.
#[test]
fn a_recovered_panic_is_not_taken_for_a_stack_growth_restart() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shapes", "e2e", &[]);
        let (calls, logs) = probe_alone(&bin, "outer", 2);
        let outer = calls_of(&calls, "outer", v);
        let shown: Vec<(&Value, &Value)> = outer
            .iter()
            .map(|c| (&c["args"]["n"], &c["panicked"]))
            .collect();
        assert_eq!(
            shown,
            [
                (&json!(1), &json!(true)),
                (&json!(0), &Value::Null),
                (&json!(1), &json!(true)),
                (&json!(0), &Value::Null)
            ],
            "{v}: {outer:?}"
        );
        // (A genuine restart may still happen: the goroutine's stack can
        // grow at the first call; it is counted, and changes no call.)
        let stopped = stopped_record(&logs);
        assert_eq!(stopped["panicked"], 2, "{v}: {stopped}");
    }
}

/// An inlined standard-library function is probed at its inlined sites
/// (it has no out-of-line copy), and the other probes still attach.
#[test]
fn inlined_stdlib_function_is_named_as_such() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "shapes", "e2e", &[]);
    let out = check(
        &bin,
        "probes:\n  - function: net/url.ParseQuery\n    target: { exe: shapes }\n  - function: withDefer\n    target: { exe: shapes }\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("inlined site: net/url.ParseQuery inlined in "),
        "{text}"
    );
    assert!(text.contains("main.withDefer(n int) (r int)"), "{text}");
}
