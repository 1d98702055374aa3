//! Turns the captured bytes of one event back into Go values, guided by the
//! site plan that produced the recipe.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::plan::{Image, MapEntries, ScalarKind, Shape, SitePlan};
use crate::recipe::{RawOp, LOC_ELEM, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_STRING, OP_STRINGS};

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
    /// A non-nil interface whose dynamic type gotel cannot name.
    Interface(String),
    /// A non-nil interface: its dynamic type and value.
    Dynamic {
        /// The dynamic type, `int`, `*main.Point`.
        ty: String,
        /// Its value (a pointer type shows what it points to).
        value: Box<GoValue>,
    },
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
            GoValue::Dynamic { ty, value } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", ty)?;
                match value.as_ref() {
                    GoValue::Unavailable(why) => m.serialize_entry("unavailable", why)?,
                    v => m.serialize_entry("value", v)?,
                }
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
            GoValue::Dynamic { ty, value } => write!(f, "{ty}({value})"),
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
    /// An `OP_ELEMS` slice: its length and, per element copied, the slots
    /// of its element ops.
    Elems {
        len: u64,
        items: Vec<Vec<Slot<'a>>>,
    },
    Fault,
}

/// Splits the event data into one slot per op, following the layout the
/// BPF program writes (see `gotel.h`). Element ops get their slots inside
/// their `OP_ELEMS` slot; their own entries here are placeholders.
fn slots<'a>(ops: &[RawOp], data: &'a [u8], fault_mask: u32, nil_mask: u32) -> Vec<Slot<'a>> {
    let mut out = Vec::with_capacity(ops.len());
    let mut off = 0usize;
    for (i, op) in ops.iter().enumerate() {
        if op.a.kind == LOC_ELEM {
            out.push(Slot::Fault);
            continue;
        }
        let masks = (fault_mask & (1 << i) != 0, nil_mask & (1 << i) != 0);
        let slot = if op.kind == OP_ELEMS {
            let first = i + 1;
            let sub = ops.get(first..first + usize::from(op.size)).unwrap_or(&[]);
            elems_slot(sub, data, &mut off, masks)
        } else {
            slot(op, data, &mut off, masks)
        };
        let stop = slot.is_none();
        out.push(slot.unwrap_or(Slot::Fault));
        // The layout is sequential: past a short record nothing lines up.
        if stop {
            break;
        }
    }
    out
}

fn u64_at(data: &[u8], o: usize) -> Option<u64> {
    data.get(o..o + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

fn u32_at(data: &[u8], o: usize) -> Option<u32> {
    data.get(o..o + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
}

/// One scalar, string, bytes or []string op's slot at `*off`, advancing
/// it; None when the data ends early.
fn slot<'a>(
    op: &RawOp,
    data: &'a [u8],
    off: &mut usize,
    (fault, nil): (bool, bool),
) -> Option<Slot<'a>> {
    Some(match op.kind {
        OP_SCALAR => {
            let v = u64_at(data, *off)?;
            *off += 8;
            match v {
                _ if nil && !fault => Slot::Nil,
                v if !fault => Slot::Scalar(v),
                _ => Slot::Fault,
            }
        }
        OP_STRINGS => {
            let len = u64_at(data, *off)?;
            let n = u32_at(data, *off + 8)? as usize;
            *off += 16;
            let mut items = Vec::with_capacity(n.min(256));
            for _ in 0..n {
                let l = u64_at(data, *off)?;
                let copied = u32_at(data, *off + 8)? as usize;
                let faulted = u32_at(data, *off + 12)? != 0;
                let bytes = data.get(*off + 16..*off + 16 + copied);
                *off += 16 + copied.div_ceil(8) * 8;
                items.push(bytes.filter(|_| !faulted).map(|b| (l, b)));
            }
            match () {
                _ if nil && !fault => Slot::Nil,
                _ if fault => Slot::Fault,
                _ => Slot::Strings { len, items },
            }
        }
        OP_STRING | OP_BYTES => {
            let len = u64_at(data, *off)?;
            let copied = u32_at(data, *off + 8)? as usize;
            let bytes = data.get(*off + 16..*off + 16 + copied);
            *off += 16 + copied.div_ceil(8) * 8;
            match bytes {
                _ if nil && !fault => Slot::Nil,
                Some(bytes) if !fault => Slot::String { len, bytes },
                _ => Slot::Fault,
            }
        }
        _ => return None,
    })
}

/// An `OP_ELEMS` slot: the length, then per element its status bits and
/// the slots of the element ops `sub`.
fn elems_slot<'a>(
    sub: &[RawOp],
    data: &'a [u8],
    off: &mut usize,
    (fault, nil): (bool, bool),
) -> Option<Slot<'a>> {
    let len = u64_at(data, *off)?;
    let n = u32_at(data, *off + 8)? as usize;
    *off += 16;
    let mut items = Vec::with_capacity(n.min(256));
    for _ in 0..n {
        let nil_bits = u32_at(data, *off)?;
        let fault_bits = u32_at(data, *off + 4)?;
        *off += 8;
        let mut item = Vec::with_capacity(sub.len());
        for (t, op) in sub.iter().enumerate() {
            let bits = (fault_bits & (1 << t) != 0, nil_bits & (1 << t) != 0);
            item.push(slot(op, data, off, bits)?);
        }
        items.push(item);
    }
    Some(match () {
        _ if nil && !fault => Slot::Nil,
        _ if fault => Slot::Fault,
        _ => Slot::Elems { len, items },
    })
}

