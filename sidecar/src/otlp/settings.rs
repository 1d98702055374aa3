//! Exporter settings: the `otlp:` config section merged with the standard
//! `OTEL_*` environment variables, which win, as `GOTEL_*` ones do over the
//! file. Signal-specific variables (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`…)
//! win over the general ones.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::OtlpConfig;

/// The transport of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
    /// OTLP/HTTP with binary protobuf bodies (port 4318 by convention).
    HttpProtobuf,
}

impl Protocol {
    /// Parses the spec's names.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" | "http" => Some(Protocol::HttpProtobuf),
            _ => None,
        }
    }
}

/// One of the three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Log records.
    Logs,
    /// gotel's own counters.
    Metrics,
}

impl Signal {
    /// `traces`, `logs`, `metrics`: the URL path element and log word.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Logs => "LOGS",
            Signal::Metrics => "METRICS",
        }
    }
}

/// Where and how one signal is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSettings {
    /// Which signal.
    pub signal: Signal,
    /// False when `OTEL_<SIGNAL>_EXPORTER=none`.
    pub enabled: bool,
    /// gRPC or HTTP.
    pub protocol: Protocol,
    /// The full URL requests go to (HTTP: including `/v1/<signal>`).
    pub url: String,
    /// Extra request headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// gzip request bodies.
    pub gzip: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// gRPC: plaintext even for a scheme-less endpoint.
    pub insecure: bool,
    /// CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub client_key_file: Option<PathBuf>,
}

/// Everything the exporter needs, resolved once at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Spans.
    pub traces: SignalSettings,
    /// Log records.
    pub logs: SignalSettings,
    /// gotel's counters.
    pub metrics: SignalSettings,
    /// Calls held for export at most.
    pub queue_size: usize,
    /// Calls per request at most.
    pub max_batch: usize,
    /// Batches being sent (or retried) at once.
    pub max_in_flight: usize,
    /// Longest wait to fill a batch.
    pub batch_timeout: Duration,
    /// How long one batch is retried.
    pub max_retry: Duration,
    /// Counter export period.
    pub metrics_interval: Duration,
    /// Shutdown flush budget.
    pub shutdown_timeout: Duration,
    /// `OTEL_SERVICE_NAME`: wins over every configured name.
    pub service_name_env: Option<String>,
    /// `otlp.service_name`.
    pub service_name: Option<String>,
    /// `otlp.resource_attributes`, then `OTEL_RESOURCE_ATTRIBUTES` (later wins).
    pub resource_attributes: Vec<(String, String)>,
}

/// Default queue capacity, in calls.
pub const DEFAULT_QUEUE_SIZE: usize = 8192;
/// Default batch size, in calls.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Default number of batches in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// A bad setting: (field under `otlp.`, message).
pub type Invalid = (String, String);

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    (field.to_string(), message.into())
}

/// True when any OTLP endpoint is set, in the file or the environment.
pub fn endpoint_configured(cfg: &OtlpConfig, env: &dyn Fn(&str) -> Option<String>) -> bool {
    cfg.endpoint.is_some()
        || cfg.traces_endpoint.is_some()
        || cfg.logs_endpoint.is_some()
        || cfg.metrics_endpoint.is_some()
        || [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ]
        .iter()
        .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
}

