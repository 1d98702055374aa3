//! A plan's shapes to values: what the ops of a record captured, read the
//! way the planner said to read it.

use super::interface::{held, held_value};
use super::map::map_entries;
use super::wire::{Capture, Rec};
use super::{Cx, GoValue};
use crate::plan::{ByteLayout, ScalarKind, Shape};

/// The value `s` describes in `rec`.
pub(super) fn shape(s: &Shape, rec: &Rec<'_>, cx: &mut Cx<'_, '_>) -> GoValue {
    let captures = &rec.captures;
    match s {
        Shape::Scalar { op, kind, size } => match captures.get(*op) {
            Some(Capture::Scalar(v)) => scalar(*v, *kind, *size),
            Some(Capture::Nil) => GoValue::Null,
            _ => GoValue::fault(),
        },
        Shape::String { op } => match captures.get(*op) {
            Some(Capture::String { len, bytes }) => GoValue::captured(bytes, *len),
            Some(Capture::Nil) => GoValue::Null,
            _ => GoValue::fault(),
        },
        Shape::Interface { ty, .. } => match held(s, rec, cx) {
            Ok(None) => GoValue::Null,
            Err(v) => v,
            Ok(Some(h)) => held_value(&h, ty == "error", cx.names),
        },
        Shape::Slice {
            op,
            cap_op,
            elem,
            elem_size,
            ty,
        } => {
            let cap = cap_op.and_then(|c| match captures.get(c) {
                Some(Capture::Scalar(v)) => Some(*v),
                _ => None,
            });
            slice_value(captures.get(*op), elem.as_ref(), *elem_size, cap, ty)
        }
        Shape::Elems {
            op,
            cap_op,
            first,
            elem,
            ..
        } => {
            let cap = match cap_op.and_then(|c| captures.get(c)) {
                Some(Capture::Scalar(v)) => Some(*v),
                _ => None,
            };
            match elements(*op, *first, elem, rec, cx) {
                Some(Ok((len, items))) => GoValue::Seq { items, len, cap },
                Some(Err(())) => GoValue::Null,
                None => GoValue::fault(),
            }
        }
        Shape::Pointer { addr_op, pointee } => match captures.get(*addr_op) {
            Some(Capture::Scalar(0) | Capture::Nil) => GoValue::Null,
            Some(Capture::Scalar(_)) => shape(pointee, rec, cx),
            _ => GoValue::fault(),
        },
        Shape::Map { len_op, entries } => match captures.get(*len_op) {
            Some(Capture::Nil) => GoValue::Null,
            Some(Capture::Scalar(n)) => {
                let mut m = vec![("len".into(), GoValue::Uint(*n))];
                if let Some(e) = entries.as_deref().and_then(|e| map_entries(e, rec, cx)) {
                    // A larger map: the entries of its first group or bucket.
                    let shown = match &e {
                        GoValue::Struct(v) => v.len(),
                        GoValue::Array(v) => v.len(),
                        _ => 0,
                    };
                    m.push(("entries".into(), e));
                    if (shown as u64) < *n {
                        m.push(("truncated".into(), GoValue::Bool(true)));
                    }
                }
                GoValue::Struct(m)
            }
            _ => GoValue::fault(),
        },
        Shape::Chan { len_op, cap_op } => match (captures.get(*len_op), captures.get(*cap_op)) {
            (Some(Capture::Nil), _) => GoValue::Null,
            (Some(Capture::Scalar(l)), Some(Capture::Scalar(c))) => GoValue::Struct(vec![
                ("len".into(), GoValue::Uint(*l)),
                ("cap".into(), GoValue::Uint(*c)),
            ]),
            _ => GoValue::fault(),
        },
        Shape::Func { pc_op } => match captures.get(*pc_op) {
            Some(Capture::Nil) => GoValue::Null,
            Some(Capture::Scalar(pc)) => match cx.names.func_name(*pc) {
                Some(f) => GoValue::text(f),
                None => GoValue::Pointer(*pc),
            },
            _ => GoValue::fault(),
        },
        Shape::Struct(fields) => GoValue::Struct(
            fields
                .iter()
                .map(|(k, f)| (k.clone(), shape(f, rec, cx)))
                .collect(),
        ),
        Shape::Array(items) => GoValue::Array(items.iter().map(|f| shape(f, rec, cx)).collect()),
        Shape::Unavailable(why) => GoValue::Unavailable(why.clone()),
        Shape::Redacted(text) => GoValue::Redacted(text.clone()),
    }
}

