//! The live side: reconciles the configured probes with the running
//! processes (analyse each new binary once, plan, attach, detach when a
//! process exits) and turns ring-buffer records into calls for the sink.
//!
//! The supervisor only coordinates; each concern has its own room:
//! `binaries` (analysis and plan caches), `registry` (what is attached,
//! through the `kernel` trait), `type_recipes` (dynamic-type recipes), `names`
//! (what decoding needs of one process) and `pipeline` (records → calls,
//! kernel-free).

mod binaries;
pub mod breaker;
mod from_start;
pub mod kernel;
mod lifecycle;
pub mod markers;
mod names;
pub mod pipeline;
mod registry;
mod ring;
mod stacks;
mod status;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
mod type_recipes;
mod versions;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::bpf::{Bpf, BpfError};
use crate::config::{Config, ProbeSpec};
use crate::counters::Counters;
use crate::export::{Call, Origin, Sink};
use crate::golang::{AnalysisError, BinaryInfo};
use crate::plan::PlanError;
use crate::proc::{Identity, Process};
use crate::recipe::OPF_DYN;

use binaries::Binaries;
use kernel::Kernel;
use markers::Marker;
use names::ProcessNames;
use pipeline::{Attachment, Pipeline, ProbeKey};
use registry::{Loaded, Registry};
pub use status::{Failure, ProbeStatus, Status};
use type_recipes::TypeRecipes;

/// Longest one drain reads records before the main loop looks at anything
/// else.
pub const DRAIN_TIME: Duration = Duration::from_millis(50);

/// Most open (entered, not yet returned) calls remembered at once.
pub const MAX_OPEN_CALLS: usize = 65_536;

/// Why a probe cannot be attached to a process; logged once per probe and
/// process image. Cached with the analysis or plan it came from, hence
/// cloneable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttachError {
    /// The executable could not be examined.
    #[error("cannot stat {}: {source}", path.display())]
    Stat {
        /// `/proc/PID/exe`.
        path: PathBuf,
        /// The error.
        source: Arc<std::io::Error>,
    },
    /// The binary could not be analysed.
    #[error(transparent)]
    Analysis(Arc<AnalysisError>),
    /// The probe could not be planned against the binary.
    #[error(transparent)]
    Plan(Arc<PlanError>),
    /// The kernel refused a recipe or a uprobe.
    #[error(transparent)]
    Kernel(Arc<BpfError>),
    /// Every probe slot is taken (probes and edited probes' previous
    /// versions): without one the breaker could not watch the probe.
    #[error("no probe slot left: {} probes and kept previous versions use all of them, and a probe without one would have no hit counter for the breaker; remove probes, or let edited ones finish replacing their previous versions", crate::recipe::MAX_PROBES - 1)]
    NoSlot,
}

impl From<BpfError> for AttachError {
    fn from(e: BpfError) -> Self {
        AttachError::Kernel(Arc::new(e))
    }
}

/// Whether `why` says the process itself is gone (its /proc entry, or
/// the kernel's ESRCH), rather than anything about the probe.
fn gone(why: &AttachError) -> bool {
    match why {
        AttachError::Stat { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        // ESRCH; or ENOENT for the uprobe's path `/proc/PID/exe`.
        AttachError::Kernel(e) => matches!(&**e, BpfError::Attach { why, path, .. }
            if why.contains("(os error 3)")
                || (why.contains("(os error 2)") && path.starts_with("/proc/") && path.ends_with("/exe"))),
        _ => false,
    }
}

/// What [`Supervisor::attach_missing`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Attached already, or failed for this image before.
    Skipped,
    /// Tried: attached, or the failure recorded.
    Made,
    /// The process ended under it.
    Gone,
}

/// Where an attachment goes.
enum At<'a> {
    /// One process image.
    Process(&'a Process),
    /// The executable file, for every process running it (`from_start`).
    File {
        /// Through which gotel opens the file (`/proc/PID/exe`, or the path).
        path: PathBuf,
        /// The file as the processes name it.
        shown: PathBuf,
        /// Each process's view of the attachment.
        each: Arc<dyn pipeline::PerProcess>,
        /// The process it was found through (None: the target's path, in
        /// gotel's own filesystem): failures are reported against it.
        seen_in: Option<&'a Process>,
        /// The file's (device, inode).
        exe_id: (u64, u64),
    },
}

