//! Sends one OTLP request over gRPC (tonic, the `opentelemetry-proto`
//! generated clients) or HTTP/protobuf (reqwest), and says whether a
//! failure is worth retrying, per the OTLP specification.

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    logs_service_client::LogsServiceClient, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_client::MetricsServiceClient, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_client::TraceServiceClient, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::settings::{Protocol, SignalSettings};

/// One export request.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Log records.
    Logs(ExportLogsServiceRequest),
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Counters.
    Metrics(ExportMetricsServiceRequest),
}

impl Payload {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Logs(m) => m.encoded_len(),
            Payload::Traces(m) => m.encoded_len(),
            Payload::Metrics(m) => m.encoded_len(),
        }
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
        fn request<T>(m: T, metadata: &MetadataMap, timeout: Duration) -> tonic::Request<T> {
            let mut r = tonic::Request::new(m);
            *r.metadata_mut() = metadata.clone();
            r.set_timeout(timeout);
            r
        }
        let gzip = |c: CompressionEncoding| if self.gzip { Some(c) } else { None };
        let r = match p {
            Payload::Logs(m) => {
                let mut c = LogsServiceClient::new(channel);
                if let Some(e) = gzip(CompressionEncoding::Gzip) {
                    c = c.send_compressed(e);
                }
                c.export(request(m.clone(), metadata, timeout))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .partial_success
                            .map(|p| p.rejected_log_records)
                    })
            }
            Payload::Traces(m) => {
                let mut c = TraceServiceClient::new(channel);
                if let Some(e) = gzip(CompressionEncoding::Gzip) {
                    c = c.send_compressed(e);
                }
                c.export(request(m.clone(), metadata, timeout))
                    .await
                    .map(|r| r.into_inner().partial_success.map(|p| p.rejected_spans))
            }
            Payload::Metrics(m) => {
                let mut c = MetricsServiceClient::new(channel);
                if let Some(e) = gzip(CompressionEncoding::Gzip) {
                    c = c.send_compressed(e);
                }
                c.export(request(m.clone(), metadata, timeout))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .partial_success
                            .map(|p| p.rejected_data_points)
                    })
            }
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
        let body = match p {
            Payload::Logs(m) => m.encode_to_vec(),
            Payload::Traces(m) => m.encode_to_vec(),
            Payload::Metrics(m) => m.encode_to_vec(),
        };
        let mut req = client
            .post(&self.url)
            .headers(headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .timeout(timeout);
        let body = if self.gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&body)
                .and_then(|_| z.finish())
                .map_err(|e| SendError {
                    retryable: false,
                    retry_after: None,
                    message: format!("gzip: {e}"),
                })?
        } else {
            body
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
        let rejected = match p {
            Payload::Logs(_) => ExportLogsServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_log_records),
            Payload::Traces(_) => ExportTraceServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_spans),
            Payload::Metrics(_) => ExportMetricsServiceResponse::decode(bytes)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_data_points),
        };
        Ok(rejected.unwrap_or(0))
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
