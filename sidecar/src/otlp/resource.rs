//! OTLP resources: one per traced process (its calls), one for gotel
//! itself (its counters).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::attributes::{int, string};
use super::settings::Settings;
use crate::export::Origin;

/// Kubernetes resource attributes and the downward-API variables they are
/// read from, first found wins. `own` says whether gotel's own environment
/// may stand in when the traced process lacks them: gotel runs in the same
/// pod, but not in the same container.
const K8S: &[(&str, &[&str], bool)] = &[
    ("k8s.pod.name", &["K8S_POD_NAME", "POD_NAME"], true),
    (
        "k8s.namespace.name",
        &["K8S_NAMESPACE_NAME", "K8S_POD_NAMESPACE", "POD_NAMESPACE"],
        true,
    ),
    ("k8s.pod.uid", &["K8S_POD_UID", "POD_UID"], true),
    ("k8s.node.name", &["K8S_NODE_NAME", "NODE_NAME"], true),
    (
        "k8s.container.name",
        &["K8S_CONTAINER_NAME", "CONTAINER_NAME"],
        false,
    ),
];

/// Every variable name in [`K8S`]: what [`Origin::of_process`] keeps from
/// a traced process's environment.
pub const DOWNWARD_API_ENV: &[&str] = &[
    "K8S_POD_NAME",
    "POD_NAME",
    "K8S_NAMESPACE_NAME",
    "K8S_POD_NAMESPACE",
    "POD_NAMESPACE",
    "K8S_POD_UID",
    "POD_UID",
    "K8S_NODE_NAME",
    "NODE_NAME",
    "K8S_CONTAINER_NAME",
    "CONTAINER_NAME",
];

/// Builds resources from the settings and the host, read once.
#[derive(Debug, Clone)]
pub struct Resources {
    host: String,
    service_name_env: Option<String>,
    service_name: Option<String>,
    extra: Vec<(String, String)>,
    own_env: Vec<(String, String)>,
}

impl Resources {
    /// Reads the host name and gotel's own downward-API variables.
    pub fn new(settings: &Settings) -> Self {
        let own_env = DOWNWARD_API_ENV
            .iter()
            .filter_map(|k| super::settings::process_env(k).map(|v| (k.to_string(), v)))
            .collect();
        Resources {
            host: host_name(),
            service_name_env: settings.service_name_env.clone(),
            service_name: settings.service_name.clone(),
            extra: settings.resource_attributes.clone(),
            own_env,
        }
    }

    /// The resource of a traced process. `service.name`: OTEL_SERVICE_NAME,
    /// then the probe's `service_name`, then `otlp.service_name`, then one
    /// given in OTEL_RESOURCE_ATTRIBUTES/`otlp.resource_attributes`, then
    /// the executable's name.
    pub fn for_process(&self, o: &Origin) -> Resource {
        let exe_name = o
            .exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let extra_service = self
            .extra
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone());
        let service = self
            .service_name_env
            .clone()
            .or_else(|| o.service_name.clone())
            .or_else(|| self.service_name.clone())
            .or(extra_service)
            .unwrap_or_else(|| exe_name.clone());
        let mut attrs = vec![
            string("service.name", service),
            string(
                "service.instance.id",
                format!("{}/{}/{}", self.host, o.pid, o.start_time),
            ),
            string("host.name", &self.host),
            int("process.pid", i64::from(o.pid)),
            string("process.executable.name", exe_name),
            string("process.executable.path", o.exe.to_string_lossy()),
            string("process.runtime.name", "go"),
        ];
        if let Some(v) = &o.go_version {
            attrs.push(string("process.runtime.version", v));
        }
        // gotel's own pod variables describe the process only when it is
        // in gotel's pod: a shared, pod-level PID namespace (not the
        // host's, where a node-wide gotel sees every pod).
        let same_pod = o.same_pod;
        for (attr, vars, own) in K8S {
            let found = |env: &[(String, String)]| {
                vars.iter()
                    .find_map(|v| env.iter().find(|(k, _)| k == v).map(|(_, val)| val.clone()))
            };
            let value = found(&o.env)
                .or_else(|| (*own && same_pod).then(|| found(&self.own_env)).flatten());
            if let Some(v) = value {
                attrs.push(string(*attr, v));
            }
        }
        self.finish(attrs)
    }

    /// gotel's own resource, for its counters.
    pub fn for_gotel(&self) -> Resource {
        let pid = std::process::id();
        let mut attrs = vec![
            string("service.name", "gotel"),
            string("service.version", env!("CARGO_PKG_VERSION")),
            string("service.instance.id", format!("{}/{pid}", self.host)),
            string("host.name", &self.host),
            int("process.pid", i64::from(pid)),
            string("process.runtime.name", "rust"),
        ];
        for (attr, vars, own) in K8S {
            let v = vars.iter().find_map(|v| {
                self.own_env
                    .iter()
                    .find(|(k, _)| k == v)
                    .map(|(_, val)| val.clone())
            });
            if let (true, Some(v)) = (*own, v) {
                attrs.push(string(*attr, v));
            }
        }
        self.finish(attrs)
    }

    /// Adds the configured extra attributes that detection did not set:
    /// facts about the process win over a global setting.
    fn finish(&self, mut attrs: Vec<KeyValue>) -> Resource {
        for (k, v) in &self.extra {
            if !attrs.iter().any(|a| a.key == *k) {
                attrs.push(string(k.clone(), v.clone()));
            }
        }
        Resource {
            attributes: attrs,
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
    }
}

