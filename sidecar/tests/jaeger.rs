//! Into the real pipeline: an application instrumented with the OpenTelemetry
//! Go SDK and otelhttp (integration/otelapp) and gotel both export to a real
//! OpenTelemetry Collector (built from the collector's Go modules by
//! scripts/otel-tools.sh), which sends traces on to a real Jaeger v2 and
//! writes every log record and span to a file. gotel's span for a function
//! that takes a `context.Context` must sit in the application's own trace, as
//! the child of the application's span that context carried, with exact ids,
//! under concurrent requests.

mod common;
#[path = "common/daemon.rs"]
mod daemon;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{build, http_get, repo, toolchains, Gotel, Target, Toolchain};
use daemon::{free_port, tools, written_requests, Daemon};

/// Jaeger and a collector in front of it, on free ports.
struct Pipeline {
    _jaeger: Daemon,
    collector: Daemon,
    query: String,
    grpc: u16,
    http: u16,
    otlp: u16,
    /// The file exporter's files, one per collector run (it truncates).
    files: Vec<PathBuf>,
    dir: tempfile::TempDir,
}

impl Pipeline {
    fn start() -> Pipeline {
        let configs = repo().join("otel-collector/test");
        let dir = tempfile::tempdir().unwrap();
        let (otlp, query, query_grpc) = (free_port(), free_port(), free_port());
        let jaeger = Daemon::start(
            "jaeger",
            &tools().join("jaeger"),
            &configs.join("jaeger.yaml"),
            &[
                ("JAEGER_OTLP_PORT", otlp.to_string()),
                ("JAEGER_QUERY_PORT", query.to_string()),
                ("JAEGER_QUERY_GRPC_PORT", query_grpc.to_string()),
            ],
            &[query, otlp],
        );
        let (grpc, http) = (free_port(), free_port());
        let collector =
            Pipeline::collector(grpc, http, otlp, &dir.path().join("collected-0.jsonl"));
        Pipeline {
            _jaeger: jaeger,
            collector,
            query: format!("127.0.0.1:{query}"),
            grpc,
            http,
            otlp,
            files: vec![dir.path().join("collected-0.jsonl")],
            dir,
        }
    }

    fn collector(grpc: u16, http: u16, otlp: u16, file: &Path) -> Daemon {
        Daemon::start(
            "the collector",
            &tools().join("otelcol-gotel"),
            &repo().join("otel-collector/test/collector.yaml"),
            &[
                ("COLLECTOR_GRPC_PORT", grpc.to_string()),
                ("COLLECTOR_HTTP_PORT", http.to_string()),
                ("JAEGER_OTLP_PORT", otlp.to_string()),
                ("COLLECTOR_FILE", file.display().to_string()),
            ],
            &[grpc, http],
        )
    }

    /// Stops the collector as a rollout does (SIGTERM), then, after `down`,
    /// starts it again on the same ports. The caller waits until the file
    /// holds what the collector took first: the contrib file exporter
    /// (v0.161.0) panics when the batch processor flushes into it during
    /// shutdown (a nil file writer), which loses that last batch after the
    /// collector acknowledged it.
    fn restart_collector(&mut self, down: Duration) {
        self.collector.signal(libc::SIGTERM);
        let _ = self.collector.child.wait();
        std::thread::sleep(down);
        let file = self
            .dir
            .path()
            .join(format!("collected-{}.jsonl", self.files.len()));
        self.collector = Pipeline::collector(self.grpc, self.http, self.otlp, &file);
        self.files.push(file);
    }

