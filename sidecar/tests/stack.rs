//! Caller stacks (`stack:`): real uprobes on `integration/stack` (round →
//! a → b → c), the exact callers of every call, truncation at the depth,
//! binaries without DWARF (`.gopclntab`), on every toolchain.

mod common;

use std::time::Duration;

use common::*;
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
