//! A fault-injecting OTLP endpoint for tests/delivery.rs: it takes gotel's
//! connections on a real socket and misbehaves as collectors and the proxies
//! in front of them do (stalls, resets, broken or partial answers), tallying
//! exactly what it received and what it told gotel it rejected.
//!
//! Not part of `common/mod.rs`: only tests/delivery.rs needs it, and the
//! tonic server would lengthen every other test binary's build.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accepts connections, reads everything, never answers.
    Stall,
    /// Resets every connection (RST) once the request starts arriving.
    Reset,
    /// OTLP/HTTP: `200 OK` with a body that is no `Export*ServiceResponse`,
    /// in turn: garbage, a body cut short of its Content-Length (then the
    /// connection closes), half of a real response.
    BadBody,
    /// OTLP/HTTP, or gRPC with [`FaultServer::grpc`]: of each signal's
    /// requests, every third is refused whole (HTTP 400, gRPC
    /// InvalidArgument); the others are answered with a `partial_success`
    /// rejecting a quarter of their items (rounded down).
    Partial,
}

/// What one signal's requests carried and what the endpoint answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub requests: u64,
    /// Items (log records or spans) in the requests read whole.
    pub items: u64,
    /// Items rejected by a `partial_success`.
    pub partially_rejected: u64,
    /// Items of the requests refused whole.
    pub refused: u64,
}

impl Tally {
    /// Everything the endpoint told gotel it did not take.
    pub fn rejected(&self) -> u64 {
        self.partially_rejected + self.refused
    }
}

/// Tallies per signal, and connections accepted.
#[derive(Debug, Default)]
pub struct Tallies {
    pub logs: Tally,
    pub spans: Tally,
    pub connections: u64,
}

pub type Shared = Arc<Mutex<Tallies>>;

/// A fault endpoint on its own tokio runtime, stopped on drop.
pub struct FaultServer {
    pub addr: SocketAddr,
    pub got: Shared,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// What a Partial endpoint answers request number `k` (of its signal) with
/// `items`: None to refuse it whole, else the count it rejects.
fn partial_answer(t: &mut Tally, k: u64, items: u64) -> Option<u64> {
    t.requests += 1;
    t.items += items;
    if k % 3 == 2 {
        t.refused += items;
        None
    } else {
        t.partially_rejected += items / 4;
        Some(items / 4)
    }
}

impl FaultServer {
    /// A raw TCP endpoint speaking just enough HTTP/1.1 for `fault`
    /// (Stall and Reset also stall or reset gRPC's HTTP/2).
    pub fn http(fault: Fault) -> FaultServer {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let got = Shared::default();
        let rt = runtime();
        let shared = got.clone();
        rt.spawn(async move {
            std.set_nonblocking(true).unwrap();
            let l = TcpListener::from_std(std).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                shared.lock().unwrap().connections += 1;
                tokio::spawn(connection(s, fault, shared.clone()));
            }
        });
        FaultServer {
            addr,
            got,
            rt: Some(rt),
        }
    }

    /// OTLP/gRPC answering as [`Fault::Partial`] says, with the tonic
    /// services `opentelemetry-proto` generates.
    pub fn grpc() -> FaultServer {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let got = Shared::default();
        let rt = runtime();
        let svc = Grpc(got.clone());
        rt.spawn(async move {
            std.set_nonblocking(true).unwrap();
            let l = TcpListener::from_std(std).unwrap();
            tonic::transport::Server::builder()
                .add_service(LogsServiceServer::new(svc.clone()))
                .add_service(TraceServiceServer::new(svc))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .unwrap();
        });
        FaultServer {
            addr,
            got,
            rt: Some(rt),
        }
    }

    pub fn tallies(&self) -> (Tally, Tally) {
        let g = self.got.lock().unwrap();
        (g.logs, g.spans)
    }
}

#[derive(Clone)]
struct Grpc(Shared);

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let items = log_records(&r.into_inner());
        let mut g = self.0.lock().unwrap();
        let k = g.logs.requests;
        match partial_answer(&mut g.logs, k, items) {
            None => Err(tonic::Status::invalid_argument("test: refused")),
            Some(n) => Ok(tonic::Response::new(logs_response(n))),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let items = spans(&r.into_inner());
        let mut g = self.0.lock().unwrap();
        let k = g.spans.requests;
        match partial_answer(&mut g.spans, k, items) {
            None => Err(tonic::Status::invalid_argument("test: refused")),
            Some(n) => Ok(tonic::Response::new(trace_response(n))),
        }
    }
}

fn log_records(r: &ExportLogsServiceRequest) -> u64 {
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len() as u64)
        .sum()
}

fn spans(r: &ExportTraceServiceRequest) -> u64 {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

fn logs_response(rejected: u64) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: format!("test: {rejected} log records too old"),
        }),
    }
}

fn trace_response(rejected: u64) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected as i64,
            error_message: format!("test: {rejected} spans too old"),
        }),
    }
}

/// One HTTP/1.1 request: (path, body), or None when the connection ends.
async fn request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let text = String::from_utf8_lossy(&buf[..head]).into_owned();
    let path = text.split(' ').nth(1)?.to_string();
    let len: usize = text
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    while buf.len() < head + len {
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
    let body = buf[head..head + len].to_vec();
    buf.drain(..head + len);
    Some((path, body))
}

async fn connection(mut s: TcpStream, fault: Fault, got: Shared) {
    let mut buf = Vec::new();
    match fault {
        Fault::Stall => {
            // Read (so gotel's writes never block) and never answer.
            while s.read_buf(&mut buf).await.unwrap_or(0) > 0 {
                buf.clear();
            }
            return;
        }
        Fault::Reset => {
            let _ = s.read_buf(&mut buf).await;
            // Linger 0: close sends RST, not FIN.
            let _ = s.set_zero_linger();
            return;
        }
        Fault::BadBody | Fault::Partial => {}
    }
    while let Some((path, body)) = request(&mut s, &mut buf).await {
        let (items, logs) = match path.as_str() {
            "/v1/logs" => (
                log_records(&ExportLogsServiceRequest::decode(&body[..]).unwrap()),
                true,
            ),
            "/v1/traces" => (
                spans(&ExportTraceServiceRequest::decode(&body[..]).unwrap()),
                false,
            ),
            // gotel's own metrics: accepted.
            _ => {
                let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                if s.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let (status, answer, close) = {
            let mut g = got.lock().unwrap();
            let t = if logs { &mut g.logs } else { &mut g.spans };
            let k = t.requests;
            match fault {
                Fault::BadBody => {
                    t.requests += 1;
                    t.items += items;
                    let real = logs_response(1).encode_to_vec();
                    match k % 3 {
                        0 => (200, b"\xff\xff\xff\xff not protobuf".to_vec(), false),
                        // Content-Length says 64; 10 bytes come, then EOF.
                        1 => (200, b"0123456789".to_vec(), true),
                        _ => (200, real[..real.len() / 2].to_vec(), false),
                    }
                }
                _ => match partial_answer(t, k, items) {
                    None => (400, b"refused".to_vec(), false),
                    Some(n) if logs => (200, logs_response(n).encode_to_vec(), false),
                    Some(n) => (200, trace_response(n).encode_to_vec(), false),
                },
            }
        };
        let len = if close { 64 } else { answer.len() };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-protobuf\r\ncontent-length: {len}\r\n\r\n"
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&answer).await.is_err() {
            return;
        }
        if close {
            let _ = s.shutdown().await;
            return;
        }
    }
}
