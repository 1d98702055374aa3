//! A batch of calls straight into the bytes of its OTLP requests: each call
//! as one LogRecord and one Span, grouped into one ResourceLogs and
//! ResourceSpans per traced process.
//!
//! Why not prost messages: as `Export*ServiceRequest` trees, a call cost
//! ~60 allocations (every key, value, id and name owned, the attributes
//! cloned for the second signal, the tree cloned again into the gRPC
//! request) and prost walked each tree's lengths once per nesting level.
//! Here each call's attributes are encoded once into reused buffers and
//! copied into both records, with prost's encoding helpers, in the order
//! and with the proto3 defaults left out as prost writes the same messages;
//! the tests compare the bytes with prost's encoding of the trees
//! `reference.rs` builds as the exporter did before.

use std::sync::Arc;

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::encoding::{encode_key, encode_varint, fixed32, fixed64, int32, WireType};
use prost::Message;

use super::attributes::{
    delimited_len, put_delimited, put_string_attr, Attributes, ANY_STRING, STACKTRACE, STACK_EVENT,
    STACK_ID,
};
use super::buffers::Pool;
use super::client::Payload;
use super::resource::Resources;
use super::settings::Signal;
use crate::decode::Stack;
use crate::export::Call;

/// W3C trace flags: sampled. Every call is recorded.
const SAMPLED: u32 = 1;
/// Span flags bit: whether the parent is remote is known.
const HAS_IS_REMOTE: u32 = 0x100;
/// Span flags bit: the parent is remote (an incoming `traceparent`).
const IS_REMOTE: u32 = 0x200;

// Field numbers of opentelemetry/proto: collector/{logs,trace}/v1 (the
// requests), logs/v1/logs.proto and trace/v1/trace.proto.
/// `Export{Logs,Trace}ServiceRequest.resource_{logs,spans}`.
const REQUEST_RESOURCES: u32 = 1;
/// `Resource{Logs,Spans}.resource`.
const RESOURCE: u32 = 1;
/// `Resource{Logs,Spans}.scope_{logs,spans}`.
const RESOURCE_SCOPES: u32 = 2;
/// `Scope{Logs,Spans}.scope`.
const SCOPE: u32 = 1;
/// `ScopeLogs.log_records`, `ScopeSpans.spans`.
const SCOPE_ITEMS: u32 = 2;

/// `LogRecord`'s fields.
mod log {
    pub const TIME: u32 = 1;
    pub const SEVERITY_NUMBER: u32 = 2;
    pub const SEVERITY_TEXT: u32 = 3;
    pub const BODY: u32 = 5;
    pub const ATTRIBUTES: u32 = 6;
    pub const FLAGS: u32 = 8;
    pub const TRACE_ID: u32 = 9;
    pub const SPAN_ID: u32 = 10;
    pub const OBSERVED_TIME: u32 = 11;
}

/// `Span`'s and `Status`'s fields.
mod span {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START: u32 = 7;
    pub const END: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const EVENTS: u32 = 11;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
    pub const EVENT_TIME: u32 = 1;
    pub const EVENT_NAME: u32 = 2;
    pub const EVENT_ATTRIBUTES: u32 = 3;
}

/// One traced process's records in a batch.
#[derive(Default)]
struct Group {
    /// Its first call, whose origin stands for the group.
    first: usize,
    /// Its `Resource`, encoded.
    resource: Vec<u8>,
    /// Its log records and spans, each as a tagged `Scope*.{log_records,spans}`
    /// item, after `head` bytes left for what comes before them in a
    /// request: a lone group's buffer becomes the request (no copy).
    logs: Vec<u8>,
    spans: Vec<u8>,
    head: usize,
}

/// gRPC's prefix of a message: a compressed flag and the length (u32, big
/// endian). The requests are built after it, so that the gRPC client sends
/// the very bytes the encoder wrote (`client::Payload`).
pub const GRPC_PREFIX: usize = 5;

/// gRPC's prefix of a message of `len` bytes (as sent: compressed or not).
pub fn grpc_prefix(compressed: bool, len: usize) -> [u8; GRPC_PREFIX] {
    let len = u32::try_from(len).expect("requests are split far below 4 GiB");
    let mut p = [u8::from(compressed); GRPC_PREFIX];
    p[1..].copy_from_slice(&len.to_be_bytes());
    p
}

