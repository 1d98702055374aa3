//! Per-probe limits in the kernel and the breaker above them.
//!
//! Each probe (and each kept previous version of an edited one) has a slot
//! in the BPF program's per-probe maps: what it may emit (`sample`,
//! `rate_limit`, enforced at its entry before anything is copied) and its
//! counters (hits, calls sampled out or rate-limited). Sampling and rate
//! limits save the copy, not the trap: every hit still stops the traced
//! thread. The breaker bounds that cost: a probe hit more than
//! `max_hits_per_second` over a full second is detached everywhere, and
//! attached again after its cool-down, which doubles while it keeps
//! tripping (10 minutes at most).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::kernel::Kernel;
use super::pipeline::ProbeKey;
use super::{probe_key, AttachError, Supervisor};
use crate::config::{Config, ProbeSpec};
use crate::recipe::{RawProbeCounts, RawProbeLimit, MAX_PROBES};

/// The longest cool-down, however often a probe trips (config refuses a
/// longer one).
pub const MAX_COOLDOWN: Duration = crate::config::MAX_BREAKER_COOLDOWN;

/// Slot numbers of probes, and the counters of slots given back.
#[derive(Default)]
pub struct Slots {
    by_probe: HashMap<ProbeKey, u32>,
    /// Slots given back, reused oldest first.
    free: std::collections::VecDeque<u32>,
    /// The next never-used slot.
    next: u32,
    /// Counters of released slots: totals never go down.
    pub retired: RawProbeCounts,
}

impl Slots {
    /// Probe `key`'s slot, if it has one.
    pub fn of(&self, key: &ProbeKey) -> Option<u32> {
        self.by_probe.get(key).copied()
    }

    /// Every probe and its slot.
    pub fn iter(&self) -> impl Iterator<Item = (&ProbeKey, &u32)> {
        self.by_probe.iter()
    }

    /// Slots with every one taken by nothing: for tests of running out.
    #[cfg(test)]
    pub fn all_taken() -> Self {
        Slots {
            next: MAX_PROBES - 1,
            ..Default::default()
        }
    }

    /// A slot for `key`: (slot, newly taken).
    fn take(&mut self, key: &ProbeKey) -> Option<(u32, bool)> {
        if let Some(s) = self.by_probe.get(key) {
            return Some((*s, false));
        }
        let slot = match self.free.pop_front() {
            Some(s) => s,
            None if self.next + 1 < MAX_PROBES => {
                self.next += 1;
                self.next
            }
            None => return None,
        };
        self.by_probe.insert(key.clone(), slot);
        Some((slot, true))
    }
}

/// One probe's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    /// Hits counted at each check of the last second or so, and when.
    samples: std::collections::VecDeque<(u64, Instant)>,
    /// Detached until then.
    open_until: Option<Instant>,
    /// Attached again then, after a trip.
    closed_at: Option<Instant>,
    /// The current cool-down.
    cooldown: Duration,
    /// Times it tripped.
    pub trips: u64,
    /// The slots its hits were summed over (the probe's, and a previous
    /// version's while that stays attached): when they change, the sum
    /// jumps, and the samples start over.
    slots: Vec<u32>,
}

/// What `/probes` shows of a breaker.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BreakerStatus {
    /// Detached by the breaker now.
    pub open: bool,
    /// Milliseconds until it is attached again (when open).
    pub reattach_in_ms: u64,
    /// Times it tripped since the probe was configured (across its edits).
    pub trips: u64,
}

/// What the BPF program is told of a probe.
fn limit_of(spec: &ProbeSpec) -> RawProbeLimit {
    RawProbeLimit {
        rate: spec.rate_limit.unwrap_or(0),
        // Kept below sample × 2³² (a fraction of 1 keeps all: 0).
        sample: match spec.sample {
            Some(s) if s < 1.0 => {
                ((s * 4_294_967_296.0) as u64).clamp(1, u64::from(u32::MAX)) as u32
            }
            _ => 0,
        },
    }
}

