//! Sends one OTLP request over gRPC (a tonic channel, on the
//! `opentelemetry-proto` generated clients' method paths) or HTTP/protobuf
//! (reqwest), and says whether a failure is worth retrying, per the OTLP
//! specification.

use std::io::Write;
use std::time::Duration;

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{DecodeBuf, Decoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::encode::{grpc_prefix, GRPC_PREFIX};
use super::settings::{Protocol, Signal, SignalSettings};

/// One export request, encoded: built once, sent (and resent on retry)
/// as is.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Which request it is.
    pub signal: Signal,
    /// gRPC's 5-byte message prefix, then the `Export*ServiceRequest`
    /// message: what a gRPC request sends, without a copy.
    frame: Bytes,
}

impl Payload {
    /// A request built as a prost message.
    pub fn of(signal: Signal, m: &impl Message) -> Self {
        let len = m.encoded_len();
        let mut frame = Vec::with_capacity(GRPC_PREFIX + len);
        frame.extend_from_slice(&grpc_prefix(false, len));
        m.encode(&mut frame).expect("a Vec grows");
        Payload::framed(signal, frame.into())
    }

    /// A request from its gRPC frame: the uncompressed prefix, then the
    /// message.
    pub fn framed(signal: Signal, frame: Bytes) -> Self {
        debug_assert_eq!(
            frame[..GRPC_PREFIX],
            grpc_prefix(false, frame.len() - GRPC_PREFIX)
        );
        Payload { signal, frame }
    }

    /// The `Export*ServiceRequest` message (shares the frame's bytes).
    pub fn body(&self) -> Bytes {
        self.frame.slice(GRPC_PREFIX..)
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.frame.len() - GRPC_PREFIX
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

/// How a send failed, which decides what becomes of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The collector may accept the same request later (it is down,
    /// overloaded or timed out): retry with backoff.
    Retryable,
    /// The collector answered and refused the request for good (HTTP 4xx,
    /// gRPC InvalidArgument…): its items count as rejected.
    Refused,
    /// Neither: the request could not be built, or the collector's answer
    /// could not be read or decoded. The collector may hold the items, so
    /// resending could duplicate them; they are not known delivered either.
    Failed,
}

/// A failed send.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What becomes of the batch.
    pub failure: Failure,
    /// The collector's `Retry-After` (HTTP 429/503), when it sent one.
    pub retry_after: Option<Duration>,
    /// What happened.
    pub message: String,
}

impl SendError {
    fn new(failure: Failure, message: String) -> Self {
        SendError {
            failure,
            retry_after: None,
            message,
        }
    }

    /// Worth sending again.
    pub fn retryable(&self) -> bool {
        self.failure == Failure::Retryable
    }
}

/// The collector's answer to a request it took: the `partial_success` of
/// the `Export*ServiceResponse`, all zero when it accepted everything.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Items the collector says it rejected (`rejected_log_records`,
    /// `rejected_spans`, `rejected_data_points`; a negative count as 0).
    pub rejected: u64,
    /// Its `error_message`: why, or a warning when nothing was rejected.
    pub message: String,
}

impl Accepted {
    fn of(rejected: i64, message: String) -> Self {
        Accepted {
            rejected: rejected.max(0) as u64,
            message,
        }
    }
}

