//! `from_start: true`: uprobes on the executable file for every process,
//! so a 10 ms CLI is traced from its first call, every run. The scan
//! interval is a minute: only the file-wide uprobes can explain a call of
//! a process that lived 10 ms.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Runs `bin` as a ~10 ms CLI (calls `tick` every millisecond from its
/// start); returns its pid and the ticks it made.
fn run_short(bin: &Path) -> (u64, u64) {
    let child = Command::new(bin)
        .args(["-delay", "0s", "-life", "10ms", "-every", "1ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = u64::from(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let n = text
        .trim()
        .strip_prefix("ticks ")
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap();
    (pid, n)
}

/// Asserts that each run's calls of `main.tick` are all there, from the
/// first (n = 0) to its last, with their results, and nothing else.
fn assert_every_call(v: &str, runs: &[(u64, u64)], calls: &[Value]) {
    let mut caught = 0;
    for (run, (pid, n)) in runs.iter().enumerate() {
        let mine: Vec<&Value> = calls.iter().filter(|c| c["pid"] == *pid).collect();
        let args: Vec<u64> = mine
            .iter()
            .map(|c| c["args"]["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            args,
            (0..*n).collect::<Vec<_>>(),
            "{v} run {run} (pid {pid}): {n} ticks"
        );
        for c in &mine {
            let n = c["args"]["n"].as_u64().unwrap();
            assert_eq!(c["returns"]["r0"].as_u64(), Some(2 * n), "{v}: {c}");
            assert_eq!(c["function"], "main.tick");
        }
        caught += usize::from(!mine.is_empty());
    }
    eprintln!(
        "{v}: short-lived runs caught from their start: {caught}/{}",
        runs.len()
    );
    assert_eq!(
        calls.len() as u64,
        runs.iter().map(|r| r.1).sum::<u64>(),
        "{v}"
    );
}

#[test]
fn twenty_runs_of_a_10ms_cli_give_every_call_of_each() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "shortlived", "fromstart", &[]);
        let path = bin.to_str().unwrap();
        // The path exists here: attached before any process runs it.
        let config = format!(
            "probes:\n  - function: main.tick\n    target: {{ exe: {path} }}\n    from_start: true\n"
        );
        let mut gotel = Gotel::run_env(&config, 0, &[("GOTEL_SCAN_INTERVAL_MS", "60000")]);
        let line = gotel.wait_log("attached to the file", Duration::from_secs(30));
        assert_eq!(line["probe"], "main.tick", "{v}: {line}");
        let runs: Vec<(u64, u64)> = (0..20).map(|_| run_short(&bin)).collect();
        let (calls, logs) = gotel.stop();
        assert_every_call(v, &runs, &calls);
        // No process was read to attach: no per-process errors either.
        assert!(
            !logs.iter().any(|l| l.contains("cannot attach")),
            "{v}: {logs:#?}"
        );
    }
}

#[test]
fn a_basename_is_attached_file_wide_through_its_first_process() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "shortlived", "fromstart-name", &[]);
    let name = bin.file_name().unwrap().to_str().unwrap();
    let config = format!(
        "probes:\n  - function: main.tick\n    target: {{ exe: {name} }}\n    from_start: true\n"
    );
    let mut gotel = Gotel::run_env(&config, 0, &[("GOTEL_SCAN_INTERVAL_MS", "60000")]);
    gotel.wait_log("waiting for a matching process", Duration::from_secs(20));
    // The first process teaches gotel the file (opened at its exec
    // record): it is traced once the file is attached, if it still runs.
    let mut first = Command::new(&bin)
        .args(["-delay", "0s", "-life", "300ms", "-every", "1ms"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = gotel.wait_log("attached to the file", Duration::from_secs(20));
    assert!(line["exe"].as_str().unwrap().ends_with(name), "{v}: {line}");
    assert!(first.wait().unwrap().success());
    let runs: Vec<(u64, u64)> = (0..20).map(|_| run_short(&bin)).collect();
    let (calls, logs) = gotel.stop();
    let first_pid = u64::from(first.id());
    let later: Vec<Value> = calls
        .iter()
        .filter(|c| c["pid"] != first_pid)
        .cloned()
        .collect();
    assert!(
        !logs.iter().any(|l| l.contains("cannot attach")),
        "{v}: {logs:#?}"
    );
    assert_every_call(v, &runs, &later);
}

#[test]
fn a_pie_is_attached_per_process_and_says_so() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "shortlived", "fromstart-pie", &["-buildmode=pie"]);
    let path = bin.to_str().unwrap();
    let config = format!(
        "probes:\n  - function: main.tick\n    target: {{ exe: {path} }}\n    from_start: true\n"
    );
    let mut gotel = Gotel::run_env(&config, 0, &[("GOTEL_SCAN_INTERVAL_MS", "60000")]);
    let line = gotel.wait_log(
        "from_start: a position-independent executable",
        Duration::from_secs(30),
    );
    assert_eq!(line["probe"], "main.tick", "{v}: {line}");
    // Attached at its exec instead: a process living 2 s is traced.
    let out = Command::new(&bin)
        .args(["-delay", "1s", "-life", "2s", "-every", "10ms"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (calls, logs) = gotel.stop();
    assert!(!calls.is_empty(), "{v}: {logs:#?}");
    assert!(calls.iter().all(|c| c["function"] == "main.tick"));
}

#[test]
fn processes_outside_gotels_pid_namespace_are_counted_not_recorded() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "shortlived", "fromstart-foreign", &[]);
    let path = bin.to_str().unwrap();
    let config = format!(
        "probes:\n  - function: main.tick\n    target: {{ exe: {path} }}\n    from_start: true\n"
    );
    // gotel in a PID namespace of its own, as in a pod; the CLI runs out
    // here, in another pod's place: same file, so the uprobes fire in it.
    let wrapper = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
    let env = [("GOTEL_SCAN_INTERVAL_MS", "60000")];
    let mut gotel = Gotel::run_in(&wrapper, &config, 0, &env);
    gotel.wait_log("attached to the file", Duration::from_secs(30));
    let runs: Vec<(u64, u64)> = (0..5).map(|_| run_short(&bin)).collect();
    let (calls, logs) = gotel.stop_wrapped();
    assert!(
        calls.is_empty(),
        "{v}: another namespace's calls: {calls:?}"
    );
    let stopped = stopped_record(&logs);
    // Each call hits its entry and one RET.
    let ticks: u64 = runs.iter().map(|r| r.1).sum();
    assert_eq!(stopped["foreign_hits"], 2 * ticks, "{v}: {stopped}");
    assert_eq!(stopped["events"], 0, "{v}: {stopped}");
}

