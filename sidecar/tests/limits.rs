//! `rate_limit` and `sample` drop calls in the kernel, before any copy,
//! and count each one; an entry-only probe costs one trap per call.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// Runs the bench target for exactly `calls` calls under `probe_extra`
/// (YAML lines of the probe), and returns the calls, the stopped record
/// and the probe's `/probes` entry.
fn bench_with(probe_extra: &str, calls: u64) -> Run {
    let tc = toolchains().pop().unwrap();
    let bin = build(&tc, "bench", "limits", &[]);
    let mut target = Target::start(&bin, &["-calls", &calls.to_string()], "ready");
    let config = format!(
        "admin: 127.0.0.1:0\nprobes:\n  - function: main.work\n    target: {{ pid: {} }}\n    max_hits_per_second: 0\n{probe_extra}",
        target.pid()
    );
    let mut gotel = Gotel::run(&config, 0);
    let admin = gotel.admin_address();
    let attached = gotel.wait_log("attached", Duration::from_secs(30));
    let done = target.bench(Duration::from_secs(60));
    assert!(done.starts_with(&format!("calls={calls} ")), "{done}");
    let seconds: f64 = done
        .split(' ')
        .find_map(|f| f.strip_prefix("seconds="))
        .unwrap()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let probe = admin_json(&admin, "/probes")["probes"][0].clone();
    let (calls, logs) = gotel.stop();
    Run {
        calls,
        stopped: stopped_record(&logs),
        probe,
        attached,
        seconds,
    }
}

/// What one [`bench_with`] run gave.
struct Run {
    /// The calls emitted.
    calls: Vec<Value>,
    /// gotel's `stopped` record.
    stopped: Value,
    /// The probe's `/probes` entry once the target was done.
    probe: Value,
    /// gotel's `attached` log record.
    attached: Value,
    /// How long the target's loop ran.
    seconds: f64,
}

/// Every emitted call has exact values.
fn assert_exact(calls: &[Value]) {
    for c in calls {
        let (a, b, cc) = (&c["args"]["a"], &c["args"]["b"], &c["args"]["c"]);
        let sum = a.as_i64().unwrap() + b.as_i64().unwrap() + cc.as_i64().unwrap() + 40;
        assert_eq!(c["returns"]["r0"].as_i64().unwrap(), sum, "{c}");
    }
}

#[test]
fn a_rate_limit_keeps_at_most_that_many_calls_a_second_and_counts_the_rest() {
    let calls = 196 * 1024;
    let Run {
        calls: lines,
        stopped,
        probe,
        seconds,
        ..
    } = bench_with("    rate_limit: 100\n", calls);
    let kept = lines.len() as u64;
    // 100 in each 1-second window the loop spanned (a window may take a
    // call or two more when CPUs race its reset).
    let windows = seconds.ceil() as u64 + 1;
    let full = (seconds.floor() as u64).saturating_sub(1);
    assert!(
        kept >= (100 * full).max(1) && kept <= 102 * windows,
        "{kept} in {seconds} s: {stopped}"
    );
    assert_eq!(
        kept + stopped["rate_limited"].as_u64().unwrap(),
        calls,
        "{stopped}"
    );
    assert_eq!(probe["rate_limited"], stopped["rate_limited"], "{probe}");
    // The return site emits only the kept calls' returns.
    assert_eq!(stopped["unmatched_returns"], 0, "{stopped}");
    assert_eq!(stopped["events"].as_u64().unwrap(), 2 * kept, "{stopped}");
    assert_exact(&lines);
}

#[test]
fn a_sample_keeps_that_fraction_of_calls_and_counts_the_rest() {
    let calls = 98 * 1024;
    let Run {
        calls: lines,
        stopped,
        probe,
        ..
    } = bench_with("    sample: 0.1\n", calls);
    let kept = lines.len() as u64;
    // Binomial(100 352, 0.1): σ ≈ 95; ±6σ.
    assert!((9_465..=10_605).contains(&kept), "{kept}");
    assert_eq!(
        kept + stopped["sampled_out"].as_u64().unwrap(),
        calls,
        "{stopped}"
    );
    assert_eq!(probe["sampled_out"], stopped["sampled_out"], "{probe}");
    assert_eq!(stopped["unmatched_returns"], 0, "{stopped}");
    assert_eq!(stopped["dropped"], 0, "{stopped}");
    assert_exact(&lines);
}

