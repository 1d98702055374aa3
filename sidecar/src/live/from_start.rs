//! `from_start` probes: uprobes on the executable file for every process
//! instead of on each process once gotel has seen it, so that a process is
//! traced from its first instruction, however short it lives.
//!
//! The file is found through the target's path when it exists in gotel's
//! own filesystem (attached before any process runs it), else through the
//! first process seen running it (that process is traced from then on,
//! every later one from its start). The kernel puts the breakpoints in
//! every process mapping the file; the BPF program records only those in
//! gotel's PID namespace (`RECIPE_EVERY_PROCESS`), so another pod running
//! the same image layer pays the trap and is counted (`foreign_hits`), never
//! recorded. One recipe serves every process, so the load bias must be the
//! same in all: a position-independent executable is attached per process
//! instead (within milliseconds of its exec, not from its start).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

use super::binaries::BinKey;
use super::kernel::Kernel;
use super::names::ProcessNames;
use super::pipeline::{Lookups, PerProcess, ProbeKey};
use super::registry::Loaded;
use super::type_recipes::BinaryTypes;
use super::{probe_key, At, AttachError, Failure, Supervisor};
use crate::config::ProbeSpec;
use crate::export::Origin;
use crate::golang::BinaryInfo;
use crate::proc::Process;

/// Each process's view of a file-wide attachment, made from /proc while
/// the process runs, else from the file alone.
pub(super) struct EachProcess {
    bin: Arc<BinaryInfo>,
    types: Arc<BinaryTypes>,
    /// The file's (device, inode): a pid reused by another program is not
    /// taken for one of its processes.
    exe_id: (u64, u64),
    /// The file as its processes name it.
    exe: PathBuf,
    service_name: Option<String>,
}

impl PerProcess for EachProcess {
    fn process(&self, pid: u32) -> (Arc<Origin>, Arc<dyn Lookups>) {
        let seen = crate::proc::read(pid).filter(|p| p.exe_id == self.exe_id);
        let (start_time, exe) = match seen {
            Some(p) => (p.start_time, p.exe),
            None => (0, self.exe.clone()),
        };
        let origin = Origin::of_process(
            pid,
            start_time,
            exe,
            self.bin.go_version.clone(),
            self.service_name.clone(),
            crate::otlp::resource::DOWNWARD_API_ENV,
        );
        // Non-PIE: link-time addresses are run-time ones in every process.
        let names = ProcessNames::new(self.bin.clone(), 0, pid, self.types.clone());
        (Arc::new(origin), Arc::new(names))
    }
}

/// Whether `path` names the file with this (device, inode) now.
pub(super) fn same_file(path: &Path, exe_id: (u64, u64)) -> bool {
    std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == exe_id)
}

impl<K: Kernel> Supervisor<K> {
    /// Attaches `from_start` probe `spec` to the file process `p` runs,
    /// for every process; `p` itself is traced from now on. A PIE file is
    /// attached to `p` alone (see the module's doc).
    pub(super) fn attach_from_start(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        p: &Process,
    ) -> Result<(), AttachError> {
        let (bin_key, bin) = self.binaries.analyse(p)?;
        if bin.pie {
            self.note_pie(bin_key, spec, &p.exe);
            return self.attach(key, spec, p);
        }
        self.attach_file(key, spec, (bin_key, &bin), p.exe_path(), &p.exe, Some(p))?;
        for meta in self.registry.on_file(p.exe_id) {
            self.pipeline.view(&meta, p.pid);
        }
        Ok(())
    }

