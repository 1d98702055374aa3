//! Not a test: measures gotel's userspace side alone, without the kernel, on
//! one core (`scripts/bench.sh` runs it; the targets are per core).
//!
//!   userspace_bench BENCH_BINARY [CALLS]
//!
//! BENCH_BINARY is integration/bench built with DWARF: its `main.work` and
//! `main.workNested` are analysed and planned as `gotel run` would, and
//! ring-buffer records are laid out for those very recipes as the BPF
//! program writes them (`ebpf/gotel.h`), with known values. Each record pair
//! goes through the real `live::pipeline` (route, correlate, decode, the
//! `Call`), then:
//!
//! - decode alone, and decode + JSONL (`export::JsonLines` into a sink):
//!   records/s, the "events/s";
//! - OTLP: the calls through `otlp::start`'s sink and export task, over gRPC
//!   to a receiver in this process that only counts (its threads pinned to
//!   the other CPU): calls/s until the receiver has every span and log.
//!
//! The first call of each function is checked value by value before
//! anything is timed: a faster pipeline that decodes wrongly is no result.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gotel::config::{OtlpConfig, ProbeSpec};
use gotel::decode::Names;
use gotel::export::{Call, JsonLines, Origin, Sink};
use gotel::golang::types::{TypeId, TypeTable};
use gotel::golang::BinaryInfo;
use gotel::live::pipeline::{Attachment, Lookups, Pipeline};
use gotel::plan::{Plan, TypePlan};
use gotel::recipe::{
    RawEvent, RawOp, LOC_ELEM, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_STRING, SITE_ENTRY, SITE_RETURN,
};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// The bench program's string argument (integration/bench's `payload`).
const PAYLOAD: &str = "gotel-bench-payload-0123456789abcdefghij";

/// A binary whose functions have no interfaces: decoding looks nothing up.
struct NoNames;

impl Names for NoNames {
    fn runtime_type(&self, _: u64) -> Option<(String, Option<TypeId>)> {
        None
    }
    fn runtime_kind(&self, _: u64) -> Option<(u8, u64)> {
        None
    }
    fn type_named(&self, _: &str) -> Option<TypeId> {
        None
    }
    fn type_table(&self) -> Option<&TypeTable> {
        None
    }
    fn func_name(&self, _: u64) -> Option<String> {
        None
    }
    fn errno_text(&self, _: u64) -> Option<String> {
        None
    }
    fn dyn_plan(&self, _: u64) -> Option<Arc<TypePlan>> {
        None
    }
}

impl Lookups for NoNames {
    fn met(&self, _: u64) -> bool {
        false
    }
}

/// What one op of a recipe copied, in the order the recipe lists its ops
/// (element ops inside their `Elems`).
enum Fill {
    Word(u64),
    Str(&'static str),
    /// A slice's length, then per element copied one fill per element op.
    Elems(u64, Vec<Vec<Fill>>),
}

fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(8) * 8, 0);
}

/// The record data the BPF program writes for `ops` capturing `fills`:
/// a word per scalar; `gotel_str_head` + the bytes (padded to 8) per
/// string; `gotel_seq_head`, then per element `gotel_elem_head` and its
/// ops' captures, per `OP_ELEMS`.
fn encode(ops: &[RawOp], fills: &[Fill]) -> Vec<u8> {
    if std::env::var_os("BENCH_OPS").is_some() {
        for o in ops {
            eprintln!(
                "op kind {} size {} loc {} indirect {} hops {}",
                o.kind, o.size, o.a.kind, o.indirect, o.n_hops
            );
        }
    }
    let mut out = Vec::new();
    let mut fills = fills.iter();
    for (i, op) in ops.iter().enumerate() {
        if op.a.kind == LOC_ELEM {
            continue;
        }
        let fill = fills.next().expect("a fill per op");
        let sub = &ops[i + 1..][..if op.kind == OP_ELEMS {
            usize::from(op.size)
        } else {
            0
        }];
        one(op, sub, fill, &mut out);
    }
    assert!(fills.next().is_none(), "more fills than ops");
    out
}

