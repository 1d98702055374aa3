//! The application's span a call's context carried (`OP_SPAN_CTX`): the
//! walk's outcome, read from the entry record.

use crate::plan::SitePlan;
use crate::recipe::{
    RawSpanCtx, SPAN_DEEP, SPAN_FAULT, SPAN_FOUND, SPAN_NONE, SPAN_OTHER, SPAN_UNKNOWN, TP_LARGE,
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
        /// It is another process's span (an incoming `traceparent`).
        remote: bool,
    },
    /// The context holds no span (or is nil): a trace of gotel's own.
    None,
    /// The span could not be read; why, for a one-time warning.
    Unreadable(String),
}

/// The application's trace context a call's entry record found: the span
/// its context carried, else an incoming `traceparent` header; None when
/// the site looks for neither.
pub fn app_span(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    names: &dyn Names,
) -> Option<AppSpan> {
    if site.span.is_none() && site.traceparent.is_none() {
        return None;
    }
    // The join ops come before every value (`Builder::push_join`) and the
    // layout is sequential: their captures need only the ops up to them,
    // not the whole record `decode` already parsed.
    let last = [&site.span, &site.traceparent]
        .into_iter()
        .flatten()
        .map(|(op, _)| op + 1)
        .max()
        .unwrap_or(0);
    let n = usize::from(site.recipe.n_ops)
        .min(site.recipe.ops.len())
        .min(last);
    let (captures, _) = wire::captures(&site.recipe.ops[..n], data, masks.0, masks.1);
    let walked = site
        .span
        .as_ref()
        .and_then(|(op, reads)| Some(walk(captures.get(*op)?, reads, names)));
    if let Some(found @ AppSpan::Found { .. }) = walked {
        return Some(found);
    }
    let header = site
        .traceparent
        .as_ref()
        .and_then(|(op, reads)| Some(traceparent(captures.get(*op)?, reads)));
    match (walked, header) {
        (_, Some(found @ AppSpan::Found { .. })) => Some(found),
        (Some(w @ AppSpan::Unreadable(_)), _) | (Some(w), None) => Some(w),
        (_, h) => h,
    }
}

/// What the context walk (`OP_SPAN_CTX`) captured says.
fn walk(capture: &wire::Capture<'_>, reads: &str, names: &dyn Names) -> AppSpan {
    let bytes = match capture {
        wire::Capture::String { bytes, .. } => *bytes,
        wire::Capture::Nil => return AppSpan::None,
        _ => return AppSpan::Unreadable(format!("{reads} could not be read")),
    };
    let Some(s) = RawSpanCtx::from_bytes(bytes) else {
        return AppSpan::Unreadable(format!("{reads}: record cut short"));
    };
    let ty = || type_name(names, s.rtype).unwrap_or_else(|| format!("type {:#x}", s.rtype));
    let hops = s.hops;
    match s.status {
        SPAN_FOUND if s.trace_id != [0; 16] && s.span_id != [0; 8] => AppSpan::Found {
            trace_id: s.trace_id,
            span_id: s.span_id,
            flags: s.flags,
            remote: false,
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
    }
}

/// What the `traceparent` scan (`OP_TRACEPARENT`) captured says.
fn traceparent(capture: &wire::Capture<'_>, reads: &str) -> AppSpan {
    match capture {
        wire::Capture::String { len, .. } if *len == TP_LARGE => AppSpan::Unreadable(format!(
            "{reads}: the request has more than 8 headers, and gotel scans only small header maps"
        )),
        // Absent, or not a valid trace context: the W3C rule is to start a
        // new trace, as the SDK's propagator does.
        wire::Capture::String { bytes, .. } => parse_traceparent(bytes).unwrap_or(AppSpan::None),
        wire::Capture::Nil => AppSpan::None,
        _ => AppSpan::Unreadable(format!("{reads} could not be read")),
    }
}

/// A W3C `traceparent` value (`00-<trace id>-<parent id>-<flags>`, lower
/// case hex; a later version may append fields), as the span it names.
pub(super) fn parse_traceparent(v: &[u8]) -> Option<AppSpan> {
    let v = std::str::from_utf8(v)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t');
    let (version, rest) = v.split_once('-')?;
    let hex = |s: &str, n: usize| -> Option<Vec<u8>> {
        let ok = s.len() == 2 * n && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| {
            (0..n)
                .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
                .collect()
        })
    };
    let version = hex(version, 1)?[0];
    let mut fields = rest.split('-');
    let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
    // Version ff is invalid; 00 has exactly these fields.
    if version == 0xff || (version == 0 && fields.next().is_some()) {
        return None;
    }
    let trace_id: [u8; 16] = hex(trace, 16)?.try_into().ok()?;
    let span_id: [u8; 8] = hex(span, 8)?.try_into().ok()?;
    let flags = hex(flags, 1)?[0];
    (trace_id != [0; 16] && span_id != [0; 8]).then_some(AppSpan::Found {
        trace_id,
        span_id,
        flags,
        remote: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_values_parse_as_w3c_says() {
        let found = parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let Some(AppSpan::Found {
            trace_id,
            span_id,
            flags,
            remote: true,
        }) = found
        else {
            panic!("{found:?}");
        };
        assert_eq!(trace_id[..2], [0x0a, 0xf7]);
        assert_eq!(span_id[7], 0x31);
        assert_eq!(flags, 1);
        for bad in [
            &b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"[..],
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            b"",
        ] {
            assert_eq!(
                parse_traceparent(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may carry more fields.
        assert!(
            parse_traceparent(b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x")
                .is_some()
        );
    }
}
