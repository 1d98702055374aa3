//! Joining the application's traces: which argument carries a
//! `context.Context`, and how the BPF program steps through the dynamic
//! types a context chain can meet to the OpenTelemetry Go SDK's span —
//! all from DWARF, no offsets database. A pure function of the binary.
//!
//! A chain is a linked list of interfaces: `WithValue` contexts hold
//! {parent, key, val}, cancel and timer contexts their parent, and the
//! SDK keeps the current span under `trace.currentSpanKey`, a
//! `traceContextKeyType` of value 0, as a `trace.Span` whose concrete
//! type holds a `trace.SpanContext` (`sdk/trace.recordingSpan`,
//! `trace.nonRecordingSpan` for remote parents, others alike).

use crate::golang::abi::Part;
use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::BinaryInfo;
use crate::golang::RuntimeLayout;
use crate::recipe::{
    RawCtxType, RawOp, CTX_PARENT, CTX_ROOT, CTX_SPAN, CTX_SPAN_KEY, CTX_VALUE, MAP_BUCKETS,
    MAP_SWISS, OP_SPAN_CTX, OP_TRACEPARENT,
};

use super::emit::{self, Access};

/// The SDK's context key type (`go.opentelemetry.io/otel/trace`).
const SPAN_KEY_TYPE: &str = "go.opentelemetry.io/otel/trace.traceContextKeyType";
/// `currentSpanKey traceContextKeyType = iota`, the type's only value in
/// every SDK release.
const SPAN_KEY_VALUE: u64 = 0;
/// What a span type holds its ids in.
const SPAN_CONTEXT: &str = "go.opentelemetry.io/otel/trace.SpanContext";
/// Names the SDK gives a span's own SpanContext field
/// (`sdk/trace.recordingSpan`, `trace.nonRecordingSpan`).
const OWN_SPAN_CONTEXT: &[&str] = &["spanContext", "sc"];
/// The request type whose `ctx` a handler's context is.
const HTTP_REQUEST: &str = "net/http.Request";
/// The interface every link of the chain is.
const CONTEXT: &str = "context.Context";
/// Entries one binary may install: the context package has ~10 types, a
/// program a handful of span types.
const PER_BINARY: usize = 64;

/// Bytes of a `traceparent` value copied: version 00 is 55.
const TRACEPARENT_MAX: u16 = 64;
/// Bytes `OP_TRACEPARENT` takes of a record: its head and the value.
pub(super) const TRACEPARENT_BYTES: u32 = emit::STR_HEAD + TRACEPARENT_MAX as u32;
/// The type of `http.Request.Header`: a `map[string][]string`, the layout
/// the BPF program's scan assumes.
const HTTP_HEADER: &str = "net/http.Header";

/// Bytes `OP_SPAN_CTX` takes of a record: its head and a `gotel_span_ctx`.
pub(super) const SPAN_CTX_BYTES: u32 =
    emit::STR_HEAD + size_of::<crate::recipe::RawSpanCtx>() as u32;

/// Whether the binary has the OpenTelemetry Go SDK's span key at all:
/// without it no context can hold an SDK span.
pub fn has_sdk(bin: &BinaryInfo) -> bool {
    bin.types_base.is_some()
        && bin
            .dwarf
            .runtime_types
            .values()
            .any(|(name, _)| name.as_str() == SPAN_KEY_TYPE)
}

/// The `ctx_types` entries of `bin`: (link-time `_type` address, how to
/// step through a value of it). Empty without the SDK.
pub fn context_types(bin: &BinaryInfo) -> Vec<(u64, RawCtxType)> {
    let (Some(base), true) = (bin.types_base, has_sdk(bin)) else {
        return Vec::new();
    };
    let types = &bin.dwarf.types;
    let mut out: Vec<(u64, RawCtxType)> = bin
        .dwarf
        .runtime_types
        .iter()
        .filter_map(|(off, (name, id))| Some((base + off, classify(types, name.as_str(), *id)?)))
        .collect();
    // Context types first: a program with many span-like types keeps the
    // chain walkable.
    out.sort_by_key(|(a, t)| (t.kind == CTX_SPAN, *a));
    out.truncate(PER_BINARY);
    out
}

/// How the walk treats a value of the runtime type `name` (DWARF `id`).
fn classify(types: &TypeTable, name: &str, id: TypeId) -> Option<RawCtxType> {
    if name == SPAN_KEY_TYPE {
        return Some(RawCtxType {
            kind: CTX_SPAN_KEY,
            key_value: SPAN_KEY_VALUE,
            ..RawCtxType::default()
        });
    }
    let t = types.get(id);
    let bare = name.trim_start_matches('*');
    let context = bare.starts_with("context.");
    // The interface's data word points at the value: a pointer type's
    // pointee, or a boxed copy of a value type. A pointer-shaped value
    // type would sit in the data word itself: no such context or span.
    let fields = match &t.kind {
        Kind::Pointer { elem: Some(e) } => match struct_fields(types, *e) {
            Some(f) => f,
            // Go < 1.21: Background() is a *context.emptyCtx (an int).
            None if context => return root(),
            None => return None,
        },
        Kind::Struct { fields } if !super::pointer_shaped(types, id) => fields.as_slice(),
        _ => return None,
    };
    if context {
        let parent = context_field(types, fields);
        let field = |n: &str| fields.iter().find(|f| f.name == n).map(|f| f.offset);
        return Some(match (parent, field("key"), field("val")) {
            (Some(p), Some(key), Some(val)) => RawCtxType {
                kind: CTX_VALUE,
                parent: u32::try_from(p).ok()?,
                key: u32::try_from(key).ok()?,
                val: u32::try_from(val).ok()?,
                ..RawCtxType::default()
            },
            (Some(p), _, _) => RawCtxType {
                kind: CTX_PARENT,
                parent: u32::try_from(p).ok()?,
                ..RawCtxType::default()
            },
            (None, _, _) => return root(),
        });
    }
    // A span: the SpanContext field that is its own. The SDK's
    // recordingSpan also holds its parent's (`parent`, first in memory):
    // with several, only a field named as the SDK's own are is taken.
    let held: Vec<_> = fields
        .iter()
        .filter(|f| types.get(f.ty).name == SPAN_CONTEXT)
        .collect();
    let sc = match held.as_slice() {
        [one] => *one,
        _ => *held
            .iter()
            .find(|f| OWN_SPAN_CONTEXT.contains(&f.name.as_str()))?,
    };
    let inner = struct_fields(types, sc.ty)?;
    let at = |n: &str| -> Option<u32> {
        let f = inner.iter().find(|f| f.name == n)?;
        u32::try_from(sc.offset + f.offset).ok()
    };
    Some(RawCtxType {
        kind: CTX_SPAN,
        trace_id: at("traceID")?,
        span_id: at("spanID")?,
        flags: at("traceFlags")?,
        ..RawCtxType::default()
    })
}

