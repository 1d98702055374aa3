//! `/metrics`: gotel's counters and gauges, and per-probe series, in the
//! OpenMetrics text format, encoded by `prometheus-client` from a
//! snapshot at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::Snapshot;
use crate::live::ProbeStatus;

/// The exposition's media type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The snapshot, and gotel's resident memory, as one scrape.
#[derive(Debug)]
struct Scrape {
    snapshot: Snapshot,
    resident_bytes: Option<u64>,
}

/// Encodes one scrape.
pub fn encode(snapshot: &Snapshot, resident_bytes: Option<u64>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("gotel");
    registry.register_collector(Box::new(Scrape {
        snapshot: snapshot.clone(),
        resident_bytes,
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Writes one unlabelled counter.
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

/// Writes one unlabelled gauge.
fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: i64,
) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, unit, g.metric_type())?)
}

/// Writes one series per probe, labelled `probe`.
fn per_probe<M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (Vec<(&'static str, String)>, M)>,
    kind: prometheus_client::metrics::MetricType,
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in series {
        m.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A label value as the exposition format spells it: prometheus-client
/// writes label values as given, and a `"`, `\` or newline in a probe's
/// name or an error would break the whole scrape.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.snapshot.status;
        for (name, v) in s.counters.named() {
            counter(&mut e, name, crate::counters::help(name), v)?;
        }
        if let Some(x) = &self.snapshot.export {
            for (name, v) in x.named() {
                let name = name.replace('.', "_");
                counter(&mut e, &name, "OTLP export counter (see the README)", v)?;
            }
        }
        gauge(
            &mut e,
            "open_calls",
            "calls entered and not yet ended",
            None,
            clamp(s.open.count),
        )?;
        let age = Unit::Seconds;
        let oldest = clamp(s.open.oldest_age_ns / 1_000_000_000);
        gauge(
            &mut e,
            "open_call_oldest_age",
            "age of the oldest open call",
            Some(&age),
            oldest,
        )?;
        let cached = s.binaries_cached as i64;
        gauge(
            &mut e,
            "binaries_cached",
            "analysed binaries kept in the cache",
            None,
            cached,
        )?;
        if let Some(rss) = self.resident_bytes {
            let bytes = Unit::Bytes;
            gauge(
                &mut e,
                "resident_memory",
                "gotel's resident memory",
                Some(&bytes),
                clamp(rss),
            )?;
        }
        let label = |p: &crate::live::ProbeStatus| vec![("probe", escape(&p.name))];
        per_probe(
            &mut e,
            "probe_attached_sites",
            "uprobes of the probe in the kernel (entry and return sites, all processes)",
            s.probes.iter().map(|p| {
                (
                    label(p),
                    ConstGauge::new(p.attached.iter().map(|a| a.sites as i64).sum::<i64>()),
                )
            }),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        per_probe(
            &mut e,
            "probe_attached_processes",
            "processes the probe is attached to",
            s.probes.iter().map(|p| {
                let mut pids: Vec<u32> = p.attached.iter().map(|a| a.pid).collect();
                pids.dedup();
                (label(p), ConstGauge::new(pids.len() as i64))
            }),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        per_probe(
            &mut e,
            "probe_failed_processes",
            "matching processes the probe could not attach to",
            s.probes
                .iter()
                .map(|p| (label(p), ConstGauge::new(p.failed.len() as i64))),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        let counter = |name: &'static str, help: &'static str, get: fn(&ProbeStatus) -> u64| {
            (name, help, get)
        };
        // Each probe's counters, one series each.
        for (name, help, get) in [
            counter("probe_calls", "calls of the probe delivered", |p| {
                p.counts.calls
            }),
            counter(
                "probe_failed_calls",
                "delivered calls that returned a non-nil error or panicked",
                |p| p.counts.failed_calls,
            ),
            counter(
                "probe_read_faults",
                "records of the probe in which some memory could not be read",
                |p| p.counts.read_faults,
            ),
            counter(
                "probe_dropped",
                "records of the probe the kernel dropped (ring buffer full, CPU busy)",
                |p| p.counts.dropped,
            ),
            counter(
                "probe_hits",
                "uprobe hits of the probe (every site and process): what its breaker watches",
                |p| p.counts.hits,
            ),
            counter(
                "probe_rate_limited",
                "calls of the probe not kept by its rate_limit",
                |p| p.counts.rate_limited,
            ),
            counter(
                "probe_sampled_out",
                "calls of the probe not kept by its sample",
                |p| p.counts.sampled_out,
            ),
            counter(
                "probe_breaker_trips",
                "times the probe's breaker detached it",
                |p| p.breaker.trips,
            ),
            counter(
                "probe_filtered",
                "calls of the probe not delivered: its when or when_return was false",
                |p| p.counts.filtered,
            ),
        ] {
            per_probe(
                &mut e,
                name,
                help,
                s.probes
                    .iter()
                    .map(|p| (label(p), ConstCounter::new(get(p)))),
                prometheus_client::metrics::MetricType::Counter,
            )?;
        }
        per_probe(
            &mut e,
            "probe_breaker_open",
            "1 while the probe's breaker keeps it detached",
            s.probes
                .iter()
                .map(|p| (label(p), ConstGauge::new(i64::from(p.breaker.open)))),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        per_probe(
            &mut e,
            "probe_last_error",
            "the latest reason the probe could not attach (value 1, reason in the label)",
            s.probes.iter().filter_map(|p| {
                let mut l = label(p);
                l.push(("error", escape(p.last_error()?)));
                Some((l, ConstGauge::new(1i64)))
            }),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Status;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        let probe = ProbeStatus {
            name: "say \"hi\"\n".into(),
            function: "main.f".into(),
            target: "pid 1".into(),
            attached: Vec::new(),
            previous_version: Vec::new(),
            failed: Vec::new(),
            waiting: true,
            counts: Default::default(),
            breaker: Default::default(),
        };
        let snapshot = Snapshot {
            status: Status {
                probes: vec![probe],
                ..Default::default()
            },
            export: None,
        };
        let text = encode(&snapshot, None).unwrap();
        assert!(
            text.contains(r#"gotel_probe_calls_total{probe="say \"hi\"\n"} 0"#),
            "{text}"
        );
    }
}