/// Names things by their runtime address in the traced process.
pub trait Names {
    /// The Go type whose runtime `_type` is at `addr`.
    fn type_name(&self, addr: u64) -> Option<String>;
    /// The function whose code contains `pc`.
    fn func_name(&self, pc: u64) -> Option<String>;
    /// The binary's DWARF types, to decode interfaces' dynamic values.
    fn type_table(&self) -> Option<&TypeTable> {
        None
    }
    /// The DWARF type of the runtime `_type` at `addr`.
    fn type_id(&self, _addr: u64) -> Option<TypeId> {
        None
    }
    /// The DWARF type of the runtime type named `name`.
    fn type_named(&self, _name: &str) -> Option<TypeId> {
        None
    }
    /// Kind (`reflect.Kind`) and size the runtime `_type` at `addr` gives.
    fn runtime_kind(&self, _addr: u64) -> Option<(u8, u64)> {
        None
    }
    /// `syscall.Errno(n).Error()`, from the traced binary's own table.
    fn errno_text(&self, _n: u64) -> Option<String> {
        None
    }
}

type TypeNames<'a> = &'a dyn Names;

/// Error types whose `Error()` returns exactly the string their data
/// pointer points at (their first field), so that string is the message.
const MESSAGE_FIRST_FIELD: &[&str] = &["*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors"];

/// What was captured of one interface's dynamic value.
struct Held<'a> {
    /// The dynamic type's name.
    ty: String,
    /// Its runtime `_type` address.
    rtype: u64,
    /// The bytes at the data pointer (empty when not copied).
    image: &'a [u8],
    /// Strings read at offsets of the dynamic value.
    strings: Vec<(u64, GoValue)>,
    /// The error wrapped at offset 32, when captured, non-nil, and the
    /// dynamic type is one that keeps an error there.
    inner: Option<Box<Held<'a>>>,
    /// The data word is nil: a typed nil pointer (`(*T)(nil)`).
    data_nil: bool,
}

