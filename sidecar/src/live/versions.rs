//! Edited probes: the new version replaces the previous one in each
//! process (or file) once it is attached there, the previous one stays
//! where the new one cannot attach, and where both are attached for a
//! moment each call is reported by exactly one of them.

use std::collections::{HashMap, HashSet};

use tracing::warn;

use super::kernel::Kernel;
use super::pipeline::ProbeKey;
use super::{monotonic_ns, probe_key, At, Supervisor};
use crate::config::{Config, ProbeSpec};
use crate::proc::Process;

impl<K: Kernel> Supervisor<K> {
    /// Replaces the configuration: probes no longer configured are
    /// detached now; new ones attach on the next [`Supervisor::reconcile`].
    /// An edited probe (same name, new spec) keeps its previous version
    /// attached to each process until the new one attaches there, and
    /// for as long as the new one cannot.
    pub fn set_config(&mut self, cfg: Config) {
        let keep: HashSet<ProbeKey> = cfg.probes.iter().map(probe_key).collect();
        // Versions pair by name only where the name is one probe's, in the
        // old config and in the new: two probes sharing a name (unnamed, on
        // one function) are separate probes, not versions of each other.
        let unique = |probes: &[ProbeSpec]| -> HashMap<String, ProbeKey> {
            let mut seen: HashMap<String, Option<ProbeKey>> = HashMap::new();
            for p in probes {
                seen.entry(p.display_name().to_string())
                    .and_modify(|k| *k = None)
                    .or_insert_with(|| Some(probe_key(p)));
            }
            seen.into_iter()
                .filter_map(|(n, k)| Some((n, k?)))
                .collect()
        };
        let by_name = unique(&cfg.probes);
        let old_names = unique(&self.cfg.probes);
        // What is attached now, under the name it will keep: the old
        // versions of edited probes, and those kept by an earlier edit.
        let mut superseded = HashMap::new();
        let attached_now = self
            .cfg
            .probes
            .iter()
            .map(|p| (p.display_name().to_string(), probe_key(p)));
        let kept_before = self.superseded.iter().filter_map(|(old, new)| {
            let name = self
                .cfg
                .probes
                .iter()
                .find(|p| probe_key(p) == *new)?
                .display_name();
            Some((name.to_string(), old.clone()))
        });
        for (name, old) in attached_now.chain(kept_before) {
            let unique_before = old_names.contains_key(&name);
            match by_name.get(name.as_str()) {
                Some(new)
                    if unique_before
                        && *new != old
                        && !keep.contains(&old)
                        && (!self.registry.pids_of(&old).is_empty()
                            || self.registry.on_some_file(&old)) =>
                {
                    superseded.insert(old, new.clone());
                }
                _ => {}
            }
        }
        let versions: Vec<(ProbeKey, ProbeKey)> = old_names
            .iter()
            .filter_map(|(name, old)| Some((old.clone(), by_name.get(name)?.clone())))
            .filter(|(old, new)| old != new && !keep.contains(old))
            .collect();
        self.carry_breakers(&versions, &cfg);
        let mut attached = keep.clone();
        attached.extend(superseded.keys().cloned());
        self.registry
            .retain_probes(&mut self.kernel, &mut self.pipeline, &attached);
        self.superseded = superseded;
        self.kept_logged.clear();
        self.binaries.retain_probes(&attached);
        self.failed.retain(|(_, k), _| keep.contains(k));
        self.waiting_since.retain(|k, _| keep.contains(k));
        self.pipeline.retain_probe_counts(&attached);
        self.cfg = cfg;
        self.sync_slots();
    }

    /// Detaches edited probes' previous versions wherever the new version
    /// attached; logs, once per process, where it could not and the old
    /// one stays.
    /// The calls they entered before the new version took over are theirs:
    /// their returns still in the ring are read (`drain`) first.
    pub(super) fn retire_superseded(
        &mut self,
        live: &HashMap<u32, Process>,
        drain: &mut dyn FnMut(&mut Self),
    ) {
        let pairs: Vec<(ProbeKey, ProbeKey)> = self
            .superseded
            .iter()
            .map(|(o, n)| (o.clone(), n.clone()))
            .collect();
        if !pairs.is_empty() {
            drain(self);
        }
        let mut retired = false;
        for (old, new) in pairs {
            let Some(spec) = self.cfg.probes.iter().find(|p| probe_key(p) == new) else {
                continue;
            };
            let selected = |pid: u32| {
                live.get(&pid)
                    .is_some_and(|p| crate::discover::matches(&spec.target, p))
            };
            // Attached to files for every process: retired once the new
            // version is attached anywhere.
            if self.registry.on_some_file(&old) && self.registry.attached_to(&new).next().is_some()
            {
                self.registry
                    .detach_file_probe(&mut self.kernel, &mut self.pipeline, &old);
            }
            for pid in self.registry.pids_of(&old) {
                let covered = live
                    .get(&pid)
                    .is_some_and(|p| self.registry.file_has(p.exe_id, &new));
                // Attached in its place, or no longer selecting this process.
                if self.registry.has(pid, &new) || covered || !selected(pid) {
                    self.registry
                        .detach_probe(&mut self.kernel, &mut self.pipeline, pid, &old);
                    continue;
                }
                let why = self
                    .failed
                    .iter()
                    .find(|((id, k), _)| id.0 == pid && *k == new);
                if let Some((_, f)) = why {
                    if self.kept_logged.insert((pid, new.clone())) {
                        let name = spec.display_name();
                        warn!(probe = name, pid, "the edited probe cannot attach ({}); its previous version stays attached", f.error);
                    }
                }
            }
            if self.registry.pids_of(&old).is_empty() && !self.registry.on_some_file(&old) {
                self.superseded.remove(&old);
                self.pipeline.merge_probe_counts(&old, &new);
                // The kernel's counts of the old version too: the probe's
                // counters never go back.
                if let Some(slot) = self.slots.of(&old) {
                    let c = self.kernel.probe_counts(slot);
                    self.pipeline.add_kernel_counts(&new, c);
                }
                retired = true;
            }
        }
        if retired {
            self.sync_slots();
        }
    }

    /// Probe `key` is attached at `at` now: where its previous version (an
    /// edit) is attached too, the calls entered from now on are reported
    /// by this one only.
    pub(super) fn cut_over_previous(&mut self, key: &ProbeKey, new_id: u64, at: &At) {
        let now = monotonic_ns();
        let olds: Vec<ProbeKey> = self
            .superseded
            .iter()
            .filter(|(_, new)| *new == key)
            .map(|(old, _)| old.clone())
            .collect();
        let (pid, exe_id) = match at {
            At::Process(p) => (Some(p.pid), p.exe_id),
            At::File { exe_id, .. } => (None, *exe_id),
        };
        for old in olds {
            for (id, pid) in self.registry.where_attached(&old, pid, exe_id) {
                self.pipeline.cut_over(id, new_id, pid, now);
            }
        }
    }
}
