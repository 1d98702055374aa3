//! Tests only: one call as OTLP `LogRecord` and `Span` message trees, the
//! way the exporter built them before it encoded calls directly
//! (`super::encode`). Kept as the reference the direct encoding must match
//! byte for byte: the tests encode these trees with prost and compare.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use std::sync::Arc;

use super::attributes::{int, string};
use super::resource::Resources;
use super::scope;
use crate::decode::GoValue;
use crate::export::{Call, Origin};

/// W3C trace flags: sampled. Every call is recorded.
const SAMPLED: u32 = 1;
/// Span flags bit: whether the parent is remote is known.
const HAS_IS_REMOTE: u32 = 0x100;
/// Span flags bit: the parent is remote (an incoming `traceparent`).
const IS_REMOTE: u32 = 0x200;

fn kv(key: impl Into<String>, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

/// How an uncapturable value reads in an attribute.
fn unavailable(why: &str) -> String {
    format!("<unavailable: {why}>")
}

/// A scalar's OTel value; None for values that flatten into several keys.
fn scalar(v: &GoValue) -> Option<any_value::Value> {
    use any_value::Value as V;
    Some(match v {
        // Attributes cannot be null; Go prints nil as `<nil>`.
        GoValue::Null => V::StringValue("<nil>".into()),
        GoValue::Bool(b) => V::BoolValue(*b),
        GoValue::Int(i) => V::IntValue(*i),
        // OTel integers are signed 64-bit: larger values keep their digits.
        GoValue::Uint(u) => match i64::try_from(*u) {
            Ok(i) => V::IntValue(i),
            Err(_) => V::StringValue(u.to_string()),
        },
        GoValue::Float(f) => V::DoubleValue(*f),
        GoValue::Pointer(p) => V::StringValue(format!("{p:#x}")),
        GoValue::Str { text, .. } => V::StringValue(text.clone()),
        GoValue::Interface(why) | GoValue::Unavailable(why) => V::StringValue(unavailable(why)),
        GoValue::Redacted(text) => V::StringValue(text.clone()),
        GoValue::Bytes { data, .. } => V::StringValue(bytes_text(data)),
        GoValue::Struct(_) | GoValue::Array(_) | GoValue::Seq { .. } | GoValue::Dynamic { .. } => {
            return None
        }
    })
}

/// `[]byte` as text when it is printable UTF-8, else as hex (like JSONL).
fn bytes_text(data: &[u8]) -> String {
    match crate::decode::printable(data) {
        Some(t) => t.to_string(),
        None => crate::export::hex(data),
    }
}

/// The elements as one homogeneous OTel array, when they allow it.
fn homogeneous(items: &[GoValue]) -> Option<any_value::Value> {
    use any_value::Value as V;
    let values: Vec<any_value::Value> = items
        .iter()
        .map(|v| match v {
            // nil/unavailable elements would break the single type.
            GoValue::Null | GoValue::Interface(_) | GoValue::Unavailable(_) => None,
            _ => scalar(v),
        })
        .collect::<Option<_>>()?;
    let same = values
        .windows(2)
        .all(|w| std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1]));
    same.then(|| {
        V::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    })
}

/// Appends `v` under `key`, flattened. A cut string, slice or `[]byte` also
/// gets `<key>.length` (its length in the program) and `<key>.truncated`.
fn flatten_owned(key: String, v: &GoValue, out: &mut Vec<KeyValue>) {
    let cut = |out: &mut Vec<KeyValue>, key: &str, len: u64| {
        out.push(int(
            format!("{key}.length"),
            len.min(i64::MAX as u64) as i64,
        ));
        out.push(kv(
            format!("{key}.truncated"),
            any_value::Value::BoolValue(true),
        ));
    };
    match v {
        GoValue::Struct(fields) => {
            for (name, f) in fields {
                flatten_owned(format!("{key}.{name}"), f, out);
            }
        }
        GoValue::Array(items) => elements(key, items, out),
        // An interface: its value under the key, its dynamic type beside it
        // (`type` cannot be a Go field name, so no struct field collides).
        GoValue::Dynamic { ty, value } => {
            let type_key = format!("{key}.type");
            flatten_owned(key, value, out);
            out.push(string(type_key, ty));
        }
        GoValue::Seq { items, len, .. } => {
            let cut_at = ((items.len() as u64) < *len).then(|| key.clone());
            elements(key, items, out);
            if let Some(key) = cut_at {
                cut(out, &key, *len);
            }
        }
        GoValue::Str {
            len,
            truncated: true,
            ..
        } => {
            out.push(kv(key.clone(), scalar(v).expect("a string is a scalar")));
            cut(out, &key, *len);
        }
        GoValue::Bytes { data, len } if (data.len() as u64) < *len => {
            out.push(kv(key.clone(), scalar(v).expect("bytes are a scalar")));
            cut(out, &key, *len);
        }
        _ => out.push(kv(key, scalar(v).expect("composites handled above"))),
    }
}

fn elements(key: String, items: &[GoValue], out: &mut Vec<KeyValue>) {
    match homogeneous(items) {
        Some(a) => out.push(kv(key, a)),
        None => {
            for (i, item) in items.iter().enumerate() {
                flatten_owned(format!("{key}.{i}"), item, out);
            }
        }
    }
}

