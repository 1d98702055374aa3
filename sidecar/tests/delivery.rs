//! Delivery accounting under collector faults (issue #13): the real `gotel`
//! binary traces the bench program's `main.work` with real uprobes and
//! exports to endpoints that misbehave: a fault-injecting endpoint in this
//! test process (`common/faults.rs`: stalls, resets, broken `200` bodies,
//! partial successes and refusals over gRPC and HTTP) and the real
//! OpenTelemetry Collector (`otelcol-gotel` from scripts/otel-tools.sh),
//! answering, refusing, and stopped (SIGSTOP) mid-export.
//!
//! Whatever the collector does, every call ends in exactly one of
//! `exported_*`, `export_queue_dropped` and `export_failed_*` per signal,
//! what the collector says it rejected is counted (`export_rejected_*`, a
//! part of failed), and shutdown keeps `shutdown_timeout_ms`. Counts are
//! asserted exactly, from gotel's `stopped` record, its admin `/metrics`
//! and what the endpoint itself tallied; no assertion depends on how fast
//! the two loaded cores are, except the bound on the shutdown's length.
//!
//! The newest toolchain in `GOTEL_GO_TOOLCHAINS` only: delivery does not
//! depend on the Go version.

mod common;
#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/faults.rs"]
mod faults;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use daemon::{free_port, tools, written_requests, Daemon};
use faults::{Fault, FaultServer, Tally};
use serde_json::Value;

/// Calls the bench loop makes. With `max_batch` 512 and 2 batches in
/// flight, a stalled collector holds two batches, a third waits for a slot
/// and the rest wait in the queue (8192): nothing is dropped at the queue.
const CALLS: u64 = 4096;
const SHUTDOWN: Duration = Duration::from_millis(2000);
/// Past `shutdown_timeout_ms`, what gotel's exit may take besides the
/// export: detaching, the final drain, scheduling on two loaded cores.
/// Before #13 a stalled collector took the deadline plus 1-2 s.
const EXIT_MARGIN: Duration = Duration::from_millis(1500);

/// gotel's config: main.work of `pid`, exported to `endpoint`. The request
/// timeout is far longer than the shutdown's, as a collector that accepts
/// and never answers needs to show.
fn config(pid: u32, endpoint: &str, protocol: &str) -> String {
    format!(
        "admin: 127.0.0.1:0
probes:
  - function: main.work
    target: {{ pid: {pid} }}
    max_hits_per_second: 0
outputs: [otlp]
otlp:
  endpoint: {endpoint}
  protocol: {protocol}
  timeout_ms: 30000
  max_retry_ms: 60000
  queue_size: 8192
  max_batch: 512
  max_in_flight: 2
  batch_timeout_ms: 50
  shutdown_timeout_ms: {}
",
        SHUTDOWN.as_millis()
    )
}

/// A finished run: gotel's log lines, its admin `/metrics` just before the
/// stop, and how long the stop took.
struct Run {
    logs: Vec<String>,
    metrics: String,
    took: Duration,
}

/// The value of `name` in an OpenMetrics text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Every call accounted for in the export counters of `/metrics`: for both
/// signals, exported + queue-dropped + failed = calls.
fn settled(m: &str) -> bool {
    let calls = metric(m, "gotel_calls_total");
    let dropped = metric(m, "gotel_export_queue_dropped_total");
    calls > 0
        && ["logs", "spans"].iter().all(|s| {
            metric(m, &format!("gotel_export_exported_{s}_total"))
                + metric(m, &format!("gotel_export_failed_{s}_total"))
                + dropped
                == calls
        })
}

