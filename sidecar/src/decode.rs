//! Turns the captured bytes of one event back into Go values, guided by the
//! site plan that produced the recipe.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use std::rc::Rc;
use std::sync::Arc;

use crate::dynamic::{pointer_shaped, IfaceAt, TypePlan};
use crate::golang::types::{Field, Kind, TypeId, TypeTable};
use crate::plan::{Image, MapEntries, ScalarKind, Shape, SitePlan};
use crate::recipe::{
    RawOp, LOC_ELEM, MAX_DYN, MAX_TYPE_OPS, OPF_DYN, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_STRING,
    OP_STRINGS,
};

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
fn slots<'a>(
    ops: &[RawOp],
    data: &'a [u8],
    fault_mask: u32,
    nil_mask: u32,
) -> (Vec<Slot<'a>>, usize) {
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
            return (out, data.len());
        }
    }
    (out, off)
}

/// One dynamic value's block: its type's recipe and the slots of its ops.
struct Block<'a> {
    rtype: u64,
    parent: usize,
    op: usize,
    /// The element of the parent op (`OP_ELEMS`), else 0.
    elem: usize,
    plan: Arc<TypePlan>,
    slots: Vec<Slot<'a>>,
}

/// A record split into the site's slots and the dynamic values' blocks.
struct Rec<'a> {
    slots: Vec<Slot<'a>>,
    /// Shared by the record's elements.
    blocks: Rc<Vec<Block<'a>>>,
    /// Bit i: op i is an `OPF_DYN` op, whose value may have a block.
    dyn_mask: u32,
    /// Decoding element `elem` of an `OP_ELEMS` op (else 0).
    elem: usize,
}

impl Rec<'_> {
    /// The block of the value that op `op` of `parent` (0: the site,
    /// b + 1: block b) queued. Blocks only follow their parents, so a
    /// walk from parent to child always moves forward.
    fn child(&self, parent: usize, op: usize) -> Option<usize> {
        let elem = if parent == 0 { self.elem } else { 0 };
        self.blocks
            .iter()
            .enumerate()
            .skip(parent)
            .find(|(_, b)| b.parent == parent && b.op == op && b.elem == elem)
            .map(|(i, _)| i)
    }
}