/// Encodes batches; its buffers are kept from batch to batch.
pub struct Encoder {
    attrs: Attributes,
    summary: String,
    groups: Vec<Group>,
    used: usize,
    /// gotel's `InstrumentationScope`, encoded once.
    scope: Vec<u8>,
    /// Bytes per call in the last logs and traces requests: the next
    /// request's buffer is allocated at its size rather than grown.
    per_call: [usize; 2],
    /// The stacks whose frames this batch has sent: later calls from the
    /// same path carry only its id.
    stacks_sent: std::collections::HashSet<u64>,
    /// Scratch: a stack's text and its span event.
    stack_text: String,
    event: Vec<u8>,
    /// Scratch: what precedes a group's records in a request.
    head: Vec<u8>,
    /// The request buffers, back from the deliveries.
    pool: Arc<Pool>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(Pool::new())
    }
}

impl Encoder {
    /// An encoder whose request buffers come from (and go back to) `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        Encoder {
            attrs: Attributes::default(),
            summary: String::new(),
            groups: Vec::new(),
            used: 0,
            scope: super::scope().encode_to_vec(),
            per_call: [0; 2],
            stacks_sent: Default::default(),
            stack_text: String::new(),
            event: Vec::new(),
            head: Vec::new(),
            pool,
        }
    }

    /// The pool of request buffers.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The batch as an ExportLogsServiceRequest (when `logs`) and an
    /// ExportTraceServiceRequest (when `traces`), with one
    /// ResourceLogs/ResourceSpans per traced process, in the order of
    /// their first calls.
    pub fn requests(
        &mut self,
        calls: &[Call],
        resources: &Resources,
        logs: bool,
        traces: bool,
        observed_unix_nano: u64,
    ) -> Vec<Payload> {
        self.used = 0;
        self.stacks_sent.clear();
        for (i, c) in calls.iter().enumerate() {
            let g = self.group(calls, i, resources, (logs, traces));
            self.attrs.encode(c);
            // A stack's frames, the first time this batch meets it.
            let stack = c
                .stack
                .as_deref()
                .filter(|st| self.stacks_sent.insert(st.id));
            if let Some(st) = stack {
                self.stack_text = st.text();
                stack_event(c, st, &self.stack_text, &mut self.event);
            }
            let text = stack.map(|_| self.stack_text.as_str());
            if logs {
                self.summary.clear();
                // Writing to a String cannot fail.
                let _ = c.write_summary(&mut self.summary);
                put_item(&mut self.groups[g].logs, |out| {
                    log_record(
                        c,
                        (&self.attrs, text),
                        &self.summary,
                        observed_unix_nano,
                        out,
                    )
                });
            }
            if traces {
                let event = stack.map(|_| self.event.as_slice());
                put_item(&mut self.groups[g].spans, |out| {
                    span(c, (&self.attrs, event), out)
                });
            }
        }
        let mut out = Vec::with_capacity(2);
        if logs {
            out.push(self.request(Signal::Logs, calls.len()));
        }
        if traces {
            out.push(self.request(Signal::Traces, calls.len()));
        }
        out
    }

    /// The group of `calls[i]`'s process: another attachment of the same
    /// process has an equal origin, not the same `Arc`. A new group gets
    /// its resource and, for each signal sent, a buffer sized for the
    /// rest of the batch.
    fn group(
        &mut self,
        calls: &[Call],
        i: usize,
        resources: &Resources,
        (logs, traces): (bool, bool),
    ) -> usize {
        let origin = &calls[i].origin;
        let found = self.groups[..self.used].iter().position(|g| {
            let o = &calls[g.first].origin;
            std::sync::Arc::ptr_eq(o, origin) || **o == **origin
        });
        if let Some(g) = found {
            return g;
        }
        if self.used == self.groups.len() {
            self.groups.push(Group::default());
        }
        let g = &mut self.groups[self.used];
        g.first = i;
        g.resource.clear();
        let resource = resources.for_process(origin);
        resource.encode(&mut g.resource).expect("a Vec grows");
        // The request's field, the group's, its resource, its scope's
        // field and the scope: lengths up to 5 bytes (a u32's varint).
        g.head = GRPC_PREFIX
            + 1
            + 5
            + delimited_len(RESOURCE, g.resource.len())
            + 1
            + 5
            + delimited_len(SCOPE, self.scope.len());
        let rest = calls.len() - i;
        for (on, slot, buf) in [(logs, 0, &mut g.logs), (traces, 1, &mut g.spans)] {
            if !on {
                self.pool.give(std::mem::take(buf));
                continue;
            }
            // A group's buffer stays its own from batch to batch unless it
            // went out as the request (one group): then one from the pool.
            if buf.capacity() == 0 {
                *buf = self.pool.take();
            }
            buf.clear();
            let guess = self.per_call[slot] + self.per_call[slot] / 8;
            buf.reserve(g.head + guess * rest);
            buf.resize(g.head, 0);
        }
        self.used += 1;
        self.used - 1
    }

    /// What precedes group `g`'s `items` bytes of records in a request:
    /// the request's `resource_{logs,spans}` field, then the group's
    /// resource and its scope's field, up to the records.
    fn head(&mut self, g: usize, items: usize) {
        let (g, out) = (&self.groups[g], &mut self.head);
        out.clear();
        let scope_len = delimited_len(SCOPE, self.scope.len()) + items;
        let resource_len =
            delimited_len(RESOURCE, g.resource.len()) + delimited_len(RESOURCE_SCOPES, scope_len);
        encode_key(REQUEST_RESOURCES, WireType::LengthDelimited, out);
        encode_varint(resource_len as u64, out);
        put_delimited(RESOURCE, &g.resource, out);
        encode_key(RESOURCE_SCOPES, WireType::LengthDelimited, out);
        encode_varint(scope_len as u64, out);
        put_delimited(SCOPE, &self.scope, out);
    }

    /// One signal's request from the groups' records, after gRPC's prefix.
    /// One group: its buffer, the head written just before its records.
    /// More: their heads and records copied into a new buffer.
    fn request(&mut self, signal: Signal, calls: usize) -> Payload {
        let slot = usize::from(signal == Signal::Traces);
        fn items(g: &mut Group, signal: Signal) -> &mut Vec<u8> {
            match signal {
                Signal::Logs => &mut g.logs,
                _ => &mut g.spans,
            }
        }
        let (mut buf, start) = if self.used == 1 {
            let g = &mut self.groups[0];
            let head = g.head;
            let mut buf = std::mem::take(items(g, signal));
            self.head(0, buf.len() - head);
            let start = head - self.head.len() - GRPC_PREFIX;
            buf[start + GRPC_PREFIX..head].copy_from_slice(&self.head);
            (buf, start)
        } else {
            let len: usize = self.groups[..self.used]
                .iter_mut()
                .map(|g| g.head + items(g, signal).len())
                .sum();
            let mut buf = self.pool.take();
            buf.reserve(len);
            buf.resize(GRPC_PREFIX, 0);
            for i in 0..self.used {
                let g = &mut self.groups[i];
                let (head, records) = (g.head, std::mem::take(items(g, signal)));
                self.head(i, records.len() - head);
                buf.extend_from_slice(&self.head);
                buf.extend_from_slice(&records[head..]);
                // Kept by the group for the next batch (copied, not sent).
                *items(&mut self.groups[i], signal) = records;
            }
            (buf, 0)
        };
        let len = buf.len() - start - GRPC_PREFIX;
        buf[start..start + GRPC_PREFIX].copy_from_slice(&grpc_prefix(false, len));
        self.per_call[slot] = len / calls.max(1);
        Payload::framed(signal, self.pool.freeze(buf, start))
    }
}

