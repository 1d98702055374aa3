use serde_json::{json, Value};

use super::webhook::review;
use super::*;

fn opts(native: bool) -> Options {
    Options {
        image: "gotel:test".into(),
        probes_config_map: "probes".into(),
        config_key: "gotel.yaml".into(),
        native,
        otlp_endpoint: Some("http://collector:4317".into()),
        otlp_protocol: "grpc".into(),
        admin_port: ADMIN_PORT,
    }
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

const APP: &str = r#"
# the demo
apiVersion: apps/v1
kind: Deployment
metadata: { name: demo, labels: { app: demo } }
spec:
  replicas: 2
  selector: { matchLabels: { app: demo } }
  template:
    metadata: { labels: { app: demo } }
    spec:
      futureField: { kept: true }
      containers:
        - name: demo
          image: demo:1
          somethingNew: 7
      volumes:
        - name: data
          emptyDir: {}
---
apiVersion: v1
kind: Service
metadata: { name: demo }
spec: { ports: [{ port: 80 }] }
"#;

#[test]
fn a_deployment_gets_the_sidecar_and_everything_else_is_kept() {
    let (out, changed) = inject_yaml(APP, &opts(false)).unwrap();
    assert_eq!(changed, 1);
    let (before, after) = (docs(APP), docs(&out));
    assert_eq!(after.len(), 2);
    assert_eq!(after[1], before[1], "the Service is unchanged");
    let pod = &after[0]["spec"]["template"]["spec"];
    assert_eq!(pod["shareProcessNamespace"], true);
    assert_eq!(pod["futureField"], json!({"kept": true}));
    // The app's container is kept, and names itself for the OTLP resource.
    let mut app = before[0]["spec"]["template"]["spec"]["containers"][0].clone();
    app["env"] = json!([{"name": "K8S_CONTAINER_NAME", "value": "demo"}]);
    assert_eq!(pod["containers"][0], app);
    let gotel = &pod["containers"][1];
    assert_eq!(gotel["name"], "gotel");
    assert_eq!(gotel["image"], "gotel:test");
    assert_eq!(
        gotel["args"],
        json!([
            "run",
            "--config=/etc/gotel/gotel.yaml",
            "--admin=0.0.0.0:9464"
        ])
    );
    assert_eq!(
        gotel["securityContext"]["capabilities"],
        json!({"add": CAPABILITIES, "drop": ["ALL"]})
    );
    assert_eq!(gotel["securityContext"]["privileged"], false);
    assert_eq!(
        gotel["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "gotel-admin"})
    );
    assert_eq!(gotel["securityContext"]["runAsNonRoot"], false);
    assert_eq!(gotel["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(gotel["startupProbe"], Value::Null);
    let env: Vec<(&str, &Value)> = gotel["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e.get("value").or(e.get("valueFrom")).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        env[0],
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &json!("http://collector:4317")
        )
    );
    assert_eq!(env[1], ("OTEL_EXPORTER_OTLP_PROTOCOL", &json!("grpc")));
    assert_eq!(
        env[2],
        (
            "K8S_POD_NAME",
            &json!({"fieldRef": {"fieldPath": "metadata.name"}})
        )
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "data", "emptyDir": {}}, {"name": "gotel-probes", "configMap": {"name": "probes"}}])
    );
    // Injecting again changes nothing.
    let (again, n) = inject_yaml(&out, &opts(false)).unwrap();
    assert_eq!((docs(&again), n), (after, 0));
}

#[test]
fn a_native_sidecar_is_an_init_container_that_starts_first() {
    let (out, _) = inject_yaml(APP, &opts(true)).unwrap();
    let pod = &docs(&out)[0]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    let gotel = &pod["initContainers"][0];
    assert_eq!(gotel["restartPolicy"], "Always");
    assert_eq!(gotel["startupProbe"]["httpGet"]["path"], "/healthz");
    // Already injected natively: not injected again as a plain container.
    assert_eq!(inject_yaml(&out, &opts(false)).unwrap().1, 0);
}

