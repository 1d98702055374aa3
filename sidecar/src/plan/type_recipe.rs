//! Recipes for the dynamic types of interfaces (`any`, `error`, …): what to
//! capture of a value whose type is only known at run time.
//!
//! A site's recipe marks the op that ends at an interface's data pointer
//! (`OPF_DYN`). The BPF program looks up that value's runtime `_type` in
//! `type_recipes` and, when userspace installed a recipe for it, captures
//! the value's strings, slices and nested interfaces at any offset, after
//! the site's own data (one `gotel_dyn_block` per value). Recipes are
//! planned here from DWARF: ahead of time for the binary's error types
//! ([`likely_types`]), and for any other type the first time a record
//! shows it. Which recipes a binary has installed is `live::type_recipes::BinaryTypes`.

use std::collections::HashSet;

use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::BinaryInfo;
use crate::recipe::{
    RawTypeRecipe, MAX_STRING, MAX_TYPE_OPS, OP_BYTES, OP_SCALAR, OP_STRING, OP_STRINGS,
};

use super::contract::{byte_layout, ByteLayout};
use super::emit::{self, Access, Base, Mem};
use super::secrets::{first_redacted, Secrets};
use crate::redact::Redaction;

/// Bytes of a dynamic value copied whole: its scalars and pointers.
const HEAD_MAX: u64 = 256;
/// Bytes copied at a nested interface's data pointer, for when its own
/// type has no recipe yet (an `Errno`, a small scalar).
const NESTED_HEAD: u16 = 16;
/// Most elements of an array inside a dynamic value looked into.
const ARRAY_MAX: u64 = 4;
/// Most bytes one type recipe's captures take (head included): a record
/// holds the site's values and up to `MAX_DYN` blocks in its 8 KiB, and
/// the program cuts a record where it is full.
pub const TYPE_DATA: u32 = 4096;
/// (strings, bytes of each) of a `[]string` inside a dynamic value.
const TYPE_STRINGS: (u32, u32) = (8, 64);
/// Type recipes one binary may install (the kernel map is shared); half
/// of them may be installed ahead of time.
pub const TYPES_PER_BINARY: usize = 2048;

/// A string or slice captured at an offset of the dynamic value.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceAt {
    /// Offset of the slice header in the value.
    pub off: u64,
    /// Op copying the elements.
    pub op: usize,
    /// How to decode one element; None: a `[]string`, copied string by
    /// string (`OP_STRINGS`).
    pub elem: Option<ByteLayout>,
    /// Bytes per element.
    pub elem_size: u64,
}

/// An interface inside the dynamic value.
#[derive(Debug, Clone, PartialEq)]
pub struct IfaceAt {
    /// Offset of the interface in the value.
    pub off: u64,
    /// Op reading its dynamic type.
    pub type_op: usize,
    /// Op ending at its data pointer (`OPF_DYN`), with a short head.
    pub data_op: usize,
}

/// The recipe of one dynamic type and how to read its block back.
#[derive(Debug, Clone, PartialEq)]
pub struct TypePlan {
    /// What the BPF program runs on the data pointer.
    pub recipe: RawTypeRecipe,
    /// The type of the value at the data pointer: T, or for a pointer
    /// type `*T` (stored in the data word itself) the T it points to.
    pub value_ty: TypeId,
    /// Op copying the value's first bytes (its scalars).
    pub head_op: Option<usize>,
    /// (offset, op): strings.
    pub strings: Vec<(u64, usize)>,
    /// Slices of strings or of elements that need no pointer chasing.
    pub slices: Vec<SliceAt>,
    /// Interfaces, followed in turn.
    pub ifaces: Vec<IfaceAt>,
    /// The fields planned without ops (`redact:`): decoding shows them so.
    pub redaction: Redaction,
}