/// A slice: null when nil, its strings (`OP_STRINGS`), or its elements
/// copied as one run of bytes, each decoded by `elem`.
pub(super) fn slice_value(
    c: Option<&Capture<'_>>,
    elem: Option<&ByteLayout>,
    elem_size: u64,
    cap: Option<u64>,
    ty: &str,
) -> GoValue {
    match c {
        Some(Capture::Nil) => GoValue::Null,
        Some(Capture::Strings { len, items }) => GoValue::Seq {
            items: items
                .iter()
                .map(|it| match it {
                    Some((l, b)) => GoValue::captured(b, *l),
                    None => GoValue::fault(),
                })
                .collect(),
            len: *len,
            cap,
        },
        c => slice_elems(c, elem, elem_size, cap, ty),
    }
}

/// A slice whose elements were copied as one run of bytes (`OP_STRING`
/// with the element size), each decoded by `elem`.
fn slice_elems(
    c: Option<&Capture<'_>>,
    elem: Option<&ByteLayout>,
    elem_size: u64,
    cap: Option<u64>,
    ty: &str,
) -> GoValue {
    let Some(Capture::String { len, bytes }) = c else {
        return GoValue::fault();
    };
    match elem {
        Some(ByteLayout::Byte) => GoValue::Bytes {
            data: bytes.to_vec(),
            len: *len,
        },
        Some(layout) => GoValue::Seq {
            items: bytes
                .chunks_exact(elem_size.max(1) as usize)
                .map(|b| from_bytes(layout, b))
                .collect(),
            len: *len,
            cap,
        },
        None if *len == 0 => GoValue::Seq {
            items: Vec::new(),
            len: 0,
            cap,
        },
        None => GoValue::Unavailable(format!(
            "{ty} of length {len}: its elements are not captured here (slices of maps, channels or slices inside a slice element or a map)"
        )),
    }
}

/// The elements an `OP_ELEMS` op copied, each decoded by `elem` (whose
/// ops are numbered from `first`): (length, values); Err for nil, None
/// when unreadable.
pub(super) fn elements(
    op: usize,
    first: usize,
    elem: &Shape,
    rec: &Rec<'_>,
    cx: &mut Cx<'_, '_>,
) -> Option<Result<(u64, Vec<GoValue>), ()>> {
    match rec.captures.get(op)? {
        Capture::Nil => Some(Err(())),
        Capture::Elems { len, items } => Some(Ok((
            *len,
            items
                .iter()
                .enumerate()
                .map(|(j, item)| shape(elem, &rec.element(first, item, j), cx))
                .collect(),
        ))),
        _ => None,
    }
}

/// A slice element decoded from its memory bytes, laid out as `layout`.
fn from_bytes(layout: &ByteLayout, b: &[u8]) -> GoValue {
    match layout {
        ByteLayout::Byte => GoValue::Uint(u64::from(b.first().copied().unwrap_or(0))),
        ByteLayout::Scalar(kind, size) => {
            let mut w = [0u8; 8];
            let n = (*size as usize).min(8).min(b.len());
            w[..n].copy_from_slice(&b[..n]);
            scalar(u64::from_le_bytes(w), *kind, *size)
        }
        ByteLayout::Struct(fields) => GoValue::Struct(
            fields
                .iter()
                .map(|(name, off, f)| {
                    (
                        name.clone(),
                        from_bytes(f, b.get(*off as usize..).unwrap_or(&[])),
                    )
                })
                .collect(),
        ),
        ByteLayout::Array(elem, len, esize) => GoValue::Array(
            (0..*len)
                .map(|i| from_bytes(elem, b.get((i * esize) as usize..).unwrap_or(&[])))
                .collect(),
        ),
    }
}

/// A word read as a `size`-byte scalar of `kind`.
pub(super) fn scalar(v: u64, kind: ScalarKind, size: u8) -> GoValue {
    let bits = u32::from(size.clamp(1, 8)) * 8;
    let v = if bits == 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    };
    match kind {
        ScalarKind::Bool => GoValue::Bool(v & 0xff != 0),
        ScalarKind::Uint => GoValue::Uint(v),
        ScalarKind::Int => {
            // Sign-extend from the value's width.
            let shift = 64 - bits;
            GoValue::Int(((v << shift) as i64) >> shift)
        }
        ScalarKind::Float if size == 4 => GoValue::Float(f64::from(f32::from_bits(v as u32))),
        ScalarKind::Float => GoValue::Float(f64::from_bits(v)),
        ScalarKind::Pointer if v == 0 => GoValue::Null,
        ScalarKind::Pointer => GoValue::Pointer(v),
    }
}
