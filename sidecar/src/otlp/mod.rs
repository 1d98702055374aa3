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
//! Data flow: the supervisor's sink ([`OtlpSink`]) only tries to enqueue
//! the call in a bounded channel and counts a drop when it is full, so
//! draining the ring buffer never waits on the network. One task batches
//! and encodes each batch into request bytes ([`encode`]); up to
//! `max_in_flight` deliveries send and retry concurrently.

pub mod attributes;
pub mod buffers;
pub mod client;
pub mod encode;
mod handback;
#[cfg(test)]
mod reference;
pub mod resource;
pub mod settings;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{Config, OtlpConfig, Output};

/// Largest export request gotel sends, under the 4 MiB collectors accept.
const MAX_REQUEST_BYTES: usize = 3 << 20;
use crate::export::{Call, Sink};
use client::{Accepted, Client, ClientError, Failure, Payload, SendError};
use encode::Encoder;
use handback::Handback;
use resource::Resources;
pub use settings::{Settings, Signal};
use stats::AtomicExportStats;
pub use stats::ExportStats;

/// The collector's answer, or why sending failed.
type SendResult = Result<Accepted, SendError>;

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

/// The supervisor's side: enqueues calls, never waits.
pub struct OtlpSink {
    tx: mpsc::Sender<Call>,
    counters: Arc<AtomicExportStats>,
    wake: Arc<Wake>,
    /// Calls the export task is done with, freed on this thread, one
    /// per call written.
    handback: Arc<Handback>,
}

/// Wakes the export task once a batch is queued. Waiting on the channel
/// itself would wake it for every call while it fills a batch: a futex
/// wake and a context switch per call, a large part of the export's CPU.
#[derive(Default)]
struct Wake {
    /// Calls the task waits for in the queue; `usize::MAX`: not waiting.
    want: AtomicUsize,
    notify: Notify,
}

impl Sink for OtlpSink {
    fn write(&mut self, call: &Call) -> std::io::Result<()> {
        self.handback.free_one();
        // Reserve first: a full queue costs no copy of the call.
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(call.clone());
                self.counters.queued.fetch_add(1, Relaxed);
                self.queued();
            }
            Err(_) => {
                self.counters.queue_dropped.fetch_add(1, Relaxed);
            }
        }
        Ok(())
    }

    fn write_owned(&mut self, call: Call) -> std::io::Result<()> {
        self.handback.free_one();
        match self.tx.try_send(call) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Relaxed);
                self.queued();
            }
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

