//! Caller stacks (`stack:`): real uprobes on `integration/stack` (round →
//! a → b → c), the exact callers of every call, truncation at the depth,
//! binaries without DWARF (`.gopclntab`) and PIE, on every toolchain.

mod common;
#[path = "common/otlp.rs"]
#[allow(dead_code)]
mod otlp;

use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use otlp::*;
use serde_json::Value;

/// The callers' names of a JSONL call.
fn names(c: &Value) -> Vec<&str> {
    c["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("no stack: {c}"))
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

#[test]
fn callers_in_order_up_to_the_depth() {
    for tc in toolchains() {
        let v = &tc.version;
        for (tag, flags) in [
            ("stack", &[][..]),
            ("stack-stripped", &["-ldflags=-s -w"][..]),
            ("stack-pie", &["-buildmode=pie"][..]),
        ] {
            let bin = build(&tc, "stack", tag, flags);
            let mut target = Target::start(&bin, &[], "ready");
            let pid = target.pid();
            let gotel = Gotel::run(
                &format!(
                    "probes:
  - function: main.c
    name: full
    target: {{ pid: {pid} }}
    stack: 8
  - function: main.c
    name: two
    target: {{ pid: {pid} }}
    stack: 2
  - function: main.b
    name: none
    target: {{ pid: {pid} }}
"
                ),
                3,
            );
            target.round(1);
            target.round(2);
            target.round(3);
            std::thread::sleep(Duration::from_millis(300));
            let (calls, _) = gotel.stop();
            let full = of(&calls, "full");
            assert_eq!(full.len(), 3, "{v} {tag}");
            for c in &full {
                // Every caller to the goroutine's first frame: not cut.
                assert_eq!(
                    names(c),
                    [
                        "main.b",
                        "main.a",
                        "main.round",
                        "main.main",
                        "runtime.main",
                        "runtime.goexit"
                    ],
                    "{v} {tag}: {c}"
                );
                assert_eq!(c.get("stack_truncated"), None, "{v} {tag}");
                // One call path, one id.
                assert_eq!(c["stack_id"], full[0]["stack_id"], "{v} {tag}");
                assert_eq!(c["stack_id"].as_str().unwrap().len(), 16);
            }
            let two = of(&calls, "two");
            assert_eq!(two.len(), 3, "{v} {tag}");
            for c in &two {
                assert_eq!(names(c), ["main.b", "main.a"], "{v} {tag}: {c}");
                assert_eq!(c["stack_truncated"], true, "{v} {tag}");
                assert_ne!(c["stack_id"], full[0]["stack_id"], "{v} {tag}");
            }
            // A probe without `stack:` has none.
            let none = of(&calls, "none");
            assert_eq!(none.len(), 3, "{v} {tag}");
            assert!(none.iter().all(|c| c.get("stack").is_none()), "{v} {tag}");
        }
    }
}

/// OTLP to a real receiver: every log record and span carries the call
/// path's `gotel.stack.id`; each request spells the frames out once (with
/// their source lines), as the first record's `code.stacktrace` and its
/// span's `gotel.stack` event. On every toolchain: the lines come from
/// `.gopclntab`, whose layout is Go's.
#[test]
fn otlp_sends_each_stack_once_per_request_and_its_id_on_every_call() {
    for tc in toolchains() {
        otlp_stack(&tc);
    }
}

fn otlp_stack(tc: &Toolchain) {
    let v = &tc.version;
    let bin = build(tc, "stack", "stack-otlp", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let pid = target.pid();
    let rx = Receiver::grpc(listener());
    let gotel = Gotel::run(
        &format!(
            "probes:
  - function: main.c
    target: {{ pid: {pid} }}
    stack: 3
outputs: [otlp]
otlp:
  endpoint: http://{}
  protocol: grpc
  batch_timeout_ms: 500
",
            rx.addr
        ),
        1,
    );
    for n in 1..=4 {
        target.round(n);
    }
    rx.wait("4 logs and 4 spans", Duration::from_secs(20), |g| {
        g.logs().len() >= 4 && g.spans().len() >= 4
    });
    gotel.stop();
    let got = rx.got.lock().unwrap();
    let logs = got.logs();
    assert_eq!(logs.len(), 4, "{v}");
    let id = str_attr(&logs[0].1.attributes, "gotel.stack.id");
    assert_eq!(id.len(), 16);
    for (_, l) in &logs {
        assert_eq!(str_attr(&l.attributes, "gotel.stack.id"), id, "{v}");
        assert_eq!(
            attr(&l.attributes, "gotel.stack.truncated"),
            Some(&V::BoolValue(true))
        );
    }
    // Each frame: `function+0xoff (file:line)`, the line of its call.
    let frames = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let name = l.split('+').next().unwrap().to_string();
                let at = l.rsplit('/').next().unwrap().trim_end_matches(')');
                (name, at.to_string())
            })
            .collect()
    };
    let want: Vec<(String, String)> = [
        ("main.b", "main.go:22"),
        ("main.a", "main.go:25"),
        ("main.round", "main.go:28"),
        ("...", "..."),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    // One request per ResourceLogs here (one process): the frames once in
    // each, on its first record.
    assert!(!got.logs.is_empty());
    for rl in &got.logs {
        let records = &rl.scope_logs[0].log_records;
        let texts: Vec<String> = records
            .iter()
            .filter_map(|r| match attr(&r.attributes, "code.stacktrace") {
                Some(V::StringValue(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts.len(), 1, "{v}: {records:?}");
        assert_eq!(frames(&texts[0]), want, "{v}: {}", texts[0]);
        assert!(attr(&records[0].attributes, "code.stacktrace").is_some());
    }
    for rs in &got.spans {
        let spans = &rs.scope_spans[0].spans;
        let events: Vec<_> = spans.iter().flat_map(|s| &s.events).collect();
        assert_eq!(events.len(), 1, "{v}: {spans:?}");
        assert_eq!(events[0].name, "gotel.stack");
        assert_eq!(
            frames(&str_attr(&events[0].attributes, "code.stacktrace")),
            want
        );
        assert_eq!(str_attr(&events[0].attributes, "gotel.stack.id"), id);
        assert!(spans
            .iter()
            .all(|s| str_attr(&s.attributes, "gotel.stack.id") == id));
    }
}

/// `gotel check` says a probe captures its callers, and how many.
#[test]
fn check_shows_the_stack_depth() {
    let tc = newest_toolchain();
    for (tag, flags) in [
        ("stack-check", &[][..]),
        ("stack-check-stripped", &["-ldflags=-s -w"][..]),
    ] {
        let bin = build(&tc, "stack", tag, flags);
        let out = check(
            &bin,
            "probes:\n  - function: main.c\n    target: { exe: stack }\n    stack: 5\n  - function: main.b\n    target: { exe: stack }\n",
        );
        let text = text(&out);
        assert!(out.status.success(), "{text}");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("stack:")).collect();
        assert_eq!(
            lines,
            ["  stack: the 5 innermost callers, by frame pointers at the entry"],
            "{tag}: {text}"
        );
    }
}
