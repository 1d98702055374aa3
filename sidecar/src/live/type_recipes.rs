//! Installing the recipes of interfaces' dynamic types: per analysed
//! binary, the error and address types up front (once a probe of it
//! captures an interface), any other type once a record shows it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::debug;

use super::binaries::BinKey;
use super::kernel::Kernel;
use crate::golang::types::TypeId;
use crate::golang::BinaryInfo;
use crate::plan::{Secrets, TypePlan, TYPES_PER_BINARY};
use crate::recipe::RawTypeKey;
use crate::redact::Redaction;

/// The dynamic-type recipes of every analysed binary.
#[derive(Default)]
pub struct TypeRecipes {
    by_binary: HashMap<BinKey, Arc<BinaryTypes>>,
    /// The id the next binary gets (0 is never used: an unset recipe).
    next_bin: u32,
    /// Types whose recipe could not be installed (map full).
    pub failed: u64,
}

impl TypeRecipes {
    /// The types of binary `key`, created with a fresh binary id.
    pub fn of(&mut self, key: BinKey) -> Arc<BinaryTypes> {
        if let Some(d) = self.by_binary.get(&key) {
            return d.clone();
        }
        self.next_bin = self.next_bin.wrapping_add(1).max(1);
        let d = Arc::new(BinaryTypes::new(self.next_bin));
        self.by_binary.insert(key, d.clone());
        d
    }

    /// Installs the recipes of the binary's error and address types, once.
    pub fn prewarm<K: Kernel>(
        &mut self,
        kernel: &mut K,
        d: &BinaryTypes,
        bin: &BinaryInfo,
        (max_string_len, redaction): (u32, &Redaction),
    ) {
        if !d.first_prewarm() {
            return;
        }
        let t = Instant::now();
        let likely = crate::plan::likely_types(bin);
        let secrets = Secrets::of(bin, redaction);
        for (rtype, id) in &likely {
            self.install(
                kernel,
                d,
                bin,
                *rtype,
                Some(*id),
                (max_string_len, &secrets),
            );
        }
        debug!(
            types = likely.len(),
            ms = t.elapsed().as_millis() as u64,
            "installed the recipes of error and address types"
        );
    }

    /// Installs, once per binary, how the context walk of its probes that
    /// join the application's traces steps through its context and span
    /// types (`plan::context_types`).
    pub fn install_contexts<K: Kernel>(
        &mut self,
        kernel: &mut K,
        d: &BinaryTypes,
        bin: &BinaryInfo,
    ) {
        let Ok(mut s) = d.state.lock() else {
            return;
        };
        if s.contexts_planned {
            return;
        }
        s.contexts_planned = true;
        for (rtype, t) in crate::plan::context_types(bin) {
            let key = RawTypeKey {
                bin: d.bin,
                _pad: 0,
                rtype,
            };
            match kernel.add_ctx_type(key, &t) {
                Ok(()) => s.contexts.push(rtype),
                // Counted with the type recipes: the walk then ends at this
                // type, and says so.
                Err(e) => {
                    self.failed += 1;
                    debug!("installing a context type: {e}");
                }
            }
        }
    }

    /// Plans and installs the recipe of the dynamic type at link-time
    /// address `rtype`; remembers when there is none to install.
    fn install<K: Kernel>(
        &mut self,
        kernel: &mut K,
        d: &BinaryTypes,
        bin: &BinaryInfo,
        rtype: u64,
        id: Option<TypeId>,
        (max_string_len, secrets): (u32, &Secrets),
    ) {
        let Some(id) = id.or_else(|| bin.runtime_type(rtype).and_then(|(_, id)| id)) else {
            d.set(rtype, None);
            return;
        };
        let plan =
            crate::plan::plan_type(&bin.dwarf.types, id, max_string_len, secrets).map(Arc::new);
        if let Some(p) = &plan {
            let key = RawTypeKey {
                bin: d.bin,
                _pad: 0,
                rtype,
            };
            if let Err(e) = kernel.add_type_recipe(key, &p.recipe) {
                // Not remembered: retried when a record shows it again
                // (another binary's recipes may have been removed since).
                self.failed += 1;
                debug!("installing a dynamic type's recipe: {e}");
                return;
            }
        }
        d.set(rtype, plan);
    }

    /// Installs recipes for the dynamic types records showed without one;
    /// `binary` finds the analysed binary of each.
    pub fn install_wanted<K: Kernel>(
        &mut self,
        kernel: &mut K,
        binary: impl Fn(&BinKey) -> Option<Arc<BinaryInfo>>,
        (max_string_len, redaction): (u32, &Redaction),
    ) {
        let wanted: Vec<(BinKey, Arc<BinaryTypes>, Vec<u64>)> = self
            .by_binary
            .iter()
            .map(|(k, d)| (*k, d.clone(), d.take_wanted()))
            .filter(|(_, _, w)| !w.is_empty())
            .collect();
        for (key, d, types) in wanted {
            let Some(bin) = binary(&key) else {
                continue;
            };
            // Once per binary: it looks at all of the binary's types.
            let secrets = Secrets::of(&bin, redaction);
            for rtype in types {
                self.install(kernel, &d, &bin, rtype, None, (max_string_len, &secrets));
            }
        }
    }

    /// Forgets the binaries not in `in_use`, removing their recipes.
    pub fn retain<K: Kernel>(&mut self, kernel: &mut K, in_use: &HashSet<BinKey>) {
        self.by_binary.retain(|k, d| {
            let keep = in_use.contains(k);
            if !keep {
                let key = |rtype| RawTypeKey {
                    bin: d.bin,
                    _pad: 0,
                    rtype,
                };
                for rtype in d.installed() {
                    kernel.remove_type_recipe(key(rtype));
                }
                for rtype in d.contexts() {
                    kernel.remove_ctx_type(key(rtype));
                }
            }
            keep
        });
    }
}

/// The type recipes of one binary: planned ones, and types records showed
/// that have none yet (installed by the supervisor between drains).
#[derive(Debug)]
pub struct BinaryTypes {
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
    /// The context walk's types were planned (`contexts`: installed).
    contexts_planned: bool,
    contexts: Vec<u64>,
}

impl BinaryTypes {
    /// Nothing installed yet for binary `bin`.
    pub fn new(bin: u32) -> Self {
        BinaryTypes {
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
        if s.plans.contains_key(&rtype) || s.plans.len() + s.wanted.len() >= TYPES_PER_BINARY {
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

    /// Link-time addresses of the installed context walk steps.
    pub fn contexts(&self) -> Vec<u64> {
        match self.state.lock() {
            Ok(s) => s.contexts.clone(),
            Err(_) => Vec::new(),
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

#[cfg(test)]
#[path = "type_recipes_tests.rs"]
mod tests;
