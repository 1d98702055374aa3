//! What identifies a call beside its values: its key among the open calls
//! and the loss stamp its records are matched by, its trace ids (a child
//! of its enclosing probed call or of the application's span) and its
//! error message.

use crate::correlate::CallKey;
use crate::decode::{AppSpan, GoValue};
use crate::export::TraceIds;
use crate::plan::Plan;
use crate::recipe::RawEvent;

use super::{Attachment, Pipeline};

/// The open call of `meta` on goroutine `goid` whose entry was at `frame`.
pub(super) fn call_key(meta: &Attachment, goid: u64, frame: u64) -> CallKey {
    CallKey {
        pid: meta.pid,
        goid,
        frame,
        attachment: meta.id,
        function: meta.plan.entry_offset,
    }
}

impl Pipeline {
    /// Records lost so far, in the kernel and here, as `ev` is read: a
    /// record is matched only to a call entered with the same stamp.
    pub(super) fn stamp(&self, ev: &RawEvent) -> u64 {
        ev.drop_seq.wrapping_add(self.stats.no_goroutine)
    }
}

/// Ids for a call whose context carried `app` and whose innermost open
/// probed caller is `enclosing` (its ids, and whether `when` filtered it:
/// a filtered call is never exported, so it parents no joined call).
///
/// - Under its enclosing call when that call hangs under the same app span
///   (nested probed calls keep their tree);
/// - else under the app span: one started between the two is the nearer
///   parent; an unsampled one is not joined (the app exports none of its
///   trace, so the call's span would point at a parent that never arrives);
/// - else under its enclosing call, else the root of a new trace.
pub(in crate::live) fn trace_ids(
    app: Option<&AppSpan>,
    enclosing: Option<(&TraceIds, bool)>,
) -> TraceIds {
    let joinable = match app {
        Some(AppSpan::Found {
            trace_id,
            span_id,
            flags,
            remote,
        }) if flags & 1 != 0 => Some((*trace_id, *span_id, *remote)),
        _ => None,
    };
    match (joinable, enclosing) {
        (Some((_, span_id, _)), Some((p, false))) if p.joined == Some(span_id) => {
            TraceIds::child_of(p)
        }
        (Some((trace_id, span_id, remote)), _) => TraceIds::under_app(trace_id, span_id, remote),
        (None, Some((p, _))) => TraceIds::child_of(p),
        (None, None) => TraceIds::root(),
    }
}

/// The message of the first non-nil `error` result: results decode in the
/// plan's order, so they zip with its values.
pub(super) fn error_message(plan: &Plan, returns: &[(String, GoValue)]) -> Option<String> {
    plan.ret
        .values
        .iter()
        .zip(returns)
        .find_map(|(v, (_, r))| match r {
            _ if v.ty != "error" => None,
            GoValue::Str { text, .. } => Some(text.clone()),
            // Not nil, message not decoded: its type and value say what failed.
            GoValue::Interface(what) => Some(what.clone()),
            GoValue::Dynamic { .. } => Some(r.to_string()),
            _ => None,
        })
}
