//! The admin endpoint against a real gotel tracing the demo: health,
//! readiness with a probe that cannot attach, per-probe metrics in the
//! OpenMetrics text format, `/probes`, and readiness after a config fix.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// (status code, body) of `GET path`.
fn get(addr: &str, path: &str) -> (u16, String) {
    let response = http_get(addr, path);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// The value of the sample `series` (name and labels, as exposed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn config(pid: u32, bad: bool) -> String {
    let mut c = format!(
        "admin: 127.0.0.1:0\nprobes:\n  - function: main.computeE\n    name: compute\n    target: {{ pid: {pid} }}\n  - function: main.handleE\n    name: waiting\n    target: {{ exe: no-such-program }}\n"
    );
    if bad {
        c.push_str(&format!(
            "  - function: main.noSuchFunction\n    name: typo\n    target: {{ pid: {pid} }}\n"
        ));
    }
    c
}

#[test]
fn admin_endpoint_reports_health_readiness_metrics_and_probes() {
    let tc = newest_toolchain();
    let target = Target::demo(&tc, "admin", &[]);
    let pid = target.pid();
    let mut gotel = Gotel::run(&config(pid, true), 0);
    let admin = gotel.wait_log("admin endpoint", Duration::from_secs(10))["address"]
        .as_str()
        .unwrap()
        .to_string();
    gotel.wait_log("attached", Duration::from_secs(30));
    gotel.wait_log("cannot attach", Duration::from_secs(10));
    for q in ["/e?iters=2", "/e?iters=3"] {
        http_get(&target.addr(), q);
    }

    assert_eq!(get(&admin, "/healthz"), (200, "ok\n".into()));
    let (code, body) = get(&admin, "/readyz");
    assert_eq!(code, 503, "{body}");
    let typo = format!("typo (pid {pid}): no function main.noSuchFunction");
    assert!(body.contains(&typo), "{body}");
    assert!(
        !body.contains("compute") && !body.contains("waiting"),
        "{body}"
    );

    // Calls reach the counters once drained (a 100 ms tick at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (code, m) = get(&admin, "/metrics");
        assert_eq!(code, 200, "{m}");
        if sample(&m, "gotel_probe_calls_total{probe=\"compute\"}") == Some(2.0) {
            break m;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        sample(&metrics, "gotel_calls_total"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "gotel_probe_attached_processes{probe=\"compute\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "gotel_probe_failed_processes{probe=\"typo\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "gotel_probe_calls_total{probe=\"waiting\"}"),
        Some(0.0)
    );
    assert_eq!(sample(&metrics, "gotel_open_calls"), Some(0.0));
    assert!(sample(&metrics, "gotel_resident_memory_bytes").is_some_and(|b| b > 1e6));
    assert!(
        metrics.contains("# TYPE gotel_probe_calls counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gotel_probe_last_error{probe=\"typo\",error=\""),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    let (code, body) = get(&admin, "/probes");
    assert_eq!(code, 200);
    let probes: Value = serde_json::from_str(&body).unwrap();
    let compute = &probes["probes"][0];
    assert_eq!(compute["name"], "compute");
    assert_eq!(compute["calls"], 2);
    assert_eq!(compute["waiting"], false);
    let sites = compute["attached"][0]["sites"].as_u64().unwrap();
    assert_eq!(
        compute["attached"],
        json!([{"pid": pid, "every_process": false, "exe": compute["attached"][0]["exe"], "function": "main.computeE", "sites": sites}])
    );
    assert!(sites >= 2, "{compute}");
    assert_eq!(probes["probes"][1]["waiting"], true);
    assert_eq!(probes["probes"][1]["attached"], json!([]));
    let typo = &probes["probes"][2];
    assert_eq!(typo["failed"][0]["pid"], pid);
    assert!(
        typo["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("noSuchFunction"),
        "{typo}"
    );

    // The typo fixed (the probe removed): ready.
    gotel.rewrite_config(&config(pid, false));
    gotel.wait_log("config reloaded", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&admin, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "{:?}", get(&admin, "/readyz"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&admin, "/readyz").1, "ready\n");
    gotel.stop();
}

/// A config edit that breaks a working probe keeps its previous version
/// attached (reported in the log and in `/probes`) until a later edit
/// attaches; no request goes untraced meanwhile.
#[test]
fn a_broken_edit_keeps_the_previous_version_of_the_probe() {
    let tc = newest_toolchain();
    let target = Target::demo(&tc, "admin-edit", &[]);
    let pid = target.pid();
    let probe = |function: &str, args: &str| {
        format!(
            "admin: 127.0.0.1:0\nprobes:\n  - function: {function}\n    name: compute\n    args: {args}\n    target: {{ pid: {pid} }}\n"
        )
    };
    let mut gotel = Gotel::run(&probe("main.computeE", "[iterations]"), 0);
    let admin = gotel.wait_log("admin endpoint", Duration::from_secs(10))["address"]
        .as_str()
        .unwrap()
        .to_string();
    gotel.wait_log("attached", Duration::from_secs(30));
    http_get(&target.addr(), "/e?iters=1");

    // The edit names a function that does not exist.
    gotel.rewrite_config(&probe("main.computeEE", "[iterations]"));
    let kept = gotel.wait_log("the edited probe cannot attach", Duration::from_secs(10));
    assert_eq!(kept["pid"], pid);
    http_get(&target.addr(), "/e?iters=2");
    let (_, body) = get(&admin, "/probes");
    let status: Value = serde_json::from_str(&body).unwrap();
    let compute = &status["probes"][0];
    assert_eq!(compute["function"], "main.computeEE");
    assert_eq!(compute["attached"], json!([]));
    assert_eq!(compute["previous_version"][0]["function"], "main.computeE");
    assert_eq!(compute["previous_version"][0]["pid"], pid);
    assert!(
        compute["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("computeEE"),
        "{compute}"
    );
    assert_eq!(get(&admin, "/readyz").0, 503);

    // Fixed: the new version attaches and replaces the old one.
    gotel.rewrite_config(&probe("main.computeE", "[]"));
    gotel.wait_log("attached", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get(&admin, "/probes");
        let status: Value = serde_json::from_str(&body).unwrap();
        if status["probes"][0]["previous_version"] == json!([]) {
            assert_eq!(status["probes"][0]["attached"][0]["pid"], pid);
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&admin, "/readyz").0, 200);
    http_get(&target.addr(), "/e?iters=3");
    std::thread::sleep(Duration::from_millis(300));
    let (calls, _) = gotel.stop();
    // Every request traced once: by v1, by v1 kept, then by v3 (no args).
    let args: Vec<&Value> = of(&calls, "compute").iter().map(|c| &c["args"]).collect();
    assert_eq!(
        args,
        [
            &json!({"iterations": 1}),
            &json!({"iterations": 2}),
            &json!({})
        ],
        "{calls:?}"
    );
}

/// A pid that does not exist and a process without an executable each get
/// their own line, not "waiting for a matching process".
#[test]
fn a_missing_pid_and_an_unreadable_process_are_named() {
    let gotel = Gotel::run(
        "probes:\n  - function: main.f\n    name: nopid\n    target: { pid: 999999 }\n  - function: main.f\n    name: kthread\n    target: { pid: 2 }\n",
        0,
    );
    std::thread::sleep(Duration::from_millis(500));
    let (_, logs) = gotel.stop();
    let logs = logs.join("\n");
    assert!(logs.contains("no process 999999; waiting for it"), "{logs}");
    // pid 2 is kthreadd in the initial PID namespace.
    assert!(
        logs.contains("cannot read process 2: it has no executable (a kernel thread, or a process that exited)"),
        "{logs}"
    );
    assert!(!logs.contains("waiting for a matching process"), "{logs}");
}
