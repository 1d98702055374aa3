//! The walker: one value of one type, wherever it is (registers and stack
//! slots at the probe, or memory), planned as ops and the shape that
//! decodes them; and the walk to a field named in `args:`.
//!
//! Where the value is changes how its words are reached, nothing else,
//! except for what only one place has: float registers (unreadable),
//! pointers (followed in memory; a whole pointer value at the probe is
//! shown as its pointee last, see `Builder::expand_pointers`), and the
//! text kept from when there were two walkers (the `Unsupported` arm).

use crate::golang::abi::{Loc, Part};
use crate::golang::types::{Field, Kind, TypeId, TypeTable};
use crate::recipe::{MAX_HOPS, OP_BYTES, OP_SCALAR, OP_STRING};

use super::budget::Priority;
use super::builder::Builder;
use super::contract::{ScalarKind, Shape, DYN_HEAD};
use super::emit::{self, Access, Base, Mem};

/// The bytes copied at the data pointer of an interface in a slice
/// element or map slot (see [`DYN_HEAD`]).
const ELEM_DYN_HEAD: u32 = 32;

/// Where the value being walked is.
pub(super) enum At<'p> {
    /// In registers and stack slots at the probe: its parts in ABI order,
    /// consumed as the walk goes.
    Parts(std::slice::Iter<'p, Part>),
    /// In memory.
    Mem(Mem),
}

impl At<'_> {
    /// The scalar word `off` bytes into the value, `size` bytes long: the
    /// next part (with its own size), or memory.
    fn word(&mut self, off: u64, size: u64) -> Option<(Access, u8)> {
        match self {
            At::Parts(it) => it.next().map(|p| (Access::Direct(p.loc), p.size as u8)),
            At::Mem(m) => Some((Access::Mem(m.plus(off as i64)), size as u8)),
        }
    }

    /// A string's or slice's {data, len}: two words at the probe (the
    /// length's location apart), or a header the op reads in memory.
    fn header(&mut self) -> Option<(Access, Option<Loc>)> {
        match self {
            At::Parts(it) => {
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    return None;
                };
                Some((Access::Direct(a.loc), Some(b.loc)))
            }
            At::Mem(m) => Some((Access::Mem(m.clone()), None)),
        }
    }

    /// The value `off` bytes in, when that is a place of its own (memory);
    /// at the probe the parts simply continue.
    fn inner(&self, off: i64) -> Option<At<'static>> {
        match self {
            At::Parts(_) => None,
            At::Mem(m) => Some(At::Mem(m.plus(off))),
        }
    }

    /// Passes over the parts of a value that is not captured.
    fn skip(&mut self, types: &TypeTable, ty: TypeId) {
        self.skip_elems(types, ty, 1);
    }

    /// Passes over the parts of `n` values of type `ty` (array elements):
    /// nothing to do in memory, however many there are.
    fn skip_elems(&mut self, types: &TypeTable, ty: TypeId, n: u64) {
        if let At::Parts(it) = self {
            for _ in 0..n {
                skip(types, ty, it);
            }
        }
    }
}

/// How the value being walked may spend the budget.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope {
    /// Whose room it takes.
    pub(super) who: Priority,
    /// Planning the ops of one slice element or map slot: no element ops
    /// or map entries inside, shorter interface heads.
    pub(super) in_elem: bool,
    /// Pointers still to follow at the leaf (in memory).
    pub(super) depth: u32,
}

impl Scope {
    /// A value the probe asks for.
    pub(super) fn value(depth: u32) -> Self {
        Scope {
            who: Priority::Value,
            in_elem: false,
            depth,
        }
    }
}