#[test]
fn an_entry_only_probe_costs_one_trap_per_call() {
    let calls = 20 * 1024;
    let Run {
        calls: lines,
        stopped,
        probe,
        attached,
        ..
    } = bench_with("    returns: false\n    latency: false\n", calls);
    assert_eq!(lines.len() as u64, calls, "{stopped}");
    // The kernel's hit counter: the entry only, no RET.
    assert_eq!(probe["hits"], calls, "{probe}");
    assert_eq!(attached["ret_sites"], 0, "{attached}");
    for c in &lines {
        assert_eq!(c["duration_ns"], Value::Null, "{c}");
        assert_eq!(c.get("unfinished"), None, "{c}");
        assert_eq!(c["args"]["s"], "gotel-bench-payload-0123456789abcdefghij");
    }
    // The same probe with returns: two traps per call.
    let timed = bench_with("", calls).probe;
    assert_eq!(timed["hits"], 2 * calls, "{timed}");
}

/// (a, r0) of each call, sorted.
fn a_and_result(calls: &[Value]) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = calls
        .iter()
        .map(|c| {
            (
                c["args"]["a"].as_i64().unwrap(),
                c["returns"]["r0"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn when_and_when_return_deliver_exactly_the_matching_calls() {
    // work(a, b, c, s) = a + b + c + len(s), called with a = i of each
    // batch of 1024 (0..1023), b = 0, c = the batch's first call number.
    let calls = 2 * 1024;
    let run = bench_with("    when: \"a > 1000 && a < 1010\"\n", calls);
    let mut want: Vec<(i64, i64)> = (1001..1010)
        .flat_map(|a| [(a, a + 40), (a, a + 1024 + 40)])
        .collect();
    want.sort_unstable();
    assert_eq!(a_and_result(&run.calls), want, "{}", run.stopped);
    assert_eq!(run.stopped["filtered"], calls - 18, "{}", run.stopped);
    assert_eq!(run.probe["filtered"], calls - 18, "{}", run.probe);
    assert_eq!(run.stopped["unmatched_returns"], 0);
    // Decided in the kernel: records for the 18 calls only (entry, return).
    assert_eq!(run.stopped["events"], 2 * 18, "{}", run.stopped);

    // Both: small a, large result: the second batch's only.
    let run = bench_with(
        "    when: 'a < 10 || strings.HasPrefix(s, \"nope\")'\n    when_return: \"r0 > 1000 && duration < 1h\"\n",
        calls,
    );
    let want: Vec<(i64, i64)> = (0..10).map(|a| (a, a + 1024 + 40)).collect();
    assert_eq!(a_and_result(&run.calls), want);
    assert_eq!(run.stopped["filtered"], calls - 10, "{}", run.stopped);
    // `when` in the kernel (20 calls recorded), `when_return` in gotel.
    assert_eq!(run.stopped["events"], 2 * 20, "{}", run.stopped);

    // Strings compared in full.
    let run = bench_with(
        "    when: 's == \"gotel-bench-payload-0123456789abcdefghij\" && a == 5'\n",
        calls,
    );
    assert_eq!(a_and_result(&run.calls), [(5, 45), (5, 5 + 1024 + 40)]);
    // A literal longer than the kernel compares (32 bytes): decided in gotel.
    assert_eq!(run.stopped["events"], 2 * calls, "{}", run.stopped);
    let run = bench_with(
        "    when: 's == \"gotel-bench-payload-0123456789abcdefghij\" && a == 5 || strings.HasPrefix(s, \"gotel-bench-payload-0123456789ab\") && a == 7'\n",
        calls,
    );
    assert_eq!(
        a_and_result(&run.calls),
        [(5, 45), (5, 1069), (7, 47), (7, 1071)]
    );
}

#[test]
fn a_condition_on_a_value_not_captured_is_refused_naming_it() {
    let tc = toolchains().pop().unwrap();
    let bin = build(&tc, "bench", "limits", &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gotel.yaml");
    std::fs::write(
        &config,
        "probes:\n  - function: main.work\n    target: { exe: bench }\n    args: [a]\n    when: \"b > 1\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(gotel_bin())
        .args(["check", "--config"])
        .arg(&config)
        .arg("--binary")
        .arg(&bin)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("when reads `b`, which is not captured at entry of main.work; "),
        "{text}"
    );
}
