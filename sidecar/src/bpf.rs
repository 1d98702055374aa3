//! The kernel side: loads the one BPF program, hands out recipe cookies, attaches
//! uprobes with cookies and exposes the ring buffer and counters.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::path::Path;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeLink, UProbeScope};
use aya::programs::{RawTracePoint, UProbe};
use aya::{Ebpf, EbpfLoader};

use crate::recipe::{
    RawCtxType, RawProbeCounts, RawProbeLimit, RawProbeWindow, RawRecipe, RawTypeKey,
    RawTypeRecipe, MAX_RECIPES, RECIPE_FAST, STAT_COUNT,
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gotel.bpf.o"));

/// Kernel-side failures, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// Loading the object or program failed.
    #[error("loading the BPF program failed: {why}{}", privilege_hint(.why, false))]
    Load {
        /// The loader or verifier message.
        why: String,
    },
    /// Every cookie (recipe index) is in use.
    #[error("all {MAX_RECIPES} recipes are in use (two per attached function and process); trace fewer functions or processes")]
    RecipesExhausted,
    /// Writing a map failed.
    #[error("updating BPF map {map}: {why}")]
    Map {
        /// The map.
        map: &'static str,
        /// The error.
        why: String,
    },
    /// Attaching a uprobe failed.
    #[error("attaching uprobe at {path}+{offset:#x} (pid {pid}): {why}{}", privilege_hint(.why, true))]
    Attach {
        /// Target executable.
        path: String,
        /// File offset.
        offset: u64,
        /// Process.
        pid: u32,
        /// The error.
        why: String,
    },
}

fn privilege_hint(why: &str, attach: bool) -> &'static str {
    // EPERM is privilege; at load EACCES is the verifier (it gets its own
    // log), at attach it is perf_event_open refusing (crate::privilege).
    let denied = why.contains("os error 1)") || (attach && why.contains("os error 13)"));
    if denied {
        "; gotel needs root, or CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH (and in Kubernetes a shared PID namespace)"
    } else {
        ""
    }
}

/// Counters kept by the BPF program, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KernelStats {
    /// Records dropped because this CPU's scratch buffer was in use by a
    /// preempted hit.
    pub busy: u64,
    /// Records dropped because the ring buffer was full.
    pub ringbuf_full: u64,
    /// Hits whose cookie had no recipe.
    pub no_recipe: u64,
    /// Records where some memory could not be read.
    pub faults: u64,
    /// Hits of file-wide (`from_start`) uprobes in processes outside
    /// gotel's PID namespace, not recorded.
    pub foreign: u64,
    /// Entry-only hits dropped as their call's prologue run again after
    /// `runtime.morestack`.
    pub restarted: u64,
}

/// The loaded program and its maps (except the ring buffer, which is handed
/// to the event reader).
pub struct Bpf {
    ebpf: Ebpf,
    recipes: Array<MapData, RawRecipe>,
    type_recipes: HashMap<MapData, RawTypeKey, RawTypeRecipe>,
    ctx_types: HashMap<MapData, RawTypeKey, RawCtxType>,
    stats: PerCpuArray<MapData, u64>,
    /// Records dropped per recipe (cookie).
    recipe_drops: Array<MapData, u64>,
    /// Per probe slot: what it may emit, its rate window, its counters.
    probe_limits: Array<MapData, RawProbeLimit>,
    probe_windows: Array<MapData, RawProbeWindow>,
    probe_counts: PerCpuArray<MapData, RawProbeCounts>,
    /// Free cookies, oldest-freed first, so a cookie is reused as late as
    /// possible and stale events in the ring cannot meet a new recipe.
    free: VecDeque<u32>,
}

