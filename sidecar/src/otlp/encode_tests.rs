//! The direct encoding against prost's encoding of the message trees the
//! exporter built before (`reference.rs`): the same bytes.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::*;
use crate::config::OtlpConfig;
use crate::decode::GoValue;
use crate::export::{Origin, TraceIds, Unfinished};
use crate::otlp::reference;
use crate::otlp::settings::Settings;

fn resources() -> Resources {
    let settings = Settings::resolve(&OtlpConfig::default(), &|_| None).unwrap();
    Resources::new(&settings)
}

fn call(origin: &Arc<Origin>, n: i64) -> Call {
    Call {
        pid: origin.pid,
        args: vec![("n".into(), GoValue::Int(n))],
        origin: origin.clone(),
        ..Call::sample()
    }
}

fn s(t: &str) -> GoValue {
    GoValue::Str {
        text: t.into(),
        len: t.len() as u64,
        truncated: false,
    }
}

/// Every kind of Go value, nested in a few ways.
fn every_value() -> Vec<(String, GoValue)> {
    let ints = |v: Vec<i64>| v.into_iter().map(GoValue::Int).collect::<Vec<_>>();
    vec![
        ("null".into(), GoValue::Null),
        ("t".into(), GoValue::Bool(true)),
        ("f".into(), GoValue::Bool(false)),
        ("zero".into(), GoValue::Int(0)),
        ("neg".into(), GoValue::Int(-300)),
        ("u".into(), GoValue::Uint(7)),
        ("big".into(), GoValue::Uint(u64::MAX)),
        ("x".into(), GoValue::Float(-0.0)),
        ("pi".into(), GoValue::Float(3.25)),
        ("p".into(), GoValue::Pointer(0xc000012345)),
        ("empty".into(), s("")),
        (
            "cut".into(),
            GoValue::Str {
                text: "ab".into(),
                len: 300,
                truncated: true,
            },
        ),
        (
            "st".into(),
            GoValue::Struct(vec![
                ("Name".into(), s("ann")),
                ("".into(), GoValue::Int(1)),
                (
                    "Inner".into(),
                    GoValue::Struct(vec![("N".into(), GoValue::Uint(1 << 63))]),
                ),
            ]),
        ),
        ("arr".into(), GoValue::Array(ints(vec![1, 2, 3]))),
        ("none".into(), GoValue::Array(vec![])),
        (
            "mixed".into(),
            GoValue::Array(vec![s("a"), GoValue::Int(1), GoValue::Null]),
        ),
        (
            "uints".into(),
            GoValue::Array(vec![GoValue::Uint(1), GoValue::Uint(u64::MAX)]),
        ),
        (
            "ptrs".into(),
            GoValue::Array(vec![GoValue::Pointer(1), s("x")]),
        ),
        (
            "seq".into(),
            GoValue::Seq {
                items: vec![
                    GoValue::Struct(vec![("SKU".into(), s("a")), ("Q".into(), GoValue::Int(1))]),
                    GoValue::Struct(vec![("SKU".into(), s("b")), ("Q".into(), GoValue::Int(2))]),
                ],
                len: 9,
                cap: Some(16),
            },
        ),
        (
            "floats".into(),
            GoValue::Seq {
                items: vec![GoValue::Float(1.5), GoValue::Float(0.0)],
                len: 2,
                cap: None,
            },
        ),
        ("iface".into(), GoValue::Interface("no type".into())),
        (
            "dyn".into(),
            GoValue::Dynamic {
                ty: "*main.T".into(),
                value: Box::new(GoValue::Struct(vec![("X".into(), GoValue::Int(1))])),
            },
        ),
        (
            "text".into(),
            GoValue::Bytes {
                data: b"hi\n".to_vec(),
                len: 3,
            },
        ),
        (
            "bin".into(),
            GoValue::Bytes {
                data: vec![0, 1, 0xff],
                len: 10,
            },
        ),
        ("gone".into(), GoValue::Unavailable("paged out".into())),
        ("secret".into(), GoValue::Redacted("[redacted]".into())),
        ("long".into(), s(&"x".repeat(300))),
    ]
}

