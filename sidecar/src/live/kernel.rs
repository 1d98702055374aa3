//! The few kernel operations the live side needs, as a trait: `bpf::Bpf`
//! performs them for real, and unit tests substitute a fake that records
//! them, so attach/detach bookkeeping is tested without root.

use std::path::Path;

use aya::programs::uprobe::UProbeLink;

use crate::bpf::{Bpf, BpfError, KernelStats};
use crate::recipe::{
    RawCtxType, RawProbeCounts, RawProbeLimit, RawRecipe, RawTypeKey, RawTypeRecipe,
};

/// Recipes, type recipes and uprobes in the kernel.
pub trait Kernel {
    /// An attached uprobe; dropping it detaches.
    type Link;

    /// Stores a site recipe; returns its cookie (the recipe's index).
    fn add_recipe(&mut self, r: &RawRecipe) -> Result<u32, BpfError>;
    /// Releases a cookie once no uprobe uses it.
    fn remove_recipe(&mut self, cookie: u32);
    /// Installs the recipe of one dynamic type of one binary.
    fn add_type_recipe(&mut self, key: RawTypeKey, r: &RawTypeRecipe) -> Result<(), BpfError>;
    /// Removes a dynamic type's recipe.
    fn remove_type_recipe(&mut self, key: RawTypeKey);
    /// Installs how a context walk steps through one type of one binary.
    fn add_ctx_type(&mut self, key: RawTypeKey, t: &RawCtxType) -> Result<(), BpfError>;
    /// Removes a context walk's step.
    fn remove_ctx_type(&mut self, key: RawTypeKey);
    /// Attaches the program at file `offset` of `path` for `pid`, running
    /// the recipe `cookie`.
    fn attach(
        &mut self,
        path: &Path,
        offset: u64,
        pid: u32,
        cookie: u32,
    ) -> Result<Self::Link, BpfError>;
    /// The program's own counters.
    fn stats(&self) -> KernelStats;
    /// Records of recipe `cookie` dropped since it was handed out.
    fn recipe_drops(&self, cookie: u32) -> u64;
    /// Sets what probe `slot` may emit (`fresh`: zero its counters).
    fn set_probe(&mut self, slot: u32, limit: RawProbeLimit, fresh: bool) -> Result<(), BpfError>;
    /// Probe `slot`'s counters.
    fn probe_counts(&self, slot: u32) -> RawProbeCounts;
}

impl Kernel for Bpf {
    type Link = UProbeLink;

    fn add_recipe(&mut self, r: &RawRecipe) -> Result<u32, BpfError> {
        Bpf::add_recipe(self, r)
    }

    fn remove_recipe(&mut self, cookie: u32) {
        Bpf::remove_recipe(self, cookie)
    }

    fn add_type_recipe(&mut self, key: RawTypeKey, r: &RawTypeRecipe) -> Result<(), BpfError> {
        Bpf::add_type_recipe(self, key, r)
    }

    fn remove_type_recipe(&mut self, key: RawTypeKey) {
        Bpf::remove_type_recipe(self, key)
    }

    fn add_ctx_type(&mut self, key: RawTypeKey, t: &RawCtxType) -> Result<(), BpfError> {
        Bpf::add_ctx_type(self, key, t)
    }

    fn remove_ctx_type(&mut self, key: RawTypeKey) {
        Bpf::remove_ctx_type(self, key)
    }

    fn attach(
        &mut self,
        path: &Path,
        offset: u64,
        pid: u32,
        cookie: u32,
    ) -> Result<UProbeLink, BpfError> {
        Bpf::attach(self, path, offset, pid, cookie)
    }

    fn stats(&self) -> KernelStats {
        Bpf::stats(self)
    }

    fn recipe_drops(&self, cookie: u32) -> u64 {
        Bpf::recipe_drops(self, cookie)
    }

    fn set_probe(&mut self, slot: u32, limit: RawProbeLimit, fresh: bool) -> Result<(), BpfError> {
        Bpf::set_probe(self, slot, limit, fresh)
    }

    fn probe_counts(&self, slot: u32) -> RawProbeCounts {
        Bpf::probe_counts(self, slot)
    }
}

/// A kernel double for unit tests: hands out cookies like `Bpf` does and
/// records what is attached, failing on request.
#[cfg(test)]
pub(crate) mod fake {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::rc::Rc;

