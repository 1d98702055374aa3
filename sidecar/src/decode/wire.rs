//! Splits a record's data into what each op captured, following the layout
//! the BPF program writes (`ebpf/gotel.h`): one capture per op of the
//! site's recipe, then one block per dynamic value it followed.
//!
//! Every fixed part is read through its layout-checked mirror (compared
//! with the C struct by `tests/layout.rs`): [`RawStrHead`] before a string
//! or byte run, [`RawSeqHead`] before a sequence's elements, [`RawElemHead`]
//! before an element's captures, [`RawDynBlock`] before a block.

use std::mem::size_of;
use std::rc::Rc;
use std::sync::Arc;

use super::Names;
use crate::plan::TypePlan;
use crate::recipe::{
    RawDynBlock, RawElemHead, RawOp, RawSeqHead, RawStackHead, RawStrHead, LOC_ELEM, MAX_DYN,
    MAX_TYPE_OPS, OPF_DYN, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_SPAN_CTX, OP_STACK, OP_STRING,
    OP_STRINGS, OP_TRACEPARENT,
};

/// `OP_SCALAR`: one little-endian word.
const WORD: usize = 8;

/// What one op captured.
#[derive(Debug, Clone)]
pub(super) enum Capture<'a> {
    /// A word (`OP_SCALAR`).
    Scalar(u64),
    /// A string's (or a run of slice elements') first bytes.
    String {
        /// The length in the program.
        len: u64,
        /// The bytes copied.
        bytes: &'a [u8],
    },
    /// A value reached through a nil pointer.
    Nil,
    /// A []string: its length and the elements copied (None: unreadable).
    Strings {
        len: u64,
        items: Vec<Option<(u64, &'a [u8])>>,
    },
    /// An `OP_ELEMS` slice: its length and, per element copied, the
    /// captures of its element ops.
    Elems {
        len: u64,
        items: Vec<Vec<Capture<'a>>>,
    },
    /// The callers' return addresses (`OP_STACK`), innermost first, and
    /// how the walk ended (`STACK_*`): a walk cut short by a fault still
    /// names the frames it read.
    Stack { end: u32, pcs: Vec<u64> },
    /// The memory could not be read (or the record ended).
    Fault,
}

/// One dynamic value's block: its type's recipe and what its ops captured.
pub(super) struct Block<'a> {
    /// The dynamic type's runtime `_type` address.
    pub rtype: u64,
    /// 0: the site; b + 1: block b.
    pub parent: usize,
    /// The parent's `OPF_DYN` op.
    pub op: usize,
    /// The element of the parent op (`OP_ELEMS`), else 0.
    pub elem: usize,
    /// The type's recipe, as installed.
    pub plan: Arc<TypePlan>,
    /// One per op of `plan.recipe`.
    pub captures: Vec<Capture<'a>>,
}

/// A record split into the site's captures and the dynamic values' blocks.
pub(super) struct Rec<'a> {
    /// One per op of the site's recipe (element ops: inside their
    /// `OP_ELEMS` capture, placeholders here).
    pub captures: Vec<Capture<'a>>,
    /// Shared by the record's elements.
    pub blocks: Rc<Vec<Block<'a>>>,
    /// Bit i: op i is an `OPF_DYN` op, whose value may have a block.
    pub dyn_mask: u32,
    /// Decoding element `elem` of an `OP_ELEMS` op (else 0).
    pub elem: usize,
}

