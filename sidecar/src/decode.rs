//! Turns the captured bytes of one event back into Go values, guided by the
//! site plan that produced the recipe.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::plan::{Image, ScalarKind, Shape, SitePlan};
use crate::recipe::{RawOp, OP_SCALAR, OP_STRING, OP_STRINGS};

/// A decoded Go value.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// nil pointer, nil interface.
    Null,
    /// bool.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    Uint(u64),
    /// Float read from memory.
    Float(f64),
    /// A pointer value.
    Pointer(u64),
    /// A string, possibly cut at `max_string_len`.
    Str {
        /// The captured bytes, lossily UTF-8.
        text: String,
        /// The full length in the program.
        len: u64,
        /// True when `text` is a prefix.
        truncated: bool,
    },
    /// Struct fields in order.
    Struct(Vec<(String, GoValue)>),
    /// Array elements.
    Array(Vec<GoValue>),
    /// A non-nil interface whose dynamic value is not decoded.
    Interface(String),
    /// A slice's first elements.
    Seq {
        /// The elements copied.
        items: Vec<GoValue>,
        /// The slice's length.
        len: u64,
        /// Its capacity, when read.
        cap: Option<u64>,
    },
    /// A `[]byte`'s first bytes.
    Bytes {
        /// The bytes copied.
        data: Vec<u8>,
        /// The slice's length.
        len: u64,
    },
    /// Not capturable, with the reason.
    Unavailable(String),
}

/// Why a captured value is missing: the BPF read failed.
const READ_FAULT: &str = "memory could not be read at the probe (paged out or invalid)";

impl GoValue {
    /// A string of `len` bytes in the program, of which `bytes` were copied.
    fn captured(bytes: &[u8], len: u64) -> Self {
        GoValue::Str {
            text: String::from_utf8_lossy(bytes).into_owned(),
            len,
            truncated: (bytes.len() as u64) < len,
        }
    }
}

impl Serialize for GoValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GoValue::Null => s.serialize_unit(),
            GoValue::Bool(b) => s.serialize_bool(*b),
            GoValue::Int(i) => s.serialize_i64(*i),
            GoValue::Uint(u) => s.serialize_u64(*u),
            GoValue::Float(f) if f.is_finite() => s.serialize_f64(*f),
            // JSON has no NaN/Inf: print them as Go does.
            GoValue::Float(f) => s.serialize_str(&format!("{f:?}").replace("inf", "Inf")),
            GoValue::Pointer(p) => s.serialize_str(&format!("{p:#x}")),
            GoValue::Str {
                text,
                truncated: false,
                ..
            } => s.serialize_str(text),
            GoValue::Str {
                text,
                len,
                truncated: true,
            } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("string", text)?;
                m.serialize_entry("truncated", &true)?;
                m.serialize_entry("length", len)?;
                m.end()
            }
            GoValue::Struct(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            GoValue::Array(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    q.serialize_element(v)?;
                }
                q.end()
            }
            GoValue::Interface(why) | GoValue::Unavailable(why) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("unavailable", why)?;
                m.end()
            }
            // Complete: a plain array. Cut at max_elems: flagged, like strings.
            GoValue::Seq { items, len, .. } if items.len() as u64 == *len => items.serialize(s),
            GoValue::Seq { items, len, cap } => {
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("elements", items)?;
                m.serialize_entry("truncated", &true)?;
                m.serialize_entry("length", len)?;
                m.serialize_entry("cap", cap)?;
                m.end()
            }
            GoValue::Bytes { data, len } => {
                let (key, text) = match std::str::from_utf8(data) {
                    Ok(t)
                        if t.chars()
                            .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r')) =>
                    {
                        ("string", t.to_string())
                    }
                    _ => ("hex", data.iter().map(|b| format!("{b:02x}")).collect()),
                };
                if key == "string" && data.len() as u64 == *len {
                    return s.serialize_str(&text);
                }
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry(key, &text)?;
                if (data.len() as u64) < *len {
                    m.serialize_entry("truncated", &true)?;
                    m.serialize_entry("length", len)?;
                }
                m.end()
            }
        }
    }
}