/// The blocks after the site's data at `off` (see `gotel_dyn_block`);
/// stops at the first one whose type's recipe is unknown or that is cut.
fn blocks<'a>(data: &'a [u8], mut off: usize, types: TypeNames<'_>) -> Vec<Block<'a>> {
    let mut out = Vec::new();
    while out.len() < MAX_DYN {
        let (Some(rtype), Some(head)) = (u64_at(data, off), data.get(off + 8..off + 24)) else {
            break;
        };
        let (parent, op, n_ops) = (usize::from(head[0]), usize::from(head[1]), head[2]);
        let elem = usize::from(head[3]);
        let nil_bits = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let fault_bits = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        // A parent is the site or an earlier block.
        if parent > out.len() {
            break;
        }
        let Some(plan) = types.dyn_plan(rtype) else {
            break;
        };
        if plan.recipe.n_ops != n_ops || usize::from(n_ops) > MAX_TYPE_OPS {
            break;
        }
        off += 24;
        let mut slots = Vec::with_capacity(usize::from(n_ops));
        for (t, o) in plan.recipe.ops[..usize::from(n_ops)].iter().enumerate() {
            let bits = (fault_bits & (1 << t) != 0, nil_bits & (1 << t) != 0);
            match slot(o, data, &mut off, bits) {
                Some(s) => slots.push(s),
                None => return out,
            }
        }
        out.push(Block {
            rtype,
            parent,
            op,
            elem,
            plan,
            slots,
        });
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
    /// The recipe installed for the dynamic type whose `_type` is at
    /// `addr` (its blocks are laid out by it).
    fn dyn_plan(&self, _addr: u64) -> Option<Arc<TypePlan>> {
        None
    }
    /// A record showed a dynamic value of the type at `addr` without its
    /// block: plan its recipe if it has none. True when later values of
    /// the type will have it.
    fn want_type(&self, _addr: u64) -> bool {
        false
    }
}

type TypeNames<'a> = &'a dyn Names;

/// Error types whose `Error()` returns exactly the string their data
/// pointer points at (their first field), so that string is the message.
const MESSAGE_FIRST_FIELD: &[&str] = &["*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors"];

/// Error types whose `Error()` is a constant (DWARF and runtime names).
const CONSTANT_MESSAGE: &[(&str, &str)] = &[
    ("*internal/poll.DeadlineExceededError", "i/o timeout"),
    ("*poll.DeadlineExceededError", "i/o timeout"),
    ("context.deadlineExceededError", "context deadline exceeded"),
];

/// An interface inside a dynamic value.
enum Inner<'a> {
    /// A nil interface.
    Nil,
    /// What was captured of its dynamic value.
    Held(Held<'a>),
    /// Shown as is: unreadable, or a type gotel cannot name.
    Shown(GoValue),
}

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
    /// Slices read at offsets of the dynamic value.
    slices: Vec<(u64, GoValue)>,
    /// Interfaces inside the dynamic value.
    ifaces: Vec<(u64, Inner<'a>)>,
    /// The data word is nil: a typed nil pointer (`(*T)(nil)`).
    data_nil: bool,
    /// Captured by the type's own recipe: every string, slice and
    /// interface of the value that fitted is in the lists.
    complete: bool,
    /// Not, but the type's recipe is being planned (first sight).
    learning: bool,
}

impl Held<'_> {
    fn string(&self, off: u64) -> Option<&GoValue> {
        self.strings.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    fn slice(&self, off: u64) -> Option<&GoValue> {
        self.slices.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    fn iface(&self, off: u64) -> Option<&Inner<'_>> {
        self.ifaces.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    fn word(&self, off: usize) -> Option<u64> {
        let b = self.image.get(off..off + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// Why bytes past the image are missing.
    fn uncopied(&self) -> String {
        if self.image.is_empty() {
            "not captured at this site (no room left)".to_string()
        } else {
            format!(
                "beyond the first {} bytes of the dynamic value, which is all gotel copies",
                self.image.len()
            )
        }
    }

    /// Why a field (a `ty` at `off`) the lists do not hold is missing.
    fn missing(&self, ty: &str, off: u64) -> GoValue {
        GoValue::Unavailable(if self.complete {
            format!(
                "not captured: {}'s recipe has no room for this {ty} ({MAX_TYPE_OPS} captures: its first bytes, then strings, slices of fixed-size elements and interfaces in field order)",
                self.ty
            )
        } else if self.learning {
            format!(
                "not captured in this record: gotel plans a capture for {} when it first sees one, and later values show this field",
                self.ty
            )
        } else if self.image.is_empty() {
            self.uncopied()
        } else {
            format!("a {ty} at offset {off} of a dynamic value is not captured here")
        })
    }
}

/// Reads what an Interface shape captured; None for a nil interface, Err
/// with the value to show when the dynamic type cannot be named.
fn held<'a>(
    s: &Shape,
    rec: &'a Rec<'a>,
    types: TypeNames<'_>,
) -> Result<Option<Held<'a>>, GoValue> {
    let Shape::Interface {
        type_op,
        image_op,
        strings,
        ty,
    } = s
    else {
        return Err(GoValue::Unavailable("not an interface".into()));
    };
    let slots = &rec.slots;
    let rtype = match slots.get(*type_op) {
        Some(Slot::Scalar(0) | Slot::Nil) => return Ok(None),
        Some(Slot::Scalar(t)) => *t,
        _ => return Err(GoValue::Unavailable(READ_FAULT.into())),
    };
    // The dynamic type's own recipe ran: all of it is in its block.
    let mut learning = false;
    if let Some(o) = image_op.filter(|o| rec.dyn_mask & (1 << o) != 0) {
        if let Some(b) = rec.child(0, o) {
            return Ok(Some(held_block(rec, b, types)));
        }
        learning = types.want_type(rtype);
    }
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
        .map(|(off, op)| (*off, text(slots.get(*op))))
        .collect();
    Ok(Some(Held {
        ty: name,
        rtype,
        image,
        strings,
        slices: Vec::new(),
        ifaces: Vec::new(),
        data_nil,
        complete: false,
        learning,
    }))
}

/// A captured string, null when nil on the way.
fn text(slot: Option<&Slot<'_>>) -> GoValue {
    match slot {
        Some(Slot::String { len, bytes }) => GoValue::captured(bytes, *len),
        Some(Slot::Nil) => GoValue::Null,
        _ => GoValue::Unavailable(READ_FAULT.into()),
    }
}

/// The dynamic value block `bi` captured, with the values its own
/// interfaces hold.
fn held_block<'a>(rec: &'a Rec<'a>, bi: usize, types: TypeNames<'_>) -> Held<'a> {
    let b = &rec.blocks[bi];
    let p = &b.plan;
    let image = match p.image_op.and_then(|o| b.slots.get(o)) {
        Some(Slot::String { bytes, .. }) => *bytes,
        _ => &[],
    };
    Held {
        ty: types
            .type_name(b.rtype)
            .unwrap_or_else(|| format!("type {:#x}", b.rtype)),
        rtype: b.rtype,
        image,
        strings: p
            .strings
            .iter()
            .map(|(off, op)| (*off, text(b.slots.get(*op))))
            .collect(),
        slices: p
            .slices
            .iter()
            .map(|s| {
                let v = match b.slots.get(s.op) {
                    Some(Slot::Nil) => GoValue::Null,
                    slot => slice_elems(slot, Some(&s.elem), s.elem_size, None, "slice"),
                };
                (s.off, v)
            })
            .collect(),
        ifaces: p
            .ifaces
            .iter()
            .map(|f| (f.off, inner_at(rec, bi + 1, f, &b.slots, types)))
            .collect(),
        data_nil: false,
        complete: true,
        learning: false,
    }
}