impl<K: Kernel> Supervisor<K> {
    /// Gives each configured probe (and kept previous version) a slot with
    /// its limits in the kernel, and takes back the slots of the others.
    pub(super) fn sync_slots(&mut self) {
        let wanted: HashMap<ProbeKey, &ProbeSpec> =
            self.cfg.probes.iter().map(|p| (probe_key(p), p)).collect();
        // A previous version kept attached keeps its slot and limits.
        let kept = |k: &ProbeKey| wanted.contains_key(k) || self.superseded.contains_key(k);
        let gone: Vec<(ProbeKey, u32)> = self
            .slots
            .by_probe
            .iter()
            .filter(|(k, _)| !kept(k))
            .map(|(k, s)| (k.clone(), *s))
            .collect();
        for (key, slot) in gone {
            let c = self.kernel.probe_counts(slot);
            self.slots.retired = self.slots.retired.plus(c);
            let _ = self.kernel.set_probe(slot, RawProbeLimit::default(), true);
            self.slots.by_probe.remove(&key);
            self.slots.free.push_back(slot);
            self.breakers.remove(&key);
        }
        for (key, spec) in wanted {
            let Some((slot, fresh)) = self.slots.take(&key) else {
                warn!(
                    probe = spec.display_name(),
                    "no probe slot left: it is not attached until one is free"
                );
                continue;
            };
            if let Err(e) = self.kernel.set_probe(slot, limit_of(spec), fresh) {
                warn!(probe = spec.display_name(), "cannot set its limits: {e}");
            }
            // Refused for want of a slot before: tried again now.
            if fresh {
                let no_slot = AttachError::NoSlot.to_string();
                self.failed
                    .retain(|(_, k), f| *k != key || f.error != no_slot);
            }
        }
    }

    /// Hands each edited probe's breaker (`versions`: previous key, new key)
    /// to its new version, before `cfg` replaces the configuration. An edit
    /// does not make a hot function cheaper to trap: a tripped probe stays
    /// detached for the rest of its cool-down, and its back-off and trips
    /// go on. A version on another function, or with other breaker
    /// settings (the user re-tuned it), starts afresh.
    pub(super) fn carry_breakers(&mut self, versions: &[(ProbeKey, ProbeKey)], cfg: &Config) {
        if versions.is_empty() {
            return;
        }
        // Keys are serialized specs: made once per config, not per edit.
        fn by_key(c: &Config) -> HashMap<ProbeKey, &ProbeSpec> {
            c.probes.iter().map(|p| (probe_key(p), p)).collect()
        }
        let (was, is) = (by_key(&self.cfg), by_key(cfg));
        for (old, new) in versions {
            let Some(b) = self.breakers.remove(old) else {
                continue;
            };
            let (Some(before), Some(after)) = (was.get(old), is.get(new)) else {
                continue;
            };
            let settings = |p: &ProbeSpec, c: &Config| {
                (
                    p.max_hits_per_second(&c.defaults),
                    p.breaker_cooldown(&c.defaults),
                )
            };
            if before.function != after.function
                || settings(before, &self.cfg) != settings(after, cfg)
            {
                if b.open_until.is_some() {
                    info!(
                        probe = after.display_name(),
                        "breaker: the edit changed the function or the breaker's settings; attaching again now"
                    );
                }
                continue;
            }
            // Its hits are summed over other slots from now on.
            let b = Breaker {
                samples: Default::default(),
                slots: Vec::new(),
                ..b
            };
            self.breakers.insert(new.clone(), b);
        }
    }