impl Bpf {
    /// Loads and verifies the program with a ring buffer of `ring_bytes`
    /// (a power of two); a submit wakes userspace only once a quarter of
    /// it is filled, the drain timer collects the rest.
    pub fn load(ring_bytes: u32) -> Result<(Self, RingBuf<MapData>), BpfError> {
        let load = |e: &dyn std::error::Error| BpfError::Load {
            why: error_chain(e),
        };
        let wakeup_bytes = u64::from(ring_bytes / 4);
        let ask_bytes = ask_bytes(wakeup_bytes, aya::util::nr_cpus().unwrap_or(usize::MAX / 8));
        let (pidns_dev, pidns_ino) = own_pid_namespace();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("events", ring_bytes)
            .override_global("wakeup_bytes", &wakeup_bytes, true)
            .override_global("ask_bytes", &ask_bytes, true)
            .override_global("pidns_dev", &pidns_dev, true)
            .override_global("pidns_ino", &pidns_ino, true)
            .load(OBJECT)
            .map_err(|e| load(&e))?;
        let prog: &mut UProbe = ebpf
            .program_mut("gotel_probe")
            .ok_or_else(|| BpfError::Load {
                why: "program gotel_probe missing from object".into(),
            })?
            .try_into()
            .map_err(|e| load(&e))?;
        prog.load().map_err(|e| BpfError::Load {
            why: verifier_error(&e),
        })?;
        let take = |ebpf: &mut Ebpf, name: &str| {
            ebpf.take_map(name).ok_or_else(|| BpfError::Load {
                why: format!("map {name} missing from object"),
            })
        };
        let recipes = Array::try_from(take(&mut ebpf, "recipes")?).map_err(|e| load(&e))?;
        let type_recipes =
            HashMap::try_from(take(&mut ebpf, "type_recipes")?).map_err(|e| load(&e))?;
        let ctx_types = HashMap::try_from(take(&mut ebpf, "ctx_types")?).map_err(|e| load(&e))?;
        let stats = PerCpuArray::try_from(take(&mut ebpf, "stats")?).map_err(|e| load(&e))?;
        let recipe_drops =
            Array::try_from(take(&mut ebpf, "recipe_drops")?).map_err(|e| load(&e))?;
        let probe_limits =
            Array::try_from(take(&mut ebpf, "probe_limits")?).map_err(|e| load(&e))?;
        let probe_windows =
            Array::try_from(take(&mut ebpf, "probe_windows")?).map_err(|e| load(&e))?;
        let probe_counts =
            PerCpuArray::try_from(take(&mut ebpf, "probe_counts")?).map_err(|e| load(&e))?;
        let ring = RingBuf::try_from(take(&mut ebpf, "events")?).map_err(|e| load(&e))?;
        Ok((
            Bpf {
                ebpf,
                recipes,
                type_recipes,
                ctx_types,
                stats,
                recipe_drops,
                probe_limits,
                probe_windows,
                probe_counts,
                free: (0..MAX_RECIPES).collect(),
            },
            ring,
        ))
    }

    /// Stores a recipe and returns its index in the map, which is the
    /// attach cookie.
    pub fn add_recipe(&mut self, r: &RawRecipe) -> Result<u32, BpfError> {
        let mut r = *r;
        if r.fast() {
            r.flags |= RECIPE_FAST;
        }
        let cookie = self.free.pop_front().ok_or(BpfError::RecipesExhausted)?;
        // Its drops count from zero for its new owner.
        let zeroed = self.recipe_drops.set(cookie, 0, 0);
        if let Err(e) = zeroed.and_then(|()| self.recipes.set(cookie, r, 0)) {
            self.free.push_front(cookie);
            return Err(BpfError::Map {
                map: "recipes",
                why: e.to_string(),
            });
        }
        Ok(cookie)
    }

