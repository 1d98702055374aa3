//! OTLP export: each call as one LogRecord and one Span, gotel's counters
//! as metrics.
//!
//! Why the requests are built here from `opentelemetry-proto` types rather
//! than through the opentelemetry SDK: an SDK provider (and so each of its
//! exporters) carries exactly one `Resource`, but one gotel traces many
//! processes, each its own resource (pid, executable, Go version, pod…).
//! One provider per process would mean a batch processor, a connection and
//! a background thread per traced process. Building the
//! `Export*ServiceRequest`s directly groups each batch into one
//! ResourceLogs/ResourceSpans per process and sends them over one connection
//! per signal. It also keeps the call's real start/end times and the trace
//! ids gotel assigned at entry, which an SDK span API would want to own.
//!
//! Data flow: the supervisor's sink ([`OtlpSink`]) only tries to enqueue a
//! copy of the call in a bounded channel and counts a drop when it is full,
//! so draining the ring buffer never waits on the network. One task batches;
//! up to `max_in_flight` deliveries convert, send and retry concurrently.

pub mod attributes;
pub mod client;
pub mod resource;
pub mod settings;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{Config, OtlpConfig, Output};

/// Largest export request gotel sends, under the 4 MiB collectors accept.
const MAX_REQUEST_BYTES: usize = 3 << 20;
use crate::export::{Call, Origin, Sink};
use client::{Client, ClientError, Payload, SendError};
use resource::Resources;
pub use settings::{Settings, Signal};

/// Items rejected by the collector (partial success), or why sending failed.
type SendResult = Result<i64, SendError>;

/// The outputs in effect: the configured ones, else OTLP when an endpoint
/// is configured anywhere, else JSONL.
pub fn outputs(cfg: &Config) -> Vec<Output> {
    match &cfg.outputs {
        Some(o) => o.clone(),
        None if settings::endpoint_configured(&cfg.otlp, &settings::process_env) => {
            vec![Output::Otlp]
        }
        None => vec![Output::Jsonl],
    }
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// A setting (file or environment) is invalid.
    #[error("otlp.{0}: {1}")]
    Settings(String, String),
    /// A client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Export counters, shared by the sink, the task and the handle.
#[derive(Debug, Default)]
struct AtomicExportStats {
    queue_dropped: AtomicU64,
    exported_logs: AtomicU64,
    exported_spans: AtomicU64,
    failed_logs: AtomicU64,
    failed_spans: AtomicU64,
    failed_metrics: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
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
    /// Log records given up on (non-retryable error, retries exhausted, or
    /// unsent at the shutdown deadline).
    pub failed_logs: u64,
    /// Spans given up on.
    pub failed_spans: u64,
    /// Metric requests that failed (the next one carries the same totals).
    pub failed_metrics: u64,
    /// Items the collector answered as rejected (partial success).
    pub rejected: u64,
    /// Request retries after a retryable failure.
    pub retries: u64,
}

impl AtomicExportStats {
    fn snapshot(&self) -> ExportStats {
        ExportStats {
            queue_dropped: self.queue_dropped.load(Relaxed),
            exported_logs: self.exported_logs.load(Relaxed),
            exported_spans: self.exported_spans.load(Relaxed),
            failed_logs: self.failed_logs.load(Relaxed),
            failed_spans: self.failed_spans.load(Relaxed),
            failed_metrics: self.failed_metrics.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            retries: self.retries.load(Relaxed),
        }
    }
}

impl ExportStats {
    /// As named counters, for metrics.
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("export.queue_dropped", self.queue_dropped),
            ("export.exported_logs", self.exported_logs),
            ("export.exported_spans", self.exported_spans),
            ("export.failed_logs", self.failed_logs),
            ("export.failed_spans", self.failed_spans),
            ("export.failed_metric_requests", self.failed_metrics),
            ("export.rejected", self.rejected),
            ("export.retries", self.retries),
        ]
    }
}

/// The supervisor's side: enqueues calls, never waits.
pub struct OtlpSink {
    tx: mpsc::Sender<Call>,
    counters: Arc<AtomicExportStats>,
}

