//! End-to-end OTLP: the real `gotel` binary traces the demo HTTP app with
//! real uprobes and exports to OTLP receivers running in this test process
//! (`common/otlp.rs`), which decode the protobuf it sends over a real socket.
//!
//! These tests use the newest toolchain in `GOTEL_GO_TOOLCHAINS` only: the
//! export path does not depend on the Go version (e2e.rs covers capture
//! across the matrix).

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::time::{Duration, Instant};

use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp::*;

/// Checks what the demo's two probes produced for requests with
/// `iters` (in order): per call one span and one log sharing ids and
/// attributes, computeE a child of handleE in the same trace.
fn check_demo_calls(got: &Received, iters: &[i64], pid: u32, service: &str) {
    let spans = got.spans();
    let logs = got.logs();
    assert_eq!(spans.len(), 2 * iters.len(), "spans: {spans:?}");
    assert_eq!(logs.len(), spans.len(), "one log per span");
    let mut handlers: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "main.handleE")
        .map(|(_, s)| *s)
        .collect();
    let mut computes: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "main.computeE")
        .map(|(_, s)| *s)
        .collect();
    handlers.sort_by_key(|s| s.start_time_unix_nano);
    computes.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(handlers.len(), iters.len());
    for ((h, c), n) in handlers.iter().zip(&computes).zip(iters) {
        assert_eq!(
            str_attr(&h.attributes, "code.function.name"),
            "main.handleE"
        );
        assert_eq!(str_attr(&h.attributes, "go.arg.r.URL.Path"), "/e");
        assert_eq!(str_attr(&h.attributes, "go.arg.r.Method"), "GET");
        assert_eq!(
            str_attr(&h.attributes, "go.arg.r.URL.RawQuery"),
            format!("iters={n}")
        );
        assert_eq!(
            str_attr(&c.attributes, "code.function.name"),
            "main.computeE"
        );
        assert_eq!(str_attr(&c.attributes, "gotel.probe"), "main.computeE");
        assert_eq!(int_attr(&c.attributes, "go.arg.iterations"), *n);
        // The float result, read where handleE moves it out of XMM0.
        match attr(&c.attributes, "go.ret.r0") {
            Some(V::DoubleValue(r0)) => assert_eq!(*r0, compute_e(*n)),
            other => panic!("go.ret.r0: expected a double, got {other:?}"),
        }
        assert!(int_attr(&c.attributes, "go.goroutine.id") > 0);
        assert!(int_attr(&c.attributes, "thread.id") > 0);
        assert_eq!(
            int_attr(&c.attributes, "go.goroutine.id"),
            int_attr(&h.attributes, "go.goroutine.id")
        );
        // The tree: computeE runs inside handleE.
        assert!(h.parent_span_id.is_empty(), "handleE is a root span");
        assert_eq!(h.trace_id.len(), 16);
        assert_eq!(h.span_id.len(), 8);
        assert_eq!(c.trace_id, h.trace_id, "same trace");
        assert_eq!(c.parent_span_id, h.span_id, "computeE's parent is handleE");
        assert!(c.start_time_unix_nano >= h.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= h.end_time_unix_nano);
        assert!(c.end_time_unix_nano > c.start_time_unix_nano);
        assert!(c.status.is_none(), "no error: status unset");
        assert_eq!(c.kind, 1, "SPAN_KIND_INTERNAL");
    }
    // Distinct requests, distinct traces.
    assert_ne!(handlers[0].trace_id, handlers[1].trace_id);
    for (res, span) in &spans {
        let matching: Vec<&&LogRecord> = logs
            .iter()
            .filter(|(_, l)| l.span_id == span.span_id)
            .map(|(_, l)| l)
            .collect();
        assert_eq!(matching.len(), 1, "one log for span {}", hex(&span.span_id));
        let log = matching[0];
        assert_eq!(log.trace_id, span.trace_id);
        assert_eq!(log.attributes, span.attributes);
        assert_eq!(log.severity_number, 9, "INFO");
        assert_eq!(log.severity_text, "INFO");
        assert_eq!(log.time_unix_nano, span.start_time_unix_nano);
        let body = match log.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(V::StringValue(s)) => s.clone(),
            other => panic!("body {other:?}"),
        };
        assert!(body.starts_with(&format!("{}(", span.name)), "{body}");
        // The resource describes the traced process.
        let r = &res.attributes;
        assert_eq!(str_attr(r, "service.name"), service);
        assert_eq!(int_attr(r, "process.pid"), i64::from(pid));
        assert_eq!(str_attr(r, "process.runtime.name"), "go");
        assert!(str_attr(r, "process.runtime.version").starts_with("go"));
        assert!(str_attr(r, "process.executable.name").starts_with("demo-"));
        assert!(str_attr(r, "process.executable.path")
            .ends_with(&str_attr(r, "process.executable.name")));
        assert!(!str_attr(r, "host.name").is_empty());
        assert!(str_attr(r, "service.instance.id").contains(&format!("/{pid}/")));
    }
    let c = logs
        .iter()
        .find(|(_, l)| str_attr(&l.attributes, "gotel.probe") == "main.computeE")
        .unwrap()
        .1;
    let body = match c.body.as_ref().unwrap().value.as_ref().unwrap() {
        V::StringValue(s) => s.clone(),
        _ => unreachable!(),
    };
    let head = format!(
        "main.computeE(iterations={}) = {} (",
        iters[0],
        compute_e(iters[0])
    );
    assert!(body.starts_with(&head), "{body}");
}

