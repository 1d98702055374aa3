//! Adding the gotel sidecar to Kubernetes workloads: `gotel inject` on YAML
//! and the admission webhook (`webhook`) share [`inject_pod`]. The sidecar
//! is built from `k8s-openapi` types; the rest of each object is edited as
//! a JSON value so that fields gotel does not know (newer API fields,
//! extensions) survive unchanged.

pub mod webhook;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, Probe, ResourceRequirements, SecurityContext, Volume,
    VolumeMount,
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
/// The admin endpoint's port.
pub const ADMIN_PORT: i32 = 9464;
/// Linux capabilities the sidecar needs (README: Requirements).
/// (Uprobe creation needs SYS_ADMIN since Linux 6.16 and the July 2025
/// stable kernels; PTRACE and DAC_READ_SEARCH read another user's /proc.)
pub const CAPABILITIES: &[&str] = &["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];

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

/// The sidecar container for `opts`; `app` names the app's container when
/// there is exactly one (its name goes into the OTLP resource).
pub fn sidecar(opts: &Options, app: Option<&str>) -> Container {
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            field_path: path.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env: Vec<EnvVar> = [
        ("K8S_POD_NAME", "metadata.name"),
        ("K8S_NAMESPACE_NAME", "metadata.namespace"),
        ("K8S_POD_UID", "metadata.uid"),
        ("K8S_NODE_NAME", "spec.nodeName"),
    ]
    .into_iter()
    .map(|(name, path)| EnvVar {
        name: name.into(),
        value_from: Some(field(path)),
        ..Default::default()
    })
    .collect();
    if let Some(app) = app {
        env.push(EnvVar {
            name: "K8S_CONTAINER_NAME".into(),
            value: Some(app.into()),
            ..Default::default()
        });
    }
    if let Some(endpoint) = &opts.otlp_endpoint {
        env.push(EnvVar {
            name: "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            value: Some(endpoint.clone()),
            ..Default::default()
        });
    }
    let health = Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("admin".into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Default::default()
    };
    let quantity = |s: &str| Quantity(s.into());
    Container {
        name: CONTAINER.into(),
        image: Some(opts.image.clone()),
        args: Some(vec![
            "run".into(),
            "--config".into(),
            format!("{CONFIG_DIR}/{}", opts.config_key),
            "--admin".into(),
            format!("0.0.0.0:{ADMIN_PORT}"),
        ]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("admin".into()),
            container_port: ADMIN_PORT,
            ..Default::default()
        }]),
        volume_mounts: Some(vec![VolumeMount {
            name: VOLUME.into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_user: Some(0),
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
        liveness_probe: Some(health.clone()),
        // A native sidecar starts before the app: the app waits for this.
        startup_probe: opts.native.then_some(Probe {
            period_seconds: Some(1),
            failure_threshold: Some(30),
            ..health
        }),
        restart_policy: opts.native.then(|| "Always".into()),
        ..Default::default()
    }
}

/// Adds the sidecar to one pod spec (a JSON object). Returns false, and
/// changes nothing, when a container named `gotel` is already there.
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
    let apps: Vec<&str> = obj
        .get("containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name")?.as_str()).collect())
        .unwrap_or_default();
    if apps.is_empty() {
        return Err(InjectError::Pod("the pod spec has no containers".into()));
    }
    let app = (apps.len() == 1).then(|| apps[0].to_string());
    let container =
        serde_json::to_value(sidecar(opts, app.as_deref())).expect("a Container serialises");
    let list = if opts.native {
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
    push(
        obj,
        "volumes",
        serde_json::to_value(volume).expect("a Volume serialises"),
    )?;
    obj.insert("shareProcessNamespace".into(), json!(true));
    Ok(true)
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
    if kind == "List" || kind.ends_with("List") {
        let mut n = 0;
        for item in v
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
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

/// `gotel inject`: every document of `yaml` with the sidecar added to each
/// workload, as YAML documents separated by `---`; the count of pod specs
/// changed. Empty documents are dropped; comments are not kept.
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
        changed += inject_object(&mut v, doc, opts)?;
        out.push(serde_yaml::to_string(&v).expect("JSON values serialise as YAML"));
    }
    Ok((out.join("---\n"), changed))
}

#[cfg(test)]
mod tests;