impl Held<'_> {
    fn string(&self, off: u64) -> Option<&GoValue> {
        self.strings.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    fn word(&self, off: usize) -> Option<u64> {
        let b = self.image.get(off..off + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// Reads what an Interface shape captured; None for a nil interface, Err
/// with the value to show when the dynamic type cannot be named.
fn held<'a>(
    s: &Shape,
    slots: &'a [Slot<'a>],
    types: TypeNames<'_>,
) -> Result<Option<Held<'a>>, GoValue> {
    let Shape::Interface {
        type_op,
        image_op,
        strings,
        inner,
        ty,
    } = s
    else {
        return Err(GoValue::Unavailable("not an interface".into()));
    };
    let rtype = match slots.get(*type_op) {
        Some(Slot::Scalar(0) | Slot::Nil) => return Ok(None),
        Some(Slot::Scalar(t)) => *t,
        _ => return Err(GoValue::Unavailable(READ_FAULT.into())),
    };
    let Some(name) = types.type_name(rtype) else {
        return Err(GoValue::Interface(format!(
            "non-nil {ty} of a dynamic type gotel cannot name (runtime type {rtype:#x})"
        )));
    };
    let image_slot = image_op.and_then(|o| slots.get(o));
    let image = match image_slot {
        Some(Slot::String { bytes, .. }) => *bytes,
        _ => &[],
    };
    let first_string = strings.first().and_then(|(_, op)| slots.get(*op));
    let data_nil = matches!(image_slot, Some(Slot::Nil)) || matches!(first_string, Some(Slot::Nil));
    let strings = strings
        .iter()
        .map(|(off, op)| {
            let v = match slots.get(*op) {
                Some(Slot::String { len, bytes }) => GoValue::captured(bytes, *len),
                _ => GoValue::Unavailable(READ_FAULT.into()),
            };
            (*off, v)
        })
        .collect();
    // The word at offset 32 is an error only for some dynamic types;
    // for the others it is arbitrary data, not a type to look up.
    let inner = match inner.as_deref() {
        Some(i) if wraps_error_at_32(&name, rtype, types) => match held(i, slots, types) {
            Ok(Some(h)) => Some(Box::new(h)),
            _ => None,
        },
        _ => None,
    };
    Ok(Some(Held {
        ty: name,
        rtype,
        image,
        strings,
        inner,
        data_nil,
    }))
}

/// Whether values of this dynamic type keep an error (a non-empty
/// interface) at offset 32 of what the data pointer points at.
fn wraps_error_at_32(name: &str, rtype: u64, types: TypeNames<'_>) -> bool {
    if WRAPS_AT_32.contains(&name) {
        return true;
    }
    let (Some(table), Some(id)) = (types.type_table(), types.type_id(rtype)) else {
        return false;
    };
    let target = match &table.get(id).kind {
        Kind::Pointer { elem: Some(e) } => *e,
        _ => id,
    };
    match &table.get(target).kind {
        Kind::Struct { fields } => fields.iter().any(|f| {
            f.offset == 32 && matches!(table.get(f.ty).kind, Kind::Interface { empty: false })
        }),
        _ => false,
    }
}

/// Error types whose message gotel rebuilds from their fields and the
/// error they wrap at offset 32.
const WRAPS_AT_32: &[&str] = &["*strconv.NumError", "*io/fs.PathError", "*fs.PathError"];

/// The complete text of a captured string, None when cut or missing.
fn whole(v: Option<&GoValue>) -> Option<&str> {
    match v {
        Some(GoValue::Str {
            text,
            truncated: false,
            ..
        }) => Some(text),
        _ => None,
    }
}

/// `err.Error()` for the error types whose method gotel reproduces:
/// None when the type is another one or a part was not captured whole.
fn error_message(h: &Held<'_>, types: TypeNames<'_>) -> Option<GoValue> {
    if MESSAGE_FIRST_FIELD.contains(&h.ty.as_str()) {
        return h.string(0).cloned();
    }
    let inner = || error_message(h.inner.as_deref()?, types);
    let text = match h.ty.as_str() {
        "*strconv.NumError" => format!(
            "strconv.{}: parsing {}: {}",
            whole(h.string(0))?,
            go_quote(whole(h.string(16))?)?,
            whole(inner().as_ref())?
        ),
        "*io/fs.PathError" | "*fs.PathError" => format!(
            "{} {}: {}",
            whole(h.string(0))?,
            whole(h.string(16))?,
            whole(inner().as_ref())?
        ),
        "syscall.Errno" => types.errno_text(h.word(0)?)?,
        _ => return None,
    };
    Some(GoValue::Str {
        len: text.len() as u64,
        text,
        truncated: false,
    })
}