/// Interface `f` of a dynamic value (block `parent` - 1): its own block
/// when its type has a recipe, else its type and short image.
fn inner_at<'a>(
    rec: &'a Rec<'a>,
    parent: usize,
    f: &IfaceAt,
    slots: &'a [Slot<'a>],
    types: TypeNames<'_>,
) -> Inner<'a> {
    let t = match slots.get(f.type_op) {
        Some(Slot::Scalar(0) | Slot::Nil) => return Inner::Nil,
        Some(Slot::Scalar(t)) => *t,
        _ => return Inner::Shown(GoValue::Unavailable(READ_FAULT.into())),
    };
    if let Some(c) = rec.child(parent, f.data_op) {
        return Inner::Held(held_block(rec, c, types));
    }
    let learning = types.want_type(t);
    let Some(ty) = types.type_name(t) else {
        return Inner::Shown(GoValue::Interface(format!(
            "non-nil interface of a dynamic type gotel cannot name (runtime type {t:#x})"
        )));
    };
    let (image, data_nil) = match slots.get(f.data_op) {
        Some(Slot::String { bytes, .. }) => (*bytes, false),
        Some(Slot::Nil) => (&[][..], true),
        _ => (&[][..], false),
    };
    Inner::Held(Held {
        ty,
        rtype: t,
        image,
        strings: Vec::new(),
        slices: Vec::new(),
        ifaces: Vec::new(),
        data_nil,
        complete: false,
        learning,
    })
}

/// How a non-nil interface is shown: an error's message when gotel can
/// rebuild it, else `{type, value}`.
fn held_value(h: &Held<'_>, is_error: bool, types: TypeNames<'_>) -> GoValue {
    if h.data_nil {
        return GoValue::Dynamic {
            ty: h.ty.clone(),
            value: Box::new(GoValue::Null),
        };
    }
    if is_error {
        if let Some(msg) = error_message(h, types) {
            return msg;
        }
    }
    GoValue::Dynamic {
        ty: h.ty.clone(),
        value: Box::new(dynamic_value(h, types)),
    }
}