/// Calls that take every path of the mapping, in two processes.
fn calls() -> Vec<Call> {
    let a = Arc::new(Origin {
        pid: 10,
        exe: "/srv/a".into(),
        go_version: Some("go1.22.1".into()),
        ..Default::default()
    });
    let b = Arc::new(Origin {
        pid: 20,
        exe: "/b".into(),
        env: vec![("POD_NAME".into(), "web-0".into())],
        ..Default::default()
    });
    let base = call(&a, 1);
    let values = Call {
        args: every_value(),
        returns: vec![
            ("r0".into(), GoValue::Int(0)),
            ("err".into(), GoValue::Null),
        ],
        trace: TraceIds::child_of(&base.trace),
        ..base.clone()
    };
    // Joined under another process's span (an incoming traceparent).
    let remote = Call {
        trace: TraceIds::under_app([7; 16], [8; 8], true),
        ..base.clone()
    };
    vec![
        base.clone(),
        values,
        remote,
        Call {
            error: Some("boom".into()),
            origin: b.clone(),
            ..call(&b, 2)
        },
        Call {
            error: Some(String::new()),
            ..call(&b, 3)
        },
        Call {
            duration_ns: None,
            panicked: true,
            ended_by_unix_nano: Some(0),
            ..call(&a, 4)
        },
        Call {
            duration_ns: None,
            panicked: true,
            unfinished: Some(Unfinished::ProcessEnded),
            ended_by_unix_nano: Some(99),
            ..call(&a, 5)
        },
        Call {
            duration_ns: None,
            unfinished: Some(Unfinished::Goexit),
            start_time_unix_nano: 0,
            ..call(&a, 6)
        },
        Call {
            probe: String::new(),
            args: vec![("".into(), GoValue::Unavailable("lost".into()))],
            returns: vec![("".into(), GoValue::Unavailable("lost".into()))],
            duration_ns: Some(u64::MAX / 2),
            goroutine: u64::MAX,
            trace: TraceIds::default(),
            // Another attachment of the first process: equal, not the same Arc.
            origin: Arc::new((*a).clone()),
            ..base.clone()
        },
        // Two calls from one path (its frames sent once), and another path,
        // cut at its depth.
        Call {
            stack: Some(stack(false)),
            ..call(&a, 7)
        },
        Call {
            stack: Some(stack(false)),
            ..call(&b, 8)
        },
        Call {
            stack: Some(stack(true)),
            start_time_unix_nano: 0,
            ..call(&a, 9)
        },
        // A walk a bad frame pointer stopped.
        Call {
            stack: Some(Arc::new(crate::decode::Stack {
                id: 0xbad,
                broken: Some("a frame could not be read"),
                ..(*stack(false)).clone()
            })),
            ..call(&b, 10)
        },
    ]
}

/// A stack of two frames, or of one, truncated.
fn stack(truncated: bool) -> Arc<crate::decode::Stack> {
    use crate::decode::{Frame, Stack};
    let frame = |f: &str, offset| Frame {
        function: f.into(),
        offset,
        source: Some(("/src/main.go".into(), offset as u32)),
    };
    let frames = match truncated {
        false => vec![frame("main.b", 0x1d), frame("main.a", 0x2a)],
        true => vec![frame("main.b", 0x1d)],
    };
    Arc::new(Stack {
        id: if truncated { 0xfeed } else { 0xabc },
        frames,
        truncated,
        broken: None,
    })
}

