//! Redaction in plans: a value whose name matches `redact.names` gets no
//! op at all, so its bytes never reach a record (`Shape::Redacted`).
//!
//! Names are matched one at a time: an argument's or result's name, a
//! struct field's name, each component of an `args:` path. A redacted
//! value hides everything inside it: no string, slice, map or pointee of
//! it is read. Ops that copy a run of bytes (slice elements decoded by
//! their layout, a dynamic value's head) must not span a redacted field
//! holding data in its own bytes (a number, an array of them): such
//! slices are copied element by element instead, heads stop before it.
//! A redacted string's header (address and length) may lie inside a head;
//! its bytes are never read. An interface's dynamic type is only known in
//! the record, so the bytes a site copies at its data pointer on
//! speculation are limited for each binary: the string there is not read
//! where some type that can be held in an interface has a redacted field at its
//! start (the string), or the head is cut before the first redacted field
//! holding data of any such type; the type's own recipe, which knows the
//! type, then shows the rest.

use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::BinaryInfo;
use crate::redact::Redaction;

use super::contract::DYN_HEAD;

/// What planning needs of `redact:` for one binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Secrets {
    /// The names never captured, and their replacement.
    pub redaction: Redaction,
    /// Bytes of an interface's dynamic value that may be copied before its
    /// type is known: up to the first redacted field holding data of any
    /// type the binary may hold in an interface ([`DYN_HEAD`]: none).
    pub dyn_head: u32,
    /// Whether the string an interface's data pointer points at may be
    /// read before the type is known (no such type starts with a redacted
    /// field).
    pub dyn_string: bool,
}

impl Secrets {
    /// `redaction` for the binary `bin`.
    pub fn of(bin: &BinaryInfo, redaction: &Redaction) -> Self {
        let types = &bin.dwarf.types;
        let mut s = Secrets {
            redaction: redaction.clone(),
            ..Secrets::off()
        };
        if !redaction.is_on() {
            return s;
        }
        for (_, id) in bin.dwarf.runtime_types.values() {
            let value = match &types.get(*id).kind {
                Kind::Pointer { elem: Some(e) } => *e,
                _ => *id,
            };
            s.dyn_string &= !redacted_at_zero(types, value, redaction, 0);
            if let Some(off) = first_redacted(types, value, redaction, 0) {
                s.dyn_head = s.dyn_head.min(off.min(u64::from(DYN_HEAD)) as u32);
            }
        }
        s
    }

    /// Nothing redacted.
    pub fn off() -> Self {
        Secrets {
            redaction: Redaction::off(),
            dyn_head: DYN_HEAD,
            dyn_string: true,
        }
    }

    /// Whether the value or field called `name` is redacted.
    pub fn hides(&self, name: &str) -> bool {
        self.redaction.matches(name)
    }
}

/// The offset of the first redacted field whose own bytes hold data (a
/// number, a bool, an array or struct of them), through structs and
/// arrays, from `ty`'s start. A redacted string, slice, map, pointer or
/// interface is a header or an address: its contents are elsewhere and
/// never read, so a run of bytes may span it.
pub(super) fn first_redacted(
    types: &TypeTable,
    ty: TypeId,
    r: &Redaction,
    depth: u32,
) -> Option<u64> {
    // DWARF types can nest deeply; a bounded walk keeps planning linear.
    if depth > 8 || !r.is_on() {
        return None;
    }
    match &types.get(ty).kind {
        Kind::Struct { fields } => fields.iter().find_map(|f| {
            match r.matches(&f.name) && holds_data(types, f.ty, depth + 1) {
                true => Some(f.offset),
                false => first_redacted(types, f.ty, r, depth + 1).map(|o| f.offset + o),
            }
        }),
        Kind::Array { elem, len } if *len > 0 => first_redacted(types, *elem, r, depth + 1),
        _ => None,
    }
}

/// Whether a value of `ty` holds data in its own bytes.
fn holds_data(types: &TypeTable, ty: TypeId, depth: u32) -> bool {
    match &types.get(ty).kind {
        Kind::Bool | Kind::Int { .. } | Kind::Float | Kind::Complex => true,
        Kind::Array { elem, len } => *len > 0 && depth <= 8 && holds_data(types, *elem, depth + 1),
        Kind::Struct { fields } => {
            depth <= 8 && fields.iter().any(|f| holds_data(types, f.ty, depth + 1))
        }
        // Unknown layouts count as data: never copied across.
        Kind::Unsupported(_) => true,
        _ => false,
    }
}

/// Whether a redacted field starts at `ty`'s first byte: the string an
/// interface's data pointer points at is read there on speculation.
fn redacted_at_zero(types: &TypeTable, ty: TypeId, r: &Redaction, depth: u32) -> bool {
    if depth > 8 {
        return false;
    }
    match &types.get(ty).kind {
        Kind::Struct { fields } => fields
            .iter()
            .take_while(|f| f.offset == 0)
            .any(|f| r.matches(&f.name) || redacted_at_zero(types, f.ty, r, depth + 1)),
        Kind::Array { elem, len } if *len > 0 => redacted_at_zero(types, *elem, r, depth + 1),
        _ => false,
    }
}