const DEMO_PROBES: &str = "probes:
  - function: main.handleE
    args: [r.Method, r.URL.Path, r.URL.RawQuery]
    target: { pid: PID }SERVICE
  - function: main.computeE
    target: { pid: PID }SERVICE
";

/// gRPC with gzip and a custom header, configured in the file; nested
/// probes form a tree; gotel's counters arrive as metrics at shutdown.
#[test]
fn grpc_logs_spans_tree_and_metrics() {
    let app = Target::demo(&newest_toolchain(), "otlp-grpc", &[]);
    let rx = Receiver::grpc(listener());
    let config = DEMO_PROBES
        .replace("PID", &app.pid().to_string())
        .replace("SERVICE", "\n    service_name: demo-shop")
        + &format!(
            "outputs: [otlp]
otlp:
  endpoint: http://{}
  protocol: grpc
  compression: gzip
  headers: {{ x-tenant: team-a }}
  batch_timeout_ms: 50
  metrics_interval_ms: 300
",
            rx.addr
        );
    let gotel = Gotel::run(&config, 2);
    for q in ["/e?iters=200", "/e?iters=2"] {
        assert!(http_get(&app.addr(), q).contains("e = 2."));
    }
    rx.wait("4 spans and 4 logs", Duration::from_secs(20), |g| {
        g.spans().len() >= 4 && g.logs().len() >= 4
    });
    // Periodic metrics, before shutdown.
    rx.wait("periodic metrics", Duration::from_secs(10), |g| {
        g.last_counter("gotel.calls") == Some(4)
    });
    let (jsonl, logs) = gotel.stop();
    assert!(jsonl.is_empty(), "outputs: [otlp] prints no JSONL");
    let got = rx.got.lock().unwrap();
    check_demo_calls(&got, &[200, 2], app.pid(), "demo-shop");
    for (path, headers) in &got.requests {
        assert_eq!(
            headers.get("x-tenant").map(String::as_str),
            Some("team-a"),
            "{path}"
        );
        assert_eq!(
            headers.get("grpc-encoding").map(String::as_str),
            Some("gzip"),
            "{path}"
        );
    }
    // The final metrics, sent after the last spans.
    assert_eq!(got.last_counter("gotel.calls"), Some(4));
    assert_eq!(got.last_counter("gotel.export.exported_spans"), Some(4));
    assert_eq!(got.last_counter("gotel.export.exported_logs"), Some(4));
    assert_eq!(got.last_counter("gotel.export.queue_dropped"), Some(0));
    assert!(got.last_counter("gotel.events").unwrap() >= 8);
    let res = got.metrics.last().unwrap().resource.as_ref().unwrap();
    assert_eq!(str_attr(&res.attributes, "service.name"), "gotel");
    assert_eq!(stopped(&logs, "exported_spans"), 4);
    assert_eq!(stopped(&logs, "exported_logs"), 4);
    assert_eq!(stopped(&logs, "export_queue_dropped"), 0);
}

