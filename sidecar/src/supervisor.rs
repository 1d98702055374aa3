//! Reconciles the configured probes with the live processes: analyses each
//! new binary once, plans, attaches, detaches when a process exits, and
//! turns ring-buffer records into calls for the sink.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};
use aya::programs::uprobe::UProbeLink;
use tracing::{debug, info, warn};

use crate::bpf::{Bpf, KernelStats};
use crate::config::{Config, ProbeSpec};
use crate::correlate::{CallKey, CorrelateStats, Correlator};
use crate::decode::{decode, GoValue};
use crate::discover::{self, Identity, Process};
use crate::dynamic::{DynTypes, TypePlan};
use crate::export::{Call, Origin, Sink, TraceIds};
use crate::golang::types::TypeId;
use crate::golang::BinaryInfo;
use crate::plan::Plan;
use crate::recipe::{RawEvent, RawTypeKey, EV_NO_G, OPF_DYN, SITE_ENTRY};

/// Most open (entered, not yet returned) calls remembered at once.
pub const MAX_OPEN_CALLS: usize = 65_536;

/// What one attachment (probe × process) needs to turn events into calls.
#[derive(Debug)]
struct Attachment {
    id: u64,
    /// The analysed executable (names interfaces' dynamic types).
    bin: Arc<BinaryInfo>,
    /// Runtime minus link-time addresses in this process (PIE).
    bias: u64,
    /// The probe spec, serialised: a probe's identity across reloads.
    key: ProbeKey,
    probe: String,
    pid: u32,
    plan: Arc<Plan>,
    /// `syscall.errors` of this process, read on first use.
    errnos: std::sync::OnceLock<Option<Vec<Option<String>>>>,
    /// The process, for the OTLP resource.
    origin: Arc<Origin>,
    /// The binary's dynamic-type recipes.
    dyn_types: Arc<DynTypes>,
}

impl crate::decode::Names for Attachment {
    fn runtime_type(&self, addr: u64) -> Option<(String, Option<TypeId>)> {
        self.bin.runtime_type(addr.wrapping_sub(self.bias))
    }

    fn func_name(&self, pc: u64) -> Option<String> {
        self.bin
            .function_at(pc.wrapping_sub(self.bias))
            .map(|f| f.name.clone())
    }

    fn type_table(&self) -> Option<&crate::golang::types::TypeTable> {
        Some(&self.bin.dwarf.types)
    }

    fn type_named(&self, name: &str) -> Option<crate::golang::types::TypeId> {
        self.bin.runtime_type_named(name)
    }

    fn runtime_kind(&self, addr: u64) -> Option<(u8, u64)> {
        let r = self.bin.rtype(addr.wrapping_sub(self.bias))?;
        Some((r.kind, r.size))
    }

    fn dyn_plan(&self, addr: u64) -> Option<Arc<TypePlan>> {
        self.dyn_types.plan(addr.wrapping_sub(self.bias))
    }

    fn errno_text(&self, n: u64) -> Option<String> {
        let table = self
            .errnos
            .get_or_init(|| errno_table(&self.bin, self.pid, self.bias))
            .as_ref()?;
        // As Errno.Error(): the table's text, else "errno N".
        match usize::try_from(n).ok().and_then(|i| table.get(i)) {
            Some(Some(t)) if !t.is_empty() => Some(t.clone()),
            Some(None) => None,
            _ => Some(format!("errno {}", n as i64)),
        }
    }
}

/// The traced program's own `syscall.errors` table (what Errno.Error()
/// returns), read once from its memory: exact for its Go version and
/// platform. None when it cannot be read; None entries could not be.
fn errno_table(bin: &BinaryInfo, pid: u32, bias: u64) -> Option<Vec<Option<String>>> {
    use std::os::unix::fs::FileExt;
    let (addr, size) = bin.symbol("syscall.errors")?;
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    // At most a few hundred entries; refuse a bogus size.
    let mut headers = vec![0u8; size.min(16 * 4096) as usize];
    mem.read_exact_at(&mut headers, addr.wrapping_add(bias))
        .ok()?;
    Some(
        headers
            .chunks_exact(16)
            .map(|h| {
                let ptr = u64::from_le_bytes(h[..8].try_into().ok()?);
                let len = u64::from_le_bytes(h[8..].try_into().ok()?);
                if len == 0 {
                    return Some(String::new());
                }
                let mut b = vec![0u8; len.min(256) as usize];
                mem.read_exact_at(&mut b, ptr).ok()?;
                Some(String::from_utf8_lossy(&b).into_owned())
            })
            .collect(),
    )
}

