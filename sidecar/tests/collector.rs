//! Offline checks of `otel-collector/`: no Docker here, so the collector,
//! compose and Grafana files are parsed and cross-checked instead of run.

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

/// Component types of otel/opentelemetry-collector-contrib (≥ 0.144) used
/// here, by kind. `loki` is deliberately absent from the exporters: it was
/// removed from contrib after v0.130; Loki 3 takes OTLP through `otlp_http`.
const KNOWN: &[(&str, &[&str])] = &[
    ("receivers", &["otlp"]),
    ("processors", &["batch", "memory_limiter"]),
    ("exporters", &["debug", "otlp_grpc", "otlp_http"]),
    ("extensions", &["health_check"]),
];

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

#[test]
fn collector_pipelines_name_defined_contrib_components() {
    let c = load("config.yaml");
    for (kind, types) in KNOWN {
        for name in keys(&c[*kind]) {
            let ty = name.split('/').next().unwrap();
            assert!(
                types.contains(&ty),
                "{kind}.{name}: type {ty} not in {types:?}"
            );
        }
    }
    let pipelines = &c["service"]["pipelines"];
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut signals = BTreeSet::new();
    for name in keys(pipelines) {
        let signal = name.split('/').next().unwrap().to_string();
        assert!(
            ["traces", "logs", "metrics"].contains(&signal.as_str()),
            "pipeline {name}"
        );
        signals.insert(signal);
        let p = &pipelines[name.as_str()];
        for kind in ["receivers", "processors", "exporters"] {
            for component in strings(&p[kind]) {
                assert!(
                    keys(&c[kind]).contains(&component),
                    "pipeline {name} uses {kind} {component}, which is not defined"
                );
                used.insert((kind.to_string(), component));
            }
        }
        assert!(!strings(&p["receivers"]).is_empty(), "{name}: no receiver");
        assert!(!strings(&p["exporters"]).is_empty(), "{name}: no exporter");
    }
    assert_eq!(signals.len(), 3, "traces, logs and metrics pipelines");
    for kind in ["receivers", "processors", "exporters"] {
        for name in keys(&c[kind]) {
            assert!(
                used.contains(&(kind.to_string(), name.clone())),
                "{kind}.{name} unused"
            );
        }
    }
    for ext in strings(&c["service"]["extensions"]) {
        assert!(keys(&c["extensions"]).contains(&ext), "extension {ext}");
    }
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