impl Builder<'_> {
    /// Plans a value of type `ty` at `at`.
    pub(super) fn walk(&mut self, ty: TypeId, at: &mut At<'_>, name: &str, s: Scope) -> Shape {
        let types = self.types;
        let t = types.get(ty);
        match (&t.kind, &*at) {
            (Kind::Bool, _) => self.scalar(at, t.size, ScalarKind::Bool, name, s),
            (Kind::Int { signed: true }, _) => self.scalar(at, t.size, ScalarKind::Int, name, s),
            (Kind::Int { signed: false }, _) => self.scalar(at, t.size, ScalarKind::Uint, name, s),
            (Kind::Float, _) => match at.word(0, t.size) {
                Some((Access::Direct(Loc::FloatReg(r)), _)) => {
                    let why = format!(
                        "{} passed in register X{r}; eBPF cannot read XMM registers",
                        t.name
                    );
                    self.warnings.push(format!("{name}: {why}"));
                    Shape::Unavailable(why)
                }
                Some(w) => self.read_scalar(w, ScalarKind::Float, name, s),
                None => Shape::Unavailable("no location".into()),
            },
            // Two floats: XMM registers (unreadable), the stack or memory.
            (Kind::Complex, _) => {
                let half = t.size / 2;
                let (Some(re), Some(im)) = (at.word(0, half), at.word(half, half)) else {
                    return Shape::Unavailable("no location".into());
                };
                if let (Access::Direct(Loc::FloatReg(r)), _) = re {
                    let why = format!(
                        "{} passed in registers X{r}, X{}; eBPF cannot read XMM registers",
                        t.name,
                        r + 1
                    );
                    self.warnings.push(format!("{name}: {why}"));
                    return Shape::Unavailable(why);
                }
                let fail = name;
                Shape::Struct(vec![
                    (
                        "real".into(),
                        self.read_scalar(re, ScalarKind::Float, fail, s),
                    ),
                    (
                        "imag".into(),
                        self.read_scalar(im, ScalarKind::Float, fail, s),
                    ),
                ])
            }
            (Kind::Pointer { elem: Some(elem) }, At::Mem(mem))
                if s.depth > 0 && !matches!(types.get(*elem).kind, Kind::Unsupported(_)) =>
            {
                let Some(next) = mem.follow() else {
                    return self.scalar(at, t.size, ScalarKind::Pointer, name, s);
                };
                // The pointer itself too: nil shows as null, not as a
                // struct of nulls.
                let Shape::Scalar { op: addr_op, .. } =
                    self.scalar(at, t.size, ScalarKind::Pointer, name, s)
                else {
                    return self.full(name, s.who);
                };
                let deeper = Scope {
                    depth: s.depth - 1,
                    ..s
                };
                let pointee = self.walk(*elem, &mut At::Mem(next), name, deeper);
                Shape::Pointer {
                    addr_op,
                    pointee: Box::new(pointee),
                }
            }
            (Kind::Pointer { .. } | Kind::UnsafePointer, _) => {
                self.scalar(at, t.size, ScalarKind::Pointer, name, s)
            }
            (Kind::String, _) => match at.header() {
                Some((a, len)) => self.string(a, len, name, s),
                None => Shape::Unavailable("no location".into()),
            },
            (Kind::Interface { empty }, _) => {
                let (Some((w0, _)), Some((w1, _))) = (at.word(0, 8), at.word(8, 8)) else {
                    return Shape::Unavailable("no location".into());
                };
                self.interface(*empty, w0, w1.follow_to(0), &t.name, name, s)
            }
            (Kind::Struct { fields }, _) => Shape::Struct(
                fields
                    .iter()
                    .filter_map(|f| {
                        if f.is_blank() {
                            at.skip(types, f.ty);
                            return None;
                        }
                        if self.secrets.hides(&f.name) {
                            // No op: at the probe its parts are passed over.
                            at.skip(types, f.ty);
                            return Some((f.name.clone(), self.redacted()));
                        }
                        let name = format!("{name}.{}", f.name);
                        Some((
                            f.name.clone(),
                            self.walk_in(f.ty, at, f.offset as i64, &name, s),
                        ))
                    })
                    .collect(),
            ),
            (Kind::Array { elem, len }, _) => {
                let esize = types.get(*elem).size as i64;
                let mut items = Vec::new();
                let refused = self.budget.refused();
                for i in 0..*len {
                    // Out of room: one marker for the rest, however long
                    // the array (planning must not grow with it).
                    if self.budget.short() || self.budget.refused() != refused {
                        at.skip_elems(types, *elem, len - i);
                        items.push(Shape::Unavailable(format!(
                            "{} more element(s): no room left at this site",
                            len - i
                        )));
                        break;
                    }
                    let name = format!("{name}[{i}]");
                    items.push(self.walk_in(*elem, at, i as i64 * esize, &name, s));
                }
                Shape::Array(items)
            }
            (Kind::Map { .. } | Kind::Chan | Kind::Func, _) => match at.word(0, 8) {
                Some((word, _)) => self.runtime_ref(&t.kind, &t.name, word, name, s),
                None => Shape::Unavailable("no location".into()),
            },
            (Kind::Slice { elem }, _) => {
                // In memory the header is {array, len, cap}: the string op
                // reads {array, len} there, cap is the third word.
                let (Some((array, len)), Some((cap, _))) = (at.header(), at.word(16, 8)) else {
                    return Shape::Unavailable("no location".into());
                };
                self.slice(*elem, &t.name, (array, len, cap), name, s)
            }
            // The two walkers said this differently; both texts are kept.
            (Kind::Unsupported(why), At::Parts(_)) => {
                at.skip(types, ty);
                Shape::Unavailable(format!("type {}: {why}", t.name))
            }
            (Kind::Unsupported(_), At::Mem(_)) => {
                Shape::Unavailable(format!("values of type {} are not captured yet", t.name))
            }
        }
    }

    /// Plans the part of the value at `at` that is `off` bytes in.
    fn walk_in(&mut self, ty: TypeId, at: &mut At<'_>, off: i64, name: &str, s: Scope) -> Shape {
        match at.inner(off) {
            Some(mut inner) => self.walk(ty, &mut inner, name, s),
            None => self.walk(ty, at, name, s),
        }
    }

    fn scalar(
        &mut self,
        at: &mut At<'_>,
        size: u64,
        kind: ScalarKind,
        name: &str,
        s: Scope,
    ) -> Shape {
        match at.word(0, size) {
            Some(w) => self.read_scalar(w, kind, name, s),
            None => Shape::Unavailable("no location".into()),
        }
    }

    fn read_scalar(
        &mut self,
        (a, size): (Access, u8),
        kind: ScalarKind,
        name: &str,
        s: Scope,
    ) -> Shape {
        match self.push(emit::op(OP_SCALAR, size, 0, a, None), emit::WORD, s.who) {
            Some(op) => Shape::Scalar { op, kind, size },
            None => self.full(name, s.who),
        }
    }

    /// A string whose header is reached by `a` (direct: `a` is the data
    /// pointer and `len` its length).
    pub(super) fn string(&mut self, a: Access, len: Option<Loc>, name: &str, s: Scope) -> Shape {
        let max = self.limits.max_string_len;
        let op = emit::op(OP_STRING, 1, max as u16, a, len);
        match self.push(op, emit::run_bytes(max), s.who) {
            Some(op) => Shape::String { op },
            None => self.full(name, s.who),
        }
    }

    /// An interface whose first word is reached by `word0`; `data` is the
    /// memory its data pointer points at. The first word is the _type
    /// itself for `any`, an itab (with the _type at offset 8) otherwise.
    fn interface(
        &mut self,
        empty: bool,
        word0: Access,
        data: Option<Access>,
        ty: &str,
        name: &str,
        s: Scope,
    ) -> Shape {
        let start = self.recipe.n_ops;
        let shape = self.interface_ops(empty, word0, data, (ty, name), s);
        // Reads past the type word guess at the dynamic value: their
        // faults are expected.
        for op in start + 1..self.recipe.n_ops {
            self.recipe.quiet_mask |= 1 << op;
        }
        shape
    }

    fn interface_ops(
        &mut self,
        empty: bool,
        word0: Access,
        data: Option<Access>,
        (ty, name): (&str, &str),
        s: Scope,
    ) -> Shape {
        let Some(type_access) = emit::type_word(word0, empty) else {
            return Shape::Unavailable(format!("{name}: more than {MAX_HOPS} pointers to follow"));
        };
        let Some(type_op) = self.push_word(type_access, s.who) else {
            return self.full(name, s.who);
        };
        let mut strings = Vec::new();
        let mut head_op = None;
        // Where a type that may be held here has a redacted field in the
        // bytes read on speculation, only the type's own recipe reads them
        // (see `secrets`): even an empty head hands the value over to it.
        let (dyn_string, dyn_head) = (self.secrets.dyn_string, self.secrets.dyn_head);
        if let Some(data) = data {
            // Always, when there is room: the string its data pointer
            // points at, which is the value of a `string` and the message
            // of the common errors.
            let max = self.limits.max_string_len;
            let op = emit::op(OP_STRING, 1, max as u16, data.clone(), None);
            if !dyn_string {
            } else if let Some(op) = self.push(op, emit::run_bytes(max), s.who) {
                strings.push((0, op));
            }
            // The value's first bytes, where its dynamic type's own recipe
            // (if installed) then runs: an extra; shorter per slice element.
            if self.budget.extras() {
                let len = if s.in_elem { ELEM_DYN_HEAD } else { DYN_HEAD }.min(dyn_head);
                let op = emit::op(OP_BYTES, 1, len as u16, data, None);
                head_op = self.push(op, emit::run_bytes(len), Priority::Extra);
                if let Some(op) = head_op {
                    emit::dynamic(&mut self.recipe.ops[op], type_op);
                }
            }
        }
        Shape::Interface {
            type_op,
            head_op,
            strings,
            ty: ty.to_string(),
        }
    }

    /// Walks to the field named by `path` (through struct fields and
    /// pointers), planning only it.
    pub(super) fn field(
        &mut self,
        ty: TypeId,
        at: &mut At<'_>,
        path: &mut Vec<&str>,
        full: &str,
    ) -> (String, Shape) {
        let t = self.types.get(ty);
        if path.is_empty() {
            let s = Scope::value(self.limits.pointer_depth);
            return (t.name.clone(), self.walk(ty, at, full, s));
        }
        match &t.kind {
            Kind::Struct { fields } => {
                let want = path.remove(0);
                let Some(i) = fields.iter().position(|f| f.name == want) else {
                    return ("?".into(), self.no_field(&t.name, fields, want, full));
                };
                for f in &fields[..i] {
                    at.skip(self.types, f.ty);
                }
                match at.inner(fields[i].offset as i64) {
                    Some(mut inner) => self.field(fields[i].ty, &mut inner, path, full),
                    None => self.field(fields[i].ty, at, path, full),
                }
            }
            Kind::Pointer { elem: Some(elem) } => {
                // The pointer is a word at the probe, or in memory: follow
                // it in BPF.
                let next = match at {
                    At::Parts(it) => match it.next() {
                        Some(p) => Mem::at(Base::At(p.loc)),
                        None => return ("?".into(), Shape::Unavailable("no location".into())),
                    },
                    At::Mem(m) => match m.follow() {
                        Some(next) => next,
                        None => {
                            let why = format!("{full}: more than {MAX_HOPS} pointers to follow");
                            self.warnings.push(why.clone());
                            return (t.name.clone(), Shape::Unavailable(why));
                        }
                    },
                };
                self.field(*elem, &mut At::Mem(next), path, full)
            }
            _ => self.not_a_struct(&t.name, path, full),
        }
    }

    fn no_field(&mut self, ty: &str, fields: &[Field], want: &str, full: &str) -> Shape {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let why = format!("{ty} has no field {want}; fields: {}", names.join(", "));
        self.warnings.push(format!("{full}: {why}"));
        Shape::Unavailable(why)
    }

    fn not_a_struct(&mut self, ty: &str, path: &[&str], full: &str) -> (String, Shape) {
        let why = format!("{ty} is not a struct; cannot select .{}", path.join("."));
        self.warnings.push(format!("{full}: {why}"));
        (ty.to_string(), Shape::Unavailable(why))
    }
}

/// Consumes the parts of a value that is not captured.
fn skip(types: &TypeTable, ty: TypeId, parts: &mut std::slice::Iter<'_, Part>) {
    let n = match &types.get(ty).kind {
        Kind::String | Kind::Interface { .. } | Kind::Complex => 2,
        Kind::Slice { .. } => 3,
        Kind::Struct { fields } => {
            for f in fields {
                skip(types, f.ty, parts);
            }
            0
        }
        Kind::Array { elem, len } => {
            for _ in 0..*len {
                skip(types, *elem, parts);
            }
            0
        }
        Kind::Unsupported(_) => 0,
        _ => 1,
    };
    for _ in 0..n {
        parts.next();
    }
}