impl At<'_> {
    /// The attachment's pid: 0 for every process.
    fn pid(&self) -> u32 {
        match self {
            At::Process(p) => p.pid,
            At::File { .. } => 0,
        }
    }

    fn every_process(&self) -> Option<Arc<dyn pipeline::PerProcess>> {
        match self {
            At::Process(_) => None,
            At::File { each, .. } => Some(each.clone()),
        }
    }
}

fn probe_key(spec: &ProbeSpec) -> ProbeKey {
    serde_json::to_string(spec).unwrap_or_default()
}

/// The running sidecar state.
pub struct Supervisor<K: Kernel = Bpf> {
    cfg: Config,
    kernel: K,
    sink: Box<dyn Sink>,
    binaries: Binaries,
    types: TypeRecipes,
    registry: Registry<K>,
    pipeline: Pipeline,
    /// Probe × process images that failed, and why: not retried while the
    /// image lives.
    failed: HashMap<(Identity, ProbeKey), Failure>,
    /// Probes with no matching process, since when (logged every 30 s).
    waiting_since: HashMap<ProbeKey, Instant>,
    /// Edited probes' previous versions (old key → new key), kept attached
    /// where the new version has not attached (yet, or at all).
    superseded: HashMap<ProbeKey, ProbeKey>,
    /// (pid, new key) pairs whose failure to replace the old version was
    /// logged.
    kept_logged: HashSet<(u32, ProbeKey)>,
    /// `from_start` probes on PIE files, told so once.
    pie_noted: from_start::PieNoted,
    /// Files attached for every process, held open.
    held: HashMap<binaries::BinKey, from_start::Held>,
    /// A reconcile has run: readiness means something.
    reconciled: bool,
    /// Each probe's slot in the kernel's per-probe limits and counters.
    slots: breaker::Slots,
    /// Each probe's breaker.
    breakers: HashMap<ProbeKey, breaker::Breaker>,
    /// Breaker trips, all probes.
    breaker_trips: u64,
    next_id: u64,
    calls: u64,
    sink_errors: u64,
}

impl<K: Kernel> Supervisor<K> {
    /// A supervisor for `cfg`, writing calls to `sink`.
    pub fn new(cfg: Config, kernel: K, sink: Box<dyn Sink>) -> Self {
        let mut sup = Supervisor {
            cfg,
            kernel,
            sink,
            binaries: Binaries::default(),
            types: TypeRecipes::default(),
            registry: Registry::default(),
            pipeline: Pipeline::new(MAX_OPEN_CALLS, clock_offset()),
            failed: HashMap::new(),
            waiting_since: HashMap::new(),
            superseded: HashMap::new(),
            kept_logged: HashSet::new(),
            pie_noted: HashSet::new(),
            held: HashMap::new(),
            reconciled: false,
            slots: breaker::Slots::default(),
            breakers: HashMap::new(),
            breaker_trips: 0,
            next_id: 1,
            calls: 0,
            sink_errors: 0,
        };
        sup.sync_slots();
        sup
    }

    /// Every counter, the kernel's included.
    pub fn counters(&self) -> Counters {
        let k = self.kernel.stats();
        let c = self.pipeline.correlate_stats();
        let p = self.pipeline.stats;
        let l = self.pipeline.landing_stats();
        let limited = self.slots.iter().fold(self.slots.retired, |a, (_, s)| {
            a.plus(self.kernel.probe_counts(*s))
        });
        Counters {
            calls: self.calls,
            events: p.records,
            dropped: k.ringbuf_full + k.busy,
            dropped_busy: k.busy,
            no_recipe: k.no_recipe,
            foreign_hits: k.foreign,
            read_faults: k.faults,
            unmatched_returns: c.unmatched_returns,
            evicted_entries: c.evicted_entries,
            restarted_entries: c.restarted_entries + k.restarted,
            panicked: c.panicked,
            unobserved: c.unobserved,
            unfinished: c.unfinished,
            stray_records: p.stray_records,
            no_goroutine: p.no_goroutine,
            data_full: p.data_full,
            superseded_records: p.superseded_records,
            inlined_exit_passes: p.inlined_exit_passes,
            stacks_symbolized: p.stacks_symbolized,
            stack_cache_resets: p.stack_cache_resets,
            landed_floats: l.landed,
            landing_missed: l.missed,
            landing_unmatched: l.unmatched,
            landed_float_args: l.args_landed,
            float_args_missed: l.args_missed,
            rate_limited: limited.rate_limited,
            sampled_out: limited.sampled_out,
            breaker_trips: self.breaker_trips,
            filtered: p.filtered + limited.filtered,
            sink_errors: self.sink_errors,
            type_recipes_failed: self.types.failed,
        }
    }

