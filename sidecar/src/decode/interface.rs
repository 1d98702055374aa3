//! An interface's dynamic value: what a record holds of it (its type's
//! own block, or the first bytes at its data pointer and the strings the
//! site read), and the value shown for it.

use super::errors::error_message;
use super::shape::{scalar, slice_value};
use super::wire::{Capture, Rec};
use super::{type_id, type_name, Cx, GoValue, Names};
use crate::golang::types::{reflect_kind, Field, Kind, TypeId, TypeTable};
use crate::plan::{pointer_shaped, IfaceAt};
use crate::plan::{ScalarKind, Shape};
use crate::recipe::MAX_TYPE_OPS;
use crate::redact::Redaction;

/// An interface inside a dynamic value.
pub(super) enum Inner<'a> {
    /// A nil interface.
    Nil,
    /// What was captured of its dynamic value.
    Held(Held<'a>),
    /// Shown as is: unreadable, or a type gotel cannot name.
    Shown(GoValue),
}

/// What was captured of one interface's dynamic value.
pub(super) struct Held<'a> {
    /// The dynamic type's name.
    pub ty: String,
    /// Its runtime `_type` address.
    pub rtype: u64,
    /// The value's first bytes, copied at the data pointer (empty when
    /// not copied): its scalars and pointers.
    pub head: &'a [u8],
    /// Strings read at offsets of the dynamic value.
    pub strings: Vec<(u64, GoValue)>,
    /// Slices read at offsets of the dynamic value.
    pub slices: Vec<(u64, GoValue)>,
    /// Interfaces inside the dynamic value.
    pub ifaces: Vec<(u64, Inner<'a>)>,
    /// The data word is nil: a typed nil pointer (`(*T)(nil)`).
    pub data_nil: bool,
    /// Captured by the type's own recipe: every string, slice and
    /// interface of the value that fitted is in the lists.
    pub complete: bool,
    /// Not, but the type's recipe is being planned (first sight).
    pub learning: bool,
    /// The names its recipe left out (`redact:`), when a recipe ran.
    pub redaction: Option<&'a Redaction>,
}

impl Held<'_> {
    pub fn string(&self, off: u64) -> Option<&GoValue> {
        self.strings.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    pub fn slice(&self, off: u64) -> Option<&GoValue> {
        self.slices.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    pub fn iface(&self, off: u64) -> Option<&Inner<'_>> {
        self.ifaces.iter().find(|(o, _)| *o == off).map(|(_, v)| v)
    }

    pub fn word(&self, off: usize) -> Option<u64> {
        let b = self.head.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// Why bytes past the head are missing.
    fn uncopied(&self) -> String {
        if self.head.is_empty() {
            "not captured at this site (no room left)".to_string()
        } else {
            format!(
                "beyond the first {} bytes of the dynamic value, which is all gotel copies",
                self.head.len()
            )
        }
    }

    /// Why a field (a `ty` at `off`) the lists do not hold is missing.
    fn missing(&self, ty: &str, off: u64) -> GoValue {
        GoValue::Unavailable(if self.complete {
            format!(
                "not captured: {}'s recipe has no room for this {ty} ({MAX_TYPE_OPS} captures and {} bytes: its first bytes, then strings, slices of strings or fixed-size elements and interfaces, shallower fields first)",
                self.ty,
                crate::plan::TYPE_DATA
            )
        } else if self.learning {
            format!(
                "not captured in this record: gotel plans a capture for {} when it first sees one, and later values show this field",
                self.ty
            )
        } else if self.head.is_empty() {
            self.uncopied()
        } else {
            format!("a {ty} at offset {off} of a dynamic value is not captured here")
        })
    }
}

/// Reads what an Interface shape captured; None for a nil interface, Err
/// with the value to show when the dynamic type cannot be named.
pub(super) fn held<'a>(
    s: &Shape,
    rec: &'a Rec<'a>,
    cx: &mut Cx<'_, '_>,
) -> Result<Option<Held<'a>>, GoValue> {
    let Shape::Interface {
        type_op,
        head_op,
        strings,
        ty,
    } = s
    else {
        return Err(GoValue::Unavailable("not an interface".into()));
    };
    let captures = &rec.captures;
    let rtype = match captures.get(*type_op) {
        Some(Capture::Scalar(0) | Capture::Nil) => return Ok(None),
        Some(Capture::Scalar(t)) => *t,
        _ => return Err(GoValue::fault()),
    };
    // The dynamic type's own recipe ran: all of it is in its block.
    let mut learning = false;
    if let Some(o) = head_op.filter(|o| rec.dyn_mask & (1 << o) != 0) {
        if let Some(b) = rec.child(0, o) {
            return Ok(Some(held_block(rec, b, cx)));
        }
        learning = cx.unplanned.met(rtype);
    }
    let Some(name) = type_name(cx.names, rtype) else {
        return Err(GoValue::Interface(format!(
            "non-nil {ty} of a dynamic type gotel cannot name (runtime type {rtype:#x})"
        )));
    };
    let head_capture = head_op.and_then(|o| captures.get(o));
    let head = match head_capture {
        Some(Capture::String { bytes, .. }) => *bytes,
        _ => &[],
    };
    let first_string = strings.first().and_then(|(_, op)| captures.get(*op));
    let data_nil =
        matches!(head_capture, Some(Capture::Nil)) || matches!(first_string, Some(Capture::Nil));
    let strings = strings
        .iter()
        .map(|(off, op)| (*off, text(captures.get(*op))))
        .collect();
    Ok(Some(Held {
        ty: name,
        rtype,
        head,
        strings,
        slices: Vec::new(),
        ifaces: Vec::new(),
        data_nil,
        complete: false,
        learning,
        redaction: None,
    }))
}

