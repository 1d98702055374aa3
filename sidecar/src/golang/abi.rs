//! Go's internal register ABI on amd64 (Go ≥ 1.17, `regabi`): where each
//! argument and result lives at function entry and at a RET instruction.
//!
//! This re-derives the assignment from the types, as the compiler does
//! (golang/go `src/cmd/compile/abi-internal.md`), instead of trusting DWARF
//! location lists: those describe results poorly at RET sites and are blank
//! for unused parameters.

use super::types::{Kind, TypeId, TypeTable};

/// Integer argument registers: RAX RBX RCX RDI RSI R8 R9 R10 R11.
pub const NUM_INT_REGS: u8 = 9;
/// Floating-point argument registers X0–X14.
pub const NUM_FLOAT_REGS: u8 = 15;
/// Names of the registers a recipe reads (`Loc::IntReg`'s index): the
/// integer argument registers in ABI order, then the scratch registers
/// compiled code also parks values in (never R14, g; RBP; RSP).
pub const REG_NAMES: [&str; 13] = [
    "RAX", "RBX", "RCX", "RDI", "RSI", "R8", "R9", "R10", "R11", "RDX", "R12", "R13", "R15",
];

/// Where one primitive part of a value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Loc {
    /// Integer register: index in ABI order, then RDX R12 R13 R15
    /// ([`REG_NAMES`]).
    IntReg(u8),
    /// XMM register X0–X14: unreadable from eBPF.
    FloatReg(u8),
    /// Memory at SP + offset, at entry or at a RET (SP points at the return address).
    Stack(i64),
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::IntReg(r) => match REG_NAMES.get(*r as usize) {
                Some(n) => f.write_str(n),
                None => write!(f, "int register #{r}"),
            },
            Loc::FloatReg(r) => write!(f, "X{r}"),
            Loc::Stack(o) => write!(f, "{o}(SP)"),
        }
    }
}

/// A primitive part (integer word, pointer, or float) of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Byte offset of the part inside the value's memory layout.
    pub offset: u64,
    /// Size in bytes (1, 2, 4 or 8).
    pub size: u64,
    /// True for float parts (float32/64, halves of complex).
    pub float: bool,
    /// Where the part is.
    pub loc: Loc,
}

/// Why a value's location could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compute the register ABI location of type {ty}: {why}")]
pub struct AbiError {
    /// The type's name.
    pub ty: String,
    /// What is missing.
    pub why: String,
}

/// The locations of every argument and result of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// One entry per argument, in order; parts in ABI (declaration) order.
    pub args: Vec<Vec<Part>>,
    /// One entry per result.
    pub results: Vec<Vec<Part>>,
}

/// Assigns arguments and results to registers or stack slots.
pub fn assign(
    types: &TypeTable,
    args: &[TypeId],
    results: &[TypeId],
) -> Result<Assignment, AbiError> {
    assign_after(types, None, args, results)
}

/// As [`assign`], with one hidden pointer word passed before argument
/// `hidden_at`: the dictionary of a shape-instantiated generic function,
/// which DWARF does not list.
pub fn assign_after(
    types: &TypeTable,
    hidden_at: Option<usize>,
    args: &[TypeId],
    results: &[TypeId],
) -> Result<Assignment, AbiError> {
    let mut stack = 0u64;
    let args = assign_list(types, hidden_at, args, &mut stack)?;
    // Results' stack slots follow the arguments, pointer-aligned.
    stack = align(stack, 8);
    let results = assign_list(types, None, results, &mut stack)?;
    Ok(Assignment { args, results })
}

