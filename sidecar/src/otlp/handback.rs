//! Encoded calls handed back to the sink's thread to be freed, one per
//! call it writes.
//!
//! Why: a call's values are allocated on the thread that decodes them (the
//! supervisor's) and were freed on the export task's. glibc sends such
//! frees, and the next allocations on the decoding thread, down its slow
//! paths (`_int_free` into the other thread's arena, `malloc_consolidate`,
//! `unlink_chunk`): measured ~20 % of the OTLP bench's CPU. Freeing one
//! spent call before each new one is decoded, on the same thread, lets the
//! new call's allocations reuse the old one's chunks from glibc's
//! per-thread cache.
//!
//! At most one batch waits, and only full batches come back (export is
//! busy, the sink writes again soon); the export task takes the rest back
//! and frees it itself at its next quiet moment, so an idle gotel holds no
//! spent calls.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

use crate::export::Call;

/// The one batch between the export task and the sink.
#[derive(Default)]
pub struct Handback {
    /// `spent` holds calls: the sink's check without the lock.
    waiting: AtomicBool,
    /// Calls encoded and done with, to free.
    spent: Mutex<Vec<Call>>,
}

impl Handback {
    fn spent(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        // A panic while holding it leaves only calls to free behind.
        self.spent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Export task: `batch`'s calls are done with. Hands them to the sink
    /// when it has freed the last batch (`batch` gets that batch's empty
    /// vector); else frees them here.
    pub fn give(&self, batch: &mut Vec<Call>) {
        let mut spent = self.spent();
        if !spent.is_empty() {
            drop(spent);
            batch.clear();
            return;
        }
        std::mem::swap(&mut *spent, batch);
        self.waiting.store(!spent.is_empty(), Relaxed);
    }

    /// Sink: frees one spent call, if any, on this thread.
    pub fn free_one(&self) {
        if !self.waiting.load(Relaxed) {
            return;
        }
        let call = {
            let mut spent = self.spent();
            let call = spent.pop();
            self.waiting.store(!spent.is_empty(), Relaxed);
            call
        };
        drop(call);
    }

    /// Export task, when quiet: frees the calls the sink has not.
    pub fn reclaim(&self) {
        let calls = {
            let mut spent = self.spent();
            self.waiting.store(false, Relaxed);
            std::mem::take(&mut *spent)
        };
        drop(calls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call::sample()
    }

    #[test]
    fn one_batch_waits_and_is_freed_a_call_at_a_time() {
        let h = Handback::default();
        let mut batch = vec![call(), call()];
        let cap = batch.capacity();
        h.give(&mut batch);
        assert!(batch.is_empty());
        let mut second = vec![call()];
        h.give(&mut second);
        assert!(second.is_empty(), "freed on the spot: one batch waits");
        h.free_one();
        assert_eq!(h.spent().len(), 1);
        h.free_one();
        assert!(!h.waiting.load(Relaxed) && h.spent().is_empty());
        let mut third = vec![call()];
        h.give(&mut third);
        assert_eq!(third.capacity(), cap, "the first batch's vector, reused");
        h.reclaim();
        assert!(!h.waiting.load(Relaxed) && h.spent().is_empty());
        h.free_one();
    }
}
