//! One site's plan while it is built: the recipe, the values, the budget,
//! and what is planned last (pointees, larger maps' first groups).

use crate::config::ProbeSpec;
use crate::golang::abi::{Loc, Part};
use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::RuntimeLayout;
use crate::recipe::{RawOp, RawRecipe, MAX_DATA, MAX_OPS, OP_SCALAR};

use super::budget::{Budget, Priority, Spent};
use super::contract::{Shape, SitePlan, Value};
use super::emit::{self, Access, Base, Mem};
use super::map::PendingGroup;
use super::secrets::Secrets;
use super::walk::{At, Scope};

/// The probe's limits on what one value shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Longest string (and `[]byte`) prefix, in bytes.
    pub(super) max_string_len: u32,
    /// Slice elements.
    pub(super) max_elems: u32,
    /// Pointers followed to show what they point to.
    pub(super) pointer_depth: u32,
}

/// One site's plan under construction.
pub(super) struct Builder<'t> {
    pub(super) types: &'t TypeTable,
    /// What is never copied (`redact:`).
    pub(super) secrets: &'t Secrets,
    pub(super) layout: RuntimeLayout,
    pub(super) limits: Limits,
    pub(super) recipe: RawRecipe,
    pub(super) values: Vec<Value>,
    pub(super) warnings: Vec<String>,
    pub(super) budget: Budget,
    /// Whole pointer values to show as their pointee if ops remain:
    /// (value name, pointee type, where the pointer is).
    pending: Vec<(String, TypeId, Loc)>,
    /// Larger maps' first groups to capture if ops remain at the end.
    pub(super) pending_groups: Vec<PendingGroup>,
    /// Values that are arguments (the rest, at an instant entry, results).
    pub(super) entry_args: usize,
    /// The `OP_SPAN_CTX` op and what it reads.
    pub(super) span: Option<(usize, String)>,
    /// The `OP_TRACEPARENT` op and what it reads.
    pub(super) traceparent: Option<(usize, String)>,
    /// The `OP_STACK` op (`stack:`).
    pub(super) stack: Option<usize>,
    /// Ops and bytes each value took, in order.
    pub(super) costs: Vec<(u32, u32)>,
    /// (ops, bytes) used when the previous value was recorded.
    mark: (u32, u32),
    /// A value had to give way for lack of room (pointees, planned last,
    /// only get shallower and do not count).
    pub(super) crowded: bool,
    /// The step of `slice::INNER` a `[]string` inside an element takes.
    pub(super) inner: usize,
    /// An element planned since `inner` was set holds a `[]string`.
    pub(super) inner_used: bool,
}

/// A point in planning to return to when a tentative plan does not fit.
pub(super) struct Checkpoint {
    pub(super) recipe: RawRecipe,
    spent: Spent,
    pub(super) warnings: usize,
    pending_groups: usize,
}

impl<'t> Builder<'t> {
    /// An empty plan of site `site`; `extras`: whether extras are planned.
    pub(super) fn new(
        (types, secrets): (&'t TypeTable, &'t Secrets),
        layout: RuntimeLayout,
        site: u8,
        (goid, stack_hi): (u32, u32),
        spec: &ProbeSpec,
        extras: bool,
    ) -> Self {
        let recipe = RawRecipe {
            site,
            goid_offset: goid,
            stack_hi_offset: stack_hi,
            ..RawRecipe::default()
        };
        Builder {
            types,
            secrets,
            layout,
            limits: Limits {
                max_string_len: spec.max_string_len,
                max_elems: spec.max_elems,
                pointer_depth: spec.pointer_depth,
            },
            recipe,
            values: Vec::new(),
            warnings: Vec::new(),
            budget: Budget::new(extras),
            pending: Vec::new(),
            pending_groups: Vec::new(),
            entry_args: 0,
            span: None,
            traceparent: None,
            stack: None,
            costs: Vec::new(),
            mark: (0, 0),
            crowded: false,
            inner: 0,
            inner_used: false,
        }
    }

    /// Appends an op reading the word `at` reaches (a length, a capacity, a
    /// type word, a control word), if the budget grants it to `who`.
    pub(super) fn push_word(&mut self, at: Access, who: Priority) -> Option<usize> {
        self.push(emit::op(OP_SCALAR, 8, 0, at, None), emit::WORD, who)
    }

    /// Appends `op`, which captures `bytes`, if the budget grants them to
    /// `who`; None when it does not.
    pub(super) fn push(&mut self, op: RawOp, bytes: u32, who: Priority) -> Option<usize> {
        if !self
            .budget
            .grant(usize::from(self.recipe.n_ops), bytes, who)
        {
            return None;
        }
        emit::append(&mut self.recipe, op)
    }

    /// Plans an op that finds the application's trace context (the walk of
    /// a context, or an incoming `traceparent`), before any value: it is
    /// not a value, and the values' costs do not include it.
    pub(super) fn push_join(&mut self, op: RawOp, bytes: u32) -> Option<usize> {
        let i = self.push(op, bytes, Priority::Value)?;
        self.mark = (u32::from(self.recipe.n_ops), self.budget.bytes());
        Some(i)
    }

    /// The shape of a value that did not fit; the user is told unless it
    /// was an extra.
    pub(super) fn full(&mut self, name: &str, who: Priority) -> Shape {
        self.budget.refuse(who);
        let why =
            format!("more than {MAX_OPS} captures or {MAX_DATA} bytes at one site; narrow `args:`");
        if who == Priority::Value {
            self.warnings.push(format!("{name}: {why}"));
        }
        Shape::Unavailable(why)
    }