/// HTTP/protobuf configured through the standard OTEL_* variables, JSONL
/// alongside, downward-API variables read from the traced process.
#[test]
fn http_protobuf_from_otel_env_with_jsonl() {
    let app = Target::demo(
        &newest_toolchain(),
        "otlp-http",
        &[("K8S_POD_NAME", "demo-7f9c"), ("K8S_CONTAINER_NAME", "app")],
    );
    let rx = Receiver::http(listener());
    let config = DEMO_PROBES
        .replace("PID", &app.pid().to_string())
        .replace("SERVICE", "")
        + "outputs: [otlp, jsonl]\notlp: { batch_timeout_ms: 50 }\n";
    let endpoint = format!("http://{}", rx.addr);
    let gotel = Gotel::run_env(
        &config,
        2,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_SERVICE_NAME", "env-shop"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            ("K8S_NAMESPACE_NAME", "shop-ns"),
        ],
    );
    for q in ["/e?iters=7", "/e?iters=3"] {
        assert!(http_get(&app.addr(), q).contains("e = 2."));
    }
    rx.wait("4 spans and 4 logs", Duration::from_secs(20), |g| {
        g.spans().len() >= 4 && g.logs().len() >= 4
    });
    let (jsonl, _) = gotel.stop();
    let got = rx.got.lock().unwrap();
    check_demo_calls(&got, &[7, 3], app.pid(), "env-shop");
    let (res, _) = got.spans()[0];
    let r = &res.attributes;
    assert_eq!(str_attr(r, "deployment.environment"), "test");
    // From the app's environment. gotel's own K8S_NAMESPACE_NAME is not
    // applied: the app is not in gotel's pod (they share the host's PID
    // namespace, as a node-wide gotel would, not a pod's).
    assert_eq!(str_attr(r, "k8s.pod.name"), "demo-7f9c");
    assert_eq!(str_attr(r, "k8s.container.name"), "app");
    assert!(!r.iter().any(|kv| kv.key == "k8s.namespace.name"), "{r:?}");
    let mut paths: Vec<&str> = got.requests.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths, ["/v1/logs", "/v1/metrics", "/v1/traces"]);
    for (path, h) in &got.requests {
        assert_eq!(
            h.get("authorization").map(String::as_str),
            Some("Bearer s3cret"),
            "{path}"
        );
        assert_eq!(
            h.get("content-encoding").map(String::as_str),
            Some("gzip"),
            "{path}"
        );
    }
    // The JSONL lines carry the same ids as the spans.
    assert_eq!(jsonl.len(), 4);
    for line in &jsonl {
        let (_, span) = got
            .spans()
            .into_iter()
            .find(|(_, s)| hex(&s.span_id) == line["span_id"])
            .unwrap_or_else(|| panic!("no span for {line}"));
        assert_eq!(hex(&span.trace_id), line["trace_id"]);
        match line["probe"].as_str().unwrap() {
            "main.computeE" => assert_eq!(line["parent_span_id"], hex(&span.parent_span_id)),
            _ => assert!(line.get("parent_span_id").is_none()),
        }
    }
}

/// The collector is down when gotel starts: gotel keeps tracing, holds at
/// most `queue_size` calls (plus the batch being retried), counts the rest
/// as dropped, and delivers again once a collector listens.
#[test]
fn collector_down_then_up_drops_are_counted_and_export_recovers() {
    let app = Target::demo(&newest_toolchain(), "otlp-down", &[]);
    // A port with nothing listening, for now.
    let port = unused_addr();
    let config = format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {} }}