    /// Reads each probe's hit counter (a few times a second) and trips or
    /// closes breakers.
    pub fn check_breakers(&mut self) {
        let now = Instant::now();
        let probes = self.cfg.probes.clone();
        for spec in &probes {
            let key = probe_key(spec);
            // An edited probe's previous version, still attached where the
            // new one is not (yet, or cannot be), is the same probe to the
            // app: their hits count together, and a trip detaches both.
            let previous: Vec<ProbeKey> = self
                .superseded
                .iter()
                .filter(|(_, new)| **new == key)
                .map(|(old, _)| old.clone())
                .collect();
            let slots: Vec<u32> = std::iter::once(&key)
                .chain(&previous)
                .filter_map(|k| self.slots.of(k))
                .collect();
            if slots.is_empty() {
                continue;
            }
            let hits: u64 = slots
                .iter()
                .map(|&s| self.kernel.probe_counts(s).hits)
                .sum();
            let base = spec.breaker_cooldown(&self.cfg.defaults);
            let b = self.breakers.entry(key.clone()).or_insert(Breaker {
                samples: Default::default(),
                open_until: None,
                closed_at: None,
                cooldown: base,
                trips: 0,
                slots: Vec::new(),
            });
            if b.slots != slots {
                b.slots = slots;
                b.samples.clear();
            }
            // The rate over the last second, however often this runs.
            b.samples.push_back((hits, now));
            while b.samples.len() > 2
                && now.duration_since(b.samples[1].1) >= Duration::from_secs(1)
            {
                b.samples.pop_front();
            }
            if let Some(until) = b.open_until {
                if now >= until {
                    b.open_until = None;
                    b.closed_at = Some(now);
                    b.samples.clear();
                    info!(
                        probe = spec.display_name(),
                        "breaker: cool-down over; attaching again"
                    );
                }
                continue;
            }
            let max = spec.max_hits_per_second(&self.cfg.defaults);
            let (before, then) = b.samples[0];
            let secs = now.duration_since(then).as_secs_f64();
            // A full second, so that one burst does not trip it.
            if max == 0 || secs < 0.95 {
                continue;
            }
            let rate = hits.saturating_sub(before) as f64 / secs;
            if rate <= max as f64 {
                continue;
            }
            b.samples.clear();
            // Tripping again soon after the last cool-down: twice as long.
            b.cooldown = match b.closed_at {
                Some(c) if now.duration_since(c) < b.cooldown * 2 => {
                    (b.cooldown * 2).min(MAX_COOLDOWN)
                }
                _ => base,
            };
            b.trips += 1;
            b.open_until = Some(now + b.cooldown);
            let cooldown = b.cooldown;
            self.breaker_trips += 1;
            warn!(
                probe = spec.display_name(),
                hits_per_second = rate as u64,
                max_hits_per_second = max,
                cooldown_s = cooldown.as_secs(),
                "breaker: the probe is hit too often and costs the app a trap per hit; detached everywhere until the cool-down is over (raise max_hits_per_second, or probe a less hot function)"
            );
            self.detach_everywhere(&key);
            for old in &previous {
                self.detach_everywhere(old);
            }
        }
    }

    /// Whether probe `key`'s breaker keeps it detached: until
    /// [`Supervisor::check_breakers`] closes it, after the cool-down.
    pub(super) fn breaker_open(&self, key: &ProbeKey) -> bool {
        self.breakers
            .get(key)
            .is_some_and(|b| b.open_until.is_some())
    }

    /// Probe `key`'s breaker, for `/probes`.
    pub(super) fn breaker_status(&self, key: &ProbeKey) -> BreakerStatus {
        let Some(b) = self.breakers.get(key) else {
            return BreakerStatus::default();
        };
        let left = b
            .open_until
            .map(|t| t.saturating_duration_since(Instant::now()));
        BreakerStatus {
            open: left.is_some_and(|l| !l.is_zero()),
            reattach_in_ms: left.map_or(0, |l| l.as_millis() as u64),
            trips: b.trips,
        }
    }

    /// Detaches probe `key` from every process and file; its open calls
    /// are counted unobserved.
    fn detach_everywhere(&mut self, key: &ProbeKey) {
        for pid in self.registry.pids_of(key) {
            self.registry
                .detach_probe(&mut self.kernel, &mut self.pipeline, pid, key);
        }
        self.registry
            .detach_file_probe(&mut self.kernel, &mut self.pipeline, key);
    }
}
