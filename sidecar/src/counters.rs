//! gotel's own counters: one definition that feeds the `stopped` log
//! record, the OTLP metrics (`gotel.<name>`) and the README's table, so
//! the three cannot list different counters.

use crate::otlp::ExportStats;

/// Declares [`Counters`] once: the struct, its names in order, and the
/// `stopped` record, whose fields tracing needs spelt out at compile time.
macro_rules! counters {
    ($( $(#[doc = $doc:literal])+ $name:ident, )+) => {
        /// Every counter of the live side, cumulative since start.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub struct Counters {
            $( $(#[doc = $doc])+ pub $name: u64, )+
        }

        impl Counters {
            /// Each counter's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// (name, value) pairs in declaration order.
            pub fn named(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name)),+]
            }

            /// Logs the `stopped` record: these counters, then the export's.
            pub fn log_stopped(&self, x: &ExportStats) {
                tracing::info!(
                    $($name = self.$name,)+
                    export_queue_dropped = x.queue_dropped,
                    exported_logs = x.exported_logs,
                    exported_spans = x.exported_spans,
                    export_failed_logs = x.failed_logs,
                    export_failed_spans = x.failed_spans,
                    export_failed_metric_requests = x.failed_metrics,
                    export_rejected = x.rejected,
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
    /// Records that could not be parsed or had no live attachment.
    stray_records,
    /// Records whose goroutine could not be read.
    no_goroutine,
    /// Records whose 8 KiB data area filled up (later values read as faults).
    data_full,
    /// Output write or flush failures.
    sink_errors,
    /// Dynamic types whose recipe could not be installed (type-recipe map full).
    type_recipes_failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_fields_in_order() {
        let c = Counters {
            calls: 1,
            events: 2,
            type_recipes_failed: 9,
            ..Counters::default()
        };
        let named = c.named();
        assert_eq!(named.len(), Counters::NAMES.len());
        assert_eq!(named[0], ("calls", 1));
        assert_eq!(named[1], ("events", 2));
        assert_eq!(named.last(), Some(&("type_recipes_failed", 9)));
        // The serde names are the same names: one vocabulary.
        let json = serde_json::to_value(c).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut names = Counters::NAMES.to_vec();
        names.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, names);
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
