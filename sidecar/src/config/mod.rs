//! The probe configuration: a YAML or TOML file plus `GOTEL_*` environment
//! overrides, validated with the path of the offending field.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::recipe::{MAX_HOPS, MAX_STRING};

/// Top-level keys settable from `GOTEL_<KEY>` environment variables.
const CONFIG_KEYS: &[&str] = &[
    "probes",
    "scan_interval_ms",
    "drain_interval_ms",
    "ring_buffer_kib",
    "outputs",
    "otlp",
    "admin",
    "defaults",
    "redact",
];

/// Default `max_string_len`.
pub const DEFAULT_MAX_STRING_LEN: u32 = 256;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The functions to trace.
    #[serde(default)]
    pub probes: Vec<ProbeSpec>,
    /// How often to rescan /proc for targets, in milliseconds.
    #[serde(default = "default_scan_ms")]
    pub scan_interval_ms: u64,
    /// How often to drain the ring buffer when no wakeup arrives, in milliseconds.
    #[serde(default = "default_drain_ms")]
    pub drain_interval_ms: u64,
    /// Size of the BPF ring buffer in KiB: a power of two, at least 16.
    /// Events that do not fit are dropped and counted, never waited for.
    #[serde(default = "default_ring_kib")]
    pub ring_buffer_kib: u32,
    /// Where calls go; None: OTLP when an OTLP endpoint is configured (here
    /// or in `OTEL_EXPORTER_OTLP_*ENDPOINT`), JSONL on stdout otherwise.
    #[serde(default)]
    pub outputs: Option<Vec<Output>>,
    /// OTLP exporter settings; the standard `OTEL_*` variables override them.
    #[serde(default)]
    pub otlp: OtlpConfig,
    /// Where to serve the admin endpoint (`/healthz`, `/readyz`, `/metrics`,
    /// `/probes`), e.g. `0.0.0.0:9464`; off when unset (`--admin` overrides).
    #[serde(default)]
    pub admin: Option<std::net::SocketAddr>,
    /// What every probe gets unless it says otherwise: rate limit, breaker.
    #[serde(default)]
    pub defaults: Defaults,
    /// Arguments, results and fields never captured, by name.
    #[serde(default)]
    pub redact: Redact,
}

/// The `defaults:` section: each applies to every probe that does not set
/// its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Completed calls emitted per second per probe (the rest counted as
    /// `rate_limited`); none: no limit.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// The breaker: a probe hit more often than this (uprobe hits per
    /// second, all its sites and processes) for a full second is detached;
    /// 0 turns it off.
    #[serde(default = "default_max_hits")]
    pub max_hits_per_second: u64,
    /// How long a tripped probe stays detached; doubles each time it trips
    /// again after re-attaching, up to 10 minutes.
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    pub breaker_cooldown: std::time::Duration,
    /// Make a call's span the child of the application's own OpenTelemetry
    /// span when a `context.Context` argument (or one in a struct an
    /// argument points to, like `*http.Request`) carries one.
    #[serde(default = "default_true")]
    pub join_traces: bool,
    /// Callers to capture with each call (`stack:`); none: no stack.
    #[serde(default)]
    pub stack: Option<u32>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            rate_limit: None,
            max_hits_per_second: default_max_hits(),
            breaker_cooldown: default_cooldown(),
            join_traces: true,
            stack: None,
        }
    }
}

/// The `redact:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// Regular expressions matched against argument, result and field
    /// names; a match is never copied out of the app (`[]`: redact nothing).
    #[serde(default = "default_redact_names")]
    pub names: Vec<String>,
    /// What the output shows in its place.
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

impl Default for Redact {
    fn default() -> Self {
        Redact {
            names: default_redact_names(),
            replacement: default_replacement(),
        }
    }
}

/// The longest breaker cool-down, however often a probe trips (README,
/// "Breaker": it doubles up to this).
pub const MAX_BREAKER_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(600);

/// The breaker's default threshold (README, "Breaker", has the arithmetic).
pub const DEFAULT_MAX_HITS_PER_SECOND: u64 = 10_000;

fn default_max_hits() -> u64 {
    DEFAULT_MAX_HITS_PER_SECOND
}
fn default_cooldown() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}
fn default_redact_names() -> Vec<String> {
    vec!["(?i)passw(or)?d|secret|token|api_?key|authorization|cookie".into()]
}
fn default_replacement() -> String {
    "[REDACTED]".into()
}

/// A destination for calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// One JSON object per line on stdout.
    Jsonl,
    /// OTLP logs and spans to a collector.
    Otlp,
}