impl Sink for OtlpSink {
    fn write(&mut self, call: &Call) -> std::io::Result<()> {
        // Reserve first: a full queue costs no copy of the call.
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(call.clone()),
            Err(_) => {
                self.counters.queue_dropped.fetch_add(1, Relaxed);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // The export task batches on its own clock.
        Ok(())
    }
}

/// Counters from the rest of gotel, exported as metrics: (name, total).
pub type NamedCounters = Vec<(&'static str, u64)>;

/// Gauges from the rest of gotel, exported as metrics: (name, unit, value).
pub type NamedGauges = Vec<(&'static str, &'static str, u64)>;

/// The main loop's side: feeds counters in, stops the exporter.
pub struct OtlpHandle {
    counters: Arc<AtomicExportStats>,
    gotel_counters: Arc<Mutex<(NamedCounters, NamedGauges)>>,
    shutdown: watch::Sender<Option<Instant>>,
    task: tokio::task::JoinHandle<()>,
    shutdown_timeout: Duration,
    /// Where spans go, for the start-up log.
    pub traces_url: String,
}

impl OtlpHandle {
    /// Replaces the counters and gauges exported as metrics with newer
    /// readings.
    pub fn set_counters(&self, c: NamedCounters, g: NamedGauges) {
        *self.gotel_counters.lock().expect("not poisoned") = (c, g);
    }

    /// The export counters now.
    pub fn stats(&self) -> ExportStats {
        self.counters.snapshot()
    }

    /// Exports what is queued and the final counters, waiting at most the
    /// configured shutdown timeout; what is left then is counted as failed.
    pub async fn shutdown(self, last: NamedCounters, gauges: NamedGauges) -> ExportStats {
        self.set_counters(last, gauges);
        let deadline = Instant::now() + self.shutdown_timeout;
        let _ = self.shutdown.send(Some(deadline));
        // The task honours the deadline itself; the margin covers a request
        // that ignores its timeout.
        let margin = deadline + Duration::from_millis(500);
        if tokio::time::timeout_at(margin, self.task).await.is_err() {
            warn!("OTLP export did not finish by the shutdown deadline");
        }
        self.counters.snapshot()
    }
}

/// Starts the export task on the current tokio runtime.
pub fn start(cfg: &OtlpConfig) -> Result<(OtlpSink, OtlpHandle), OtlpError> {
    let settings = Settings::resolve(cfg, &settings::process_env)
        .map_err(|(f, m)| OtlpError::Settings(f, m))?;
    let clients = [&settings.traces, &settings.logs, &settings.metrics]
        .map(|s| s.enabled.then(|| Client::new(s)).transpose());
    let [traces, logs, metrics] = clients;
    let (traces, logs, metrics) = (traces?, logs?, metrics?);
    let (tx, rx) = mpsc::channel(settings.queue_size);
    let counters = Arc::new(AtomicExportStats::default());
    let gotel_counters = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let (shutdown, shutdown_rx) = watch::channel(None);
    let traces_url = traces
        .as_ref()
        .map(|c| c.url.clone())
        .unwrap_or_else(|| "(traces disabled)".into());
    let exporter = Exporter {
        rx,
        metrics: metrics.map(Arc::new),
        metrics_task: None,
        delivery: Arc::new(Delivery {
            traces,
            logs,
            resources: Resources::new(&settings),
            counters: counters.clone(),
            max_retry: settings.max_retry,
            down: AtomicBool::new(false),
        }),
        gotel_counters: gotel_counters.clone(),
        shutdown: shutdown_rx,
        started_unix_nano: unix_nano(),
        settings,
    };
    let shutdown_timeout = exporter.settings.shutdown_timeout;
    let task = tokio::spawn(exporter.run());
    Ok((
        OtlpSink {
            tx,
            counters: counters.clone(),
        },
        OtlpHandle {
            counters,
            gotel_counters,
            shutdown,
            task,
            shutdown_timeout,
            traces_url,
        },
    ))
}

fn unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "gotel".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}

/// First retry delay; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the concurrent deliveries share.
struct Delivery {
    traces: Option<Client>,
    logs: Option<Client>,
    resources: Resources,
    counters: Arc<AtomicExportStats>,
    max_retry: Duration,
    /// The last send failed: log recovery once, not every failure.
    down: AtomicBool,
}

struct Exporter {
    rx: mpsc::Receiver<Call>,
    metrics: Option<Arc<Client>>,
    /// The periodic metrics send under way, if any: it runs beside the
    /// batching, which a slow collector must not stall.
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    delivery: Arc<Delivery>,
    gotel_counters: Arc<Mutex<(NamedCounters, NamedGauges)>>,
    shutdown: watch::Receiver<Option<Instant>>,
    started_unix_nano: u64,
    settings: Settings,
}

impl Exporter {
    async fn run(mut self) {
        let mut metrics_tick = tokio::time::interval(self.settings.metrics_interval);
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        metrics_tick.tick().await;
        let max = self.settings.max_batch;
        // Batches in flight at once: a collector's round trip does not
        // idle the exporter. While all are busy (or retrying) nothing is
        // taken from the queue, which then fills and drops.
        let permits = Arc::new(Semaphore::new(self.settings.max_in_flight));
        let mut inflight = JoinSet::new();
        let mut batch: Vec<Call> = Vec::with_capacity(max);
        loop {
            tokio::select! {
                _ = self.shutdown.changed() => break,
                _ = metrics_tick.tick() => {
                    if self.metrics_task.as_ref().is_none_or(|t| t.is_finished()) {
                        self.metrics_task = self.metrics_send().map(tokio::spawn);
                    }
                    continue;
                }
                n = self.rx.recv_many(&mut batch, max) => if n == 0 { break },
            }
            // Fill the batch for a little while: fewer, larger requests.
            let until = Instant::now() + self.settings.batch_timeout;
            while batch.len() < max {
                let room = max - batch.len();
                tokio::select! {
                    n = self.rx.recv_many(&mut batch, room) => if n == 0 { break },
                    _ = tokio::time::sleep_until(until) => break,
                    _ = self.shutdown.changed() => break,
                }
            }
            let permit = permits.clone().acquire_owned().await.expect("never closed");
            let calls = std::mem::replace(&mut batch, Vec::with_capacity(max));
            let (d, stop) = (self.delivery.clone(), self.shutdown.clone());
            inflight.spawn(async move {
                d.deliver(&calls, stop).await;
                drop(permit);
            });
            while inflight.try_join_next().is_some() {}
            if self.shutdown.borrow().is_some() {
                break;
            }
        }
        // Shutdown: everything still queued, then the final counters.
        while !self.rx.is_empty() {
            self.rx.recv_many(&mut batch, max).await;
            let permit = permits.clone().acquire_owned().await.expect("never closed");
            let calls = std::mem::replace(&mut batch, Vec::with_capacity(max));
            let (d, stop) = (self.delivery.clone(), self.shutdown.clone());
            inflight.spawn(async move {
                d.deliver(&calls, stop).await;
                drop(permit);
            });
        }
        while inflight.join_next().await.is_some() {}
        // The final totals go last.
        if let Some(t) = self.metrics_task.take() {
            let _ = t.await;
        }
        if let Some(send) = self.metrics_send() {
            send.await;
        }
    }