outputs: [otlp]
otlp:
  endpoint: http://{port}
  protocol: grpc
  queue_size: 16
  max_batch: 8
  max_in_flight: 2
  batch_timeout_ms: 20
  max_retry_ms: 600000
  metrics_interval_ms: 300
",
        app.pid()
    );
    let mut gotel = Gotel::run(&config, 1);
    let gotel_pid = gotel.child.id();
    let rss_before = vm_rss_kib(gotel_pid);
    const DOWN: i64 = 400;
    for i in 0..DOWN {
        http_get(&app.addr(), &format!("/e?iters={}", 10 + i));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        gotel.child.try_wait().unwrap().is_none(),
        "gotel keeps running"
    );
    let rss_after = vm_rss_kib(gotel_pid);
    // Bounded: 400 calls without a collector cost no more than the queue.
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    gotel.wait_log("OTLP export failed, retrying", Duration::from_secs(5));

    let rx = Receiver::grpc(std::net::TcpListener::bind(port).unwrap());
    // The retried batch goes through at the next backoff step, then the
    // queued backlog; calls made before the queue has room are dropped.
    gotel.wait_log("OTLP collector reachable again", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1000));
    const UP: [i64; 3] = [7001, 7002, 7003];
    for n in UP {
        http_get(&app.addr(), &format!("/e?iters={n}"));
    }
    let recovered = |g: &Received| {
        let seen: Vec<i64> = g
            .spans()
            .iter()
            .map(|(_, s)| int_attr(&s.attributes, "go.arg.iterations"))
            .collect();
        UP.iter().all(|n| seen.contains(n))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !recovered(&rx.got.lock().unwrap()) {
        if Instant::now() > deadline {
            let n = rx.got.lock().unwrap().spans().len();
            let (_, logs) = gotel.stop();
            panic!(
                "calls after recovery missing ({n} spans); gotel:\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, logs) = gotel.stop();
    let got = rx.got.lock().unwrap();
    let total = DOWN as u64 + UP.len() as u64;
    let dropped = stopped(&logs, "export_queue_dropped");
    let exported = stopped(&logs, "exported_spans");
    assert_eq!(stopped(&logs, "calls"), total);
    assert!(dropped > 0, "a full queue drops");
    // Each call either arrived or was counted as dropped: nothing vanishes.
    assert_eq!(
        exported + dropped + stopped(&logs, "export_failed_spans"),
        total
    );
    assert_eq!(stopped(&logs, "export_failed_spans"), 0);
    // At most the queue, the batches in retry and the one waiting for a
    // free slot survived the outage.
    assert!(
        exported <= 16 + (2 + 1) * 8 + UP.len() as u64,
        "exported {exported}"
    );
    let mut ids: Vec<&[u8]> = got.spans().iter().map(|(_, s)| &s.span_id[..]).collect();
    assert_eq!(ids.len() as u64, exported, "no span arrived twice");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, exported);
    assert_eq!(
        got.last_counter("gotel.export.queue_dropped"),
        Some(dropped as i64)
    );
    assert!(got.last_counter("gotel.export.retries").unwrap() > 0);
}

/// Error results and recovered panics: WARN logs and Error spans carrying
/// the error message; a panicking call is a child of its guard.
#[test]
fn errors_and_panics_are_warnings_and_error_spans() {
    let tc = newest_toolchain();
    let bin = build(&tc, "sigs", "otlp", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let rx = Receiver::grpc(listener());
    let pid = target.pid();
    let config = format!(
        "probes:
  - function: main.fail
    target: {{ pid: {pid} }}
  - function: main.explode
    target: {{ pid: {pid} }}
  - function: main.guard
    target: {{ pid: {pid} }}
outputs: [otlp]
otlp: {{ endpoint: 'http://{}', protocol: grpc, batch_timeout_ms: 50 }}
",
        rx.addr
    );
    let gotel = Gotel::run(&config, 3);
    target.round(1);
    rx.wait("8 spans", Duration::from_secs(20), |g| g.spans().len() >= 8);
    gotel.stop();
    let got = rx.got.lock().unwrap();
    let spans = got.spans();
    let logs = got.logs();
    let of = |name: &str| {
        let mut v: Vec<&Span> = spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| *s)
            .collect();
        v.sort_by_key(|s| s.start_time_unix_nano);
        v
    };
    let log_of = |s: &Span| {
        logs.iter()
            .find(|(_, l)| l.span_id == s.span_id)
            .map(|(_, l)| *l)
            .unwrap()
    };
    let fail = of("main.fail");
    assert_eq!(fail.len(), 4);
    assert!(fail[0].status.is_none());
    assert_eq!(str_attr(&fail[0].attributes, "go.ret.r1"), "<nil>");
    assert_eq!(log_of(fail[0]).severity_text, "INFO");
    let msg = "boom: a message longer than twenty-three bytes";
    let st = fail[1].status.as_ref().unwrap();
    assert_eq!(
        (st.code, st.message.as_str()),
        (2, msg),
        "STATUS_CODE_ERROR"
    );
    assert_eq!(str_attr(&fail[1].attributes, "go.ret.r1"), msg);
    assert_eq!(log_of(fail[1]).severity_number, 13, "WARN");
    assert_eq!(log_of(fail[1]).severity_text, "WARN");
    assert_eq!(fail[2].status.as_ref().unwrap().message, "wrapped: inner");
    let st = fail[3].status.as_ref().unwrap();
    assert_eq!(st.message, "strconv.Atoi: parsing \"x\": invalid syntax");

    let explode = of("main.explode");
    let guard = of("main.guard");
    assert_eq!((explode.len(), guard.len()), (2, 2));
    // explode(0) returns; explode(1) is unwound by a panic guard recovers.
    assert!(explode[0].status.is_none());
    assert_eq!(int_attr(&explode[1].attributes, "go.arg.n"), 1);
    assert_eq!(
        attr(&explode[1].attributes, "go.panicked"),
        Some(&V::BoolValue(true))
    );
    assert_eq!(explode[1].status.as_ref().unwrap().code, 2);
    assert_eq!(log_of(explode[1]).severity_text, "WARN");
    assert!(guard[1].status.is_none(), "guard recovered: not an error");
    assert_eq!(int_attr(&guard[1].attributes, "go.ret.r"), -1);
    for (e, g) in explode.iter().zip(&guard) {
        assert_eq!(e.parent_span_id, g.span_id, "explode runs inside guard");
        assert_eq!(e.trace_id, g.trace_id);
    }
}

/// Not a test: measures OTLP export under load (`cargo test -p gotel --test
/// otlp -- --ignored --nocapture export_throughput`). The bench program
/// makes `CALLS` calls as fast as the uprobes allow; gotel exports them over
/// gRPC with the default queue (8192 calls) and batch (512) sizes.
#[test]
#[ignore]
fn export_throughput() {
    const CALLS: u64 = 200_000;
    let tc = newest_toolchain();
    let bin = build(&tc, "bench", "otlp", &[]);
    let mut target = Target::start(&bin, &["-calls", &CALLS.to_string()], "ready");
    let rx = Receiver::grpc(listener());
    let config = format!(
        "probes:\n  - function: main.work\n    target: {{ pid: {} }}\n    max_hits_per_second: 0\noutputs: [otlp]\notlp: {{ endpoint: 'http://{}', protocol: grpc }}\n",
        target.pid(),
        rx.addr
    );
    let gotel = Gotel::run(&config, 1);
    let t0 = Instant::now();
    let line = target.bench(Duration::from_secs(120));
    let app_done = t0.elapsed();
    let spans = |g: &Received| g.n_spans as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    loop {
        let n = spans(&rx.got.lock().unwrap());
        if n != last.0 {
            last = (n, Instant::now());
        }
        if n >= CALLS || last.1.elapsed() > Duration::from_secs(3) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads = thread_cpu(gotel.child.id());
    let (_, logs) = gotel.stop();
    let exported_all = last.1.duration_since(t0);
    let got = rx.got.lock().unwrap();
    eprintln!(
        "app: {line}; app done after {:.2}s; spans received {} (logs {}) by {:.2}s: {:.0} spans/s; \
         queue_dropped {}, ring dropped {}, export requests {}; gotel CPU seconds per thread: {threads:?}",
        app_done.as_secs_f64(),
        got.spans().len(),
        got.logs().len(),
        exported_all.as_secs_f64(),
        got.spans().len() as f64 / exported_all.as_secs_f64(),
        stopped(&logs, "export_queue_dropped"),
        stopped(&logs, "dropped"),
        got.requests.len(),
    );
}

/// gRPC over TLS with a private CA (`ca_file`) and a client certificate
/// the collector requires (mutual TLS).
#[test]
fn grpc_over_mutual_tls() {
    let app = Target::demo(&newest_toolchain(), "otlp-tls", &[]);
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let rx = Receiver::grpc_mtls(dir.path());
    let config = mtls_config(app.pid(), rx.addr.port(), "grpc", dir.path());
    let gotel = Gotel::run(&config, 1);
    assert!(http_get(&app.addr(), "/e?iters=42").contains("e = 2."));
    rx.wait("the span over TLS", Duration::from_secs(20), |g| {
        g.spans().len() == 1 && g.logs().len() == 1
    });
    let (_, logs) = gotel.stop();
    let got = rx.got.lock().unwrap();
    assert_eq!(
        int_attr(&got.spans()[0].1.attributes, "go.arg.iterations"),
        42
    );
    assert_eq!(stopped(&logs, "exported_spans"), 1);
}

/// One computeE probe exporting over `protocol` to `https://localhost:port`
/// with the CA and client certificate of [`certificates`] in `dir`.
fn mtls_config(pid: u32, port: u16, protocol: &str, dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {pid} }}
outputs: [otlp]
otlp:
  endpoint: https://localhost:{port}
  protocol: {protocol}
  ca_file: {d}/ca.pem
  client_cert_file: {d}/client.pem
  client_key_file: {d}/client.key
  batch_timeout_ms: 50
"
    )
}