/// The `otlp:` section. Every field is optional: unset fields come from
/// the `OTEL_EXPORTER_OTLP_*` environment or the defaults in crate::otlp.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Base URL: `http://collector:4318` (HTTP: `/v1/<signal>` is appended)
    /// or `http://collector:4317` (gRPC).
    pub endpoint: Option<String>,
    /// Full URL for traces, used as is.
    pub traces_endpoint: Option<String>,
    /// Full URL for logs, used as is.
    pub logs_endpoint: Option<String>,
    /// Full URL for metrics, used as is.
    pub metrics_endpoint: Option<String>,
    /// `grpc` or `http/protobuf` (default).
    pub protocol: Option<String>,
    /// Extra request headers (gRPC metadata), e.g. an auth token.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// `gzip` or `none` (default).
    pub compression: Option<String>,
    /// Per-request timeout in milliseconds (default 10000).
    pub timeout_ms: Option<u64>,
    /// gRPC without TLS even for an endpoint without `http://`.
    pub insecure: Option<bool>,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with `client_key_file`).
    pub client_cert_file: Option<PathBuf>,
    /// PEM client key for mutual TLS.
    pub client_key_file: Option<PathBuf>,
    /// `service.name` for every traced process whose probe sets none.
    pub service_name: Option<String>,
    /// Extra resource attributes for every traced process.
    pub resource_attributes: Option<std::collections::BTreeMap<String, String>>,
    /// Calls held for export at most; more are dropped and counted.
    pub queue_size: Option<usize>,
    /// Calls per export request at most.
    pub max_batch: Option<usize>,
    /// Batches sent (or retried) concurrently at most.
    pub max_in_flight: Option<usize>,
    /// Longest wait to fill a batch, in milliseconds.
    pub batch_timeout_ms: Option<u64>,
    /// How long one batch is retried while the collector is unreachable
    /// before it is dropped and counted, in milliseconds.
    pub max_retry_ms: Option<u64>,
    /// How often gotel's own counters are exported, in milliseconds.
    pub metrics_interval_ms: Option<u64>,
    /// How long shutdown waits for the last exports, in milliseconds.
    pub shutdown_timeout_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            probes: Vec::new(),
            scan_interval_ms: default_scan_ms(),
            drain_interval_ms: default_drain_ms(),
            ring_buffer_kib: default_ring_kib(),
            outputs: None,
            otlp: OtlpConfig::default(),
            admin: None,
            defaults: Defaults::default(),
            redact: Redact::default(),
        }
    }
}

fn default_scan_ms() -> u64 {
    500
}
fn default_drain_ms() -> u64 {
    100
}
fn default_ring_kib() -> u32 {
    4096
}
fn default_max_elems() -> u32 {
    16
}
fn default_pointer_depth() -> u32 {
    3
}
fn default_true() -> bool {
    true
}
fn default_max_string_len() -> u32 {
    DEFAULT_MAX_STRING_LEN
}

/// One function to trace in the processes its target selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Full Go symbol (`main.computeE`, `pkg.(*T).M`) or unambiguous short form.
    pub function: String,
    /// Which processes to trace.
    pub target: Target,
    /// Name in the output; defaults to `function`.
    #[serde(default)]
    pub name: Option<String>,
    /// Arguments to capture; None means all.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Capture results.
    #[serde(default = "default_true")]
    pub returns: bool,
    /// Longest string prefix to copy, in bytes.
    #[serde(default = "default_max_string_len")]
    pub max_string_len: u32,
    /// Slice elements to copy (a `[]byte` copies `max_string_len` bytes).
    #[serde(default = "default_max_elems")]
    pub max_elems: u32,
    /// Pointers followed to show what they point to (0: addresses only).
    #[serde(default = "default_pointer_depth")]
    pub pointer_depth: u32,
    /// OTLP `service.name` of the processes this probe traces (unless
    /// `OTEL_SERVICE_NAME` is set); defaults to `otlp.service_name`, then
    /// the executable's name.
    #[serde(default)]
    pub service_name: Option<String>,
    /// Trace every process running the target's executable from its first
    /// instruction: uprobes on the file for all processes (in gotel's PID
    /// namespace) instead of on each process once it is seen.
    #[serde(default)]
    pub from_start: bool,
    /// Time each call (its return sites are probed); false with `returns:
    /// false`: the entry alone, one trap per call.
    #[serde(default = "default_true")]
    pub latency: bool,
    /// Probe the function's inlined sites too: each call there delivered
    /// at its start (no results, no latency), marked inlined.
    #[serde(default = "default_true")]
    pub inlined: bool,
    /// Keep this fraction of calls (0 < sample ≤ 1), chosen in the kernel
    /// before anything is copied; the rest counted as `sampled_out`.
    #[serde(default)]
    pub sample: Option<f64>,
    /// `defaults.rate_limit` for this probe.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// `defaults.max_hits_per_second` for this probe.
    #[serde(default)]
    pub max_hits_per_second: Option<u64>,
    /// `defaults.breaker_cooldown` for this probe.
    #[serde(default, with = "humantime_serde")]
    pub breaker_cooldown: Option<std::time::Duration>,
    /// `defaults.join_traces` for this probe.
    #[serde(default)]
    pub join_traces: Option<bool>,
    /// Read float results a caller moves out of their XMM register (a
    /// `movq` to an integer register, a store to its frame), and float
    /// arguments where the function itself does, with extra uprobes at
    /// those landing sites; false: they stay unavailable.
    #[serde(default = "default_true")]
    pub float_landing: bool,
    /// Only calls whose arguments satisfy this (`amount > 100 && user.Name
    /// != "test"`; see `condition`).
    #[serde(default)]
    pub when: Option<String>,
    /// Only calls whose arguments, results and `duration` satisfy this
    /// (`err != nil || duration > 5ms`).
    #[serde(default)]
    pub when_return: Option<String>,
    /// The calling functions to capture with each call, innermost first,
    /// read at the entry from Go's frame pointers (1 to
    /// [`crate::recipe::MAX_STACK`]; 0 or none: no stack).
    #[serde(default)]
    pub stack: Option<u32>,
    /// The config's top-level `redact:`, compiled, copied into every probe
    /// when the config is loaded (not settable per probe): part of the
    /// probe's identity, so that changing it re-plans the probe.
    #[serde(skip_deserializing)]
    pub redact: crate::redact::Redaction,
}

