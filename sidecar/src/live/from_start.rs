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

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
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
use crate::proc::{PidNamespace, Process};

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

/// A file attached for every process, held open: its inode says whether
/// it was deleted, and its path may name another file by now.
pub(super) struct Held {
    file: File,
    /// The target's path in gotel's filesystem, if it was found so.
    target: Option<PathBuf>,
}

impl Held {
    /// Whether the held file is still binary `bin`: not deleted, not
    /// rewritten, and still what its target path names.
    fn current(&self, bin: BinKey) -> bool {
        let md = self.file.metadata();
        let same = md.is_ok_and(|m| m.nlink() > 0 && key_of(&m) == bin);
        same && self
            .target
            .as_deref()
            .is_none_or(|t| bin_key(t) == Some(bin))
    }
}

/// The binary key of the metadata `m`.
fn key_of(m: &std::fs::Metadata) -> BinKey {
    (m.dev(), m.ino(), m.size(), m.mtime())
}

/// The binary key of the regular file at `path` now.
fn bin_key(path: &Path) -> Option<BinKey> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| key_of(&m))
}

/// Whether `path` names the file with this (device, inode) now.
pub(super) fn same_file(path: &Path, exe_id: (u64, u64)) -> bool {
    std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == exe_id)
}

impl<K: Kernel> Supervisor<K> {
    /// Attaches `from_start` probe `spec` to the file process `p` runs,
    /// for every process; `p` itself is traced from now on. A PIE file, or
    /// a process in a PID namespace below gotel's (whose hits the BPF
    /// program drops as another pod's), is attached to `p` alone.
    pub(super) fn attach_from_start(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        p: &Process,
    ) -> Result<(), AttachError> {
        let own = PidNamespace::own();
        if own.is_some_and(|o| !o.is_host()) && PidNamespace::of(p.pid) != own {
            return self.attach(key, spec, p);
        }
        // Opened now, at its exec: a short-lived process may be gone by
        // the time its binary is analysed, and the file is reached through
        // this descriptor instead.
        let exe = p.exe_path();
        let file = File::open(&exe).map_err(|e| AttachError::Stat {
            path: exe,
            source: Arc::new(e),
        })?;
        self.attach_opened(key, spec, file, &p.exe, None, Some(p))?;
        for meta in self.registry.on_file(p.exe_id) {
            self.pipeline.view(&meta, p.pid);
        }
        Ok(())
    }

    /// Whether `from_start` probe `key` covers process `p` through its
    /// file, as it is now (same inode rewritten in place is another file).
    pub(super) fn covered_by_file(&self, key: &ProbeKey, p: &Process) -> bool {
        bin_key(&p.exe_path()).is_some_and(|b| self.registry.has_file(&b, key))
    }

    /// Attaches the `from_start` probes whose target is a path that exists
    /// in gotel's filesystem, before any process runs it; each file once,
    /// a failure once per file.
    pub(super) fn attach_paths(&mut self) {
        let probes = self.cfg.probes.clone();
        for spec in probes.iter().filter(|s| s.from_start) {
            // Else it lives in another container: found through its first
            // process instead.
            let Some(path) = spec.target.exe.as_deref().map(Path::new) else {
                continue;
            };
            let Some(bin) = path.is_absolute().then(|| bin_key(path)).flatten() else {
                continue;
            };
            let key = probe_key(spec);
            let exe_id = (bin.0, bin.1);
            if self.breaker_open(&key)
                || self.registry.has_file(&bin, &key)
                || self.failed.contains_key(&((0, 0, exe_id), key.clone()))
                || self.pie_noted.contains(&(bin, key.clone()))
            {
                continue;
            }
            let r = match self.slots.of(&key) {
                None => Err(AttachError::NoSlot),
                Some(_) => File::open(path)
                    .map_err(|e| AttachError::Stat {
                        path: path.into(),
                        source: Arc::new(e),
                    })
                    .and_then(|file| self.attach_opened(&key, spec, file, path, Some(path), None)),
            };
            if let Err(why) = r {
                self.fail_file(&key, spec, path, exe_id, &why);
            }
        }
    }

    /// Attaches `spec` to the executable `file` (named `shown` by its
    /// processes; `target` when named so in gotel's filesystem, `seen_in`
    /// the process it was found through), and holds it open while attached.
    fn attach_opened(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        file: File,
        shown: &Path,
        target: Option<&Path>,
        seen_in: Option<&Process>,
    ) -> Result<(), AttachError> {
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let (bin_key, bin) = self.binaries.analyse_path(&path, shown)?;
        if bin.pie {
            self.note_pie(bin_key, spec, shown);
            return match seen_in {
                Some(p) => self.attach(key, spec, p),
                None => Ok(()),
            };
        }
        // The same inode rewritten in place: the old uprobes' offsets (and
        // the instructions the kernel saved there) are not this file's.
        for old in self.registry.files() {
            if (old.0, old.1) == (bin_key.0, bin_key.1) && old != bin_key {
                self.registry
                    .detach_file(&mut self.kernel, &mut self.pipeline, old);
                self.held.remove(&old);
            }
        }
        if !self.registry.has_file(&bin_key, key) {
            self.attach_file(key, spec, (bin_key, &bin), path, shown, seen_in)?;
        }
        self.held.entry(bin_key).or_insert(Held {
            file,
            target: target.map(Path::to_path_buf),
        });
        Ok(())
    }

    /// Detaches the files no process runs any more that were deleted,
    /// replaced at their target path, or rewritten in place; a file still
    /// there stays attached (a CLI run again later is traced from its
    /// start), for as long as its probe is configured.
    pub(super) fn retire_files(&mut self, live: &HashMap<u32, Process>) {
        for bin in self.registry.files() {
            if live.values().any(|p| p.exe_id == (bin.0, bin.1)) {
                continue;
            }
            if !self.held.get(&bin).is_some_and(|h| h.current(bin)) {
                self.registry
                    .detach_file(&mut self.kernel, &mut self.pipeline, bin);
            }
        }
        let files: HashSet<BinKey> = self.registry.files().into_iter().collect();
        self.held.retain(|b, _| files.contains(b));
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