fn one(op: &RawOp, sub: &[RawOp], fill: &Fill, out: &mut Vec<u8>) {
    match (op.kind, fill) {
        (OP_SCALAR, Fill::Word(w)) => out.extend_from_slice(&w.to_le_bytes()),
        (OP_STRING | OP_BYTES, Fill::Str(s)) => {
            let copied = s.len().min(usize::from(op.max_len));
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(&(copied as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&s.as_bytes()[..copied]);
            pad8(out);
        }
        (OP_ELEMS, Fill::Elems(len, items)) => {
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            for item in items {
                out.extend_from_slice(&[0; 8]); // nil_bits, fault_bits
                assert_eq!(item.len(), sub.len(), "a fill per element op");
                for (o, f) in sub.iter().zip(item) {
                    one(o, &[], f, out);
                }
            }
        }
        (k, _) => panic!("op kind {k} does not take this fill"),
    }
}

/// A ring-buffer record: the `gotel_event` header, then `data`.
fn record(cookie: u32, site: u8, data: &[u8]) -> Vec<u8> {
    let ev = RawEvent {
        ktime_ns: 1_000_000,
        goid: 1,
        frame: 0x100,
        cookie,
        pid: 4242,
        tid: 4242,
        data_len: data.len() as u16,
        site,
        ..RawEvent::default()
    };
    // SAFETY: RawEvent is repr(C) integers without padding (asserted in
    // recipe.rs), so all of its bytes are initialised.
    let header = unsafe {
        std::slice::from_raw_parts(
            std::ptr::from_ref(&ev).cast::<u8>(),
            std::mem::size_of::<RawEvent>(),
        )
    };
    [header, data].concat()
}

/// Sets a record's monotonic timestamp (its first field).
fn stamp(rec: &mut [u8], ktime: u64) {
    rec[..8].copy_from_slice(&ktime.to_le_bytes());
}

/// One function's plan, its records and the values its first call must show.
struct Case {
    name: &'static str,
    attachment: Arc<Attachment>,
    entry: Vec<u8>,
    ret: Vec<u8>,
    args: serde_json::Value,
    returns: serde_json::Value,
}

fn plan(bin: &BinaryInfo, function: &str) -> Plan {
    let spec: ProbeSpec =
        serde_yaml::from_str(&format!("function: {function}\ntarget: {{ pid: 4242 }}\n"))
            .expect("a probe spec");
    let mut plans = gotel::plan::plan(bin, &spec).expect("a plan");
    assert_eq!(plans.len(), 1, "one instantiation of {function}");
    plans.remove(0)
}

fn case(
    bin: &BinaryInfo,
    name: &'static str,
    function: &str,
    id: u64,
    fills: (Vec<Fill>, Vec<Fill>),
    expect: (serde_json::Value, serde_json::Value),
) -> Case {
    let plan = plan(bin, function);
    let ops = |s: &gotel::plan::SitePlan| s.recipe.ops[..usize::from(s.recipe.n_ops)].to_vec();
    let (entry_ops, ret_ops) = (ops(&plan.entry), ops(&plan.ret));
    if std::env::var_os("BENCH_OPS").is_some() {
        eprintln!("{function}: {:?}", plan.entry.values);
    }
    let origin = Origin {
        pid: 4242,
        exe: "/srv/bench".into(),
        go_version: Some("go1.19.8".into()),
        ..Origin::default()
    };
    let attachment = Arc::new(Attachment {
        id,
        key: name.into(),
        probe: name.into(),
        pid: 4242,
        plan: Arc::new(plan),
        origin: Arc::new(origin),
        names: Arc::new(NoNames),
        marker: None,
        // No kernel here: no per-probe limits or counters slot.
        slot: 0,
        every_process: None,
    });
    let cookie = id as u32 * 2;
    Case {
        name,
        attachment,
        entry: record(cookie, SITE_ENTRY, &encode(&entry_ops, &fills.0)),
        ret: record(cookie + 1, SITE_RETURN, &encode(&ret_ops, &fills.1)),
        args: expect.0,
        returns: expect.1,
    }
}

fn pipeline(c: &Case) -> Pipeline {
    let cookie = c.attachment.id as u32 * 2;
    let mut p = Pipeline::new(65_536, 0);
    p.route(cookie, c.attachment.clone(), SITE_ENTRY);
    p.route(cookie + 1, c.attachment.clone(), SITE_RETURN);
    p
}

/// Runs `calls` entry + return pairs of `c` through a pipeline, handing each
/// call to `each`; returns the seconds taken.
fn drive(c: &mut Case, calls: u64, each: &mut dyn FnMut(Call)) -> f64 {
    let mut p = pipeline(c);
    let t0 = Instant::now();
    for i in 0..calls {
        // Distinct timestamps, as the kernel's: the durations are real numbers.
        stamp(&mut c.entry, 1_000_000 + i * 1000);
        stamp(&mut c.ret, 1_000_000 + i * 1000 + 400);
        p.handle(&c.entry, each);
        p.handle(&c.ret, each);
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(p.stats.records, 2 * calls);
    assert_eq!(p.stats.stray_records, 0);
    secs
}

/// The first call's values, exactly.
fn check(c: &mut Case) {
    let mut calls = Vec::new();
    drive(c, 1, &mut |call| calls.push(call));
    assert_eq!(calls.len(), 1, "{}: one call", c.name);
    let json = serde_json::to_value(&calls[0]).expect("JSON");
    assert_eq!(json["args"], c.args, "{}: args", c.name);
    assert_eq!(json["returns"], c.returns, "{}: returns", c.name);
    assert_eq!(json["duration_ns"], 400, "{}: duration", c.name);
    eprintln!("{}: {}", c.name, serde_json::to_string(&calls[0]).unwrap());
}

/// CPU seconds this thread has used.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU seconds of this process's threads but the receiver's, from
/// /proc/self/task/*/stat (utime + stime, in clock ticks).
fn sender_cpu() -> f64 {
    let hz = 100.0; // USER_HZ: what /proc reports in, on every Linux ABI.
    let mut ticks = 0u64;
    for t in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat[open + 1..close].starts_with("receiver") {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        ticks += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
    }
    ticks as f64 / hz
}

/// Pins the calling thread (and the threads it creates later) to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays in its bounds.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The OTLP receiver: decodes each request (tonic does) and counts.
#[derive(Clone, Default)]
struct Count {
    spans: Arc<AtomicU64>,
    logs: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for Count {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = r
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(n as u64, Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Count {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let n: usize = r
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.logs.fetch_add(n as u64, Relaxed);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Starts the receiver on its own thread, pinned to `cpu`; its address.
fn receiver(cpu: usize, count: Count) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        pin(cpu);
        // Named, so that the CPU time (and a profile) of gotel's side can
        // leave the receiver's out.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("receiver")
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            l.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(count.clone()))
                .add_service(LogsServiceServer::new(count))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .unwrap();
        });
    });
    addr
}

