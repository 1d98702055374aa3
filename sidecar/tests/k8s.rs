//! The manifests under k8s/ against Kubernetes itself: a real etcd and
//! kube-apiserver (built from Go modules by scripts/k8s-tools.sh) admit
//! every object of every kustomization with a server-side dry run, and
//! refuse broken ones; the objects they would store are then checked for
//! what gotel needs in the pod.

mod common;
mod kube;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

/// Every kustomization under k8s/, each applied on its own.
const KUSTOMIZATIONS: &[&str] = &[
    "base",
    "observability",
    "overlays/sidecar",
    "overlays/native-sidecar",
];

const NAMESPACE: &str = "gotel-demo";

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s")
}

/// The documents of a multi-document YAML stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// An object as `kubectl -o name` spells it: `deployment.apps/demo`.
fn object_name(o: &Value) -> String {
    let kind = o["kind"].as_str().unwrap().to_lowercase();
    let name = o["metadata"]["name"].as_str().unwrap();
    match o["apiVersion"].as_str().unwrap().split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// Server-side apply with a server dry run: the objects the API server
/// would store (defaulted, validated, admitted), or its refusal.
fn dry_run(cluster: &kube::Cluster, yaml: &str) -> Result<Vec<Value>, String> {
    cluster.apply(yaml, true)
}

fn find<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| object_name(o) == name)
        .unwrap_or_else(|| panic!("no {name} among the stored objects"))
}