/// A captured string, null when nil on the way.
fn text(c: Option<&Capture<'_>>) -> GoValue {
    match c {
        Some(Capture::String { len, bytes }) => GoValue::captured(bytes, *len),
        Some(Capture::Nil) => GoValue::Null,
        _ => GoValue::fault(),
    }
}

/// The dynamic value block `bi` captured, with the values its own
/// interfaces hold.
fn held_block<'a>(rec: &'a Rec<'a>, bi: usize, cx: &mut Cx<'_, '_>) -> Held<'a> {
    let b = &rec.blocks[bi];
    let p = &b.plan;
    let head = match p.head_op.and_then(|o| b.captures.get(o)) {
        Some(Capture::String { bytes, .. }) => *bytes,
        _ => &[],
    };
    Held {
        ty: type_name(cx.names, b.rtype).unwrap_or_else(|| format!("type {:#x}", b.rtype)),
        rtype: b.rtype,
        head,
        strings: p
            .strings
            .iter()
            .map(|(off, op)| (*off, text(b.captures.get(*op))))
            .collect(),
        slices: p
            .slices
            .iter()
            .map(|s| {
                let v = slice_value(
                    b.captures.get(s.op),
                    s.elem.as_ref(),
                    s.elem_size,
                    None,
                    "slice",
                );
                (s.off, v)
            })
            .collect(),
        ifaces: p
            .ifaces
            .iter()
            .map(|f| (f.off, inner_at(rec, bi + 1, f, &b.captures, cx)))
            .collect(),
        data_nil: false,
        complete: true,
        learning: false,
        redaction: Some(&p.redaction),
    }
}

/// Interface `f` of a dynamic value (block `parent` - 1): its own block
/// when its type has a recipe, else its type and first bytes.
fn inner_at<'a>(
    rec: &'a Rec<'a>,
    parent: usize,
    f: &IfaceAt,
    captures: &'a [Capture<'a>],
    cx: &mut Cx<'_, '_>,
) -> Inner<'a> {
    let t = match captures.get(f.type_op) {
        Some(Capture::Scalar(0) | Capture::Nil) => return Inner::Nil,
        Some(Capture::Scalar(t)) => *t,
        _ => return Inner::Shown(GoValue::fault()),
    };
    if let Some(c) = rec.child(parent, f.data_op) {
        return Inner::Held(held_block(rec, c, cx));
    }
    let learning = cx.unplanned.met(t);
    let Some(ty) = type_name(cx.names, t) else {
        return Inner::Shown(GoValue::Interface(format!(
            "non-nil interface of a dynamic type gotel cannot name (runtime type {t:#x})"
        )));
    };
    let (head, data_nil) = match captures.get(f.data_op) {
        Some(Capture::String { bytes, .. }) => (*bytes, false),
        Some(Capture::Nil) => (&[][..], true),
        _ => (&[][..], false),
    };
    Inner::Held(Held {
        ty,
        rtype: t,
        head,
        strings: Vec::new(),
        slices: Vec::new(),
        ifaces: Vec::new(),
        data_nil,
        complete: false,
        learning,
        redaction: None,
    })
}

/// How a non-nil interface is shown: an error's message when gotel can
/// rebuild it, else `{type, value}`.
pub(super) fn held_value(h: &Held<'_>, is_error: bool, names: &dyn Names) -> GoValue {
    if h.data_nil {
        return GoValue::Dynamic {
            ty: h.ty.clone(),
            value: Box::new(GoValue::Null),
        };
    }
    if is_error {
        if let Some(msg) = error_message(h, names) {
            return msg;
        }
    }
    GoValue::Dynamic {
        ty: h.ty.clone(),
        value: Box::new(dynamic_value(h, names)),
    }
}

fn inner_value(i: &Inner<'_>, is_error: bool, names: &dyn Names) -> GoValue {
    match i {
        Inner::Nil => GoValue::Null,
        Inner::Held(h) => held_value(h, is_error, names),
        Inner::Shown(v) => v.clone(),
    }
}