/// OTLP: `calls` calls of `c` decoded and handed to the OTLP sink, which a
/// one-thread runtime exports; calls/s until the receiver has them all.
fn otlp(c: &mut Case, calls: u64, count: &Count, addr: std::net::SocketAddr) -> (f64, f64, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cfg: OtlpConfig = serde_yaml::from_str(&format!(
        "endpoint: 'http://{addr}'\nprotocol: grpc\nservice_name: bench\n"
    ))
    .expect("an otlp config");
    let (mut sink, handle) = {
        let _g = rt.enter();
        gotel::otlp::start(&cfg).expect("the exporter")
    };
    let queue = 8192 - 1024;
    let (spans0, logs0) = (count.spans.load(Relaxed), count.logs.load(Relaxed));
    let cpu0 = sender_cpu();
    let t0 = Instant::now();
    let mut p = pipeline(c);
    for i in 0..calls {
        // The queue drops what does not fit (never waits): keep it from filling,
        // as a steady producer below the export rate would. Once full, wait
        // until half of it is exported: polling every 50 µs until one batch
        // was sent made thousands of sleeps and wakeups, ~20 % of the CPU time
        // measured (the bench's flow control, not gotel's cost). Half a queue
        // is 7 batches: the export task never waits for calls meanwhile.
        // i calls written so far.
        // Settled: exported, failed or dropped (a failure must not leave
        // the bench waiting for ever).
        let settled = || {
            let s = handle.stats();
            s.exported_spans + s.failed_spans + s.queue_dropped
        };
        if i - settled() >= queue {
            let deadline = Instant::now() + Duration::from_secs(30);
            while i - settled() > queue / 2 {
                assert!(
                    Instant::now() < deadline,
                    "export stalled: {:?}",
                    handle.stats()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        stamp(&mut c.entry, 1_000_000 + i * 1000);
        stamp(&mut c.ret, 1_000_000 + i * 1000 + 400);
        p.handle(&c.entry, &mut |_| {});
        p.handle(&c.ret, &mut |call| {
            sink.write_owned(call).expect("queued");
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (count.spans.load(Relaxed) - spans0 < calls || count.logs.load(Relaxed) - logs0 < calls)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = sender_cpu() - cpu0;
    let stats = handle.stats();
    rt.block_on(handle.shutdown(Vec::new(), Vec::new()));
    assert_eq!(stats.queue_dropped, 0, "the queue never filled");
    (secs, cpu, count.spans.load(Relaxed) - spans0)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let path = argv
        .next()
        .expect("usage: userspace_bench BENCH_BINARY [CALLS]");
    let calls: u64 = argv.next().map_or(500_000, |n| n.parse().expect("CALLS"));
    // This thread and those created after it (the exporter's runtime) share
    // CPU 0; the receiver's move to CPU 1.
    pin(0);
    let bin = BinaryInfo::open(std::path::Path::new(&path)).expect("the bench binary");
    let sum = 1 + 2 + 3 + PAYLOAD.len() as u64;
    let work = case(
        &bin,
        "work",
        "main.work",
        1,
        (
            vec![
                Fill::Word(1),
                Fill::Word(2),
                Fill::Word(3),
                Fill::Str(PAYLOAD),
            ],
            vec![Fill::Word(sum)],
        ),
        (
            serde_json::json!({"a": 1, "b": 2, "c": 3, "s": PAYLOAD}),
            serde_json::json!({"r0": sum}),
        ),
    );
    let item = |sku, qty| vec![Fill::Str(sku), Fill::Word(qty)];
    let nested = case(
        &bin,
        "nested",
        "main.workNested",
        2,
        (
            // The recipe's order: o's address, n, then what o points to, the
            // slice's capacity last.
            vec![
                Fill::Word(0xc000010000),
                Fill::Word(5),
                Fill::Word(7),
                Fill::Str("gotel-bench-customer"),
                Fill::Word(3),
                Fill::Elems(
                    3,
                    vec![
                        item("sku-0001", 1),
                        item("sku-0002", 2),
                        item("sku-0003", 3),
                    ],
                ),
                Fill::Word(3),
            ],
            vec![Fill::Word(7 + 3 + 3 + 5)],
        ),
        (
            serde_json::json!({
                "o": {"ID": 7, "Customer": {"Name": "gotel-bench-customer", "Tier": 3},
                      "Items": [{"SKU": "sku-0001", "Qty": 1}, {"SKU": "sku-0002", "Qty": 2},
                                {"SKU": "sku-0003", "Qty": 3}]},
                "n": 5}),
            serde_json::json!({"r0": 18}),
        ),
    );
    let mut cases = [work, nested];
    for c in &mut cases {
        check(c);
    }

    println!(
        "Userspace, one core, {calls} calls (2 records each) per measurement; thread CPU time"
    );
    println!(
        "{:<8} {:>14} {:>14} {:>16} {:>14} {:>14}",
        "function", "decode rec/s", "JSONL only/s", "decode+JSONL r/s", "ns/record", "bytes/line"
    );
    // BENCH_OTLP_ONLY: leave the JSONL part out (to profile OTLP alone).
    let jsonl = std::env::var_os("BENCH_OTLP_ONLY").is_none();
    for c in cases.iter_mut().filter(|_| jsonl) {
        // Decode alone: records in, calls built and dropped.
        let cpu0 = thread_cpu();
        drive(c, calls, &mut drop);
        let decode = thread_cpu() - cpu0;
        // The same calls serialised as gotel prints them (a 64 KiB buffer in
        // front of the sink: stdout's write syscalls are the kernel's cost).
        let mut made = Vec::with_capacity(calls as usize);
        drive(c, calls, &mut |call| made.push(call));
        let bytes = serde_json::to_string(&made[0]).unwrap().len() + 1;
        let mut out = JsonLines::new(std::io::sink());
        let cpu0 = thread_cpu();
        for call in &made {
            out.write(call).unwrap();
        }
        out.flush().unwrap();
        let jsonl = thread_cpu() - cpu0;
        drop(made);
        // Both, as `gotel run` does them.
        let mut out = JsonLines::new(std::io::sink());
        let cpu0 = thread_cpu();
        drive(c, calls, &mut |call| out.write(&call).unwrap());
        out.flush().unwrap();
        let both = thread_cpu() - cpu0;
        let records = 2.0 * calls as f64;
        println!(
            "{:<8} {:>14.0} {:>14.0} {:>16.0} {:>14.0} {:>14}",
            c.name,
            records / decode,
            records / jsonl,
            records / both,
            both * 1e9 / records,
            bytes
        );
    }

    let count = Count::default();
    let addr = receiver(1, count.clone());
    let otlp_calls = calls.min(200_000);
    println!("OTLP/gRPC (spans + logs) to a counting receiver on CPU 1, {otlp_calls} calls:");
    for c in &mut cases {
        let (secs, cpu, spans) = otlp(c, otlp_calls, &count, addr);
        println!(
            "{:<8} {:>10.0} calls/s wall, {:>10.0} calls per CPU-second of gotel's side \
             ({spans} spans and logs; {secs:.2} s wall, {cpu:.2} s CPU: decode, queue, export)",
            c.name,
            otlp_calls as f64 / secs,
            otlp_calls as f64 / cpu
        );
    }
}