/// The `partial_success` of a decoded response, as [`Accepted`].
fn accepted(signal: Signal, body: &[u8]) -> Result<Accepted, prost::DecodeError> {
    Ok(match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(body)?
            .partial_success
            .map(|p| Accepted::of(p.rejected_log_records, p.error_message)),
        Signal::Traces => ExportTraceServiceResponse::decode(body)?
            .partial_success
            .map(|p| Accepted::of(p.rejected_spans, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)?
            .partial_success
            .map(|p| Accepted::of(p.rejected_data_points, p.error_message)),
    }
    .unwrap_or_default())
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

    /// Sends `p`, waiting at most `timeout` (capped by the configured one)
    /// for the collector's answer.
    pub async fn send(&self, p: &Payload, timeout: Duration) -> Result<Accepted, SendError> {
        let timeout = timeout.min(self.timeout).max(Duration::from_millis(1));
        let sent = async {
            match &self.transport {
                Transport::Grpc { channel, metadata } => {
                    self.grpc(channel.clone(), metadata, p, timeout).await
                }
                Transport::Http { client, headers } => self.http(client, headers, p, timeout).await,
            }
        };
        // Enforced here for both transports: tonic's per-request timeout
        // only sets the `grpc-timeout` header (its channel-wide one is the
        // configured timeout, not what is left before shutdown), and a
        // collector that accepts and never answers must not hold a batch
        // past its deadline.
        match tokio::time::timeout(timeout, sent).await {
            Ok(r) => r,
            Err(_) => Err(SendError::new(
                Failure::Retryable,
                format!("no answer within {} ms", timeout.as_millis()),
            )),
        }
    }

    async fn grpc(
        &self,
        channel: Channel,
        metadata: &MetadataMap,
        p: &Payload,
        timeout: Duration,
    ) -> Result<Accepted, SendError> {
        let frame = match self.gzip {
            false => p.frame.clone(),
            true => gzip_frame(&p.body())
                .map_err(|e| SendError::new(Failure::Failed, format!("gzip: {e}")))?,
        };
        let method = match p.signal {
            Signal::Logs => LOGS,
            Signal::Traces => TRACE,
            Signal::Metrics => METRICS,
        };
        let headers = GrpcHeaders {
            metadata,
            timeout,
            gzip: self.gzip,
        };
        match unary(channel, headers, frame, method).await {
            Ok(body) => accepted(p.signal, &body).map_err(|e| {
                SendError::new(
                    Failure::Failed,
                    format!("gRPC OK with an unreadable response: {e}"),
                )
            }),
            Err(status) => {
                use tonic::Code::*;
                // The OTLP spec's retryable codes. ResourceExhausted only
                // with RetryInfo, which gotel does not read: without it,
                // it is what a too-large message gets, and resending the
                // same bytes can never succeed. Unknown and Internal are
                // also what tonic reports for a broken or undecodable
                // answer, so they do not say the collector refused.
                let failure = match status.code() {
                    Cancelled | DeadlineExceeded | Aborted | Unavailable | DataLoss => {
                        Failure::Retryable
                    }
                    Unknown | Internal => Failure::Failed,
                    _ => Failure::Refused,
                };
                Err(SendError::new(
                    failure,
                    format!("gRPC {:?}: {}", status.code(), status.message()),
                ))
            }
        }
    }

    async fn http(
        &self,
        client: &reqwest::Client,
        headers: &reqwest::header::HeaderMap,
        p: &Payload,
        timeout: Duration,
    ) -> Result<Accepted, SendError> {
        let mut req = client
            .post(&self.url)
            .headers(headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .timeout(timeout);
        let body = if self.gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&p.body())
                .and_then(|_| z.finish())
                .map_err(|e| SendError::new(Failure::Failed, format!("gzip: {e}")))?
                .into()
        } else {
            p.body()
        };
        let resp = req.body(body).send().await.map_err(|e| {
            // Not connected, reset, timed out: the collector may come back.
            // A request that cannot even be built never will.
            let failure = match e.is_builder() {
                true => Failure::Failed,
                false => Failure::Retryable,
            };
            SendError::new(failure, format!("HTTP: {}", error_chain(&e)))
        })?;
        let status = resp.status();
        // Only the delay-seconds form; an HTTP date is rare from collectors.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await;
        if !status.is_success() {
            let failure = match status.as_u16() {
                429 | 502 | 503 | 504 => Failure::Retryable,
                _ => Failure::Refused,
            };
            let bytes = bytes.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(SendError {
                failure,
                retry_after,
                message: format!("HTTP {status}: {text}"),
            });
        }
        // A success status says nothing until the body does: a body cut
        // short or not an Export*ServiceResponse (OTLP/HTTP answers in the
        // request's encoding, protobuf) may hide a proxy's error page or a
        // partial success, so the items are not counted as exported. Not
        // retried: the collector most likely has them.
        let bytes = bytes.map_err(|e| {
            SendError::new(
                Failure::Failed,
                format!("HTTP {status} with a body cut short: {}", error_chain(&e)),
            )
        })?;
        accepted(p.signal, &bytes).map_err(|e| {
            SendError::new(
                Failure::Failed,
                format!(
                    "HTTP {status} with a body that is not an OTLP response ({} bytes): {e}",
                    bytes.len()
                ),
            )
        })
    }
}

