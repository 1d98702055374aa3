//! The mirror of `ebpf/gotel.h`'s context walk (`GOTEL_OP_SPAN_CTX`): the
//! `ctx_types` entries userspace plans per binary, and what the op emits.

use std::mem::{offset_of, size_of};

use super::StructLayout;

/// `GOTEL_OP_SPAN_CTX`: walk a `context.Context` to the innermost span.
pub const OP_SPAN_CTX: u8 = 7;
/// `GOTEL_OP_TRACEPARENT`: the first `Traceparent` value of a small
/// `http.Header`.
pub const OP_TRACEPARENT: u8 = 8;
/// `GOTEL_MAP_SWISS`: swiss-table maps (Go ≥ 1.24), in `RawOp::size`.
pub const MAP_SWISS: u8 = 1;
/// `GOTEL_MAP_BUCKETS`: bucket maps (Go < 1.24).
pub const MAP_BUCKETS: u8 = 2;
/// `GOTEL_TP_LARGE`: the header map was too large to scan (the head's len).
pub const TP_LARGE: u64 = 0xffff_ffff;
/// Contexts one walk looks at (`GOTEL_MAX_CTX_HOPS`).
pub const MAX_CTX_HOPS: u32 = 16;
/// Entries of `ctx_types` (`GOTEL_MAX_CTX_TYPES`), all binaries.
pub const MAX_CTX_TYPES: u32 = 2048;
/// `GOTEL_CTX_ROOT`: Background, TODO: the chain ends.
pub const CTX_ROOT: u8 = 1;
/// `GOTEL_CTX_PARENT`: a context that only wraps its parent.
pub const CTX_PARENT: u8 = 2;
/// `GOTEL_CTX_VALUE`: a WithValue context.
pub const CTX_VALUE: u8 = 3;
/// `GOTEL_CTX_SPAN_KEY`: the SDK's context key type.
pub const CTX_SPAN_KEY: u8 = 4;
/// `GOTEL_CTX_SPAN`: a span type with a `trace.SpanContext`.
pub const CTX_SPAN: u8 = 5;
/// `GOTEL_SPAN_NONE`: the chain ended without a span.
pub const SPAN_NONE: u8 = 0;
/// `GOTEL_SPAN_FOUND`.
pub const SPAN_FOUND: u8 = 1;
/// `GOTEL_SPAN_UNKNOWN`: a context type without a planned layout.
pub const SPAN_UNKNOWN: u8 = 2;
/// `GOTEL_SPAN_OTHER`: the innermost span has no `SpanContext` field.
pub const SPAN_OTHER: u8 = 3;
/// `GOTEL_SPAN_DEEP`: more than [`MAX_CTX_HOPS`] contexts.
pub const SPAN_DEEP: u8 = 4;
/// `GOTEL_SPAN_FAULT`: a read failed on the way.
pub const SPAN_FAULT: u8 = 5;

/// `struct gotel_ctx_type`: how the walk steps through one dynamic type
/// (offsets into the value the interface's data pointer points at).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawCtxType {
    /// `CTX_*`.
    pub kind: u8,
    /// Padding.
    pub _pad: [u8; 3],
    /// PARENT, VALUE: the parent `context.Context`.
    pub parent: u32,
    /// VALUE: the key (`any`).
    pub key: u32,
    /// VALUE: the value (`any`).
    pub val: u32,
    /// SPAN: the trace id (16 bytes).
    pub trace_id: u32,
    /// SPAN: the span id (8 bytes).
    pub span_id: u32,
    /// SPAN: the trace flags (1 byte).
    pub flags: u32,
    /// Padding.
    pub _pad2: u32,
    /// SPAN_KEY: the key value that names the current span.
    pub key_value: u64,
}

// SAFETY: repr(C), integer fields and explicit padding only.
unsafe impl aya::Pod for RawCtxType {}

/// `struct gotel_span_ctx`: what a walk found, after its `gotel_str_head`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawSpanCtx {
    /// The span's trace id.
    pub trace_id: [u8; 16],
    /// The span's id.
    pub span_id: [u8; 8],
    /// W3C trace flags (bit 0: sampled).
    pub flags: u8,
    /// `SPAN_*`.
    pub status: u8,
    /// Contexts looked at.
    pub hops: u8,
    /// Padding.
    pub _pad: [u8; 5],
    /// UNKNOWN, OTHER: the runtime `_type` met (in the process).
    pub rtype: u64,
}

impl RawSpanCtx {
    /// Reads one from a record's bytes (None when they are too few).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b = b.get(..size_of::<Self>())?;
        Some(RawSpanCtx {
            trace_id: b[0..16].try_into().ok()?,
            span_id: b[16..24].try_into().ok()?,
            flags: b[24],
            status: b[25],
            hops: b[26],
            _pad: [0; 5],
            rtype: u64::from_le_bytes(b[32..40].try_into().ok()?),
        })
    }
}

/// Sizes and field offsets, for `tests/layout.rs`.
pub(super) fn layout() -> Vec<StructLayout> {
    vec![
        (
            "gotel_ctx_type",
            size_of::<RawCtxType>(),
            vec![
                ("kind", offset_of!(RawCtxType, kind)),
                ("parent", offset_of!(RawCtxType, parent)),
                ("key", offset_of!(RawCtxType, key)),
                ("val", offset_of!(RawCtxType, val)),
                ("trace_id", offset_of!(RawCtxType, trace_id)),
                ("span_id", offset_of!(RawCtxType, span_id)),
                ("flags", offset_of!(RawCtxType, flags)),
                ("key_value", offset_of!(RawCtxType, key_value)),
            ],
        ),
        (
            "gotel_span_ctx",
            size_of::<RawSpanCtx>(),
            vec![
                ("trace_id", offset_of!(RawSpanCtx, trace_id)),
                ("span_id", offset_of!(RawSpanCtx, span_id)),
                ("flags", offset_of!(RawSpanCtx, flags)),
                ("status", offset_of!(RawSpanCtx, status)),
                ("hops", offset_of!(RawSpanCtx, hops)),
                ("rtype", offset_of!(RawSpanCtx, rtype)),
            ],
        ),
    ]
}