#[test]
fn every_workload_kind_finds_its_pod_template() {
    let yaml = r#"
kind: CronJob
metadata: { name: c }
spec: { jobTemplate: { spec: { template: { spec: { restartPolicy: OnFailure, containers: [{ name: a }] } } } } }
---
kind: Pod
metadata: { name: p }
spec: { containers: [{ name: a }, { name: b }] }
---
kind: List
items:
  - { kind: StatefulSet, metadata: { name: s }, spec: { template: { spec: { containers: [{ name: a }] } } } }
  - { kind: ConfigMap, metadata: { name: m }, data: { k: v } }
---
"#;
    let (out, changed) = inject_yaml(yaml, &opts(false)).unwrap();
    assert_eq!(changed, 3);
    let d = docs(&out);
    let cron = &d[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    // A Job's pods run to completion: the native form, whatever the flag.
    assert_eq!(cron["initContainers"][0]["name"], "gotel");
    assert_eq!(cron["initContainers"][0]["restartPolicy"], "Always");
    // Each app container names itself; the sidecar does not guess.
    let b = &d[1]["spec"]["containers"][1];
    assert_eq!(
        b["env"],
        json!([{"name": "K8S_CONTAINER_NAME", "value": "b"}])
    );
    let gotel_env = d[1]["spec"]["containers"][2]["env"].to_string();
    assert!(!gotel_env.contains("K8S_CONTAINER_NAME"), "{gotel_env}");
    assert_eq!(
        d[2]["items"][0]["spec"]["template"]["spec"]["containers"][1]["name"],
        "gotel"
    );
    assert_eq!(
        d[2]["items"][1],
        json!({"kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"k": "v"}})
    );
}

#[test]
fn input_it_cannot_handle_is_refused_by_document() {
    let err = |y: &str| inject_yaml(y, &opts(false)).unwrap_err().to_string();
    assert!(err("kind: Pod\nspec: [1").starts_with("document 1: not valid YAML"));
    assert_eq!(
        err("kind: Service\n---\napiVersion: v1\n"),
        "document 2: not a Kubernetes object (no `kind`)"
    );
    assert_eq!(
        err("kind: Deployment\nmetadata: { name: d }\nspec: { replicas: 1 }\n"),
        "document 1: Deployment d has no pod spec at spec.template.spec"
    );
    assert_eq!(
        err("kind: Pod\nspec: { containers: [] }\n"),
        "the pod spec has no containers"
    );
}

fn admission(
    annotations: Value,
) -> kube_core::admission::AdmissionReview<kube_core::DynamicObject> {
    serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "admin"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"generateName": "demo-", "namespace": "shop", "annotations": annotations},
                "spec": {"containers": [{"name": "demo", "image": "demo:1"}]}
            },
            "dryRun": false
        }
    }))
    .unwrap()
}

#[test]
fn the_webhook_patches_annotated_pods_exactly_as_inject_does() {
    let pod = |r: &kube_core::admission::AdmissionReview<kube_core::DynamicObject>| {
        serde_json::to_value(r.request.as_ref().unwrap().object.as_ref().unwrap()).unwrap()
    };
    let req = admission(json!({"gotel.dev/inject": "true", "gotel.dev/probes": "shop-probes"}));
    let original = pod(&req);
    let out = serde_json::to_value(review(req, &opts(false))).unwrap();
    let response = &out["response"];
    assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    // []byte in Go's JSON: base64, or (as kube-core writes it) an array of bytes.
    let bytes: Vec<u8> = serde_json::from_value(response["patch"].clone()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut patched = original.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    let mut want = original.clone();
    let o = Options {
        probes_config_map: "shop-probes".into(),
        ..opts(false)
    };
    assert!(inject_pod(&mut want["spec"], &o).unwrap());
    assert_eq!(patched, want);

    // Not annotated (or not "true"): admitted unchanged.
    for a in [json!({}), json!({"gotel.dev/inject": "false"})] {
        let out = serde_json::to_value(review(admission(a), &opts(false))).unwrap();
        assert_eq!(out["response"]["allowed"], true);
        assert_eq!(out["response"].get("patch"), None, "{out}");
    }
}

#[test]
fn values_keep_their_type_on_the_way_back_to_kubectl() {
    let yaml = r#"
kind: Pod
metadata: { name: p, labels: { debug: "on" } }
spec:
  hostPID: true
  containers: [{ name: a, env: [{ name: ZIP, value: "0123" }] }]
  volumes: [{ name: s, secret: { secretName: x, defaultMode: 0644, items: [{ key: k, path: k, mode: 0400 }] } }]
---
kind: PodList
items: [{ metadata: { name: q }, spec: { containers: [{ name: a }] } }]
"#;
    let (out, changed) = inject_yaml(yaml, &opts(false)).unwrap();
    assert_eq!(changed, 2);
    // "on" and "0123" would turn into a boolean and a number for YAML 1.1
    // readers: that document is written as JSON (which is YAML).
    let first = out.split("---\n").next().unwrap();
    assert!(first.trim_start().starts_with('{'), "{first}");
    let d = docs(&out);
    assert_eq!(d[0]["metadata"]["labels"]["debug"], "on");
    assert_eq!(d[0]["spec"]["containers"][0]["env"][0]["value"], "0123");
    // 0644 as kubectl reads it: octal.
    assert_eq!(d[0]["spec"]["volumes"][0]["secret"]["defaultMode"], 420);
    assert_eq!(
        d[0]["spec"]["volumes"][0]["secret"]["items"][0]["mode"],
        256
    );
    // hostPID already shares the processes; the API server refuses both.
    assert_eq!(d[0]["spec"].get("shareProcessNamespace"), None);
    // A typed list's items get their kind from the list.
    assert_eq!(d[1]["items"][0]["spec"]["containers"][1]["name"], "gotel");
    // Plain documents stay YAML.
    assert!(!out.split("---\n").nth(1).unwrap().starts_with('{'));
}

#[test]
fn the_admin_port_moves_past_ports_the_pod_declares() {
    let mut spec = json!({"containers": [
        {"name": "app", "image": "app", "ports": [{"containerPort": 9464}, {"containerPort": 9465}]},
    ]});
    assert!(inject_pod(&mut spec, &opts(false)).unwrap());
    let gotel = &spec["containers"][1];
    assert_eq!(gotel["name"], "gotel");
    assert_eq!(gotel["ports"][0]["containerPort"], 9466);
    assert!(gotel["args"]
        .as_array()
        .unwrap()
        .contains(&json!("--admin=0.0.0.0:9466")));
    // The probes name the port, so they follow it.
    assert_eq!(gotel["livenessProbe"]["httpGet"]["port"], "gotel-admin");
}
