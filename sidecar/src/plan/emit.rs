//! The one op emitter: "read this, reached from there" as the `RawOp` the
//! BPF program interprets, for site recipes and dynamic types' recipes
//! alike, and the way back from an op to a location for `gotel check`.

use crate::golang::abi::Loc;
use crate::recipe::{
    RawElemHead, RawLoc, RawOp, RawRecipe, RawSeqHead, RawStrHead, RawTypeRecipe, ADDR_ONLY,
    LOC_ELEM, LOC_REG, LOC_STACK, MAX_HOPS, OPF_DYN, OP_BYTES, OP_ELEMS, OP_GROUP,
};

/// Bytes an `OP_SCALAR` takes of a record's data.
pub(super) const WORD: u32 = 8;
/// Bytes of the head before a string's or byte run's bytes.
pub(super) const STR_HEAD: u32 = size_of::<RawStrHead>() as u32;
/// Bytes of the head before a sequence's elements (`OP_STRINGS`, `OP_ELEMS`).
pub(super) const SEQ_HEAD: u32 = size_of::<RawSeqHead>() as u32;
/// Bytes of the status before each `OP_ELEMS` element's captures.
pub(super) const ELEM_STATUS: u32 = size_of::<RawElemHead>() as u32;

/// Bytes a byte run of at most `max` bytes takes: its head, then the
/// bytes padded to 8.
pub(super) fn run_bytes(max: u32) -> u32 {
    STR_HEAD + max.div_ceil(8) * 8
}

/// Where a value in memory is: the pointer word `base` (a register or
/// stack slot at the probe), pointer loads at the offsets `hops`, then
/// `off` bytes further.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mem {
    pub(super) base: Base,
    pub(super) hops: Vec<i64>,
    pub(super) off: i64,
}

/// Where a chain of pointer loads starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Base {
    /// The word in a register or stack slot at the probe.
    At(Loc),
    /// The address of the current element of an `OP_ELEMS` slice, or of a
    /// dynamic value (a type recipe's ops).
    Elem,
}

impl Mem {
    /// The memory the word at `base` points at.
    pub(super) fn at(base: Base) -> Mem {
        Mem {
            base,
            hops: Vec::new(),
            off: 0,
        }
    }

    /// `off` bytes further.
    pub(super) fn plus(&self, off: i64) -> Mem {
        Mem {
            off: self.off + off,
            ..self.clone()
        }
    }

    /// The memory a pointer stored here points at; None past MAX_HOPS.
    pub(super) fn follow(&self) -> Option<Mem> {
        if self.hops.len() >= MAX_HOPS {
            return None;
        }
        let mut hops = self.hops.clone();
        hops.push(self.off);
        Some(Mem {
            base: self.base,
            hops,
            off: 0,
        })
    }
}

/// How an op reaches its value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Access {
    /// A register or stack slot at the probe.
    Direct(Loc),
    /// Memory, through pointers.
    Mem(Mem),
}

impl Access {
    /// The value `off` bytes into what the pointer held here points at.
    pub(super) fn follow_to(self, off: i64) -> Option<Access> {
        let m = match self {
            Access::Direct(base) => Mem {
                off,
                ..Mem::at(Base::At(base))
            },
            Access::Mem(m) => Mem { off, ..m.follow()? },
        };
        Some(Access::Mem(m))
    }
}

/// The op of kind `kind` reading what `a` reaches; a direct string or
/// slice header has its length at `len`. `OP_GROUP` is sent as an
/// `OP_ELEMS` over the address its chase ends at, as `OP_BYTES` is.
pub(super) fn op(kind: u8, size: u8, max_len: u16, a: Access, len: Option<Loc>) -> RawOp {
    let mut op = RawOp {
        kind: if kind == OP_GROUP { OP_ELEMS } else { kind },
        size,
        max_len,
        b: len.map(raw_loc).unwrap_or_default(),
        ..RawOp::default()
    };
    match a {
        Access::Direct(loc) => op.a = raw_loc(loc),
        Access::Mem(m) => {
            op.indirect = if matches!(kind, OP_BYTES | OP_GROUP) {
                ADDR_ONLY
            } else {
                1
            };
            op.a = match m.base {
                Base::At(l) => raw_loc(l),
                Base::Elem => RawLoc {
                    kind: LOC_ELEM,
                    ..RawLoc::default()
                },
            };
            op.n_hops = m.hops.len() as u8;
            for (slot, h) in op.hops.iter_mut().zip(&m.hops) {
                *slot = *h as i32;
            }
            op.mem_off = m.off as i32;
        }
    }
    op
}

/// Where an interface's dynamic type is, given where its first word is:
/// that word is the `_type` itself for `any`, an itab holding it at
/// offset 8 otherwise. None past MAX_HOPS.
pub(super) fn type_word(word0: Access, empty: bool) -> Option<Access> {
    if empty {
        Some(word0)
    } else {
        word0.follow_to(8)
    }
}

/// Marks `op` as ending at an interface's data pointer, whose dynamic type
/// op `type_op` read: that type's recipe (if installed) runs there.
pub(super) fn dynamic(op: &mut RawOp, type_op: usize) {
    op.flags = OPF_DYN;
    op.type_op = type_op as u8;
}

/// A recipe ops are appended to.
pub(super) trait Ops {
    /// The ops array and the count in use.
    fn ops_mut(&mut self) -> (&mut [RawOp], &mut u8);
}

impl Ops for RawRecipe {
    fn ops_mut(&mut self) -> (&mut [RawOp], &mut u8) {
        (&mut self.ops, &mut self.n_ops)
    }
}

impl Ops for RawTypeRecipe {
    fn ops_mut(&mut self) -> (&mut [RawOp], &mut u8) {
        (&mut self.ops, &mut self.n_ops)
    }
}

/// Appends `op`; its index, or None when every slot is taken.
pub(super) fn append(r: &mut impl Ops, op: RawOp) -> Option<usize> {
    let (ops, n_ops) = r.ops_mut();
    let n = usize::from(*n_ops);
    *ops.get_mut(n)? = op;
    *n_ops += 1;
    Some(n)
}

fn raw_loc(l: Loc) -> RawLoc {
    match l {
        Loc::IntReg(r) => RawLoc {
            kind: LOC_REG,
            reg: r,
            _pad: 0,
            offset: 0,
        },
        Loc::Stack(o) => RawLoc {
            kind: LOC_STACK,
            reg: 0,
            _pad: 0,
            offset: o as i32,
        },
        // Never emitted: float registers become Shape::Unavailable.
        Loc::FloatReg(_) => RawLoc::default(),
    }
}

/// What an indirect op reads, C-like: `*(*(RCX+16)+56)` is the value 56
/// bytes past the pointer stored 16 bytes past the one in RCX.
pub(super) fn describe_op(op: &RawOp) -> Option<String> {
    if op.indirect == 0 {
        return None;
    }
    let base = match op.a.kind {
        LOC_REG => Loc::IntReg(op.a.reg),
        LOC_STACK => Loc::Stack(i64::from(op.a.offset)),
        _ => return None,
    };
    let mut s = base.to_string();
    for h in &op.hops[..usize::from(op.n_hops).min(MAX_HOPS)] {
        s = format!("*({s}+{h})");
    }
    Some(format!("*({s}+{})", op.mem_off))
}
