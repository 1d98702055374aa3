//! What serde cannot check of a config: exactly-one-of, ranges, regexes,
//! conditions, and the OTLP section; each error names its field.

use super::*;

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
    if let Some(Err(m)) = cfg.defaults.stack.map(check_stack) {
        return Err(invalid("defaults.stack".into(), &m));
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
        if let Some(n) = p.stack {
            check_stack(n).map_err(|m| invalid(at("stack"), &m))?;
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

/// A `stack:` depth: up to what the BPF walk reads (0: no stack).
fn check_stack(n: u32) -> Result<(), String> {
    let max = crate::recipe::MAX_STACK;
    match n <= max {
        true => Ok(()),
        false => Err(format!(
            "must be between 0 and {max} (callers read per call; 0: none)"
        )),
    }
}