impl<'a> Rec<'a> {
    /// Splits `data` captured by `ops` (`masks`: the record header's fault and
    /// nil masks).
    pub fn parse(ops: &[RawOp], data: &'a [u8], masks: (u32, u32), names: &dyn Names) -> Self {
        let (captures, end) = captures(ops, data, masks.0, masks.1);
        let dyn_mask = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.flags & OPF_DYN != 0)
            .fold(0u32, |m, (i, _)| m | (1 << i));
        let blocks = if dyn_mask != 0 {
            blocks(data, end, names)
        } else {
            Vec::new()
        };
        Rec {
            captures,
            blocks: Rc::new(blocks),
            dyn_mask,
            elem: 0,
        }
    }

    /// Element `elem` of an `OP_ELEMS` capture as a record of its own:
    /// `item` (the element ops' captures) at indices from `first`, where
    /// the element's shape names them.
    pub fn element(&self, first: usize, item: &[Capture<'a>], elem: usize) -> Self {
        let mut captures = vec![Capture::Fault; first];
        captures.extend(item.iter().cloned());
        Rec {
            captures,
            blocks: self.blocks.clone(),
            dyn_mask: self.dyn_mask,
            elem,
        }
    }

    /// The block of the value that op `op` of `parent` (0: the site,
    /// b + 1: block b) queued. Blocks only follow their parents, so a
    /// walk from parent to child always moves forward.
    pub fn child(&self, parent: usize, op: usize) -> Option<usize> {
        let elem = if parent == 0 { self.elem } else { 0 };
        self.blocks
            .iter()
            .enumerate()
            .skip(parent)
            .find(|(_, b)| b.parent == parent && b.op == op && b.elem == elem)
            .map(|(i, _)| i)
    }
}

/// One capture per op of `ops`, and where the site's data ends. Element
/// ops get their captures inside their `OP_ELEMS` capture.
pub(super) fn captures<'a>(
    ops: &[RawOp],
    data: &'a [u8],
    fault_mask: u32,
    nil_mask: u32,
) -> (Vec<Capture<'a>>, usize) {
    let mut out = Vec::with_capacity(ops.len());
    let mut off = 0usize;
    for (i, op) in ops.iter().enumerate() {
        if op.a.kind == LOC_ELEM {
            out.push(Capture::Fault);
            continue;
        }
        let masks = (fault_mask & (1 << i) != 0, nil_mask & (1 << i) != 0);
        let c = if op.kind == OP_ELEMS {
            let first = i + 1;
            let sub = ops.get(first..first + usize::from(op.size)).unwrap_or(&[]);
            elems(sub, data, &mut off, masks)
        } else {
            capture(op, data, &mut off, masks)
        };
        let stop = c.is_none();
        out.push(c.unwrap_or(Capture::Fault));
        // The layout is sequential: past a short record nothing lines up.
        if stop {
            return (out, data.len());
        }
    }
    (out, off)
}

/// The blocks after the site's data at `off`; stops at the first one
/// whose type's recipe is unknown or that is cut.
fn blocks<'a>(data: &'a [u8], mut off: usize, names: &dyn Names) -> Vec<Block<'a>> {
    let mut out = Vec::new();
    while out.len() < MAX_DYN {
        let Some(head) = mirror::<RawDynBlock>(data, off) else {
            break;
        };
        let (parent, op) = (usize::from(head.parent), usize::from(head.op));
        // A parent is the site or an earlier block.
        if parent > out.len() {
            break;
        }
        let Some(plan) = names.dyn_plan(head.rtype) else {
            break;
        };
        let n_ops = head.n_ops;
        if plan.recipe.n_ops != n_ops || usize::from(n_ops) > MAX_TYPE_OPS {
            break;
        }
        off += size_of::<RawDynBlock>();
        let mut captures = Vec::with_capacity(usize::from(n_ops));
        for (t, o) in plan.recipe.ops[..usize::from(n_ops)].iter().enumerate() {
            let bits = (
                head.fault_bits & (1 << t) != 0,
                head.nil_bits & (1 << t) != 0,
            );
            match capture(o, data, &mut off, bits) {
                Some(c) => captures.push(c),
                None => return out,
            }
        }
        out.push(Block {
            rtype: head.rtype,
            parent,
            op,
            elem: usize::from(head.elem),
            plan,
            captures,
        });
    }
    out
}

/// A `#[repr(C)]` mirror of a C struct of `ebpf/gotel.h`.
///
/// # Safety
/// Only integer fields and explicit padding: every bit pattern is a value.
unsafe trait Mirror: Copy {}

// SAFETY (all five): repr(C), integer fields and explicit padding only.
unsafe impl Mirror for RawDynBlock {}
unsafe impl Mirror for RawStrHead {}
unsafe impl Mirror for RawSeqHead {}
unsafe impl Mirror for RawElemHead {}
unsafe impl Mirror for RawStackHead {}