/// SIGTERM flushes: calls still waiting to fill a batch (a long
/// batch_timeout) are sent before gotel exits.
#[test]
fn shutdown_flushes_the_pending_batch() {
    let app = Target::demo(&newest_toolchain(), "otlp-flush", &[]);
    let rx = Receiver::grpc(listener());
    let config = format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {} }}
outputs: [otlp]
otlp: {{ endpoint: 'http://{}', protocol: grpc, batch_timeout_ms: 600000, metrics_interval_ms: 600000 }}
",
        app.pid(),
        rx.addr
    );
    let gotel = Gotel::run(&config, 1);
    for n in [11, 12, 13] {
        http_get(&app.addr(), &format!("/e?iters={n}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.got.lock().unwrap().n_spans, 0, "still batching");
    let (_, logs) = gotel.stop_with(libc::SIGTERM);
    let got = rx.got.lock().unwrap();
    let mut n: Vec<i64> = got
        .spans()
        .iter()
        .map(|(_, s)| int_attr(&s.attributes, "go.arg.iterations"))
        .collect();
    n.sort();
    assert_eq!(n, [11, 12, 13]);
    assert_eq!(got.logs().len(), 3);
    assert_eq!(got.last_counter("gotel.calls"), Some(3), "final metrics");
    assert_eq!(stopped(&logs, "exported_spans"), 3);
}

/// With the collector down, shutdown waits no longer than
/// shutdown_timeout_ms and counts what it could not send as failed.
#[test]
fn shutdown_with_the_collector_down_keeps_its_deadline() {
    let app = Target::demo(&newest_toolchain(), "otlp-deadline", &[]);
    let port = unused_addr();
    let config = format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {} }}
outputs: [otlp]
otlp: {{ endpoint: 'http://{port}', protocol: grpc, batch_timeout_ms: 20, shutdown_timeout_ms: 1500 }}
",
        app.pid()
    );
    let mut gotel = Gotel::run(&config, 1);
    for n in [21, 22] {
        http_get(&app.addr(), &format!("/e?iters={n}"));
    }
    gotel.wait_log("OTLP export failed, retrying", Duration::from_secs(5));
    let t = Instant::now();
    let (_, logs) = gotel.stop_with(libc::SIGTERM);
    let took = t.elapsed();
    // Retries stop at the deadline (or one backoff step before it).
    assert!(took < Duration::from_millis(4000), "shutdown took {took:?}");
    assert_eq!(stopped(&logs, "calls"), 2);
    assert_eq!(stopped(&logs, "export_failed_spans"), 2);
    assert_eq!(stopped(&logs, "export_failed_logs"), 2);
    assert_eq!(stopped(&logs, "exported_spans"), 0);
}

