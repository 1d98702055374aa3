//! Adding the gotel sidecar to Kubernetes workloads: `gotel inject` on YAML
//! and the admission webhook (`webhook`) share [`inject_pod`]. The sidecar
//! is built from `k8s-openapi` types; the rest of each object is edited as
//! a JSON value so that fields gotel does not know (newer API fields,
//! extensions) survive unchanged.

pub mod webhook;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

/// The injected container's name: its presence makes injection a no-op.
pub const CONTAINER: &str = "gotel";
/// The probes volume's name.
const VOLUME: &str = "gotel-probes";
/// Where the probes ConfigMap is mounted; `--config` names the file in it.
const CONFIG_DIR: &str = "/etc/gotel";
/// The admin endpoint's default port, and its name (unique among the
/// pod's ports).
pub const ADMIN_PORT: i32 = 9464;
const ADMIN_PORT_NAME: &str = "gotel-admin";
/// Linux capabilities the sidecar needs, as a pod spec names them.
pub use crate::privilege::CAPABILITIES;

/// How to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The gotel image.
    pub image: String,
    /// The ConfigMap holding the probes config.
    pub probes_config_map: String,
    /// The key of the ConfigMap that holds the config file.
    pub config_key: String,
    /// A native sidecar: an init container with `restartPolicy: Always`
    /// (Kubernetes ≥ 1.29), started, and watching, before the app.
    pub native: bool,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the sidecar, if any.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` beside it (`grpc`, `http/protobuf`).
    pub otlp_protocol: String,
    /// The admin endpoint's port; the next free one when a container of the
    /// pod declares it (the pod's containers share one network namespace).
    pub admin_port: i32,
}

/// Why a document cannot be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The input is not YAML.
    #[error("document {doc}: not valid YAML: {source}")]
    Yaml {
        /// 1-based document number.
        doc: usize,
        /// The parser's error.
        source: serde_yaml::Error,
    },
    /// A document that is not a Kubernetes object.
    #[error("document {doc}: not a Kubernetes object (no `kind`)")]
    NotAnObject {
        /// 1-based document number.
        doc: usize,
    },
    /// A workload without the pod template its kind must have.
    #[error("document {doc}: {kind} {name} has no pod spec at {path}")]
    NoPodSpec {
        /// 1-based document number.
        doc: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// Where the pod spec should be.
        path: String,
    },
    /// The pod spec could not be edited.
    #[error("{0}")]
    Pod(String),
}

/// Where the pod spec of each workload kind lives.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// The sidecar container for `opts`, native or not (`k8s/overlays/sidecar`
/// holds the same, which `tests/k8s.rs` checks).
pub fn sidecar(opts: &Options, native: bool, admin_port: i32) -> Container {
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            field_path: path.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let value = |name: &str, v: &str| EnvVar {
        name: name.into(),
        value: Some(v.into()),
        ..Default::default()
    };
    let mut env: Vec<EnvVar> = match &opts.otlp_endpoint {
        Some(endpoint) => vec![
            value("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            value("OTEL_EXPORTER_OTLP_PROTOCOL", &opts.otlp_protocol),
        ],
        None => Vec::new(),
    };
    // The k8s.* resource attributes of every traced process of the pod.
    let downward = [
        ("K8S_POD_NAME", "metadata.name"),
        ("K8S_NAMESPACE_NAME", "metadata.namespace"),
        ("K8S_POD_UID", "metadata.uid"),
        ("K8S_NODE_NAME", "spec.nodeName"),
    ];
    env.extend(downward.into_iter().map(|(name, path)| EnvVar {
        name: name.into(),
        value_from: Some(field(path)),
        ..Default::default()
    }));
    let healthz = || Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String(ADMIN_PORT_NAME.into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        ..Default::default()
    };
    let quantity = |s: &str| Quantity(s.into());
    Container {
        name: CONTAINER.into(),
        image: Some(opts.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec![
            "run".into(),
            format!("--config={CONFIG_DIR}/{}", opts.config_key),
            format!("--admin=0.0.0.0:{admin_port}"),
        ]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(ADMIN_PORT_NAME.into()),
            container_port: admin_port,
            ..Default::default()
        }]),
        volume_mounts: Some(vec![VolumeMount {
            name: VOLUME.into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        // Root with only these capabilities: Kubernetes adds capabilities to
        // uid 0's effective set only (see the Dockerfile). runAsNonRoot is
        // set false here so that a pod-level `runAsNonRoot: true` does not
        // keep the sidecar (and a native sidecar's app) from starting.
        security_context: Some(SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            capabilities: Some(Capabilities {
                add: Some(CAPABILITIES.iter().map(|c| c.to_string()).collect()),
                drop: Some(vec!["ALL".into()]),
            }),
            ..Default::default()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(
                [
                    ("cpu".into(), quantity("50m")),
                    ("memory".into(), quantity("64Mi")),
                ]
                .into(),
            ),
            limits: Some(
                [
                    ("cpu".into(), quantity("500m")),
                    ("memory".into(), quantity("128Mi")),
                ]
                .into(),
            ),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            failure_threshold: Some(3),
            ..healthz()
        }),
        // On /healthz, not /readyz: a sidecar's readiness is the pod's, and
        // a probe that does not attach must not take the app out of its
        // Service (/readyz and /metrics say which probe is not attached).
        readiness_probe: Some(healthz()),
        // A native sidecar starts before the app: the app waits for this.
        startup_probe: native.then_some(Probe {
            period_seconds: Some(1),
            failure_threshold: Some(30),
            ..healthz()
        }),
        restart_policy: native.then(|| "Always".into()),
        ..Default::default()
    }
}

/// The first port from `from` up that no container of the pod spec `pod`
/// declares.
fn free_port(pod: &serde_json::Map<String, Value>, from: i32) -> i32 {
    let declared: Vec<i64> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod.get(*list)?.as_array())
        .flatten()
        .filter_map(|c| c.get("ports")?.as_array())
        .flatten()
        .filter_map(|p| p.get("containerPort")?.as_i64())
        .collect();
    (from..=65535)
        .find(|p| !declared.contains(&i64::from(*p)))
        .unwrap_or(from)
}

/// Adds the sidecar to one pod spec (a JSON object). Returns false, and
/// changes nothing, when a container named `gotel` is already there.
///
/// A pod that runs to completion (`restartPolicy` Never or OnFailure: Jobs)
/// always gets the native form: a plain sidecar container would keep it
/// running after the app exits, and the Job would never complete.
pub fn inject_pod(spec: &mut Value, opts: &Options) -> Result<bool, InjectError> {
    let obj = spec
        .as_object_mut()
        .ok_or_else(|| InjectError::Pod("the pod spec is not a mapping".into()))?;
    let named = |list: Option<&Value>| {
        list.and_then(Value::as_array).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("name").and_then(Value::as_str) == Some(CONTAINER))
        })
    };
    if named(obj.get("containers")) || named(obj.get("initContainers")) {
        return Ok(false);
    }
    let completes = matches!(
        obj.get("restartPolicy").and_then(Value::as_str),
        Some("Never" | "OnFailure")
    );
    let native = opts.native || completes;
    let apps = obj.get_mut("containers").and_then(Value::as_array_mut);
    let Some(apps) = apps.filter(|a| !a.is_empty()) else {
        return Err(InjectError::Pod("the pod spec has no containers".into()));
    };
    // k8s.container.name is read from each traced process's environment.
    for app in apps.iter_mut() {
        name_container(app)?;
    }
    let admin_port = free_port(obj, opts.admin_port);
    let container =
        serde_json::to_value(sidecar(opts, native, admin_port)).expect("a Container serialises");
    let list = if native {
        "initContainers"
    } else {
        "containers"
    };
    push(obj, list, container)?;
    let volume = Volume {
        name: VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: opts.probes_config_map.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let volume = serde_json::to_value(volume).expect("a Volume serialises");
    push(obj, "volumes", volume)?;
    // With hostPID the pod already sees the app's processes, and the API
    // server refuses shareProcessNamespace beside it.
    if obj.get("hostPID") != Some(&json!(true)) {
        obj.insert("shareProcessNamespace".into(), json!(true));
    }
    Ok(true)
}

/// Gives an app container `K8S_CONTAINER_NAME` (its own name) unless set.
fn name_container(app: &mut Value) -> Result<(), InjectError> {
    let c = app
        .as_object_mut()
        .ok_or_else(|| InjectError::Pod("a container is not a mapping".into()))?;
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let set = c.get("env").and_then(Value::as_array).is_some_and(|env| {
        env.iter()
            .any(|e| e.get("name").and_then(Value::as_str) == Some("K8S_CONTAINER_NAME"))
    });
    if set || name.is_empty() {
        return Ok(());
    }
    push(
        c,
        "env",
        json!({"name": "K8S_CONTAINER_NAME", "value": name}),
    )
}

/// Appends `item` to the list at `key`, creating it.
fn push(
    obj: &mut serde_json::Map<String, Value>,
    key: &str,
    item: Value,
) -> Result<(), InjectError> {
    match obj.entry(key).or_insert_with(|| json!([])) {
        Value::Array(a) => {
            a.push(item);
            Ok(())
        }
        Value::Null => {
            obj.insert(key.into(), json!([item]));
            Ok(())
        }
        _ => Err(InjectError::Pod(format!("`{key}` is not a list"))),
    }
}

/// Adds the sidecar to one object (or to each item of a `List`); other
/// kinds pass unchanged. Returns how many pod specs it changed.
fn inject_object(v: &mut Value, doc: usize, opts: &Options) -> Result<usize, InjectError> {
    let kind = v.get("kind").and_then(Value::as_str).map(str::to_string);
    let Some(kind) = kind else {
        return Err(InjectError::NotAnObject { doc });
    };
    if let Some(of) = kind.strip_suffix("List") {
        let mut n = 0;
        for item in v
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            // A typed list from the API (PodList) leaves its items' kind out.
            if !of.is_empty() && item.get("kind").is_none() {
                if let Some(o) = item.as_object_mut() {
                    o.insert("kind".into(), json!(of));
                }
            }
            n += inject_object(item, doc, opts)?;
        }
        return Ok(n);
    }
    let Some(path) = pod_spec_path(&kind) else {
        return Ok(0);
    };
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let mut spec = &mut *v;
    for key in path {
        spec = match spec.get_mut(*key) {
            Some(s) if s.is_object() => s,
            _ => {
                return Err(InjectError::NoPodSpec {
                    doc,
                    kind,
                    name,
                    path: path.join("."),
                })
            }
        };
    }
    inject_pod(spec, opts).map(usize::from)
}

/// Whether YAML 1.1 (kubectl's, go-yaml v2's) reads plain scalar `s` as
/// something other than the string it is: a boolean word or an octal or
/// sexagesimal number, which YAML 1.2 (serde_yaml) leaves as strings.
fn yaml11_reads_otherwise(s: &str) -> bool {
    const WORDS: &[&str] = &["y", "yes", "n", "no", "on", "off"];
    let digits = s.trim_start_matches(['-', '+']);
    WORDS.contains(&s.to_ascii_lowercase().as_str())
        || (digits.len() > 1
            && digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
        || (digits.contains(':')
            && digits
                .split(':')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// A string value anywhere in `v` that YAML 1.1 would read otherwise.
fn has_yaml11_trap(v: &Value) -> bool {
    match v {
        Value::String(s) => yaml11_reads_otherwise(s),
        Value::Array(a) => a.iter().any(has_yaml11_trap),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| yaml11_reads_otherwise(k) || has_yaml11_trap(v)),
        _ => false,
    }
}

/// `mode`/`defaultMode` written as YAML 1.1 octal (`0644`), which YAML 1.2
/// reads as a string, back to the number kubectl would have read.
fn octal_modes(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v {
                    Value::String(s) if k == "mode" || k == "defaultMode" => {
                        if let Some(n) = s
                            .strip_prefix('0')
                            .and_then(|d| u32::from_str_radix(d, 8).ok())
                        {
                            *v = json!(n);
                        }
                    }
                    _ => octal_modes(v),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(octal_modes),
        _ => {}
    }
}

/// `gotel inject`: every document of `yaml` with the sidecar added to each
/// workload, separated by `---`; the count of pod specs changed. Empty
/// documents are dropped; comments are not kept. A document holding a
/// string that YAML 1.1 (kubectl) would read as a boolean or a number
/// (`"on"`, `"0123"`) is written as JSON, itself YAML, so that no value
/// changes type on its way back to kubectl.
pub fn inject_yaml(yaml: &str, opts: &Options) -> Result<(String, usize), InjectError> {
    let mut out = Vec::new();
    let mut changed = 0;
    for (i, de) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
        let doc = i + 1;
        let mut v: Value = serde::Deserialize::deserialize(de)
            .map_err(|source| InjectError::Yaml { doc, source })?;
        if v.is_null() {
            continue;
        }
        octal_modes(&mut v);
        changed += inject_object(&mut v, doc, opts)?;
        out.push(match has_yaml11_trap(&v) {
            true => serde_json::to_string_pretty(&v).expect("JSON values serialise") + "\n",
            false => serde_yaml::to_string(&v).expect("JSON values serialise as YAML"),
        });
    }
    Ok((out.join("---\n"), changed))
}

#[cfg(test)]
mod tests;
