//! Which dynamic types' recipes one binary has installed (`DynTypes`).
//! The recipes themselves are planned in `plan::type_recipe`; their items
//! are re-exported here for the modules that name them by this path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::plan::TYPES_PER_BINARY as PER_BINARY;
pub use crate::plan::{likely_types, plan_type, pointer_shaped, IfaceAt, SliceAt, TypePlan};

/// The type recipes of one binary: planned ones, and types records showed
/// that have none yet (installed by the supervisor between drains).
#[derive(Debug)]
pub struct DynTypes {
    /// The binary's id in `type_recipes` keys.
    pub bin: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Link-time `_type` address → its plan (None: nothing to add).
    plans: HashMap<u64, Option<Arc<TypePlan>>>,
    /// Link-time addresses seen without a plan.
    wanted: HashSet<u64>,
    /// The error and address types were installed.
    prewarmed: bool,
}

impl DynTypes {
    /// An empty registry for binary `bin`.
    pub fn new(bin: u32) -> Self {
        DynTypes {
            bin,
            state: Mutex::new(State::default()),
        }
    }

    /// The installed plan of the type at link-time address `rtype`.
    pub fn plan(&self, rtype: u64) -> Option<Arc<TypePlan>> {
        self.state.lock().ok()?.plans.get(&rtype).cloned().flatten()
    }

    /// Notes that a record showed the type at `rtype` without its block.
    /// True when its recipe is yet to be planned (later values will have
    /// it); false when it was planned already (no recipe, or the block
    /// did not fit) or the binary has all the recipes it may.
    pub fn want(&self, rtype: u64) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        if s.plans.contains_key(&rtype) || s.plans.len() + s.wanted.len() >= PER_BINARY {
            return false;
        }
        s.wanted.insert(rtype);
        true
    }

    /// True the first time only: install the likely types now.
    pub fn first_prewarm(&self) -> bool {
        match self.state.lock() {
            Ok(mut s) => !std::mem::replace(&mut s.prewarmed, true),
            Err(_) => false,
        }
    }

    /// Types to plan: those wanted since the last call.
    pub fn take_wanted(&self) -> Vec<u64> {
        match self.state.lock() {
            Ok(mut s) => s.wanted.drain().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Records the outcome of planning `rtype` (after installing it).
    pub fn set(&self, rtype: u64, plan: Option<Arc<TypePlan>>) {
        if let Ok(mut s) = self.state.lock() {
            s.plans.insert(rtype, plan);
        }
    }

    /// Link-time addresses of the installed recipes.
    pub fn installed(&self) -> Vec<u64> {
        match self.state.lock() {
            Ok(s) => s
                .plans
                .iter()
                .filter(|(_, p)| p.is_some())
                .map(|(a, _)| *a)
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}