/// The `T` at `off`, None when `data` ends first.
fn mirror<T: Mirror>(data: &[u8], off: usize) -> Option<T> {
    let b = data.get(off..off.checked_add(size_of::<T>())?)?;
    // SAFETY: `b` holds size_of::<T>() bytes and T accepts any of them
    // (Mirror); read_unaligned copes with the record's alignment.
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

fn u64_at(data: &[u8], o: usize) -> Option<u64> {
    data.get(o..o.checked_add(8)?)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// A byte run at `*off` ([`RawStrHead`], then the bytes): its head and the
/// bytes when all present, advancing past their padding. None when the
/// head is cut.
fn bytes_at<'a>(data: &'a [u8], off: &mut usize) -> Option<(RawStrHead, Option<&'a [u8]>)> {
    let head: RawStrHead = mirror(data, *off)?;
    let start = *off + size_of::<RawStrHead>();
    let copied = head.copied as usize;
    let bytes = data.get(start..start.checked_add(copied)?);
    *off = start + copied.div_ceil(8) * 8;
    Some((head, bytes))
}

/// The capture of one scalar, string, bytes or []string op at `*off`,
/// advancing it; None when the data ends early.
fn capture<'a>(
    op: &RawOp,
    data: &'a [u8],
    off: &mut usize,
    (fault, nil): (bool, bool),
) -> Option<Capture<'a>> {
    Some(match op.kind {
        OP_SCALAR => {
            let v = u64_at(data, *off)?;
            *off += WORD;
            match v {
                _ if nil && !fault => Capture::Nil,
                v if !fault => Capture::Scalar(v),
                _ => Capture::Fault,
            }
        }
        OP_STRINGS => {
            let RawSeqHead { len, n, .. } = mirror(data, *off)?;
            *off += size_of::<RawSeqHead>();
            let mut items = Vec::with_capacity((n as usize).min(256));
            for _ in 0..n {
                let (head, bytes) = bytes_at(data, off)?;
                items.push(bytes.filter(|_| head.fault == 0).map(|b| (head.len, b)));
            }
            match () {
                _ if nil && !fault => Capture::Nil,
                _ if fault => Capture::Fault,
                _ => Capture::Strings { len, items },
            }
        }
        OP_STRING | OP_BYTES | OP_SPAN_CTX | OP_TRACEPARENT => {
            let (head, bytes) = bytes_at(data, off)?;
            match bytes {
                _ if nil && !fault => Capture::Nil,
                Some(bytes) if !fault => Capture::String {
                    len: head.len,
                    bytes,
                },
                _ => Capture::Fault,
            }
        }
        OP_STACK => {
            let RawStackHead { n, end } = mirror(data, *off)?;
            *off += size_of::<RawStackHead>();
            let mut pcs = Vec::with_capacity((n as usize).min(64));
            for _ in 0..n {
                pcs.push(u64_at(data, *off)?);
                *off += WORD;
            }
            Capture::Stack { end, pcs }
        }
        _ => return None,
    })
}

/// An `OP_ELEMS` capture: the length, then per element its status bits
/// and the captures of the element ops `sub`.
fn elems<'a>(
    sub: &[RawOp],
    data: &'a [u8],
    off: &mut usize,
    (fault, nil): (bool, bool),
) -> Option<Capture<'a>> {
    let RawSeqHead { len, n, .. } = mirror(data, *off)?;
    *off += size_of::<RawSeqHead>();
    let mut items = Vec::with_capacity((n as usize).min(256));
    for _ in 0..n {
        let RawElemHead {
            nil_bits,
            fault_bits,
        } = mirror(data, *off)?;
        *off += size_of::<RawElemHead>();
        let mut item = Vec::with_capacity(sub.len());
        for (t, op) in sub.iter().enumerate() {
            let bits = (fault_bits & (1 << t) != 0, nil_bits & (1 << t) != 0);
            item.push(capture(op, data, off, bits)?);
        }
        items.push(item);
    }
    Some(match () {
        _ if nil && !fault => Capture::Nil,
        _ if fault => Capture::Fault,
        _ => Capture::Elems { len, items },
    })
}
