//! A map's entries: a small map's only group or bucket, a larger map's
//! first, read by the rules of its Go version's implementation.

use super::shape::elements;
use super::wire::{Capture, Rec};
use super::{Cx, GoValue};
use crate::plan::{MapEntries, Shape};

/// A map's entries (a larger map's first group or bucket): an object when
/// every key is a string, else an array of [key, value] pairs. None when
/// they were not captured, the map is growing (Go < 1.24), or unreadable.
pub(super) fn map_entries(e: &MapEntries, rec: &Rec<'_>, cx: &mut Cx<'_, '_>) -> Option<GoValue> {
    let word = |op: usize| match rec.captures.get(op) {
        Some(Capture::Scalar(v)) => Some(Some(*v)),
        // Nil on the way: no group or bucket allocated yet.
        Some(Capture::Nil) => Some(None),
        _ => None,
    };
    let mut elems = |s: &Shape| match s {
        Shape::Elems {
            op, first, elem, ..
        } => elements(*op, *first, elem, rec, cx),
        _ => None,
    };
    let mut pairs = Vec::new();
    match e {
        MapEntries::Group {
            dir_len_op,
            ctrl_op,
            slots: group,
            first,
        } => {
            // A larger map: the first group of its first table.
            let (ctrl_op, group) = match (word(*dir_len_op)??, first.as_deref()) {
                (0, _) => (ctrl_op, group),
                (_, Some((c, g))) => (c, g),
                _ => return None,
            };
            let Some(ctrl) = word(*ctrl_op)? else {
                return Some(no_entries(e));
            };
            let Ok((_, items)) = elems(group)? else {
                return Some(no_entries(e));
            };
            for (j, item) in items.into_iter().take(8).enumerate() {
                // ctrlEmpty 0x80, ctrlDeleted 0xfe: full slots have the
                // high bit clear.
                if (ctrl >> (8 * j)) & 0x80 != 0 {
                    continue;
                }
                let GoValue::Struct(mut kv) = item else {
                    return None;
                };
                let v = kv.pop()?.1;
                let k = kv.pop()?.1;
                pairs.push((k, v));
            }
        }
        MapEntries::Bucket {
            old_op,
            tophash_op,
            keys,
            values,
        } => {
            // Growing: entries may still sit in the old buckets.
            if word(*old_op)?.unwrap_or(0) != 0 {
                return None;
            }
            let Some(tophash) = word(*tophash_op)? else {
                return Some(no_entries(e));
            };
            let (Ok((_, ks)), Ok((_, vs))) = (elems(keys)?, elems(values)?) else {
                return Some(no_entries(e));
            };
            for (j, (k, v)) in ks.into_iter().zip(vs).take(8).enumerate() {
                // emptyRest 0, emptyOne 1, evacuated 2–4: full from 5.
                if (tophash >> (8 * j)) & 0xff >= 5 {
                    pairs.push((k, v));
                }
            }
        }
    }
    if pairs.is_empty() {
        return Some(no_entries(e));
    }
    if pairs.iter().all(|(k, _)| {
        matches!(
            k,
            GoValue::Str {
                truncated: false,
                ..
            }
        )
    }) {
        return Some(GoValue::Struct(
            pairs
                .into_iter()
                .map(|(k, v)| match k {
                    GoValue::Str { text, .. } => (text, v),
                    _ => unreachable!("checked"),
                })
                .collect(),
        ));
    }
    Some(GoValue::Array(
        pairs
            .into_iter()
            .map(|(k, v)| GoValue::Array(vec![k, v]))
            .collect(),
    ))
}

/// The entries of a map with none to show, in the form its key type gives
/// shown entries: `{}` for string keys, `[]` for others (whatever is in
/// the one group or bucket read, a consumer sees one form per map type).
fn no_entries(e: &MapEntries) -> GoValue {
    let key = match e {
        MapEntries::Bucket { keys, .. } => match keys {
            Shape::Elems { elem, .. } => Some(&**elem),
            _ => None,
        },
        MapEntries::Group { slots, .. } => match slots {
            Shape::Elems { elem, .. } => match &**elem {
                Shape::Struct(fields) => fields.first().map(|(_, k)| k),
                _ => None,
            },
            _ => None,
        },
    };
    match key {
        Some(Shape::String { .. }) => GoValue::Struct(Vec::new()),
        _ => GoValue::Array(Vec::new()),
    }
}
