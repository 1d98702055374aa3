//! Pairs entry and return records into calls.
//!
//! A call is keyed by (pid, goroutine id, frame, attachment). `frame` is
//! `g.stack.hi - SP`: constant for one activation even when Go copies the
//! stack to grow it, and different for each level of recursion. A second
//! entry with the same key (the prologue restarting after
//! `runtime.morestack`) replaces the first, so each call yields one call.
//! A return also proves that every deeper open call on the same goroutine
//! is gone: it was unwound by a panic that a shallower frame recovered.
//! Those are handed back as unwound. Calls that never return otherwise
//! are handed back unfinished when their goroutine calls `runtime.Goexit`
//! or their process ends (an unrecovered panic, `os.Exit`, an exec); any
//! left open are evicted, oldest first, when the table is full.

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
    /// The probed function's entry (file offset): probes on one function
    /// share it, so their entries at one frame are one activation.
    pub function: u64,
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
    /// Calls found unwound by a recovered panic.
    pub panicked: u64,
    /// Calls whose return went unobserved because records were lost in
    /// between (not claimed as panics).
    pub unobserved: u64,
    /// Calls handed back unfinished: their process ended, or
    /// `runtime.Goexit` ended their goroutine.
    pub unfinished: u64,
}

/// Consecutive entries of one activation: frame, function, first `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    frame: u64,
    function: u64,
    since: u64,
}

/// An open call: insertion order, the loss stamp at entry, the value.
type Entry<T> = (u64, u64, T);

/// One goroutine's open calls.
#[derive(Debug, Default)]
struct Goroutine {
    /// Open calls, shallowest first.
    keys: Vec<CallKey>,
    /// The run of entries its latest records were: all at one frame of
    /// one function (several probes on it), from `seq` on. A restarted
    /// prologue repeats an entry of the run, with nothing else between.
    run: Option<Run>,
    /// Its latest sign of life was the start of a panic.
    panicking: bool,
    /// `seq` when a panic last began on it (0: none seen).
    last_panic: u64,
}