/// HTTP/protobuf over TLS with a private CA and a client certificate the
/// receiver requires (the reqwest/rustls path of the exporter).
#[test]
fn http_over_mutual_tls() {
    let app = Target::demo(&newest_toolchain(), "otlp-https", &[]);
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let rx = Receiver::http_mtls(dir.path());
    let config = mtls_config(app.pid(), rx.addr.port(), "http/protobuf", dir.path());
    let gotel = Gotel::run(&config, 1);
    assert!(http_get(&app.addr(), "/e?iters=43").contains("e = 2."));
    rx.wait("the span over HTTPS", Duration::from_secs(20), |g| {
        g.n_spans == 1 && g.logs().len() == 1
    });
    let (_, logs) = gotel.stop();
    let got = rx.got.lock().unwrap();
    assert_eq!(
        int_attr(&got.spans()[0].1.attributes, "go.arg.iterations"),
        43
    );
    assert_eq!(stopped(&logs, "exported_spans"), 1);
}

/// HTTP status handling: 503 with Retry-After is retried after the delay
/// the collector asked for; 400 is not retried, and the batch is counted
/// as failed; later calls still go through.
#[test]
fn http_503_is_retried_after_its_delay_and_400_is_dropped() {
    let app = Target::demo(&newest_toolchain(), "otlp-status", &[]);
    let rx = Receiver::http(listener());
    let config = format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {} }}