    /// Number of live attachments.
    pub fn attachments(&self) -> usize {
        self.registry.attachments()
    }

    /// Brings attachments in line with `live`, the processes running now.
    /// `drain` runs before anything is detached: once a process is seen
    /// gone or exec'd, all records of its old image are already in the
    /// ring, and they must meet their recipes before the cookies are freed.
    pub fn reconcile_with(
        &mut self,
        live: &HashMap<u32, Process>,
        mut drain: impl FnMut(&mut Self),
    ) {
        self.reconciled = true;
        // Suspend/resume or a clock step moves wall time against BPF's
        // monotonic clock.
        self.pipeline.set_clock_offset(clock_offset());
        let mut gone = self.registry.changed(live);
        // Processes met through a file-wide attachment whose exit was missed.
        // (Gone, not merely unreadable: file-wide tracing needs no /proc.)
        let unseen_exits: Vec<u32> = self
            .pipeline
            .known_pids()
            .into_iter()
            .filter(|pid| !live.contains_key(pid) && !gone.contains(pid))
            .filter(|pid| crate::proc::unreadable(*pid) == crate::proc::Unreadable::Gone)
            .collect();
        gone.extend(unseen_exits);
        if !gone.is_empty() {
            drain(self);
        }
        for pid in gone {
            match live.contains_key(&pid) {
                // Exec'd (its exec record missed): the old image's calls.
                true => {
                    let ids =
                        self.registry
                            .detach_process(&mut self.kernel, &mut self.pipeline, pid);
                    let now = monotonic_ns();
                    self.deliver(|pl, emit| pl.end_attachments(pid, &ids, now, emit));
                }
                false => self.end_process(pid),
            }
        }
        self.failed.retain(|(id, _), f| match id.0 {
            // A file's own failure: while the path still names that file.
            0 => from_start::same_file(&f.exe, id.2),
            pid => live.get(&pid).is_some_and(|p| p.identity() == *id),
        });
        self.attach_paths();

        let probes = self.cfg.probes.clone();
        for spec in &probes {
            let key = probe_key(spec);
            let mut matched = false;
            for p in live
                .values()
                .filter(|p| crate::discover::matches(&spec.target, p))
            {
                matched = true;
                if self.attach_missing(&key, spec, p) == Attempt::Gone {
                    self.note_gone(p);
                }
            }
            // Attached to its file: no process needed.
            let on_file = spec.from_start && self.registry.on_some_file(&key);
            self.note_waiting(key, spec, matched || on_file);
        }
        self.retire_superseded(live, &mut drain);
        self.retire_files(live);
        let in_use = self.registry.binaries_in_use();
        self.binaries.retain_binaries(&in_use, Instant::now());
        self.types.retain(&mut self.kernel, &in_use);
    }

    /// Attaches `spec` to `p` unless it is attached there or failed for
    /// this image already.
    fn attach_missing(&mut self, key: &ProbeKey, spec: &ProbeSpec, p: &Process) -> Attempt {
        let done = self.breaker_open(key)
            || self.registry.has(p.pid, key)
            || (spec.from_start && self.covered_by_file(key, p))
            || self.failed.contains_key(&(p.identity(), key.clone()));
        if done {
            return Attempt::Skipped;
        }
        let attached = match spec.from_start {
            _ if self.slots.of(key).is_none() => Err(AttachError::NoSlot),
            true => self.attach_from_start(key, spec, p),
            false => self.attach(key, spec, p),
        };
        match attached {
            Ok(()) => Attempt::Made,
            Err(why) if gone(&why) => Attempt::Gone,
            Err(why) => {
                self.fail(key, spec, p, &why);
                Attempt::Made
            }
        }
    }

    /// One line for a process that ended while probes were being attached
    /// to it (a short-lived one), instead of one error per probe; what was
    /// attached is released when its end is seen.
    fn note_gone(&mut self, p: &Process) {
        info!(pid = p.pid, exe = %p.exe.display(), "process exited before its probes could be attached");
        let probes = self.cfg.probes.clone();
        for spec in &probes {
            let failure = Failure::new(p.pid, p.exe.clone(), "process exited before attach".into());
            self.failed.insert((p.identity(), probe_key(spec)), failure);
        }
    }

