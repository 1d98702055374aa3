//! Slices: copied whole when their elements decode from their bytes,
//! element by element (`OP_STRINGS`, `OP_ELEMS`) when they need ops of
//! their own; and the `OP_ELEMS`/`OP_GROUP` element ops maps use too.
//!
//! A `[]string` inside an element (a struct's field, a map's value:
//! `url.Values`) is an `OP_STRINGS` element op, at most [`INNER`]'s
//! first step: every element pays for it, so the elements' count comes
//! first and its strings are fewer and shorter, down the steps of
//! [`INNER`] until the elements fit.

use crate::golang::abi::Loc;
use crate::golang::types::{Kind, TypeId};
use crate::recipe::{MAX_DATA, MAX_STRING, OP_ELEMS, OP_GROUP, OP_STRING, OP_STRINGS};

use super::builder::Builder;
use super::contract::{byte_layout, ByteLayout, Shape};
use super::emit::{self, Access, Base, Mem};
use super::secrets::first_redacted;
use super::walk::{At, Scope};

/// A slice header: its array, its length when direct, its capacity.
pub(super) type Header = (Access, Option<Loc>, Access);

/// (strings, bytes of each) of a `[]string` inside a slice element or a
/// map slot, largest first (capped by `max_elems` and `max_string_len`):
/// `elements` takes the first step at which its elements all fit.
pub(super) const INNER: [(u32, u32); 4] = [(8, 64), (4, 32), (2, 16), (1, 8)];

/// Where the elements of an `OP_ELEMS`/`OP_GROUP` op are.
#[derive(Clone)]
pub(super) enum Elements {
    /// A slice: its {array, len} and its cap.
    Slice {
        array: Access,
        len: Option<Loc>,
        cap: Access,
    },
    /// `count` elements from `at`.
    Group { at: Mem, count: u32 },
}