/// Open calls awaiting their return, bounded in number.
#[derive(Debug)]
pub struct Correlator<T> {
    open: HashMap<CallKey, Entry<T>>,
    /// Open calls per goroutine (pid, goid), in entry order, hence by
    /// increasing depth; may hold keys already evicted, which are skipped.
    by_goroutine: HashMap<(u32, u64), Goroutine>,
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
            by_goroutine: HashMap::new(),
            capacity: capacity.max(1),
            seq: 0,
            stats: CorrelateStats::default(),
        }
    }

    /// Records an entry. `stamp` counts the records lost so far: a return
    /// may only prove deeper calls unwound if nothing was lost meanwhile.
    ///
    /// An entry at frame F also proves that open calls of this goroutine
    /// at frames ≥ F are gone (the stack below F is being reused): their
    /// return was lost, or a panic unwound them and an unprobed caller
    /// recovered. They are returned as unwound when nothing was lost since
    /// they entered, counted unobserved otherwise. The one exception is
    /// the same call re-entering with nothing in between on its goroutine:
    /// the prologue restarting after `runtime.morestack`, which replaces
    /// the first entry.
    pub fn enter(&mut self, key: CallKey, value: T, stamp: u64) -> Vec<T> {
        let restart = self.is_restart(&key, stamp);
        let mut unwound = Vec::new();
        if key.goid != 0 {
            let g = self.by_goroutine.entry((key.pid, key.goid)).or_default();
            let mut dead = Vec::new();
            // Deeper frames are gone, and so is this very call's earlier
            // activation. Other probes' calls at the same frame are the
            // same activation (two probes on one function) and stay.
            let gone = |k: &CallKey| k.frame > key.frame || (*k == key && !restart);
            let mut kept = Vec::new();
            while g.keys.last().is_some_and(|k| k.frame >= key.frame) {
                let k = g.keys.pop().expect("checked");
                if !gone(&k) {
                    if k != key {
                        kept.push(k);
                    }
                    continue;
                }
                if let Some((seq, at, value)) = self.open.remove(&k) {
                    if at == stamp {
                        dead.push((seq, value));
                    } else {
                        self.stats.unobserved += 1;
                    }
                }
            }
            g.keys.extend(kept.into_iter().rev());
            dead.sort_by_key(|(seq, _)| *seq);
            self.stats.panicked += dead.len() as u64;
            unwound.extend(dead.into_iter().map(|(_, v)| v));
        }
        if self.open.len() >= self.capacity && !self.open.contains_key(&key) {
            self.evict_oldest();
        }
        self.seq += 1;
        if self.open.insert(key, (self.seq, stamp, value)).is_some() {
            self.stats.restarted_entries += 1;
        }
        if key.goid != 0 {
            let g = self.by_goroutine.entry((key.pid, key.goid)).or_default();
            g.keys.push(key);
            g.panicking = false;
            let same = |r: &Run| r.frame == key.frame && r.function == key.function;
            if !g.run.as_ref().is_some_and(same) {
                g.run = Some(Run {
                    frame: key.frame,
                    function: key.function,
                    since: self.seq,
                });
            }
        }
        unwound
    }

    /// Whether an entry at `key` now would be its open call's prologue
    /// restarting: same call, and nothing seen on its goroutine since but
    /// entries of the same activation (other probes on the function), and
    /// no record lost since (`stamp`: a lost return would look the same).
    pub fn is_restart(&self, key: &CallKey, stamp: u64) -> bool {
        let Some((seq, at, _)) = self.open.get(key) else {
            return false;
        };
        if *at != stamp {
            return false;
        }
        match self.by_goroutine.get(&(key.pid, key.goid)) {
            Some(g) => g.run.is_some_and(|r| {
                r.frame == key.frame && r.function == key.function && r.since <= *seq
            }),
            // goid 0: no goroutine to tell by; the frame key decides.
            None => true,
        }
    }

    /// Takes the entry matching a return, and the open calls deeper on the
    /// same goroutine, which the return proves were unwound by a panic
    /// (oldest first). Deeper calls are only claimed unwound when no record
    /// was lost since they entered (`stamp` unchanged): a lost return record
    /// would look the same. goid 0 (system stacks, one per thread) is never
    /// used for that inference.
    pub fn exit(&mut self, key: &CallKey, stamp: u64) -> (Option<T>, Vec<T>) {
        let v = self.open.remove(key).map(|(_, _, v)| v);
        if v.is_none() {
            self.stats.unmatched_returns += 1;
        }
        self.seq += 1;
        let g = (key.pid, key.goid);
        let mut unwound = Vec::new();
        let Some(gr) = self.by_goroutine.get_mut(&g) else {
            return (v, unwound);
        };
        gr.panicking = false;
        gr.run = None;
        let keys = &mut gr.keys;
        // frame = stack.hi - SP: larger is deeper, and deeper calls entered
        // later, so they form the end of the list.
        let mut dead = Vec::new();
        while keys.last().is_some_and(|k| k.frame > key.frame) {
            let k = keys.pop().expect("checked");
            if let Some((seq, at, value)) = self.open.remove(&k) {
                if at == stamp {
                    dead.push((seq, value));
                } else {
                    self.stats.unobserved += 1;
                }
            }
        }
        if keys.last() == Some(key) {
            keys.pop();
        } else {
            keys.retain(|k| k != key);
        }
        if keys.is_empty() {
            self.by_goroutine.remove(&g);
        }
        dead.sort_by_key(|(seq, _)| *seq);
        self.stats.panicked += dead.len() as u64;
        unwound.extend(dead.into_iter().map(|(_, v)| v));
        (v, unwound)
    }

    /// The open call at `key`, if any.
    pub fn get(&self, key: &CallKey) -> Option<&T> {
        self.open.get(key).map(|(_, _, v)| v)
    }

    /// The open call at `key`, to fill in what a later record read of it.
    pub fn get_mut(&mut self, key: &CallKey) -> Option<&mut T> {
        self.open.get_mut(key).map(|(_, _, v)| v)
    }

    /// Whether the open call at `key` can still be running: no record was
    /// lost since it entered (`stamp` unchanged) and no panic began on its
    /// goroutine since. None: no call open there. For a hit that is not
    /// only that call's own code (an inlined site's exit, a float's
    /// landing in the callee), where an older call left open by a loss or
    /// a recovered panic must not take a later activation's record.
    pub fn still_running(&self, key: &CallKey, stamp: u64) -> Option<bool> {
        let (seq, at, _) = self.open.get(key)?;
        let panicked = self
            .by_goroutine
            .get(&(key.pid, key.goid))
            .is_some_and(|g| g.last_panic > *seq);
        Some(*at == stamp && !panicked)
    }

    /// Takes the open call at `key` out, its end not seen: with whether a
    /// panic began on its goroutine since it entered (counted `panicked`;
    /// otherwise a loss hid its end: `unobserved`).
    pub fn abandon(&mut self, key: &CallKey) -> Option<(T, bool)> {
        let (seq, _, v) = self.open.remove(key)?;
        let g = (key.pid, key.goid);
        let panicked = self
            .by_goroutine
            .get(&g)
            .is_some_and(|g| g.last_panic > seq);
        if let Some(gr) = self.by_goroutine.get_mut(&g) {
            gr.keys.retain(|k| k != key);
            if gr.keys.is_empty() {
                self.by_goroutine.remove(&g);
            }
        }
        match panicked {
            true => self.stats.panicked += 1,
            false => self.stats.unobserved += 1,
        }
        Some((v, panicked))
    }

    /// The open call that a call entering at `key` runs inside: the
    /// innermost open call on the same goroutine with a shallower frame.
    /// Keys left behind by eviction, or deeper than `key` (their return
    /// record was lost), are skipped.
    pub fn enclosing(&self, key: &CallKey) -> Option<&T> {
        let g = self.by_goroutine.get(&(key.pid, key.goid))?;
        g.keys
            .iter()
            .rev()
            .filter(|k| k.frame < key.frame)
            .find_map(|k| self.open.get(k).map(|(_, _, v)| v))
    }

    /// Notes that something other than a probed call ran on goroutine
    /// (`pid`, `goid`): it began to panic. The next entry of one of its
    /// open calls is then a new call at that frame (the panic unwound the
    /// open one and an unprobed caller recovered), never the prologue
    /// restart that an entry seen twice in a row otherwise is.
    pub fn touch(&mut self, pid: u32, goid: u64) {
        self.seq += 1;
        if let Some(g) = self.by_goroutine.get_mut(&(pid, goid)) {
            g.panicking = true;
            g.last_panic = self.seq;
            g.run = None;
        }
    }

    /// Hands back, oldest first, the open calls of a process that ended:
    /// none of them will return. Each comes with whether its goroutine's
    /// last sign of life was a panic (the unrecovered panic that ended
    /// the process, when nothing of that goroutine was seen after it).
    pub fn end_process(&mut self, pid: u32) -> Vec<(T, bool)> {
        let ended = self.end_image(pid, |_| true);
        self.by_goroutine.retain(|(p, _), _| *p != pid);
        ended
    }

    /// [`Correlator::end_process`] for the calls of `pid` that `older`
    /// says its previous image made (an exec replaced it; later entries
    /// are the new image's and stay open).
    pub fn end_image(&mut self, pid: u32, older: impl Fn(&T) -> bool) -> Vec<(T, bool)> {
        let (gone, kept): (HashMap<_, _>, HashMap<_, _>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|(k, (_, _, v))| k.pid == pid && older(v));
        self.open = kept;
        let mut ended: Vec<_> = gone
            .into_iter()
            .map(|(k, (seq, _, v))| {
                let panicking = self
                    .by_goroutine
                    .get(&(k.pid, k.goid))
                    .is_some_and(|g| g.panicking);
                (seq, v, panicking)
            })
            .collect();
        let open = &self.open;
        self.by_goroutine.retain(|(p, _), g| {
            if *p != pid {
                return true;
            }
            g.keys.retain(|k| open.contains_key(k));
            !g.keys.is_empty()
        });
        ended.sort_by_key(|(seq, _, _)| *seq);
        self.stats.unfinished += ended.len() as u64;
        self.stats.panicked += ended.iter().filter(|e| e.2).count() as u64;
        ended.into_iter().map(|(_, v, p)| (v, p)).collect()
    }

    /// Hands back, oldest first, the open calls of a goroutine that called
    /// `runtime.Goexit`: it runs their deferred calls and ends the
    /// goroutine, so none of them returns.
    pub fn goexit(&mut self, pid: u32, goid: u64) -> Vec<T> {
        self.seq += 1;
        let Some(g) = self.by_goroutine.remove(&(pid, goid)) else {
            return Vec::new();
        };
        let ended: Vec<T> = g
            .keys
            .iter()
            .filter_map(|k| self.open.remove(k).map(|(_, _, v)| v))
            .collect();
        self.stats.unfinished += ended.len() as u64;
        ended
    }

    /// The call open the longest, if any (a scan: for periodic reports).
    pub fn oldest(&self) -> Option<&T> {
        self.open
            .values()
            .min_by_key(|(seq, _, _)| *seq)
            .map(|(_, _, v)| v)
    }

    /// Forgets the open calls of a detached attachment: their returns can
    /// no longer be seen, so they are counted unobserved rather than left to
    /// be claimed as panics (or taken as parents) later.
    pub fn forget_attachment(&mut self, attachment: u64) {
        let before = self.open.len();
        self.open.retain(|k, _| k.attachment != attachment);
        self.stats.unobserved += (before - self.open.len()) as u64;
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
        let mut seqs: Vec<u64> = self.open.values().map(|(s, _, _)| *s).collect();
        let n = (self.capacity / 8).max(1).min(seqs.len());
        let (_, cut, _) = seqs.select_nth_unstable(n - 1);
        let cut = *cut;
        let before = self.open.len();
        self.open.retain(|_, (s, _, _)| *s > cut);
        self.stats.evicted_entries += (before - self.open.len()) as u64;
        let open = &self.open;
        self.by_goroutine.retain(|_, g| {
            g.keys.retain(|k| open.contains_key(k));
            !g.keys.is_empty()
        });
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
            function: 0x4000,
        }
    }

    #[test]
    fn recursion_pairs_by_frame() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), "outer", 0);
        c.enter(key(1, 200), "inner", 0);
        assert_eq!(c.exit(&key(1, 200), 0), (Some("inner"), vec![]));
        assert_eq!(c.exit(&key(1, 100), 0), (Some("outer"), vec![]));
        assert_eq!(c.exit(&key(1, 100), 0), (None, vec![]));
        assert_eq!(c.stats.unmatched_returns, 1);
    }

    #[test]
    fn the_enclosing_call_is_the_innermost_shallower_one() {
        let mut c = Correlator::new(16);
        assert_eq!(c.enclosing(&key(1, 100)), None);
        c.enter(key(1, 100), "handler", 0);
        c.enter(key(2, 100), "other goroutine", 0);
        assert_eq!(c.enclosing(&key(1, 200)), Some(&"handler"));
        c.enter(key(1, 200), "compute", 0);
        assert_eq!(c.enclosing(&key(1, 300)), Some(&"compute"));
        assert_eq!(c.enclosing(&key(1, 200)), Some(&"handler"));
        assert_eq!(c.get(&key(1, 200)), Some(&"compute"));
        // A stale deeper entry (its return lost) is not an ancestor.
        c.enter(key(1, 900), "stale", 0);
        assert_eq!(c.enclosing(&key(1, 250)), Some(&"compute"));
        // goid 0 has no goroutine stack to nest on.
        c.enter(key(0, 100), "g0", 0);
        assert_eq!(c.enclosing(&key(0, 200)), None);
    }

    #[test]
    fn a_new_entry_retires_dead_calls_at_its_frame_or_deeper() {
        let mut c = Correlator::new(16);
        // outer panics inside an unprobed recover: no return is seen.
        c.enter(key(1, 100), "outer#1", 0);
        c.enter(key(1, 200), "leaf#1", 0);
        // The next call of the same function at the same frame is a new
        // call, not a restart: other records came in between.
        assert_eq!(
            c.enter(key(1, 100), "outer#2", 0),
            vec!["outer#1", "leaf#1"]
        );
        assert_eq!(c.stats.panicked, 2);
        assert_eq!(c.stats.restarted_entries, 0);
        assert_eq!(c.enclosing(&key(1, 200)), Some(&"outer#2"));
        // Another probe's call at the same frame is the same activation.
        let other = CallKey {
            attachment: 10,
            ..key(1, 100)
        };
        assert_eq!(
            c.enter(other, "outer#2 by another probe", 0),
            Vec::<&str>::new()
        );
        assert_eq!(c.exit(&other, 0).0, Some("outer#2 by another probe"));
        assert_eq!(c.get(&key(1, 100)), Some(&"outer#2"));
        // A lost record in between: unobserved, not claimed as a panic.
        c.enter(key(1, 200), "leaf#2", 0);
        assert_eq!(c.enter(key(1, 150), "other", 1), Vec::<&str>::new());
        assert_eq!(c.stats.unobserved, 1);
    }

    #[test]
    fn two_probes_on_one_function_restart_together() {
        let mut c = Correlator::new(16);
        let other = CallKey {
            attachment: 10,
            ..key(1, 100)
        };
        c.enter(key(1, 100), "a#1", 0);
        c.enter(other, "b#1", 0);
        // runtime.morestack ran; the prologue fires both probes again.
        assert!(c.is_restart(&key(1, 100), 0));
        assert_eq!(c.enter(key(1, 100), "a#2", 0), Vec::<&str>::new());
        assert!(c.is_restart(&other, 0));
        assert_eq!(c.enter(other, "b#2", 0), Vec::<&str>::new());
        assert_eq!((c.stats.restarted_entries, c.stats.panicked), (2, 0));
        assert_eq!(c.exit(&other, 0).0, Some("b#2"));
        assert_eq!(c.exit(&key(1, 100), 0).0, Some("a#2"));
        assert!(c.is_empty());
    }

    #[test]
    fn a_reentry_after_lost_records_is_not_taken_for_a_restart() {
        let mut c = Correlator::new(16);
        let other = CallKey {
            attachment: 10,
            ..key(1, 100)
        };
        c.enter(key(1, 100), "a#1", 0);
        c.enter(other, "b#1", 0);
        // Both returns were lost (the stamp moved on): the next entries are
        // a new call, and the first one's calls are unobserved.
        assert!(!c.is_restart(&key(1, 100), 1));
        c.enter(key(1, 100), "a#2", 1);
        c.enter(other, "b#2", 1);
        assert_eq!((c.stats.restarted_entries, c.stats.unobserved), (0, 2));
        assert_eq!(c.exit(&key(1, 100), 1).0, Some("a#2"));
    }

    #[test]
    fn another_function_at_the_frame_ends_the_run() {
        let mut c = Correlator::new(16);
        // a's return was lost; b, called next from the same caller,
        // enters at the same frame; then a is called again.
        c.enter(key(1, 100), "a#1", 0);
        let b = CallKey {
            attachment: 10,
            function: 0x5000,
            ..key(1, 100)
        };
        c.enter(b, "b", 0);
        assert!(!c.is_restart(&key(1, 100), 0));
    }

    #[test]
    fn a_restarted_prologue_counts_once() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), 1, 0);
        c.enter(key(1, 100), 2, 0);
        assert_eq!(c.exit(&key(1, 100), 0), (Some(2), vec![]));
        assert_eq!(c.stats.restarted_entries, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_evicts_oldest() {
        let mut c = Correlator::new(8);
        for i in 0..20 {
            c.enter(key(i, 0), i, 0);
        }
        assert!(c.len() <= 8);
        assert_eq!(c.stats.evicted_entries, 20 - c.len() as u64);
        assert_eq!(c.exit(&key(19, 0), 0).0, Some(19));
        assert_eq!(c.exit(&key(0, 0), 0).0, None);
    }

    #[test]
    fn a_shallower_return_reports_deeper_open_calls_as_unwound() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), "guard", 0);
        c.enter(key(1, 200), "explode", 0);
        c.enter(key(1, 300), "deeper", 0);
        c.enter(key(2, 500), "other goroutine", 0);
        assert_eq!(
            c.exit(&key(1, 100), 0),
            (Some("guard"), vec!["explode", "deeper"])
        );
        assert_eq!(c.stats.panicked, 2);
        assert_eq!(c.len(), 1);
        assert_eq!(c.exit(&key(2, 500), 0), (Some("other goroutine"), vec![]));
    }

    #[test]
    fn a_lost_record_is_never_reported_as_a_panic() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), "caller", 7);
        c.enter(key(1, 200), "callee whose return record was dropped", 7);
        // One record lost since: the stamp moved.
        assert_eq!(c.exit(&key(1, 100), 8), (Some("caller"), vec![]));
        assert_eq!(c.stats.panicked, 0);
        assert_eq!(c.stats.unobserved, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn a_process_that_ends_hands_back_its_open_calls_oldest_first() {
        let mut c = Correlator::new(16);
        let other = CallKey {
            pid: 2,
            ..key(1, 100)
        };
        c.enter(key(1, 100), "main", 0);
        c.enter(key(2, 100), "crashing", 0);
        c.enter(key(1, 200), "blocked", 0);
        c.enter(other, "another process", 0);
        assert_eq!(c.oldest(), Some(&"main"));
        // Goroutine 2 begins to panic and nothing of it is seen again;
        // goroutine 1 panicked and recovered below `main` (it returned
        // from `blocked` since), so its panic did not end the process.
        c.touch(1, 2);
        c.touch(1, 1);
        assert_eq!(c.exit(&key(1, 200), 0), (Some("blocked"), vec![]));
        assert_eq!(c.end_process(1), vec![("main", false), ("crashing", true)]);
        assert_eq!((c.stats.unfinished, c.stats.panicked), (2, 1));
        assert_eq!(c.oldest(), Some(&"another process"));
        assert_eq!(c.len(), 1);
        assert_eq!(c.enclosing(&key(1, 300)), None);
    }

    #[test]
    fn goexit_ends_every_open_call_of_its_goroutine() {
        let mut c = Correlator::new(16);
        c.enter(key(1, 100), "worker", 0);
        c.enter(key(1, 200), "step", 0);
        c.enter(key(2, 200), "other goroutine", 0);
        assert_eq!(c.goexit(1, 1), vec!["worker", "step"]);
        assert_eq!(c.goexit(1, 1), Vec::<&str>::new());
        assert_eq!(c.stats.unfinished, 2);
        // A deferred call run by Goexit, then nothing is left to unwind.
        c.enter(key(1, 300), "deferred", 0);
        assert_eq!(c.exit(&key(1, 300), 0), (Some("deferred"), vec![]));
        assert_eq!((c.len(), c.stats.panicked), (1, 0));
    }

    #[test]
    fn system_stacks_are_not_used_to_infer_panics() {
        let mut c = Correlator::new(16);
        let g0 = |frame| CallKey {
            pid: 1,
            goid: 0,
            frame,
            attachment: 9,
            function: 0x4000,
        };
        c.enter(g0(100), "thread A", 0);
        c.enter(g0(200), "thread B", 0);
        assert_eq!(c.exit(&g0(100), 0), (Some("thread A"), vec![]));
        assert_eq!(c.exit(&g0(200), 0), (Some("thread B"), vec![]));
    }
}