    /// Logs why `spec` cannot attach to `p`, and does not retry while this
    /// process image lives.
    fn fail(&mut self, key: &ProbeKey, spec: &ProbeSpec, p: &Process, why: &AttachError) {
        warn!(probe = spec.display_name(), pid = p.pid, exe = %p.exe.display(), "cannot attach: {why}");
        let failure = Failure::new(p.pid, p.exe.clone(), why.to_string());
        self.failed.insert((p.identity(), key.clone()), failure);
    }

    /// Reports why `spec` cannot attach at `at`: against the process, or
    /// against the file when no process runs it yet.
    fn fail_at(&mut self, key: &ProbeKey, spec: &ProbeSpec, at: &At, why: &AttachError) {
        match at {
            At::Process(p)
            | At::File {
                seen_in: Some(p), ..
            } => self.fail(key, spec, p, why),
            At::File { shown, exe_id, .. } => self.fail_file(key, spec, shown, *exe_id, why),
        }
    }

    /// Logs, at most every 30 s, that a probe has no process to attach to.
    fn note_waiting(&mut self, key: ProbeKey, spec: &ProbeSpec, matched: bool) {
        if matched {
            self.waiting_since.remove(&key);
            return;
        }
        let now = Instant::now();
        let since = self.waiting_since.entry(key).or_insert(now);
        if *since == now || now.duration_since(*since) >= Duration::from_secs(30) {
            let name = spec.display_name();
            match spec
                .target
                .pid
                .map(|pid| (pid, crate::proc::unreadable(pid)))
            {
                Some((pid, crate::proc::Unreadable::Gone)) => {
                    info!(probe = name, "no process {pid}; waiting for it")
                }
                Some((pid, why)) => warn!(probe = name, "cannot read process {pid}: {why}"),
                None => match crate::proc::denied() {
                    0 => {
                        info!(probe = name, selector = %spec.target, "waiting for a matching process")
                    }
                    n => {
                        warn!(probe = name, selector = %spec.target, "waiting for a matching process; {n} process(es) could not be read: {}", crate::proc::Unreadable::Denied)
                    }
                },
            }
            *since = now;
        }
    }

    /// Attaches probe `spec` to process `p`: every instantiation it plans
    /// to; one that fails is reported and the others still attach.
    fn attach(&mut self, key: &ProbeKey, spec: &ProbeSpec, p: &Process) -> Result<(), AttachError> {
        let (bin_key, bin) = self.binaries.analyse(p)?;
        let plans = self.binaries.plans(bin_key, &bin, key, spec)?;
        let dyn_types = self.prewarm(bin_key, &bin, &plans);
        // One description of the process, shared by all its instantiations.
        let origin = Arc::new(Origin::of_process(
            p.pid,
            p.start_time,
            p.exe.clone(),
            bin.go_version.clone(),
            spec.service_name.clone(),
            crate::otlp::resource::DOWNWARD_API_ENV,
        ));
        let bias = bin.load_bias(|| crate::proc::mapping_start(p)).unwrap_or_else(|| {
            // Interfaces' dynamic types then show as unnamed, never misnamed:
            // link-time addresses are far below any PIE mapping.
            warn!(pid = p.pid, exe = %p.exe.display(), "cannot find where the executable is mapped; interfaces' dynamic types will be unnamed");
            0
        });
        let names = Arc::new(ProcessNames::new(
            bin.clone(),
            bias,
            p.pid,
            dyn_types.clone(),
        ));
        let loaded = Loaded {
            bin: bin_key,
            bin_id: dyn_types.bin,
            bias,
        };
        let at = At::Process(p);
        self.attach_plans(key, spec, &bin, plans, &at, (origin, names), loaded)
    }

    /// Installs the error and address types' recipes of binary `bin_key`
    /// once a probe of it captures an interface at all; returns its
    /// dynamic types.
    fn prewarm(
        &mut self,
        bin_key: binaries::BinKey,
        bin: &BinaryInfo,
        plans: &[Arc<crate::plan::Plan>],
    ) -> Arc<type_recipes::BinaryTypes> {
        let dyn_types = self.types.of(bin_key);
        let captures_interfaces = plans.iter().any(|p| {
            [&p.entry.recipe, &p.ret.recipe].iter().any(|r| {
                r.ops[..usize::from(r.n_ops)]
                    .iter()
                    .any(|o| o.flags & OPF_DYN != 0)
            })
        });
        if plans.iter().any(|p| p.entry.span.is_some()) {
            self.types
                .install_contexts(&mut self.kernel, &dyn_types, bin);
        }
        if captures_interfaces {
            let max = self.dyn_string_len();
            let redaction = self.redaction();
            let limits = (max, &redaction);
            self.types
                .prewarm(&mut self.kernel, &dyn_types, bin, limits);
        }
        dyn_types
    }