fn container<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {list}"))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|l| l.iter().map(|c| c["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// What every gotel container must have, as the API server stored it.
fn check_gotel_container(g: &Value) {
    let sc = &g["securityContext"];
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        sc["capabilities"]["add"],
        json!(gotel::inject::CAPABILITIES)
    );
    assert_eq!(sc["privileged"], json!(false));
    // Root despite the pod's runAsNonRoot: added capabilities reach uid 0 only.
    assert_eq!(sc["runAsUser"], json!(0));
    assert_eq!(sc["runAsNonRoot"], json!(false));
    assert_eq!(sc["allowPrivilegeEscalation"], json!(false));
    assert_eq!(sc["readOnlyRootFilesystem"], json!(true));
    assert_eq!(
        g["args"],
        json!([
            "run",
            "--config=/etc/gotel/gotel.yaml",
            "--admin=0.0.0.0:9464"
        ])
    );
    assert_eq!(
        g["volumeMounts"],
        json!([{"name": "gotel-probes", "mountPath": "/etc/gotel", "readOnly": true}])
    );
    assert_eq!(
        g["ports"],
        json!([{"name": "gotel-admin", "containerPort": 9464, "protocol": "TCP"}])
    );
    assert_eq!(g["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(g["livenessProbe"]["httpGet"]["port"], "gotel-admin");
    assert_eq!(
        g["resources"]["limits"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(
        g["resources"]["requests"],
        json!({"cpu": "50m", "memory": "64Mi"})
    );
    let env: Vec<&str> = names(&g["env"]);
    assert_eq!(
        env,
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "K8S_POD_NAME",
            "K8S_NAMESPACE_NAME",
            "K8S_POD_UID",
            "K8S_NODE_NAME"
        ]
    );
    // The downward-API variables are ones gotel reads.
    for v in &env[2..] {
        assert!(
            gotel::otlp::resource::DOWNWARD_API_ENV.contains(v),
            "{v} is not read by gotel"
        );
    }
    assert_eq!(
        g["env"][0]["value"], "http://otel-collector:4317",
        "the collector Service of k8s/observability"
    );
}

/// `gotel inject ARGS` on `yaml`: the YAML it writes.
fn injected(yaml: &str, args: &[&str]) -> String {
    let out = common::gotel_inject(yaml, args);
    assert!(
        out.status.success(),
        "gotel inject failed: {}",
        common::text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The pod spec of the stored `deployment.apps/demo`.
fn demo_pod(objects: &[Value]) -> &Value {
    &find(objects, "deployment.apps/demo")["spec"]["template"]["spec"]
}

fn check_sidecar(objects: &[Value]) {
    let pod = demo_pod(objects);
    assert_eq!(pod["shareProcessNamespace"], json!(true));
    assert_eq!(names(&pod["containers"]), ["demo", "gotel"]);
    assert!(pod["initContainers"].is_null());
    check_gotel_container(container(&pod["containers"], "gotel"));
    assert_eq!(
        pod["volumes"],
        json!([{"name": "gotel-probes", "configMap": {"name": "gotel-probes", "defaultMode": 420}}])
    );
    let app_env = &container(&pod["containers"], "demo")["env"];
    assert_eq!(
        app_env,
        &json!([{"name": "K8S_CONTAINER_NAME", "value": "demo"}])
    );
    // The probes ConfigMap keeps its name (no hash suffix, so edits reload in
    // place) and holds a config gotel accepts.
    let cm = find(objects, "configmap/gotel-probes");
    let text = cm["data"]["gotel.yaml"].as_str().unwrap();
    let cfg = gotel::config::from_yaml(text).unwrap();
    assert_eq!(cfg.probes.len(), 1);
}

fn check_native_sidecar(objects: &[Value], sidecar: &[Value]) {
    let pod = demo_pod(objects);
    assert_eq!(pod["shareProcessNamespace"], json!(true));
    assert_eq!(names(&pod["containers"]), ["demo"]);
    assert_eq!(names(&pod["initContainers"]), ["gotel"]);
    let g = &pod["initContainers"][0];
    assert_eq!(g["restartPolicy"], "Always");
    assert_eq!(g["startupProbe"]["httpGet"]["path"], "/healthz");
    check_gotel_container(g);
    // Otherwise the very container of the plain sidecar overlay.
    let mut same = g.clone();
    same.as_object_mut().unwrap().remove("restartPolicy");
    same.as_object_mut().unwrap().remove("startupProbe");
    assert_eq!(same, *container(&demo_pod(sidecar)["containers"], "gotel"));
}

fn check_observability(objects: &[Value]) {
    // The collector runs the repository's own config, unchanged.
    let cm = objects
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("otel-collector-")
                && !o["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("otel-collector-k8s")
        })
        .expect("the otel-collector ConfigMap");
    let repo_config =
        std::fs::read_to_string(k8s_dir().join("../otel-collector/config.yaml")).unwrap();
    assert_eq!(cm["data"]["config.yaml"].as_str().unwrap(), repo_config);
    let pod = &find(objects, "deployment.apps/otel-collector")["spec"]["template"]["spec"];
    let volumes: BTreeSet<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["configMap"]["name"].as_str().unwrap())
        .collect();
    let maps: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        volumes, maps,
        "each collector ConfigMap mounted, by its hashed name"
    );
    // otel-collector/config.yaml sends traces to jaeger:4317.
    let jaeger = find(objects, "service/jaeger");
    assert!(jaeger["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["port"] == 4317));
    find(objects, "service/otel-collector");
}

/// Objects the API server must refuse: a field of the wrong type, a field
/// that does not exist and a value outside its enum, in the gotel
/// container's own fields.
const BROKEN: &[(&str, &str, &str)] = &[
    (
        "capabilities.add given a string, not a list",
        "securityContext: {capabilities: {add: BPF}}",
        "capabilities.add",
    ),
    (
        "a misspelt field (strict field validation)",
        "securityContext: {capabilties: {add: [BPF]}}",
        "capabilties",
    ),
    (
        "an unknown restartPolicy",
        "restartPolicy: Sometimes",
        "restartPolicy",
    ),
];

fn broken_deployment(field: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: {NAMESPACE}
spec:
  selector:
    matchLabels: {{app: broken}}
  template:
    metadata:
      labels: {{app: broken}}
    spec:
      containers:
        - name: app
          image: app
      initContainers:
        - name: gotel
          image: gotel:dev
          {field}
"#
    )
}

#[test]
fn every_manifest_is_admitted_by_a_real_api_server() {
    let Some(cluster) = kube::Cluster::start() else {
        return;
    };
    let started = Instant::now();
    // Dry-run objects in a namespace need the namespace to exist.
    cluster.namespace(NAMESPACE);

    // A valid object is admitted, so that a refusal below means the field.
    let valid = broken_deployment("restartPolicy: Always");
    dry_run(&cluster, &valid).expect("the valid variant of the broken objects");
    for (what, field, message) in BROKEN {
        let err = dry_run(&cluster, &broken_deployment(field))
            .err()
            .unwrap_or_else(|| panic!("{what}: admitted"));
        assert!(
            err.contains(message),
            "{what}: refused for another reason: {err}"
        );
        eprintln!("refused, {what}: {}", err.trim());
    }

    let mut stored = std::collections::BTreeMap::new();
    for k in KUSTOMIZATIONS {
        let yaml = cluster.kustomize(&k8s_dir().join(k));
        let docs = documents(&yaml);
        let objects = dry_run(&cluster, &yaml).unwrap_or_else(|e| panic!("k8s/{k}: {e}"));
        let want: Vec<String> = docs.iter().map(object_name).collect();
        let got: Vec<String> = objects.iter().map(object_name).collect();
        assert_eq!(got, want, "k8s/{k}: every object admitted, in order");
        for o in &objects {
            let ns = o["metadata"]["namespace"].as_str();
            assert!(
                o["kind"] == "Namespace" || ns == Some(NAMESPACE),
                "k8s/{k}: {} in namespace {ns:?}",
                object_name(o)
            );
        }
        eprintln!("k8s/{k}: {} objects admitted: {}", got.len(), got.join(" "));
        stored.insert(*k, objects);
    }
    check_observability(&stored["observability"]);
    check_sidecar(&stored["overlays/sidecar"]);
    check_native_sidecar(
        &stored["overlays/native-sidecar"],
        &stored["overlays/sidecar"],
    );
    let base = &stored["base"];
    assert_eq!(names(&demo_pod(base)["containers"]), ["demo"]);

    // `gotel inject` on the base gives the overlays' pods exactly, as the
    // API server stores them (defaults filled in the same way).
    let base_yaml = cluster.kustomize(&k8s_dir().join("base"));
    for (native, overlay) in [
        (false, "overlays/sidecar"),
        (true, "overlays/native-sidecar"),
    ] {
        let mut args = vec![
            "--image",
            "gotel:dev",
            "--otlp-endpoint",
            "http://otel-collector:4317",
        ];
        if native {
            args.push("--native");
        }
        let yaml = injected(&base_yaml, &args);
        let objects = dry_run(&cluster, &yaml).unwrap_or_else(|e| panic!("injected: {e}"));
        assert_eq!(
            demo_pod(&objects),
            demo_pod(&stored[overlay]),
            "gotel inject{} differs from k8s/{overlay}",
            if native { " --native" } else { "" }
        );
    }
    eprintln!(
        "k8s: manifests checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The Dockerfile cannot be built here (no Docker): check offline that its
/// runtime stage holds the binary alone, started the way the manifests
/// expect, and that its build stage installs what the bootstrap installs.
#[test]
fn dockerfile_agrees_with_the_manifests_and_the_bootstrap() {
    let root = k8s_dir().join("..");
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // Instructions, continuation lines joined, comments dropped.
    let joined = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let stages: Vec<&str> = joined.split("\nFROM ").skip(1).collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let runtime = stages[1];
    assert!(runtime.starts_with("gcr.io/distroless/cc-debian12"));
    let copies: Vec<&str> = runtime
        .lines()
        .filter(|l| l.starts_with("COPY") || l.starts_with("ADD"))
        .collect();
    assert_eq!(
        copies,
        ["COPY --from=build /out/usr/local/bin/gotel /usr/local/bin/gotel"]
    );
    assert!(runtime.contains("\nENTRYPOINT [\"/usr/local/bin/gotel\"]\n"));
    assert!(runtime.contains("\nEXPOSE 9464\n"));
    assert!(runtime.contains(
        "\nCMD [\"run\", \"--config\", \"/etc/gotel/gotel.yaml\", \"--admin\", \"0.0.0.0:9464\"]"
    ));
    // The manifests pass the same config path and admin address.
    let patch =
        std::fs::read_to_string(k8s_dir().join("overlays/sidecar/gotel-sidecar.yaml")).unwrap();
    assert!(patch.contains("- --config=/etc/gotel/gotel.yaml\n"));
    assert!(patch.contains("- --admin=0.0.0.0:9464\n"));
    assert!(patch.contains("mountPath: /etc/gotel\n"));
    // Every package the build stage installs is one the bootstrap installs.
    let bootstrap = std::fs::read_to_string(root.join("scripts/bootstrap.sh")).unwrap();
    let apt = bootstrap
        .split_once("_GOTEL_APT_PACKAGES=(")
        .unwrap()
        .1
        .split_once(')')
        .unwrap()
        .0;
    let known: BTreeSet<&str> = apt.split_whitespace().collect();
    let install = stages[0]
        .split_once("--no-install-recommends")
        .unwrap()
        .1
        .split("&&")
        .next()
        .unwrap();
    let wanted: Vec<&str> = install.split_whitespace().collect();
    assert_eq!(wanted, ["clang", "llvm", "libbpf-dev", "linux-libc-dev"]);
    for p in wanted {
        assert!(
            known.contains(p),
            "{p} is not installed by scripts/bootstrap.sh"
        );
    }
}

/// The API server calls `gotel webhook` when a Pod is created: an annotated
/// Pod is stored with exactly the sidecar `gotel inject` adds; another is
/// stored as it came.
#[test]
fn the_webhook_injects_through_a_real_api_server_as_inject_does() {
    let Some(cluster) = kube::Cluster::start() else {
        return;
    };
    let ns = "gotel-webhook-test";
    cluster.namespace(ns);
    let dir = tempfile::tempdir().unwrap();
    common::self_signed_certificate(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sidecar = [
        "--image",
        "gotel:dev",
        "--otlp-endpoint",
        "http://otel-collector:4317",
    ];
    let mut webhook = std::process::Command::new(env!("CARGO_BIN_EXE_gotel"))
        .args([
            "webhook",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--cert",
        ])
        .arg(dir.path().join("tls.crt"))
        .arg("--key")
        .arg(dir.path().join("tls.key"))
        .args(sidecar)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "gotel webhook never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ca = std::process::Command::new("base64")
        .arg("-w0")
        .arg(dir.path().join("tls.crt"))
        .output()
        .unwrap()
        .stdout;
    let ca = String::from_utf8(ca).unwrap();
    // Fail, not Ignore, here: a webhook that does not answer fails the test.
    let registration = format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{ name: gotel-test }}
webhooks:
  - name: inject.gotel.dev
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    timeoutSeconds: 10
    clientConfig: {{ url: \"https://127.0.0.1:{port}/mutate\", caBundle: {ca} }}
    namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: {ns} }} }}
    rules:
      - {{ operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [pods] }}
"
    );
    cluster
        .apply(&registration, false)
        .expect("register the webhook");
    let pod = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {annotations}\nspec:\n  containers: [{{ name: app, image: app:1 }}]\n"
        )
    };
    let annotated = pod("traced", "{ gotel.dev/inject: \"true\" }");
    // The registration takes a moment to reach the admission chain.
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    let stored = loop {
        let stored = cluster
            .apply(&annotated, true)
            .expect("create the annotated pod");
        if names(&stored[0]["spec"]["containers"]).contains(&"gotel") {
            break stored;
        }
        assert!(Instant::now() < deadline, "never injected: {}", stored[0]);
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let want = cluster
        .apply(&injected(&annotated, &sidecar), true)
        .expect("the injected pod");
    // The service-account token volume gets a random name per pod.
    // The service-account plugin runs before mutating webhooks, so lists
    // it appends to come in another order: compare them sorted.
    let same_token = |spec: &Value| {
        let mut spec = spec.clone();
        let by_name = |list: &mut Value| {
            if let Some(a) = list.as_array_mut() {
                a.sort_by_key(|v| v["name"].to_string());
            }
        };
        by_name(&mut spec["volumes"]);
        for c in spec["containers"].as_array_mut().into_iter().flatten() {
            by_name(&mut c["volumeMounts"]);
        }
        let text = spec.to_string();
        let at = text.find("kube-api-access-").expect("a token volume");
        let random = &text[at..at + "kube-api-access-".len() + 5];
        text.replace(random, "kube-api-access-?")
    };
    assert_eq!(same_token(&stored[0]["spec"]), same_token(&want[0]["spec"]));
    let plain = cluster
        .apply(&pod("plain", "{ team: shop }"), true)
        .expect("create the plain pod");
    assert_eq!(names(&plain[0]["spec"]["containers"]), ["app"]);
    let _ = webhook.kill();
    let _ = webhook.wait();
}