/// Plans the recipe of dynamic type `ty` (the interface's dynamic type
/// itself). None when there is nothing a recipe adds to the head the
/// site already copies, or no DWARF to plan from.
///
/// The head comes first, then what the head cannot show (strings,
/// slices, interfaces), shallower fields before deeper ones and in field
/// order at one depth, while [`MAX_TYPE_OPS`] ops and [`TYPE_DATA`]
/// bytes last: a struct's own strings and error before the internals of
/// the structs inside it. A redacted field gets no op, and the head stops
/// before the first one (see `secrets`).
pub fn plan_type(
    types: &TypeTable,
    ty: TypeId,
    max_string_len: u32,
    secrets: &Secrets,
) -> Option<TypePlan> {
    let value_ty = match &types.get(ty).kind {
        Kind::Pointer { elem: Some(e) } => *e,
        Kind::Pointer { .. } | Kind::UnsafePointer | Kind::Map { .. } | Kind::Chan | Kind::Func => {
            return None
        }
        Kind::Struct { .. } | Kind::Array { .. } if pointer_shaped(types, ty) => return None,
        _ => ty,
    };
    let mut p = TypePlan {
        recipe: RawTypeRecipe::default(),
        value_ty,
        head_op: None,
        strings: Vec::new(),
        slices: Vec::new(),
        ifaces: Vec::new(),
        redaction: secrets.redaction.clone(),
    };
    let r = &secrets.redaction;
    let size = types
        .get(value_ty)
        .size
        .min(HEAD_MAX)
        .min(first_redacted(types, value_ty, r, 0).unwrap_or(u64::MAX));
    let mut bytes = 0;
    if size > 0 {
        let op = emit::op(OP_BYTES, 1, size as u16, value_at(0), None);
        p.head_op = emit::append(&mut p.recipe, op);
        bytes = emit::run_bytes(size as u32);
    }
    let max = max_string_len.clamp(1, MAX_STRING);
    let mut wants = Vec::new();
    collect(types, value_ty, (0, 0), r, &mut wants);
    // Stable: field order within one depth.
    wants.sort_by_key(|w| w.depth);
    for w in wants {
        if usize::from(p.recipe.n_ops) + w.ops() > MAX_TYPE_OPS {
            continue;
        }
        let room = TYPE_DATA.saturating_sub(bytes);
        let Some(b) = add(&mut p, &w, (max, secrets.dyn_head), room) else {
            continue;
        };
        bytes += b;
    }
    (p.head_op.is_some() || p.recipe.n_ops > 0).then_some(p)
}

/// Whether Go stores values of this type in an interface's data word
/// itself (pointer-shaped types) instead of pointing at a copy.
pub fn pointer_shaped(types: &TypeTable, id: TypeId) -> bool {
    match &types.get(id).kind {
        Kind::Pointer { .. } | Kind::UnsafePointer | Kind::Map { .. } | Kind::Chan | Kind::Func => {
            true
        }
        Kind::Struct { fields } => fields.len() == 1 && pointer_shaped(types, fields[0].ty),
        Kind::Array { elem, len } => *len == 1 && pointer_shaped(types, *elem),
        _ => false,
    }
}

/// Something the head cannot show, at an offset of the dynamic value.
struct Want {
    off: u64,
    /// Structs and arrays it is inside of.
    depth: u32,
    what: What,
}

enum What {
    String,
    /// A slice of elements decoded from their bytes: layout and size.
    Slice(ByteLayout, u64),
    /// A `[]string`.
    Strings,
    /// An interface (`any` when empty).
    Iface(bool),
}

impl Want {
    fn ops(&self) -> usize {
        match self.what {
            What::Iface(_) => 2,
            _ => 1,
        }
    }
}

/// Lists what the head cannot show at offset `off`, in field order,
/// passing over redacted fields.
fn collect(
    types: &TypeTable,
    ty: TypeId,
    (off, depth): (u64, u32),
    r: &Redaction,
    out: &mut Vec<Want>,
) {
    if depth > 8 {
        return;
    }
    let mut want = |what| out.push(Want { off, depth, what });
    match &types.get(ty).kind {
        Kind::String => want(What::String),
        Kind::Slice { elem: Some(e) } if matches!(types.get(*e).kind, Kind::String) => {
            want(What::Strings)
        }
        Kind::Slice { elem: Some(e) } => {
            let es = types.get(*e).size;
            let whole = (1..=255).contains(&es) && first_redacted(types, *e, r, 0).is_none();
            if let Some(layout) = byte_layout(types, *e).filter(|_| whole) {
                want(What::Slice(layout, es));
            }
        }
        Kind::Interface { empty } => want(What::Iface(*empty)),
        Kind::Struct { fields } => {
            for f in fields
                .iter()
                .filter(|f| !f.is_blank() && !r.matches(&f.name))
            {
                collect(types, f.ty, (off + f.offset, depth + 1), r, out);
            }
        }
        Kind::Array { elem, len } => {
            let es = types.get(*elem).size;
            for i in 0..(*len).min(ARRAY_MAX) {
                collect(types, *elem, (off + i * es, depth + 1), r, out);
            }
        }
        _ => {}
    }
}