outputs: [otlp]
otlp: {{ endpoint: 'http://{}', batch_timeout_ms: 20, metrics_interval_ms: 600000 }}
",
        app.pid(),
        rx.addr
    );
    let mut gotel = Gotel::run(&config, 1);
    let iterations = |g: &Received| -> Vec<i64> {
        g.spans()
            .iter()
            .map(|(_, s)| int_attr(&s.attributes, "go.arg.iterations"))
            .collect()
    };
    // Logs and traces of the first batch are both refused once.
    rx.got.lock().unwrap().refuse = [(503, Some(1)), (503, Some(1))].into();
    let t = Instant::now();
    http_get(&app.addr(), "/e?iters=31");
    rx.wait("the call after 503", Duration::from_secs(10), |g| {
        iterations(g) == [31] && g.logs().len() == 1
    });
    let took = t.elapsed();
    // The first retry would come after ~100 ms without the header.
    assert!(
        took >= Duration::from_millis(1000),
        "retried after {took:?}"
    );
    gotel.wait_log("OTLP collector reachable again", Duration::from_secs(5));

    rx.got.lock().unwrap().refuse = [(400, None), (400, None)].into();
    http_get(&app.addr(), "/e?iters=32");
    gotel.wait_log(
        "OTLP export rejected, dropping the batch",
        Duration::from_secs(10),
    );
    rx.wait("both refusals used", Duration::from_secs(10), |g| {
        g.refuse.is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    http_get(&app.addr(), "/e?iters=33");
    rx.wait("the call after 400", Duration::from_secs(10), |g| {
        iterations(g).contains(&33)
    });
    let (_, logs) = gotel.stop();
    assert_eq!(iterations(&rx.got.lock().unwrap()), [31, 33]);
    assert_eq!(stopped(&logs, "exported_spans"), 2);
    assert_eq!(stopped(&logs, "export_failed_spans"), 1);
    assert_eq!(stopped(&logs, "export_failed_logs"), 1);
    assert!(stopped(&logs, "export_retries") >= 1);
}

/// 100 000 calls in a tight loop while no collector listens: gotel's
/// memory stays flat (the queue holds 16 calls), and every call is
/// accounted for as dropped at the queue or failed at shutdown.
#[test]
fn memory_stays_bounded_while_the_collector_is_down() {
    const CALLS: u64 = 100_000;
    let tc = newest_toolchain();
    let bin = build(&tc, "bench", "otlp-down", &[]);
    let mut target = Target::start(&bin, &["-calls", &CALLS.to_string()], "ready");
    let port = unused_addr();
    let config = format!(
        "probes:
  - function: main.work
    target: {{ pid: {} }}
    max_hits_per_second: 0
outputs: [otlp]
otlp:
  endpoint: http://{port}
  protocol: grpc
  queue_size: 16
  max_batch: 8
  max_in_flight: 2
  shutdown_timeout_ms: 500
",
        target.pid()
    );
    let gotel = Gotel::run(&config, 1);
    let gotel_pid = gotel.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let before = vm_rss_kib(gotel_pid);
    let line = target.bench(Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let after = vm_rss_kib(gotel_pid);
    let (_, logs) = gotel.stop();
    let calls = stopped(&logs, "calls");
    eprintln!("{line}; gotel RSS {before} KiB before, {after} KiB after");
    // The ring buffer may drop under load; what gotel saw is what counts.
    assert!(calls + stopped(&logs, "dropped") >= CALLS, "{line}");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert_eq!(stopped(&logs, "exported_spans"), 0);
    assert_eq!(
        stopped(&logs, "export_queue_dropped") + stopped(&logs, "export_failed_spans"),
        calls
    );
    assert!(stopped(&logs, "export_queue_dropped") >= calls - (16 + 3 * 8));
}

/// Per-signal settings: spans over gRPC to one receiver, logs over HTTP
/// to another (a full URL, used as is), metrics switched off.
#[test]
fn per_signal_endpoints_and_protocols() {
    let app = Target::demo(&newest_toolchain(), "otlp-signals", &[]);
    let traces = Receiver::grpc(listener());
    let logs = Receiver::http(listener());
    let config = format!(
        "probes:
  - function: main.computeE
    target: {{ pid: {} }}
outputs: [otlp]
otlp: {{ batch_timeout_ms: 20, metrics_interval_ms: 100 }}
",
        app.pid()
    );
    let traces_url = format!("http://{}", traces.addr);
    let logs_url = format!("http://{}/v1/logs", logs.addr);
    let gotel = Gotel::run_env(
        &config,
        1,
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_url),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &logs_url),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    http_get(&app.addr(), "/e?iters=51");
    traces.wait("the span", Duration::from_secs(20), |g| g.n_spans == 1);
    logs.wait("the log", Duration::from_secs(20), |g| g.logs().len() == 1);
    std::thread::sleep(Duration::from_millis(300));
    gotel.stop();
    let (t, l) = (traces.got.lock().unwrap(), logs.got.lock().unwrap());
    assert!(
        t.logs.is_empty() && t.metrics.is_empty(),
        "gRPC receiver: spans only"
    );
    assert!(
        l.spans.is_empty() && l.metrics.is_empty(),
        "HTTP receiver: logs only"
    );
    assert_eq!(t.spans()[0].1.span_id, l.logs()[0].1.span_id);
    assert!(l.requests.iter().all(|(p, _)| p == "/v1/logs"));
}