    /// Jaeger's trace `id` once it holds `want` spans (it may take a batch
    /// or two), as its HTTP API returns it.
    fn trace(&self, id: &str, want: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = http_get(&self.query, &format!("/api/traces/{id}"));
            let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let n = v["data"][0]["spans"].as_array().map_or(0, Vec::len);
            if n >= want {
                return v["data"][0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "Jaeger has {n} of {want} spans of trace {id}: {response}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The requests the collector's file exporter has written whole so far
    /// (each incarnation of the collector writes its own file).
    fn written(&self) -> Vec<Value> {
        self.files
            .iter()
            .flat_map(|f| written_requests(f))
            .collect()
    }

    /// The spans of service `service` the collector's file exporter wrote.
    fn spans_of(&self, service: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for v in self.written() {
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                let attrs = rs["resource"]["attributes"].as_array();
                let named = attrs
                    .into_iter()
                    .flatten()
                    .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == service);
                if !named {
                    continue;
                }
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        out
    }

    /// The log records the collector's file exporter wrote, by span id.
    fn log_records(&self) -> HashMap<String, Value> {
        let mut out = HashMap::new();
        for v in self.written() {
            for rl in v["resourceLogs"].as_array().into_iter().flatten() {
                for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                    for r in sl["logRecords"].as_array().into_iter().flatten() {
                        if let Some(s) = r["spanId"].as_str() {
                            out.insert(s.to_string(), r.clone());
                        }
                    }
                }
            }
        }
        out
    }
}

/// One build of integration/otelapp: a toolchain, and the go.mod naming
/// the SDK release (None: go.mod itself).
type Variant = (Toolchain, Option<&'static str>);

/// Every build of integration/otelapp the matrix allows: the newest SDK
/// (its modules need Go ≥ 1.26) and SDK v1.28 (`go.sdk128.mod`, Go ≥ 1.21),
/// each with every toolchain that can build it.
fn variants() -> Vec<Variant> {
    let all = toolchains();
    let mut out: Vec<Variant> = all
        .iter()
        .filter(|t| go_minor(&t.version) >= 26)
        .map(|t| (t.clone(), None))
        .collect();
    if out.is_empty() {
        // The default (short) matrix stops below 1.26: the toolchain the tools were built with.
        let go =
            std::env::var("OTEL_TOOLS_GOBIN").expect("OTEL_TOOLS_GOBIN (scripts/otel-tools.sh)");
        out.push((
            Toolchain {
                go: go.into(),
                version: "otel-tools".into(),
            },
            None,
        ));
    }
    out.extend(
        all.into_iter()
            .filter(|t| go_minor(&t.version) >= 21)
            .map(|t| (t, Some("go.sdk128.mod"))),
    );
    out
}

fn go_minor(version: &str) -> u32 {
    version
        .strip_prefix("go1.")
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// What the app answered: its span's trace id and span id as the probed
/// function saw them, and (nested) its server span.
#[derive(Debug, Clone)]
struct Answer {
    path: &'static str,
    n: u32,
    trace: String,
    span: String,
    server: Option<String>,
}

/// A GET of `path` with extra request headers; the whole response.
fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

fn ask(addr: &str, path: &'static str, n: u32) -> Answer {
    let response = http_get(addr, &format!("/{path}?n={n}"));
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let field = |k: &str| {
        body.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_string)
    };
    Answer {
        path,
        n,
        trace: field("trace=").unwrap_or_else(|| panic!("{response}")),
        span: field("span=").unwrap(),
        server: field("server="),
    }
}

/// The span of `trace` (Jaeger's JSON) with operation `name` and tag
/// `go.arg.n` = n.
fn span_of<'a>(trace: &'a Value, name: &str, n: Option<u32>) -> &'a Value {
    let spans = trace["spans"].as_array().unwrap();
    let found: Vec<&Value> = spans
        .iter()
        .filter(|s| s["operationName"] == name)
        .filter(|s| n.is_none_or(|n| tag(s, "go.arg.n") == Some(Value::from(n))))
        .collect();
    let names: Vec<&Value> = spans.iter().map(|s| &s["operationName"]).collect();
    assert_eq!(
        found.len(),
        1,
        "spans {name} (n={n:?}) among {names:?} in {trace:#}"
    );
    found[0]
}

fn server_span(trace: &Value) -> &Value {
    let spans = trace["spans"].as_array().unwrap();
    let found: Vec<&Value> = spans
        .iter()
        .filter(|s| tag(s, "span.kind") == Some(Value::from("server")))
        .collect();
    assert_eq!(found.len(), 1, "server spans in {trace:#}");
    found[0]
}

fn tag(span: &Value, key: &str) -> Option<Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| t["value"].clone())
}

/// The span id `span`'s CHILD_OF reference names.
fn parent(span: &Value) -> String {
    let refs = span["references"].as_array().unwrap();
    let parents: Vec<&Value> = refs.iter().filter(|r| r["refType"] == "CHILD_OF").collect();
    assert_eq!(parents.len(), 1, "references of {span:#}");
    assert_eq!(parents[0]["traceID"], span["traceID"]);
    parents[0]["spanID"].as_str().unwrap().to_string()
}

fn service(trace: &Value, span: &Value) -> String {
    let p = span["processID"].as_str().unwrap();
    trace["processes"][p]["serviceName"]
        .as_str()
        .unwrap()
        .to_string()
}

