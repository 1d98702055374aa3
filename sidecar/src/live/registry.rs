//! The attach registry: which attachments (probe × process × instantiation)
//! hold which recipes and uprobes in the kernel, and their release when a
//! process goes or a probe is removed. Every cookie it takes is routed in
//! the pipeline while it is held, and given back exactly once.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use tracing::{debug, info};

use super::binaries::BinKey;
use super::kernel::Kernel;
use super::pipeline::{Attachment, Pipeline, ProbeKey};
use super::AttachError;
use crate::proc::{Identity, Process};
use crate::recipe::{RawRecipe, RECIPE_EVERY_PROCESS, SITE_ENTRY, SITE_RESTART, SITE_RETURN};

/// The kernel objects of one attachment; dropping the links detaches.
struct Attached<L> {
    meta: Arc<Attachment>,
    /// The entry recipe's cookie, then the return sites' shared one (none
    /// when only the entry is attached).
    cookies: Vec<u32>,
    _links: Vec<L>,
}

/// One traced process image.
struct Tracked<L> {
    identity: Identity,
    /// CLOCK_MONOTONIC when first attached: an exec record older than this
    /// is the exec of the image attached.
    since_ns: u64,
    /// The analysed binary, kept cached while this process lives.
    bin: BinKey,
    attached: Vec<Attached<L>>,
}

/// The binary an attachment's process runs, as the recipes name it.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    /// The analysed file.
    pub bin: BinKey,
    /// Its id in the kernel's type-recipe keys.
    pub bin_id: u32,
    /// Where the process loaded it (PIE bias).
    pub bias: u64,
}

/// Attachments by process, and file-wide ones (`from_start`) by binary.
pub struct Registry<K: Kernel> {
    procs: HashMap<u32, Tracked<K::Link>>,
    /// Attached to the file for every process running it: they stay while
    /// their probe is configured, whether a process runs the file or not.
    files: HashMap<BinKey, Vec<Attached<K::Link>>>,
}

impl<K: Kernel> Default for Registry<K> {
    fn default() -> Self {
        Registry {
            procs: HashMap::new(),
            files: HashMap::new(),
        }
    }
}

impl<K: Kernel> Registry<K> {
    /// Stores `meta`'s recipes, attaches its entry and every RET site
    /// in `p`, and routes its cookies; on failure nothing stays behind.
    pub fn attach(
        &mut self,
        kernel: &mut K,
        pipeline: &mut Pipeline,
        meta: Arc<Attachment>,
        p: &Process,
        loaded: Loaded,
    ) -> Result<(), AttachError> {
        let attached = install(kernel, pipeline, meta, &p.exe_path(), p.pid, loaded)?;
        self.procs
            .entry(p.pid)
            .or_insert_with(|| Tracked {
                identity: p.identity(),
                since_ns: super::monotonic_ns(),
                bin: loaded.bin,
                attached: Vec::new(),
            })
            .attached
            .push(attached);
        Ok(())
    }

    /// Attaches `meta` (made with `every_process`) to the file at `path`
    /// for every process, from the next instruction any of them runs.
    pub fn attach_file(
        &mut self,
        kernel: &mut K,
        pipeline: &mut Pipeline,
        meta: Arc<Attachment>,
        path: &Path,
        loaded: Loaded,
    ) -> Result<(), AttachError> {
        let attached = install(kernel, pipeline, meta, path, 0, loaded)?;
        self.files.entry(loaded.bin).or_default().push(attached);
        Ok(())
    }

    /// Whether probe `key` is attached to the file `bin` for every process.
    pub fn has_file(&self, bin: &BinKey, key: &ProbeKey) -> bool {
        self.files
            .get(bin)
            .is_some_and(|v| v.iter().any(|a| &a.meta.key == key))
    }

    /// Detaches everything attached to file `bin` (replaced, or run by no
    /// process and deleted).
    pub fn detach_file(&mut self, kernel: &mut K, pipeline: &mut Pipeline, bin: BinKey) {
        for a in self.files.remove(&bin).into_iter().flatten() {
            if a.meta.marker.is_none() {
                info!(probe = %a.meta.probe, exe = %a.meta.origin.exe.display(), "file replaced or deleted; detached from it");
            }
            pipeline.forget_attachment(a.meta.id);
            release(kernel, pipeline, a);
        }
    }

