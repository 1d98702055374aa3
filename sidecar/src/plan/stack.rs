//! A probe's `stack:`: the `OP_STACK` op its entry recipe starts with, and
//! what it takes of the record.

use crate::recipe::{RawOp, RawStackHead, MAX_STACK, OP_STACK};

use super::builder::Builder;

/// Bytes `OP_STACK` of `depth` frames takes of a record: its head and one
/// word per return address.
pub(super) fn stack_bytes(depth: u32) -> u32 {
    std::mem::size_of::<RawStackHead>() as u32 + 8 * depth
}

/// Plans the entry's stack walk of `depth` callers as op 0 (the BPF
/// program writes it before the other ops, outside their loop); its index.
pub(super) fn push_stack(b: &mut Builder, depth: u32) -> Option<usize> {
    let depth = depth.min(MAX_STACK);
    if depth == 0 || b.recipe.n_ops != 0 {
        return None;
    }
    let op = RawOp {
        kind: OP_STACK,
        size: depth as u8,
        ..RawOp::default()
    };
    b.push_join(op, stack_bytes(depth))
}
