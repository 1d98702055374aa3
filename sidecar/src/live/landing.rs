//! Calls waiting for their float results' landing records.
//!
//! A float result in XMM is read after the call returned, at a landing
//! site in its caller (`golang::landing`), so its record comes after the
//! return record. The return site reads the return address: a call that
//! returned to a direct call site with landings is held here until its
//! landing records arrive (same process, goroutine and attachment; the
//! caller's frame is the RET's frame − 8, SP having popped the return
//! address), or until another record of its goroutine, or a bounded wait,
//! proves none is coming. Every other call leaves at once, its float
//! results unavailable with the reason of the call site it returned to.

use std::collections::HashMap;

use super::{End, Open, Pipeline};
use crate::decode::{decode, word, GoValue};
use crate::export::Call;
use crate::plan::Landings;
use crate::recipe::RawEvent;

/// Calls held at once at most; the oldest leaves first.
pub(super) const MAX_HELD: usize = 4096;
/// How long a call may wait for its landing records (monotonic ns) once
/// the ring has been read to empty: the landing runs a few instructions
/// after the RET, so its record is in the ring by then unless the thread
/// was descheduled in between.
pub(super) const HOLD_NS: u64 = 20_000_000;

/// A returned call whose landing records are due.
pub(super) struct Waiting {
    open: Open,
    returns: Vec<(String, GoValue)>,
    /// The return record's time and frame.
    ktime: u64,
    frame: u64,
    /// Records lost before the return record (its loss stamp): a landing
    /// record after a loss may be another call's (this call's was lost).
    stamp: u64,
    /// Results (indices in `returns`) still to come, each with what it
    /// shows if its record does not.
    need: Vec<(usize, String)>,
}

impl Waiting {
    /// Its attachment.
    pub(super) fn id(&self) -> u64 {
        self.open.meta.id
    }
}

/// Counters of the landing records and the calls waiting for them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LandingStats {
    /// Float results read at a landing site.
    pub landed: u64,
    /// Calls released without (all) their landing records.
    pub missed: u64,
    /// Landing records with no call waiting for them (a landing site also
    /// reached from elsewhere, or a call released early).
    pub unmatched: u64,
    /// Float arguments read at a landing site in the callee.
    pub args_landed: u64,
    /// Calls delivered with some float argument their callee's landing
    /// site did not read (their path kept it in XMM, or the record was lost).
    pub args_missed: u64,
}

impl Pipeline {
    /// A return of a probe reading float results at landing sites: held
    /// when its call site has some, else handed back with each float
    /// result's reason for that call site.
    pub(super) fn hold(
        &mut self,
        open: Open,
        mut returns: Vec<(String, GoValue)>,
        ev: &RawEvent,
        data: &[u8],
        l: &Landings,
    ) -> Option<(Open, Vec<(String, GoValue)>)> {
        let names = open.meta.names.as_ref();
        let masks = (ev.fault_mask, ev.nil_mask);
        let ret = word(&open.meta.plan.ret, data, masks, names, l.ret_addr_op)
            .map(|a| names.link_time(a));
        let mut need = Vec::new();
        match ret.and_then(|r| l.calls.get(&r)) {
            Some(site) => {
                for (i, why) in site {
                    match why {
                        Ok(()) => need.push((*i, unread(&returns, *i))),
                        Err(why) => set(&mut returns, *i, GoValue::Unavailable(why.clone())),
                    }
                }
            }
            None => {
                for (i, why) in &l.floats {
                    set(&mut returns, *i, GoValue::Unavailable(why.clone()));
                }
            }
        }
        if need.is_empty() {
            return Some((open, returns));
        }
        if self.held.len() >= MAX_HELD {
            let oldest = self
                .held
                .iter()
                .min_by_key(|(_, ws)| ws.iter().map(|w| w.ktime).min())
                .map(|(k, _)| *k);
            if let Some(ws) = oldest.and_then(|k| self.held.remove(&k)) {
                self.unheld.extend(ws);
            }
        }
        let key = (open.meta.pid, open.goid);
        let w = Waiting {
            open,
            returns,
            ktime: ev.ktime_ns,
            frame: ev.frame,
            stamp: self.stamp(ev),
            need,
        };
        // Another probe on the same function (or the other version of an
        // edited one) holds its own call of this RET beside it.
        let ws = self.held.entry(key).or_default();
        if let Some(i) = ws.iter().position(|x| x.open.meta.id == w.open.meta.id) {
            self.unheld.push(ws.swap_remove(i));
        }
        ws.push(w);
        None
    }