    /// Detaches probe `key` from every file (its markers go with the last
    /// probe of a file).
    pub fn detach_file_probe(&mut self, kernel: &mut K, pipeline: &mut Pipeline, key: &ProbeKey) {
        let bins: Vec<BinKey> = self.files.keys().copied().collect();
        for bin in bins {
            let Some(attached) = self.files.get_mut(&bin) else {
                continue;
            };
            let (gone, kept): (Vec<_>, Vec<_>) =
                attached.drain(..).partition(|a| a.meta.key == *key);
            *attached = kept;
            for a in gone {
                pipeline.forget_attachment(a.meta.id);
                release(kernel, pipeline, a);
            }
            self.prune_file(kernel, pipeline, bin);
        }
    }

    /// Whether probe `key` is attached to some file for every process.
    pub fn on_some_file(&self, key: &ProbeKey) -> bool {
        self.files.values().flatten().any(|a| a.meta.key == *key)
    }

    /// The files attached for every process.
    pub fn files(&self) -> Vec<BinKey> {
        self.files.keys().copied().collect()
    }

    /// Probe `key`'s attachments (id, pid; pid 0 for every process) in
    /// process `pid`, or in every process running the file `exe_id` (None),
    /// including those on that file.
    pub fn where_attached(
        &self,
        key: &ProbeKey,
        pid: Option<u32>,
        exe_id: (u64, u64),
    ) -> Vec<(u64, u32)> {
        let in_procs = self
            .procs
            .iter()
            .filter(|(p, t)| pid.map_or(t.identity.2 == exe_id, |want| want == **p))
            .flat_map(|(p, t)| t.attached.iter().map(move |a| (a, *p)));
        let on_file = self
            .files
            .iter()
            .filter(|(b, _)| (b.0, b.1) == exe_id)
            .flat_map(|(_, v)| v.iter().map(|a| (a, pid.unwrap_or(0))));
        in_procs
            .chain(on_file)
            .filter(|(a, _)| a.meta.key == *key)
            .map(|(a, p)| (a.meta.id, p))
            .collect()
    }

    /// Whether anything is attached file-wide.
    pub fn any_file(&self) -> bool {
        !self.files.is_empty()
    }

    /// Whether probe `key` is attached to the file with this (device,
    /// inode) for every process.
    pub fn file_has(&self, exe_id: (u64, u64), key: &ProbeKey) -> bool {
        self.on_file(exe_id).iter().any(|m| &m.key == key)
    }

    /// Detaches the markers of file `bin` when no probe is attached to it.
    pub fn prune_file(&mut self, kernel: &mut K, pipeline: &mut Pipeline, bin: BinKey) {
        let lone = self
            .files
            .get(&bin)
            .is_some_and(|v| v.iter().all(|a| a.meta.marker.is_some()));
        if lone {
            for a in self.files.remove(&bin).into_iter().flatten() {
                release(kernel, pipeline, a);
            }
        }
    }

    /// The file-wide attachments on the file with this (device, inode).
    pub fn on_file(&self, exe_id: (u64, u64)) -> Vec<Arc<Attachment>> {
        self.files
            .iter()
            .filter(|(b, _)| (b.0, b.1) == exe_id)
            .flat_map(|(_, v)| v.iter().map(|a| a.meta.clone()))
            .collect()
    }

    /// Whether probe `key` is attached to process `pid`.
    pub fn has(&self, pid: u32, key: &ProbeKey) -> bool {
        self.procs
            .get(&pid)
            .is_some_and(|t| t.attached.iter().any(|a| &a.meta.key == key))
    }

    /// Whether process `pid` has attachments made before monotonic time
    /// `ktime_ns`.
    pub fn attached_before(&self, pid: u32, ktime_ns: u64) -> bool {
        self.procs.get(&pid).is_some_and(|t| t.since_ns < ktime_ns)
    }