impl ProbeSpec {
    /// The name used in the output.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.function)
    }

    /// Whether only the entry is probed (no results, no latency).
    pub fn entry_only(&self) -> bool {
        !self.returns && !self.latency
    }

    /// Its rate limit, else the default's.
    pub fn rate_limit(&self, d: &Defaults) -> Option<u32> {
        self.rate_limit.or(d.rate_limit)
    }

    /// Its breaker threshold (0: off), else the default's.
    pub fn max_hits_per_second(&self, d: &Defaults) -> u64 {
        self.max_hits_per_second.unwrap_or(d.max_hits_per_second)
    }

    /// Its breaker cool-down, else the default's.
    pub fn breaker_cooldown(&self, d: &Defaults) -> std::time::Duration {
        self.breaker_cooldown.unwrap_or(d.breaker_cooldown)
    }

    /// Whether its spans join the application's traces (resolved configs
    /// say it; a spec built otherwise joins, as the default does).
    pub fn joins_traces(&self) -> bool {
        self.join_traces.unwrap_or(true)
    }
}

/// A process selector: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Executable basename (`app`) or absolute path (`/srv/app`).
    #[serde(default)]
    pub exe: Option<String>,
    /// A process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// A regular expression matched against the command line (args joined by spaces).
    #[serde(default)]
    pub cmdline: Option<String>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.exe, self.pid, &self.cmdline) {
            (Some(e), _, _) => write!(f, "exe {e}"),
            (_, Some(p), _) => write!(f, "pid {p}"),
            (_, _, Some(c)) => write!(f, "cmdline /{c}/"),
            _ => f.write_str("(no target)"),
        }
    }
}

/// A configuration problem, naming the file and field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not chained: shown once).
        error: std::io::Error,
    },
    /// The path names a directory (e.g. a mounted ConfigMap volume).
    #[error("config file {} is a directory{}; point --config at the file (a ConfigMap volume holds one file per key)", path.display(), match files.as_slice() { [] => String::new(), f => format!(" holding {}", f.join(", ")) })]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The YAML/TOML files in it, to choose from.
        files: Vec<String>,
    },
    /// The file is larger than any sensible config: refused before parsing.
    #[error("config file {path} is {bytes} bytes; at most {MAX_CONFIG_BYTES} are read")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// A `GOTEL_*` variable that names no config key and nothing of gotel's.
    #[error("unknown environment variable {name}: not a config key ({}) nor GOTEL_LOG/GOTEL_LOG_FORMAT{}", CONFIG_KEYS.join(", "), .suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    UnknownVariable {
        /// The variable.
        name: String,
        /// The nearest known variable, if close.
        suggestion: Option<String>,
    },
    /// Syntax or type error (figment names the key and the source).
    #[error("config: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("config {field}: {message}")]
    Invalid {
        /// Field path such as `probes[1].target`.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The largest config file read (a generated one with a thousand probes
/// is well under it).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The most probes one config may hold: each attached probe takes two of
/// the kernel's `recipe::MAX_RECIPES` recipes.
pub const MAX_PROBES: usize = crate::recipe::MAX_RECIPES as usize / 2;

/// Reads `path` (YAML unless it ends in `.toml`) and applies `GOTEL_*` env
/// overrides (`GOTEL_SCAN_INTERVAL_MS=100`, `GOTEL_PROBES='[{...}]'`,
/// `GOTEL_OTLP__ENDPOINT=http://c:4317`).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    match std::fs::metadata(path) {
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                error,
            })
        }
        Ok(m) if m.is_dir() => {
            let mut files: Vec<String> = std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| [".yaml", ".yml", ".toml"].iter().any(|x| n.ends_with(x)))
                .collect();
            files.sort();
            return Err(ConfigError::Directory {
                path: path.to_owned(),
                files,
            });
        }
        Ok(m) if m.len() > MAX_CONFIG_BYTES => {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                bytes: m.len(),
            })
        }
        Ok(_) => {}
    }
    unknown_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))?;
    let base = Figment::from(Serialized::defaults(Config::default()));
    let fig = if path.extension().is_some_and(|e| e == "toml") {
        base.merge(Toml::file(path))
    } else {
        base.merge(Yaml::file(path))
    };
    // Only config keys: other GOTEL_* variables (GOTEL_LOG, GOTEL_CACHE…)
    // belong to the CLI and scripts. A nested key (GOTEL_OTLP__ENDPOINT)
    // counts by its first part, which `only` would not match.
    let env = Env::prefixed("GOTEL_")
        .filter(|k| {
            let top = k.as_str().split("__").next().unwrap_or("");
            CONFIG_KEYS.iter().any(|c| top.eq_ignore_ascii_case(c))
        })
        .split("__");
    from_figment(fig.merge(env))
}