fn assign_list(
    types: &TypeTable,
    hidden_at: Option<usize>,
    list: &[TypeId],
    stack: &mut u64,
) -> Result<Vec<Vec<Part>>, AbiError> {
    let (mut ints, mut floats) = (0u8, 0u8);
    let mut out = Vec::with_capacity(list.len());
    for (i, &ty) in list.iter().enumerate() {
        // The dictionary: one pointer word, placed like any argument (a
        // receiver may have taken every register before it).
        if hidden_at == Some(i) {
            if ints < NUM_INT_REGS {
                ints += 1;
            } else {
                *stack = align(*stack, 8) + 8;
            }
        }
        let mut shape = Vec::new();
        let in_regs = decompose(types, ty, 0, true, &mut shape)?;
        // usize: a struct with 256 fields must not wrap around and "fit".
        let need_i = shape.iter().filter(|p| !p.float).count();
        let need_f = shape.iter().filter(|p| p.float).count();
        if in_regs
            && usize::from(ints) + need_i <= usize::from(NUM_INT_REGS)
            && usize::from(floats) + need_f <= usize::from(NUM_FLOAT_REGS)
        {
            for p in &mut shape {
                if p.float {
                    p.loc = Loc::FloatReg(floats);
                    floats += 1;
                } else {
                    p.loc = Loc::IntReg(ints);
                    ints += 1;
                }
            }
        } else {
            // A value is wholly in registers or wholly on the stack.
            shape.clear();
            decompose(types, ty, 0, false, &mut shape)?;
            let base = align(*stack, alignment(types, ty));
            for p in &mut shape {
                // +8: the return address sits at 0(SP).
                p.loc = Loc::Stack(8 + (base + p.offset) as i64);
            }
            *stack = base + types.get(ty).size;
        }
        out.push(shape);
    }
    Ok(out)
}

/// Splits a value into primitive parts in ABI order. Returns false when the
/// value can never be register-assigned (arrays of more than one element).
fn decompose(
    types: &TypeTable,
    ty: TypeId,
    offset: u64,
    for_regs: bool,
    out: &mut Vec<Part>,
) -> Result<bool, AbiError> {
    let t = types.get(ty);
    let word = |out: &mut Vec<Part>, off: u64, size: u64, float: bool| {
        out.push(Part {
            offset: off,
            size,
            float,
            loc: Loc::Stack(0),
        })
    };
    match &t.kind {
        Kind::Bool | Kind::Int { .. } => word(out, offset, t.size, false),
        Kind::Pointer { .. } | Kind::UnsafePointer | Kind::Map { .. } | Kind::Chan | Kind::Func => {
            word(out, offset, 8, false)
        }
        Kind::Float => word(out, offset, t.size, true),
        Kind::Complex => {
            word(out, offset, t.size / 2, true);
            word(out, offset + t.size / 2, t.size / 2, true);
        }
        Kind::String | Kind::Interface { .. } => {
            word(out, offset, 8, false);
            word(out, offset + 8, 8, false);
        }
        Kind::Slice { .. } => {
            for i in 0..3 {
                word(out, offset + 8 * i, 8, false);
            }
        }
        Kind::Struct { fields } => {
            let mut ok = true;
            for f in fields {
                ok &= decompose(types, f.ty, offset + f.offset, for_regs, out)?;
            }
            return Ok(ok);
        }
        Kind::Array { elem, len } => {
            let esize = types.get(*elem).size;
            match (*len, for_regs) {
                (0, _) => {}
                (1, _) => return decompose(types, *elem, offset, for_regs, out),
                (_, true) => return Ok(false),
                (n, false) => {
                    for i in 0..n {
                        decompose(types, *elem, offset + i * esize, false, out)?;
                    }
                }
            }
        }
        Kind::Unsupported(why) => {
            return Err(AbiError {
                ty: t.name.clone(),
                why: why.clone(),
            })
        }
    }
    Ok(true)
}

/// Go's alignment of a type on amd64 (what `unsafe.Alignof` says): an
/// array aligns like its element even when empty, a struct like its most
/// aligned field.
pub fn alignment(types: &TypeTable, ty: TypeId) -> u64 {
    let t = types.get(ty);
    match &t.kind {
        Kind::Bool | Kind::Int { .. } | Kind::Float => t.size.clamp(1, 8),
        Kind::Complex => (t.size / 2).clamp(1, 8),
        Kind::Array { elem, .. } => alignment(types, *elem),
        Kind::Struct { fields } => fields
            .iter()
            .map(|f| alignment(types, f.ty))
            .max()
            .unwrap_or(1),
        _ => 8,
    }
}