#[test]
fn requests_are_the_bytes_prost_gives_the_message_trees() {
    let calls = calls();
    let resources = resources();
    let (logs, traces) = reference::requests(&calls, &resources, 1234);
    let mut enc = Encoder::default();
    // Twice: buffers kept from the first batch must not leak into the second.
    for _ in 0..2 {
        let out = enc.requests(&calls, &resources, true, true, 1234);
        let [l, t] = &out[..] else { panic!("{out:?}") };
        assert_eq!((l.signal, t.signal), (Signal::Logs, Signal::Traces));
        assert_eq!(ExportLogsServiceRequest::decode(l.body()).unwrap(), logs);
        assert_eq!(ExportTraceServiceRequest::decode(t.body()).unwrap(), traces);
        assert_eq!(l.body(), logs.encode_to_vec());
        assert_eq!(t.body(), traces.encode_to_vec());
    }
    // Each stack's frames once per batch, on the first call from its path
    // (log attribute and span event); its id on every call.
    let out = enc.requests(&calls, &resources, true, true, 0);
    let logs = ExportLogsServiceRequest::decode(out[0].body()).unwrap();
    let traces = ExportTraceServiceRequest::decode(out[1].body()).unwrap();
    let records: Vec<_> = logs
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs[0].log_records)
        .collect();
    let has = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], k: &str| {
        attrs.iter().filter(|a| a.key == k).count()
    };
    let texts: usize = records
        .iter()
        .map(|r| has(&r.attributes, "code.stacktrace"))
        .sum();
    let ids: usize = records
        .iter()
        .map(|r| has(&r.attributes, "gotel.stack.id"))
        .sum();
    assert_eq!((texts, ids), (3, 4));
    let events: Vec<_> = traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans[0].spans)
        .flat_map(|s| &s.events)
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].name, "gotel.stack");
    let text = &events[0].attributes[0].value.as_ref().unwrap().value;
    assert_eq!(
        text,
        &Some(Value::StringValue(
            "main.b+0x1d (/src/main.go:29)\nmain.a+0x2a (/src/main.go:42)".into()
        ))
    );
    // Call by call, and a smaller batch after a larger one.
    for c in calls.chunks(1) {
        let (logs, traces) = reference::requests(c, &resources, 0);
        let out = enc.requests(c, &resources, true, true, 0);
        assert_eq!(out[0].body(), logs.encode_to_vec());
        assert_eq!(out[1].body(), traces.encode_to_vec());
    }
}

#[test]
fn one_resource_per_traced_process() {
    let a = Arc::new(Origin {
        pid: 10,
        exe: "/a".into(),
        ..Default::default()
    });
    // Another attachment of the same process: equal, not the same Arc.
    let a2 = Arc::new((*a).clone());
    let b = Arc::new(Origin {
        pid: 20,
        exe: "/b".into(),
        ..Default::default()
    });
    let calls = [call(&a, 1), call(&b, 2), call(&a2, 3)];
    let mut enc = Encoder::default();
    let out = enc.requests(&calls, &resources(), true, true, 1);
    let [logs, traces] = &out[..] else {
        panic!("{out:?}");
    };
    let traces = ExportTraceServiceRequest::decode(traces.body()).unwrap();
    let logs = ExportLogsServiceRequest::decode(logs.body()).unwrap();
    let per_pid: Vec<(Option<Value>, usize)> = traces
        .resource_spans
        .iter()
        .map(|rs| {
            let pid = rs
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .find(|kv| kv.key == "process.pid")
                .and_then(|kv| kv.value.clone()?.value);
            (pid, rs.scope_spans[0].spans.len())
        })
        .collect();
    assert_eq!(
        per_pid,
        [
            (Some(Value::IntValue(10)), 2),
            (Some(Value::IntValue(20)), 1)
        ]
    );
    assert_eq!(logs.resource_logs.len(), 2);
    assert_eq!(logs.resource_logs[0].scope_logs[0].log_records.len(), 2);
    // Spans only: no log request at all.
    let out = enc.requests(&calls, &resources(), false, true, 1);
    assert!(matches!(&out[..], [p] if p.signal == Signal::Traces));
}

#[test]
fn records_of_every_length_class_are_the_bytes_prost_gives() {
    // Records are written in place with two bytes for their length: one
    // of under 128 bytes and ones over 16 KiB move to fit theirs.
    let a = Arc::new(Origin::default());
    let mut tiny = call(&a, 1);
    (tiny.probe, tiny.function, tiny.args) = (String::new(), String::new(), vec![]);
    (tiny.duration_ns, tiny.start_time_unix_nano) = (None, 0);
    let mut big = call(&a, 2);
    big.args.push(("s".into(), s(&"x".repeat(20_000))));
    let mut huge = call(&a, 3);
    huge.args.push(("s".into(), s(&"y".repeat(3_000_000))));
    let calls = [tiny, call(&a, 4), big, huge];
    let resources = resources();
    let (logs, traces) = reference::requests(&calls, &resources, 0);
    let out = Encoder::default().requests(&calls, &resources, true, true, 0);
    assert_eq!(out[0].body(), logs.encode_to_vec());
    assert_eq!(out[1].body(), traces.encode_to_vec());
}
