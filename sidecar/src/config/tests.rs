//! The config: parsing, validation messages, environment overrides, and
//! the README's example.

use super::*;

#[test]
fn defaults_apply() {
    let c = from_yaml("probes:\n  - function: main.computeE\n    target: { exe: app }\n").unwrap();
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
    let e = from_yaml("probes:\n  - function: f\n    target: { exe: app, pid: 3 }\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "config probes[0].target: set exactly one of exe, pid, cmdline"
    );
    let e =
        from_yaml("probes:\n  - function: f\n    target: { exe: app }\n    max_string_len: 0\n")
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
    let e = from_yaml("probes:\n  - function: f\n    target: { exe: app }\n    retruns: false\n")
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
    let e =
        from_yaml("probes:\n  - function: f\n    target: { exe: app }\notlp: { protocol: udp }\n")
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

/// The README's config example is a valid config, with every key.
#[test]
fn the_readme_config_example_parses() {
    let readme = include_str!("../../../README.md");
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

#[test]
fn join_traces_defaults_to_on_and_resolves_per_probe() {
    let probe = |extra: &str| format!("  - function: main.f\n    target: {{ exe: app }}\n{extra}");
    let cfg = super::from_yaml(&format!("probes:\n{}", probe(""))).unwrap();
    assert_eq!(cfg.probes[0].join_traces, Some(true));
    assert!(cfg.probes[0].joins_traces());
    let off = format!(
        "defaults:\n  join_traces: false\nprobes:\n{}{}",
        probe(""),
        probe("    join_traces: true\n")
    );
    let cfg = super::from_yaml(&off).unwrap();
    assert!(!cfg.probes[0].joins_traces());
    assert!(cfg.probes[1].joins_traces());
    // Part of the probe's identity: editing it re-plans the probe.
    assert_ne!(cfg.probes[0], cfg.probes[1]);
}

#[test]
fn stack_depth_is_bounded_and_resolves_from_the_defaults() {
    let probe = |extra: &str| format!("  - function: main.f\n    target: {{ exe: app }}\n{extra}");
    let cfg = from_yaml(&format!(
        "defaults:\n  stack: 8\nprobes:\n{}{}{}",
        probe(""),
        probe("    stack: 3\n"),
        probe("    stack: 0\n")
    ))
    .unwrap();
    let depths: Vec<_> = cfg.probes.iter().map(|p| p.stack).collect();
    // 0 turns a default off for one probe.
    assert_eq!(depths, [Some(8), Some(3), None]);
    assert_eq!(
        from_yaml(&format!("probes:\n{}", probe("")))
            .unwrap()
            .probes[0]
            .stack,
        None
    );
    let e = from_yaml(&format!(
        "probes:\n{}{}",
        probe(""),
        probe("    stack: 33\n")
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config probes[1].stack: must be between 0 and 32 (callers read per call; 0: none)"
    );
    let e = from_yaml(&format!("defaults:\n  stack: 100\nprobes:\n{}", probe(""))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config defaults.stack: must be between 0 and 32 (callers read per call; 0: none)"
    );
}