impl Builder<'_> {
    /// A slice: its length, capacity and first elements (`max_elems`, or
    /// `max_string_len` bytes of a `[]byte`) when the element type can be
    /// decoded from its bytes alone.
    pub(super) fn slice(
        &mut self,
        elem: Option<TypeId>,
        ty: &str,
        (array, len, cap): Header,
        name: &str,
        s: Scope,
    ) -> Shape {
        let types = self.types;
        if elem.is_some_and(|e| matches!(types.get(e).kind, Kind::String)) {
            return self.string_slice(ty, (array, len, cap), name, s);
        }
        if let Some(e) = elem.filter(|e| !s.in_elem && self.needs_elem_ops(*e)) {
            return self.elems(e, ty, (array, len, cap), name, s);
        }
        // Elements holding a redacted field are never copied as one run
        // (element ops pass over it; inside an element: the length only).
        let layout = elem
            .filter(|e| first_redacted(types, *e, &self.secrets.redaction, 0).is_none())
            .and_then(|e| byte_layout(types, e));
        let elem_size = elem.map(|e| types.get(e).size).unwrap_or(0);
        let max = match (&layout, elem_size) {
            (Some(ByteLayout::Byte), _) => self.limits.max_string_len,
            (Some(_), n) if n > 0 => {
                (u64::from(self.limits.max_elems) * n).min(u64::from(MAX_STRING) / n * n) as u32
            }
            // Length only.
            _ => 0,
        };
        let size = elem_size.clamp(1, 255) as u8;
        let bytes = emit::run_bytes(max);
        let op = emit::op(OP_STRING, size, max as u16, array, len);
        let Some(op) = self.push(op, bytes, s.who) else {
            return self.full(name, s.who);
        };
        let cap_op = self.push_word(cap, s.who);
        Shape::Slice {
            op,
            cap_op,
            elem: if max > 0 { layout } else { None },
            elem_size: elem_size.max(1),
            ty: ty.to_string(),
        }
    }

    /// Whether elements of this type need ops of their own (strings,
    /// pointers to follow, interfaces…) rather than a copy of their bytes.
    fn needs_elem_ops(&self, e: TypeId) -> bool {
        let types = self.types;
        match &types.get(e).kind {
            Kind::Pointer { elem: Some(p) } => {
                self.limits.pointer_depth > 0 && !matches!(types.get(*p).kind, Kind::Unsupported(_))
            }
            Kind::Unsupported(_) => false,
            _ => {
                byte_layout(types, e).is_none()
                    || first_redacted(types, e, &self.secrets.redaction, 0).is_some()
            }
        }
    }

    /// A []string: up to `max_elems` elements (at most 255), each up to
    /// `max_string_len` bytes, shrunk to what the site's data budget has
    /// left; inside an element, the current step of [`INNER`].
    fn string_slice(&mut self, ty: &str, (array, len, cap): Header, name: &str, s: Scope) -> Shape {
        let (n, max) = if s.in_elem {
            let (n, max) = INNER[self.inner.min(INNER.len() - 1)];
            self.inner_used = true;
            (
                n.min(self.limits.max_elems),
                max.min(self.limits.max_string_len),
            )
        } else {
            let n = self.limits.max_elems.min(255);
            // What the values after it keep is not left (a crowded site).
            let keep = self.budget.reserved(s.who).1;
            let fixed = emit::SEQ_HEAD + emit::WORD + keep;
            let left = MAX_DATA.saturating_sub(self.budget.bytes() + fixed);
            let per = (left / n).saturating_sub(emit::STR_HEAD) / 8 * 8;
            (n, self.limits.max_string_len.min(per))
        };
        if max == 0 {
            return self.full(name, s.who);
        }
        let bytes = emit::SEQ_HEAD + n * emit::run_bytes(max);
        let op = emit::op(OP_STRINGS, n as u8, max as u16, array, len);
        let Some(op) = self.push(op, bytes, s.who) else {
            return self.full(name, s.who);
        };
        let cap_op = self.push_word(cap, s.who);
        Shape::Slice {
            op,
            cap_op,
            elem: None,
            elem_size: 16,
            ty: ty.to_string(),
        }
    }

    /// A slice whose elements each run a few ops (`OP_ELEMS`): the element
    /// planned once against the element's address, as many elements as the
    /// site's data budget allows, up to `max_elems`.
    fn elems(
        &mut self,
        elem: TypeId,
        ty: &str,
        (array, len, cap): Header,
        name: &str,
        s: Scope,
    ) -> Shape {
        let depth = self.limits.pointer_depth.saturating_sub(1);
        let plan_elem = |b: &mut Self, mem: &Mem, es: Scope| {
            let es = Scope { depth, ..es };
            b.walk(elem, &mut At::Mem(mem.clone()), &format!("{name}[]"), es)
        };
        let stride = self.types.get(elem).size as u32;
        let source = Elements::Slice { array, len, cap };
        self.elements(source, stride, plan_elem, ty, s)
            .unwrap_or_else(|| self.full(name, s.who))
    }

    /// Plans an `OP_ELEMS`/`OP_GROUP` op and the element ops that follow it
    /// (`plan_elem`, against the element's address, in the element's
    /// scope), as many elements as the data budget allows up to
    /// `max_elems` (a group: all or none). An element holding a
    /// `[]string` is planned again at the next step of [`INNER`] while
    /// fewer elements than wanted fit. None, with the recipe unchanged,
    /// when it does not fit.
    pub(super) fn elements(
        &mut self,
        source: Elements,
        stride: u32,
        plan_elem: impl Fn(&mut Self, &Mem, Scope) -> Shape,
        ty: &str,
        s: Scope,
    ) -> Option<Shape> {
        let saved = self.checkpoint();
        let want = match source {
            Elements::Slice { .. } => self.limits.max_elems.min(255),
            Elements::Group { count, .. } => count,
        };
        for step in 0..INNER.len() {
            self.inner = step;
            self.inner_used = false;
            let planned = self.elements_at(source.clone(), stride, &plan_elem, ty, s);
            let fits = planned.as_ref().is_some_and(|(_, n)| *n >= want);
            if fits || !self.inner_used || step + 1 == INNER.len() {
                self.inner = 0;
                return planned.map(|(shape, _)| shape);
            }
            // Fewer strings of each []string: forget this attempt,
            // refusals and warnings included.
            self.rewind(&saved);
        }
        None
    }

    /// One attempt of [`Builder::elements`]: the shape and how many
    /// elements fit.
    fn elements_at(
        &mut self,
        source: Elements,
        stride: u32,
        plan_elem: &impl Fn(&mut Self, &Mem, Scope) -> Shape,
        ty: &str,
        s: Scope,
    ) -> Option<(Shape, u32)> {
        let saved = self.checkpoint();
        let revert = |b: &mut Self| b.restore(&saved);
        let refused = self.budget.refused();
        let (op, cap, fixed) = match source {
            Elements::Slice { array, len, cap } => {
                let op = emit::op(OP_ELEMS, 0, 0, array, len);
                (self.push(op, emit::SEQ_HEAD, s.who)?, Some(cap), None)
            }
            Elements::Group { at, count } => {
                let op = emit::op(OP_GROUP, 0, 0, Access::Mem(at), None);
                (self.push(op, emit::SEQ_HEAD, s.who)?, None, Some(count))
            }
        };
        // The element ops follow their op directly.
        let first = self.recipe.n_ops as usize;
        let before = self.budget.bytes();
        let in_elem = Scope { in_elem: true, ..s };
        let shape = plan_elem(self, &Mem::at(Base::Elem), in_elem);
        let k = self.recipe.n_ops as usize - first;
        let per = self.budget.bytes() - before;
        let cap_op = match cap {
            Some(cap) => match self.push_word(cap, s.who) {
                Some(op) => Some(op),
                None => {
                    revert(self);
                    return None;
                }
            },
            None => None,
        };
        // Each element: its status, then its ops' captures; then the cap;
        // and what the values after it keep (see `Budget::reserved`).
        let keep = self.budget.reserved(s.who).1;
        let room = MAX_DATA.saturating_sub(before + emit::WORD + keep) / (emit::ELEM_STATUS + per);
        let n = match fixed {
            Some(count) if room >= count => count,
            Some(_) => 0,
            None => self.limits.max_elems.min(room).min(255),
        };
        if self.budget.refused() != refused || k == 0 || k > 32 || n == 0 {
            revert(self);
            return None;
        }
        let o = &mut self.recipe.ops[op];
        o.size = k as u8;
        o.max_len = n as u16;
        o.stride = stride;
        self.budget
            .set_bytes(before + n * (emit::ELEM_STATUS + per) + emit::WORD);
        let shape = Shape::Elems {
            op,
            cap_op,
            first,
            k,
            elem: Box::new(shape),
            ty: ty.to_string(),
        };
        Some((shape, n))
    }
}
