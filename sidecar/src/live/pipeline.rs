//! From ring-buffer records to completed calls, without the kernel:
//! route a record by its cookie, pair entries with returns (`correlate`),
//! decode the captured bytes (`decode`), assign trace ids, and build the
//! `Call` the sink writes. Fed with synthetic records in the unit tests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::correlate::{CallKey, CorrelateStats, Correlator};
use crate::decode::{app_span, decode, stack_pcs, AppSpan, GoValue, Names, Stack};
use crate::export::{Call, Origin, TraceIds, Unfinished};
use crate::plan::Plan;
use crate::recipe::{RawEvent, EV_DATA_FULL, EV_NO_G, SITE_ENTRY, SITE_LANDING, SITE_RETURN};

use super::markers::Marker;

#[path = "arg_landing.rs"]
mod arg_landing;
#[path = "call_ids.rs"]
mod call_ids;
#[path = "landing.rs"]
mod landing;
use call_ids::{call_key, error_message, trace_ids};
pub use landing::LandingStats;

/// A probe's identity: its whole spec, serialised, so that an edited probe
/// (even a renamed one) is a new probe, and the old one is detached.
pub type ProbeKey = String;

/// What one attachment (probe × process × instantiation) needs to turn
/// its records into calls.
pub struct Attachment {
    /// Unique for the supervisor's lifetime: part of every call's key.
    pub id: u64,
    /// The probe it came from.
    pub key: ProbeKey,
    /// The probe's display name.
    pub probe: String,
    /// The traced process.
    pub pid: u32,
    /// What its sites capture and how to decode it.
    pub plan: Arc<Plan>,
    /// The process, for the OTLP resource.
    pub origin: Arc<Origin>,
    /// Names of the process's types and functions, for decoding.
    pub names: Arc<dyn Lookups>,
    /// gotel's own probe on a runtime function, not the user's: its
    /// records only mark their goroutine (see `markers`).
    pub marker: Option<Marker>,
    /// The probe's slot in the kernel's per-probe limits and counters (0:
    /// none, gotel's markers).
    pub slot: u32,
    /// Attached to the executable file for every process (`from_start`):
    /// `pid` is 0, and each process's records are decoded with its own
    /// view, made by this.
    pub every_process: Option<Arc<dyn PerProcess>>,
}

/// What a file-wide attachment needs of each process whose records it
/// meets: where it came from, and its decoding lookups.
pub trait PerProcess: Send + Sync {
    /// Process `pid`'s origin and lookups (read while it runs, if it
    /// still does; else what the binary alone says).
    fn process(&self, pid: u32) -> (Arc<Origin>, Arc<dyn Lookups>);
}

/// What decoding one process image's records needs: the lookups, and
/// where the dynamic types met without a recipe are noted for planning.
pub trait Lookups: Names + Send + Sync {
    /// Notes the dynamic type at run-time `rtype`, met without its recipe;
    /// true when later records will have its block.
    fn met(&self, rtype: u64) -> bool;
}

/// Counters of records the pipeline could not turn into calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipelineStats {
    /// Ring-buffer records read.
    pub records: u64,
    /// Records that could not be parsed or had no live attachment.
    pub stray_records: u64,
    /// Records without a readable goroutine.
    pub no_goroutine: u64,
    /// Records whose data area filled up: their later values read as
    /// faults (the planner's budget makes this rare).
    pub data_full: u64,
    /// Records of an edited probe's previous version after its new version
    /// was attached: the new version reports those calls.
    pub superseded_records: u64,
    /// Hits of an inlined site's exit with no call of it open there: the
    /// caller's code after the site, reached another way. Not a return.
    pub inlined_exit_passes: u64,
    /// Calls not delivered because their probe's `when` or `when_return`
    /// was false.
    pub filtered: u64,
    /// Distinct caller stacks symbolized (`stack:`).
    pub stacks_symbolized: u64,
    /// Times the cache of symbolized stacks was full and started over.
    pub stack_cache_resets: u64,
}