    /// Attaches the `from_start` probes whose target is a path that exists
    /// in gotel's filesystem, before any process runs it; each file once,
    /// a failure once per file.
    pub(super) fn attach_paths(&mut self) {
        let probes = self.cfg.probes.clone();
        for spec in probes.iter().filter(|s| s.from_start) {
            let Some(path) = spec.target.exe.as_deref().map(Path::new) else {
                continue;
            };
            // Else it lives in another container: found through its first
            // process instead.
            let Some(md) = path
                .is_absolute()
                .then(|| std::fs::metadata(path).ok())
                .flatten()
                .filter(|m| m.is_file())
            else {
                continue;
            };
            let key = probe_key(spec);
            let exe_id = (md.dev(), md.ino());
            let bin_key = (md.dev(), md.ino(), md.size(), md.mtime());
            if self.registry.has_file(&bin_key, &key)
                || self.failed.contains_key(&((0, 0, exe_id), key.clone()))
                || self.pie_noted.contains(&(bin_key, key.clone()))
            {
                continue;
            }
            let r = self
                .binaries
                .analyse_path(path, path)
                .and_then(|(bin_key, bin)| {
                    if bin.pie {
                        self.note_pie(bin_key, spec, path);
                        return Ok(());
                    }
                    self.attach_file(&key, spec, (bin_key, &bin), path.into(), path, None)
                });
            if let Err(why) = r {
                self.fail_file(&key, spec, path, exe_id, &why);
            }
        }
    }

    /// Attaches probe `spec` to the file (opened through `path`, named
    /// `shown` by its processes) for every process.
    fn attach_file(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        (bin_key, bin): (BinKey, &Arc<BinaryInfo>),
        path: PathBuf,
        shown: &Path,
        seen_in: Option<&Process>,
    ) -> Result<(), AttachError> {
        let plans = self.binaries.plans(bin_key, bin, key, spec)?;
        let types = self.prewarm(bin_key, bin, &plans);
        let each = self.each_process(spec, (bin_key, bin, &types), shown);
        let origin = Arc::new(Origin {
            exe: shown.to_path_buf(),
            go_version: bin.go_version.clone(),
            service_name: spec.service_name.clone(),
            ..Origin::default()
        });
        let names: Arc<dyn Lookups> = Arc::new(ProcessNames::new(bin.clone(), 0, 0, types.clone()));
        let loaded = Loaded {
            bin: bin_key,
            bin_id: types.bin,
            bias: 0,
        };
        let at = At::File {
            path,
            shown: shown.to_path_buf(),
            each,
            seen_in,
            exe_id: (bin_key.0, bin_key.1),
        };
        self.attach_plans(key, spec, bin, plans, &at, (origin, names), loaded)
    }

    /// The per-process views' maker for `spec` on binary `bin_key`.
    fn each_process(
        &self,
        spec: &ProbeSpec,
        (bin_key, bin, types): (BinKey, &Arc<BinaryInfo>, &Arc<BinaryTypes>),
        shown: &Path,
    ) -> Arc<dyn PerProcess> {
        Arc::new(EachProcess {
            bin: bin.clone(),
            types: types.clone(),
            exe_id: (bin_key.0, bin_key.1),
            exe: shown.to_path_buf(),
            service_name: spec.service_name.clone(),
        })
    }

    /// Logs why `spec` cannot attach to the file `shown`, which no process
    /// runs yet, and does not retry while the path names that file.
    pub(super) fn fail_file(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        shown: &Path,
        exe_id: (u64, u64),
        why: &AttachError,
    ) {
        warn!(probe = spec.display_name(), exe = %shown.display(), "cannot attach to the file: {why}");
        let failure = Failure::new(0, shown.to_path_buf(), why.to_string());
        self.failed.insert(((0, 0, exe_id), key.clone()), failure);
    }

    /// Says once per file and probe that a PIE cannot be traced from start.
    fn note_pie(&mut self, bin_key: BinKey, spec: &ProbeSpec, exe: &Path) {
        if self.pie_noted.insert((bin_key, probe_key(spec))) {
            info!(probe = spec.display_name(), exe = %exe.display(), "from_start: a position-independent executable (-buildmode=pie) differs in load address per process; its processes are attached at their exec (within milliseconds), not from their first instruction");
        }
    }
}

/// (binary, probe) pairs whose PIE note was logged.
pub(super) type PieNoted = HashSet<(BinKey, ProbeKey)>;