/// `strconv.Quote` of an ASCII string: Go's double-quoted form with Go's
/// escapes. None for anything else: which non-ASCII runes Go escapes
/// depends on its Unicode tables (and invalid UTF-8 was already replaced
/// here), so no message is better than a subtly different one.
pub fn go_quote(s: &str) -> Option<String> {
    if !s.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Some(out)
}

/// The value of a named interface's dynamic type, decoded from the
/// bytes copied at its data pointer.
fn dynamic_value(h: &Held<'_>, types: TypeNames<'_>) -> GoValue {
    let Some(table) = types.type_table() else {
        return runtime_scalar(h, types);
    };
    let Some(id) = types.type_id(h.rtype) else {
        // `*T` where DWARF only has T: show the T it points to.
        return match h.ty.strip_prefix('*').and_then(|e| types.type_named(e)) {
            Some(e) if matches!(types.runtime_kind(h.rtype), Some((22, _))) => {
                image_field(table, e, h, 0, types)
            }
            _ => runtime_scalar(h, types),
        };
    };
    let t = table.get(id);
    match &t.kind {
        // Pointer-shaped values are the data word itself: the image is
        // what they point to.
        Kind::Pointer { elem: Some(e) } => image_field(table, *e, h, 0, types),
        Kind::Func => match h.word(0).and_then(|pc| types.func_name(pc)) {
            Some(f) => GoValue::Str {
                len: f.len() as u64,
                text: f,
                truncated: false,
            },
            None => GoValue::Unavailable("func value of an unknown function".into()),
        },
        _ if direct_iface(table, id) => GoValue::Unavailable(format!(
            "{} is stored in the interface word itself; not decoded",
            t.name
        )),
        _ => image_field(table, id, h, 0, types),
    }
}

/// A value of a type DWARF does not describe (a named type only ever
/// converted to an interface), by the kind and size its runtime `_type`
/// records: enough for scalars and strings.
fn runtime_scalar(h: &Held<'_>, types: TypeNames<'_>) -> GoValue {
    let kind = match types.runtime_kind(h.rtype) {
        Some((1, _)) => ScalarKind::Bool,
        Some((2..=6, _)) => ScalarKind::Int,
        Some((7..=12, _)) => ScalarKind::Uint,
        Some((13 | 14, _)) => ScalarKind::Float,
        Some((24, _)) => {
            return h
                .string(0)
                .cloned()
                .unwrap_or_else(|| GoValue::Unavailable(READ_FAULT.into()))
        }
        _ => {
            return GoValue::Unavailable(format!(
                "{}: the binary's DWARF does not describe this type",
                h.ty
            ))
        }
    };
    let size = types.runtime_kind(h.rtype).map_or(8, |(_, s)| s.min(8));
    match h.word(0) {
        Some(v) => scalar(v, kind, size as u8),
        None => GoValue::Unavailable(READ_FAULT.into()),
    }
}

/// Whether Go stores values of this type directly in an interface's data
/// word (pointer-shaped types) instead of pointing at a copy.
fn direct_iface(table: &TypeTable, id: TypeId) -> bool {
    match &table.get(id).kind {
        Kind::Pointer { .. } | Kind::UnsafePointer | Kind::Map { .. } | Kind::Chan | Kind::Func => {
            true
        }
        Kind::Struct { fields } => fields.len() == 1 && direct_iface(table, fields[0].ty),
        Kind::Array { elem, len } => *len == 1 && direct_iface(table, *elem),
        _ => false,
    }
}