/// The process environment, empty values treated as unset (as the spec asks).
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Merges `cfg` with the environment read through `env`.
    pub fn resolve(
        cfg: &OtlpConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Invalid> {
        let signal = |s: Signal| -> Result<SignalSettings, Invalid> {
            // The signal's own variable, then the general one.
            let var = |what: &str| {
                env(&format!("OTEL_EXPORTER_OTLP_{}_{what}", s.env()))
                    .map(|v| (v, true))
                    .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{what}")).map(|v| (v, false)))
            };
            let protocol = match var("PROTOCOL") {
                Some((p, _)) => Protocol::parse(&p).ok_or_else(|| {
                    invalid(
                        "protocol",
                        format!("OTEL_EXPORTER_OTLP_PROTOCOL={p:?}: use grpc or http/protobuf"),
                    )
                })?,
                None => match &cfg.protocol {
                    Some(p) => Protocol::parse(p).ok_or_else(|| invalid("protocol", p.clone()))?,
                    None => Protocol::HttpProtobuf,
                },
            };
            let configured = match s {
                Signal::Traces => &cfg.traces_endpoint,
                Signal::Logs => &cfg.logs_endpoint,
                Signal::Metrics => &cfg.metrics_endpoint,
            };
            // A signal URL is used as is; a base URL gets /v1/<signal> over HTTP.
            let (base, exact) = match var("ENDPOINT") {
                Some((u, exact)) => (u, exact),
                None => match (configured, &cfg.endpoint) {
                    (Some(u), _) => (u.clone(), true),
                    (None, Some(u)) => (u.clone(), false),
                    (None, None) => (
                        match protocol {
                            Protocol::Grpc => "http://localhost:4317".into(),
                            Protocol::HttpProtobuf => "http://localhost:4318".into(),
                        },
                        false,
                    ),
                },
            };
            let url = match protocol {
                Protocol::HttpProtobuf if !exact => {
                    format!("{}/v1/{}", base.trim_end_matches('/'), s.name())
                }
                _ => base.trim().to_string(),
            };
            let headers = match var("HEADERS") {
                Some((h, _)) => parse_pairs(&h).map_err(|e| invalid("headers", e))?,
                None => cfg
                    .headers
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
            let gzip = match var("COMPRESSION") {
                Some((c, _)) => match c.trim() {
                    "gzip" => true,
                    "none" => false,
                    other => {
                        return Err(invalid(
                            "compression",
                            format!("OTEL_EXPORTER_OTLP_COMPRESSION={other:?}: use gzip or none"),
                        ))
                    }
                },
                None => cfg.compression.as_deref() == Some("gzip"),
            };
            let timeout_ms = match var("TIMEOUT") {
                Some((t, _)) => t.trim().parse::<u64>().map_err(|_| {
                    invalid(
                        "timeout_ms",
                        format!("OTEL_EXPORTER_OTLP_TIMEOUT={t:?}: milliseconds expected"),
                    )
                })?,
                None => cfg.timeout_ms.unwrap_or(10_000),
            };
            let insecure = match var("INSECURE") {
                Some((v, _)) => v.trim().eq_ignore_ascii_case("true"),
                None => cfg.insecure.unwrap_or(false),
            };
            let path = |what: &str, c: &Option<PathBuf>| {
                var(what)
                    .map(|(p, _)| PathBuf::from(p))
                    .or_else(|| c.clone())
            };
            let enabled = env(&format!("OTEL_{}_EXPORTER", s.env()))
                .is_none_or(|v| !v.trim().eq_ignore_ascii_case("none"));
            Ok(SignalSettings {
                signal: s,
                enabled,
                protocol,
                url,
                headers,
                gzip,
                timeout: Duration::from_millis(timeout_ms.max(1)),
                insecure,
                ca_file: path("CERTIFICATE", &cfg.ca_file),
                client_cert_file: path("CLIENT_CERTIFICATE", &cfg.client_cert_file),
                client_key_file: path("CLIENT_KEY", &cfg.client_key_file),
            })
        };
        let mut resource_attributes: Vec<(String, String)> = cfg
            .resource_attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(r) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_pairs(&r).map_err(|e| invalid("resource_attributes", e))? {
                resource_attributes.retain(|(k2, _)| *k2 != k);
                resource_attributes.push((k, v));
            }
        }
        let ms = Duration::from_millis;
        Ok(Settings {
            traces: signal(Signal::Traces)?,
            logs: signal(Signal::Logs)?,
            metrics: signal(Signal::Metrics)?,
            queue_size: cfg.queue_size.unwrap_or(DEFAULT_QUEUE_SIZE).max(1),
            max_batch: cfg.max_batch.unwrap_or(DEFAULT_MAX_BATCH).max(1),
            max_in_flight: cfg.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT).max(1),
            batch_timeout: ms(cfg.batch_timeout_ms.unwrap_or(200).max(1)),
            max_retry: ms(cfg.max_retry_ms.unwrap_or(60_000)),
            metrics_interval: ms(cfg.metrics_interval_ms.unwrap_or(10_000).max(1)),
            shutdown_timeout: ms(cfg.shutdown_timeout_ms.unwrap_or(5_000)),
            service_name_env: env("OTEL_SERVICE_NAME"),
            service_name: cfg.service_name.clone(),
            resource_attributes,
        })
    }
}

/// `k1=v1,k2=v2` with percent-encoded values (W3C Baggage style), as
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` are written.
pub fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("{p:?} is not key=value"))?;
            let k = k.trim();
            if k.is_empty() {
                return Err(format!("{p:?} has an empty key"));
            }
            Ok((percent_decode(k.trim()), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn http_base_endpoint_gets_signal_paths() {
        let s = Settings::resolve(
            &OtlpConfig {
                endpoint: Some("http://c:4318/".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert_eq!(s.traces.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.traces.url, "http://c:4318/v1/traces");
        assert_eq!(s.logs.url, "http://c:4318/v1/logs");
        assert_eq!(s.metrics.url, "http://c:4318/v1/metrics");
        assert!(!s.logs.gzip);
        assert_eq!(s.logs.timeout, Duration::from_secs(10));
    }

    #[test]
    fn environment_wins_and_signal_variables_win_over_general_ones() {
        let cfg = OtlpConfig {
            endpoint: Some("http://file:4318".into()),
            protocol: Some("http/protobuf".into()),
            compression: Some("none".into()),
            ..Default::default()
        };
        let s = Settings::resolve(
            &cfg,
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                (
                    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                    "http://logs:9999/custom",
                ),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "Authorization=Bearer%20abc,x-tenant=t1",
                ),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_SERVICE_NAME", "shop"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,team=a%2Cb",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.traces.protocol, Protocol::Grpc);
        assert_eq!(s.traces.url, "http://env:4317");
        assert_eq!(s.logs.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.logs.url, "http://logs:9999/custom");
        assert_eq!(
            s.traces.headers,
            vec![
                ("authorization".to_string(), "Bearer abc".to_string()),
                ("x-tenant".to_string(), "t1".to_string())
            ]
        );
        assert!(s.traces.gzip);
        assert_eq!(s.traces.timeout, Duration::from_millis(2500));
        assert!(s.traces.enabled && s.logs.enabled && !s.metrics.enabled);
        assert_eq!(s.service_name_env.as_deref(), Some("shop"));
        assert_eq!(
            s.resource_attributes,
            vec![
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".to_string(), "a,b".to_string())
            ]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = Settings::resolve(
            &OtlpConfig::default(),
            &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
        )
        .unwrap_err();
        assert_eq!(e.0, "protocol");
        assert!(e.1.contains("http/json"), "{e:?}");
        assert!(!endpoint_configured(&OtlpConfig::default(), &env(&[])));
        assert!(endpoint_configured(
            &OtlpConfig::default(),
            &env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x")])
        ));
    }
}