/// One probe's counters (all its processes and instantiations).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProbeCounts {
    /// Calls delivered.
    pub calls: u64,
    /// Of those, calls that failed: a non-nil `error` result or a panic.
    pub failed_calls: u64,
    /// Records of the probe in which some memory could not be read.
    pub read_faults: u64,
    /// Records of the probe the kernel dropped (ring buffer full, CPU
    /// busy): their calls are missing or unfinished.
    pub dropped: u64,
    /// Uprobe hits (every site and process): what the breaker watches.
    pub hits: u64,
    /// Calls not kept by `rate_limit`.
    pub rate_limited: u64,
    /// Calls not kept by `sample`.
    pub sampled_out: u64,
    /// Calls not delivered: `when` or `when_return` was false.
    pub filtered: u64,
}

impl std::ops::Add for ProbeCounts {
    type Output = ProbeCounts;

    fn add(self, o: ProbeCounts) -> ProbeCounts {
        ProbeCounts {
            calls: self.calls + o.calls,
            failed_calls: self.failed_calls + o.failed_calls,
            read_faults: self.read_faults + o.read_faults,
            dropped: self.dropped + o.dropped,
            hits: self.hits + o.hits,
            rate_limited: self.rate_limited + o.rate_limited,
            sampled_out: self.sampled_out + o.sampled_out,
            filtered: self.filtered + o.filtered,
        }
    }
}

/// Which calls one version of an edited probe reports where both are
/// attached: those entered before, or from, the monotonic time the new
/// version was attached.
#[derive(Debug, Clone, Copy)]
enum Owns {
    /// The previous version, and the new version's attachment id.
    Before(u64, u64),
    /// The new version.
    From(u64),
}

/// An entry waiting for its return.
struct Open {
    meta: Arc<Attachment>,
    tid: u32,
    goid: u64,
    ktime: u64,
    args: Vec<(String, GoValue)>,
    trace: TraceIds,
    /// Its arguments failed the probe's `when`: it is paired with its
    /// return (and keeps its place in the trace tree) but not delivered.
    filtered: bool,
    /// Its callers (`stack:`).
    stack: Option<Arc<Stack>>,
    /// Float arguments still to come from landing records in the callee.
    pending: arg_landing::Pending,
}

/// What an entry record says: the arguments, the application's span, the
/// callers.
type Entered = (Vec<(String, GoValue)>, Option<AppSpan>, Option<Arc<Stack>>);

/// A call's values as conditions read them: its arguments, then results.
struct CallValues<'a>(
    &'a [(String, GoValue)],
    &'a [(String, GoValue)],
    Option<u64>,
);

impl crate::condition::Values for CallValues<'_> {
    fn get(&self, path: &[String]) -> Option<&GoValue> {
        let (first, fields) = path.split_first()?;
        let mut v = &self.0.iter().chain(self.1).find(|(n, _)| n == first)?.1;
        for field in fields {
            // Pointers decode as what they point to; interfaces as theirs.
            while let GoValue::Dynamic { value, .. } = v {
                v = value;
            }
            v = match v {
                GoValue::Struct(fs) => &fs.iter().find(|(n, _)| n == field)?.1,
                _ => return None,
            };
        }
        Some(v)
    }

    fn duration(&self) -> Option<u64> {
        self.2
    }
}

/// Whether `c` (if any) keeps the call: an unknown outcome keeps it.
fn keeps(c: &Option<Arc<crate::condition::Condition>>, v: CallValues) -> bool {
    c.as_ref().is_none_or(|c| c.eval(&v) != Some(false))
}

/// How a call came to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its return was seen.
    Returned,
    /// A panic unwound it and a caller recovered.
    Unwound,
    /// Its process ended while its goroutine was panicking.
    Crashed,
    /// Its process ended (exit or exec) while it ran.
    ProcessEnded,
    /// Its goroutine called `runtime.Goexit`.
    Goexit,
    /// An entry-only probe's call, delivered at its entry.
    Entered,
}

