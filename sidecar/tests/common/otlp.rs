//! In-process OTLP receivers for the export tests: the tonic gRPC
//! services of `opentelemetry-proto` and a minimal HTTP/1.1 server, both
//! decoding the protobuf gotel sends over a real socket, optionally over
//! (mutual) TLS with throwaway certificates.
//!
//! Not part of `common/mod.rs`: only `tests/otlp.rs` needs it, and the
//! tonic server would lengthen every other test binary's build.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, ResourceMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::CompressionEncoding;

/// Everything a receiver decoded.
#[derive(Default)]
pub struct Received {
    pub logs: Vec<ResourceLogs>,
    pub spans: Vec<ResourceSpans>,
    pub metrics: Vec<ResourceMetrics>,
    /// Spans received so far (cheap to poll).
    pub n_spans: usize,
    /// HTTP: answers (status, Retry-After seconds) for the next log and
    /// trace requests, instead of accepting them.
    pub refuse: std::collections::VecDeque<(u16, Option<u64>)>,
    /// Per request: (path, headers, lower-case names).
    pub requests: Vec<(String, HashMap<String, String>)>,
}

impl Received {
    pub fn spans(&self) -> Vec<(&Resource, &Span)> {
        self.spans
            .iter()
            .flat_map(|rs| {
                let r = rs.resource.as_ref().unwrap();
                rs.scope_spans
                    .iter()
                    .flat_map(move |ss| ss.spans.iter().map(move |s| (r, s)))
            })
            .collect()
    }

    pub fn logs(&self) -> Vec<(&Resource, &LogRecord)> {
        self.logs
            .iter()
            .flat_map(|rl| {
                let r = rl.resource.as_ref().unwrap();
                rl.scope_logs
                    .iter()
                    .flat_map(move |sl| sl.log_records.iter().map(move |l| (r, l)))
            })
            .collect()
    }

    /// The value of gotel counter `name` in the last metrics request.
    pub fn last_counter(&self, name: &str) -> Option<i64> {
        let rm = self.metrics.last()?;
        rm.scope_metrics
            .iter()
            .flat_map(|sm| &sm.metrics)
            .find(|m| m.name == name)
            .and_then(|m| match &m.data {
                Some(metric::Data::Sum(s)) => {
                    assert!(s.is_monotonic, "{name} is a monotonic sum");
                    match s.data_points[0].value {
                        Some(number_data_point::Value::AsInt(v)) => Some(v),
                        _ => None,
                    }
                }
                _ => None,
            })
    }
}

pub type Shared = Arc<Mutex<Received>>;

/// An OTLP receiver on its own tokio runtime, stopped on drop.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Shared,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Receiver {
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

#[derive(Clone)]
struct Grpc(Shared);

impl Grpc {
    fn request<T>(&self, path: &str, r: &tonic::Request<T>) {
        let headers = r
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        self.0
            .lock()
            .unwrap()
            .requests
            .push((path.to_string(), headers));
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.request("logs", &r);
        self.0
            .lock()
            .unwrap()
            .logs
            .extend(r.into_inner().resource_logs);
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.request("traces", &r);
        let rs = r.into_inner().resource_spans;
        let mut g = self.0.lock().unwrap();
        g.n_spans += count_spans(&rs);
        g.spans.extend(rs);
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.request("metrics", &r);
        self.0
            .lock()
            .unwrap()
            .metrics
            .extend(r.into_inner().resource_metrics);
        Ok(tonic::Response::new(Default::default()))
    }
}

impl Receiver {
    /// OTLP/gRPC on `listener` (bound by the caller, so a test can choose
    /// a port before the receiver exists).
    pub fn grpc(listener: std::net::TcpListener) -> Receiver {
        Receiver::grpc_tls(listener, None)
    }