fn host_name() -> String {
    crate::proc::hostname().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn get(r: &Resource, key: &str) -> Option<Value> {
        r.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone()?.value)
    }

    fn resources(env_service: Option<&str>) -> Resources {
        Resources {
            host: "node1".into(),
            service_name_env: env_service.map(Into::into),
            service_name: Some("from-config".into()),
            extra: vec![
                ("deployment.environment".into(), "prod".into()),
                ("process.pid".into(), "1".into()),
            ],
            own_env: vec![
                ("POD_NAME".into(), "sidecar-pod".into()),
                ("CONTAINER_NAME".into(), "gotel".into()),
            ],
        }
    }

    #[test]
    fn a_process_resource() {
        let o = Origin {
            pid: 42,
            start_time: 7,
            exe: "/srv/app".into(),
            go_version: Some("go1.24.11".into()),
            service_name: None,
            env: vec![("K8S_NAMESPACE_NAME".into(), "shop".into())],
            same_pod: true,
        };
        let r = resources(None).for_process(&o);
        assert_eq!(
            get(&r, "service.name"),
            Some(Value::StringValue("from-config".into()))
        );
        assert_eq!(get(&r, "process.pid"), Some(Value::IntValue(42)));
        assert_eq!(
            get(&r, "process.executable.name"),
            Some(Value::StringValue("app".into()))
        );
        assert_eq!(
            get(&r, "process.runtime.version"),
            Some(Value::StringValue("go1.24.11".into()))
        );
        assert_eq!(
            get(&r, "k8s.namespace.name"),
            Some(Value::StringValue("shop".into()))
        );
        // The pod is shared with gotel, the container is not.
        assert_eq!(
            get(&r, "k8s.pod.name"),
            Some(Value::StringValue("sidecar-pod".into()))
        );
        assert_eq!(get(&r, "k8s.container.name"), None);
        assert_eq!(
            get(&r, "deployment.environment"),
            Some(Value::StringValue("prod".into()))
        );
        assert_eq!(
            r.attributes
                .iter()
                .filter(|a| a.key == "process.pid")
                .count(),
            1
        );

        // Outside gotel's pod, gotel's own variables say nothing of it.
        let elsewhere = Origin {
            same_pod: false,
            ..o.clone()
        };
        assert_eq!(
            get(&resources(None).for_process(&elsewhere), "k8s.pod.name"),
            None
        );
        let probe_named = Origin {
            service_name: Some("probe".into()),
            ..o.clone()
        };
        let r = resources(None).for_process(&probe_named);
        assert_eq!(
            get(&r, "service.name"),
            Some(Value::StringValue("probe".into()))
        );
        let r = resources(Some("env")).for_process(&probe_named);
        assert_eq!(
            get(&r, "service.name"),
            Some(Value::StringValue("env".into()))
        );
        // Nothing configured: the executable's name.
        let bare = Resources {
            service_name: None,
            ..resources(None)
        };
        let r = bare.for_process(&o);
        assert_eq!(
            get(&r, "service.name"),
            Some(Value::StringValue("app".into()))
        );
    }
}