/// Records in, calls out.
pub struct Pipeline {
    /// Cookie → the attachment and site kind its recipe was made for.
    routes: HashMap<u32, (Arc<Attachment>, u8)>,
    /// Each process's own view of a file-wide attachment, by (attachment
    /// id, pid): made at its first record, dropped when it ends.
    per_process: HashMap<(u64, u32), Arc<Attachment>>,
    /// Where both versions of an edited probe are attached, by (attachment
    /// id, pid; 0: every process): the calls each reports.
    cutover: HashMap<(u64, u32), Owns>,
    correlator: Correlator<Open>,
    /// Counters per probe.
    per_probe: HashMap<ProbeKey, ProbeCounts>,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in ns: BPF timestamps are monotonic.
    clock_offset: i128,
    /// Probes already warned that their spans could not join the
    /// application's trace (bounded by the probes configured).
    join_warned: std::collections::HashSet<ProbeKey>,
    /// Caller stacks (`stack:`), symbolized once each.
    stacks: super::stacks::StackCache,
    /// Cookie of a landing recipe → its index in the plan's landing sites
    /// (results: false, arguments: true).
    landing_routes: HashMap<u32, (bool, usize)>,
    /// Calls waiting for their landing records, by (pid, goid).
    held: landing::Held,
    /// Calls taken out of `held`, to be handed on.
    unheld: Vec<landing::Waiting>,
    /// Landing records' counters.
    landing: LandingStats,
    /// The newest record's monotonic time: how far the ring has been read.
    newest: u64,
    /// Counters.
    pub stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline remembering at most `max_open` calls awaiting their return.
    pub fn new(max_open: usize, clock_offset: i128) -> Self {
        Pipeline {
            routes: HashMap::new(),
            per_process: HashMap::new(),
            cutover: HashMap::new(),
            correlator: Correlator::new(max_open),
            per_probe: HashMap::new(),
            clock_offset,
            join_warned: Default::default(),
            stacks: Default::default(),
            landing_routes: HashMap::new(),
            held: HashMap::new(),
            unheld: Vec::new(),
            landing: LandingStats::default(),
            newest: 0,
            stats: PipelineStats::default(),
        }
    }

    /// Sets the wall-clock offset of BPF timestamps (it moves on suspend or
    /// a clock step).
    pub fn set_clock_offset(&mut self, offset: i128) {
        self.clock_offset = offset;
    }

    /// Records carrying `cookie` belong to `site` of `meta`.
    pub fn route(&mut self, cookie: u32, meta: Arc<Attachment>, site: u8) {
        self.routes.insert(cookie, (meta, site));
    }

    /// Records carrying `cookie` come from landing site `index` of `meta`.
    pub fn route_landing(&mut self, cookie: u32, meta: Arc<Attachment>, index: usize) {
        self.routes.insert(cookie, (meta, SITE_LANDING));
        self.landing_routes.insert(cookie, (false, index));
    }

    /// Records carrying `cookie` come from argument landing site `index`.
    pub fn route_arg_landing(&mut self, cookie: u32, meta: Arc<Attachment>, index: usize) {
        self.routes.insert(cookie, (meta, SITE_LANDING));
        self.landing_routes.insert(cookie, (true, index));
    }

    /// `cookie` is released: its records are stray from now on.
    pub fn unroute(&mut self, cookie: u32) {
        self.landing_routes.remove(&cookie);
        if let Some((meta, _)) = self.routes.remove(&cookie) {
            if meta.every_process.is_some() {
                self.per_process.retain(|(id, _), _| *id != meta.id);
            }
        }
    }

    /// Forgets the open calls of a detached attachment (counted unobserved).
    pub fn forget_attachment(&mut self, id: u64) {
        self.correlator.forget_attachment(id);
        // Its landing sites are gone too: its held calls leave with the
        // next records handled, their floats unread.
        for ws in self.held.values_mut() {
            let (gone, stay): (Vec<_>, Vec<_>) =
                std::mem::take(ws).into_iter().partition(|w| w.id() == id);
            self.unheld.extend(gone);
            *ws = stay;
        }
        self.held.retain(|_, ws| !ws.is_empty());
        // A retired previous version: its successor reports every call.
        let partners: Vec<(u64, u32)> = self
            .cutover
            .iter()
            .filter_map(|((a, pid), o)| match o {
                Owns::Before(_, new) if *a == id => Some((*new, *pid)),
                _ => None,
            })
            .collect();
        for p in partners {
            self.cutover.remove(&p);
        }
        self.cutover.retain(|(a, _), _| *a != id);
    }

