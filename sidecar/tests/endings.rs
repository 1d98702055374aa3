//! Calls that end without a return are delivered, never silently lost:
//! `runtime.Goexit` on their goroutine, `os.Exit` in their process, an
//! unrecovered panic. Every toolchain.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Sends `line` to the endings program.
fn send(t: &mut Target, line: &str) {
    let w = t.stdin.as_mut().unwrap();
    writeln!(w, "{line}").unwrap();
    w.flush().unwrap();
}

/// Runs the endings program under gotel with probes on `functions`, feeds
/// it `lines` (the last one ends it), waits for gotel to see it gone.
fn run(bin: &std::path::Path, functions: &[&str], lines: &[&str]) -> (Vec<Value>, Value) {
    let mut target = Target::start(bin, &[], "ready");
    let pid = target.pid();
    let mut config = String::from("probes:\n");
    for f in functions {
        config.push_str(&format!(
            "  - function: {f}\n    target: {{ pid: {pid} }}\n"
        ));
    }
    let mut gotel = Gotel::run(&config, functions.len());
    for line in lines {
        send(&mut target, line);
        if *line == "goexit" {
            target
                .stdout
                .wait_for("done goexit", Duration::from_secs(20), |l| {
                    l == "done goexit"
                });
        }
    }
    target.child.wait().unwrap();
    gotel.wait_log("process exited", Duration::from_secs(20));
    let (calls, logs) = gotel.stop();
    (calls, stopped_record(&logs))
}

/// (function, arg, result, duration present, panicked, unfinished) of each call.
fn endings(calls: &[Value]) -> Vec<(String, Value, Value, bool, Value, Value)> {
    calls
        .iter()
        .map(|c| {
            let arg = c["args"].as_object().unwrap().values().next().cloned();
            (
                c["function"].as_str().unwrap().to_string(),
                arg.unwrap_or(Value::Null),
                c["returns"]["r0"].clone(),
                c["duration_ns"].is_u64(),
                c["panicked"].clone(),
                c["unfinished"].clone(),
            )
        })
        .collect()
}

#[test]
fn calls_ended_by_goexit_exit_or_a_crash_are_delivered_unfinished() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "endings", "e2e", &[]);
        let (calls, stopped) = run(
            &bin,
            &["main.worker", "main.step", "main.finish"],
            &["goexit", "exit"],
        );
        let n = Value::Null;
        let goexit = json!("runtime.Goexit");
        let ended = json!("the process ended");
        let f = |s: &str| s.to_string();
        assert_eq!(
            endings(&calls),
            [
                (
                    f("main.worker"),
                    json!(5),
                    n.clone(),
                    false,
                    n.clone(),
                    goexit.clone()
                ),
                (
                    f("main.step"),
                    json!(5),
                    n.clone(),
                    false,
                    n.clone(),
                    goexit
                ),
                (
                    f("main.step"),
                    json!(0),
                    json!(0),
                    true,
                    n.clone(),
                    n.clone()
                ),
                (
                    f("main.worker"),
                    json!(0),
                    json!(1),
                    true,
                    n.clone(),
                    n.clone()
                ),
                (
                    f("main.finish"),
                    json!(3),
                    n.clone(),
                    false,
                    n.clone(),
                    ended.clone()
                ),
            ],
            "{v}: {calls:?}"
        );
        assert_eq!(stopped["unfinished"], 3, "{v}: {stopped}");
        assert_eq!(stopped["panicked"], 0, "{v}: {stopped}");
        assert_eq!(stopped["open_calls"], 0, "{v}: {stopped}");

        let (calls, stopped) = run(&bin, &["main.explode"], &["crash"]);
        assert_eq!(
            endings(&calls),
            [(
                f("main.explode"),
                json!(7),
                n.clone(),
                false,
                json!(true),
                ended
            )],
            "{v}: {calls:?}"
        );
        assert_eq!(stopped["unfinished"], 1, "{v}: {stopped}");
        assert_eq!(stopped["panicked"], 1, "{v}: {stopped}");
    }
}