    fn deadline(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    /// A send of gotel's counters as they are now (cumulative sums: a lost
    /// request is made good by the next).
    fn metrics_send(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let client = self.metrics.clone()?;
        let now = unix_nano();
        let (mut named, gauges) = self.gotel_counters.lock().expect("not poisoned").clone();
        named.extend(self.delivery.counters.snapshot().named());
        let point = |v: u64| NumberDataPoint {
            attributes: Vec::new(),
            start_time_unix_nano: self.started_unix_nano,
            time_unix_nano: now,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(number_data_point::Value::AsInt(
                v.min(i64::MAX as u64) as i64
            )),
        };
        let metric = |name: &str, unit: &str, data| Metric {
            name: format!("gotel.{name}"),
            description: String::new(),
            unit: unit.into(),
            metadata: Vec::new(),
            data: Some(data),
        };
        let sums = named.into_iter().map(|(name, v)| {
            let sum = Sum {
                data_points: vec![point(v)],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            };
            metric(name, "1", metric::Data::Sum(sum))
        });
        let gauges = gauges.into_iter().map(|(name, unit, v)| {
            let gauge = Gauge {
                data_points: vec![point(v)],
            };
            metric(name, unit, metric::Data::Gauge(gauge))
        });
        let metrics = sums.chain(gauges).collect();
        let req = Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.delivery.resources.for_gotel()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        });
        let timeout = match self.deadline() {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => self.settings.metrics.timeout,
        };
        let counters = self.delivery.counters.clone();
        Some(async move {
            if timeout.is_zero() {
                counters.failed_metrics.fetch_add(1, Relaxed);
                return;
            }
            if let Err(e) = client.send(&req, timeout).await {
                counters.failed_metrics.fetch_add(1, Relaxed);
                tracing::debug!(url = %client.url, "OTLP metrics export failed: {e}");
            }
        })
    }
}