    /// The image of process `pid` attachments are held for, if any.
    pub fn identity(&self, pid: u32) -> Option<Identity> {
        self.procs.get(&pid).map(|t| t.identity)
    }

    /// Traced processes whose image is no longer the one in `live`: gone,
    /// or replaced by exec.
    pub fn changed(&self, live: &HashMap<u32, Process>) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|(pid, t)| {
                let now = live.get(pid).map(|p| p.identity());
                if now != Some(t.identity) {
                    debug!(pid = **pid, was = ?t.identity, now = ?now, "process gone or changed");
                }
                now != Some(t.identity)
            })
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Detaches everything of process `pid` (its open calls are the
    /// pipeline's to end).
    /// pipeline's to end); returns the attachments' ids.
    pub fn detach_process(
        &mut self,
        kernel: &mut K,
        pipeline: &mut Pipeline,
        pid: u32,
    ) -> Vec<u64> {
        let Some(t) = self.procs.remove(&pid) else {
            return Vec::new();
        };
        let mut ids = Vec::with_capacity(t.attached.len());
        for a in t.attached {
            if a.meta.marker.is_none() {
                info!(probe = %a.meta.probe, pid, "process exited or replaced by exec; detached");
            }
            ids.push(a.meta.id);
            release(kernel, pipeline, a);
        }
        ids
    }

    /// Detaches every probe not in `keep`.
    pub fn retain_probes(
        &mut self,
        kernel: &mut K,
        pipeline: &mut Pipeline,
        keep: &HashSet<ProbeKey>,
    ) {
        for (pid, t) in self.procs.iter_mut() {
            retain_in(kernel, pipeline, &mut t.attached, keep, Some(*pid));
        }
        self.procs.retain(|_, t| !t.attached.is_empty());
        for attached in self.files.values_mut() {
            retain_in(kernel, pipeline, attached, keep, None);
        }
        self.files.retain(|_, v| !v.is_empty());
    }

    /// Detaches probe `key` from process `pid` (its open calls counted
    /// unobserved), then the markers if no probe is left there.
    pub fn detach_probe(
        &mut self,
        kernel: &mut K,
        pipeline: &mut Pipeline,
        pid: u32,
        key: &ProbeKey,
    ) {
        let Some(t) = self.procs.get_mut(&pid) else {
            return;
        };
        let (gone, kept): (Vec<_>, Vec<_>) = t.attached.drain(..).partition(|a| a.meta.key == *key);
        t.attached = kept;
        for a in gone {
            pipeline.forget_attachment(a.meta.id);
            release(kernel, pipeline, a);
        }
        self.prune(kernel, pipeline, pid);
    }

    /// The processes probe `key` is attached to.
    pub fn pids_of(&self, key: &ProbeKey) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .procs
            .keys()
            .copied()
            .filter(|p| self.has(*p, key))
            .collect();
        pids.sort();
        pids
    }

    /// Detaches process `pid`'s panic marker when no probe is attached to it.
    pub fn prune(&mut self, kernel: &mut K, pipeline: &mut Pipeline, pid: u32) {
        let lone = self
            .procs
            .get(&pid)
            .is_some_and(|t| t.attached.iter().all(|a| a.meta.marker.is_some()));
        if lone {
            if let Some(t) = self.procs.remove(&pid) {
                for a in t.attached {
                    release(kernel, pipeline, a);
                }
            }
        }
    }

    /// The live attachments of probe `key`, by process.
    pub fn attached_to<'a>(
        &'a self,
        key: &'a ProbeKey,
    ) -> impl Iterator<Item = &'a Attachment> + 'a {
        let mut pids: Vec<&u32> = self.procs.keys().collect();
        pids.sort();
        let files = self.files.values().flatten();
        pids.into_iter()
            .flat_map(|pid| &self.procs[pid].attached)
            .chain(files)
            .filter(move |a| a.meta.key == *key)
            .map(|a| a.meta.as_ref())
    }

    /// Records of probe `key` its live recipes have dropped (those of
    /// released ones are in the pipeline's counts).
    pub fn dropped(&self, kernel: &K, key: &ProbeKey) -> u64 {
        self.every()
            .filter(|a| a.meta.key == *key)
            .flat_map(|a| &a.cookies)
            .map(|c| kernel.recipe_drops(*c))
            .sum()
    }

    /// The binaries traced processes run, and those attached file-wide.
    pub fn binaries_in_use(&self) -> HashSet<BinKey> {
        let files = self.files.keys().copied();
        self.procs.values().map(|t| t.bin).chain(files).collect()
    }

    /// Number of live attachments of configured probes.
    pub fn attachments(&self) -> usize {
        self.every().filter(|a| a.meta.marker.is_none()).count()
    }

    /// Every attachment: to processes, then to files.
    fn every(&self) -> impl Iterator<Item = &Attached<K::Link>> {
        let procs = self.procs.values().flat_map(|t| &t.attached);
        procs.chain(self.files.values().flatten())
    }
}

