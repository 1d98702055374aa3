//! `RawRecipe::fast`: which recipes the BPF program's fast path takes.

use super::*;

fn op(kind: u8, max_len: u16) -> RawOp {
    let reg = |reg| RawLoc {
        kind: LOC_REG,
        reg,
        ..RawLoc::default()
    };
    RawOp {
        kind,
        size: if kind == OP_SCALAR { 8 } else { 1 },
        max_len,
        a: reg(0),
        b: reg(1),
        ..RawOp::default()
    }
}

fn recipe(ops: &[RawOp]) -> RawRecipe {
    let mut r = RawRecipe {
        n_ops: ops.len() as u8,
        ..RawRecipe::default()
    };
    r.ops[..ops.len()].copy_from_slice(ops);
    r
}

#[test]
fn fast_path_takes_direct_scalars_and_one_string_that_fit() {
    // The bench's main.work: 3 ints and a string of max_string_len 256
    // (296 bytes at most), and its return (one int).
    let s = op(OP_STRING, 256);
    let i = op(OP_SCALAR, 0);
    assert!(recipe(&[i, i, i, s]).fast());
    assert!(recipe(&[i]).fast());
    assert!(recipe(&[]).fast());
    // Too much data, two strings, too many ops.
    assert!(recipe(&[i, i, i, i, s]).fast()); // 304 bytes
    assert!(!recipe(&[i, i, i, i, i, s]).fast());
    assert!(!recipe(&[op(OP_STRING, 64), op(OP_STRING, 64)]).fast());
    assert!(!recipe(&[i; FAST_OPS + 1]).fast());
    assert!(recipe(&[i; FAST_OPS]).fast());
    // Indirect, dynamic, element, slice-of-strings ops, and `when`.
    let mut ind = i;
    ind.indirect = 1;
    assert!(!recipe(&[ind]).fast());
    let mut dynop = i;
    dynop.flags = OPF_DYN;
    assert!(!recipe(&[dynop]).fast());
    assert!(!recipe(&[op(OP_STRINGS, 16)]).fast());
    assert!(!recipe(&[op(OP_ELEMS, 3)]).fast());
    // The context walk reads {itab, data} as a string op reads {data,
    // len}, but is never a plain copy.
    assert!(!recipe(&[op(OP_SPAN_CTX, 0)]).fast());
    assert!(!recipe(&[op(OP_TRACEPARENT, 64)]).fast());
    // The stack walk runs in its own BPF function on the general path.
    assert!(!recipe(&[op(OP_STACK, 8)]).fast());
    let mut when = recipe(&[i]);
    when.n_when = 1;
    assert!(!when.fast());
}