    /// Sets what probe `slot` may emit; with `fresh`, its window and
    /// counters start from zero (a slot handed to a new probe).
    pub fn set_probe(
        &mut self,
        slot: u32,
        limit: RawProbeLimit,
        fresh: bool,
    ) -> Result<(), BpfError> {
        let map = |map: &'static str| {
            move |e: aya::maps::MapError| BpfError::Map {
                map,
                why: e.to_string(),
            }
        };
        if fresh {
            self.probe_windows
                .set(slot, RawProbeWindow::default(), 0)
                .map_err(map("probe_windows"))?;
            let cpus = aya::util::nr_cpus().map_err(|(_, e)| BpfError::Map {
                map: "probe_counts",
                why: e.to_string(),
            })?;
            let zeros = aya::maps::PerCpuValues::try_from(vec![RawProbeCounts::default(); cpus])
                .map_err(|e| BpfError::Map {
                    map: "probe_counts",
                    why: e.to_string(),
                })?;
            self.probe_counts
                .set(slot, zeros, 0)
                .map_err(map("probe_counts"))?;
        }
        self.probe_limits
            .set(slot, limit, 0)
            .map_err(map("probe_limits"))
    }

    /// Probe `slot`'s counters, summed over CPUs.
    pub fn probe_counts(&self, slot: u32) -> RawProbeCounts {
        let Ok(per_cpu) = self.probe_counts.get(&slot, 0) else {
            return RawProbeCounts::default();
        };
        per_cpu
            .iter()
            .fold(RawProbeCounts::default(), |a, c| a.plus(*c))
    }

    /// Records of recipe `cookie` dropped since it was handed out.
    pub fn recipe_drops(&self, cookie: u32) -> u64 {
        self.recipe_drops.get(&cookie, 0).unwrap_or(0)
    }

    /// Releases a cookie once no uprobe uses it.
    pub fn remove_recipe(&mut self, cookie: u32) {
        // An empty recipe (goid_offset 0) makes a late hit harmless: the
        // program counts it as no_recipe and emits nothing.
        let _ = self.recipes.set(cookie, RawRecipe::default(), 0);
        self.free.push_back(cookie);
    }

    /// Installs the recipe of one dynamic type of one binary.
    pub fn add_type_recipe(&mut self, key: RawTypeKey, r: &RawTypeRecipe) -> Result<(), BpfError> {
        self.type_recipes
            .insert(key, r, 0)
            .map_err(|e| BpfError::Map {
                map: "type_recipes",
                why: e.to_string(),
            })
    }

    /// Removes a dynamic type's recipe (its binary is no longer traced).
    pub fn remove_type_recipe(&mut self, key: RawTypeKey) {
        let _ = self.type_recipes.remove(&key);
    }

    /// Installs how a context walk steps through one type of one binary.
    pub fn add_ctx_type(&mut self, key: RawTypeKey, t: &RawCtxType) -> Result<(), BpfError> {
        self.ctx_types.insert(key, t, 0).map_err(|e| BpfError::Map {
            map: "ctx_types",
            why: e.to_string(),
        })
    }

    /// Removes a context walk's step (its binary is no longer traced).
    pub fn remove_ctx_type(&mut self, key: RawTypeKey) {
        let _ = self.ctx_types.remove(&key);
    }

    /// Attaches the program at `offset` in the executable `path`, for `pid`
    /// only, with `cookie` selecting the recipe.
    pub fn attach(
        &mut self,
        path: &Path,
        offset: u64,
        pid: u32,
        cookie: u32,
    ) -> Result<UProbeLink, BpfError> {
        let err = |why: String| BpfError::Attach {
            path: path.display().to_string(),
            offset,
            pid,
            why,
        };
        let prog: &mut UProbe = self
            .ebpf
            .program_mut("gotel_probe")
            .expect("checked at load")
            .try_into()
            .expect("checked at load");
        let scope = match std::num::NonZeroU32::new(pid) {
            Some(p) => UProbeScope::OneProcess(p),
            None => UProbeScope::AllProcesses,
        };
        let point = UProbeAttachPoint {
            location: UProbeAttachLocation::AbsoluteOffset(offset),
            cookie: Some(u64::from(cookie)),
        };
        let id = prog
            .attach(point, path, scope)
            .map_err(|e| err(error_chain(&e)))?;
        prog.take_link(id).map_err(|e| err(e.to_string()))
    }

    /// Loads and attaches the exec and exit tracepoint programs and hands
    /// out the ring buffer of their records (`RawProcEvent`). An error
    /// leaves uprobes working; discovery then relies on /proc scans.
    pub fn watch_processes(&mut self) -> Result<RingBuf<MapData>, BpfError> {
        for (prog, event) in [
            ("gotel_exec", "sched_process_exec"),
            ("gotel_exit", "sched_process_exit"),
        ] {
            let fail = |why: String| BpfError::Load {
                why: format!("{prog} on raw tracepoint {event}: {why}"),
            };
            let tp: &mut RawTracePoint = self
                .ebpf
                .program_mut(prog)
                .ok_or_else(|| fail("missing from object".into()))?
                .try_into()
                .map_err(|e| fail(error_chain(&e)))?;
            tp.load().map_err(|e| fail(verifier_error(&e)))?;
            // The link lives as long as the program, i.e. as gotel.
            tp.attach(event).map_err(|e| fail(error_chain(&e)))?;
        }
        let map = self.ebpf.take_map("procs").ok_or_else(|| BpfError::Load {
            why: "map procs missing from object".into(),
        })?;
        RingBuf::try_from(map).map_err(|e| BpfError::Load {
            why: error_chain(&e),
        })
    }

    /// Sums the per-CPU counters.
    pub fn stats(&self) -> KernelStats {
        let get = |i: u32| -> u64 {
            self.stats
                .get(&i, 0)
                .map(|v| v.iter().copied().sum())
                .unwrap_or(0)
        };
        debug_assert_eq!(STAT_COUNT, 6);
        KernelStats {
            busy: get(crate::recipe::STAT_BUSY),
            ringbuf_full: get(crate::recipe::STAT_RINGBUF_FULL),
            no_recipe: get(crate::recipe::STAT_NO_RECIPE),
            faults: get(crate::recipe::STAT_FAULTS),
            foreign: get(crate::recipe::STAT_FOREIGN),
            restarted: get(crate::recipe::STAT_RESTARTED),
        }
    }

    /// The program's kernel id, for `bpftool prog show id N`.
    pub fn program_fd(&mut self) -> Option<i32> {
        let prog: &mut UProbe = self.ebpf.program_mut("gotel_probe")?.try_into().ok()?;
        prog.fd().ok().map(|fd| fd.as_fd().as_raw_fd())
    }
}

