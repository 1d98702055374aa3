//! Turns the captured bytes of one record back into Go values, guided by
//! the site plan that produced the recipe.
//!
//! One file per stage: `wire` splits the record into what each op
//! captured and the dynamic values' blocks; `shape` turns the plan's
//! shapes into [`GoValue`]s, with `map` for maps' entries; `interface`
//! reads an interface's dynamic value; `errors` rebuilds the `Error()`
//! text of the standard library's error types; `value` is the result and
//! its JSON.
//!
//! Decoding only reads: what it looks up about the traced binary comes
//! from [`Names`], and the dynamic types it met without their recipe go
//! to the caller's [`Unplanned`], which plans them for later records.

mod errors;
mod interface;
mod map;
mod shape;
mod span;
mod stack;
mod value;
mod wire;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::golang::types::{TypeId, TypeTable};
use crate::plan::SitePlan;
use crate::plan::TypePlan;

pub use errors::{go_quote, ip_string};
pub use span::{app_span, AppSpan};
pub use stack::{stack_pcs, symbolize, Frame, Stack};
pub use value::{printable, GoValue};

/// What decoding looks up about the traced binary, by address in the
/// traced process (the implementor removes the load bias). Lookups only:
/// none changes what a later one returns.
pub trait Names {
    /// The Go type whose runtime `_type` is at `rtype`: its name and,
    /// when the binary's DWARF describes it, its DWARF type.
    fn runtime_type(&self, rtype: u64) -> Option<(String, Option<TypeId>)>;
    /// The `reflect.Kind` (`golang::types::reflect_kind`) and size that
    /// the runtime `_type` at `rtype` records: for types DWARF leaves out.
    fn runtime_kind(&self, rtype: u64) -> Option<(u8, u64)>;
    /// The DWARF type of the runtime type named `name` (`T`, for a `*T`
    /// whose own type DWARF does not describe).
    fn type_named(&self, name: &str) -> Option<TypeId>;
    /// The binary's DWARF types, in which the ids above are; None: values
    /// of dynamic types are decoded from their runtime kind only.
    fn type_table(&self) -> Option<&TypeTable>;
    /// The function whose code contains `pc` (func values).
    fn func_name(&self, pc: u64) -> Option<String>;
    /// The function whose code contains `pc`: its name and entry address
    /// (as the process sees it), for a caller stack's frames.
    fn code_at(&self, pc: u64) -> Option<(String, u64)> {
        self.func_name(pc).map(|n| (n, pc))
    }
    /// The source file and line of the instruction at `pc`, when the
    /// binary's tables say.
    fn line_at(&self, _pc: u64) -> Option<(String, u32)> {
        None
    }
    /// The link-time address of the run-time code address `pc` (a PIE's
    /// load bias taken off).
    fn link_time(&self, pc: u64) -> u64 {
        pc
    }
    /// `syscall.Errno(n).Error()`, from the traced binary's own table.
    fn errno_text(&self, n: u64) -> Option<String>;
    /// The recipe installed for the dynamic type whose `_type` is at
    /// `rtype`: its blocks in a record are laid out by it.
    fn dyn_plan(&self, rtype: u64) -> Option<Arc<TypePlan>>;
}

/// Told of each dynamic value a record holds without its type recipe's
/// block, in the order decoding meets them (a type may come again).
pub trait Unplanned {
    /// Notes the dynamic type whose `_type` is at `rtype`. True when later
    /// records will have its block (its recipe is now to be planned): the
    /// reason shown for its missing fields says so.
    fn met(&mut self, rtype: u64) -> bool;
}

impl<F: FnMut(u64) -> bool> Unplanned for F {
    fn met(&mut self, rtype: u64) -> bool {
        self(rtype)
    }
}

/// What the walk over a record's shapes consults and tells.
struct Cx<'n, 'u> {
    names: &'n dyn Names,
    unplanned: &'u mut dyn Unplanned,
}

/// Decodes every value of `site` from a record's data; `masks` are the
/// record header's (fault, nil) masks.
pub fn decode(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    names: &dyn Names,
    unplanned: &mut dyn Unplanned,
) -> Vec<(String, GoValue)> {
    let ops = &site.recipe.ops[..usize::from(site.recipe.n_ops).min(site.recipe.ops.len())];
    let rec = wire::Rec::parse(ops, data, masks, names);
    let mut cx = Cx { names, unplanned };
    site.values
        .iter()
        .map(|v| (v.name.clone(), shape::shape(&v.shape, &rec, &mut cx)))
        .collect()
}

/// The word op `op` of `site` read (an `OP_SCALAR`), if it was read.
pub fn word(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    names: &dyn Names,
    op: usize,
) -> Option<u64> {
    let ops = &site.recipe.ops[..usize::from(site.recipe.n_ops).min(site.recipe.ops.len())];
    let rec = wire::Rec::parse(ops, data, masks, names);
    match rec.captures.get(op)? {
        wire::Capture::Scalar(v) => Some(*v),
        _ => None,
    }
}

/// The name of the runtime type at `rtype`.
fn type_name(names: &dyn Names, rtype: u64) -> Option<String> {
    names.runtime_type(rtype).map(|(n, _)| n)
}

/// The DWARF type of the runtime type at `rtype`.
fn type_id(names: &dyn Names, rtype: u64) -> Option<TypeId> {
    names.runtime_type(rtype)?.1
}