#[test]
fn a_file_rewritten_in_place_is_attached_again_at_its_new_offsets() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "shortlived", "fromstart-rewrite", &[]);
    // Another build of it: unoptimised, so `tick` sits elsewhere.
    let other = build(
        &tc,
        "shortlived",
        "fromstart-other",
        &["-gcflags=all=-N -l"],
    );
    let path = bin.to_str().unwrap();
    let config = format!(
        "probes:\n  - function: main.tick\n    target: {{ exe: {path} }}\n    from_start: true\n"
    );
    let mut gotel = Gotel::run(&config, 0);
    gotel.wait_log("attached to the file", Duration::from_secs(30));
    let before = vec![run_short(&bin)];
    // cp over it: same inode, other bytes.
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let ino = inode(&bin);
    std::fs::write(&bin, std::fs::read(&other).unwrap()).unwrap();
    assert_eq!(inode(&bin), ino);
    gotel.wait_log(
        "file replaced or deleted; detached from it",
        Duration::from_secs(20),
    );
    gotel.wait_log("attached to the file", Duration::from_secs(30));
    let after = vec![run_short(&bin)];
    let (calls, logs) = gotel.stop();
    let of = |runs: &[(u64, u64)]| -> Vec<Value> {
        let pid = runs[0].0;
        calls.iter().filter(|c| c["pid"] == pid).cloned().collect()
    };
    assert_every_call(v, &before, &of(&before));
    assert_every_call(v, &after, &of(&after));
    assert_eq!(logs_with(&logs, "analysed binary"), 2, "{v}: {logs:#?}");
}

/// How many log records have message `message`.
fn logs_with(logs: &[String], message: &str) -> usize {
    let needle = format!("\"message\":\"{message}\"");
    logs.iter().filter(|l| l.contains(&needle)).count()
}

#[test]
fn turning_from_start_on_moves_a_probe_to_the_file_without_a_gap_or_a_duplicate() {
    let tc = toolchains().pop().unwrap();
    let v = &tc.version;
    let bin = build(&tc, "shortlived", "fromstart-edit", &[]);
    let path = bin.to_str().unwrap();
    let config = |from_start: bool| {
        format!(
            "probes:\n  - function: main.tick\n    name: tick\n    target: {{ exe: {path} }}\n    from_start: {from_start}\n"
        )
    };
    let mut gotel = Gotel::run(&config(false), 0);
    let app = Command::new(&bin)
        .args(["-delay", "0s", "-life", "4s", "-every", "2ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    gotel.wait_log("attached", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    gotel.rewrite_config(&config(true));
    gotel.wait_log("attached to the file", Duration::from_secs(30));
    let out = app.wait_with_output().unwrap();
    let n: u64 = String::from_utf8(out.stdout).unwrap().trim()["ticks ".len()..]
        .parse()
        .unwrap();
    let (calls, logs) = gotel.stop();
    let args: Vec<u64> = calls
        .iter()
        .map(|c| c["args"]["n"].as_u64().unwrap())
        .collect();
    // Every call from the first caught to the last, each once: the old
    // version went when the new one was attached, not before, not after.
    let first = args[0];
    assert_eq!(args, (first..n).collect::<Vec<_>>(), "{v}: {logs:#?}");
    assert!(logs.iter().any(|l| l.contains("config reloaded")), "{v}");
}