/// Appends the ops of `w` (ops are checked by the caller), copying at
/// most `max` bytes per string and taking at most `room` bytes of the
/// record: the bytes taken, None when it does not fit at all. A nested
/// interface's head is at most `dyn_head` bytes (see `secrets`).
fn add(p: &mut TypePlan, w: &Want, (max, dyn_head): (u32, u32), room: u32) -> Option<u32> {
    // The most bytes a run may copy in what is left.
    let fit = |want: u32, unit: u32| {
        let left = room.checked_sub(emit::STR_HEAD)? / unit * unit;
        Some(want.min(left)).filter(|n| *n >= unit.max(8).min(want))
    };
    let at = value_at(w.off);
    match &w.what {
        What::String => {
            let n = fit(max, 8)?;
            let op = emit::append(&mut p.recipe, emit::op(OP_STRING, 1, n as u16, at, None))?;
            p.strings.push((w.off, op));
            Some(emit::run_bytes(n))
        }
        What::Slice(layout, es) => {
            let es = *es as u32;
            let n = fit(max.max(es), es)?;
            let op = emit::op(OP_STRING, es as u8, n as u16, at, None);
            let op = emit::append(&mut p.recipe, op)?;
            p.slices.push(SliceAt {
                off: w.off,
                op,
                elem: Some(layout.clone()),
                elem_size: u64::from(es),
            });
            Some(emit::run_bytes(n))
        }
        What::Strings => {
            let (n, each) = (TYPE_STRINGS.0, TYPE_STRINGS.1.min(max));
            let cost = emit::SEQ_HEAD + n * emit::run_bytes(each);
            if cost > room {
                return None;
            }
            let op = emit::op(OP_STRINGS, n as u8, each as u16, at, None);
            let op = emit::append(&mut p.recipe, op)?;
            p.slices.push(SliceAt {
                off: w.off,
                op,
                elem: None,
                elem_size: 16,
            });
            Some(cost)
        }
        What::Iface(empty) => {
            let cost = emit::WORD + emit::run_bytes(u32::from(NESTED_HEAD));
            if cost > room {
                return None;
            }
            // The type word: the _type itself (any), or an itab holding
            // it at offset 8; the data word after it.
            let tw = emit::type_word(at, *empty).expect("one hop");
            let type_op = emit::append(&mut p.recipe, emit::op(OP_SCALAR, 8, 0, tw, None))?;
            let data = value_at(w.off + 8).follow_to(0).expect("one hop");
            let head = NESTED_HEAD.min(dyn_head as u16);
            let mut d = emit::op(OP_BYTES, 1, head, data, None);
            emit::dynamic(&mut d, type_op);
            let data_op = emit::append(&mut p.recipe, d)?;
            p.ifaces.push(IfaceAt {
                off: w.off,
                type_op,
                data_op,
            });
            Some(cost)
        }
    }
}

/// The value `off` bytes into the dynamic value (`LOC_ELEM`: its data
/// pointer).
fn value_at(off: u64) -> Access {
    Access::Mem(Mem {
        off: off as i64,
        ..Mem::at(Base::Elem)
    })
}

/// Link-time `_type` addresses of the binary's error types (every type
/// with an `Error` method) and network addresses (`Network`, as inside
/// `*net.OpError`), planned before the first record: an error's message
/// is then complete from its first occurrence. The standard library's
/// (whose messages gotel rebuilds) come first when there are too many.
pub fn likely_types(bin: &BinaryInfo) -> Vec<(u64, TypeId)> {
    let Some(base) = bin.types_base else {
        return Vec::new();
    };
    let methods: HashSet<&str> = bin
        .dwarf
        .functions
        .iter()
        .filter_map(|f| {
            f.name
                .strip_suffix(".Error")
                .or_else(|| f.name.strip_suffix(".Network"))
        })
        .collect();
    let mut out: Vec<((bool, String), u64, TypeId)> = bin
        .dwarf
        .runtime_types
        .iter()
        .filter(|(_, (name, _))| {
            let (ptr, base_name) = match name.strip_prefix('*') {
                Some(b) => (true, b),
                None => (false, name.as_str()),
            };
            // `pkg/path.T` → receivers `pkg/path.(*T)` and `pkg/path.T`.
            let slash = base_name.rfind('/').map_or(0, |i| i + 1);
            let Some(dot) = base_name[slash..].find('.').map(|i| i + slash) else {
                return false;
            };
            let (pkg, t) = (&base_name[..dot], &base_name[dot + 1..]);
            methods.contains(base_name)
                || (ptr && methods.contains(format!("{pkg}.(*{t})").as_str()))
        })
        .map(|(off, (name, id))| (std_first(name), base + off, *id))
        .collect();
    out.sort_unstable();
    out.truncate(TYPES_PER_BINARY / 2);
    out.into_iter().map(|(_, a, id)| (a, id)).collect()
}

