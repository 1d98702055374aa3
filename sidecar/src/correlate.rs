//! Pairs entry and return events into calls.
//!
//! A call is keyed by (pid, goroutine id, frame, attachment). `frame` is
//! `g.stack.hi - SP`: constant for one activation even when Go copies the
//! stack to grow it, and different for each level of recursion. A second
//! entry with the same key (the prologue restarting after
//! `runtime.morestack`) replaces the first, so each call yields one event.
//! Calls that never return (panic, Goexit) are evicted when the table is
//! full and counted.

use std::collections::HashMap;

/// Identifies one activation of one probed function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallKey {
    /// Process id.
    pub pid: u32,
    /// Goroutine id.
    pub goid: u64,
    /// `g.stack.hi - SP` at the probe.
    pub frame: u64,
    /// Which attachment (probe × process) fired.
    pub attachment: u64,
}

/// Counters for calls that could not be paired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CorrelateStats {
    /// Entries replaced by a later entry of the same frame (morestack restarts).
    pub restarted_entries: u64,
    /// Returns with no recorded entry (attached mid-call).
    pub unmatched_returns: u64,
    /// Entries dropped because the table was full (calls that never returned).
    pub evicted_entries: u64,
}

/// Open calls awaiting their return, bounded in number.
#[derive(Debug)]
pub struct Correlator<T> {
    open: HashMap<CallKey, (u64, T)>,
    capacity: usize,
    seq: u64,
    /// Counters.
    pub stats: CorrelateStats,
}

impl<T> Correlator<T> {
    /// A table holding at most `capacity` open calls.
    pub fn new(capacity: usize) -> Self {
        Correlator {
            open: HashMap::new(),
            capacity: capacity.max(1),
            seq: 0,
            stats: CorrelateStats::default(),
        }
    }

    /// Records an entry.
    pub fn enter(&mut self, key: CallKey, value: T) {
        if self.open.len() >= self.capacity && !self.open.contains_key(&key) {
            self.evict_oldest();
        }
        self.seq += 1;
        if self.open.insert(key, (self.seq, value)).is_some() {
            self.stats.restarted_entries += 1;
        }
    }

    /// Takes the entry matching a return.
    pub fn exit(&mut self, key: &CallKey) -> Option<T> {
        let v = self.open.remove(key).map(|(_, v)| v);
        if v.is_none() {
            self.stats.unmatched_returns += 1;
        }
        v
    }

    /// Forgets the open calls of a process that exited.
    pub fn forget_pid(&mut self, pid: u32) {
        self.open.retain(|k, _| k.pid != pid);
    }

    /// Number of open calls.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when no call is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn evict_oldest(&mut self) {
        // Evict the oldest eighth at once so this O(n) pass is rare.
        let mut seqs: Vec<u64> = self.open.values().map(|(s, _)| *s).collect();
        let n = (self.capacity / 8).max(1).min(seqs.len());
        let (_, cut, _) = seqs.select_nth_unstable(n - 1);
        let cut = *cut;
        let before = self.open.len();
        self.open.retain(|_, (s, _)| *s > cut);
        self.stats.evicted_entries += (before - self.open.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(goid: u64, frame: u64) -> CallKey {
        CallKey {
            pid: 1,
            goid,
            frame,
            attachment: 9,
        }
    }

    #[test]
    fn recursion_pairs_by_frame() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), "outer");
        c.enter(key(1, 200), "inner");
        assert_eq!(c.exit(&key(1, 200)), Some("inner"));
        assert_eq!(c.exit(&key(1, 100)), Some("outer"));
        assert_eq!(c.exit(&key(1, 100)), None);
        assert_eq!(c.stats.unmatched_returns, 1);
    }

    #[test]
    fn a_restarted_prologue_counts_once() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), 1);
        c.enter(key(1, 100), 2);
        assert_eq!(c.exit(&key(1, 100)), Some(2));
        assert_eq!(c.stats.restarted_entries, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_evicts_oldest() {
        let mut c = Correlator::new(8);
        for i in 0..20 {
            c.enter(key(i, 0), i);
        }
        assert!(c.len() <= 8);
        assert_eq!(c.stats.evicted_entries, 20 - c.len() as u64);
        assert_eq!(c.exit(&key(19, 0)), Some(19));
        assert_eq!(c.exit(&key(0, 0)), None);
    }
}
