//! Sends one OTLP request over gRPC (tonic, the `opentelemetry-proto`
//! generated clients) or HTTP/protobuf (reqwest), and says whether a
//! failure is worth retrying, per the OTLP specification.

use std::io::Write;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::settings::{Protocol, Signal, SignalSettings};

/// One export request, encoded: built once, sent (and resent on retry)
/// as is.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Which request it is.
    pub signal: Signal,
    /// The `Export*ServiceRequest` message.
    pub body: Bytes,
}

impl Payload {
    /// A request built as a prost message.
    pub fn of(signal: Signal, m: &impl Message) -> Self {
        Payload {
            signal,
            body: m.encode_to_vec().into(),
        }
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.body.len()
    }
}

/// Why a client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate or key file could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The endpoint, a header or the TLS material is invalid.
    #[error("{signal} exporter: {message}")]
    Invalid {
        /// `traces`, `logs` or `metrics`.
        signal: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A failed send.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The collector may accept the same request later (it is down,
    /// overloaded or timed out): retry with backoff.
    pub retryable: bool,
    /// The collector's `Retry-After` (HTTP 429/503), when it sent one.
    pub retry_after: Option<Duration>,
    /// What happened.
    pub message: String,
}

enum Transport {
    Grpc {
        channel: Channel,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        headers: reqwest::header::HeaderMap,
    },
}

/// Sends one signal's requests to its endpoint.
pub struct Client {
    transport: Transport,
    gzip: bool,
    /// Where requests go, for messages.
    pub url: String,
    pub(crate) timeout: Duration,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|error| ClientError::Read {
        path: path.display().to_string(),
        error,
    })
}

impl Client {
    /// Builds a client; connects lazily, so a collector that is down now
    /// only delays the first export. Needs a tokio runtime.
    pub fn new(s: &SignalSettings) -> Result<Self, ClientError> {
        let bad = |message: String| ClientError::Invalid {
            signal: s.signal.name(),
            message,
        };
        let ca = s.ca_file.as_deref().map(read).transpose()?;
        let identity = match (&s.client_cert_file, &s.client_key_file) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        let transport = match s.protocol {
            Protocol::Grpc => {
                let url = if s.url.contains("://") {
                    s.url.clone()
                } else if s.insecure {
                    format!("http://{}", s.url)
                } else {
                    format!("https://{}", s.url)
                };
                let mut ep = Endpoint::from_shared(url.clone())
                    .map_err(|e| bad(format!("endpoint {url:?}: {e}")))?
                    .connect_timeout(s.timeout)
                    .timeout(s.timeout);
                if url.starts_with("https://") {
                    let mut tls = ClientTlsConfig::new();
                    tls = match &ca {
                        Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                        None => tls.with_native_roots(),
                    };
                    if let Some((cert, key)) = &identity {
                        tls = tls.identity(Identity::from_pem(cert, key));
                    }
                    ep = ep
                        .tls_config(tls)
                        .map_err(|e| bad(format!("TLS settings: {e}")))?;
                }
                let mut metadata = MetadataMap::new();
                for (k, v) in &s.headers {
                    let key = MetadataKey::from_bytes(k.as_bytes())
                        .map_err(|e| bad(format!("header name {k:?}: {e}")))?;
                    let value = MetadataValue::try_from(v.as_str())
                        .map_err(|e| bad(format!("header {k}: {e}")))?;
                    metadata.insert(key, value);
                }
                Transport::Grpc {
                    channel: ep.connect_lazy(),
                    metadata,
                }
            }
            Protocol::HttpProtobuf => {
                // Caught at start-up, not as every batch failing later.
                match reqwest::Url::parse(&s.url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
                    _ => {
                        return Err(bad(format!(
                            "OTLP/HTTP endpoint {:?} is not an http:// or https:// URL",
                            s.url
                        )))
                    }
                }
                let mut b = reqwest::Client::builder()
                    .timeout(s.timeout)
                    .connect_timeout(s.timeout)
                    .user_agent(concat!("gotel/", env!("CARGO_PKG_VERSION")));
                if let Some(pem) = &ca {
                    let cert = reqwest::Certificate::from_pem(pem)
                        .map_err(|e| bad(format!("CA certificate: {e}")))?;
                    b = b.add_root_certificate(cert);
                }
                if let Some((cert, key)) = &identity {
                    let mut pem = cert.clone();
                    pem.push(b'\n');
                    pem.extend_from_slice(key);
                    let id = reqwest::Identity::from_pem(&pem)
                        .map_err(|e| bad(format!("client certificate: {e}")))?;
                    b = b.identity(id);
                }
                let mut headers = reqwest::header::HeaderMap::new();
                for (k, v) in &s.headers {
                    let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| bad(format!("header name {k:?}: {e}")))?;
                    let value = reqwest::header::HeaderValue::from_str(v)
                        .map_err(|e| bad(format!("header {k}: {e}")))?;
                    headers.insert(name, value);
                }
                Transport::Http {
                    client: b.build().map_err(|e| bad(format!("HTTP client: {e}")))?,
                    headers,
                }
            }
        };
        Ok(Client {
            transport,
            gzip: s.gzip,
            url: s.url.clone(),
            timeout: s.timeout,
        })
    }

    /// Sends `p`, waiting at most `timeout` (capped by the configured one).
    /// Ok carries the number of items the collector rejected (partial success).
    pub async fn send(&self, p: &Payload, timeout: Duration) -> Result<i64, SendError> {
        let timeout = timeout.min(self.timeout).max(Duration::from_millis(1));
        match &self.transport {
            Transport::Grpc { channel, metadata } => {
                self.grpc(channel.clone(), metadata, p, timeout).await
            }
            Transport::Http { client, headers } => self.http(client, headers, p, timeout).await,
        }
    }

    async fn grpc(
        &self,
        channel: Channel,
        metadata: &MetadataMap,
        p: &Payload,
        timeout: Duration,
    ) -> Result<i64, SendError> {
        let mut request = tonic::Request::new(p.body.clone());
        *request.metadata_mut() = metadata.clone();
        request.set_timeout(timeout);
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        let r = match p.signal {
            Signal::Logs => unary::<ExportLogsServiceResponse>(grpc, request, LOGS)
                .await
                .map(|r| r.partial_success.map(|p| p.rejected_log_records)),
            Signal::Traces => unary::<ExportTraceServiceResponse>(grpc, request, TRACE)
                .await
                .map(|r| r.partial_success.map(|p| p.rejected_spans)),
            Signal::Metrics => unary::<ExportMetricsServiceResponse>(grpc, request, METRICS)
                .await
                .map(|r| r.partial_success.map(|p| p.rejected_data_points)),
        };
        match r {
            Ok(rejected) => Ok(rejected.unwrap_or(0)),
            Err(status) => {
                use tonic::Code::*;
                // The OTLP spec's retryable codes. ResourceExhausted only
                // with RetryInfo, which gotel does not read: without it,
                // it is what a too-large message gets, and resending the
                // same bytes can never succeed.
                let retryable = matches!(
                    status.code(),
                    Cancelled | DeadlineExceeded | Aborted | Unavailable | DataLoss
                );
                Err(SendError {
                    retryable,
                    retry_after: None,
                    message: format!("gRPC {:?}: {}", status.code(), status.message()),
                })
            }
        }
    }

    async fn http(
        &self,
        client: &reqwest::Client,
        headers: &reqwest::header::HeaderMap,
        p: &Payload,
        timeout: Duration,
    ) -> Result<i64, SendError> {
        let mut req = client
            .post(&self.url)
            .headers(headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .timeout(timeout);
        let body = if self.gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&p.body)
                .and_then(|_| z.finish())
                .map_err(|e| SendError {
                    retryable: false,
                    retry_after: None,
                    message: format!("gzip: {e}"),
                })?
                .into()
        } else {
            p.body.clone()
        };
        let resp = req.body(body).send().await.map_err(|e| SendError {
            // Not connected, reset, timed out: the collector may come back.
            // A request that cannot even be built never will.
            retryable: !e.is_builder(),
            retry_after: None,
            message: format!("HTTP: {}", error_chain(&e)),
        })?;
        let status = resp.status();
        // Only the delay-seconds form; an HTTP date is rare from collectors.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(SendError {
                retryable,
                retry_after,
                message: format!("HTTP {status}: {text}"),
            });
        }
        let rejected = match p.signal {
            Signal::Logs => ExportLogsServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_log_records),
            Signal::Traces => ExportTraceServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_spans),
            Signal::Metrics => ExportMetricsServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_data_points),
        };
        Ok(rejected.unwrap_or(0))
    }
}