fn joins((tc, modfile): &Variant, protocol: &str) {
    let pipe = Pipeline::start();
    let mut flags = vec!["-mod=readonly".to_string()];
    flags.extend(modfile.map(|m| format!("-modfile={m}")));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let sdk = modfile.map_or("sdk", |m| m.trim_end_matches(".mod"));
    let bin = build(tc, "otelapp", &format!("jaeger-{protocol}-{sdk}"), &flags);
    let endpoint = format!("http://127.0.0.1:{}", pipe.grpc);
    let app = Target::start_env(
        &bin,
        &["-addr", "127.0.0.1:0"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
        "listening on",
    );
    let addr = app.addr();
    let gotel_endpoint = match protocol {
        "grpc" => format!("http://127.0.0.1:{}", pipe.grpc),
        _ => format!("http://127.0.0.1:{}", pipe.http),
    };
    let pid = app.pid();
    let config = format!(
        "probes:\n  - function: main.lookup\n    target: {{ pid: {pid} }}\n  - function: main.score\n    target: {{ pid: {pid} }}\n  - function: main.audit\n    target: {{ pid: {pid} }}\n  - function: main.handleNested\n    target: {{ pid: {pid} }}\n    args: [r.Method]\n  - function: main.handlePlain\n    target: {{ pid: {pid} }}\n    args: [r.Method]\noutputs: [otlp, jsonl]\notlp:\n  endpoint: {gotel_endpoint}\n  protocol: {protocol}\n  batch_timeout_ms: 100\n"
    );
    let gotel = Gotel::run(&config, 5);

    // Concurrent requests: each goroutine's call must find its own span.
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=12u32)
            .map(|n| {
                let addr = &addr;
                let path = if n % 2 == 0 { "nested" } else { "work" };
                s.spawn(move || ask(addr, path, n))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // An uninstrumented handler with an incoming W3C trace context, and
    // one without.
    let remote = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{}-{}-01", remote.0, remote.1);
    let plain = http_get_with(&addr, "/plain?n=7", &[("traceparent", &traceparent)]);
    assert!(plain.contains(&traceparent), "{plain}");
    http_get_with(&addr, "/plain?n=8", &[]);
    let (calls, logs) = gotel.stop();
    // lookup, score and audit per request, handleNested per nested one,
    // handlePlain and its score twice.
    assert_eq!(calls.len(), 46, "calls: {calls:#?}\n{}", logs.join("\n"));
    let plain_call = |n: u64| {
        calls
            .iter()
            .find(|c| {
                c["probe"] == "main.handlePlain" && c["trace_id"] != Value::Null && {
                    let score = calls.iter().find(|s| {
                        s["probe"] == "main.score"
                            && s["args"]["n"] == n
                            && s["parent_span_id"] == c["span_id"]
                    });
                    score.is_some()
                }
            })
            .unwrap_or_else(|| panic!("handlePlain(n={n}) in {calls:#?}"))
    };
    let joined_lookup_id = calls
        .iter()
        .find(|c| c["probe"] == "main.lookup")
        .map(|c| c["span_id"].clone())
        .unwrap();
    let joined = plain_call(7);
    assert_eq!(joined["trace_id"].as_str(), Some(remote.0));
    assert_eq!(joined["parent_span_id"].as_str(), Some(remote.1));
    let alone = plain_call(8);
    assert_ne!(alone["trace_id"].as_str(), Some(remote.0));
    assert_eq!(alone["parent_span_id"], Value::Null);
    // In Jaeger: gotel's span in the caller's trace (whose own spans live
    // wherever the caller sent them).
    let trace = pipe.trace(remote.0, 2);
    let handler = span_of(&trace, "main.handlePlain", None);
    assert_eq!(parent(handler), remote.1);
    // Its OTLP flags say the parent is remote (sampled | has-is-remote |
    // is-remote); a span joined through a context, local (no is-remote).
    let exe = bin.file_name().unwrap().to_str().unwrap();
    let written = pipe.spans_of(exe);
    let flags = |id: &Value| {
        written
            .iter()
            .find(|s| s["spanId"] == *id)
            .map(|s| s["flags"].as_u64())
            .unwrap_or_else(|| panic!("span {id} not written"))
    };
    assert_eq!(flags(&handler["spanID"]), Some(0x301));
    assert_eq!(flags(&joined_lookup_id), Some(0x101));
    assert_eq!(common::stopped(&logs, "export_failed_spans"), 0);

    let collected = pipe.log_records();
    for a in &answers {
        // The server span; gotel's lookup, the child of the app span the
        // context carried; gotel's score and audit under gotel's lookup
        // (audit's context carries that same app span). Nested requests
        // also hold the app's own child span and gotel's handleNested,
        // joined through its *http.Request under the server span.
        let want = if a.path == "nested" { 6 } else { 4 };
        let trace = pipe.trace(&a.trace, want);
        let spans = trace["spans"].as_array().unwrap();
        assert_eq!(spans.len(), want, "{a:?}: {trace:#}");
        let lookup = span_of(&trace, "main.lookup", Some(a.n));
        let lookup_id = lookup["spanID"].as_str().unwrap();
        assert_eq!(parent(lookup), a.span, "{a:?}: {trace:#}");
        for inner in ["main.score", "main.audit"] {
            let s = span_of(&trace, inner, Some(a.n));
            assert_eq!(parent(s), lookup_id, "{inner} of {a:?}: {trace:#}");
        }
        let score = span_of(&trace, "main.score", Some(a.n));
        assert_eq!(tag(score, "go.ret.r0"), Some(Value::from(a.n * a.n + 1)));
        assert_eq!(tag(lookup, "go.ret.r0"), Some(Value::from(a.n * a.n + 2)));
        // otelhttp's server span (named after the route or the handler,
        // depending on its release).
        let server = server_span(&trace);
        assert_eq!(service(&trace, server), "otelapp");
        match &a.server {
            Some(id) => {
                let child = span_of(&trace, "app.child", None);
                assert_eq!(child["spanID"].as_str(), Some(a.span.as_str()));
                assert_eq!(server["spanID"].as_str(), Some(id.as_str()));
                assert_eq!(parent(child), *id);
                let handler = span_of(&trace, "main.handleNested", None);
                assert_eq!(parent(handler), *id, "{a:?}: {trace:#}");
                assert_eq!(tag(handler, "go.arg.r.Method"), Some(Value::from("GET")));
            }
            None => assert_eq!(server["spanID"].as_str(), Some(a.span.as_str())),
        }
        // gotel's resource: the traced executable.
        let exe = bin.file_name().unwrap().to_str().unwrap();
        assert_eq!(service(&trace, lookup), exe);
        assert!(lookup["duration"].as_u64().unwrap() > 0);
        // The JSON lines and the collector's log records carry the same ids.
        let line = calls
            .iter()
            .find(|c| c["probe"] == "main.lookup" && c["args"]["n"] == a.n)
            .unwrap();
        assert_eq!(line["trace_id"].as_str(), Some(a.trace.as_str()));
        assert_eq!(line["span_id"], lookup["spanID"]);
        assert_eq!(line["parent_span_id"].as_str(), Some(a.span.as_str()));
        let record = &collected[lookup["spanID"].as_str().unwrap()];
        assert_eq!(record["traceId"].as_str(), Some(a.trace.as_str()));
    }
}

#[test]
fn gotel_spans_join_the_app_trace_in_jaeger_over_grpc() {
    for v in variants() {
        joins(&v, "grpc");
    }
}

#[test]
fn gotel_spans_join_the_app_trace_in_jaeger_over_http() {
    joins(&variants()[0], "http");
}

/// The collector restarted while gotel exports: every call is in the
/// collector's output or in one of gotel's failure counters, none twice.
#[test]
fn collector_restart_mid_run_loses_nothing_uncounted() {
    let (tc, _) = variants().swap_remove(0);
    let mut pipe = Pipeline::start();
    let bin = build(&tc, "otelapp", "jaeger-restart", &["-mod=readonly"]);
    // The app exports its own spans synchronously: while the collector is
    // down, it gives up at once instead of holding each request 10 s.
    let endpoint = format!("http://127.0.0.1:{}", pipe.grpc);
    let app = Target::start_env(
        &bin,
        &["-addr", "127.0.0.1:0"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "50"),
        ],
        "listening on",
    );
    let (addr, pid) = (app.addr(), app.pid());
    let config = format!(
        "probes:\n  - function: main.score\n    target: {{ pid: {pid} }}\noutputs: [otlp]\notlp:\n  endpoint: http://127.0.0.1:{}\n  protocol: grpc\n  batch_timeout_ms: 50\n",
        pipe.grpc
    );
    let gotel = Gotel::run(&config, 1);
    let exe = bin.file_name().unwrap().to_str().unwrap().to_string();
    let round = |from: u32| {
        for n in from..from + 20 {
            ask(&addr, "work", n);
        }
    };
    // Before each stop, the collector's file holds what it took so far (a
    // few seconds at most): its file exporter loses a batch flushed into it
    // during shutdown (see restart_collector), which is not gotel's loss.
    let settle = |pipe: &Pipeline, want: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while pipe.spans_of(&exe).len() < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    round(0);
    settle(&pipe, 20);
    // Down across a whole round, then back.
    pipe.restart_collector(Duration::from_secs(2));
    round(100);
    settle(&pipe, 40);
    pipe.restart_collector(Duration::ZERO);
    round(200);
    let (_, logs) = gotel.stop();
    let count = |k: &str| common::stopped(&logs, k);
    assert_eq!(count("calls"), 60);
    let exported = count("exported_spans");
    let lost = count("export_failed_spans") + count("export_queue_dropped");
    assert_eq!(exported + lost, 60, "{}", logs.join("\n"));
    // What gotel counts exported, the collector wrote, each once.
    settle(&pipe, 60);
    let spans = pipe.spans_of(&exe);
    let mut ids: Vec<&str> = spans
        .iter()
        .map(|s| s["spanId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, exported, "{} spans written", spans.len());
    assert_eq!(spans.len() as u64, exported);
}

/// The walkthrough through the real pipeline: the demo app (no SDK) and
/// gotel → the collector → Jaeger. computeE's span in Jaeger has its
/// argument, a duration, handleE's span as parent and the demo's resource;
/// the collector's file holds the log records with the same ids; and with
/// `join_traces: false` nothing changes for an app with nothing to join.
#[test]
fn demo_compute_e_through_the_collector_into_jaeger() {
    let tc = toolchains().pop().unwrap();
    let pipe = Pipeline::start();
    let app = Target::demo(&tc, "jaeger", &[]);
    let (addr, pid) = (app.addr(), app.pid());
    let config = format!(
        "probes:\n  - function: main.computeE\n    target: {{ pid: {pid} }}\n  - function: main.handleE\n    args: [r.URL.RawQuery]\n    target: {{ pid: {pid} }}\n    join_traces: false\noutputs: [otlp, jsonl]\notlp:\n  endpoint: http://127.0.0.1:{}\n  protocol: grpc\n  batch_timeout_ms: 100\n",
        pipe.grpc
    );
    let gotel = Gotel::run(&config, 2);
    let body = http_get(&addr, "/e?iters=200");
    assert!(body.contains("e = 2.7182818"), "{body}");
    let (calls, _) = gotel.stop();
    let line = |probe: &str| {
        calls
            .iter()
            .find(|c| c["probe"] == probe)
            .unwrap_or_else(|| panic!("{probe} in {calls:#?}"))
    };
    let (handle, compute) = (line("main.handleE"), line("main.computeE"));
    let trace_id = handle["trace_id"].as_str().unwrap();
    let trace = pipe.trace(trace_id, 2);
    let handle_span = span_of(&trace, "main.handleE", None);
    let compute_span = span_of(&trace, "main.computeE", None);
    assert_eq!(handle_span["spanID"], handle["span_id"]);
    assert_eq!(compute_span["spanID"], compute["span_id"]);
    assert_eq!(parent(compute_span), handle["span_id"].as_str().unwrap());
    assert!(handle_span["references"].as_array().unwrap().is_empty());
    assert_eq!(
        tag(compute_span, "go.arg.iterations"),
        Some(Value::from(200))
    );
    assert_eq!(
        tag(handle_span, "go.arg.r.URL.RawQuery"),
        Some(Value::from("iters=200"))
    );
    // Jaeger keeps microseconds: the call's duration, to the microsecond.
    let micros = compute_span["duration"].as_u64().unwrap();
    let nanos = compute["duration_ns"].as_u64().unwrap();
    assert!(
        micros > 0 && (micros * 1000).abs_diff(nanos) < 2000,
        "{micros} µs, {nanos} ns"
    );
    assert_eq!(service(&trace, compute_span), "demo-jaeger");
    let process = &trace["processes"][compute_span["processID"].as_str().unwrap()];
    let pid_tag = process["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "process.pid")
        .map(|t| t["value"].clone());
    assert_eq!(pid_tag, Some(Value::from(pid)));
    let records = pipe.log_records();
    for (c, span) in [(handle, handle_span), (compute, compute_span)] {
        let record = &records[span["spanID"].as_str().unwrap()];
        assert_eq!(record["traceId"].as_str(), Some(trace_id));
        assert_eq!(record["spanId"], c["span_id"]);
    }
}