fn inner_value(i: &Inner<'_>, is_error: bool, types: TypeNames<'_>) -> GoValue {
    match i {
        Inner::Nil => GoValue::Null,
        Inner::Held(h) => held_value(h, is_error, types),
        Inner::Shown(v) => v.clone(),
    }
}

/// The struct fields of a dynamic value (of `*T`: of the T), by DWARF.
fn value_fields<'t>(
    name: &str,
    rtype: u64,
    types: TypeNames<'t>,
) -> Option<(&'t TypeTable, &'t [Field])> {
    let table = types.type_table()?;
    let target = match types.type_id(rtype) {
        Some(id) => match &table.get(id).kind {
            Kind::Pointer { elem: Some(e) } => *e,
            _ => id,
        },
        // `*T` where DWARF only has T.
        None => types.type_named(name.strip_prefix('*')?)?,
    };
    match &table.get(target).kind {
        Kind::Struct { fields } => Some((table, fields)),
        _ => None,
    }
}

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
    let text = match h.ty.as_str() {
        "*strconv.NumError" => format!(
            "strconv.{}: parsing {}: {}",
            whole(h.string(0))?,
            go_quote(whole(h.string(16))?)?,
            inner_error(h.iface(32)?, types)?
        ),
        "*io/fs.PathError" | "*fs.PathError" => format!(
            "{} {}: {}",
            whole(h.string(0))?,
            whole(h.string(16))?,
            inner_error(h.iface(32)?, types)?
        ),
        "syscall.Errno" => types.errno_text(h.word(0)?)?,
        ty => match CONSTANT_MESSAGE.iter().find(|(t, _)| *t == ty) {
            Some((_, m)) => m.to_string(),
            None => net_error_message(h, types)?,
        },
    };
    Some(GoValue::Str {
        len: text.len() as u64,
        text,
        truncated: false,
    })
}

/// The message of a wrapped error, complete or None.
fn inner_error(i: &Inner<'_>, types: TypeNames<'_>) -> Option<String> {
    match i {
        Inner::Held(h) if !h.data_nil => whole(error_message(h, types).as_ref()).map(String::from),
        _ => None,
    }
}

/// `Error()` of the os, net and net/url errors, from their fields by name.
fn net_error_message(h: &Held<'_>, types: TypeNames<'_>) -> Option<String> {
    let (_, fields) = value_fields(&h.ty, h.rtype, types)?;
    let at = |name: &str| fields.iter().find(|f| f.name == name).map(|f| f.offset);
    let s = |name: &str| whole(h.string(at(name)?));
    let err = |name: &str| inner_error(h.iface(at(name)?)?, types);
    Some(match h.ty.as_str() {
        "*os.SyscallError" => format!("{}: {}", s("Syscall")?, err("Err")?),
        "*net.OpError" => {
            let mut m = s("Op")?.to_string();
            let net = s("Net")?;
            if !net.is_empty() {
                m = format!("{m} {net}");
            }
            let source = addr_string(h.iface(at("Source")?)?, types)?;
            let addr = addr_string(h.iface(at("Addr")?)?, types)?;
            if let Some(src) = &source {
                m = format!("{m} {src}");
            }
            if let Some(a) = addr {
                let sep = if source.is_some() { "->" } else { " " };
                m = format!("{m}{sep}{a}");
            }
            format!("{m}: {}", err("Err")?)
        }
        "*net.AddrError" => match s("Addr")? {
            "" => s("Err")?.to_string(),
            a => format!("address {a}: {}", s("Err")?),
        },
        "*net.DNSError" => {
            let mut m = format!("lookup {}", s("Name")?);
            match s("Server")? {
                "" => {}
                srv => m = format!("{m} on {srv}"),
            }
            format!("{m}: {}", s("Err")?)
        }
        "*net/url.Error" | "*url.Error" => {
            format!("{} {}: {}", s("Op")?, go_quote(s("URL")?)?, err("Err")?)
        }
        _ => return None,
    })
}