    /// An edited probe's new version (attachment `new`) took over from its
    /// previous one (`old`) in process `pid` (0: every process) at
    /// monotonic time `ktime`: calls entered before then are the old one's
    /// to report, later ones the new one's; both saw the calls in between.
    pub fn cut_over(&mut self, old: u64, new: u64, pid: u32, ktime: u64) {
        self.cutover
            .entry((old, pid))
            .or_insert(Owns::Before(ktime, new));
        self.cutover.entry((new, pid)).or_insert(Owns::From(ktime));
    }

    /// Whether an entry at `ktime` of attachment `id` in process `pid` is
    /// the other version's to report.
    fn not_owned(&self, id: u64, pid: u32, ktime: u64) -> bool {
        if self.cutover.is_empty() {
            return false;
        }
        [pid, 0].iter().any(|p| match self.cutover.get(&(id, *p)) {
            Some(Owns::Before(t, _)) => ktime >= *t,
            Some(Owns::From(t)) => ktime < *t,
            None => false,
        })
    }

    /// Whether records of process `pid` have come through a file-wide
    /// attachment (its end must then be handled like a traced process's).
    pub fn knows_process(&self, pid: u32) -> bool {
        self.per_process.keys().any(|(_, p)| *p == pid)
    }

    /// The processes met through file-wide attachments.
    pub fn known_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.per_process.keys().map(|(_, p)| *p).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Forgets file-wide attachments' views of processes not in `live`
    /// (their exit was not seen).
    pub fn retain_processes(&mut self, live: impl Fn(u32) -> bool) {
        self.per_process.retain(|(_, pid), _| live(*pid));
    }

    /// Process `pid`'s view of file-wide attachment `meta` (`meta` itself
    /// when it is attached to one process); made once per process, so a
    /// caller seeing it start makes it while /proc still describes it.
    pub fn view(&mut self, meta: &Arc<Attachment>, pid: u32) -> Arc<Attachment> {
        let Some(each) = &meta.every_process else {
            return meta.clone();
        };
        self.per_process
            .entry((meta.id, pid))
            .or_insert_with(|| {
                let (origin, names) = each.process(pid);
                Arc::new(Attachment {
                    id: meta.id,
                    key: meta.key.clone(),
                    probe: meta.probe.clone(),
                    pid,
                    plan: meta.plan.clone(),
                    origin,
                    names,
                    marker: meta.marker,
                    slot: meta.slot,
                    every_process: None,
                })
            })
            .clone()
    }

    /// Ends the open calls of a process that is gone, at monotonic time
    /// `now_ktime` (when its end was noticed): they are handed to `emit`
    /// unfinished, never silently forgotten.
    pub fn end_process(&mut self, pid: u32, now_ktime: u64, emit: &mut dyn FnMut(Call)) {
        self.release_process(pid, emit);
        for (open, panicking) in self.correlator.end_process(pid) {
            let end = match panicking {
                true => End::Crashed,
                false => End::ProcessEnded,
            };
            self.finish(open, end, Vec::new(), now_ktime, emit);
        }
        self.retain_processes(|p| p != pid);
    }

    /// Ends the open calls of process `pid` made through attachments
    /// `ids`, detached because an exec replaced the image they were made
    /// for (calls of the new image, traced file-wide, stay open).
    pub fn end_attachments(
        &mut self,
        pid: u32,
        ids: &[u64],
        now_ktime: u64,
        emit: &mut dyn FnMut(Call),
    ) {
        for (open, panicking) in self.correlator.end_image(pid, |o| ids.contains(&o.meta.id)) {
            let end = match panicking {
                true => End::Crashed,
                false => End::ProcessEnded,
            };
            self.finish(open, end, Vec::new(), now_ktime, emit);
        }
    }

    /// Ends the open calls process `pid` entered before monotonic time
    /// `exec_ktime`, when an exec replaced its image: the new image runs
    /// other code, so none of them returns (an exec of the same binary
    /// keeps its attachments, and its calls stay open).
    pub fn end_image(&mut self, pid: u32, exec_ktime: u64, emit: &mut dyn FnMut(Call)) {
        for (open, panicking) in self.correlator.end_image(pid, |o| o.ktime < exec_ktime) {
            let end = match panicking {
                true => End::Crashed,
                false => End::ProcessEnded,
            };
            self.finish(open, end, Vec::new(), exec_ktime, emit);
        }
    }