/// The attributes a call's log record and span share.
pub fn call_attributes(call: &Call) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(6 + call.args.len() + call.returns.len());
    out.push(string("code.function.name", &call.function));
    out.push(string("gotel.probe", &call.probe));
    out.push(int("go.goroutine.id", call.goroutine as i64));
    out.push(int("thread.id", i64::from(call.tid)));
    if let Some(at) = &call.inlined_at {
        out.push(string("go.inlined_at", at));
    }
    // An unnamed value stands for a whole list DWARF does not give.
    let key = |list: &str, name: &str| match name {
        "" => format!("{list}.unavailable"),
        _ => format!("{list}.{name}"),
    };
    for (name, v) in &call.args {
        flatten_owned(key("go.arg", name), v, &mut out);
    }
    for (name, v) in &call.returns {
        flatten_owned(key("go.ret", name), v, &mut out);
    }
    if let Some(d) = call.duration_ns {
        out.push(int("go.duration_ns", d.min(i64::MAX as u64) as i64));
    }
    if call.panicked {
        out.push(kv("go.panicked", any_value::Value::BoolValue(true)));
    }
    if let Some(u) = call.unfinished {
        out.push(string("go.unfinished", u.reason()));
    }
    if let Some(st) = &call.stack {
        out.push(string("gotel.stack.id", st.id_hex()));
        if st.truncated {
            out.push(kv(
                "gotel.stack.truncated",
                any_value::Value::BoolValue(true),
            ));
        }
        if let Some(why) = st.broken {
            out.push(string("gotel.stack.broken", why));
        }
    }
    out
}

/// Why the call failed, if it did.
fn failure(call: &Call) -> Option<String> {
    if call.panicked {
        return Some(match call.unfinished {
            Some(_) => {
                "a panic began on its goroutine and the process ended before the call returned"
                    .into()
            }
            None => "unwound by a panic (recovered by a caller)".into(),
        });
    }
    call.error.clone()
}

/// The call's log record: INFO, or WARN for an error result or a panic;
/// stamped with the call's start, linked to its span.
pub fn log_record(call: &Call, attributes: Vec<KeyValue>, observed_unix_nano: u64) -> LogRecord {
    let (severity, text) = match failure(call) {
        Some(_) => (SeverityNumber::Warn, "WARN"),
        None => (SeverityNumber::Info, "INFO"),
    };
    LogRecord {
        time_unix_nano: call.start_time_unix_nano,
        observed_time_unix_nano: observed_unix_nano,
        severity_number: severity as i32,
        severity_text: text.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(call.summary())),
        }),
        attributes,
        dropped_attributes_count: 0,
        flags: SAMPLED,
        trace_id: call.trace.trace_id.to_vec(),
        span_id: call.trace.span_id.to_vec(),
        event_name: String::new(),
    }
}

/// The call's span, from its real start to its return. A call unwound by a
/// panic has no observed end: its span ends when the record that proved it
/// unwound was taken (an upper bound), status Error.
pub fn span(call: &Call, attributes: Vec<KeyValue>) -> Span {
    let end = match (call.duration_ns, call.ended_by_unix_nano) {
        (Some(d), _) => call.start_time_unix_nano + d,
        (None, Some(t)) => t.max(call.start_time_unix_nano),
        (None, None) => call.start_time_unix_nano,
    };
    let status = failure(call).map(|message| Status {
        message,
        code: status::StatusCode::Error as i32,
    });
    Span {
        trace_id: call.trace.trace_id.to_vec(),
        span_id: call.trace.span_id.to_vec(),
        trace_state: String::new(),
        parent_span_id: call
            .trace
            .parent_span_id
            .map(|p| p.to_vec())
            .unwrap_or_default(),
        flags: SAMPLED
            | HAS_IS_REMOTE
            | if call.trace.remote_parent {
                IS_REMOTE
            } else {
                0
            },
        name: call.probe.clone(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: call.start_time_unix_nano,
        end_time_unix_nano: end,
        attributes,
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
    }
}

/// The batch as an ExportLogsServiceRequest and an
/// ExportTraceServiceRequest, with one ResourceLogs/ResourceSpans per
/// traced process.
pub fn requests(
    calls: &[Call],
    resources: &Resources,
    observed: u64,
) -> (ExportLogsServiceRequest, ExportTraceServiceRequest) {
    let mut groups: Vec<(&Arc<Origin>, Vec<_>, Vec<_>)> = Vec::new();
    let mut sent = std::collections::HashSet::new();
    for c in calls {
        let i = match groups
            .iter()
            .position(|(o, _, _)| Arc::ptr_eq(o, &c.origin) || ***o == *c.origin)
        {
            Some(i) => i,
            None => {
                groups.push((&c.origin, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        let attrs = call_attributes(c);
        // A stack's frames go with the batch's first call from its path.
        let first = c.stack.as_deref().filter(|st| sent.insert(st.id));
        let mut log_attrs = attrs.clone();
        log_attrs.extend(first.map(|st| string("code.stacktrace", st.text())));
        groups[i].1.push(log_record(c, log_attrs, observed));
        let mut sp = span(c, attrs);
        sp.events.extend(first.map(|st| span::Event {
            time_unix_nano: c.start_time_unix_nano,
            name: "gotel.stack".into(),
            attributes: vec![
                string("code.stacktrace", st.text()),
                string("gotel.stack.id", st.id_hex()),
            ],
            dropped_attributes_count: 0,
        }));
        groups[i].2.push(sp);
    }
    let mut resource_logs = Vec::new();
    let mut resource_spans = Vec::new();
    for (origin, l, s) in groups {
        let resource = resources.for_process(origin);
        resource_logs.push(ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: l,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
        resource_spans.push(ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: s,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    (
        ExportLogsServiceRequest { resource_logs },
        ExportTraceServiceRequest { resource_spans },
    )
}