/// `addr.String()` of a `net.Addr` (None inside for a nil one); None
/// when its type or a part is not known exactly.
fn addr_string(i: &Inner<'_>, types: TypeNames<'_>) -> Option<Option<String>> {
    let h = match i {
        Inner::Nil => return Some(None),
        Inner::Held(h) => h,
        Inner::Shown(_) => return None,
    };
    if h.data_nil {
        return Some(Some("<nil>".into()));
    }
    let (table, fields) = value_fields(&h.ty, h.rtype, types)?;
    let at = |name: &str| fields.iter().find(|f| f.name == name);
    let ip = || -> Option<String> {
        match h.slice(at("IP")?.offset)? {
            GoValue::Bytes { data, len } if data.len() as u64 == *len => Some(ip_string(data)),
            GoValue::Null => Some(String::new()),
            _ => None,
        }
    };
    let zone = || whole(h.string(at("Zone")?.offset));
    Some(Some(match h.ty.as_str() {
        "*net.TCPAddr" | "*net.UDPAddr" => {
            let port = at("Port")?;
            let port = match image_field(table, port.ty, h, port.offset, types) {
                GoValue::Int(p) => p,
                _ => return None,
            };
            let mut host = ip()?;
            let zone = zone()?;
            if !zone.is_empty() {
                host = format!("{host}%{zone}");
            }
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        "*net.IPAddr" => match zone()? {
            "" => ip()?,
            z => format!("{}%{z}", ip()?),
        },
        "*net.UnixAddr" => whole(h.string(at("Name")?.offset))?.to_string(),
        _ => return None,
    }))
}

/// `net.IP.String()` of a non-empty IP, as Go prints it: dotted for IPv4
/// (and IPv4-mapped IPv6), RFC 5952 for IPv6, `?` and hex otherwise.
pub fn ip_string(ip: &[u8]) -> String {
    match ip.len() {
        0 => String::new(),
        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
        16 if ip[..10].iter().all(|b| *b == 0) && ip[10] == 0xff && ip[11] == 0xff => {
            std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).to_string()
        }
        16 => {
            let b: [u8; 16] = ip.try_into().expect("16 bytes");
            std::net::Ipv6Addr::from(b).to_string()
        }
        _ => format!(
            "?{}",
            ip.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
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
        _ if pointer_shaped(table, id) => GoValue::Unavailable(format!(
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
    let beyond = || GoValue::Unavailable(h.uncopied());
    let kind = match &t.kind {
        Kind::Bool => ScalarKind::Bool,
        Kind::Int { signed: true } => ScalarKind::Int,
        Kind::Int { signed: false } => ScalarKind::Uint,
        Kind::Float => ScalarKind::Float,
        Kind::Pointer { .. } | Kind::UnsafePointer => ScalarKind::Pointer,
        Kind::String => {
            return match h.string(off) {
                Some(v) => v.clone(),
                None => h.missing("string", off),
            }
        }
        Kind::Slice { .. } => {
            return match h.slice(off) {
                Some(v) => v.clone(),
                None => h.missing(&t.name, off),
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
        Kind::Interface { .. } => {
            return match h.iface(off) {
                Some(i) => inner_value(i, t.name == "error", types),
                None => h.missing(&t.name, off),
            }
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
    let (slots, end) = slots(ops, data, masks.0, masks.1);
    let dyn_mask = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.flags & OPF_DYN != 0)
        .fold(0u32, |m, (i, _)| m | (1 << i));
    let blocks = if dyn_mask != 0 {
        blocks(data, end, types)
    } else {
        Vec::new()
    };
    let rec = Rec {
        slots,
        blocks: Rc::new(blocks),
        dyn_mask,
        elem: 0,
    };
    site.values
        .iter()
        .map(|v| (v.name.clone(), shape(&v.shape, &rec, types)))
        .collect()
}

fn shape(s: &Shape, rec: &Rec<'_>, types: TypeNames<'_>) -> GoValue {
    let fault = || GoValue::Unavailable(READ_FAULT.into());
    let slots = &rec.slots;
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
        Shape::Interface { ty, .. } => match held(s, rec, types) {
            Ok(None) => GoValue::Null,
            Err(v) => v,
            Ok(Some(h)) => held_value(&h, ty == "error", types),
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
                slot => slice_elems(slot, elem.as_ref(), *elem_size, cap, ty),
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
            match elements(*op, *first, elem, rec, types) {
                Some(Ok((len, items))) => GoValue::Seq { items, len, cap },
                Some(Err(())) => GoValue::Null,
                None => fault(),
            }
        }
        Shape::Pointer { addr_op, pointee } => match slots.get(*addr_op) {
            Some(Slot::Scalar(0) | Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(_)) => shape(pointee, rec, types),
            _ => fault(),
        },
        Shape::Map { len_op, entries } => match slots.get(*len_op) {
            Some(Slot::Nil) => GoValue::Null,
            Some(Slot::Scalar(n)) => {
                let mut m = vec![("len".into(), GoValue::Uint(*n))];
                if let Some(e) = entries.as_deref().and_then(|e| map_entries(e, rec, types)) {
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
                .map(|(k, f)| (k.clone(), shape(f, rec, types)))
                .collect(),
        ),
        Shape::Array(items) => GoValue::Array(items.iter().map(|f| shape(f, rec, types)).collect()),
        Shape::Unavailable(why) => GoValue::Unavailable(why.clone()),
    }
}

/// A slice whose elements were copied as one run of bytes (`OP_STRING`
/// with the element size), decoded by `elem`.
fn slice_elems(
    slot: Option<&Slot<'_>>,
    elem: Option<&Image>,
    elem_size: u64,
    cap: Option<u64>,
    ty: &str,
) -> GoValue {
    let Some(Slot::String { len, bytes }) = slot else {
        return GoValue::Unavailable(READ_FAULT.into());
    };
    match elem {
        Some(Image::Byte) => GoValue::Bytes {
            data: bytes.to_vec(),
            len: *len,
        },
        Some(img) => GoValue::Seq {
            items: bytes
                .chunks_exact(elem_size.max(1) as usize)
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
    }
}

/// The elements an `OP_ELEMS` op copied, each decoded by
/// `elem` (whose ops are numbered from `first`): (length, values);
/// Err for nil, None when unreadable.
fn elements(
    op: usize,
    first: usize,
    elem: &Shape,
    rec: &Rec<'_>,
    types: TypeNames<'_>,
) -> Option<Result<(u64, Vec<GoValue>), ()>> {
    match rec.slots.get(op)? {
        Slot::Nil => Some(Err(())),
        Slot::Elems { len, items } => Some(Ok((
            *len,
            items
                .iter()
                .enumerate()
                .map(|(j, item)| {
                    // The element shape names its ops by index.
                    let mut slots = vec![Slot::Fault; first];
                    slots.extend(item.iter().cloned());
                    let rec = Rec {
                        slots,
                        blocks: rec.blocks.clone(),
                        dyn_mask: rec.dyn_mask,
                        elem: j,
                    };
                    shape(elem, &rec, types)
                })
                .collect(),
        ))),
        _ => None,
    }
}

/// A map's entries (a larger map's first group or bucket): an object when
/// every key is a string, else an array of [key, value] pairs. None when
/// they were not captured, the map is growing (Go < 1.24), or unreadable.
fn map_entries(e: &MapEntries, rec: &Rec<'_>, types: TypeNames<'_>) -> Option<GoValue> {
    let word = |op: usize| match rec.slots.get(op) {
        Some(Slot::Scalar(v)) => Some(Some(*v)),
        // Nil on the way: no group or bucket allocated yet.
        Some(Slot::Nil) => Some(None),
        _ => None,
    };
    let elems = |s: &Shape| match s {
        Shape::Elems {
            op, first, elem, ..
        } => elements(*op, *first, elem, rec, types),
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
                return Some(GoValue::Struct(Vec::new()));
            };
            let Ok((_, items)) = elems(group)? else {
                return Some(GoValue::Struct(Vec::new()));
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
                return Some(GoValue::Struct(Vec::new()));
            };
            let (Ok((_, ks)), Ok((_, vs))) = (elems(keys)?, elems(values)?) else {
                return Some(GoValue::Struct(Vec::new()));
            };
            for (j, (k, v)) in ks.into_iter().zip(vs).take(8).enumerate() {
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
        let (s, _) = slots(&ops, &data, 0, 0);
        assert!(matches!(
            s[0],
            Slot::String {
                len: 10,
                bytes: b"abc"
            }
        ));
        assert!(matches!(s[1], Slot::Scalar(42)));
        let (s, _) = slots(&ops, &data, 0b10, 0);
        assert!(matches!(s[1], Slot::Fault));
    }

    #[test]
    fn ips_print_as_go_prints_them() {
        assert_eq!(ip_string(&[127, 0, 0, 1]), "127.0.0.1");
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(ip_string(&mapped), "10.1.2.3");
        let v6 = |s: &str| ip_string(&s.parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(v6("fe80:0:0:0:0:0:0:1"), "fe80::1");
        // IPv4-compatible: Go has no special form for it.
        assert_eq!(v6("::102:304"), "::102:304");
        assert_eq!(v6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(ip_string(&[1, 2, 3]), "?010203");
    }

    /// A dynamic value with an error inside, each by its type's recipe.
    struct TwoTypes {
        table: TypeTable,
        e: TypeId,
        es: TypeId,
    }

    const E_ADDR: u64 = 0x1000;
    const ES_ADDR: u64 = 0x2000;

    impl TwoTypes {
        fn new() -> Self {
            use crate::golang::types::GoType;
            let mut t = TypeTable::default();
            let mut add = |name: &str, size, kind| {
                t.push(GoType {
                    name: name.into(),
                    size,
                    kind,
                })
            };
            let string = add("string", 16, Kind::String);
            let int = add("int", 8, Kind::Int { signed: true });
            let error = add("error", 16, Kind::Interface { empty: false });
            let f = |name: &str, offset, ty| Field {
                name: name.into(),
                offset,
                ty,
            };
            let e_struct = Kind::Struct {
                fields: vec![f("Code", 0, int), f("Msg", 8, string), f("Err", 24, error)],
            };
            let e = add("main.E", 40, e_struct);
            let es = add(
                "errors.errorString",
                16,
                Kind::Struct {
                    fields: vec![f("s", 0, string)],
                },
            );
            let e = add("*main.E", 8, Kind::Pointer { elem: Some(e) });
            let es = add("*errors.errorString", 8, Kind::Pointer { elem: Some(es) });
            TwoTypes { table: t, e, es }
        }

        fn id(&self, addr: u64) -> Option<TypeId> {
            match addr {
                E_ADDR => Some(self.e),
                ES_ADDR => Some(self.es),
                _ => None,
            }
        }
    }

    impl Names for TwoTypes {
        fn type_name(&self, addr: u64) -> Option<String> {
            Some(self.table.get(self.id(addr)?).name.clone())
        }
        fn func_name(&self, _: u64) -> Option<String> {
            None
        }
        fn type_table(&self) -> Option<&TypeTable> {
            Some(&self.table)
        }
        fn type_id(&self, addr: u64) -> Option<TypeId> {
            self.id(addr)
        }
        fn dyn_plan(&self, addr: u64) -> Option<Arc<TypePlan>> {
            crate::dynamic::plan_type(&self.table, self.id(addr)?, 64).map(Arc::new)
        }
    }

    fn put_scalar(d: &mut Vec<u8>, v: u64) {
        d.extend_from_slice(&v.to_le_bytes());
    }

    fn put_bytes(d: &mut Vec<u8>, b: &[u8]) {
        d.extend_from_slice(&(b.len() as u64).to_le_bytes());
        d.extend_from_slice(&(b.len() as u32).to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(b);
        d.resize(d.len() + (8 - b.len() % 8) % 8, 0);
    }

    fn put_block(d: &mut Vec<u8>, rtype: u64, parent: u8, op: u8, n_ops: u8) {
        put_scalar(d, rtype);
        d.extend_from_slice(&[parent, op, n_ops, 0]);
        d.extend_from_slice(&[0; 12]);
    }

    /// The site: an `error` argument (type word, string at offset 0, the
    /// image that queues its dynamic value), then `*main.E`'s block and the
    /// `*errors.errorString` block of its Err, parent `e_parent`.
    fn record(e_parent: u8, cut: usize) -> (SitePlan, Vec<u8>) {
        let op = |kind, flags| RawOp {
            kind,
            size: 1,
            max_len: 64,
            flags,
            ..Default::default()
        };
        let mut recipe = crate::recipe::RawRecipe {
            n_ops: 3,
            ..Default::default()
        };
        recipe.ops[0] = op(OP_SCALAR, 0);
        recipe.ops[1] = op(OP_STRING, 0);
        recipe.ops[2] = op(OP_BYTES, OPF_DYN);
        let site = SitePlan {
            recipe,
            values: vec![crate::plan::Value {
                name: "err".into(),
                ty: "error".into(),
                location: "-".into(),
                shape: Shape::Interface {
                    type_op: 0,
                    image_op: Some(2),
                    strings: vec![(0, 1)],
                    ty: "error".into(),
                },
            }],
        };
        let mut d = Vec::new();
        put_scalar(&mut d, E_ADDR);
        put_bytes(&mut d, b"");
        let mut image = 5u64.to_le_bytes().to_vec();
        image.resize(40, 0xee);
        put_bytes(&mut d, &image);
        // *main.E: image, Msg, Err's type word and data image.
        put_block(&mut d, E_ADDR, 0, 2, 4);
        put_bytes(&mut d, &image);
        put_bytes(&mut d, b"boom");
        put_scalar(&mut d, ES_ADDR);
        put_bytes(&mut d, &[0xee; 16]);
        // *errors.errorString: image, s.
        put_block(&mut d, ES_ADDR, e_parent, 3, 2);
        put_bytes(&mut d, &[0xee; 16]);
        put_bytes(&mut d, b"inner");
        d.truncate(d.len() - cut);
        (site, d)
    }

    #[test]
    fn dynamic_values_nest_through_their_blocks() {
        let names = TwoTypes::new();
        let (site, data) = record(1, 0);
        let v = decode(&site, &data, (0, 0), &names);
        assert_eq!(
            serde_json::to_value(&v[0].1).unwrap(),
            serde_json::json!({"type": "*main.E", "value": {
                "Code": 5, "Msg": "boom", "Err": "inner"}})
        );
    }

    #[test]
    fn blocks_that_do_not_follow_their_parent_or_are_cut_are_not_used() {
        let names = TwoTypes::new();
        // A parent that is not an earlier block: the Err shows its type only.
        for (parent, cut) in [(2, 0), (9, 0), (1, 30)] {
            let (site, data) = record(parent, cut);
            let v = serde_json::to_value(&decode(&site, &data, (0, 0), &names)[0].1).unwrap();
            assert_eq!(v["value"]["Msg"], "boom", "{parent} {cut}: {v}");
            assert_eq!(
                v["value"]["Err"]["type"], "*errors.errorString",
                "{parent} {cut}: {v}"
            );
            assert!(
                v["value"]["Err"]["value"]["s"]["unavailable"].is_string(),
                "{v}"
            );
        }
        // The first block cut: nothing of it is used.
        let (site, mut data) = record(1, 0);
        data.truncate(data.len() - 204);
        let v = serde_json::to_value(&decode(&site, &data, (0, 0), &names)[0].1).unwrap();
        assert_eq!(v["value"]["Code"], 5, "{v}");
        assert!(v["value"]["Msg"]["unavailable"].is_string(), "{v}");
    }
}