impl std::fmt::Display for GoValue {
    /// Go-like rendering for one-line summaries.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoValue::Null => f.write_str("nil"),
            GoValue::Bool(b) => write!(f, "{b}"),
            GoValue::Int(i) => write!(f, "{i}"),
            GoValue::Uint(u) => write!(f, "{u}"),
            GoValue::Float(x) => write!(f, "{x}"),
            GoValue::Pointer(p) => write!(f, "{p:#x}"),
            GoValue::Str {
                text, truncated, ..
            } => {
                write!(f, "{text:?}")?;
                if *truncated {
                    f.write_str("…")?;
                }
                Ok(())
            }
            GoValue::Struct(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            GoValue::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            GoValue::Seq { items, len, .. } => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                if (items.len() as u64) < *len {
                    write!(f, " …{len}")?;
                }
                f.write_str("]")
            }
            GoValue::Bytes { data, .. } => write!(f, "{:?}", String::from_utf8_lossy(data)),
            GoValue::Interface(_) | GoValue::Unavailable(_) => f.write_str("?"),
        }
    }
}

/// One op's captured bytes.
#[derive(Debug, Clone)]
enum Slot<'a> {
    Scalar(u64),
    String {
        len: u64,
        bytes: &'a [u8],
    },
    /// A value reached through a nil pointer.
    Nil,
    /// A []string: its length and the elements copied (None: unreadable).
    Strings {
        len: u64,
        items: Vec<Option<(u64, &'a [u8])>>,
    },
    Fault,
}

/// Splits the event data into one slot per op, following the layout the
/// BPF program writes (see `gotel.h`).
fn slots<'a>(ops: &[RawOp], data: &'a [u8], fault_mask: u32, nil_mask: u32) -> Vec<Slot<'a>> {
    let mut out = Vec::with_capacity(ops.len());
    let mut off = 0usize;
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    for (i, op) in ops.iter().enumerate() {
        let fault = fault_mask & (1 << i) != 0;
        let nil = nil_mask & (1 << i) != 0;
        let slot = match op.kind {
            OP_SCALAR => {
                let v = u64_at(off);
                off += 8;
                match v {
                    _ if nil && !fault => Slot::Nil,
                    Some(v) if !fault => Slot::Scalar(v),
                    _ => Slot::Fault,
                }
            }
            OP_STRINGS => {
                let (Some(len), Some(n)) = (u64_at(off), data.get(off + 8..off + 12)) else {
                    out.push(Slot::Fault);
                    break;
                };
                let n = u32::from_le_bytes(n.try_into().unwrap()) as usize;
                off += 16;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let (Some(l), Some(c), Some(f)) = (
                        u64_at(off),
                        data.get(off + 8..off + 12),
                        data.get(off + 12..off + 16),
                    ) else {
                        break;
                    };
                    let copied = u32::from_le_bytes(c.try_into().unwrap()) as usize;
                    let faulted = u32::from_le_bytes(f.try_into().unwrap()) != 0;
                    let bytes = data.get(off + 16..off + 16 + copied);
                    off += 16 + copied.div_ceil(8) * 8;
                    items.push(bytes.filter(|_| !faulted).map(|b| (l, b)));
                }
                match () {
                    _ if nil && !fault => Slot::Nil,
                    _ if fault => Slot::Fault,
                    _ => Slot::Strings { len, items },
                }
            }
            OP_STRING => {
                let len = u64_at(off);
                let copied = data
                    .get(off + 8..off + 12)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
                let (Some(len), Some(copied)) = (len, copied) else {
                    out.push(Slot::Fault);
                    break;
                };
                let bytes = data.get(off + 16..off + 16 + copied);
                off += 16 + copied.div_ceil(8) * 8;
                match bytes {
                    _ if nil && !fault => Slot::Nil,
                    Some(bytes) if !fault => Slot::String { len, bytes },
                    _ => Slot::Fault,
                }
            }
            _ => Slot::Fault,
        };
        out.push(slot);
    }
    out
}

/// Names things by their runtime address in the traced process.
pub trait Names {
    /// The Go type whose runtime `_type` is at `addr`.
    fn type_name(&self, addr: u64) -> Option<String>;
    /// The function whose code contains `pc`.
    fn func_name(&self, pc: u64) -> Option<String>;
}

