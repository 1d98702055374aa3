//! The application's span a call's context carried (`OP_SPAN_CTX`): the
//! walk's outcome, read from the entry record.

use crate::plan::SitePlan;
use crate::recipe::{
    RawSpanCtx, SPAN_DEEP, SPAN_FAULT, SPAN_FOUND, SPAN_NONE, SPAN_OTHER, SPAN_UNKNOWN,
};

use super::{type_name, wire, Names};

/// Span types of the OpenTelemetry API that stand for "no span".
const NO_OP_SPANS: &[&str] = &[
    "go.opentelemetry.io/otel/trace.noopSpan",
    "go.opentelemetry.io/otel/trace/noop.Span",
];

/// What following a call's context found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpan {
    /// The application's innermost span: the call's span joins its trace.
    Found {
        /// Its trace id.
        trace_id: [u8; 16],
        /// Its span id: the parent of the call's span.
        span_id: [u8; 8],
        /// W3C trace flags (bit 0: sampled).
        flags: u8,
    },
    /// The context holds no span (or is nil): a trace of gotel's own.
    None,
    /// The span could not be read; why, for a one-time warning.
    Unreadable(String),
}

/// The outcome of the site's context walk; None when the site has none.
pub fn app_span(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    names: &dyn Names,
) -> Option<AppSpan> {
    let (op, reads) = site.span.as_ref()?;
    let ops = &site.recipe.ops[..usize::from(site.recipe.n_ops).min(site.recipe.ops.len())];
    let (captures, _) = wire::captures(ops, data, masks.0, masks.1);
    let bytes = match captures.get(*op)? {
        wire::Capture::String { bytes, .. } => *bytes,
        wire::Capture::Nil => return Some(AppSpan::None),
        _ => return Some(AppSpan::Unreadable(format!("{reads} could not be read"))),
    };
    let Some(s) = RawSpanCtx::from_bytes(bytes) else {
        return Some(AppSpan::Unreadable(format!("{reads}: record cut short")));
    };
    let ty = || type_name(names, s.rtype).unwrap_or_else(|| format!("type {:#x}", s.rtype));
    let hops = s.hops;
    Some(match s.status {
        SPAN_FOUND if s.trace_id != [0; 16] && s.span_id != [0; 8] => AppSpan::Found {
            trace_id: s.trace_id,
            span_id: s.span_id,
            flags: s.flags,
        },
        // An invalid span context (all zero) is no parent, as in the SDK.
        SPAN_FOUND | SPAN_NONE => AppSpan::None,
        SPAN_UNKNOWN => AppSpan::Unreadable(format!(
            "{reads} passes through {}, a context type gotel cannot follow",
            ty()
        )),
        // The API's no-op spans (no SDK installed, or a no-op provider):
        // no parent, as the SDK reads them.
        SPAN_OTHER if NO_OP_SPANS.contains(&ty().trim_start_matches('*')) => AppSpan::None,
        SPAN_OTHER => AppSpan::Unreadable(format!(
            "{reads} holds a span of type {}, which has no trace.SpanContext field",
            ty()
        )),
        SPAN_DEEP => AppSpan::Unreadable(format!(
            "{reads} has more than {hops} contexts before its span"
        )),
        SPAN_FAULT => {
            AppSpan::Unreadable(format!("{reads}: a read failed after {hops} context(s)"))
        }
        other => AppSpan::Unreadable(format!("{reads}: unknown walk status {other}")),
    })
}