/// Stores `meta`'s recipes, attaches its entry and every RET site in
/// `path` for `pid` (0: every process), and routes its cookies; on
/// failure nothing stays behind.
fn install<K: Kernel>(
    kernel: &mut K,
    pipeline: &mut Pipeline,
    meta: Arc<Attachment>,
    path: &Path,
    pid: u32,
    loaded: Loaded,
) -> Result<Attached<K::Link>, AttachError> {
    let flags = match meta.every_process.is_some() {
        true => RECIPE_EVERY_PROCESS,
        false => 0,
    };
    // Dynamic types are keyed by binary and link-time address.
    let with_bin = |r: &RawRecipe| RawRecipe {
        bin: loaded.bin_id,
        bias: loaded.bias,
        flags: r.flags | flags,
        probe: meta.slot,
        ..*r
    };
    let plan = meta.plan.clone();
    // An entry-only probe's restart sites note a restart and emit nothing:
    // their recipe reads nothing, and is not the probe's hit.
    let restart = RawRecipe {
        site: SITE_RESTART,
        n_ops: 0,
        n_when: 0,
        flags: 0,
        ..plan.entry.recipe
    };
    // Each recipe, where it goes, and how its records are routed. A
    // lone-RET body, or the panic marker, fires at its entry only; float
    // results' landing sites follow a return.
    let mut sites: Vec<(&RawRecipe, &[u64], Route)> = vec![(
        &plan.entry.recipe,
        std::slice::from_ref(&plan.entry_offset),
        Route::Entry,
    )];
    if !plan.ret_offsets.is_empty() {
        sites.push((&plan.ret.recipe, &plan.ret_offsets, Route::Return));
        for (i, l) in plan
            .landings
            .iter()
            .flat_map(|l| l.sites.iter())
            .enumerate()
        {
            sites.push((&l.site.recipe, &l.offsets, Route::Landing(i)));
        }
        for (i, l) in plan
            .arg_landings
            .iter()
            .flat_map(|l| l.sites.iter())
            .enumerate()
        {
            sites.push((&l.site.recipe, &l.offsets, Route::ArgLanding(i)));
        }
    }
    if !plan.restart_offsets.is_empty() {
        sites.push((&restart, &plan.restart_offsets, Route::Restart));
    }
    let mut cookies: Vec<u32> = Vec::with_capacity(sites.len());
    for (r, _, _) in &sites {
        match kernel.add_recipe(&with_bin(r)) {
            Ok(c) => cookies.push(c),
            Err(e) => {
                for &c in &cookies {
                    kernel.remove_recipe(c);
                }
                return Err(e.into());
            }
        }
    }
    let offsets = sites
        .iter()
        .zip(&cookies)
        .flat_map(|((_, at, _), &c)| at.iter().map(move |&o| (o, c)));
    let links = match attach_sites(kernel, path, pid, offsets) {
        // Dropped (detached) in this order: restart sites before the
        // entry (no restart noted whose re-entry is not seen), the entry
        // before the callee's argument landing sites (a call begun gets
        // its float arguments), those before the returns (no call begun
        // that cannot end), landing sites last (a call that returned gets
        // its float).
        Ok(l) => {
            let rank = |r: &Route| match r {
                Route::Restart => 0,
                Route::Entry => 1,
                Route::ArgLanding(_) => 2,
                Route::Return => 3,
                Route::Landing(_) => 4,
            };
            let ranks = sites
                .iter()
                .flat_map(|(_, at, r)| std::iter::repeat_n(rank(r), at.len()));
            let mut ranked: Vec<(u8, K::Link)> = ranks.zip(l).collect();
            ranked.sort_by_key(|(r, _)| *r);
            ranked.into_iter().map(|(_, l)| l).collect()
        }
        Err(e) => {
            for &c in &cookies {
                kernel.remove_recipe(c);
            }
            return Err(e);
        }
    };
    for ((_, _, route), &c) in sites.iter().zip(&cookies) {
        match *route {
            Route::Entry => pipeline.route(c, meta.clone(), SITE_ENTRY),
            Route::Return => pipeline.route(c, meta.clone(), SITE_RETURN),
            Route::Landing(i) => pipeline.route_landing(c, meta.clone(), i),
            Route::ArgLanding(i) => pipeline.route_arg_landing(c, meta.clone(), i),
            // The kernel keeps what it notes there: no record comes.
            Route::Restart => {}
        }
    }
    Ok(Attached {
        meta,
        cookies,
        _links: links,
    })
}

