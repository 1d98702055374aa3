//! gotel's own counters: one definition that feeds the `stopped` log
//! record, the OTLP metrics (`gotel.<name>`) and the README's table, so
//! the three cannot list different counters.

use crate::live::OpenCalls;
use crate::otlp::ExportStats;

/// Declares [`Counters`] once: the struct, its names in order, and the
/// `stopped` record, whose fields tracing needs spelt out at compile time.
macro_rules! counters {
    ($( $(#[doc = $doc:literal])+ $name:ident, )+) => {
        /// Every counter of the live side, cumulative since start.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Counters {
            $( $(#[doc = $doc])+ pub $name: u64, )+
        }

        impl Counters {
            /// Each counter's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// Each counter's doc line, in declaration order.
            const HELP: &'static [&'static str] = &[$(concat!($($doc),+)),+];

            /// (name, value) pairs in declaration order.
            pub fn named(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name)),+]
            }

            /// Logs the `stopped` record: these counters, the calls still
            /// open, then the export's counters.
            pub fn log_stopped(&self, x: &ExportStats, open: OpenCalls) {
                tracing::info!(
                    $($name = self.$name,)+
                    open_calls = open.count,
                    open_call_oldest_age_ms = open.oldest_age_ns / 1_000_000,
                    export_queue_dropped = x.queue_dropped,
                    exported_logs = x.exported_logs,
                    exported_spans = x.exported_spans,
                    export_failed_logs = x.failed_logs,
                    export_failed_spans = x.failed_spans,
                    export_failed_metric_requests = x.failed_metrics,
                    export_rejected_logs = x.rejected_logs,
                    export_rejected_spans = x.rejected_spans,
                    export_retries = x.retries,
                    "stopped"
                );
            }
        }
    };
}

counters! {
    /// Calls written to the outputs.
    calls,
    /// Ring-buffer records read.
    events,
    /// Records the BPF program could not submit (ring buffer full or CPU busy).
    dropped,
    /// Of `dropped`: this CPU's scratch buffer was in use by a preempted hit.
    dropped_busy,
    /// Uprobe hits whose cookie had no recipe (a probe being detached).
    no_recipe,
    /// Hits of `from_start` probes in processes outside gotel's PID namespace (another pod running the same file): not recorded.
    foreign_hits,
    /// Records in which some memory could not be read.
    read_faults,
    /// Returns without a recorded entry (attached mid-call).
    unmatched_returns,
    /// Open calls evicted because the table of open calls was full.
    evicted_entries,
    /// Entries replaced by the same call's restarted prologue (`runtime.morestack`).
    restarted_entries,
    /// Calls found unwound by a recovered panic.
    panicked,
    /// Calls whose end went unobserved because records were lost meanwhile.
    unobserved,
    /// Calls delivered without an end: their process ended, or `runtime.Goexit` ended their goroutine.
    unfinished,
    /// Records that could not be parsed or had no live attachment.
    stray_records,
    /// Records whose goroutine could not be read.
    no_goroutine,
    /// Records whose 8 KiB data area filled up (later values read as faults).
    data_full,
    /// Calls not kept because their probe's `rate_limit` was reached (decided in the kernel, before any copy).
    rate_limited,
    /// Calls not kept by their probe's `sample` (decided in the kernel, before any copy).
    sampled_out,
    /// Times a probe's breaker detached it for being hit too often.
    breaker_trips,
    /// Calls not delivered because their probe's `when` or `when_return` was false.
    filtered,
    /// Records of an edited probe's previous version once its new version was attached there: the new version reports those calls.
    superseded_records,
    /// Hits of an inlined site's exit with none of its calls open there (the caller's code after the site, reached another way): not a return.
    inlined_exit_passes,
    /// Float results read at a landing site, after their call returned.
    landed_floats,
    /// Calls delivered without some float result their landing site would have read (the caller panicked, the record was lost or late).
    landing_missed,
    /// Landing-site records with no call waiting for them (the landing instruction reached from elsewhere, its call not kept by `sample`/`rate_limit`/`when`, or delivered already; in a callee, an argument already read: a loop passing its landing site again).
    landing_unmatched,
    /// Float arguments read at a landing site in the called function (see Floats).
    landed_float_args,
    /// Calls that ended with some float argument unread (whether or not `when_return` then keeps them): the path the call took kept it in XMM, or its landing record was lost.
    float_args_missed,
    /// Output write or flush failures.
    sink_errors,
    /// Dynamic types whose recipe could not be installed (type-recipe map full).
    type_recipes_failed,
    /// Distinct caller stacks (`stack:`) symbolized: each is looked up once, then cached.
    stacks_symbolized,
    /// Times the cache of symbolized stacks (4096) was full and started over.
    stack_cache_resets,
}

/// The one-line description of counter `name` (its doc comment).
pub fn help(name: &str) -> &'static str {
    Counters::NAMES
        .iter()
        .position(|n| *n == name)
        .map_or("", |i| Counters::HELP[i].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer into a shared buffer, for a subscriber to log into.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_stopped_record_carries_every_counter_and_the_exports() {
        // Distinct values, so a field logged under another's name shows.
        let mut c = Counters::default();
        let fields = Counters::NAMES.len() as u64;
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json.as_object().unwrap().len() as u64, fields);
        let mut values = serde_json::Map::new();
        for (i, name) in Counters::NAMES.iter().enumerate() {
            values.insert(name.to_string(), (100 + i as u64).into());
        }
        c = serde_json::from_value(values.into()).unwrap();
        let x = ExportStats {
            queue_dropped: 1,
            exported_logs: 2,
            exported_spans: 3,
            failed_logs: 4,
            failed_spans: 5,
            failed_metrics: 6,
            rejected_logs: 7,
            rejected_spans: 8,
            retries: 9,
        };
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || out.clone())
            .finish();
        let open = OpenCalls {
            count: 3,
            oldest_age_ns: 4_500_000_000,
        };
        tracing::subscriber::with_default(subscriber, || c.log_stopped(&x, open));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let logged: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(logged["message"], "stopped");
        assert_eq!(logged["open_calls"], 3);
        assert_eq!(logged["open_call_oldest_age_ms"], 4_500);
        for (name, value) in c.named() {
            assert_eq!(logged[name], value, "{name} in {logged}");
        }
        // The export's counters: `gotel.export.<name>` as metrics, and in
        // the record `export_<name>`, or `<name>` when it says "export" itself.
        for (metric, value) in x.named() {
            let name = metric.strip_prefix("export.").unwrap();
            let field = match name.starts_with("export") {
                true => name.to_string(),
                false => format!("export_{name}"),
            };
            assert_eq!(logged[&field], value, "{field} in {logged}");
        }
    }

    #[test]
    fn the_readme_table_lists_exactly_the_counters() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("| counter | counts |\n|---|---|\n")
            .nth(1)
            .expect("README.md has the counter table");
        let rows: Vec<&str> = table
            .lines()
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        assert_eq!(rows, Counters::NAMES, "README.md's counter table, in order");
    }
}