/// The kernel objects of one attachment; dropping it detaches.
struct Attached {
    meta: Arc<Attachment>,
    slots: [u32; 2],
    _links: Vec<UProbeLink>,
}

struct Tracked {
    identity: Identity,
    /// The analysed binary, kept cached while this process lives.
    bin: BinKey,
    attached: Vec<Attached>,
}

/// An entry waiting for its return.
struct Open {
    meta: Arc<Attachment>,
    tid: u32,
    ktime: u64,
    args: Vec<(String, GoValue)>,
    trace: TraceIds,
}

/// A probe's plans in one binary (one per generic instantiation), or why
/// it cannot be planned.
type PlansOrWhy = Result<Vec<Arc<Plan>>, String>;

/// Per binary identity: the analysis (or why it failed).
type BinKey = (u64, u64, u64, i64);

/// A probe's identity: its whole spec, so that an edited probe (even a
/// renamed one) is a new probe, and the old one is detached.
type ProbeKey = String;

fn probe_key(spec: &ProbeSpec) -> ProbeKey {
    serde_json::to_string(spec).unwrap_or_default()
}

/// Counters the supervisor keeps, reported on exit and in logs.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Ring-buffer records read.
    pub records: u64,
    /// Calls written to the sink.
    pub calls: u64,
    /// Records that could not be parsed or had no live attachment.
    pub stray_records: u64,
    /// Records without a readable goroutine.
    pub no_goroutine: u64,
    /// Sink write failures.
    pub sink_errors: u64,
    /// Dynamic types whose recipe could not be installed (map full).
    pub type_recipes_failed: u64,
}

/// The running sidecar state.
pub struct Supervisor {
    cfg: Config,
    bpf: Bpf,
    sink: Box<dyn Sink>,
    bins: HashMap<BinKey, Result<Arc<BinaryInfo>, String>>,
    /// Dynamic-type recipes per analysed binary, with the binary's id.
    dyn_types: HashMap<BinKey, Arc<DynTypes>>,
    next_bin: u32,
    plans: HashMap<(BinKey, ProbeKey), PlansOrWhy>,
    procs: HashMap<u32, Tracked>,
    sites: HashMap<u32, (Arc<Attachment>, u8)>,
    failed: HashSet<(Identity, ProbeKey)>,
    waiting_since: HashMap<ProbeKey, Instant>,
    correlator: Correlator<Open>,
    next_id: u64,
    clock_offset: i128,
    /// Counters.
    pub stats: Stats,
}

impl Supervisor {
    /// A supervisor for `cfg`, writing calls to `sink`.
    pub fn new(cfg: Config, bpf: Bpf, sink: Box<dyn Sink>) -> Self {
        Supervisor {
            cfg,
            bpf,
            sink,
            bins: HashMap::new(),
            dyn_types: HashMap::new(),
            next_bin: 1,
            plans: HashMap::new(),
            procs: HashMap::new(),
            sites: HashMap::new(),
            failed: HashSet::new(),
            waiting_since: HashMap::new(),
            correlator: Correlator::new(MAX_OPEN_CALLS),
            next_id: 1,
            clock_offset: clock_offset(),
            stats: Stats::default(),
        }
    }

    /// Counters from the kernel side.
    pub fn kernel_stats(&self) -> KernelStats {
        self.bpf.stats()
    }

    /// Counters from pairing entries with returns.
    pub fn correlate_stats(&self) -> CorrelateStats {
        self.correlator.stats
    }

    /// Number of live attachments.
    pub fn attachments(&self) -> usize {
        self.procs.values().map(|t| t.attached.len()).sum()
    }

    /// Replaces the configuration: probes no longer configured are
    /// detached now; new ones attach on the next [`Supervisor::reconcile`].
    pub fn set_config(&mut self, cfg: Config) {
        let keep: HashSet<ProbeKey> = cfg.probes.iter().map(probe_key).collect();
        let mut freed = Vec::new();
        for (pid, t) in self.procs.iter_mut() {
            t.attached.retain(|a| {
                let k = keep.contains(&a.meta.key);
                if !k {
                    info!(probe = %a.meta.probe, pid = *pid, "probe removed from config; detached");
                    freed.extend(a.slots);
                }
                k
            });
        }
        for slot in freed {
            self.sites.remove(&slot);
            self.bpf.remove_recipe(slot);
        }
        self.procs.retain(|_, t| !t.attached.is_empty());
        self.plans.retain(|(_, k), _| keep.contains(k));
        self.failed.retain(|(_, k)| keep.contains(k));
        self.waiting_since.retain(|k, _| keep.contains(k));
        self.cfg = cfg;
    }

