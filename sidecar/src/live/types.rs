//! Installing the recipes of interfaces' dynamic types: per analysed
//! binary, the error and address types up front (once a probe of it
//! captures an interface), any other type once a record shows it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tracing::debug;

use super::binaries::BinKey;
use super::kernel::Kernel;
use crate::dynamic::DynTypes;
use crate::golang::types::TypeId;
use crate::golang::BinaryInfo;
use crate::recipe::RawTypeKey;

/// The dynamic-type recipes of every analysed binary.
#[derive(Default)]
pub struct TypeRecipes {
    by_binary: HashMap<BinKey, Arc<DynTypes>>,
    /// The id the next binary gets (0 is never used: an unset recipe).
    next_bin: u32,
    /// Types whose recipe could not be installed (map full).
    pub failed: u64,
}

impl TypeRecipes {
    /// The registry of binary `key`, created with a fresh binary id.
    pub fn of(&mut self, key: BinKey) -> Arc<DynTypes> {
        if let Some(d) = self.by_binary.get(&key) {
            return d.clone();
        }
        self.next_bin = self.next_bin.wrapping_add(1).max(1);
        let d = Arc::new(DynTypes::new(self.next_bin));
        self.by_binary.insert(key, d.clone());
        d
    }

    /// Installs the recipes of the binary's error and address types, once.
    pub fn prewarm<K: Kernel>(
        &mut self,
        kernel: &mut K,
        d: &DynTypes,
        bin: &BinaryInfo,
        max_string_len: u32,
    ) {
        if !d.first_prewarm() {
            return;
        }
        let t = Instant::now();
        let likely = crate::dynamic::likely_types(bin);
        for (rtype, id) in &likely {
            self.install(kernel, d, bin, *rtype, Some(*id), max_string_len);
        }
        debug!(
            types = likely.len(),
            ms = t.elapsed().as_millis() as u64,
            "installed the recipes of error and address types"
        );
    }

    /// Plans and installs the recipe of the dynamic type at link-time
    /// address `rtype`; remembers when there is none to install.
    fn install<K: Kernel>(
        &mut self,
        kernel: &mut K,
        d: &DynTypes,
        bin: &BinaryInfo,
        rtype: u64,
        id: Option<TypeId>,
        max_string_len: u32,
    ) {
        let Some(id) = id.or_else(|| bin.runtime_type(rtype).and_then(|(_, id)| id)) else {
            d.set(rtype, None);
            return;
        };
        let plan = crate::dynamic::plan_type(&bin.dwarf.types, id, max_string_len).map(Arc::new);
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
    /// `binary` finds each registry's analysed binary.
    pub fn install_wanted<K: Kernel>(
        &mut self,
        kernel: &mut K,
        binary: impl Fn(&BinKey) -> Option<Arc<BinaryInfo>>,
        max_string_len: u32,
    ) {
        let wanted: Vec<(BinKey, Arc<DynTypes>, Vec<u64>)> = self
            .by_binary
            .iter()
            .map(|(k, d)| (*k, d.clone(), d.take_wanted()))
            .filter(|(_, _, w)| !w.is_empty())
            .collect();
        for (key, d, types) in wanted {
            let Some(bin) = binary(&key) else {
                continue;
            };
            for rtype in types {
                self.install(kernel, &d, &bin, rtype, None, max_string_len);
            }
        }
    }

    /// Forgets the binaries not in `in_use`, removing their recipes.
    pub fn retain<K: Kernel>(&mut self, kernel: &mut K, in_use: &HashSet<BinKey>) {
        self.by_binary.retain(|k, d| {
            let keep = in_use.contains(k);
            if !keep {
                for rtype in d.installed() {
                    kernel.remove_type_recipe(RawTypeKey {
                        bin: d.bin,
                        _pad: 0,
                        rtype,
                    });
                }
            }
            keep
        });
    }
}
