//! The export's counters, and the accounting that keeps them whole: each
//! call handed to the OTLP sink ends in exactly one of `queue_dropped`,
//! `exported_*` or `failed_*` for each enabled signal.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::Signal;

/// Export counters, shared by the sink, the task and the handle.
///
/// Every call the sink is handed ends in exactly one of `queue_dropped`,
/// `exported_*` or `failed_*` per enabled signal: the sink counts the
/// drops and the calls it queued (`queued`), deliveries settle whole
/// batches ([`AtomicExportStats::settle`]), and shutdown counts whatever
/// was queued and never settled as failed ([`AtomicExportStats::seal`]).
#[derive(Debug, Default)]
pub(super) struct AtomicExportStats {
    pub(super) queue_dropped: AtomicU64,
    /// Calls the sink queued for export.
    pub(super) queued: AtomicU64,
    pub(super) exported_logs: AtomicU64,
    pub(super) exported_spans: AtomicU64,
    pub(super) failed_logs: AtomicU64,
    pub(super) failed_spans: AtomicU64,
    pub(super) failed_metrics: AtomicU64,
    pub(super) rejected_logs: AtomicU64,
    pub(super) rejected_spans: AtomicU64,
    pub(super) retries: AtomicU64,
    /// Held while a batch is settled; true once shutdown has counted what
    /// was never settled, after which a late settlement (a delivery that
    /// outlived the exporter) would count its calls twice and is ignored.
    pub(super) sealed: Mutex<bool>,
}

/// A snapshot of the export counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    /// Calls dropped because the export queue was full (collector slow or down).
    pub queue_dropped: u64,
    /// Log records the collector accepted.
    pub exported_logs: u64,
    /// Spans the collector accepted.
    pub exported_spans: u64,
    /// Log records not delivered once queued: refused by the collector
    /// (see `rejected_logs`), retries exhausted, an answer that could not be
    /// read, or unsent at the shutdown deadline.
    pub failed_logs: u64,
    /// Spans not delivered once queued, as `failed_logs`.
    pub failed_spans: u64,
    /// Metric requests that failed (the next one carries the same totals).
    pub failed_metrics: u64,
    /// Of `failed_logs`: log records the collector itself refused, by a
    /// `partial_success` (`rejected_log_records`) or a non-retryable error.
    pub rejected_logs: u64,
    /// Of `failed_spans`: spans the collector refused (`rejected_spans`, or
    /// a non-retryable error).
    pub rejected_spans: u64,
    /// Request retries after a retryable failure.
    pub retries: u64,
}

impl AtomicExportStats {
    pub(super) fn snapshot(&self) -> ExportStats {
        ExportStats {
            queue_dropped: self.queue_dropped.load(Relaxed),
            exported_logs: self.exported_logs.load(Relaxed),
            exported_spans: self.exported_spans.load(Relaxed),
            failed_logs: self.failed_logs.load(Relaxed),
            failed_spans: self.failed_spans.load(Relaxed),
            failed_metrics: self.failed_metrics.load(Relaxed),
            rejected_logs: self.rejected_logs.load(Relaxed),
            rejected_spans: self.rejected_spans.load(Relaxed),
            retries: self.retries.load(Relaxed),
        }
    }

    /// Counts the `signal` items of `n` calls: `exported` accepted, the
    /// rest failed, `rejected` of those refused by the collector.
    pub(super) fn settle(&self, signal: Signal, n: u64, exported: u64, rejected: u64) {
        let exported = exported.min(n);
        let rejected = rejected.min(n - exported);
        let sealed = self.sealed.lock().expect("not poisoned");
        if *sealed {
            return;
        }
        let (e, f, r) = match signal {
            Signal::Logs => (&self.exported_logs, &self.failed_logs, &self.rejected_logs),
            _ => (
                &self.exported_spans,
                &self.failed_spans,
                &self.rejected_spans,
            ),
        };
        e.fetch_add(exported, Relaxed);
        f.fetch_add(n - exported, Relaxed);
        r.fetch_add(rejected, Relaxed);
        drop(sealed);
    }

    /// Ends the accounting: the calls queued and never settled for an
    /// enabled signal (still in the queue, or in a delivery that did not
    /// finish) are counted as failed. Returns how many calls that was, at
    /// most, over the signals.
    pub(super) fn seal(&self, logs: bool, spans: bool) -> u64 {
        let mut sealed = self.sealed.lock().expect("not poisoned");
        *sealed = true;
        let queued = self.queued.load(Relaxed);
        let mut unsettled = 0;
        for (on, exported, failed) in [
            (logs, &self.exported_logs, &self.failed_logs),
            (spans, &self.exported_spans, &self.failed_spans),
        ] {
            let settled = exported.load(Relaxed) + failed.load(Relaxed);
            if on && queued > settled {
                failed.fetch_add(queued - settled, Relaxed);
                unsettled = unsettled.max(queued - settled);
            }
        }
        unsettled
    }
}

impl ExportStats {
    /// As named counters, for metrics.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("export.queue_dropped", self.queue_dropped),
            ("export.exported_logs", self.exported_logs),
            ("export.exported_spans", self.exported_spans),
            ("export.failed_logs", self.failed_logs),
            ("export.failed_spans", self.failed_spans),
            ("export.failed_metric_requests", self.failed_metrics),
            ("export.rejected_logs", self.rejected_logs),
            ("export.rejected_spans", self.rejected_spans),
            ("export.retries", self.retries),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(queued: u64) -> AtomicExportStats {
        let s = AtomicExportStats::default();
        s.queued.store(queued, Relaxed);
        s
    }

    #[test]
    fn a_partial_success_is_exported_and_rejected_items_failed() {
        let s = stats(10);
        s.settle(Signal::Logs, 10, 7, 3);
        // More rejected than the batch held: the batch, no more.
        s.settle(Signal::Traces, 10, 0, 25);
        let x = s.snapshot();
        assert_eq!((x.exported_logs, x.failed_logs, x.rejected_logs), (7, 3, 3));
        assert_eq!(
            (x.exported_spans, x.failed_spans, x.rejected_spans),
            (0, 10, 10)
        );
        assert_eq!(s.seal(true, true), 0, "everything settled");
    }

    #[test]
    fn sealing_counts_the_unsettled_once_and_ignores_late_settlements() {
        let s = stats(100);
        s.settle(Signal::Logs, 40, 40, 0);
        s.settle(Signal::Traces, 60, 50, 0);
        assert_eq!(s.seal(true, true), 60);
        // A delivery finishing after shutdown's reckoning counted nothing twice.
        s.settle(Signal::Logs, 60, 60, 0);
        let x = s.snapshot();
        assert_eq!(x.exported_logs + x.failed_logs, 100);
        assert_eq!((x.exported_logs, x.failed_logs), (40, 60));
        assert_eq!((x.exported_spans, x.failed_spans), (50, 50));
        // A disabled signal stays at zero.
        let s = stats(5);
        assert_eq!(s.seal(false, true), 5);
        assert_eq!(s.snapshot().failed_logs, 0);
    }
}