fn align(n: u64, a: u64) -> u64 {
    n.div_ceil(a) * a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golang::types::{Field, GoType};

    fn table() -> (TypeTable, TypeId, TypeId, TypeId, TypeId) {
        let mut t = TypeTable::default();
        let int = t.push(GoType {
            name: "int".into(),
            size: 8,
            kind: Kind::Int { signed: true },
        });
        let i8_ = t.push(GoType {
            name: "int8".into(),
            size: 1,
            kind: Kind::Int { signed: true },
        });
        let f64_ = t.push(GoType {
            name: "float64".into(),
            size: 8,
            kind: Kind::Float,
        });
        let s = t.push(GoType {
            name: "string".into(),
            size: 16,
            kind: Kind::String,
        });
        (t, int, i8_, f64_, s)
    }

    #[test]
    fn zero_length_arrays_still_align_the_struct() {
        let (mut t, int, i8_, _, _) = table();
        let empty = t.push(GoType {
            name: "[0]int64".into(),
            size: 0,
            kind: Kind::Array { elem: int, len: 0 },
        });
        let z = t.push(GoType {
            name: "main.Z".into(),
            size: 8,
            kind: Kind::Struct {
                fields: vec![
                    Field {
                        name: "a".into(),
                        offset: 0,
                        ty: i8_,
                    },
                    Field {
                        name: "z".into(),
                        offset: 8,
                        ty: empty,
                    },
                ],
            },
        });
        // Nine ints fill the registers; then an int8 at 8(SP) and Z, which
        // needs 8-byte alignment although its only part is one byte.
        let mut args = vec![int; 9];
        args.push(i8_);
        args.push(z);
        let a = assign(&t, &args, &[]).unwrap();
        assert_eq!(a.args[9][0].loc, Loc::Stack(8));
        assert_eq!(a.args[10][0].loc, Loc::Stack(16));
    }

    #[test]
    fn a_huge_struct_goes_to_the_stack_instead_of_wrapping_the_count() {
        let (mut t, int, _, _, _) = table();
        let fields = (0..256)
            .map(|i| Field {
                name: format!("f{i}"),
                offset: 8 * i,
                ty: int,
            })
            .collect();
        let big = t.push(GoType {
            name: "main.Big".into(),
            size: 2048,
            kind: Kind::Struct { fields },
        });
        let a = assign(&t, &[big, int], &[]).unwrap();
        assert_eq!(a.args[0][0].loc, Loc::Stack(8));
        assert_eq!(a.args[1][0].loc, Loc::IntReg(0));
    }

    #[test]
    fn ints_past_nine_registers_go_to_the_stack_in_order() {
        let (t, int, _, _, _) = table();
        let a = assign(&t, &[int; 11], &[int]).unwrap();
        assert_eq!(a.args[8][0].loc, Loc::IntReg(8));
        assert_eq!(a.args[9][0].loc, Loc::Stack(8));
        assert_eq!(a.args[10][0].loc, Loc::Stack(16));
        // Results restart at RAX.
        assert_eq!(a.results[0][0].loc, Loc::IntReg(0));
    }

    #[test]
    fn strings_take_two_registers_and_floats_use_xmm() {
        let (t, int, _, f64_, s) = table();
        let a = assign(&t, &[int, f64_, s], &[f64_, int]).unwrap();
        assert_eq!(a.args[1][0].loc, Loc::FloatReg(0));
        let locs: Vec<_> = a.args[2].iter().map(|p| p.loc).collect();
        assert_eq!(locs, vec![Loc::IntReg(1), Loc::IntReg(2)]);
        assert_eq!(a.results[0][0].loc, Loc::FloatReg(0));
        assert_eq!(a.results[1][0].loc, Loc::IntReg(0));
    }

    #[test]
    fn a_struct_that_does_not_fit_goes_wholly_to_the_stack_with_alignment() {
        let (mut t, int, i8_, _, _) = table();
        let st = t.push(GoType {
            name: "main.P".into(),
            size: 16,
            kind: Kind::Struct {
                fields: vec![
                    Field {
                        name: "a".into(),
                        offset: 0,
                        ty: i8_,
                    },
                    Field {
                        name: "b".into(),
                        offset: 8,
                        ty: int,
                    },
                ],
            },
        });
        let mut args = vec![int; 8];
        args.push(i8_); // 9th register
        args.push(st); // needs 2, none left
        args.push(i8_); // stack, after the struct
        let a = assign(&t, &args, &[]).unwrap();
        assert_eq!(a.args[9][0].loc, Loc::Stack(8));
        assert_eq!(a.args[9][1].loc, Loc::Stack(16));
        assert_eq!(a.args[10][0].loc, Loc::Stack(24));
    }
}