/// Runs the bench loop under gotel with the config `config` makes for its
/// pid and the environment `env`, waits until gotel has read every call
/// (`until_settled`: and settled every one), then stops gotel with SIGTERM
/// and times the stop.
fn run(
    tag: &str,
    until_settled: bool,
    env: &[(&str, &str)],
    config: impl Fn(u32) -> String,
) -> Run {
    let bin = build(&newest_toolchain(), "bench", tag, &[]);
    let mut target = Target::start(&bin, &["-calls", &CALLS.to_string()], "ready");
    // gotel's own metrics off: they would go to the faulty endpoint too.
    let mut env = env.to_vec();
    env.push(("OTEL_METRICS_EXPORTER", "none"));
    let mut gotel = Gotel::run_env(&config(target.pid()), 0, &env);
    let admin = gotel.admin_address();
    gotel.wait_log("attached", Duration::from_secs(30));
    let line = target.bench(Duration::from_secs(120));
    // The ring buffer is drained and, if asked, the export settled when the
    // counters stop moving (and settle).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    let metrics = loop {
        let m = http_get(&admin, "/metrics");
        let calls = metric(&m, "gotel_calls_total");
        let done = calls > 0 && !last.is_empty() && calls == metric(&last, "gotel_calls_total");
        if done && (!until_settled || settled(&m)) {
            break m;
        }
        assert!(Instant::now() < deadline, "never settled ({line}):\n{m}");
        last = m;
        std::thread::sleep(Duration::from_millis(300));
    };
    let t = Instant::now();
    let (_, logs) = gotel.stop_with(libc::SIGTERM);
    let took = t.elapsed();
    Run {
        logs,
        metrics,
        took,
    }
}

impl Run {
    /// Counter `name` of the `stopped` record.
    fn get(&self, name: &str) -> u64 {
        stopped(&self.logs, name)
    }

    fn logged(&self, message: &str) -> bool {
        let needle = format!("\"message\":\"{message}");
        self.logs.iter().any(|l| l.contains(&needle))
    }

    /// The invariant and the deadline, for every run.
    fn check(&self) {
        let v = stopped_record(&self.logs);
        let export: Vec<String> = v
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("export") || *k == "calls")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        eprintln!("shutdown took {:?}; {}", self.took, export.join(" "));
        let calls = self.get("calls");
        let dropped = self.get("export_queue_dropped");
        assert!(calls > 0, "no call traced");
        for s in ["logs", "spans"] {
            let exported = self.get(&format!("exported_{s}"));
            let failed = self.get(&format!("export_failed_{s}"));
            let rejected = self.get(&format!("export_rejected_{s}"));
            assert_eq!(
                exported + dropped + failed,
                calls,
                "{s}: exported {exported} + dropped {dropped} + failed {failed} != calls {calls}"
            );
            assert!(rejected <= failed, "{s}: rejected is a part of failed");
        }
        assert!(
            self.took < SHUTDOWN + EXIT_MARGIN,
            "shutdown took {:?} against {SHUTDOWN:?}",
            self.took
        );
        assert!(
            !self.logged("OTLP export did not finish by the shutdown deadline"),
            "the export task kept its deadline itself"
        );
    }

    /// `admin`'s export counters before the stop equal the stopped
    /// record's (for a run that settled before its stop).
    fn check_admin_agrees(&self) {
        for s in ["exported_logs", "exported_spans"] {
            let name = format!("gotel_export_{s}_total");
            assert_eq!(metric(&self.metrics, &name), self.get(s), "{name}");
        }
        for s in [
            "failed_logs",
            "failed_spans",
            "rejected_logs",
            "rejected_spans",
        ] {
            let name = format!("gotel_export_{s}_total");
            let field = format!("export_{s}");
            assert_eq!(metric(&self.metrics, &name), self.get(&field), "{name}");
        }
    }

    /// Nothing delivered: every call failed, none rejected or dropped.
    fn check_all_failed(&self) {
        let calls = self.get("calls");
        assert_eq!(self.get("export_queue_dropped"), 0);
        for s in ["logs", "spans"] {
            assert_eq!(self.get(&format!("exported_{s}")), 0, "{s}");
            assert_eq!(self.get(&format!("export_failed_{s}")), calls, "{s}");
            assert_eq!(self.get(&format!("export_rejected_{s}")), 0, "{s}");
        }
    }
}

fn endpoint(addr: impl std::fmt::Display) -> String {
    format!("http://{addr}")
}

/// A collector that accepts connections and never answers: the batches in
/// flight, the one waiting for a slot and the queued calls are all failed
/// at the deadline, which shutdown keeps (it waits for it: the collector
/// might still answer).
fn stalled(protocol: &str, tag: &str) {
    let server = FaultServer::http(Fault::Stall);
    let r = run(tag, false, &[], |pid| {
        config(pid, &endpoint(server.addr), protocol)
    });
    r.check();
    r.check_all_failed();
    assert!(r.took >= SHUTDOWN, "gave up early: {:?}", r.took);
    assert!(r.logged("OTLP export unanswered at the shutdown deadline"));
    assert!(server.got.lock().unwrap().connections > 0);
}

