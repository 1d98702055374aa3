//! End-to-end on the kinds of executable users run: PIE (uprobe offsets
//! are file offsets; runtime type addresses move with the load bias),
//! stripped (calls and latency from `.gopclntab`), cgo and `-trimpath`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// PIE executables: uprobe offsets must be file offsets, not runtime
/// addresses. Also: SIGTERM drains and flushes before exit.
#[test]
fn pie_binary() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "pie", &["-buildmode=pie"]);
    let mut target = Target::start(&bin, &[], "ready");
    let pid = target.pid();
    let gotel = Gotel::run(
        &format!(
            "probes:\n  - function: main.greet\n    target: {{ pid: {pid} }}\n  - function: main.fail\n    target: {{ pid: {pid} }}\n"
        ),
        2,
    );
    target.round(1);
    // SIGTERM (what Kubernetes sends) flushes like SIGINT; no sleep needed.
    let (calls, _) = gotel.stop_with(libc::SIGTERM);
    let greet = of(&calls, "main.greet");
    assert_eq!(greet.len(), 1);
    assert_eq!(greet[0]["args"]["times"], 3);
    assert_eq!(greet[0]["returns"]["r1"], 111);
    // Runtime type addresses move with a PIE's load bias.
    let fail = of(&calls, "main.fail");
    assert_eq!(fail[2]["returns"]["r1"], "wrapped: inner");
    // A type recipe is keyed by link-time address: the BPF side and the
    // decoder each take the bias off (the wrapped error is a second one).
    assert_eq!(
        fail[3]["returns"]["r1"],
        "strconv.Atoi: parsing \"x\": invalid syntax"
    );
}

/// A stripped binary (`-ldflags=-s -w`, PIE too) has no DWARF: gotel still
/// attaches from Go's function table and reports every call with its
/// latency and goroutine, without arguments, and says why.
#[test]
fn stripped_binary_gives_calls_and_latency() {
    for tc in toolchains() {
        let v = &tc.version;
        for (tag, flags) in [
            ("stripped", &["-ldflags=-s -w"][..]),
            ("stripped-pie", &["-ldflags=-s -w", "-buildmode=pie"][..]),
        ] {
            let bin = build(&tc, "sigs", tag, flags);
            let mut target = Target::start(&bin, &[], "ready");
            let pid = target.pid();
            let gotel = Gotel::run(
                &format!(
                    "probes:
  - function: main.greet
    target: {{ pid: {pid} }}
  - function: deep
    target: {{ pid: {pid} }}
  - function: main.explode
    target: {{ pid: {pid} }}
  - function: main.guard
    target: {{ pid: {pid} }}
"
                ),
                4,
            );
            target.round(1);
            target.round(2);
            std::thread::sleep(Duration::from_millis(300));
            let (calls, logs) = gotel.stop();
            assert!(
                logs.iter()
                    .any(|l| l.contains("no DWARF") && l.contains("only calls and latency")),
                "{v} {tag}: {logs:?}"
            );
            let greet = of(&calls, "main.greet");
            assert_eq!(greet.len(), 2, "{v} {tag}");
            for c in &greet {
                assert_eq!(c["args"], json!({}), "{v} {tag}");
                assert_eq!(c["returns"], json!({}), "{v} {tag}");
                assert!(c["duration_ns"].as_u64().unwrap() > 0, "{v} {tag}");
                assert!(c["goroutine"].as_u64().unwrap() > 0, "{v} {tag}");
            }
            // 41 nested activations per round, each paired with its own
            // return: the frame key works without DWARF too.
            let deep = of(&calls, "deep");
            assert_eq!(deep.len(), 82, "{v} {tag}");
            assert!(deep.iter().all(|c| c["duration_ns"].as_u64().is_some()));
            let goroutines: std::collections::BTreeSet<u64> = deep
                .iter()
                .map(|c| c["goroutine"].as_u64().unwrap())
                .collect();
            assert_eq!(goroutines.len(), 2, "{v} {tag}: one goroutine per round");
            // explode(1) panics and guard recovers: reported as panicked
            // once guard returns.
            let explode = of(&calls, "main.explode");
            assert_eq!(explode.len(), 4, "{v} {tag}");
            assert_eq!(
                explode.iter().filter(|c| c["panicked"] == true).count(),
                2,
                "{v} {tag}"
            );
        }
    }
}

/// A cgo binary (linked by the C toolchain) and a `-trimpath` build are
/// read like any other: exact values on every toolchain.
#[test]
fn cgo_and_trimpath_binaries() {
    for tc in toolchains() {
        let v = &tc.version;
        for (tag, flags) in [("cgo", &[][..]), ("cgo-trimpath", &["-trimpath"][..])] {
            let bin = build(&tc, "cgo", tag, flags);
            let mut target = Target::start(&bin, &[], "ready");
            let pid = target.pid();
            let gotel = Gotel::run(
                &format!(
                    "probes:
  - function: viaC
    target: {{ pid: {pid} }}
  - function: label
    target: {{ pid: {pid} }}
"
                ),
                2,
            );
            target.round(1);
            target.round(2);
            std::thread::sleep(Duration::from_millis(300));
            let (calls, _) = gotel.stop();
            let via = of(&calls, "viaC");
            let got: Vec<_> = via
                .iter()
                .map(|c| (c["args"].clone(), c["returns"].clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (json!({"a": 1, "b": 40}), json!({"r0": 41})),
                    (json!({"a": 2, "b": 40}), json!({"r0": 42})),
                ],
                "{v} {tag}"
            );
            let label = of(&calls, "label");
            assert_eq!(label.len(), 2, "{v} {tag}");
            assert_eq!(
                label[1]["args"],
                json!({"name": "call", "n": 42}),
                "{v} {tag}"
            );
            assert_eq!(label[1]["returns"], json!({"r0": "call#42"}), "{v} {tag}");
        }
    }
}