    /// The number of open calls, and the monotonic start of the oldest.
    pub fn open_calls(&self) -> (usize, Option<u64>) {
        (
            self.correlator.len(),
            self.correlator.oldest().map(|o| o.ktime),
        )
    }

    /// Probe `key`'s counters.
    pub fn probe_counts(&self, key: &ProbeKey) -> ProbeCounts {
        self.per_probe.get(key).copied().unwrap_or_default()
    }

    /// Adds `n` records of probe `key` dropped by recipes now released.
    pub fn add_dropped(&mut self, key: &ProbeKey, n: u64) {
        if n > 0 {
            self.per_probe.entry(key.clone()).or_default().dropped += n;
        }
    }

    /// Adds a retired previous version's kernel counts to probe `key`'s.
    pub fn add_kernel_counts(&mut self, key: &ProbeKey, c: crate::recipe::RawProbeCounts) {
        let p = self.per_probe.entry(key.clone()).or_default();
        p.hits += c.hits;
        p.rate_limited += c.rate_limited;
        p.sampled_out += c.sampled_out;
        p.filtered += c.filtered;
    }

    /// Adds probe `old`'s counters to `new`'s (an edited probe's previous
    /// version, retired): the probe's counters keep growing.
    pub fn merge_probe_counts(&mut self, old: &ProbeKey, new: &ProbeKey) {
        if let Some(c) = self.per_probe.remove(old) {
            let sum = self.probe_counts(new) + c;
            self.per_probe.insert(new.clone(), sum);
        }
    }

    /// Forgets the counters of probes not in `keep` (removed from the config).
    pub fn retain_probe_counts(&mut self, keep: &std::collections::HashSet<ProbeKey>) {
        self.per_probe.retain(|k, _| keep.contains(k));
        self.join_warned.retain(|k| keep.contains(k));
    }

    /// Counters from pairing entries with returns.
    pub fn correlate_stats(&self) -> CorrelateStats {
        self.correlator.stats
    }

