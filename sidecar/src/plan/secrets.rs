//! Redaction in plans: a value whose name matches `redact.names` gets no
//! op at all, so its bytes never reach a record (`Shape::Redacted`).
//!
//! Names are matched one at a time: an argument's or result's name, a
//! struct field's name, each component of an `args:` path. A redacted
//! value hides everything inside it. Ops that copy a run of bytes (slice
//! elements decoded by their layout, a dynamic value's head) must not
//! span a redacted field: such slices are copied element by element
//! instead, heads stop before the first one. An interface's dynamic type
//! is only known in the record, so the bytes a site copies at its data
//! pointer on speculation (a string, a head) are given up for a binary
//! where some type that can be held in an interface has a redacted field
//! within them; the type's own recipe, which knows the type, then shows
//! the value.

use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::BinaryInfo;
use crate::redact::Redaction;

use super::contract::DYN_HEAD;

/// What planning needs of `redact:` for one binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Secrets {
    /// The names never captured, and their replacement.
    pub redaction: Redaction,
    /// Whether interfaces' dynamic values may be read before their type
    /// is known (no runtime type has a redacted field in what is read).
    pub speculate: bool,
}

impl Secrets {
    /// `redaction` for the binary `bin`.
    pub fn of(bin: &BinaryInfo, redaction: &Redaction) -> Self {
        let types = &bin.dwarf.types;
        let speculate = !redaction.is_on()
            || !bin.dwarf.runtime_types.values().any(|(_, id)| {
                let value = match &types.get(*id).kind {
                    Kind::Pointer { elem: Some(e) } => *e,
                    _ => *id,
                };
                first_redacted(types, value, redaction, 0).is_some_and(|off| off < DYN_HEAD.into())
            });
        Secrets {
            redaction: redaction.clone(),
            speculate,
        }
    }

    /// Nothing redacted.
    pub fn off() -> Self {
        Secrets {
            redaction: Redaction::off(),
            speculate: true,
        }
    }

    /// Whether the value or field called `name` is redacted.
    pub fn hides(&self, name: &str) -> bool {
        self.redaction.matches(name)
    }
}

/// The offset of the first redacted field held in a `ty`'s own bytes
/// (through structs and arrays, not pointers), from `ty`'s start.
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
        Kind::Struct { fields } => fields.iter().find_map(|f| match r.matches(&f.name) {
            true => Some(f.offset),
            false => first_redacted(types, f.ty, r, depth + 1).map(|o| f.offset + o),
        }),
        Kind::Array { elem, len } if *len > 0 => first_redacted(types, *elem, r, depth + 1),
        _ => None,
    }
}