/// A gzip-compressed gRPC frame of `message`.
fn gzip_frame(message: &[u8]) -> std::io::Result<Bytes> {
    let mut z =
        flate2::write::GzEncoder::new(Vec::from([0; GRPC_PREFIX]), flate2::Compression::default());
    z.write_all(message)?;
    let mut frame = z.finish()?;
    let len = frame.len() - GRPC_PREFIX;
    frame[..GRPC_PREFIX].copy_from_slice(&grpc_prefix(true, len));
    Ok(frame.into())
}

/// What a request's headers are made of.
struct GrpcHeaders<'a> {
    metadata: &'a MetadataMap,
    timeout: Duration,
    gzip: bool,
}

/// One OTLP `Export` call over gRPC, as tonic's `Grpc::unary` makes it
/// for the `opentelemetry-proto` generated clients (same path, headers
/// and `GrpcMethod`, the answer read by tonic's `Streaming`), but with
/// the request's frame already encoded and sent as it is: through tonic's
/// codec, every attempt copied it into a new frame buffer, a fresh
/// ~200 KB mapping each time.
async fn unary(
    mut channel: Channel,
    h: GrpcHeaders<'_>,
    frame: Bytes,
    (service, path): (&'static str, &'static str),
) -> Result<Bytes, tonic::Status> {
    use tonic::codegen::http::{self, header, HeaderValue};
    use tonic::codegen::Service;
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
    // The metadata as tonic sends it: with `grpc-timeout`, without the
    // headers gRPC reserves.
    let mut request = tonic::Request::new(());
    *request.metadata_mut() = h.metadata.clone();
    request.set_timeout(h.timeout);
    let mut headers = request.into_parts().0.into_headers();
    for reserved in [
        "te",
        "content-type",
        "grpc-message",
        "grpc-message-type",
        "grpc-status",
    ] {
        headers.remove(reserved);
    }
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if h.gzip {
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    }
    let mut request = http::Request::new(tonic::body::Body::new(http_body_util::Full::new(frame)));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from_static(path);
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;
    request
        .extensions_mut()
        .insert(tonic::GrpcMethod::new(service, "Export"));
    let response = channel
        .call(request)
        .await
        .map_err(|e| tonic::Status::from_error(e.into()))?;
    // Read as tonic's `Grpc::create_response` and `client_streaming` do:
    // no response compression was offered; a trailers-only answer carries
    // its status in the headers.
    if let Some(encoding) = response.headers().get("grpc-encoding") {
        if encoding != "identity" {
            return Err(tonic::Status::unimplemented(format!(
                "Content is compressed with `{}` which isn't supported",
                String::from_utf8_lossy(encoding.as_bytes())
            )));
        }
    }
    let status = response.status();
    let mut body = match tonic::Status::from_header_map(response.headers()) {
        Some(s) if s.code() != tonic::Code::Ok => return Err(s),
        Some(_) => tonic::codec::Streaming::new_empty(RawResponse, response.into_body()),
        None => tonic::codec::Streaming::new_response(
            RawResponse,
            response.into_body(),
            status,
            None,
            None,
        ),
    };
    let message = body
        .message()
        .await?
        .ok_or_else(|| tonic::Status::internal("Missing response message."))?;
    body.trailers().await?;
    Ok(message)
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

/// The response decoder of [`unary`]: the message's bytes, decoded by
/// [`accepted`] so that gRPC and HTTP answers are read alike.
struct RawResponse;

impl Decoder for RawResponse {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn responses_are_read_with_their_partial_success() {
        // An empty body is a response with every field unset: all accepted.
        assert_eq!(accepted(Signal::Logs, b"").unwrap(), Accepted::default());
        let logs = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            }),
        };
        let a = accepted(Signal::Logs, &logs.encode_to_vec()).unwrap();
        assert_eq!((a.rejected, a.message.as_str()), (3, "too old"));
        let spans = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: -4,
                error_message: String::new(),
            }),
        };
        assert_eq!(
            accepted(Signal::Traces, &spans.encode_to_vec()).unwrap(),
            Accepted::default(),
            "a negative count rejects nothing"
        );
    }

    #[test]
    fn garbage_and_truncated_responses_do_not_decode() {
        assert!(accepted(Signal::Logs, b"<html>502 Bad Gateway</html>").is_err());
        let full = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 1,
                error_message: "a reason long enough to cut".into(),
            }),
        }
        .encode_to_vec();
        assert!(accepted(Signal::Logs, &full[..full.len() / 2]).is_err());
    }
}