#[test]
fn grpc_collector_that_never_answers() {
    stalled("grpc", "delivery-stall-grpc");
}

#[test]
fn http_collector_that_never_answers() {
    stalled("http/protobuf", "delivery-stall-http");
}

/// Every connection reset: retried with backoff until the deadline, then
/// failed.
fn reset(protocol: &str, tag: &str) {
    let server = FaultServer::http(Fault::Reset);
    let r = run(tag, false, &[], |pid| {
        config(pid, &endpoint(server.addr), protocol)
    });
    r.check();
    r.check_all_failed();
    assert!(r.get("export_retries") > 0);
    assert!(r.logged("OTLP export failed, retrying with backoff"));
    assert!(server.got.lock().unwrap().connections > 1, "reconnected");
}

#[test]
fn grpc_connections_reset() {
    reset("grpc", "delivery-reset-grpc");
}

#[test]
fn http_connections_reset() {
    reset("http/protobuf", "delivery-reset-http");
}

/// `200 OK` with garbage, a body cut short, half a response: failures, not
/// deliveries, and not retried (the collector may hold the items). Each
/// request arrived once, whole.
#[test]
fn http_200_with_a_broken_body_is_a_failure() {
    let server = FaultServer::http(Fault::BadBody);
    let r = run("delivery-badbody", true, &[], |pid| {
        config(pid, &endpoint(server.addr), "http/protobuf")
    });
    r.check();
    r.check_all_failed();
    r.check_admin_agrees();
    assert_eq!(r.get("export_retries"), 0);
    assert!(r.logged("OTLP export failed, dropping the batch"));
    assert!(!r.logged("OTLP collector reachable again"));
    let (logs, spans) = server.tallies();
    for t in [logs, spans] {
        assert_eq!(t.items, r.get("calls"), "every call sent once: {t:?}");
        assert!(t.requests >= 3, "each kind of broken body: {t:?}");
    }
}

/// Partial successes and whole refusals: exactly what the endpoint said it
/// rejected is counted, per signal; the rest is exported.
fn partial(r: &Run, (logs, spans): (Tally, Tally)) {
    r.check();
    r.check_admin_agrees();
    assert_eq!(r.get("export_queue_dropped"), 0);
    assert_eq!(r.get("export_retries"), 0);
    let calls = r.get("calls");
    for (s, t) in [("logs", logs), ("spans", spans)] {
        assert_eq!(t.items, calls, "{s}: every call sent once: {t:?}");
        assert!(t.partially_rejected > 0 && t.refused > 0, "{s}: {t:?}");
        assert_eq!(r.get(&format!("export_rejected_{s}")), t.rejected(), "{s}");
        assert_eq!(r.get(&format!("export_failed_{s}")), t.rejected(), "{s}");
        assert_eq!(r.get(&format!("exported_{s}")), calls - t.rejected(), "{s}");
    }
    assert!(r.logged("OTLP collector rejected part of a batch"));
    assert!(r.logged("OTLP export rejected, dropping the batch"));
}

#[test]
fn http_partial_success_and_refusals_are_counted() {
    let server = FaultServer::http(Fault::Partial);
    let r = run("delivery-partial-http", true, &[], |pid| {
        config(pid, &endpoint(server.addr), "http/protobuf")
    });
    partial(&r, server.tallies());
}

#[test]
fn grpc_partial_success_and_refusals_are_counted() {
    let server = FaultServer::grpc();
    let r = run("delivery-partial-grpc", true, &[], |pid| {
        config(pid, &endpoint(server.addr), "grpc")
    });
    partial(&r, server.tallies());
}