    /// Brings attachments in line with the processes running now. `ring`
    /// is drained before anything is detached: once a process is seen gone
    /// or exec'd, all records of its old image are already in the ring, and
    /// they must meet their recipes before the slots are freed.
    pub fn reconcile(&mut self, ring: &mut RingBuf<MapData>) {
        // Suspend/resume or a clock step moves wall time against BPF's
        // monotonic clock.
        self.clock_offset = clock_offset();
        let live: HashMap<u32, Process> =
            discover::scan().into_iter().map(|p| (p.pid, p)).collect();
        let gone: Vec<u32> = self
            .procs
            .iter()
            .filter(|(pid, t)| {
                let now = live.get(pid).map(|p| p.identity());
                if now != Some(t.identity) {
                    debug!(pid = **pid, was = ?t.identity, now = ?now, "process gone or changed");
                }
                now != Some(t.identity)
            })
            .map(|(pid, _)| *pid)
            .collect();
        if !gone.is_empty() {
            self.drain(ring);
        }
        for pid in gone {
            self.detach_process(pid);
        }
        self.failed
            .retain(|(id, _)| live.get(&id.0).is_some_and(|p| p.identity() == *id));

        let probes = self.cfg.probes.clone();
        for spec in &probes {
            let i = probe_key(spec);
            let mut matched = false;
            for p in live.values().filter(|p| discover::matches(&spec.target, p)) {
                matched = true;
                let done = self
                    .procs
                    .get(&p.pid)
                    .is_some_and(|t| t.attached.iter().any(|a| a.meta.key == i))
                    || self.failed.contains(&(p.identity(), i.clone()));
                if !done {
                    self.attach(i.clone(), spec, p);
                }
            }
            if matched {
                self.waiting_since.remove(&i);
            } else {
                let now = Instant::now();
                let since = self.waiting_since.entry(i).or_insert(now);
                if *since == now || now.duration_since(*since) >= Duration::from_secs(30) {
                    info!(probe = spec.display_name(), selector = %spec.target, "waiting for a matching process");
                    *since = now;
                }
            }
        }
        // A binary's analysis holds the whole file and its DWARF: keep it
        // only while a traced process runs it (a crash-looping container
        // gets a new overlay device, hence a new key, at every restart).
        let in_use: HashSet<BinKey> = self.procs.values().map(|t| t.bin).collect();
        self.bins.retain(|k, _| in_use.contains(k));
        self.plans.retain(|(k, _), _| in_use.contains(k));
        let bpf = &mut self.bpf;
        self.dyn_types.retain(|k, d| {
            let keep = in_use.contains(k);
            if !keep {
                for rtype in d.installed() {
                    bpf.remove_type_recipe(RawTypeKey {
                        bin: d.bin,
                        _pad: 0,
                        rtype,
                    });
                }
            }
            keep
        });
    }