    /// OTLP/gRPC, over TLS when `tls` is given.
    pub fn grpc_tls(
        listener: std::net::TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
    ) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got = Shared::default();
        let rt = runtime();
        let svc = Grpc(got.clone());
        rt.spawn(async move {
            listener.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let mut server = tonic::transport::Server::builder();
            if let Some(tls) = tls {
                server = server.tls_config(tls).unwrap();
            }
            server
                .add_service(
                    LogsServiceServer::new(svc.clone())
                        .accept_compressed(CompressionEncoding::Gzip),
                )
                .add_service(
                    TraceServiceServer::new(svc.clone())
                        .accept_compressed(CompressionEncoding::Gzip),
                )
                .add_service(
                    MetricsServiceServer::new(svc).accept_compressed(CompressionEncoding::Gzip),
                )
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .unwrap();
        });
        Receiver {
            addr,
            got,
            rt: Some(rt),
        }
    }

    /// OTLP/HTTP with protobuf bodies: a minimal HTTP/1.1 server (keep-alive,
    /// Content-Length bodies, optional gzip), enough for what gotel sends.
    pub fn http(listener: std::net::TcpListener) -> Receiver {
        Receiver::http_tls(listener, None)
    }

    /// OTLP/HTTP, over TLS when `tls` is given.
    pub fn http_tls(
        listener: std::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got = Shared::default();
        let rt = runtime();
        let shared = got.clone();
        rt.spawn(async move {
            listener.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                let shared = shared.clone();
                match &tls {
                    None => {
                        tokio::spawn(http_connection(s, shared));
                    }
                    Some(tls) => {
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            // A failed handshake is the client's problem.
                            if let Ok(s) = tls.accept(s).await {
                                http_connection(s, shared).await;
                            }
                        });
                    }
                }
            }
        });
        Receiver {
            addr,
            got,
            rt: Some(rt),
        }
    }

    /// Waits until `f` holds for what was received.
    pub fn wait(&self, what: &str, timeout: Duration, f: impl Fn(&Received) -> bool) {
        let deadline = Instant::now() + timeout;
        while !f(&self.got.lock().unwrap()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn http_connection(
    mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    got: Shared,
) {
    let mut buf = Vec::new();
    loop {
        let head = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let text = String::from_utf8_lossy(&buf[..head]).into_owned();
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap().to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .expect("gotel sends Content-Length")
            .parse()
            .unwrap();
        while buf.len() < head + len {
            if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        }
        let mut body: Vec<u8> = buf[head..head + len].to_vec();
        buf.drain(..head + len);
        if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            body = out;
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
        assert_eq!(
            headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        let refusal = match path.as_str() {
            "/v1/logs" | "/v1/traces" => got.lock().unwrap().refuse.pop_front(),
            _ => None,
        };
        if let Some((status, retry_after)) = refusal {
            let extra = retry_after
                .map(|s| format!("retry-after: {s}\r\n"))
                .unwrap_or_default();
            let resp = format!("HTTP/1.1 {status} Refused\r\n{extra}content-length: 0\r\n\r\n");
            if s.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        {
            let mut g = got.lock().unwrap();
            match path.as_str() {
                "/v1/logs" => g.logs.extend(
                    ExportLogsServiceRequest::decode(&body[..])
                        .unwrap()
                        .resource_logs,
                ),
                "/v1/traces" => {
                    let rs = ExportTraceServiceRequest::decode(&body[..])
                        .unwrap()
                        .resource_spans;
                    g.n_spans += count_spans(&rs);
                    g.spans.extend(rs);
                }
                "/v1/metrics" => g.metrics.extend(
                    ExportMetricsServiceRequest::decode(&body[..])
                        .unwrap()
                        .resource_metrics,
                ),
                other => panic!("unexpected path {other}"),
            }
            g.requests.push((path, headers));
        }
        let ok =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if s.write_all(ok).await.is_err() {
            return;
        }
    }
}

pub fn count_spans(rs: &[ResourceSpans]) -> usize {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

pub fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a V> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

pub fn str_attr(kvs: &[KeyValue], key: &str) -> String {
    match attr(kvs, key) {
        Some(V::StringValue(s)) => s.clone(),
        other => panic!("{key}: expected a string, got {other:?} in {kvs:?}"),
    }
}

pub fn int_attr(kvs: &[KeyValue], key: &str) -> i64 {
    match attr(kvs, key) {
        Some(V::IntValue(i)) => *i,
        other => panic!("{key}: expected an int, got {other:?} in {kvs:?}"),
    }
}

impl Receiver {
    /// OTLP/gRPC over mutual TLS with the server certificate of
    /// [`certificates`] in `dir`, requiring a client certificate its CA signed.
    pub fn grpc_mtls(dir: &Path) -> Receiver {
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(
                read("server.pem"),
                read("server.key"),
            ))
            .client_ca_root(tonic::transport::Certificate::from_pem(read("ca.pem")));
        Receiver::grpc_tls(listener(), Some(tls))
    }

    /// OTLP/HTTP over mutual TLS, as [`Receiver::grpc_mtls`].
    pub fn http_mtls(dir: &Path) -> Receiver {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let path = |f: &str| dir.join(f);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(path("ca.pem")).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        let server = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_file(path("server.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(path("server.key")).unwrap(),
            )
            .unwrap();
        Receiver::http_tls(
            listener(),
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))),
        )
    }
}

/// A port on localhost with nothing listening on it (bound, then let go).
pub fn unused_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A listener on a free localhost port.
pub fn listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Makes a throwaway CA and, signed by it, a server certificate for
/// localhost and a client certificate, with the openssl command.
pub fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (scripts/bootstrap.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=gotel test CA",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let (key, csr, pem, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={who}"),
            ],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}