    /// A landing record (cookie routed to landing site `index`): its values
    /// go to the call held on its goroutine, which leaves once complete.
    pub(super) fn land(
        &mut self,
        meta: &super::Attachment,
        index: usize,
        ev: &RawEvent,
        data: &[u8],
        emit: &mut dyn FnMut(Call),
    ) {
        let key = (meta.pid, ev.goid);
        let stamp = self.stamp(ev);
        let ours = self.held.get(&key).and_then(|ws| {
            ws.iter().position(|w| {
                w.open.meta.id == meta.id && w.frame.wrapping_sub(8) == ev.frame && w.stamp == stamp
            })
        });
        let (Some(site), Some(at)) = (
            meta.plan.landings.as_ref().and_then(|l| l.sites.get(index)),
            ours,
        ) else {
            self.landing.unmatched += 1;
            return;
        };
        let ws = self.held.get_mut(&key).expect("checked");
        let mut w = ws.swap_remove(at);
        if ws.is_empty() {
            self.held.remove(&key);
        }
        let names = meta.names.as_ref();
        let masks = (ev.fault_mask, ev.nil_mask);
        let values = decode(&site.site, data, masks, names, &mut |_| false);
        for (&i, (_, v)) in site.results.iter().zip(values) {
            if let Some(n) = w.need.iter().position(|(r, _)| *r == i) {
                w.need.swap_remove(n);
                set(&mut w.returns, i, v);
                self.landing.landed += 1;
            }
        }
        match w.need.is_empty() {
            true => self.finish(w.open, End::Returned, w.returns, w.ktime, emit),
            false => self.held.entry(key).or_default().push(w),
        }
    }

    /// Releases the calls held on goroutine `goid` of `pid` (another record
    /// of it came first: no landing record is coming), and those pushed
    /// out by newer ones. A return at a held call's frame (`ret_frame`) is
    /// the same RET seen by another probe: that call waits on.
    pub(super) fn release_goroutine(
        &mut self,
        pid: u32,
        goid: u64,
        ret_frame: Option<u64>,
        emit: &mut dyn FnMut(Call),
    ) {
        if let Some(ws) = self.held.remove(&(pid, goid)) {
            let (wait, go): (Vec<Waiting>, Vec<Waiting>) =
                ws.into_iter().partition(|w| Some(w.frame) == ret_frame);
            self.unheld.extend(go);
            if !wait.is_empty() {
                self.held.insert((pid, goid), wait);
            }
        }
        self.release_unheld(emit);
    }

    /// Releases calls held since before monotonic time `now − HOLD_NS`
    /// (all of them with `now` u64::MAX), or `HOLD_NS` before the newest
    /// record read: the ring is in time order (within what one hit takes),
    /// so a landing record would have come by then.
    pub fn release_held(&mut self, now: u64, emit: &mut dyn FnMut(Call)) {
        let now = now.max(self.newest);
        let due = |w: &Waiting| w.ktime.saturating_add(HOLD_NS) < now;
        let keys: Vec<(u32, u64)> = self
            .held
            .iter()
            .filter(|(_, ws)| ws.iter().any(due))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            let ws = self.held.remove(&k).expect("listed");
            let (go, wait): (Vec<Waiting>, Vec<Waiting>) = ws.into_iter().partition(due);
            self.unheld.extend(go);
            if !wait.is_empty() {
                self.held.insert(k, wait);
            }
        }
        self.release_unheld(emit);
    }

    /// Releases the calls held in process `pid` (it ended).
    pub(super) fn release_process(&mut self, pid: u32, emit: &mut dyn FnMut(Call)) {
        let keys: Vec<(u32, u64)> = self.held.keys().filter(|k| k.0 == pid).copied().collect();
        for k in keys {
            if let Some(ws) = self.held.remove(&k) {
                self.unheld.extend(ws);
            }
        }
        self.release_unheld(emit);
    }

    /// Hands on the calls taken out of `held` without all their landings.
    pub(super) fn release_unheld(&mut self, emit: &mut dyn FnMut(Call)) {
        let mut ws = std::mem::take(&mut self.unheld);
        ws.sort_by_key(|w| w.ktime);
        for mut w in ws {
            self.landing.missed += 1;
            for (i, why) in std::mem::take(&mut w.need) {
                set(&mut w.returns, i, GoValue::Unavailable(why));
            }
            self.finish(w.open, End::Returned, w.returns, w.ktime, emit);
        }
    }

    /// Counters of landing records.
    pub fn landing_stats(&self) -> LandingStats {
        self.landing
    }
}

/// The held calls, by (pid, goid): one per attachment at most.
pub(super) type Held = HashMap<(u32, u64), Vec<Waiting>>;

/// What result `i` shows when its landing record never comes.
fn unread(returns: &[(String, GoValue)], i: usize) -> String {
    let why = match returns.get(i) {
        Some((_, GoValue::Unavailable(why))) => why.as_str(),
        _ => "eBPF cannot read XMM registers",
    };
    format!("{why}; its landing site was not reached (the caller panicked, or the record was lost)")
}

/// Sets result `i` to `v`.
fn set(returns: &mut [(String, GoValue)], i: usize, v: GoValue) {
    if let Some((_, r)) = returns.get_mut(i) {
        *r = v;
    }
}