    /// Turns one record into the calls it completes, handed to `emit` in
    /// order: calls it proves unwound first, then the call it ends.
    pub fn handle(&mut self, record: &[u8], emit: &mut dyn FnMut(Call)) {
        self.stats.records += 1;
        let Some((ev, data)) = RawEvent::parse(record) else {
            self.stats.stray_records += 1;
            return;
        };
        // The cookie names the process; ev.pid may be a host id when the
        // target sits in a PID namespace nested below ours.
        let Some((meta, site)) = self.routes.get(&ev.cookie).map(|(m, s)| (m.clone(), *s)) else {
            self.stats.stray_records += 1;
            return;
        };
        if site != ev.site {
            self.stats.stray_records += 1;
            return;
        }
        let meta = self.view(&meta, ev.pid);
        if ev.flags & EV_NO_G != 0 {
            // A lost record too: it moves the loss stamp.
            self.stats.no_goroutine += 1;
            return;
        }
        if ev.flags & EV_DATA_FULL != 0 {
            self.stats.data_full += 1;
        }
        self.newest = self.newest.max(ev.ktime_ns);
        match (site, self.landing_routes.get(&ev.cookie)) {
            (SITE_LANDING, Some(&(false, i))) => return self.land(&meta, i, &ev, data, emit),
            (SITE_LANDING, Some(&(true, i))) => return self.land_arg(&meta, i, &ev, data),
            _ => {}
        }
        // Any other record of the goroutine: no landing record is coming
        // for the call held on it.
        if !self.held.is_empty() {
            let ret_frame = (site == SITE_RETURN).then_some(ev.frame);
            self.release_goroutine(meta.pid, ev.goid, ret_frame, emit);
        }
        if ev.fault_mask != 0 && meta.marker.is_none() {
            self.per_probe
                .entry(meta.key.clone())
                .or_default()
                .read_faults += 1;
        }
        match meta.marker {
            // A panic, not a call: whatever of this goroutine enters next
            // is a new call, even at the frame of an open one.
            Some(Marker::Panic) => return self.correlator.touch(meta.pid, ev.goid),
            Some(Marker::Goexit) => {
                for open in self.correlator.goexit(meta.pid, ev.goid) {
                    self.finish(open, End::Goexit, Vec::new(), ev.ktime_ns, emit);
                }
                return;
            }
            None => {}
        }
        let stamp = self.stamp(&ev);
        let key = call_key(&meta, ev.goid, ev.frame);
        let masks = (ev.fault_mask, ev.nil_mask);
        // Both versions of an edited probe saw this: the entry is one
        // version's; a return without its entry, the other's.
        let cut = match site {
            SITE_ENTRY => self.not_owned(meta.id, meta.pid, ev.ktime_ns),
            _ => {
                self.correlator.get(&key).is_none()
                    && [meta.pid, 0]
                        .iter()
                        .any(|p| self.cutover.contains_key(&(meta.id, *p)))
            }
        };
        if cut {
            self.stats.superseded_records += 1;
            return;
        }
        if site == SITE_ENTRY {
            let names = meta.names.as_ref();
            let args = decode(&meta.plan.entry, data, masks, names, &mut |t| names.met(t));
            let app = app_span(&meta.plan.entry, data, masks, names);
            if let Some(AppSpan::Unreadable(why)) = &app {
                self.join_failed(&meta, why);
            }
            let stack = stack_pcs(&meta.plan.entry, data, masks)
                .map(|(pcs, end)| self.stacks.get(&meta.names, pcs, end));
            self.stats.stacks_symbolized = self.stacks.symbolized;
            self.stats.stack_cache_resets = self.stacks.resets;
            self.enter(key, meta, &ev, (args, app, stack), stamp, emit);
            return;
        }
        // An inlined site's exits are its caller's ordinary code, run on
        // other paths too: a hit ends the call open there only if that
        // call can still be running. One a loss or a recovered panic left
        // open ends unseen (unwound when a panic began since).
        if meta.plan.inlined_at.is_some()
            && self.correlator.still_running(&key, stamp) != Some(true)
        {
            if let Some((open, true)) = self.correlator.abandon(&key) {
                self.finish(open, End::Unwound, Vec::new(), ev.ktime_ns, emit);
            }
            self.stats.inlined_exit_passes += 1;
            return;
        }
        let (open, unwound) = self.correlator.exit(&key, stamp);
        // Deeper calls on this goroutine that a recovered panic unwound:
        // they did start, did not return, and their end was not observed.
        for u in unwound {
            self.finish(u, End::Unwound, Vec::new(), ev.ktime_ns, emit);
        }
        let Some(mut open) = open else {
            return;
        };
        self.settle_args(&mut open, Some(stamp));
        let names = open.meta.names.as_ref();
        let returns = decode(&open.meta.plan.ret, data, masks, names, &mut |t| {
            names.met(t)
        });
        let (open, returns) = match open.meta.plan.landings.clone() {
            Some(l) => match self.hold(open, returns, &ev, data, &l) {
                Some(call) => call,
                None => return self.release_unheld(emit),
            },
            None => (open, returns),
        };
        self.finish(open, End::Returned, returns, ev.ktime_ns, emit);
    }

    /// Hands the call `open` ended as `end` to `emit`, unless the probe's
    /// `when` or `when_return` says not to (then counted `filtered`).
    fn finish(
        &mut self,
        mut open: Open,
        end: End,
        returns: Vec<(String, GoValue)>,
        seen_ktime: u64,
        emit: &mut dyn FnMut(Call),
    ) {
        // Settled at its return already, if it returned.
        self.settle_args(&mut open, None);
        let returned = matches!(end, End::Returned);
        let duration = returned.then(|| seen_ktime.saturating_sub(open.ktime));
        let plan = &open.meta.plan;
        // A call that did not return cannot be judged on its results.
        let kept = !open.filtered
            && (!returned
                || keeps(
                    &plan.when_return,
                    CallValues(&open.args, &returns, duration),
                ));
        if !kept {
            self.stats.filtered += 1;
            self.per_probe
                .entry(open.meta.key.clone())
                .or_default()
                .filtered += 1;
            return;
        }
        emit(self.call(open, end, returns, seen_ktime));
    }