/// Appends a `Scope*.{log_records,spans}` item whose message `write`
/// appends in place, not built apart and copied: two bytes are left for
/// its length (a record of 128 B to 16 KiB), and a record of another size
/// is moved once to fit its length.
fn put_item(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    encode_key(SCOPE_ITEMS, WireType::LengthDelimited, out);
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    write(out);
    let len = out.len() - at - 2;
    let mut varint = [0u8; 10];
    let mut rest = &mut varint[..];
    encode_varint(len as u64, &mut rest);
    let n = 10 - rest.len();
    if n == 2 {
        out[at..at + 2].copy_from_slice(&varint[..2]);
    } else {
        out.splice(at..at + 2, varint[..n].iter().copied());
    }
}

/// Why the call failed, if it did.
fn failure(call: &Call) -> Option<&str> {
    if call.panicked {
        return Some(match call.unfinished {
            Some(_) => {
                "a panic began on its goroutine and the process ended before the call returned"
            }
            None => "unwound by a panic (recovered by a caller)",
        });
    }
    call.error.as_deref()
}

/// The call's `LogRecord` appended to `out`: INFO, or WARN for an error result or
/// a panic; stamped with the call's start, linked to its span. proto3
/// leaves zero numbers and empty strings out.
/// `stack`: the call's stack as text, when this record is the batch's
/// first of it (`code.stacktrace`, after the shared attributes).
fn log_record(
    call: &Call,
    (attrs, stack): (&Attributes, Option<&str>),
    summary: &str,
    observed: u64,
    out: &mut Vec<u8>,
) {
    let (severity, text) = match failure(call) {
        Some(_) => (SeverityNumber::Warn, "WARN"),
        None => (SeverityNumber::Info, "INFO"),
    };
    if call.start_time_unix_nano != 0 {
        fixed64::encode(log::TIME, &call.start_time_unix_nano, out);
    }
    int32::encode(log::SEVERITY_NUMBER, &(severity as i32), out);
    put_delimited(log::SEVERITY_TEXT, text.as_bytes(), out);
    // The body: an AnyValue holding the one-line summary.
    encode_key(log::BODY, WireType::LengthDelimited, out);
    encode_varint(delimited_len(ANY_STRING, summary.len()) as u64, out);
    put_delimited(ANY_STRING, summary.as_bytes(), out);
    attrs.put(log::ATTRIBUTES, out);
    if let Some(text) = stack {
        put_string_attr(log::ATTRIBUTES, STACKTRACE, text, out);
    }
    fixed32::encode(log::FLAGS, &SAMPLED, out);
    put_delimited(log::TRACE_ID, &call.trace.trace_id, out);
    put_delimited(log::SPAN_ID, &call.trace.span_id, out);
    if observed != 0 {
        fixed64::encode(log::OBSERVED_TIME, &observed, out);
    }
}