    use super::Kernel;
    use crate::bpf::{BpfError, KernelStats};
    use crate::recipe::{
        RawCtxType, RawProbeCounts, RawProbeLimit, RawRecipe, RawTypeKey, RawTypeRecipe,
    };

    /// What the fake holds.
    #[derive(Debug, Default)]
    pub(crate) struct FakeKernel {
        pub next: u32,
        pub recipes: BTreeSet<u32>,
        pub types: BTreeMap<(u32, u64), u8>,
        /// Context walk steps installed, by (binary, type).
        pub ctx_types: BTreeSet<(u32, u64)>,
        /// (path, offset, pid, cookie) of every attach that succeeded.
        pub attached: Vec<(PathBuf, u64, u32, u32)>,
        /// Each recipe's flags, by cookie.
        pub flags: BTreeMap<u32, u16>,
        /// Records dropped, by cookie.
        pub drops: BTreeMap<u32, u64>,
        /// Probe limits, by slot.
        pub limits: BTreeMap<u32, RawProbeLimit>,
        /// Probe counters, by slot (set by tests).
        pub counts: BTreeMap<u32, RawProbeCounts>,
        /// Fail the attach at this file offset.
        pub fail_offset: Option<u64>,
        /// Refuse type recipes (the map is full).
        pub types_full: bool,
        /// Every detach (a link dropped) and recipe removal, in order:
        /// `"detach C"`, `"remove C"` for cookie C.
        pub log: Rc<RefCell<Vec<String>>>,
    }

    /// An attached uprobe of the fake: logs its detach when dropped.
    #[derive(Debug)]
    pub(crate) struct FakeLink {
        cookie: u32,
        log: Rc<RefCell<Vec<String>>>,
    }

    impl Drop for FakeLink {
        fn drop(&mut self) {
            self.log
                .borrow_mut()
                .push(format!("detach {}", self.cookie));
        }
    }

    impl Kernel for FakeKernel {
        type Link = FakeLink;

        fn add_recipe(&mut self, r: &RawRecipe) -> Result<u32, BpfError> {
            self.next += 1;
            self.recipes.insert(self.next);
            self.flags.insert(self.next, r.flags);
            Ok(self.next)
        }

        fn remove_recipe(&mut self, cookie: u32) {
            assert!(
                self.recipes.remove(&cookie),
                "cookie {cookie} removed twice"
            );
            self.log.borrow_mut().push(format!("remove {cookie}"));
        }

        fn add_type_recipe(&mut self, key: RawTypeKey, r: &RawTypeRecipe) -> Result<(), BpfError> {
            if self.types_full {
                return Err(BpfError::Map {
                    map: "type_recipes",
                    why: "no space left".into(),
                });
            }
            self.types.insert((key.bin, key.rtype), r.n_ops);
            Ok(())
        }

        fn remove_type_recipe(&mut self, key: RawTypeKey) {
            self.types.remove(&(key.bin, key.rtype));
        }

        fn add_ctx_type(&mut self, key: RawTypeKey, _: &RawCtxType) -> Result<(), BpfError> {
            self.ctx_types.insert((key.bin, key.rtype));
            Ok(())
        }

        fn remove_ctx_type(&mut self, key: RawTypeKey) {
            self.ctx_types.remove(&(key.bin, key.rtype));
        }

        fn attach(
            &mut self,
            path: &Path,
            offset: u64,
            pid: u32,
            cookie: u32,
        ) -> Result<FakeLink, BpfError> {
            if self.fail_offset == Some(offset) {
                return Err(BpfError::Attach {
                    path: path.display().to_string(),
                    offset,
                    pid,
                    why: "No such process".into(),
                });
            }
            self.attached.push((path.to_owned(), offset, pid, cookie));
            Ok(FakeLink {
                cookie,
                log: self.log.clone(),
            })
        }

        fn stats(&self) -> KernelStats {
            KernelStats::default()
        }

        fn recipe_drops(&self, cookie: u32) -> u64 {
            self.drops.get(&cookie).copied().unwrap_or(0)
        }

        fn set_probe(
            &mut self,
            slot: u32,
            limit: RawProbeLimit,
            fresh: bool,
        ) -> Result<(), BpfError> {
            if fresh {
                self.counts.remove(&slot);
            }
            self.limits.insert(slot, limit);
            Ok(())
        }

        fn probe_counts(&self, slot: u32) -> RawProbeCounts {
            self.counts.get(&slot).copied().unwrap_or_default()
        }
    }
}