/// One OTLP `Export` call over gRPC, as the `opentelemetry-proto`
/// generated clients make it (same method path and `GrpcMethod`), but with
/// the request already encoded: the generated clients take a message tree
/// and would encode it again on every attempt.
async fn unary<R: Message + Default + Send + Sync + 'static>(
    mut grpc: tonic::client::Grpc<Channel>,
    mut request: tonic::Request<Bytes>,
    (service, path): (&'static str, &'static str),
) -> Result<R, tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
    request
        .extensions_mut()
        .insert(tonic::GrpcMethod::new(service, "Export"));
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(request, path, Encoded::<R>::default())
        .await
        .map(tonic::Response::into_inner)
}

/// The OTLP services and their `Export` methods' paths.
const LOGS: (&str, &str) = (
    "opentelemetry.proto.collector.logs.v1.LogsService",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
);
const TRACE: (&str, &str) = (
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
);
const METRICS: (&str, &str) = (
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
);

/// The codec of [`unary`]: encoded bytes out, a prost message back.
struct Encoded<R>(std::marker::PhantomData<R>);

impl<R> Default for Encoded<R> {
    fn default() -> Self {
        Encoded(std::marker::PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for Encoded<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self::default()
    }

    fn decoder(&mut self) -> Self {
        Self::default()
    }
}

impl<R> Encoder for Encoded<R> {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        // One reservation: the buffer would otherwise grow from 8 KiB in steps.
        dst.reserve(item.len());
        dst.put(item);
        Ok(())
    }
}

impl<R: Message + Default> Decoder for Encoded<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, tonic::Status> {
        let r = R::decode(src).map_err(|e| tonic::Status::internal(e.to_string()))?;
        Ok(Some(r))
    }
}

/// reqwest's Display omits the cause ("error sending request"): add it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