impl Delivery {
    /// The client of a call payload's signal (enabled, or no payload).
    fn client(&self, p: &Payload) -> &Client {
        match p {
            Payload::Logs(_) => self.logs.as_ref(),
            _ => self.traces.as_ref(),
        }
        .expect("payloads are built for enabled signals only")
    }

    /// Sends one batch's logs and spans, retrying the retryable failures
    /// with exponential backoff for up to `max_retry` (or until the
    /// shutdown deadline `stop` announces).
    async fn deliver(&self, calls: &[Call], mut stop: watch::Receiver<Option<Instant>>) {
        if calls.is_empty() {
            return;
        }
        let n = calls.len() as u64;
        // Past the shutdown deadline: count, do not build what cannot be sent.
        if stop.borrow().is_some_and(|d| d <= Instant::now()) {
            if self.logs.is_some() {
                self.counters.failed_logs.fetch_add(n, Relaxed);
            }
            if self.traces.is_some() {
                self.counters.failed_spans.fetch_add(n, Relaxed);
            }
            return;
        }
        let mut pending = requests(
            calls,
            &self.resources,
            self.logs.is_some(),
            self.traces.is_some(),
        );
        if pending.is_empty() {
            // OTEL_LOGS_EXPORTER=none and OTEL_TRACES_EXPORTER=none.
            return;
        }
        // Collectors refuse messages over 4 MiB (gRPC's default), and a
        // call can carry 16 KiB of values twice: halve until it fits.
        if calls.len() > 1 && pending.iter().any(|p| p.encoded_len() > MAX_REQUEST_BYTES) {
            drop(pending);
            let (a, b) = calls.split_at(calls.len() / 2);
            Box::pin(self.deliver(a, stop.clone())).await;
            Box::pin(self.deliver(b, stop)).await;
            return;
        }
        // max_retry bounds the retries, not the first attempt, which gets
        // the configured timeout (or what is left before shutdown).
        let first = pending
            .iter()
            .map(|p| self.client(p).timeout)
            .max()
            .unwrap_or_default();
        let give_up_at = Instant::now() + self.max_retry.max(first);
        let limit = |stop: &watch::Receiver<Option<Instant>>| {
            stop.borrow().map_or(give_up_at, |d| d.min(give_up_at))
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let left = limit(&stop).saturating_duration_since(Instant::now());
            async fn send(c: &Client, p: &Payload, left: Duration) -> Option<SendResult> {
                match left.is_zero() {
                    true => None,
                    false => Some(c.send(p, left).await),
                }
            }
            // Logs and spans travel concurrently.
            let results = match pending.as_slice() {
                [a] => vec![send(self.client(a), a, left).await],
                [a, b] => {
                    let (x, y) =
                        tokio::join!(send(self.client(a), a, left), send(self.client(b), b, left));
                    vec![x, y]
                }
                _ => unreachable!("at most logs and traces"),
            };
            let mut failed = Vec::new();
            let mut wait = backoff;
            for (p, r) in pending.into_iter().zip(results) {
                let (exported, lost) = match &p {
                    Payload::Logs(_) => (&self.counters.exported_logs, &self.counters.failed_logs),
                    _ => (&self.counters.exported_spans, &self.counters.failed_spans),
                };
                let url = &self.client(&p).url;
                match r {
                    None => {
                        lost.fetch_add(n, Relaxed);
                    }
                    Some(Ok(rejected)) => {
                        exported.fetch_add(n - (rejected.max(0) as u64).min(n), Relaxed);
                        if rejected > 0 {
                            self.counters.rejected.fetch_add(rejected as u64, Relaxed);
                        }
                        if self.down.swap(false, Relaxed) {
                            info!(url = %url, "OTLP collector reachable again");
                        }
                    }
                    Some(Err(e)) if e.retryable => {
                        // The collector's own throttling hint wins when longer.
                        wait = wait.max(e.retry_after.unwrap_or_default());
                        if !self.down.swap(true, Relaxed) {
                            warn!(url = %url, "OTLP export failed, retrying with backoff: {e}");
                        }
                        failed.push(p);
                    }
                    Some(Err(e)) => {
                        warn!(url = %url, items = n, "OTLP export rejected, dropping the batch: {e}");
                        lost.fetch_add(n, Relaxed);
                    }
                }
            }
            pending = failed;
            if pending.is_empty() {
                return;
            }
            if Instant::now() + wait >= limit(&stop) {
                for p in &pending {
                    match p {
                        Payload::Logs(_) => self.counters.failed_logs.fetch_add(n, Relaxed),
                        _ => self.counters.failed_spans.fetch_add(n, Relaxed),
                    };
                }
                warn!(
                    items = n,
                    "OTLP export retries exhausted; dropping the batch"
                );
                return;
            }
            self.counters.retries.fetch_add(1, Relaxed);
            // Up to 25% jitter, so many sidecars do not retry in step.
            let jitter = wait.mul_f64(rand::random::<f64>() * 0.25);
            tokio::select! {
                _ = tokio::time::sleep(wait + jitter) => {}
                // A shutdown moves the deadline: re-check it now.
                _ = stop.changed() => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// The batch as an ExportLogsServiceRequest (when `logs`) and an
/// ExportTraceServiceRequest (when `traces`), with one
/// ResourceLogs/ResourceSpans per traced process.
fn requests(calls: &[Call], resources: &Resources, logs: bool, traces: bool) -> Vec<Payload> {
    let observed = unix_nano();
    let mut groups: Vec<(&Arc<Origin>, Vec<_>, Vec<_>)> = Vec::new();
    for c in calls {
        let i = match groups
            .iter()
            .position(|(o, _, _)| Arc::ptr_eq(o, &c.origin) || ***o == *c.origin)
        {
            Some(i) => i,
            None => {
                groups.push((&c.origin, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        let attrs = attributes::call_attributes(c);
        if logs {
            groups[i]
                .1
                .push(attributes::log_record(c, attrs.clone(), observed));
        }
        if traces {
            groups[i].2.push(attributes::span(c, attrs));
        }
    }
    let mut resource_logs = Vec::new();
    let mut resource_spans = Vec::new();
    for (origin, l, s) in groups {
        let resource = resources.for_process(origin);
        resource_logs.push(ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: l,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
        resource_spans.push(ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: s,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    let mut out = Vec::with_capacity(2);
    if logs {
        out.push(Payload::Logs(ExportLogsServiceRequest { resource_logs }));
    }
    if traces {
        out.push(Payload::Traces(ExportTraceServiceRequest {
            resource_spans,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::GoValue;
    use crate::export::TraceIds;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn call(origin: &Arc<Origin>, n: i64) -> Call {
        Call {
            probe: "p".into(),
            function: "main.f".into(),
            pid: origin.pid,
            tid: 1,
            goroutine: 1,
            start_time_unix_nano: 1,
            duration_ns: Some(1),
            panicked: false,
            unfinished: None,
            ended_by_unix_nano: None,
            args: vec![("n".into(), GoValue::Int(n))],
            returns: vec![],
            error: None,
            trace: TraceIds::root(),
            origin: origin.clone(),
        }
    }

    #[test]
    fn one_resource_per_traced_process() {
        let a = Arc::new(Origin {
            pid: 10,
            exe: "/a".into(),
            ..Default::default()
        });
        // Another attachment of the same process: equal, not the same Arc.
        let a2 = Arc::new((*a).clone());
        let b = Arc::new(Origin {
            pid: 20,
            exe: "/b".into(),
            ..Default::default()
        });
        let calls = [call(&a, 1), call(&b, 2), call(&a2, 3)];
        let settings = Settings::resolve(&OtlpConfig::default(), &|_| None).unwrap();
        let out = requests(&calls, &Resources::new(&settings), true, true);
        let [Payload::Logs(logs), Payload::Traces(traces)] = &out[..] else {
            panic!("{out:?}");
        };
        let per_pid: Vec<(Option<Value>, usize)> = traces
            .resource_spans
            .iter()
            .map(|rs| {
                let pid = rs
                    .resource
                    .as_ref()
                    .unwrap()
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "process.pid")
                    .and_then(|kv| kv.value.clone()?.value);
                (pid, rs.scope_spans[0].spans.len())
            })
            .collect();
        assert_eq!(
            per_pid,
            [
                (Some(Value::IntValue(10)), 2),
                (Some(Value::IntValue(20)), 1)
            ]
        );
        assert_eq!(logs.resource_logs.len(), 2);
        assert_eq!(logs.resource_logs[0].scope_logs[0].log_records.len(), 2);
        // Spans only: no log request at all.
        let out = requests(&calls, &Resources::new(&settings), false, true);
        assert!(matches!(&out[..], [Payload::Traces(_)]));
    }
}