/// How the records of one of an attachment's recipes are routed.
#[derive(Clone, Copy)]
enum Route {
    Entry,
    Return,
    Restart,
    /// The plan's landing site `i`.
    Landing(usize),
    /// The plan's argument landing site `i` (in the callee).
    ArgLanding(usize),
}

/// Attaches each (file offset, cookie) site; on failure the links made so
/// far are dropped (detached).
fn attach_sites<K: Kernel>(
    kernel: &mut K,
    path: &Path,
    pid: u32,
    sites: impl Iterator<Item = (u64, u32)>,
) -> Result<Vec<K::Link>, AttachError> {
    let mut links = Vec::new();
    for (offset, cookie) in sites {
        links.push(kernel.attach(path, offset, pid, cookie)?);
    }
    Ok(links)
}

/// Detaches the attachments of one process (`pid`) or file (None) whose
/// probe is not in `keep`.
fn retain_in<K: Kernel>(
    kernel: &mut K,
    pipeline: &mut Pipeline,
    attached: &mut Vec<Attached<K::Link>>,
    keep: &HashSet<ProbeKey>,
    pid: Option<u32>,
) {
    let (mut kept, mut removed): (Vec<_>, Vec<_>) = attached
        .drain(..)
        .partition(|a| keep.contains(&a.meta.key) || a.meta.marker.is_some());
    // The markers serve the probes: they go with the last one.
    if kept.iter().all(|a| a.meta.marker.is_some()) {
        removed.append(&mut kept);
    }
    *attached = kept;
    for a in removed {
        if a.meta.marker.is_none() {
            match pid {
                Some(pid) => {
                    info!(probe = %a.meta.probe, pid, "probe removed from config; detached")
                }
                None => {
                    info!(probe = %a.meta.probe, "probe removed from config; detached from its file")
                }
            }
        }
        pipeline.forget_attachment(a.meta.id);
        release(kernel, pipeline, a);
    }
}

/// Detaches `a` and gives its cookies back: unrouted first, so a record
/// still in flight for them is stray, never decoded with a later recipe.
fn release<K: Kernel>(kernel: &mut K, pipeline: &mut Pipeline, a: Attached<K::Link>) {
    let Attached {
        meta,
        cookies,
        _links,
    } = a;
    drop(_links);
    // The probe's drops outlive its recipes.
    let dropped: u64 = cookies.iter().map(|c| kernel.recipe_drops(*c)).sum();
    if meta.marker.is_none() {
        pipeline.add_dropped(&meta.key, dropped);
    }
    for cookie in cookies {
        pipeline.unroute(cookie);
        kernel.remove_recipe(cookie);
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