    /// What `restore` returns to: the recipe and its budget so far.
    pub(super) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            recipe: self.recipe,
            spent: self.budget.spent(),
            warnings: self.warnings.len(),
            pending_groups: self.pending_groups.len(),
        }
    }

    /// Undoes the ops planned since `c` (warnings are the caller's).
    pub(super) fn restore(&mut self, c: &Checkpoint) {
        self.recipe = c.recipe;
        self.budget.restore(c.spent);
        // Groups of maps planned after the checkpoint went with them.
        self.pending_groups.truncate(c.pending_groups);
    }

    /// Undoes everything since `c`, refusals and warnings too: an attempt
    /// that is planned again another way.
    pub(super) fn rewind(&mut self, c: &Checkpoint) {
        self.restore(c);
        self.budget.rewind(c.spent);
        self.warnings.truncate(c.warnings);
    }

    /// Reserves what the values after value `i` need (`later`, see
    /// `SiteCtx::build_with`) for them.
    pub(super) fn reserve_after(&mut self, i: usize, later: &[(u32, u32)]) {
        self.budget
            .reserve(later.get(i + 1).copied().unwrap_or((0, 0)));
    }

    /// Records a planned value and what it cost since the previous one,
    /// then reserves room for the values after it.
    pub(super) fn push_value(&mut self, value: Value, later: &[(u32, u32)]) {
        let (o, d) = (u32::from(self.recipe.n_ops), self.budget.bytes());
        self.costs.push((o - self.mark.0, d - self.mark.1));
        self.mark = (o, d);
        self.values.push(value);
        self.reserve_after(self.values.len(), later);
    }

    pub(super) fn finish(self) -> SitePlan {
        SitePlan {
            recipe: self.recipe,
            values: self.values,
            span: self.span,
            traceparent: self.traceparent,
            stack: self.stack,
        }
    }

    /// Plans the value (or the field `path` inside it) of parameter `param`.
    pub(super) fn value(&mut self, path: &str, param: &str, ty: TypeId, parts: &[Part]) -> Value {
        let types = self.types;
        let location = describe(parts);
        // Each name on the way is matched alone: `creds.Token` and
        // `password.Salt` are both redacted.
        if path.split('.').any(|n| self.secrets.hides(n)) {
            return Value {
                name: path.to_string(),
                ty: types.get(ty).name.clone(),
                location,
                shape: self.redacted(),
            };
        }
        let mut at = At::Parts(parts.iter());
        let mut field_path: Vec<&str> = path.split('.').skip(1).collect();
        if let (true, Kind::Pointer { elem: Some(elem) }, [p]) =
            (field_path.is_empty(), &types.get(ty).kind, parts)
        {
            self.pending.push((path.to_string(), *elem, p.loc));
        }
        let first = self.recipe.n_ops as usize;
        let (ty, shape) = if field_path.is_empty() {
            let s = Scope::value(self.limits.pointer_depth);
            (types.get(ty).name.clone(), self.walk(ty, &mut at, param, s))
        } else {
            self.field(ty, &mut at, &mut field_path, path)
        };
        // A field path: where in memory, as the first op reads it.
        let location = match self.recipe.ops.get(first) {
            Some(op) if path.contains('.') && first < self.recipe.n_ops as usize => {
                emit::describe_op(op).unwrap_or(location)
            }
            _ => location,
        };
        Value {
            name: path.to_string(),
            ty,
            location,
            shape,
        }
    }

    /// The shape of a redacted value: no op, the replacement.
    pub(super) fn redacted(&self) -> Shape {
        Shape::Redacted(self.secrets.redaction.replacement().to_string())
    }

    /// Shows whole pointer values as their pointees, in order, while the
    /// recipe has room: planned after every other value, so a large
    /// pointee can never crowd out a later argument.
    pub(super) fn expand_pointers(&mut self) {
        let types = self.types;
        for (name, elem, loc) in std::mem::take(&mut self.pending) {
            let Some(i) = self.values.iter().position(|v| v.name == name) else {
                continue;
            };
            let Shape::Scalar { op: addr_op, .. } = self.values[i].shape else {
                continue;
            };
            let saved = self.checkpoint();
            let mem = Mem::at(Base::At(loc));
            // As deep as configured, shallower when that does not fit.
            let mut shown = None;
            let mut overflowed = false;
            for depth in (0..self.limits.pointer_depth).rev() {
                self.budget.forgive();
                let mut at = At::Mem(mem.clone());
                let pointee = self.walk(elem, &mut at, &name, Scope::value(depth));
                if !self.budget.short() && !matches!(pointee, Shape::Unavailable(_)) {
                    shown = Some(pointee);
                    break;
                }
                overflowed |= self.budget.short();
                self.restore(&saved);
                self.warnings.truncate(saved.warnings);
            }
            self.budget.forgive();
            let Some(pointee) = shown else {
                if overflowed {
                    self.warnings.push(format!(
                        "{name}: the {} it points to does not fit in what is left of this site's {MAX_OPS} captures and {MAX_DATA} bytes; showing the address (name fields in `args:`)",
                        types.get(elem).name
                    ));
                }
                continue;
            };
            self.values[i].shape = Shape::Pointer {
                addr_op,
                pointee: Box::new(pointee),
            };
        }
    }
}

/// `RAX`, `RBX+RCX`, `8(SP)…24(SP)` for display.
fn describe(parts: &[Part]) -> String {
    match parts {
        [] => "-".into(),
        [p] => p.loc.to_string(),
        _ if matches!(parts[0].loc, Loc::Stack(_)) => {
            format!("{}…{}", parts[0].loc, parts[parts.len() - 1].loc)
        }
        _ => parts
            .iter()
            .map(|p| p.loc.to_string())
            .collect::<Vec<_>>()
            .join("+"),
    }
}