/// Sort key: the packages whose errors gotel rebuilds, then the rest.
fn std_first(name: &str) -> (bool, String) {
    const STD: &[&str] = &[
        "errors.",
        "fmt.",
        "net.",
        "os.",
        "syscall.",
        "io/fs.",
        "fs.",
        "strconv.",
        "net/url.",
        "url.",
        "context.",
        "internal/poll.",
        "poll.",
    ];
    let bare = name.trim_start_matches('*');
    (!STD.iter().any(|p| bare.starts_with(p)), name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golang::types::{Field, GoType};
    use crate::recipe::{LOC_ELEM, OPF_DYN};

    fn table() -> (TypeTable, TypeId) {
        let mut t = TypeTable::default();
        let string = t.push(GoType {
            name: "string".into(),
            size: 16,
            kind: Kind::String,
        });
        let int = t.push(GoType {
            name: "int".into(),
            size: 8,
            kind: Kind::Int { signed: true },
        });
        let err = t.push(GoType {
            name: "error".into(),
            size: 16,
            kind: Kind::Interface { empty: false },
        });
        let s = t.push(GoType {
            name: "main.E".into(),
            size: 48,
            kind: Kind::Struct {
                fields: vec![
                    Field {
                        name: "Code".into(),
                        offset: 0,
                        ty: int,
                    },
                    Field {
                        name: "Msg".into(),
                        offset: 8,
                        ty: string,
                    },
                    Field {
                        name: "Err".into(),
                        offset: 24,
                        ty: err,
                    },
                ],
            },
        });
        let p = t.push(GoType {
            name: "*main.E".into(),
            size: 8,
            kind: Kind::Pointer { elem: Some(s) },
        });
        (t, p)
    }

    #[test]
    fn a_pointer_type_is_planned_on_its_pointee_with_every_string_and_interface() {
        let (t, p) = table();
        let plan = plan_type(&t, p, 100, &Secrets::off()).unwrap();
        assert_eq!(plan.head_op, Some(0));
        assert_eq!(plan.strings, vec![(8, 1)]);
        assert_eq!(
            plan.ifaces,
            vec![IfaceAt {
                off: 24,
                type_op: 2,
                data_op: 3
            }]
        );
        let r = &plan.recipe;
        assert_eq!(r.n_ops, 4);
        assert_eq!((r.ops[0].kind, r.ops[0].max_len), (OP_BYTES, 48));
        assert_eq!(
            (r.ops[1].kind, r.ops[1].mem_off, r.ops[1].max_len),
            (OP_STRING, 8, 100)
        );
        // error: itab at 24, its _type at +8.
        assert_eq!(
            (r.ops[2].n_hops, r.ops[2].hops[0], r.ops[2].mem_off),
            (1, 24, 8)
        );
        assert_eq!(
            (
                r.ops[3].n_hops,
                r.ops[3].hops[0],
                r.ops[3].flags,
                r.ops[3].type_op
            ),
            (1, 32, OPF_DYN, 2)
        );
        assert!(r.ops[..4]
            .iter()
            .all(|o| o.a.kind == LOC_ELEM && o.indirect != 0));
    }

    #[test]
    fn pointer_shaped_non_pointers_get_no_recipe() {
        let mut t = TypeTable::default();
        let f = t.push(GoType {
            name: "func()".into(),
            size: 8,
            kind: Kind::Func,
        });
        assert_eq!(plan_type(&t, f, 64, &Secrets::off()), None);
    }
}
