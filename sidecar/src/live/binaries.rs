//! Caches of the pure stages: each executable is analysed once, and each
//! probe planned once per executable, while a traced process runs it and
//! for a while after, so that a program run again and again (a CLI, a
//! cron job, a crash loop on one node) is analysed once.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use super::markers::Marker;
use super::pipeline::ProbeKey;
use super::AttachError;
use crate::config::ProbeSpec;
use crate::golang::BinaryInfo;
use crate::plan::Plan;
use crate::proc::Process;

/// Names one version of one executable file: (device, inode, size, mtime).
/// A crash-looping container gets a new overlay device, hence a new key,
/// at every restart.
pub type BinKey = (u64, u64, u64, i64);

/// How long an analysis no process runs any more is kept: a binary
/// started again within it is not analysed again.
pub const KEEP_UNUSED: Duration = Duration::from_secs(60);

/// A probe's plans in one binary (one per generic instantiation), or why
/// it cannot be planned.
type PlansOrWhy = Result<Vec<Arc<Plan>>, AttachError>;

/// Analyses and plans, by binary.
#[derive(Default)]
pub struct Binaries {
    analyses: HashMap<BinKey, Result<Arc<BinaryInfo>, AttachError>>,
    plans: HashMap<(BinKey, ProbeKey), PlansOrWhy>,
    /// Markers' plans, or why a binary has none (Goexit is often absent:
    /// its "did you mean" is not worked out again for every process).
    markers: HashMap<(BinKey, Marker), Result<Arc<Plan>, String>>,
    /// When each analysed binary was last seen run by a traced process.
    last_used: HashMap<BinKey, Instant>,
    /// Analyses made: each file once while a traced process runs it.
    pub opened: u64,
}

impl Binaries {
    /// The analysis of `p`'s executable (opened through /proc, so from any
    /// mount namespace), made on first use.
    pub fn analyse(&mut self, p: &Process) -> Result<(BinKey, Arc<BinaryInfo>), AttachError> {
        self.analyse_path(&p.exe_path(), &p.exe)
    }

    /// The analysis of the executable opened through `path` (named
    /// `shown` in logs), made on first use.
    pub fn analyse_path(
        &mut self,
        path: &Path,
        shown: &Path,
    ) -> Result<(BinKey, Arc<BinaryInfo>), AttachError> {
        let md = std::fs::metadata(path).map_err(|e| AttachError::Stat {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })?;
        let key = (md.dev(), md.ino(), md.size(), md.mtime());
        self.last_used.insert(key, Instant::now());
        let opened = &mut self.opened;
        let entry = self.analyses.entry(key).or_insert_with(|| {
            *opened += 1;
            let t = Instant::now();
            let r = BinaryInfo::open(path)
                .map(Arc::new)
                .map_err(|e| AttachError::Analysis(Arc::new(e)));
            if let Ok(b) = &r {
                debug!(
                    exe = %shown.display(),
                    go = b.go_version.as_deref().unwrap_or("?"),
                    functions = b.dwarf.functions.len(),
                    ms = t.elapsed().as_millis() as u64,
                    "analysed binary"
                );
            }
            r
        });
        entry.clone().map(|b| (key, b))
    }

    /// The analysis of binary `key`, if made and successful.
    pub fn get(&self, key: &BinKey) -> Option<Arc<BinaryInfo>> {
        self.analyses.get(key)?.as_ref().ok().cloned()
    }

    /// The plans of probe `spec` (identified by `probe`) in binary `key`.
    pub fn plans(
        &mut self,
        key: BinKey,
        bin: &BinaryInfo,
        probe: &ProbeKey,
        spec: &ProbeSpec,
    ) -> PlansOrWhy {
        self.plans
            .entry((key, probe.clone()))
            .or_insert_with(|| match crate::plan::plan(bin, spec) {
                Ok(v) => Ok(v.into_iter().map(Arc::new).collect()),
                Err(e) => Err(AttachError::Plan(Arc::new(e))),
            })
            .clone()
    }

    /// The plan of `marker` in binary `key`.
    pub fn marker_plan(
        &mut self,
        key: BinKey,
        bin: &BinaryInfo,
        marker: Marker,
        pid: u32,
    ) -> Result<Arc<Plan>, String> {
        self.markers
            .entry((key, marker))
            .or_insert_with(|| marker.plan(bin, pid))
            .clone()
    }

    /// Keeps the binaries in `in_use`, and the others for [`KEEP_UNUSED`]
    /// after their last use: an analysis holds the whole file and its
    /// DWARF.
    pub fn retain_binaries(&mut self, in_use: &HashSet<BinKey>, now: Instant) {
        for k in in_use {
            self.last_used.insert(*k, now);
        }
        self.last_used
            .retain(|_, t| now.saturating_duration_since(*t) < KEEP_UNUSED);
        let kept = &self.last_used;
        self.analyses.retain(|k, _| kept.contains_key(k));
        self.plans.retain(|(k, _), _| kept.contains_key(k));
        self.markers.retain(|(k, _), _| kept.contains_key(k));
    }

    /// Keeps only the plans of the probes in `keep`.
    pub fn retain_probes(&mut self, keep: &HashSet<ProbeKey>) {
        self.plans.retain(|(_, k), _| keep.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(keys: &[BinKey]) -> Binaries {
        let mut b = Binaries::default();
        for k in keys {
            let why = AttachError::Stat {
                path: "/x".into(),
                source: Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
            };
            b.analyses.insert(*k, Err(why));
        }
        b
    }

    #[test]
    fn an_analysis_outlives_its_processes_for_a_while() {
        let (a, b) = ((1, 2, 3, 4), (1, 5, 3, 4));
        let mut bins = with(&[a, b]);
        let t0 = Instant::now();
        bins.retain_binaries(&HashSet::from([a, b]), t0);
        // b's last process is gone: kept until KEEP_UNUSED has passed.
        bins.retain_binaries(&HashSet::from([a]), t0 + KEEP_UNUSED / 2);
        assert!(bins.analyses.contains_key(&b));
        bins.retain_binaries(&HashSet::from([a]), t0 + KEEP_UNUSED);
        assert!(!bins.analyses.contains_key(&b));
        assert!(bins.analyses.contains_key(&a));
        assert_eq!(bins.last_used.len(), 1);
    }

    #[test]
    fn a_binary_never_seen_in_use_is_dropped() {
        let mut bins = with(&[(9, 9, 9, 9)]);
        bins.retain_binaries(&HashSet::new(), Instant::now());
        assert!(bins.analyses.is_empty());
    }
}