/// A value of type `id` at offset `off` of a dynamic value's image.
fn image_field(
    table: &TypeTable,
    id: TypeId,
    h: &Held<'_>,
    off: u64,
    types: TypeNames<'_>,
) -> GoValue {
    let t = table.get(id);
    let bytes = |n: u64| {
        let b = h.image.get(off as usize..(off + n) as usize)?;
        let mut w = [0u8; 8];
        w[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        Some(u64::from_le_bytes(w))
    };
    let beyond = || {
        GoValue::Unavailable(if h.image.is_empty() {
            "not captured at this site (no room left, or inside a slice)".to_string()
        } else {
            format!(
                "beyond the first {} bytes of the dynamic value, which is all gotel copies",
                h.image.len()
            )
        })
    };
    let kind = match &t.kind {
        Kind::Bool => ScalarKind::Bool,
        Kind::Int { signed: true } => ScalarKind::Int,
        Kind::Int { signed: false } => ScalarKind::Uint,
        Kind::Float => ScalarKind::Float,
        Kind::Pointer { .. } | Kind::UnsafePointer => ScalarKind::Pointer,
        Kind::String => {
            return match h.string(off) {
                Some(v) => v.clone(),
                None if off >= h.image.len() as u64 => beyond(),
                None => GoValue::Unavailable(format!(
                    "a string at offset {off} of a dynamic value is not captured"
                )),
            }
        }
        Kind::Struct { fields } => {
            return GoValue::Struct(
                fields
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            image_field(table, f.ty, h, off + f.offset, types),
                        )
                    })
                    .collect(),
            )
        }
        // NumError.Err and PathError.Err, when not shown as a message.
        Kind::Interface { empty: false } if off == 32 && h.inner.is_some() => {
            let inner = h.inner.as_deref().expect("checked");
            if let Some(msg) = error_message(inner, types) {
                return msg;
            }
            return GoValue::Dynamic {
                ty: inner.ty.clone(),
                value: Box::new(dynamic_value(inner, types)),
            };
        }
        Kind::Array { elem, len } => {
            let size = table.get(*elem).size.max(1);
            // Only what the image holds, then one marker: an array may be
            // far larger than the bytes copied.
            let fits = (h.image.len() as u64).saturating_sub(off).div_ceil(size);
            let mut items: Vec<GoValue> = (0..(*len).min(fits))
                .map(|i| image_field(table, *elem, h, off + i * size, types))
                .collect();
            if fits < *len {
                items.push(beyond());
            }
            return GoValue::Array(items);
        }
        _ => {
            return GoValue::Unavailable(format!(
                "{} inside a dynamic value is not decoded",
                t.name
            ))
        }
    };
    match bytes(t.size) {
        Some(v) => scalar(v, kind, t.size as u8),
        None => beyond(),
    }
}

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
        Shape::Interface { ty, .. } => match held(s, slots, types) {
            Ok(None) => GoValue::Null,
            Err(v) => v,
            Ok(Some(h)) if h.data_nil => GoValue::Dynamic {
                ty: h.ty,
                value: Box::new(GoValue::Null),
            },
            Ok(Some(h)) => {
                if ty == "error" {
                    if let Some(msg) = error_message(&h, types) {
                        return msg;
                    }
                }
                GoValue::Dynamic {
                    value: Box::new(dynamic_value(&h, types)),
                    ty: h.ty,
                }
            }
        },
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
                    None if *len == 0 => GoValue::Seq {
                        items: Vec::new(),
                        len: 0,
                        cap,
                    },
                    None => GoValue::Unavailable(format!(
                        "{ty} of length {len}: its elements are not captured here (a slice inside a slice element, or of maps or channels)"
                    )),
                },
                _ => fault(),
            }
        }
        Shape::Elems {
            op,
            cap_op,
            first,
            elem,
            ..
        } => {
            let cap = match cap_op.and_then(|c| slots.get(c)) {
                Some(Slot::Scalar(v)) => Some(*v),
                _ => None,
            };
            match elements(*op, *first, elem, slots, types) {
                Some(Ok((len, items))) => GoValue::Seq { items, len, cap },
                Some(Err(())) => GoValue::Null,
                None => fault(),
            }
        }
        Shape::Pointer { addr_op, pointee } => match slots.get(*addr_op) {
            Some(Slot::Scalar(0) | Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(_)) => shape(pointee, slots, types),
            _ => fault(),
        },
        Shape::Map { len_op, entries } => match slots.get(*len_op) {
            Some(Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(n)) => {
                let mut m = vec![("len".into(), GoValue::Uint(*n))];
                if let Some(e) = entries
                    .as_deref()
                    .and_then(|e| map_entries(e, slots, types))
                {
                    m.push(("entries".into(), e));
                }
                GoValue::Struct(m)
            }
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

/// The elements an `OP_ELEMS` op copied, each decoded by
/// `elem` (whose ops are numbered from `first`): (length, values);
/// Err for nil, None when unreadable.
fn elements(
    op: usize,
    first: usize,
    elem: &Shape,
    slots: &[Slot<'_>],
    types: TypeNames<'_>,
) -> Option<Result<(u64, Vec<GoValue>), ()>> {
    match slots.get(op)? {
        Slot::Nil => Some(Err(())),
        Slot::Elems { len, items } => Some(Ok((
            *len,
            items
                .iter()
                .map(|item| {
                    // The element shape names its ops by index.
                    let mut v = vec![Slot::Fault; first];
                    v.extend(item.iter().cloned());
                    shape(elem, &v, types)
                })
                .collect(),
        ))),
        _ => None,
    }
}

/// A small map's entries: an object when every key is a string, else an
/// array of [key, value] pairs. None when the map is not small (its
/// entries are not all in the one group or bucket read) or unreadable.
fn map_entries(e: &MapEntries, slots: &[Slot<'_>], types: TypeNames<'_>) -> Option<GoValue> {
    let word = |op: usize| match slots.get(op) {
        Some(Slot::Scalar(v)) => Some(Some(*v)),
        // Nil on the way: no group or bucket allocated yet.
        Some(Slot::Nil) => Some(None),
        _ => None,
    };
    let elems = |s: &Shape| match s {
        Shape::Elems {
            op, first, elem, ..
        } => elements(*op, *first, elem, slots, types),
        _ => None,
    };
    let mut pairs = Vec::new();
    match e {
        MapEntries::Group {
            dir_len_op,
            ctrl_op,
            slots: group,
        } => {
            if word(*dir_len_op)?? != 0 {
                return None;
            }
            let Some(ctrl) = word(*ctrl_op)? else {
                return Some(GoValue::Struct(Vec::new()));
            };
            let Ok((_, items)) = elems(group)? else {
                return Some(GoValue::Struct(Vec::new()));
            };
            for (j, item) in items.into_iter().enumerate() {
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
            b_op,
            old_op,
            tophash_op,
            keys,
            values,
        } => {
            if word(*b_op)?.unwrap_or(0) & 0xff != 0 || word(*old_op)?.unwrap_or(0) != 0 {
                return None;
            }
            let Some(tophash) = word(*tophash_op)? else {
                return Some(GoValue::Struct(Vec::new()));
            };
            let (Ok((_, ks)), Ok((_, vs))) = (elems(keys)?, elems(values)?) else {
                return Some(GoValue::Struct(Vec::new()));
            };
            for (j, (k, v)) in ks.into_iter().zip(vs).enumerate() {
                // emptyRest 0, emptyOne 1, evacuated 2–4: full from 5.
                if (tophash >> (8 * j)) & 0xff >= 5 {
                    pairs.push((k, v));
                }
            }
        }
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
    fn quoting_follows_go_for_ascii_and_refuses_the_rest() {
        assert_eq!(
            go_quote("x\ty\"\\\u{7f}\u{1}").unwrap(),
            r#""x\ty\"\\\x7f\x01""#
        );
        // Go escapes U+200B; gotel does not guess which runes Go escapes.
        assert_eq!(go_quote("\u{200b}1"), None);
    }

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