fn root() -> Option<RawCtxType> {
    Some(RawCtxType {
        kind: CTX_ROOT,
        ..RawCtxType::default()
    })
}

fn struct_fields(types: &TypeTable, id: TypeId) -> Option<&[crate::golang::types::Field]> {
    match &types.get(id).kind {
        Kind::Struct { fields } => Some(fields),
        _ => None,
    }
}

/// The offset of the parent `context.Context` in a context's struct,
/// through embedded structs (`timerCtx` embeds `cancelCtx`, which embeds
/// the parent).
fn context_field(types: &TypeTable, fields: &[crate::golang::types::Field]) -> Option<u64> {
    fields.iter().find_map(|f| {
        let t = types.get(f.ty);
        if t.name == CONTEXT {
            return Some(f.offset);
        }
        // Only embedded structs (named after their type): a field holding
        // some other struct is not the context's parent.
        let embedded = t.name.rsplit('.').next() == Some(f.name.as_str());
        match &t.kind {
            Kind::Struct { fields } if embedded => {
                context_field(types, fields).map(|o| o + f.offset)
            }
            _ => None,
        }
    })
}

/// Where a call's context is: the first argument that is a
/// `context.Context`, else the first `*net/http.Request`'s `ctx`. Not any
/// struct holding a context: a receiver's long-lived `ctx` field (a
/// worker's, a server's) is not the call's. Returns the op and what it
/// reads, as the outputs name it (`ctx`, `r.ctx`).
pub(super) fn context_op(
    types: &TypeTable,
    args: &[(&str, TypeId, &[Part])],
) -> Option<(RawOp, String)> {
    let direct = args.iter().find_map(|(name, ty, parts)| {
        if types.get(*ty).name != CONTEXT {
            return None;
        }
        let [itab, data] = parts else { return None };
        let op = emit::op(OP_SPAN_CTX, 0, 0, Access::Direct(itab.loc), Some(data.loc));
        Some((op, name.to_string()))
    });
    direct.or_else(|| {
        let (name, at, field) = request_field(types, args, |f| types.get(f.ty).name == CONTEXT)?;
        let op = emit::op(OP_SPAN_CTX, 0, 0, at, None);
        Some((op, format!("{name}.{}", field.name)))
    })
}

/// The first `*net/http.Request` argument's field that `pick` chooses:
/// the argument's name, where the field is, and the field.
fn request_field<'t>(
    types: &'t TypeTable,
    args: &[(&str, TypeId, &[Part])],
    pick: impl Fn(&crate::golang::types::Field) -> bool,
) -> Option<(String, Access, &'t crate::golang::types::Field)> {
    let (name, e, p) = args.iter().find_map(|(name, ty, parts)| {
        let Kind::Pointer { elem: Some(e) } = types.get(*ty).kind else {
            return None;
        };
        match (types.get(e).name == HTTP_REQUEST, parts) {
            (true, [p]) => Some((name.to_string(), e, p)),
            _ => None,
        }
    })?;
    let field = struct_fields(types, e)?.iter().find(|f| pick(f))?;
    let at = Access::Direct(p.loc).follow_to(i64::try_from(field.offset).ok()?)?;
    Some((name, at, field))
}

/// The op reading the `traceparent` header of the first `*net/http.Request`
/// argument (an uninstrumented app's incoming W3C trace context): its
/// `Header` map, scanned in the kernel when small; only that one value is
/// copied, never the other headers. Returns the op and what it reads.
pub(super) fn traceparent_op(
    types: &TypeTable,
    layout: &RuntimeLayout,
    args: &[(&str, TypeId, &[Part])],
) -> Option<(RawOp, String)> {
    let (kind, offsets) = match (layout.swiss, layout.hmap) {
        (Some((dir_ptr, dir_len)), _) => (MAP_SWISS, vec![dir_ptr, dir_len]),
        (None, Some((b, buckets, old))) => (MAP_BUCKETS, vec![b, buckets, old]),
        _ => return None,
    };
    let (name, at, _) = request_field(types, args, |f| {
        f.name == "Header" && types.get(f.ty).name == HTTP_HEADER
    })?;
    let mut op = emit::op(OP_TRACEPARENT, kind, TRACEPARENT_MAX, at, None);
    // No chase: `hops` holds the map header's offsets.
    op.n_hops = 0;
    for (h, o) in op.hops.iter_mut().zip(&offsets) {
        *h = i32::try_from(*o).ok()?;
    }
    Some((op, format!("{name}.Header[\"Traceparent\"]")))
}