type TypeNames<'a> = &'a dyn Names;

/// Error types whose `Error()` returns exactly the string their data
/// pointer points at (their first field), so that string is the message.
const MESSAGE_FIRST_FIELD: &[&str] = &["*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors"];

/// Decodes every value of `site` from an event's data.
pub fn decode(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    types: TypeNames<'_>,
) -> Vec<(String, GoValue)> {
    let ops = &site.recipe.ops[..site.recipe.n_ops as usize];
    let slots = slots(ops, data, masks.0, masks.1);
    site.values
        .iter()
        .map(|v| (v.name.clone(), shape(&v.shape, &slots, types)))
        .collect()
}

fn shape(s: &Shape, slots: &[Slot<'_>], types: TypeNames<'_>) -> GoValue {
    let fault = || GoValue::Unavailable(READ_FAULT.into());
    match s {
        Shape::Scalar { op, kind, size } => match slots.get(*op) {
            Some(Slot::Scalar(v)) => scalar(*v, *kind, *size),
            Some(Slot::Nil) => GoValue::Null,
            _ => fault(),
        },
        Shape::String { op } => match slots.get(*op) {
            Some(Slot::String { len, bytes }) => GoValue::captured(bytes, *len),
            Some(Slot::Nil) => GoValue::Null,
            _ => fault(),
        },
        Shape::Interface {
            type_op,
            data_op,
            ty,
        } => {
            let rtype = match slots.get(*type_op) {
                Some(Slot::Scalar(0) | Slot::Nil) => return GoValue::Null,
                Some(Slot::Scalar(t)) => *t,
                _ => return fault(),
            };
            let Some(dynamic) = types.type_name(rtype) else {
                return GoValue::Interface(format!(
                    "non-nil {ty} of a dynamic type gotel cannot name (runtime type {rtype:#x})"
                ));
            };
            let data = data_op.and_then(|d| slots.get(d));
            match data {
                Some(Slot::String { len, bytes })
                    if ty == "error" && MESSAGE_FIRST_FIELD.contains(&dynamic.as_str()) =>
                {
                    GoValue::captured(bytes, *len)
                }
                _ => GoValue::Interface(format!(
                    "{ty} holding {dynamic}; its value is not decoded yet"
                )),
            }
        }
        Shape::Slice {
            op,
            cap_op,
            elem,
            elem_size,
            ty,
        } => {
            let cap = cap_op.and_then(|c| match slots.get(c) {
                Some(Slot::Scalar(v)) => Some(*v),
                _ => None,
            });
            match slots.get(*op) {
                Some(Slot::Nil) => GoValue::Null,
                Some(Slot::Strings { len, items }) => GoValue::Seq {
                    items: items
                        .iter()
                        .map(|it| match it {
                            Some((l, b)) => GoValue::captured(b, *l),
                            None => GoValue::Unavailable(READ_FAULT.into()),
                        })
                        .collect(),
                    len: *len,
                    cap,
                },
                Some(Slot::String { len, bytes }) => match elem {
                    Some(Image::Byte) => GoValue::Bytes {
                        data: bytes.to_vec(),
                        len: *len,
                    },
                    Some(img) => GoValue::Seq {
                        items: bytes
                            .chunks_exact(*elem_size as usize)
                            .map(|b| image_value(img, b))
                            .collect(),
                        len: *len,
                        cap,
                    },
                    None => GoValue::Unavailable(format!(
                        "{ty} of length {len}: elements of this type are not captured yet"
                    )),
                },
                _ => fault(),
            }
        }
        Shape::Pointer { addr_op, pointee } => match slots.get(*addr_op) {
            Some(Slot::Scalar(0) | Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(_)) => shape(pointee, slots, types),
            _ => fault(),
        },
        Shape::Map { len_op } => match slots.get(*len_op) {
            Some(Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(n)) => GoValue::Struct(vec![("len".into(), GoValue::Uint(*n))]),
            _ => fault(),
        },
        Shape::Chan { len_op, cap_op } => match (slots.get(*len_op), slots.get(*cap_op)) {
            (Some(Slot::Nil), _) => GoValue::Null,
            (Some(Slot::Scalar(l)), Some(Slot::Scalar(c))) => GoValue::Struct(vec![
                ("len".into(), GoValue::Uint(*l)),
                ("cap".into(), GoValue::Uint(*c)),
            ]),
            _ => fault(),
        },
        Shape::Func { pc_op } => match slots.get(*pc_op) {
            Some(Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(pc)) => match types.func_name(*pc) {
                Some(f) => GoValue::Str {
                    text: f,
                    len: 0,
                    truncated: false,
                },
                None => GoValue::Pointer(*pc),
            },
            _ => fault(),
        },
        Shape::Struct(fields) => GoValue::Struct(
            fields
                .iter()
                .map(|(k, f)| (k.clone(), shape(f, slots, types)))
                .collect(),
        ),
        Shape::Array(items) => {
            GoValue::Array(items.iter().map(|f| shape(f, slots, types)).collect())
        }
        Shape::Unavailable(why) => GoValue::Unavailable(why.clone()),
    }
}

/// Decodes a value from its memory bytes.
fn image_value(img: &Image, b: &[u8]) -> GoValue {
    match img {
        Image::Byte => GoValue::Uint(u64::from(b.first().copied().unwrap_or(0))),
        Image::Scalar(kind, size) => {
            let mut w = [0u8; 8];
            let n = (*size as usize).min(8).min(b.len());
            w[..n].copy_from_slice(&b[..n]);
            scalar(u64::from_le_bytes(w), *kind, *size)
        }
        Image::Struct(fields) => GoValue::Struct(
            fields
                .iter()
                .map(|(name, off, f)| {
                    (
                        name.clone(),
                        image_value(f, b.get(*off as usize..).unwrap_or(&[])),
                    )
                })
                .collect(),
        ),
        Image::Array(elem, len, esize) => GoValue::Array(
            (0..*len)
                .map(|i| image_value(elem, b.get((i * esize) as usize..).unwrap_or(&[])))
                .collect(),
        ),
    }
}

fn scalar(v: u64, kind: ScalarKind, size: u8) -> GoValue {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_sign_extended_from_their_width() {
        assert_eq!(scalar(0xf8, ScalarKind::Int, 1), GoValue::Int(-8));
        assert_eq!(scalar(0xdead_00f8, ScalarKind::Int, 1), GoValue::Int(-8));
        assert_eq!(scalar(0xffff_f9c0, ScalarKind::Int, 2), GoValue::Int(-1600));
        assert_eq!(
            scalar(u64::MAX, ScalarKind::Uint, 8),
            GoValue::Uint(u64::MAX)
        );
        assert_eq!(
            scalar(0x1_0000_00c8, ScalarKind::Uint, 1),
            GoValue::Uint(200)
        );
        assert_eq!(scalar(0, ScalarKind::Pointer, 8), GoValue::Null);
        assert_eq!(scalar(0x100, ScalarKind::Bool, 1), GoValue::Bool(false));
    }

    #[test]
    fn truncated_strings_are_flagged_in_json() {
        let v = GoValue::Str {
            text: "ab".into(),
            len: 5,
            truncated: true,
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"string":"ab","truncated":true,"length":5}"#
        );
        let v = GoValue::Unavailable("x".into());
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"unavailable":"x"}"#);
    }

    #[test]
    fn string_slots_follow_the_padded_layout() {
        let ops = [
            RawOp {
                kind: OP_STRING,
                size: 8,
                max_len: 4,
                ..Default::default()
            },
            RawOp {
                kind: OP_SCALAR,
                size: 8,
                ..Default::default()
            },
        ];
        let mut data = Vec::new();
        data.extend_from_slice(&10u64.to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(b"abc\0\0\0\0\0");
        data.extend_from_slice(&42u64.to_le_bytes());
        let s = slots(&ops, &data, 0, 0);
        assert!(matches!(
            s[0],
            Slot::String {
                len: 10,
                bytes: b"abc"
            }
        ));
        assert!(matches!(s[1], Slot::Scalar(42)));
        let s = slots(&ops, &data, 0b10, 0);
        assert!(matches!(s[1], Slot::Fault));
    }
}
