//! What each probe is doing now, for the admin endpoint's `/probes`,
//! `/readyz` and per-probe metrics: where it is attached, where it failed
//! and why, or that no process matches it yet.

use std::path::PathBuf;

use serde::Serialize;

use super::kernel::Kernel;
use super::pipeline::ProbeCounts;
use super::pipeline::ProbeKey;
use super::{probe_key, OpenCalls, Supervisor};
use crate::counters::Counters;

/// Why a probe could not attach to one process image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The process.
    pub pid: u32,
    /// Its executable, as gotel sees it.
    pub exe: PathBuf,
    /// The reason, as logged.
    pub error: String,
    /// When it failed, in ms since the epoch.
    pub at_unix_ms: u64,
}

impl Failure {
    /// A failure now.
    pub fn new(pid: u32, exe: PathBuf, error: String) -> Self {
        let at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Failure {
            pid,
            exe,
            error,
            at_unix_ms,
        }
    }
}

/// One attachment of a probe: a process (or the file, for every process)
/// and one instantiation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attached {
    /// The process; 0 when attached to the file for every process.
    pub pid: u32,
    /// Attached to the executable file: every process running it is traced
    /// from its first instruction (`from_start`).
    pub every_process: bool,
    /// Its executable.
    pub exe: PathBuf,
    /// The function attached (a generic's instantiation has its own).
    pub function: String,
    /// Uprobes: the entry and every return site.
    pub sites: usize,
}

/// One configured probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeStatus {
    /// The probe's display name.
    pub name: String,
    /// The function it names, as written.
    pub function: String,
    /// Which processes it selects.
    pub target: String,
    /// Where it is attached.
    pub attached: Vec<Attached>,
    /// Where its previous version (before a config edit) stays attached
    /// because this version has not attached there.
    pub previous_version: Vec<Attached>,
    /// Where it could not attach, and why.
    pub failed: Vec<Failure>,
    /// No running process matches its target.
    pub waiting: bool,
    /// Its counters.
    #[serde(flatten)]
    pub counts: ProbeCounts,
    /// Its breaker.
    pub breaker: super::breaker::BreakerStatus,
}

impl ProbeStatus {
    /// The most recent reason it could not attach, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.failed
            .iter()
            .max_by_key(|f| (f.at_unix_ms, f.pid))
            .map(|f| f.error.as_str())
    }
}

/// Everything the admin endpoint shows, read at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Each configured probe, in config order.
    pub probes: Vec<ProbeStatus>,
    /// gotel's counters.
    #[serde(skip)]
    pub counters: Counters,
    /// Calls open now.
    #[serde(skip)]
    pub open: OpenCalls,
    /// Analysed binaries kept in the cache.
    pub binaries_cached: usize,
    /// The processes running have been matched against the probes at
    /// least once since start.
    pub reconciled: bool,
}

impl Status {
    /// Ready when every probe whose target runs is attached to each of
    /// its processes; else the probes that are not, with why.
    pub fn unready(&self) -> Vec<String> {
        let starting = (!self.reconciled && !self.probes.is_empty())
            .then(|| "starting: the running processes have not been scanned yet".to_string());
        let failed = self.probes.iter().flat_map(|p| {
            p.failed
                .iter()
                .map(|f| format!("{} (pid {}): {}", p.name, f.pid, f.error))
        });
        starting.into_iter().chain(failed).collect()
    }
}

impl<K: Kernel> Supervisor<K> {
    /// Probe `key`'s counters, its previous version's (kept attached after
    /// an edit) included, and drops of its live recipes.
    fn probe_counts(&self, key: &ProbeKey) -> ProbeCounts {
        let own = |k: &ProbeKey| {
            let mut c = self.pipeline.probe_counts(k);
            c.dropped += self.registry.dropped(&self.kernel, k);
            if let Some(slot) = self.slots.of(k) {
                let kc = self.kernel.probe_counts(slot);
                // Added to what retired previous versions carried over.
                c.hits += kc.hits;
                c.rate_limited += kc.rate_limited;
                c.sampled_out += kc.sampled_out;
                c.filtered += kc.filtered;
            }
            c
        };
        self.superseded
            .iter()
            .filter(|(_, new)| *new == key)
            .fold(own(key), |sum, (old, _)| sum + own(old))
    }

    /// Every probe's state, the counters and the open calls, now.
    pub fn status(&self) -> Status {
        let probes = self
            .cfg
            .probes
            .iter()
            .map(|spec| {
                let key = probe_key(spec);
                let view = |a: &super::pipeline::Attachment| Attached {
                    pid: a.pid,
                    every_process: a.every_process.is_some(),
                    exe: a.origin.exe.clone(),
                    function: a.plan.function.clone(),
                    sites: 1
                        + a.plan.ret_offsets.len()
                        + a.plan.restart_offsets.len()
                        + a.plan.landings.as_ref().map_or(0, |l| {
                            l.sites.iter().map(|s| s.offsets.len()).sum::<usize>()
                        })
                        + a.plan.arg_landings.as_ref().map_or(0, |l| {
                            l.sites.iter().map(|s| s.offsets.len()).sum::<usize>()
                        }),
                };
                let attached = self.registry.attached_to(&key).map(view).collect();
                let previous_version = self
                    .superseded
                    .iter()
                    .filter(|(_, new)| **new == key)
                    .flat_map(|(old, _)| {
                        self.registry.attached_to(old).map(view).collect::<Vec<_>>()
                    })
                    .collect();
                let mut failed: Vec<Failure> = self
                    .failed
                    .iter()
                    .filter(|((_, k), _)| *k == key)
                    .map(|(_, f)| f.clone())
                    .collect();
                failed.sort_by_key(|f| f.pid);
                ProbeStatus {
                    name: spec.display_name().to_string(),
                    function: spec.function.clone(),
                    target: spec.target.to_string(),
                    attached,
                    previous_version,
                    failed,
                    waiting: self.waiting_since.contains_key(&key),
                    counts: self.probe_counts(&key),
                    breaker: self.breaker_status(&key),
                }
            })
            .collect();
        Status {
            probes,
            counters: self.counters(),
            open: self.open_calls(),
            binaries_cached: self.registry.binaries_in_use().len(),
            reconciled: self.reconciled,
        }
    }
}