/// The struct fields of a dynamic value (of `*T`: of the T), by DWARF.
pub(super) fn value_fields<'t>(
    name: &str,
    rtype: u64,
    names: &'t dyn Names,
) -> Option<(&'t TypeTable, &'t [Field])> {
    let table = names.type_table()?;
    let target = match type_id(names, rtype) {
        Some(id) => match &table.get(id).kind {
            Kind::Pointer { elem: Some(e) } => *e,
            _ => id,
        },
        // `*T` where DWARF only has T.
        None => names.type_named(name.strip_prefix('*')?)?,
    };
    match &table.get(target).kind {
        Kind::Struct { fields } => Some((table, fields)),
        _ => None,
    }
}

/// The value of a named interface's dynamic type, decoded from the
/// bytes copied at its data pointer.
fn dynamic_value(h: &Held<'_>, names: &dyn Names) -> GoValue {
    let Some(table) = names.type_table() else {
        return runtime_scalar(h, names);
    };
    let Some(id) = type_id(names, h.rtype) else {
        // `*T` where DWARF only has T: show the T it points to.
        return match h.ty.strip_prefix('*').and_then(|e| names.type_named(e)) {
            Some(e)
                if matches!(
                    names.runtime_kind(h.rtype),
                    Some((reflect_kind::POINTER, _))
                ) =>
            {
                value_at(table, e, h, 0, names)
            }
            _ => runtime_scalar(h, names),
        };
    };
    let t = table.get(id);
    match &t.kind {
        // Pointer-shaped values are the data word itself: the head is
        // what they point to.
        Kind::Pointer { elem: Some(e) } => value_at(table, *e, h, 0, names),
        Kind::Func => match h.word(0).and_then(|pc| names.func_name(pc)) {
            Some(f) => GoValue::text(f),
            None => GoValue::Unavailable("func value of an unknown function".into()),
        },
        _ if pointer_shaped(table, id) => GoValue::Unavailable(format!(
            "{} is stored in the interface word itself; not decoded",
            t.name
        )),
        _ => value_at(table, id, h, 0, names),
    }
}

/// A value of a type DWARF does not describe (a named type only ever
/// converted to an interface), by the kind and size its runtime `_type`
/// records: enough for scalars and strings.
fn runtime_scalar(h: &Held<'_>, names: &dyn Names) -> GoValue {
    use reflect_kind::{BOOL, FLOAT32, FLOAT64, INT, INT64, STRING, UINT, UINTPTR};
    let kind = match names.runtime_kind(h.rtype) {
        Some((BOOL, _)) => ScalarKind::Bool,
        Some((INT..=INT64, _)) => ScalarKind::Int,
        Some((UINT..=UINTPTR, _)) => ScalarKind::Uint,
        Some((FLOAT32 | FLOAT64, _)) => ScalarKind::Float,
        Some((STRING, _)) => return h.string(0).cloned().unwrap_or_else(GoValue::fault),
        _ => {
            return GoValue::Unavailable(format!(
                "{}: the binary's DWARF does not describe this type",
                h.ty
            ))
        }
    };
    let size = names.runtime_kind(h.rtype).map_or(8, |(_, s)| s.min(8));
    match h.word(0) {
        Some(v) => scalar(v, kind, size as u8),
        None => GoValue::fault(),
    }
}

/// A value of type `id` at offset `off` of a dynamic value: from its head,
/// or the strings, slices and interfaces read at that offset.
pub(super) fn value_at(
    table: &TypeTable,
    id: TypeId,
    h: &Held<'_>,
    off: u64,
    names: &dyn Names,
) -> GoValue {
    let t = table.get(id);
    let bytes = |n: u64| {
        let b = h.head.get(off as usize..off.checked_add(n)? as usize)?;
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
                    .filter(|f| !f.is_blank())
                    .map(|f| match h.redaction.filter(|r| r.matches(&f.name)) {
                        // Its recipe copied none of it.
                        Some(r) => (f.name.clone(), GoValue::Redacted(r.replacement().into())),
                        None => (
                            f.name.clone(),
                            value_at(table, f.ty, h, off + f.offset, names),
                        ),
                    })
                    .collect(),
            );
        }
        Kind::Interface { .. } => {
            return match h.iface(off) {
                Some(i) => inner_value(i, t.name == "error", names),
                None => h.missing(&t.name, off),
            }
        }
        Kind::Array { elem, len } => {
            let size = table.get(*elem).size.max(1);
            // Only what the head holds, then one marker: an array may be
            // far larger than the bytes copied.
            let fits = (h.head.len() as u64).saturating_sub(off).div_ceil(size);
            let mut items: Vec<GoValue> = (0..(*len).min(fits))
                .map(|i| value_at(table, *elem, h, off + i * size, names))
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