/// The real collector (`otel-collector/test/delivery.yaml`), writing what
/// it takes to a file; killed on drop.
struct Collector {
    daemon: Daemon,
    grpc: u16,
    http: u16,
    /// An OTLP/HTTP receiver refusing every body over 16 bytes.
    small: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn start() -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("collected.jsonl");
        let (grpc, http, small) = (free_port(), free_port(), free_port());
        let daemon = Daemon::start(
            "the collector",
            &tools().join("otelcol-gotel"),
            &repo().join("otel-collector/test/delivery.yaml"),
            &[
                ("COLLECTOR_GRPC_PORT", grpc.to_string()),
                ("COLLECTOR_HTTP_PORT", http.to_string()),
                ("COLLECTOR_SMALL_PORT", small.to_string()),
                ("COLLECTOR_FILE", file.display().to_string()),
            ],
            &[grpc, http, small],
        );
        Collector {
            daemon,
            grpc,
            http,
            small,
            file,
            _dir: dir,
        }
    }

    /// (log records, spans) in the collector's file so far.
    fn written(&self) -> (u64, u64) {
        let (mut logs, mut spans) = (0, 0);
        let count = |v: &Value, outer: &str, inner: &str, items: &str| -> u64 {
            let empty = Vec::new();
            let outer = v[outer].as_array().unwrap_or(&empty);
            outer
                .iter()
                .flat_map(|o| o[inner].as_array().unwrap_or(&empty))
                .map(|i| i[items].as_array().map_or(0, |a| a.len() as u64))
                .sum()
        };
        for v in written_requests(&self.file) {
            logs += count(&v, "resourceLogs", "scopeLogs", "logRecords");
            spans += count(&v, "resourceSpans", "scopeSpans", "spans");
        }
        (logs, spans)
    }

    fn signal(&self, signal: i32) {
        self.daemon.signal(signal);
    }
}

/// The real collector over gRPC and HTTP: every call exported, and exactly
/// that many log records and spans reach its file.
#[test]
fn real_collector_takes_every_call() {
    let c = Collector::start();
    for (protocol, port, tag) in [
        ("grpc", c.grpc, "delivery-real-grpc"),
        ("http/protobuf", c.http, "delivery-real-http"),
    ] {
        let before = c.written();
        let r = run(tag, true, &[], |pid| {
            config(pid, &endpoint(format!("127.0.0.1:{port}")), protocol)
        });
        r.check();
        r.check_admin_agrees();
        let calls = r.get("calls");
        assert_eq!(r.get("exported_logs"), calls, "{protocol}");
        assert_eq!(r.get("exported_spans"), calls, "{protocol}");
        let want = (before.0 + calls, before.1 + calls);
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.written() != want {
            assert!(
                Instant::now() < deadline,
                "{protocol}: the collector wrote {:?}, want {want:?}",
                c.written()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The real collector refusing every request (body over its limit: HTTP
/// 400): all rejected, none written.
#[test]
fn real_collector_refusals_are_rejected() {
    let c = Collector::start();
    let r = run("delivery-real-refused", true, &[], |pid| {
        config(
            pid,
            &endpoint(format!("127.0.0.1:{}", c.small)),
            "http/protobuf",
        )
    });
    r.check();
    r.check_admin_agrees();
    let calls = r.get("calls");
    for s in ["logs", "spans"] {
        assert_eq!(r.get(&format!("exported_{s}")), 0, "{s}");
        assert_eq!(r.get(&format!("export_rejected_{s}")), calls, "{s}");
        assert_eq!(r.get(&format!("export_failed_{s}")), calls, "{s}");
    }
    assert!(r.logged("OTLP export rejected, dropping the batch"));
    assert_eq!(c.written(), (0, 0));
}

/// The real collector stopped (SIGSTOP) before the calls: the kernel still
/// accepts its connections, nothing answers. gRPC and HTTP at once, logs
/// over one and spans over the other.
#[test]
fn real_collector_stopped_mid_export() {
    let c = Collector::start();
    c.signal(libc::SIGSTOP);
    let logs_url = format!("http://127.0.0.1:{}/v1/logs", c.http);
    let env = [
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", logs_url.as_str()),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
    ];
    let r = run("delivery-real-stopped", false, &env, |pid| {
        config(pid, &endpoint(format!("127.0.0.1:{}", c.grpc)), "grpc")
    });
    r.check();
    r.check_all_failed();
    assert!(r.took >= SHUTDOWN, "gave up early: {:?}", r.took);
    assert!(r.logged("OTLP export unanswered at the shutdown deadline"));
}