    /// Attaches `plans` of probe `spec` at `at` (one process, or the file
    /// for every process), gotel's markers first; an instantiation that
    /// fails is reported and the others still attach.
    #[allow(clippy::too_many_arguments)]
    fn attach_plans(
        &mut self,
        key: &ProbeKey,
        spec: &ProbeSpec,
        bin: &BinaryInfo,
        plans: Vec<Arc<crate::plan::Plan>>,
        at: &At,
        (origin, names): (Arc<Origin>, Arc<dyn pipeline::Lookups>),
        loaded: Loaded,
    ) -> Result<(), AttachError> {
        // Panics are watched before the first call can be: a call unwound
        // by the first panic is told from a restart too.
        for marker in Marker::ALL {
            if !self.has(at, loaded.bin, &marker.key()) {
                self.watch(marker, at, bin, (origin.clone(), names.clone()), loaded);
            }
        }
        // A generic function attaches once per shape instantiation.
        for plan in plans {
            // One line per attachment: a probe over budget can have dozens.
            if let Some(first) = plan.warnings.first() {
                let n = plan.warnings.len();
                warn!(
                    probe = spec.display_name(),
                    pid = at.pid(),
                    function = %plan.function,
                    warnings = n,
                    "{first}{}",
                    match n {
                        1 => String::new(),
                        _ => format!(" (and {} more; `gotel check` lists them)", n - 1),
                    }
                );
            }
            let id = self.next_id;
            let meta = Arc::new(Attachment {
                id,
                key: key.clone(),
                probe: spec.display_name().to_string(),
                pid: at.pid(),
                plan: plan.clone(),
                origin: origin.clone(),
                names: names.clone(),
                marker: None,
                slot: self.slots.of(key).unwrap_or(0),
                every_process: at.every_process(),
            });
            self.next_id += 1;
            if let Err(why) = self.install(meta, at, loaded) {
                if gone(&why) {
                    return Err(why);
                }
                self.fail_at(key, spec, at, &why);
                continue;
            }
            self.cut_over_previous(key, id, at);
            match at {
                At::Process(p) => info!(
                    probe = spec.display_name(),
                    function = %plan.function,
                    pid = p.pid,
                    ret_sites = plan.ret_offsets.len(),
                    inlined_at = plan.inlined_at.as_deref(),
                    "attached"
                ),
                At::File { shown, .. } => info!(
                    probe = spec.display_name(),
                    function = %plan.function,
                    exe = %shown.display(),
                    ret_sites = plan.ret_offsets.len(),
                    inlined_at = plan.inlined_at.as_deref(),
                    "attached to the file: every process running it is traced from its start"
                ),
            }
        }
        // No probe attached after all: the markers have nothing to serve.
        match at {
            At::Process(p) => self
                .registry
                .prune(&mut self.kernel, &mut self.pipeline, p.pid),
            At::File { .. } => {
                self.registry
                    .prune_file(&mut self.kernel, &mut self.pipeline, loaded.bin)
            }
        }
        Ok(())
    }

    /// Whether `key` is attached at `at`.
    fn has(&self, at: &At, bin: binaries::BinKey, key: &ProbeKey) -> bool {
        match at {
            At::Process(p) => self.registry.has(p.pid, key),
            At::File { .. } => self.registry.has_file(&bin, key),
        }
    }

    /// Hands `meta` to the registry, for its process or its file.
    fn install(
        &mut self,
        meta: Arc<Attachment>,
        at: &At,
        loaded: Loaded,
    ) -> Result<(), AttachError> {
        let (kernel, pipeline) = (&mut self.kernel, &mut self.pipeline);
        match at {
            At::Process(p) => self.registry.attach(kernel, pipeline, meta, p, loaded),
            At::File { path, .. } => self
                .registry
                .attach_file(kernel, pipeline, meta, path, loaded),
        }
    }