/// The call's `Span` appended to `out`, from its real start to its return. A call
/// unwound by a panic has no observed end: its span ends when the record
/// that proved it unwound was taken (an upper bound), status Error.
/// `event`: the encoded `gotel.stack` event, when this span is the
/// batch's first of the call's stack.
fn span(call: &Call, (attrs, event): (&Attributes, Option<&[u8]>), out: &mut Vec<u8>) {
    let start = call.start_time_unix_nano;
    let end = match (call.duration_ns, call.ended_by_unix_nano) {
        (Some(d), _) => start + d,
        (None, Some(t)) => t.max(start),
        (None, None) => start,
    };
    put_delimited(span::TRACE_ID, &call.trace.trace_id, out);
    put_delimited(span::SPAN_ID, &call.trace.span_id, out);
    if let Some(p) = &call.trace.parent_span_id {
        put_delimited(span::PARENT_SPAN_ID, p, out);
    }
    if !call.probe.is_empty() {
        put_delimited(span::NAME, call.probe.as_bytes(), out);
    }
    int32::encode(span::KIND, &(SpanKind::Internal as i32), out);
    if start != 0 {
        fixed64::encode(span::START, &start, out);
    }
    if end != 0 {
        fixed64::encode(span::END, &end, out);
    }
    attrs.put(span::ATTRIBUTES, out);
    if let Some(e) = event {
        put_delimited(span::EVENTS, e, out);
    }
    if let Some(message) = failure(call) {
        let code = StatusCode::Error as i32;
        let message_len = match message.len() {
            0 => 0,
            n => delimited_len(span::STATUS_MESSAGE, n),
        };
        encode_key(span::STATUS, WireType::LengthDelimited, out);
        encode_varint(
            (message_len + int32::encoded_len(span::STATUS_CODE, &code)) as u64,
            out,
        );
        if !message.is_empty() {
            put_delimited(span::STATUS_MESSAGE, message.as_bytes(), out);
        }
        int32::encode(span::STATUS_CODE, &code, out);
    }
    let remote = if call.trace.remote_parent {
        IS_REMOTE
    } else {
        0
    };
    fixed32::encode(span::FLAGS, &(SAMPLED | HAS_IS_REMOTE | remote), out);
}

/// The span event `gotel.stack` (an `Event`'s fields, untagged) into
/// `out`: at the call's start, when the stack was read, with the frames
/// (`code.stacktrace`) and the path's id.
fn stack_event(call: &Call, st: &Stack, text: &str, out: &mut Vec<u8>) {
    out.clear();
    if call.start_time_unix_nano != 0 {
        fixed64::encode(span::EVENT_TIME, &call.start_time_unix_nano, out);
    }
    put_delimited(span::EVENT_NAME, STACK_EVENT.as_bytes(), out);
    put_string_attr(span::EVENT_ATTRIBUTES, STACKTRACE, text, out);
    put_string_attr(span::EVENT_ATTRIBUTES, STACK_ID, &st.id_hex(), out);
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