impl OtlpSink {
    /// After a call was queued: wakes the export task if the queue now
    /// holds what it waits for. SeqCst, against the task's store of `want`
    /// then read of the queue's length: one of the two sees the other.
    fn queued(&self) {
        let len = self.tx.max_capacity() - self.tx.capacity();
        if len >= self.wake.want.load(SeqCst) {
            self.wake.want.store(usize::MAX, SeqCst);
            self.wake.notify.notify_one();
        }
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
    /// Which signals export calls: (logs, traces).
    signals: (bool, bool),
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
        // The task and its deliveries stop at the deadline themselves; the
        // margin covers one stuck where it cannot see the deadline.
        let margin = deadline + SHUTDOWN_MARGIN;
        let mut task = self.task;
        if tokio::time::timeout_at(margin, &mut task).await.is_err() {
            warn!("OTLP export did not finish by the shutdown deadline; stopping it");
            task.abort();
            let _ = task.await;
        }
        let (logs, traces) = self.signals;
        let unsent = self.counters.seal(logs, traces);
        if unsent > 0 {
            warn!(
                calls = unsent,
                "OTLP export: calls never sent by the shutdown deadline, counted as failed"
            );
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
    let wake = Arc::new(Wake {
        want: AtomicUsize::new(usize::MAX),
        notify: Notify::new(),
    });
    let gotel_counters = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let handback = Arc::new(Handback::default());
    let (shutdown, shutdown_rx) = watch::channel(None);
    let traces_url = traces
        .as_ref()
        .map(|c| c.url.clone())
        .unwrap_or_else(|| "(traces disabled)".into());
    let exporter = Exporter {
        rx,
        wake: wake.clone(),
        encoder: Encoder::new(buffers::Pool::new()),
        handback: handback.clone(),
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
    let signals = (
        exporter.delivery.logs.is_some(),
        exporter.delivery.traces.is_some(),
    );
    let task = tokio::spawn(exporter.run());
    Ok((
        OtlpSink {
            tx,
            counters: counters.clone(),
            wake,
            handback,
        },
        OtlpHandle {
            counters,
            gotel_counters,
            shutdown,
            task,
            shutdown_timeout,
            signals,
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

/// How long past the shutdown deadline [`OtlpHandle::shutdown`] waits for
/// the export task before stopping it.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(500);

/// Resolves once the shutdown deadline `stop` announces has passed; never
/// before shutdown. Sends and waits race it, so that a collector that
/// accepts connections and never answers cannot hold gotel past it.
async fn deadline_passed(mut stop: watch::Receiver<Option<Instant>>) {
    loop {
        let deadline = *stop.borrow_and_update();
        if let Some(d) = deadline {
            tokio::time::sleep_until(d).await;
            return;
        }
        if stop.changed().await.is_err() {
            // The handle is gone without a shutdown: no deadline comes.
            return std::future::pending().await;
        }
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
    wake: Arc<Wake>,
    /// Encodes the batches, with buffers kept from one to the next.
    encoder: Encoder,
    handback: Arc<Handback>,
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
        // A full batch went out since the last tick: export is busy.
        let mut busy = false;
        loop {
            tokio::select! {
                _ = self.shutdown.changed() => break,
                _ = metrics_tick.tick() => {
                    self.handback.reclaim();
                    // Calls stopped after full batches: no batch came out
                    // short to free the kept request buffers.
                    if !std::mem::take(&mut busy) {
                        self.encoder.pool().idle();
                    }
                    if self.metrics_task.as_ref().is_none_or(|t| t.is_finished()) {
                        self.metrics_task = self.metrics_send().map(tokio::spawn);
                    }
                    continue;
                }
                n = self.rx.recv_many(&mut batch, max) => if n == 0 { break },
            }
            // Fill the batch for a little while: fewer, larger requests.
            let until = Instant::now() + self.settings.batch_timeout;
            self.fill(&mut batch, until).await;
            // Full batches: keep the request buffers of those in flight
            // and the next (logs and spans each). Else free them.
            let pool = self.encoder.pool();
            if batch.len() == max {
                pool.busy(2 * (self.settings.max_in_flight + 1));
                busy = true;
            } else {
                pool.idle();
                self.handback.reclaim();
            }
            self.dispatch(&mut batch, &permits, &mut inflight).await;
            while inflight.try_join_next().is_some() {}
            if self.shutdown.borrow().is_some() {
                break;
            }
        }
        // Shutdown: everything still queued (counted as failed, unsent,
        // once the deadline has passed), then the final counters.
        self.dispatch(&mut batch, &permits, &mut inflight).await;
        while !self.rx.is_empty() {
            self.rx.recv_many(&mut batch, max).await;
            self.dispatch(&mut batch, &permits, &mut inflight).await;
        }
        // Each delivery ends by the deadline.
        while inflight.join_next().await.is_some() {}
        // The final totals go last; a periodic send under way also ends by
        // the deadline.
        if let Some(t) = self.metrics_task.take() {
            let _ = t.await;
        }
        if let Some(send) = self.metrics_send() {
            send.await;
        }
    }

    /// Adds queued calls to `batch` until it is full, `until` passes or
    /// shutdown begins; the sink wakes this task when enough are queued.
    async fn fill(&mut self, batch: &mut Vec<Call>, until: Instant) {
        let max = self.settings.max_batch;
        loop {
            while batch.len() < max {
                match self.rx.try_recv() {
                    Ok(call) => batch.push(call),
                    Err(_) => break,
                }
            }
            let room = max - batch.len();
            if room == 0 || self.rx.is_closed() {
                break;
            }
            self.wake.want.store(room, SeqCst);
            // Queued since the drain, before `want` was set: no wake coming.
            if self.rx.len() >= room {
                continue;
            }
            tokio::select! {
                // A wake may be stale (for an earlier wait): the loop
                // takes what there is and waits again.
                _ = self.wake.notify.notified() => {}
                _ = tokio::time::sleep_until(until) => break,
                _ = self.shutdown.changed() => break,
            }
        }
        self.wake.want.store(usize::MAX, SeqCst);
        while batch.len() < max {
            match self.rx.try_recv() {
                Ok(call) => batch.push(call),
                Err(_) => break,
            }
        }
    }

    /// Encodes `batch` (emptied, its capacity kept) and hands its requests
    /// to a delivery once one of the `max_in_flight` is free; past the
    /// shutdown deadline, counts its calls as failed instead.
    async fn dispatch(
        &mut self,
        batch: &mut Vec<Call>,
        permits: &Arc<Semaphore>,
        inflight: &mut JoinSet<()>,
    ) {
        if batch.is_empty() {
            return;
        }
        // All deliveries may be stuck on a collector that does not answer;
        // they give up at the deadline, and so does this wait.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => Some(p.expect("never closed")),
            _ = deadline_passed(self.shutdown.clone()) => None,
        };
        let late = self.deadline().is_some_and(|d| d <= Instant::now());
        let Some(permit) = permit.filter(|_| !late) else {
            self.delivery.unsent(batch.len() as u64);
            batch.clear();
            return;
        };
        let mut jobs = Vec::new();
        self.encode(batch, &mut jobs);
        // A full batch's calls go back to the sink's thread to be freed.
        if batch.len() == self.settings.max_batch {
            self.handback.give(batch);
        } else {
            batch.clear();
        }
        let (d, stop) = (self.delivery.clone(), self.shutdown.clone());
        inflight.spawn(async move {
            for (n, payloads) in jobs {
                d.deliver(n, payloads, stop.clone()).await;
            }
            drop(permit);
        });
    }

    /// `calls` as requests: (calls, logs and spans requests) in `out`.
    fn encode(&mut self, calls: &[Call], out: &mut Vec<(u64, Vec<Payload>)>) {
        if calls.is_empty() {
            return;
        }
        let d = &self.delivery;
        let payloads = self.encoder.requests(
            calls,
            &d.resources,
            d.logs.is_some(),
            d.traces.is_some(),
            unix_nano(),
        );
        // Collectors refuse messages over 4 MiB (gRPC's default), and a
        // call can carry 16 KiB of values twice: halve until it fits.
        if calls.len() > 1 && payloads.iter().any(|p| p.encoded_len() > MAX_REQUEST_BYTES) {
            let (a, b) = calls.split_at(calls.len() / 2);
            self.encode(a, out);
            self.encode(b, out);
            return;
        }
        out.push((calls.len() as u64, payloads));
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
        let req = Payload::of(
            Signal::Metrics,
            &ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(self.delivery.resources.for_gotel()),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(scope()),
                        metrics,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            },
        );
        let timeout = match self.deadline() {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => self.settings.metrics.timeout,
        };
        let counters = self.delivery.counters.clone();
        let stop = self.shutdown.clone();
        Some(async move {
            if timeout.is_zero() {
                counters.failed_metrics.fetch_add(1, Relaxed);
                return;
            }
            let sent = tokio::select! {
                r = client.send(&req, timeout) => r.map_err(|e| e.to_string()),
                _ = deadline_passed(stop) => Err("unanswered at the shutdown deadline".into()),
            };
            match sent {
                Err(e) => {
                    counters.failed_metrics.fetch_add(1, Relaxed);
                    tracing::debug!(url = %client.url, "OTLP metrics export failed: {e}");
                }
                // Counters are resent whole next time: a refused point is
                // noted, not counted.
                Ok(a) if a.rejected > 0 || !a.message.is_empty() => {
                    tracing::debug!(url = %client.url, rejected = a.rejected, "OTLP metrics partially rejected: {}", a.message);
                }
                Ok(_) => {}
            }
        })
    }
}

impl Delivery {
    /// The client of a call payload's signal (enabled, or no payload).
    fn client(&self, p: &Payload) -> &Client {
        match p.signal {
            Signal::Logs => self.logs.as_ref(),
            _ => self.traces.as_ref(),
        }
        .expect("payloads are built for enabled signals only")
    }

    /// Counts `n` calls never sent (past the shutdown deadline) as failed
    /// for each enabled signal.
    fn unsent(&self, n: u64) {
        if self.logs.is_some() {
            self.counters.settle(Signal::Logs, n, 0, 0);
        }
        if self.traces.is_some() {
            self.counters.settle(Signal::Traces, n, 0, 0);
        }
    }

    /// Sends one batch's logs and spans, retrying the retryable failures
    /// with exponential backoff for up to `max_retry` (or until the
    /// shutdown deadline `stop` announces, even mid-request). Settles each
    /// request's `n` calls exactly once: exported, rejected or failed.
    async fn deliver(
        &self,
        n: u64,
        mut pending: Vec<Payload>,
        mut stop: watch::Receiver<Option<Instant>>,
    ) {
        // Past the shutdown deadline: count, do not build what cannot be sent.
        if stop.borrow().is_some_and(|d| d <= Instant::now()) {
            self.unsent(n);
            return;
        }
        if pending.is_empty() {
            // OTEL_LOGS_EXPORTER=none and OTEL_TRACES_EXPORTER=none.
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
            // None: not answered by the deadline (given or announced meanwhile).
            async fn send(
                c: &Client,
                p: &Payload,
                left: Duration,
                stop: watch::Receiver<Option<Instant>>,
            ) -> Option<SendResult> {
                if left.is_zero() {
                    return None;
                }
                tokio::select! {
                    r = c.send(p, left) => Some(r),
                    _ = deadline_passed(stop) => None,
                }
            }
            // Logs and spans travel concurrently, each settled on its own.
            let results = match pending.as_slice() {
                [a] => vec![send(self.client(a), a, left, stop.clone()).await],
                [a, b] => {
                    let (x, y) = tokio::join!(
                        send(self.client(a), a, left, stop.clone()),
                        send(self.client(b), b, left, stop.clone())
                    );
                    vec![x, y]
                }
                _ => unreachable!("at most logs and traces"),
            };
            let mut failed = Vec::new();
            let mut wait = backoff;
            for (p, r) in pending.into_iter().zip(results) {
                let url = &self.client(&p).url;
                let settle = |exported, rejected| {
                    self.counters.settle(p.signal, n, exported, rejected);
                };
                match r {
                    None => {
                        warn!(url = %url, items = n, "OTLP export unanswered at the shutdown deadline; counted as failed");
                        settle(0, 0);
                    }
                    Some(Ok(a)) => {
                        let rejected = a.rejected.min(n);
                        settle(n - rejected, rejected);
                        if rejected > 0 || !a.message.is_empty() {
                            warn!(url = %url, items = n, rejected, "OTLP collector rejected part of a batch: {}", a.message);
                        }
                        if self.down.swap(false, Relaxed) {
                            info!(url = %url, "OTLP collector reachable again");
                        }
                    }
                    Some(Err(e)) if e.retryable() => {
                        // The collector's own throttling hint wins when longer.
                        wait = wait.max(e.retry_after.unwrap_or_default());
                        if !self.down.swap(true, Relaxed) {
                            warn!(url = %url, "OTLP export failed, retrying with backoff: {e}");
                        }
                        failed.push(p);
                    }
                    Some(Err(e)) if e.failure == Failure::Refused => {
                        warn!(url = %url, items = n, "OTLP export rejected, dropping the batch: {e}");
                        settle(0, n);
                    }
                    Some(Err(e)) => {
                        warn!(url = %url, items = n, "OTLP export failed, dropping the batch: {e}");
                        settle(0, 0);
                    }
                }
            }
            pending = failed;
            if pending.is_empty() {
                return;
            }
            if Instant::now() + wait >= limit(&stop) {
                for p in &pending {
                    self.counters.settle(p.signal, n, 0, 0);
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