    /// Attaches gotel's own `marker` probe at `at` (see `markers`);
    /// without it, calls unwound by a recovered panic may be taken for
    /// restarted prologues, and calls ended by Goexit stay open until
    /// evicted.
    fn watch(
        &mut self,
        marker: Marker,
        at: &At,
        bin: &BinaryInfo,
        (origin, names): (Arc<Origin>, Arc<dyn pipeline::Lookups>),
        loaded: Loaded,
    ) {
        let meta = self
            .binaries
            .marker_plan(loaded.bin, bin, marker, at.pid())
            .map(|plan| {
                Arc::new(Attachment {
                    id: self.next_id,
                    key: marker.key(),
                    probe: marker.function().into(),
                    pid: at.pid(),
                    plan,
                    origin,
                    names,
                    marker: Some(marker),
                    slot: 0,
                    every_process: at.every_process(),
                })
            });
        self.next_id += 1;
        let r = meta.and_then(|m| self.install(m, at, loaded).map_err(|e| e.to_string()));
        match r {
            Ok(()) => debug!(pid = at.pid(), "watching {}", marker.function()),
            Err(why) => debug!(pid = at.pid(), "cannot watch {}: {why}", marker.function()),
        }
    }

    /// Strings inside dynamic values: as long as any probe shows them.
    fn dyn_string_len(&self) -> u32 {
        self.cfg
            .probes
            .iter()
            .map(|p| p.max_string_len)
            .max()
            .unwrap_or(256)
            .min(1024)
    }

    /// `redact:`, as every probe carries it (compiled when the config was
    /// loaded); dynamic types' recipes follow it too.
    fn redaction(&self) -> crate::redact::Redaction {
        self.cfg
            .probes
            .first()
            .map(|p| p.redact.clone())
            .unwrap_or_default()
    }

    /// Turns one record into calls and writes them.
    pub fn handle_record(&mut self, record: &[u8]) {
        self.deliver(|pipeline, emit| pipeline.handle(record, emit));
    }

    /// Runs `f` on the pipeline, writing the calls it emits to the sink.
    fn deliver(&mut self, f: impl FnOnce(&mut Pipeline, &mut dyn FnMut(Call))) {
        let (sink, calls, sink_errors) = (&mut self.sink, &mut self.calls, &mut self.sink_errors);
        f(&mut self.pipeline, &mut |call: Call| {
            *calls += 1;
            if let Err(e) = sink.write_owned(call) {
                *sink_errors += 1;
                if *sink_errors == 1 {
                    warn!("writing output: {e}");
                }
            }
        });
    }

    /// The calls open now, and how long the oldest has been.
    pub fn open_calls(&self) -> OpenCalls {
        let (count, oldest) = self.pipeline.open_calls();
        OpenCalls {
            count: count as u64,
            oldest_age_ns: oldest.map_or(0, |k| monotonic_ns().saturating_sub(k)),
        }
    }

    /// After a batch of records: installs the recipes of dynamic types the
    /// records showed without one, and flushes the sink.
    pub fn end_batch(&mut self) {
        let max = self.dyn_string_len();
        let redaction = self.redaction();
        let binaries = &self.binaries;
        self.types
            .install_wanted(&mut self.kernel, |k| binaries.get(k), (max, &redaction));
        if let Err(e) = self.sink.flush() {
            self.sink_errors += 1;
            warn!("flushing output: {e}");
        }
    }

    /// Flushes the sink (on shutdown).
    pub fn flush(&mut self) {
        self.release_held(u64::MAX);
        let _ = self.sink.flush();
    }

    /// Hands on the calls that waited long enough for their landing
    /// records (all of them with `now` u64::MAX).
    pub fn release_held(&mut self, now: u64) {
        self.deliver(|pipeline, emit| pipeline.release_held(now, emit));
    }
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC in ns, now: BPF timestamps are
/// monotonic, calls carry wall-clock times.
pub fn clock_offset() -> i128 {
    let now = read_clock;
    // Bracket the realtime read to halve the error.
    let m1 = now(libc::CLOCK_MONOTONIC);
    let r = now(libc::CLOCK_REALTIME);
    let m2 = now(libc::CLOCK_MONOTONIC);
    r - (m1 + m2) / 2
}

/// `clock` now, in ns.
fn read_clock(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// CLOCK_MONOTONIC now, in ns: the clock of BPF's timestamps.
fn monotonic_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC).max(0) as u64
}

/// Calls entered and not yet ended: a gauge, not a counter (calls that
/// never return, e.g. blocked forever, stay here until evicted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenCalls {
    /// How many.
    pub count: u64,
    /// Age of the oldest, in ns; 0 when none is open.
    pub oldest_age_ns: u64,
}

impl OpenCalls {
    /// As OTLP gauges: `gotel.open_calls` and `gotel.open_call_oldest_age` (ms).
    pub fn named(&self) -> crate::otlp::NamedGauges {
        vec![
            ("open_calls", "1", self.count),
            ("open_call_oldest_age", "ms", self.oldest_age_ns / 1_000_000),
        ]
    }
}
