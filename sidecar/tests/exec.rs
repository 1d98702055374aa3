//! Processes started after gotel are attached from the kernel's exec
//! record and detached from its exit record, not by the /proc scan: the
//! scan interval is a minute here, so only the tracepoints can explain a
//! call captured, or a process seen gone, within the test.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The log records with message `message`.
fn logs_of(logs: &[String], message: &str) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

/// Runs `bin` to its end, first calling ~50 ms after its start and
/// exiting after `life`; returns the ticks it made.
fn run_once(bin: &std::path::Path, life: &str) -> u64 {
    let out = Command::new(bin)
        .args(["-delay", "50ms", "-life", life, "-hold"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .strip_prefix("ticks ")
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap()
}

#[test]
fn a_process_started_after_gotel_is_attached_at_exec_and_ended_at_exit() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shortlived", "exec", &[]);
        let name = bin.file_name().unwrap().to_str().unwrap().to_string();
        let config = format!(
            "probes:\n  - function: main.tick\n    target: {{ exe: {name} }}\n  \
             - function: main.hold\n    target: {{ exe: {name} }}\n"
        );
        let mut gotel = Gotel::run_env(&config, 0, &[("GOTEL_SCAN_INTERVAL_MS", "60000")]);
        // The first (and, within this test, only) scan found nothing.
        gotel.wait_log("waiting for a matching process", Duration::from_secs(20));
        // The first process of a binary waits for its analysis and
        // planning (0.3-0.5 s in a debug build): it lives 3 s. Later ones
        // find both cached and live 1 s, like a short CLI run (attached
        // in 10-70 ms here, but a starved 2-core VM has taken 0.8 s).
        let mut ticks = Vec::new();
        for life in ["3s", "1s", "1s"] {
            ticks.push(run_once(&bin, life));
            let t = Instant::now();
            gotel.wait_log("process exit seen; detached", Duration::from_secs(10));
            // Far below the scan interval: the exit record did it.
            assert!(t.elapsed() < Duration::from_secs(5), "{v}");
        }
        let (calls, logs) = gotel.stop();

        let attached = logs_of(&logs, "attached after exec");
        assert_eq!(attached.len(), 3, "{v}: {logs:#?}");
        let ms: Vec<f64> = attached.iter().map(|l| l["ms"].as_f64().unwrap()).collect();
        eprintln!("{v}: attach latency after exec (first run analyses the binary): {ms:?} ms");
        // One analysis for the three processes of the binary.
        assert_eq!(logs_of(&logs, "analysed binary").len(), 1, "{v}: {logs:#?}");

        let pids: Vec<u64> = attached
            .iter()
            .map(|l| l["pid"].as_u64().unwrap())
            .collect();
        for (run, (pid, n)) in pids.iter().zip(&ticks).enumerate() {
            let mine: Vec<&Value> = calls.iter().filter(|c| c["pid"] == *pid).collect();
            let args: Vec<u64> = mine
                .iter()
                .filter(|c| c["function"] == "main.tick")
                .map(|c| c["args"]["n"].as_u64().unwrap())
                .collect();
            // Attached while it ran: every call from the first caught to
            // the last one the process made.
            assert!(!args.is_empty(), "{v} run {run}: no call of {n}");
            let first = args[0];
            assert_eq!(
                args,
                (first..*n).collect::<Vec<_>>(),
                "{v} run {run}: {n} ticks"
            );
            // The first run's hold began before its attach.
            if run == 0 {
                continue;
            }
            let held: Vec<&&Value> = mine
                .iter()
                .filter(|c| c["function"] == "main.hold")
                .collect();
            assert_eq!(held.len(), 1, "{v} run {run}: {mine:?}\n{logs:#?}");
            assert_eq!(held[0]["args"]["n"], json!(7));
            assert_eq!(held[0]["unfinished"], json!("the process ended"));
        }
    }
}
