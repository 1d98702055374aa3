//! Checks of `otel-collector/`: every collector config goes through the real
//! collector's `validate` (a distribution built from the collector's Go
//! modules, tests/jaeger.rs runs it); no Docker here, so the compose and
//! Grafana files are parsed and cross-checked instead of run.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otel-collector")
}

fn load(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The collector distribution scripts/otel-tools.sh built from the
/// collector's Go modules (the same components as the contrib image the
/// compose file and the manifests run).
fn otelcol() -> PathBuf {
    let dir = std::env::var("OTEL_TOOLS_BIN").expect(
        "OTEL_TOOLS_BIN is not set: run `source scripts/otel-tools.sh` (scripts/test.sh does)",
    );
    PathBuf::from(dir).join("otelcol-gotel")
}

/// `otelcol validate` on `configs` (merged in order, as `--config` twice
/// merges them) with `env`; its output when it refuses them.
fn validate(configs: &[PathBuf], env: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = std::process::Command::new(otelcol());
    cmd.arg("validate").envs(env.iter().copied());
    for c in configs {
        cmd.arg(format!("--config={}", c.display()));
    }
    let out = cmd.output().expect("running otelcol-gotel");
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn the_collector_accepts_every_collector_config_shipped() {
    let k8s = dir().join("../k8s/observability/collector-k8s.yaml");
    let test_env = [
        ("COLLECTOR_GRPC_PORT", "4317"),
        ("COLLECTOR_HTTP_PORT", "4318"),
        ("JAEGER_OTLP_PORT", "14317"),
        ("COLLECTOR_FILE", "/tmp/collected.jsonl"),
        ("COLLECTOR_SMALL_PORT", "4319"),
    ];
    type Case<'a> = (&'a [PathBuf], &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        // docker compose
        (&[dir().join("config.yaml")], &[]),
        // k8s/observability: the compose config with the Kubernetes overrides merged over it
        (&[dir().join("config.yaml"), k8s], &[]),
        // the end-to-end tests' own
        (&[dir().join("test/collector.yaml")], &test_env),
        (&[dir().join("test/delivery.yaml")], &test_env),
    ];
    for (configs, env) in cases {
        if let Err(e) = validate(configs, env) {
            panic!("otelcol validate {configs:?}: {e}");
        }
    }
    // And it does refuse: an exporter no distribution has.
    let bad = tempfile::NamedTempFile::new().unwrap();
    let text = std::fs::read_to_string(dir().join("config.yaml"))
        .unwrap()
        .replace("exporters: [debug]", "exporters: [debug, nosuch]");
    std::fs::write(bad.path(), text).unwrap();
    let refused = validate(&[bad.path().to_path_buf()], &[]).unwrap_err();
    assert!(refused.contains("nosuch"), "{refused}");
}

#[test]
fn collector_pipelines_use_what_they_define_in_the_order_the_docs_ask() {
    let c = load("config.yaml");
    let pipelines = &c["service"]["pipelines"];
    // The standard OTLP ports, on all interfaces (the collector runs in a container).
    let otlp = &c["receivers"]["otlp"]["protocols"];
    assert_eq!(otlp["grpc"]["endpoint"].as_str(), Some("0.0.0.0:4317"));
    assert_eq!(otlp["http"]["endpoint"].as_str(), Some("0.0.0.0:4318"));
    // Logs go to Loki's OTLP endpoint, traces to Tempo and Jaeger, all with debug.
    assert_eq!(
        c["exporters"]["otlp_http/loki"]["endpoint"].as_str(),
        Some("http://loki:3100/otlp")
    );
    let traces = strings(&pipelines["traces"]["exporters"]);
    for e in ["otlp_grpc/tempo", "otlp_grpc/jaeger", "debug"] {
        assert!(traces.contains(&e.to_string()), "traces → {e}");
    }
    assert!(strings(&pipelines["logs"]["exporters"]).contains(&"otlp_http/loki".to_string()));
    // batch comes last among processors (after memory_limiter), as the docs ask.
    for name in keys(pipelines) {
        let procs = strings(&pipelines[name.as_str()]["processors"]);
        assert_eq!(procs.first().map(String::as_str), Some("memory_limiter"));
        assert_eq!(procs.last().map(String::as_str), Some("batch"));
    }
}

#[test]
fn compose_wires_gotel_collector_and_backends() {
    let c = load("docker-compose.yaml");
    let services = keys(&c["services"]);
    for s in [
        "demo",
        "gotel",
        "otel-collector",
        "loki",
        "tempo",
        "jaeger",
        "grafana",
    ] {
        assert!(services.contains(s), "service {s}");
    }
    let gotel = &c["services"]["gotel"];
    assert_eq!(
        gotel["pid"].as_str(),
        Some("service:demo"),
        "gotel sees the demo's processes"
    );
    assert_eq!(gotel["privileged"].as_bool(), Some(true), "gotel loads BPF");
    // Every mounted file and Dockerfile exists.
    for name in &services {
        let s = &c["services"][name.as_str()];
        for v in strings(&s["volumes"]) {
            let src = v.split(':').next().unwrap();
            if let Some(rel) = src.strip_prefix("./") {
                assert!(dir().join(rel).exists(), "{name}: {src} missing");
            }
        }
        if let Some(df) = s["build"]["dockerfile"].as_str() {
            assert!(dir().join("..").join(df).exists(), "{name}: {df} missing");
        }
        for d in strings(&s["depends_on"]) {
            assert!(services.contains(&d), "{name} depends on unknown {d}");
        }
    }
    // Exporters point at compose services.
    let cfg = load("config.yaml");
    for e in keys(&cfg["exporters"]) {
        if let Some(ep) = cfg["exporters"][e.as_str()]["endpoint"].as_str() {
            let host = ep
                .trim_start_matches("http://")
                .split([':', '/'])
                .next()
                .unwrap();
            assert!(
                services.contains(host),
                "exporter {e} → unknown host {host}"
            );
        }
    }
    // gotel's config parses and points at the collector's gRPC port.
    let g = gotel::config::load(&dir().join("gotel.yaml")).unwrap();
    assert_eq!(
        g.otlp.endpoint.as_deref(),
        Some("http://otel-collector:4317")
    );
    assert_eq!(g.otlp.protocol.as_deref(), Some("grpc"));
}

#[test]
fn grafana_links_loki_lines_to_tempo_traces() {
    let d = load("grafana/datasources.yaml");
    let sources = d["datasources"].as_sequence().unwrap();
    let by_type = |t: &str| {
        sources
            .iter()
            .find(|s| s["type"].as_str() == Some(t))
            .unwrap_or_else(|| panic!("a {t} datasource"))
    };
    let tempo_uid = by_type("tempo")["uid"].as_str().unwrap();
    let loki = by_type("loki");
    let link = &loki["jsonData"]["derivedFields"][0];
    assert_eq!(link["datasourceUid"].as_str(), Some(tempo_uid));
    // OTLP logs keep trace_id as structured metadata, matched as a label.
    assert_eq!(link["matcherType"].as_str(), Some("label"));
    assert_eq!(link["matcherRegex"].as_str(), Some("trace_id"));
    assert_eq!(
        by_type("tempo")["jsonData"]["tracesToLogsV2"]["datasourceUid"].as_str(),
        loki["uid"].as_str()
    );
    by_type("jaeger");
}