    fn binary(&mut self, p: &Process) -> Result<(BinKey, Arc<BinaryInfo>), String> {
        use std::os::unix::fs::MetadataExt;
        let path = p.exe_path();
        let md =
            std::fs::metadata(&path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        let key = (md.dev(), md.ino(), md.size(), md.mtime());
        let entry = self.bins.entry(key).or_insert_with(|| {
            let t = Instant::now();
            let r = BinaryInfo::open(&path)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if let Ok(b) = &r {
                debug!(
                    exe = %p.exe.display(),
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

    fn attach(&mut self, key: ProbeKey, spec: &ProbeSpec, p: &Process) {
        let fail = |s: &mut Self, why: String| {
            warn!(probe = spec.display_name(), pid = p.pid, exe = %p.exe.display(), "cannot attach: {why}");
            s.failed.insert((p.identity(), key.clone()));
        };
        let (bin_key, bin) = match self.binary(p) {
            Ok(b) => b,
            Err(e) => return fail(self, e),
        };
        let plans = self
            .plans
            .entry((bin_key, key.clone()))
            .or_insert_with(|| match crate::plan::plan(&bin, spec) {
                Ok(v) => Ok(v.into_iter().map(Arc::new).collect()),
                Err(e) => Err(e.to_string()),
            })
            .clone();
        let plans = match plans {
            Ok(p) => p,
            Err(e) => return fail(self, e),
        };
        let dyn_types = self.dyn_types_of(bin_key);
        // Error and address types' recipes, once a probe of the binary
        // captures an interface at all.
        let captures_interfaces = plans.iter().any(|p| {
            [&p.entry.recipe, &p.ret.recipe].iter().any(|r| {
                r.ops[..usize::from(r.n_ops)]
                    .iter()
                    .any(|o| o.flags & OPF_DYN != 0)
            })
        });
        if captures_interfaces && dyn_types.first_prewarm() {
            self.prewarm(&dyn_types, &bin);
        }
        // One description of the process, shared by all its instantiations.
        let origin = Arc::new(Origin::of_process(
            p.pid,
            p.start_time,
            p.exe.clone(),
            bin.go_version.clone(),
            spec.service_name.clone(),
            crate::otlp::resource::DOWNWARD_API_ENV,
        ));
        // A generic function attaches once per shape instantiation.
        for plan in plans {
            for w in &plan.warnings {
                warn!(probe = spec.display_name(), pid = p.pid, "{w}");
            }
            let meta = Arc::new(Attachment {
                id: self.next_id,
                bias: bin.load_bias(p.pid, &p.exe).unwrap_or(0),
                bin: bin.clone(),
                key: key.clone(),
                probe: spec.display_name().to_string(),
                pid: p.pid,
                plan: plan.clone(),
                errnos: std::sync::OnceLock::new(),
                origin: origin.clone(),
                dyn_types: dyn_types.clone(),
            });
            self.next_id += 1;
            match self.attach_sites(&meta, p) {
                Ok(attached) => {
                    info!(
                        probe = %meta.probe,
                        function = %plan.function,
                        pid = p.pid,
                        ret_sites = plan.ret_offsets.len(),
                        "attached"
                    );
                    for (site, slot) in [
                        (crate::recipe::SITE_ENTRY, attached.slots[0]),
                        (crate::recipe::SITE_RETURN, attached.slots[1]),
                    ] {
                        self.sites.insert(slot, (meta.clone(), site));
                    }
                    self.procs
                        .entry(p.pid)
                        .or_insert_with(|| Tracked {
                            identity: p.identity(),
                            bin: bin_key,
                            attached: Vec::new(),
                        })
                        .attached
                        .push(attached);
                }
                Err(e) => fail(self, e),
            }
        }
    }

    /// The dynamic-type registry of a binary.
    fn dyn_types_of(&mut self, key: BinKey) -> Arc<DynTypes> {
        if let Some(d) = self.dyn_types.get(&key) {
            return d.clone();
        }
        let d = Arc::new(DynTypes::new(self.next_bin));
        self.next_bin = self.next_bin.wrapping_add(1).max(1);
        self.dyn_types.insert(key, d.clone());
        d
    }

    /// Installs the recipes of the binary's error and address types.
    fn prewarm(&mut self, d: &DynTypes, bin: &BinaryInfo) {
        let t = Instant::now();
        let likely = crate::dynamic::likely_types(bin);
        for (rtype, id) in &likely {
            self.install_type(d, bin, *rtype, Some(*id));
        }
        debug!(
            types = likely.len(),
            ms = t.elapsed().as_millis() as u64,
            "installed the recipes of error and address types"
        );
    }

    /// Plans and installs the recipe of the dynamic type at link-time
    /// address `rtype`; remembers when there is none to install.
    fn install_type(&mut self, d: &DynTypes, bin: &BinaryInfo, rtype: u64, id: Option<TypeId>) {
        let Some(id) = id.or_else(|| bin.runtime_type(rtype).and_then(|(_, id)| id)) else {
            d.set(rtype, None);
            return;
        };
        // Strings inside dynamic values: as long as any probe shows them.
        let max = self
            .cfg
            .probes
            .iter()
            .map(|p| p.max_string_len)
            .max()
            .unwrap_or(256)
            .min(1024);
        let plan = crate::dynamic::plan_type(&bin.dwarf.types, id, max).map(Arc::new);
        if let Some(p) = &plan {
            let key = RawTypeKey {
                bin: d.bin,
                _pad: 0,
                rtype,
            };
            if let Err(e) = self.bpf.add_type_recipe(key, &p.recipe) {
                // Not remembered: retried when a record shows it again
                // (another binary's recipes may have been removed since).
                self.stats.type_recipes_failed += 1;
                debug!("installing a dynamic type's recipe: {e}");
                return;
            }
        }
        d.set(rtype, plan);
    }

    /// Installs recipes for the dynamic types records showed without one.
    fn install_wanted(&mut self) {
        let wanted: Vec<(BinKey, Arc<DynTypes>, Vec<u64>)> = self
            .dyn_types
            .iter()
            .map(|(k, d)| (*k, d.clone(), d.take_wanted()))
            .filter(|(_, _, w)| !w.is_empty())
            .collect();
        for (key, d, types) in wanted {
            let Some(Ok(bin)) = self.bins.get(&key).cloned() else {
                continue;
            };
            for rtype in types {
                self.install_type(&d, &bin, rtype, None);
            }
        }
    }

    fn attach_sites(&mut self, meta: &Arc<Attachment>, p: &Process) -> Result<Attached, String> {
        let plan = &meta.plan;
        // Dynamic types are keyed by binary and link-time address.
        let with_bin = |r: &crate::recipe::RawRecipe| crate::recipe::RawRecipe {
            bin: meta.dyn_types.bin,
            bias: meta.bias,
            ..*r
        };
        let entry = self
            .bpf
            .add_recipe(&with_bin(&plan.entry.recipe))
            .map_err(|e| e.to_string())?;
        let ret = match self.bpf.add_recipe(&with_bin(&plan.ret.recipe)) {
            Ok(s) => s,
            Err(e) => {
                self.bpf.remove_recipe(entry);
                return Err(e.to_string());
            }
        };
        let path = p.exe_path();
        let mut links = Vec::with_capacity(1 + plan.ret_offsets.len());
        let sites = std::iter::once((plan.entry_offset, entry))
            .chain(plan.ret_offsets.iter().map(|&o| (o, ret)));
        for (offset, slot) in sites {
            match self.bpf.attach(&path, offset, p.pid, slot) {
                Ok(l) => links.push(l),
                Err(e) => {
                    drop(links);
                    self.bpf.remove_recipe(entry);
                    self.bpf.remove_recipe(ret);
                    return Err(e.to_string());
                }
            }
        }
        Ok(Attached {
            meta: meta.clone(),
            slots: [entry, ret],
            _links: links,
        })
    }

    fn detach_process(&mut self, pid: u32) {
        let Some(t) = self.procs.remove(&pid) else {
            return;
        };
        for a in t.attached {
            info!(probe = %a.meta.probe, pid, "process exited or replaced by exec; detached");
            for slot in a.slots {
                self.sites.remove(&slot);
                self.bpf.remove_recipe(slot);
            }
        }
        self.correlator.forget_pid(pid);
    }

    /// Reads every record currently in the ring buffer.
    pub fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        let mut n = 0u64;
        while let Some(item) = ring.next() {
            self.handle(&item);
            n += 1;
        }
        if n > 0 {
            self.install_wanted();
            if let Err(e) = self.sink.flush() {
                self.stats.sink_errors += 1;
                warn!("flushing output: {e}");
            }
        }
    }

    fn handle(&mut self, record: &[u8]) {
        self.stats.records += 1;
        let Some((ev, data)) = RawEvent::parse(record) else {
            self.stats.stray_records += 1;
            return;
        };
        let Some((meta, site)) = self.sites.get(&ev.cookie).map(|(m, s)| (m.clone(), *s)) else {
            self.stats.stray_records += 1;
            return;
        };
        // The cookie names the process; ev.pid may be a host id when the
        // target sits in a PID namespace nested below ours.
        if site != ev.site {
            self.stats.stray_records += 1;
            return;
        }
        if ev.flags & EV_NO_G != 0 {
            // A lost record too: it moves the loss stamp.
            self.stats.no_goroutine += 1;
            return;
        }
        // Records lost so far, in the kernel and here.
        let stamp = ev.drop_seq + self.stats.no_goroutine;
        let key = CallKey {
            pid: meta.pid,
            goid: ev.goid,
            frame: ev.frame,
            attachment: meta.id,
        };
        if site == SITE_ENTRY {
            let mut args = decode(
                &meta.plan.entry,
                data,
                (ev.fault_mask, ev.nil_mask),
                meta.as_ref(),
                &mut |rtype: u64| meta.dyn_types.want(rtype.wrapping_sub(meta.bias)),
            );
            if meta.plan.instant {
                // A lone-RET body: entry and return are one instruction.
                let returns = args.split_off(meta.plan.entry_args.min(args.len()));
                let trace = self.new_trace(&key);
                let open = Open {
                    meta,
                    tid: ev.tid,
                    ktime: ev.ktime_ns,
                    args,
                    trace,
                };
                let call = self.call(open, ev.goid, Some(0), returns, ev.ktime_ns);
                self.emit(&call);
                return;
            }
            // Ids exist from entry on: a nested call ends, and is exported,
            // before its parent does.
            // A restarted prologue keeps the ids it got the first time.
            let trace = match self.correlator.get(&key) {
                Some(restarted) if self.correlator.is_restart(&key) => restarted.trace,
                _ => self.new_trace(&key),
            };
            let unwound = self.correlator.enter(
                key,
                Open {
                    meta,
                    tid: ev.tid,
                    ktime: ev.ktime_ns,
                    args,
                    trace,
                },
                stamp,
            );
            // Calls at this frame or deeper that never returned: a panic
            // recovered by an unprobed caller unwound them.
            for u in unwound {
                let call = self.call(u, ev.goid, None, Vec::new(), ev.ktime_ns);
                self.emit(&call);
            }
            return;
        }
        let (open, unwound) = self.correlator.exit(&key, stamp);
        // Deeper calls on this goroutine that a recovered panic unwound:
        // they did start, did not return, and their end was not observed.
        for u in unwound {
            let call = self.call(u, ev.goid, None, Vec::new(), ev.ktime_ns);
            self.emit(&call);
        }
        let Some(open) = open else {
            return;
        };
        let returns = decode(
            &open.meta.plan.ret,
            data,
            (ev.fault_mask, ev.nil_mask),
            open.meta.as_ref(),
            &mut |rtype: u64| open.meta.dyn_types.want(rtype.wrapping_sub(open.meta.bias)),
        );
        let duration = ev.ktime_ns.saturating_sub(open.ktime);
        let call = self.call(open, ev.goid, Some(duration), returns, ev.ktime_ns);
        self.emit(&call);
    }

    /// Ids for a call entering at `key`: a child of the innermost open
    /// call on its goroutine, else the root of a new trace.
    fn new_trace(&self, key: &CallKey) -> TraceIds {
        match self.correlator.enclosing(key) {
            Some(parent) => TraceIds::child_of(&parent.trace),
            None => TraceIds::root(),
        }
    }

    /// A call record from its entry; `duration` None: it never returned.
    fn call(
        &self,
        open: Open,
        goroutine: u64,
        duration: Option<u64>,
        returns: Vec<(String, GoValue)>,
        seen_ktime: u64,
    ) -> Call {
        let wall = |k: u64| (i128::from(k) + self.clock_offset).max(0) as u64;
        // Results decode in the plan's order: a non-nil `error` is a failure.
        let error =
            open.meta
                .plan
                .ret
                .values
                .iter()
                .zip(&returns)
                .find_map(|(v, (_, r))| match r {
                    _ if v.ty != "error" => None,
                    GoValue::Str { text, .. } => Some(text.clone()),
                    // Not nil, message not decoded: its type and value say what failed.
                    GoValue::Interface(what) => Some(what.clone()),
                    GoValue::Dynamic { .. } => Some(r.to_string()),
                    _ => None,
                });
        Call {
            probe: open.meta.probe.clone(),
            function: open.meta.plan.function.clone(),
            pid: open.meta.pid,
            tid: open.tid,
            goroutine,
            start_time_unix_nano: wall(open.ktime),
            // Unwound: the record that proved it is a bound on its end.
            ended_by_unix_nano: duration.is_none().then(|| wall(seen_ktime)),
            duration_ns: duration,
            panicked: duration.is_none(),
            args: open.args,
            returns,
            error,
            trace: open.trace,
            origin: open.meta.origin.clone(),
        }
    }

    fn emit(&mut self, call: &Call) {
        self.stats.calls += 1;
        if let Err(e) = self.sink.write(call) {
            self.stats.sink_errors += 1;
            if self.stats.sink_errors == 1 {
                warn!("writing output: {e}");
            }
        }
    }

    /// Flushes the sink (on shutdown).
    pub fn flush(&mut self) {
        let _ = self.sink.flush();
    }
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC in ns: BPF timestamps are monotonic.
fn clock_offset() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec we own.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    // Bracket the realtime read to halve the error.
    let m1 = now(libc::CLOCK_MONOTONIC);
    let r = now(libc::CLOCK_REALTIME);
    let m2 = now(libc::CLOCK_MONOTONIC);
    r - (m1 + m2) / 2
}
