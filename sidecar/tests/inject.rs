//! `gotel inject` and `gotel webhook` as a user runs them: YAML through the
//! command line, AdmissionReviews over real TLS (curl), and a certificate
//! rotated in place while the webhook runs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: demo }\nspec:\n  selector: { matchLabels: { app: demo } }\n  template:\n    metadata: { labels: { app: demo } }\n    spec:\n      containers: [{ name: demo, image: demo:1 }]\n";

#[test]
fn inject_adds_the_sidecar_once_and_refuses_what_it_cannot_handle() {
    let out = gotel_inject(
        DEPLOYMENT,
        &[
            "--image",
            "gotel:dev",
            "--native",
            "--otlp-endpoint",
            "http://collector:4317",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_yaml::from_str(&yaml).unwrap();
    let spec = &doc["spec"]["template"]["spec"];
    assert_eq!(spec["shareProcessNamespace"], true);
    assert_eq!(spec["initContainers"][0]["name"], "gotel");
    assert_eq!(spec["initContainers"][0]["image"], "gotel:dev");
    assert_eq!(spec["initContainers"][0]["restartPolicy"], "Always");
    // Idempotent: the output goes through unchanged.
    let again = gotel_inject(&yaml, &["--native"]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8(again.stdout).unwrap(), yaml);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a `gotel` container"));

    let bad = gotel_inject("kind: Deployment\nmetadata: { name: d }\nspec: {}\n", &[]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("document 1: Deployment d has no pod spec at spec.template.spec"),
        "{}",
        text(&bad)
    );
}

/// POSTs `review` to the webhook trusting only `ca`; None when TLS fails.
fn post(addr: &str, ca: &Path, review: &Value) -> Option<Value> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "5", "--cacert"])
        .arg(ca)
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(review.to_string())
        .arg(format!("https://{addr}/mutate"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn webhook_mutates_annotated_pods_over_tls_and_follows_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    self_signed_certificate(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut webhook = Command::new(gotel_bin())
        .args([
            "webhook",
            "--listen",
            &addr,
            "--image",
            "gotel:dev",
            "--cert",
        ])
        .arg(dir.path().join("tls.crt"))
        .arg("--key")
        .arg(dir.path().join("tls.key"))
        .env("GOTEL_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = Lines::new(webhook.stderr.take().unwrap());
    log.wait_for("listening", Duration::from_secs(20), |l| {
        l.contains("admission webhook listening")
    });
    let review = |annotations: Value| {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE",
                "userInfo": {},
                "object": {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "annotations": annotations},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]}
                }
            }
        })
    };
    let ca = dir.path().join("ca-1.crt");
    std::fs::copy(dir.path().join("tls.crt"), &ca).unwrap();
    let answer = post(
        &addr,
        &ca,
        &review(json!({"gotel.dev/inject": "true", "gotel.dev/probes": "p1"})),
    )
    .unwrap();
    assert_eq!(answer["response"]["uid"], "u-1");
    assert_eq!(answer["response"]["allowed"], true);
    let patch: Vec<u8> = serde_json::from_value(answer["response"]["patch"].clone()).unwrap();
    let patch = String::from_utf8(patch).unwrap();
    assert!(patch.contains("\"configMap\":{\"name\":\"p1\"}"), "{patch}");
    assert!(patch.contains("\"image\":\"gotel:dev\""), "{patch}");
    let plain = post(&addr, &ca, &review(json!({}))).unwrap();
    assert_eq!(plain["response"].get("patch"), None, "{plain}");

    // Rotated in place: the next handshake serves the new certificate.
    std::thread::sleep(Duration::from_millis(1100));
    self_signed_certificate(dir.path());
    let ca2 = dir.path().join("ca-2.crt");
    std::fs::copy(dir.path().join("tls.crt"), &ca2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(&addr, &ca2, &review(json!({}))).is_none() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        post(&addr, &ca, &review(json!({}))).is_none(),
        "the old certificate is gone"
    );
    let _ = webhook.kill();
    let _ = webhook.wait();
}
