//! The room one site's recipe has ([`MAX_OPS`] ops, [`MAX_DATA`] bytes
//! of captures) and who may spend it: the values first, then extras.

use crate::recipe::{MAX_DATA, MAX_OPS};

/// Who asks for room, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Priority {
    /// A value (or part of one) the probe asks for: takes any room left.
    /// When refused the site is short of room and the user is told.
    Value,
    /// A speculative read that adds detail (an interface's dynamic value,
    /// a map's entries): takes only room the values still to plan do not
    /// need, and is left out silently when refused.
    Extra,
}

/// What planning may still spend at one site, and what was refused.
#[derive(Debug, Clone)]
pub(super) struct Budget {
    /// Bytes of captures the ops planned so far take.
    bytes: u32,
    /// (ops, bytes) the values still to plan need: extras leave them.
    reserve: (u32, u32),
    /// (ops, bytes) the values still to plan need at the least, left by the
    /// fields of a struct or array being planned: a crowded site trims its
    /// composite values before a later scalar, string or error goes.
    least: (u32, u32),
    /// Whether extras are planned at all (off: they would crowd out a
    /// value).
    extras: bool,
    /// Requests refused so far, extras included: a tentative plan compares
    /// this before and after to see whether all of it fitted.
    refused: u32,
    /// A value's request was refused.
    short: bool,
}

/// The budget's part of a checkpoint: refusals are undone only by
/// [`Budget::rewind`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Spent {
    bytes: u32,
    short: bool,
    refused: u32,
}

impl Budget {
    /// A fresh site budget; `extras`: whether extras are planned.
    pub(super) fn new(extras: bool) -> Self {
        Budget {
            bytes: 0,
            reserve: (0, 0),
            least: (0, 0),
            extras,
            refused: 0,
            short: false,
        }
    }

    /// The (ops, bytes) `who` must leave to the values still to plan.
    pub(super) fn reserved(&self, who: Priority) -> (u32, u32) {
        match who {
            Priority::Extra => (
                self.reserve.0.max(self.least.0),
                self.reserve.1.max(self.least.1),
            ),
            Priority::Value => self.least,
        }
    }

    /// Grants `bytes` more for one more op after `ops` ops, or refuses.
    pub(super) fn grant(&mut self, ops: usize, bytes: u32, who: Priority) -> bool {
        let (ro, rb) = self.reserved(who);
        if ops + ro as usize >= MAX_OPS || self.bytes + bytes + rb > MAX_DATA {
            self.refuse(who);
            return false;
        }
        self.bytes += bytes;
        true
    }

    /// Records a request that cannot be met.
    pub(super) fn refuse(&mut self, who: Priority) {
        self.refused += 1;
        if who == Priority::Value {
            self.short = true;
        }
    }

    /// Bytes taken so far.
    pub(super) fn bytes(&self) -> u32 {
        self.bytes
    }

    /// Sets the bytes taken: `OP_ELEMS` ops settle their cost once their
    /// element count is known.
    pub(super) fn set_bytes(&mut self, bytes: u32) {
        self.bytes = bytes;
    }

    /// Reserves (ops, bytes) for the values still to plan.
    pub(super) fn reserve(&mut self, reserve: (u32, u32)) {
        self.reserve = reserve;
    }

    /// Reserves, from the value being planned, the least (ops, bytes) the
    /// values after it need; (0, 0) lets it take any room left.
    pub(super) fn reserve_least(&mut self, least: (u32, u32)) {
        self.least = least;
    }

    /// Whether extras are planned at all.
    pub(super) fn extras(&self) -> bool {
        self.extras
    }

    /// Refusals so far.
    pub(super) fn refused(&self) -> u32 {
        self.refused
    }

    /// Whether a value was refused room since the start or the last
    /// [`Budget::forgive`].
    pub(super) fn short(&self) -> bool {
        self.short
    }

    /// Forgets that a value was refused: a pointee is retried shallower.
    pub(super) fn forgive(&mut self) {
        self.short = false;
    }

    /// What [`Budget::restore`] returns to.
    pub(super) fn spent(&self) -> Spent {
        Spent {
            bytes: self.bytes,
            short: self.short,
            refused: self.refused,
        }
    }

    /// Gives back what was spent since `s` (the refusals stay counted).
    pub(super) fn restore(&mut self, s: Spent) {
        self.bytes = s.bytes;
        self.short = s.short;
    }

    /// Gives back what was spent since `s` and forgets the refusals: an
    /// attempt replaced by another.
    pub(super) fn rewind(&mut self, s: Spent) {
        self.restore(s);
        self.refused = s.refused;
    }
}