/// `GOTEL_*` variables that are not config keys: gotel's own logging, and
/// the repository's scripts' (which reach gotel when its tests run it).
const OTHER_VARIABLES: &[&str] = &[
    "LOG",
    "LOG_FORMAT",
    "GO_TOOLCHAINS",
    "GO_VERSIONS",
    "FULL_MATRIX",
    "CACHE",
];

/// Refuses a `GOTEL_*` variable that names nothing, as an unknown key in
/// the file is: a misspelt override must not be silently ignored.
fn unknown_variables(names: impl Iterator<Item = String>) -> Result<(), ConfigError> {
    for name in names {
        let Some(rest) = name.strip_prefix("GOTEL_") else {
            continue;
        };
        let top = rest.split("__").next().unwrap_or("");
        // Kubernetes adds GOTEL_SERVICE_HOST, GOTEL_PORT_4317_TCP… to every
        // pod of a namespace with a Service named gotel (service links).
        let service_link =
            rest.starts_with("SERVICE_") || rest == "PORT" || rest.starts_with("PORT_");
        let known = CONFIG_KEYS.iter().any(|c| top.eq_ignore_ascii_case(c))
            || OTHER_VARIABLES.contains(&rest)
            || service_link;
        if known {
            continue;
        }
        let suggestion = CONFIG_KEYS
            .iter()
            .map(|k| format!("GOTEL_{}", k.to_uppercase()))
            .chain(OTHER_VARIABLES[..2].iter().map(|v| format!("GOTEL_{v}")))
            .map(|k| (strsim::jaro_winkler(&k, &name), k))
            .filter(|(s, _)| *s > 0.9)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k);
        return Err(ConfigError::UnknownVariable { name, suggestion });
    }
    Ok(())
}

/// Parses a config from YAML text (used by tests and `--config -`).
pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
    from_figment(Figment::from(Serialized::defaults(Config::default())).merge(Yaml::string(text)))
}

fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
    let cfg: Config = fig.extract().map_err(|e| {
        // figment's errors carry the key path and the source file.
        let msgs: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        ConfigError::Parse(msgs.join("; "))
    })?;
    validate(&cfg)?;
    Ok(cfg.resolved())
}

impl Config {
    /// This config with `defaults` written into each probe that does not
    /// set its own: a probe's spec (and so its identity) then says all of
    /// what it does, and editing a default re-attaches the probes it
    /// changes. `redact:` too, compiled (`validate` checked it; were it
    /// invalid, each probe keeps the default redaction, never none).
    pub fn resolved(mut self) -> Config {
        let d = self.defaults.clone();
        let redaction = crate::redact::Redaction::compile(&self.redact).unwrap_or_default();
        for p in &mut self.probes {
            p.redact = redaction.clone();
            p.rate_limit = p.rate_limit.or(d.rate_limit);
            p.max_hits_per_second = Some(p.max_hits_per_second.unwrap_or(d.max_hits_per_second));
            p.breaker_cooldown = Some(p.breaker_cooldown.unwrap_or(d.breaker_cooldown));
            p.join_traces = Some(p.join_traces.unwrap_or(d.join_traces));
            p.stack = p.stack.or(d.stack).filter(|&n| n > 0);
        }
        self
    }
}

mod validate;
pub use validate::validate;

#[cfg(test)]
mod tests;