    fn enter(
        &mut self,
        key: CallKey,
        meta: Arc<Attachment>,
        ev: &RawEvent,
        (mut args, app, stack): Entered,
        stamp: u64,
        emit: &mut dyn FnMut(Call),
    ) {
        // Ids exist from entry on: a nested call ends, and is exported,
        // before its parent does. A restarted prologue keeps the ids it
        // got the first time (a lone-RET body is never open, so never one).
        let trace = match self.correlator.get(&key) {
            Some(restarted) if self.correlator.is_restart(&key, stamp) => restarted.trace,
            _ => self.new_trace(&key, app),
        };
        // A lone-RET body: entry and return are one instruction, and the
        // entry's values are the arguments, then the results.
        let instant = meta.plan.instant;
        let returns = match instant {
            true => args.split_off(meta.plan.entry_args.min(args.len())),
            false => Vec::new(),
        };
        let filtered = !keeps(&meta.plan.when, CallValues(&args, &[], None));
        let pending = arg_landing::Pending::of(&meta, stamp);
        let open = Open {
            meta,
            tid: ev.tid,
            goid: ev.goid,
            ktime: ev.ktime_ns,
            args,
            trace,
            filtered,
            stack,
            pending,
        };
        if instant {
            self.finish(open, End::Returned, returns, ev.ktime_ns, emit);
            return;
        }
        if open.meta.plan.entry_only() {
            self.finish(open, End::Entered, Vec::new(), ev.ktime_ns, emit);
            return;
        }
        // Calls at this frame or deeper that never returned: a panic
        // recovered by an unprobed caller unwound them.
        for u in self.correlator.enter(key, open, stamp) {
            self.finish(u, End::Unwound, Vec::new(), ev.ktime_ns, emit);
        }
    }

    /// Ids for a call entering at `key`: a child of the innermost open
    /// call on its goroutine, else of the application's span its context
    /// carried (`app`), else the root of a new trace. An application span
    /// other than the one the enclosing call hangs under was started
    /// between the two: it is the nearer parent.
    fn new_trace(&self, key: &CallKey, app: Option<AppSpan>) -> TraceIds {
        let enclosing = self
            .correlator
            .enclosing(key)
            .map(|o| (&o.trace, o.filtered));
        trace_ids(app.as_ref(), enclosing)
    }

    /// Warns once per probe version that its calls' spans could not join
    /// the application's trace, and why (they start traces of their own).
    fn join_failed(&mut self, meta: &Attachment, why: &str) {
        if self.join_warned.insert(meta.key.clone()) {
            tracing::warn!(
                probe = %meta.probe,
                "a call's span could not join the application's trace: {why}; its spans start traces of their own (later calls of this probe are not reported again)"
            );
        }
    }

    /// A call record from its entry, ended as `end` says at monotonic
    /// time `seen_ktime`: its return, or what proved it will not return.
    fn call(
        &mut self,
        open: Open,
        end: End,
        returns: Vec<(String, GoValue)>,
        seen_ktime: u64,
    ) -> Call {
        let offset = self.clock_offset;
        let wall = |k: u64| (i128::from(k) + offset).max(0) as u64;
        let error = error_message(&open.meta.plan, &returns);
        let returned = end == End::Returned;
        let counts = self.per_probe.entry(open.meta.key.clone()).or_default();
        counts.calls += 1;
        if error.is_some() || matches!(end, End::Unwound | End::Crashed) {
            counts.failed_calls += 1;
        }
        Call {
            probe: open.meta.probe.clone(),
            function: open.meta.plan.function.clone(),
            pid: open.meta.pid,
            tid: open.tid,
            goroutine: open.goid,
            start_time_unix_nano: wall(open.ktime),
            // Not returned: what proved it ended is a bound on its end.
            ended_by_unix_nano: (!returned && end != End::Entered).then(|| wall(seen_ktime)),
            duration_ns: returned.then(|| seen_ktime.saturating_sub(open.ktime)),
            panicked: matches!(end, End::Unwound | End::Crashed),
            unfinished: match end {
                End::Returned | End::Unwound | End::Entered => None,
                End::Crashed | End::ProcessEnded => Some(Unfinished::ProcessEnded),
                End::Goexit => Some(Unfinished::Goexit),
            },
            args: open.args,
            returns,
            error,
            trace: open.trace,
            origin: open.meta.origin.clone(),
            stack: open.stack,
            inlined_at: open.meta.plan.inlined_at.clone(),
        }
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
