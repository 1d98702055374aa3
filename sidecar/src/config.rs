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
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            rate_limit: None,
            max_hits_per_second: default_max_hits(),
            breaker_cooldown: default_cooldown(),
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
    8192
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
    /// Only calls whose arguments satisfy this (`amount > 100 && user.Name
    /// != "test"`; see `condition`).
    #[serde(default)]
    pub when: Option<String>,
    /// Only calls whose arguments, results and `duration` satisfy this
    /// (`err != nil || duration > 5ms`).
    #[serde(default)]
    pub when_return: Option<String>,
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
        }
        self
    }
}

/// Checks values serde cannot: exactly-one-of, ranges, regexes.
pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let invalid = |field: String, message: &str| ConfigError::Invalid {
        field,
        message: message.to_string(),
    };
    if cfg.probes.is_empty() {
        return Err(invalid(
            "probes".into(),
            "no probes configured; add at least one `- function: main.myFunc` with a `target`",
        ));
    }
    if cfg.probes.len() > MAX_PROBES {
        return Err(invalid(
            "probes".into(),
            &format!(
                "{} probes; at most {MAX_PROBES} (each attached probe takes two of the kernel's {} recipes)",
                cfg.probes.len(),
                crate::recipe::MAX_RECIPES
            ),
        ));
    }
    if cfg.drain_interval_ms == 0 || cfg.scan_interval_ms == 0 {
        return Err(invalid(
            "scan_interval_ms/drain_interval_ms".into(),
            "must be at least 1",
        ));
    }
    let kib = cfg.ring_buffer_kib;
    if kib < 16 || !kib.is_power_of_two() || kib > 1 << 20 {
        return Err(invalid(
            "ring_buffer_kib".into(),
            "must be a power of two between 16 and 1048576 (KiB)",
        ));
    }
    if let Some(o) = &cfg.outputs {
        if o.is_empty() {
            return Err(invalid(
                "outputs".into(),
                "name at least one of jsonl, otlp (or remove the key)",
            ));
        }
    }
    if cfg.defaults.rate_limit == Some(0) {
        return Err(invalid(
            "defaults.rate_limit".into(),
            "must be at least 1 call per second",
        ));
    }
    if let Err(m) = check_cooldown(cfg.defaults.breaker_cooldown) {
        return Err(invalid("defaults.breaker_cooldown".into(), &m));
    }
    for (i, re) in cfg.redact.names.iter().enumerate() {
        if let Err(e) = regex::Regex::new(re) {
            return Err(invalid(
                format!("redact.names[{i}]"),
                &format!("not a valid regular expression: {e}"),
            ));
        }
    }
    validate_otlp(&cfg.otlp).map_err(|(field, message)| ConfigError::Invalid {
        field: format!("otlp.{field}"),
        message,
    })?;
    for (i, p) in cfg.probes.iter().enumerate() {
        let at = |f: &str| format!("probes[{i}].{f}");
        if p.function.trim().is_empty() {
            return Err(invalid(
                at("function"),
                "must name a Go function, e.g. main.computeE",
            ));
        }
        let t = &p.target;
        let set = t.exe.is_some() as u8 + t.pid.is_some() as u8 + t.cmdline.is_some() as u8;
        if set != 1 {
            return Err(invalid(
                at("target"),
                "set exactly one of exe, pid, cmdline",
            ));
        }
        if t.exe.as_deref().is_some_and(|e| e.trim().is_empty()) {
            return Err(invalid(at("target.exe"), "must not be empty"));
        }
        if p.from_start && t.exe.is_none() {
            return Err(invalid(
                at("from_start"),
                "needs target.exe: the uprobes go on that executable file before any process runs it (a pid is already running; a command line is only known once it runs)",
            ));
        }
        if t.pid == Some(0) {
            return Err(invalid(at("target.pid"), "must be a process id > 0"));
        }
        if let Some(re) = &t.cmdline {
            if let Err(e) = regex::Regex::new(re) {
                return Err(invalid(
                    at("target.cmdline"),
                    &format!("not a valid regular expression: {e}"),
                ));
            }
        }
        for (field, text) in [("when", &p.when), ("when_return", &p.when_return)] {
            if let Some(text) = text {
                if let Err(e) = crate::condition::Condition::parse(text) {
                    return Err(invalid(at(field), &e.to_string()));
                }
            }
        }
        if p.when_return.is_some() && !p.returns {
            return Err(invalid(
                at("when_return"),
                "needs `returns: true`: it is decided at the return",
            ));
        }
        if !p.latency && p.returns {
            return Err(invalid(
                at("latency"),
                "false needs `returns: false` too: results are read at the return, which times the call anyway",
            ));
        }
        if let Some(s) = p.sample {
            if !(s > 0.0 && s <= 1.0) {
                return Err(invalid(
                    at("sample"),
                    "must be a fraction of calls, 0 < sample ≤ 1",
                ));
            }
        }
        if let Some(Err(m)) = p.breaker_cooldown.map(check_cooldown) {
            return Err(invalid(at("breaker_cooldown"), &m));
        }
        if p.rate_limit == Some(0) {
            return Err(invalid(
                at("rate_limit"),
                "must be at least 1 call per second (remove the probe to stop it)",
            ));
        }
        if p.max_string_len == 0 || p.max_string_len > MAX_STRING {
            return Err(invalid(
                at("max_string_len"),
                &format!("must be between 1 and {MAX_STRING}"),
            ));
        }
        if p.max_elems == 0 || p.max_elems > 1024 {
            return Err(invalid(at("max_elems"), "must be between 1 and 1024"));
        }
        // Each level is one more pointer load in BPF.
        if p.pointer_depth > MAX_HOPS as u32 {
            return Err(invalid(
                at("pointer_depth"),
                &format!("must be between 0 and {MAX_HOPS}"),
            ));
        }
        if let Some(args) = &p.args {
            for (j, a) in args.iter().enumerate() {
                if a.trim().is_empty() {
                    return Err(invalid(
                        format!("probes[{i}].args[{j}]"),
                        "must name an argument",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The longest breaker cool-down, however often a probe trips (README,
/// "Breaker": it doubles up to this).
pub const MAX_BREAKER_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(600);

/// A breaker cool-down: above 0, and no longer than the doubling's cap.
/// The cap also keeps the breaker's `now + cool-down × 2` in range: a
/// cool-down of hundreds of billions of years parses, and overflowed it.
fn check_cooldown(c: std::time::Duration) -> Result<(), String> {
    if c.is_zero() {
        return Err("must be longer than 0 (e.g. 30s)".into());
    }
    if c > MAX_BREAKER_COOLDOWN {
        return Err(format!(
            "must be at most {} (the longest cool-down, however often it trips)",
            humantime_serde::re::humantime::format_duration(MAX_BREAKER_COOLDOWN)
        ));
    }
    Ok(())
}

/// Checks the `otlp:` section on its own (the `OTEL_*` environment, which
/// overrides it, is checked when the exporter starts): Err((field, message)).
fn validate_otlp(cfg: &OtlpConfig) -> Result<(), (String, String)> {
    let invalid = |field: &str, message: String| Err((field.to_string(), message));
    if let Some(p) = &cfg.protocol {
        if !matches!(p.as_str(), "grpc" | "http/protobuf" | "http") {
            return invalid(
                "protocol",
                format!("unknown protocol {p:?}; use grpc or http/protobuf"),
            );
        }
    }
    if let Some(c) = &cfg.compression {
        if !matches!(c.as_str(), "gzip" | "none") {
            return invalid(
                "compression",
                format!("unknown compression {c:?}; use gzip or none"),
            );
        }
    }
    let positive = [
        ("timeout_ms", cfg.timeout_ms),
        ("batch_timeout_ms", cfg.batch_timeout_ms),
        ("metrics_interval_ms", cfg.metrics_interval_ms),
        ("queue_size", cfg.queue_size.map(|v| v as u64)),
        ("max_batch", cfg.max_batch.map(|v| v as u64)),
        ("max_in_flight", cfg.max_in_flight.map(|v| v as u64)),
    ];
    for (field, v) in positive {
        if v == Some(0) {
            return invalid(field, "must be at least 1".into());
        }
    }
    for (field, url) in [
        ("endpoint", &cfg.endpoint),
        ("traces_endpoint", &cfg.traces_endpoint),
        ("logs_endpoint", &cfg.logs_endpoint),
        ("metrics_endpoint", &cfg.metrics_endpoint),
    ] {
        if url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return invalid(field, "must not be empty".into());
        }
    }
    if cfg.client_cert_file.is_some() != cfg.client_key_file.is_some() {
        return invalid(
            "client_cert_file",
            "mutual TLS needs both client_cert_file and client_key_file".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply() {
        let c =
            from_yaml("probes:\n  - function: main.computeE\n    target: { exe: app }\n").unwrap();
        let p = &c.probes[0];
        assert!(p.returns);
        assert_eq!(p.max_string_len, 256);
        assert_eq!(p.args, None);
        assert_eq!(p.display_name(), "main.computeE");
        assert_eq!(p.target.exe.as_deref(), Some("app"));
    }

    #[test]
    fn a_directory_is_refused_with_the_files_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gotel.yaml"), "probes: []\n").unwrap();
        std::fs::write(dir.path().join("README"), "").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "config file {} is a directory holding gotel.yaml; point --config at the file (a ConfigMap volume holds one file per key)",
                dir.path().display()
            )
        );
    }

    #[test]
    fn oversized_configs_are_refused_before_they_cost_much() {
        let probe = "  - function: f\n    target: { exe: app }\n";
        let many = format!("probes:\n{}", probe.repeat(MAX_PROBES + 1));
        assert_eq!(
            from_yaml(&many).unwrap_err().to_string(),
            "config probes: 2049 probes; at most 2048 (each attached probe takes two of the kernel's 4096 recipes)"
        );
        let ok = format!("probes:\n{}", probe.repeat(MAX_PROBES));
        assert_eq!(from_yaml(&ok).unwrap().probes.len(), MAX_PROBES);
        // A file too large is not even parsed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let huge = format!("probes:\n{}", probe.repeat(30_000));
        std::fs::write(&path, &huge).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "config file {} is {} bytes; at most 1048576 are read",
                path.display(),
                huge.len()
            )
        );
    }

    #[test]
    fn an_unknown_gotel_variable_is_refused_like_an_unknown_key() {
        let vars = |v: &[&str]| unknown_variables(v.iter().map(|s| s.to_string()));
        assert!(vars(&["PATH", "GOTEL_LOG", "GOTEL_PROBES", "GOTEL_OTLP__ENDPOINT"]).is_ok());
        assert!(vars(&[
            "GOTEL_GO_TOOLCHAINS",
            "GOTEL_FULL_MATRIX",
            "GOTEL_scan_interval_ms"
        ])
        .is_ok());
        // A Service named gotel: Kubernetes' service-link variables.
        assert!(vars(&[
            "GOTEL_SERVICE_HOST",
            "GOTEL_SERVICE_PORT",
            "GOTEL_SERVICE_PORT_OTLP",
            "GOTEL_PORT",
            "GOTEL_PORT_4317_TCP_ADDR"
        ])
        .is_ok());
        assert_eq!(
            vars(&["GOTEL_LOG", "GOTEL_RING_BUFER_KIB"]).unwrap_err().to_string(),
            "unknown environment variable GOTEL_RING_BUFER_KIB: not a config key (probes, scan_interval_ms, drain_interval_ms, ring_buffer_kib, outputs, otlp, admin, defaults, redact) nor GOTEL_LOG/GOTEL_LOG_FORMAT; did you mean GOTEL_RING_BUFFER_KIB?"
        );
        assert_eq!(
            vars(&["GOTEL_NO_SUCH_VAR"]).unwrap_err().to_string(),
            "unknown environment variable GOTEL_NO_SUCH_VAR: not a config key (probes, scan_interval_ms, drain_interval_ms, ring_buffer_kib, outputs, otlp, admin, defaults, redact) nor GOTEL_LOG/GOTEL_LOG_FORMAT"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            from_yaml("probes:\n  - function: f\n    target: { exe: app, pid: 3 }\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config probes[0].target: set exactly one of exe, pid, cmdline"
        );
        let e = from_yaml(
            "probes:\n  - function: f\n    target: { exe: app }\n    max_string_len: 0\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config probes[0].max_string_len:"),
            "{e}"
        );
        let e = from_yaml("probes:\n  - function: f\n    target: { cmdline: '(' }\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config probes[0].target.cmdline:"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e =
            from_yaml("probes:\n  - function: f\n    target: { exe: app }\n    retruns: false\n")
                .unwrap_err();
        assert!(e.to_string().contains("retruns"), "{e}");
    }

    #[test]
    fn otlp_section_and_outputs() {
        let c = from_yaml(
            "probes:\n  - function: f\n    target: { exe: app }\n    service_name: shop\n\
             outputs: [otlp, jsonl]\n\
             otlp: { endpoint: 'http://c:4317', protocol: grpc, headers: { x-token: s }, compression: gzip }\n",
        )
        .unwrap();
        assert_eq!(c.outputs, Some(vec![Output::Otlp, Output::Jsonl]));
        assert_eq!(c.otlp.protocol.as_deref(), Some("grpc"));
        assert_eq!(c.probes[0].service_name.as_deref(), Some("shop"));
        let e = from_yaml(
            "probes:\n  - function: f\n    target: { exe: app }\notlp: { protocol: udp }\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("config otlp.protocol:"), "{e}");
        let e = from_yaml(
            "probes:\n  - function: f\n    target: { exe: app }\notlp: { compression: zstd }\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("config otlp.compression:"), "{e}");
        let e = from_yaml("probes:\n  - function: f\n    target: { exe: app }\noutputs: [kafka]\n")
            .unwrap_err();
        assert!(e.to_string().contains("kafka"), "{e}");
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn otlp_keys_from_gotel_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.yaml",
                "probes:\n  - function: f\n    target: { exe: app }\n",
            )?;
            jail.set_env("GOTEL_OUTPUTS", "[otlp, jsonl]");
            jail.set_env("GOTEL_OTLP__ENDPOINT", "http://c:4317");
            jail.set_env("GOTEL_OTLP__PROTOCOL", "grpc");
            let c = load(Path::new("c.yaml")).map_err(|e| e.to_string())?;
            assert_eq!(c.outputs, Some(vec![Output::Otlp, Output::Jsonl]));
            assert_eq!(c.otlp.endpoint.as_deref(), Some("http://c:4317"));
            assert_eq!(c.otlp.protocol.as_deref(), Some("grpc"));
            Ok(())
        });
    }

    #[test]
    fn toml_file_and_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[[probes]]\nfunction = \"main.f\"\ntarget = { pid = 42 }\n",
        )
        .unwrap();
        let c = load(&p).unwrap();
        assert_eq!(c.probes[0].target.pid, Some(42));
        let e = load(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(e.to_string().contains("missing.yaml"), "{e}");
    }
}

#[cfg(test)]
mod readme_tests {
    /// The README's config example is a valid config, with every key.
    #[test]
    fn the_readme_config_example_parses() {
        let readme = include_str!("../../README.md");
        let at = readme.find("### Config (v1)").expect("the config section");
        let block = readme[at..]
            .split("```yaml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a yaml block");
        let cfg = super::from_yaml(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let p = &cfg.probes[0];
        assert_eq!(p.sample, Some(0.1));
        assert_eq!(p.rate_limit, Some(1000));
        assert_eq!(
            cfg.defaults.breaker_cooldown,
            std::time::Duration::from_secs(30)
        );
    }
}