use std::os::fd::AsFd;

/// The nsfs (dev, inode) of our PID namespace, or (0, 0) in the host's,
/// where host ids are already ours and the BPF side can skip the
/// namespace translation.
fn own_pid_namespace() -> (u64, u64) {
    match crate::proc::PidNamespace::own() {
        Some(ns) if !ns.is_host() => (ns.dev, ns.ino),
        _ => (0, 0),
    }
}

/// How many bytes a CPU submits between two looks at the ring's fill
/// level: each CPU can take the ring past the wake-up level by that much
/// (plus one record) before the reader is woken, so all CPUs together at
/// most a quarter of the wake-up level, itself a third of the headroom
/// above it. Capped at 4 KiB: looking is one helper call, and at ~150-byte
/// records 4 KiB already spares all but one in 27.
fn ask_bytes(wakeup_bytes: u64, cpus: usize) -> u64 {
    (wakeup_bytes / (4 * cpus.max(1) as u64)).min(4096)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn verifier_error(e: &aya::programs::ProgramError) -> String {
    // The verifier log is long; its tail says what was rejected.
    let s = error_chain(e);
    let lines: Vec<&str> = s.lines().collect();
    if lines.len() > 30 {
        lines[lines.len() - 30..].join("\n")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::ask_bytes;

    #[test]
    fn all_cpus_together_stay_within_a_quarter_of_the_wakeup_level() {
        // The default ring (4 MiB, woken at 1 MiB) on 2 and on 256 CPUs.
        assert_eq!(ask_bytes(1 << 20, 2), 4096);
        assert_eq!(ask_bytes(1 << 20, 256), 1024);
        // A 64 KiB ring (woken at 16 KiB) on 8192 CPUs: look at every record.
        assert_eq!(ask_bytes(16 << 10, 8192), 0);
        assert_eq!(ask_bytes(1 << 20, 0), 4096);
        for (wake, cpus) in [(16u64 << 10, 64usize), (1 << 20, 3), (1 << 28, 1)] {
            assert!(ask_bytes(wake, cpus) * cpus as u64 <= wake / 4);
        }
    }
}
