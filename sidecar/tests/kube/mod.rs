//! A real Kubernetes control plane for tests: etcd and kube-apiserver built
//! from Go modules by scripts/k8s-tools.sh, on loopback ports, in a
//! temporary directory; kubectl to talk to it. No kubelet, scheduler or
//! controller-manager: objects are validated, admitted and stored, nothing
//! runs. Shared by the tests that need an API server (`mod kube;`).

#![allow(dead_code)] // each test binary uses its own part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The token kubectl sends; the API server maps it to a `system:masters`
/// user, and authorizes everything (`--authorization-mode=AlwaysAllow`).
pub const TOKEN: &str = "gotel-test-token";

/// Where scripts/k8s-tools.sh put kube-apiserver, kubectl and etcd:
/// `K8S_TOOLS_BIN` (set by scripts/test.sh), else the newest build in the
/// cache. None when neither has the three binaries.
pub fn bin_dir() -> Option<PathBuf> {
    let has_all = |d: &Path| {
        ["kube-apiserver", "kubectl", "etcd"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(d) = std::env::var_os("K8S_TOOLS_BIN") {
        let d = PathBuf::from(d);
        assert!(
            has_all(&d),
            "K8S_TOOLS_BIN={} lacks kube-apiserver, kubectl or etcd: run scripts/k8s-tools.sh",
            d.display()
        );
        return Some(d);
    }
    let cache = std::env::var_os("GOTEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gotel")))?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache.join("k8s"))
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| has_all(d))
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A running etcd + kube-apiserver; both are killed when it is dropped.
pub struct Cluster {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// A kubeconfig for [`TOKEN`] against `url`, trusting the server's CA.
    pub kubeconfig: PathBuf,
    /// The server's self-signed serving certificate (and its CA).
    pub ca: PathBuf,
    bin: PathBuf,
    dir: tempfile::TempDir,
    etcd: Child,
    apiserver: Child,
}

impl Cluster {
    /// Starts etcd and kube-apiserver and waits for `/readyz`; None (after a
    /// loud message) when the binaries were never built.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            eprintln!(
                "\n\n*** SKIPPED: no kube-apiserver/kubectl/etcd in ~/.cache/gotel/k8s: \
                 run scripts/k8s-tools.sh (scripts/test.sh does) ***\n"
            );
            return None;
        };
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("gotel-kube")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let (client, peer, secure) = (free_port(), free_port(), free_port());
        let etcd = Command::new(bin.join("etcd"))
            .args([
                "--name=test",
                &format!("--data-dir={}", d.join("etcd").display()),
                &format!("--listen-client-urls=http://127.0.0.1:{client}"),
                &format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                &format!("--initial-cluster=test=http://127.0.0.1:{peer}"),
                "--log-level=error",
                // A throwaway store: durability buys nothing and costs fsyncs.
                "--unsafe-no-fsync",
            ])
            .stdout(Stdio::null())
            .stderr(log_file(d, "etcd.log"))
            .spawn()
            .expect("start etcd");
        let mut cluster = Cluster {
            url: format!("https://127.0.0.1:{secure}"),
            kubeconfig: d.join("kubeconfig"),
            ca: d.join("certs/apiserver.crt"),
            bin,
            etcd,
            // Replaced below once etcd answers; a placeholder that exits at once.
            apiserver: Command::new("true").spawn().unwrap(),
            dir,
        };
        cluster.wait("etcd", Duration::from_secs(60), |c| {
            http_get_plain(client, "/health").is_some_and(|b| b.contains("\"health\":\"true\""))
                || c.exited("etcd")
        });
        cluster.apiserver = cluster.start_apiserver(client, secure);
        cluster.write_kubeconfig();
        cluster.wait("kube-apiserver /readyz", Duration::from_secs(180), |c| {
            let o = c.kubectl(&["get", "--raw", "/readyz"], None);
            o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok"
                || c.exited("kube-apiserver")
        });
        for name in ["etcd", "kube-apiserver"] {
            assert!(
                !cluster.exited(name),
                "{name} exited:\n{}",
                cluster.log(name)
            );
        }
        eprintln!(
            "kube: etcd + kube-apiserver ready at {} in {:.1} s",
            cluster.url,
            started.elapsed().as_secs_f64()
        );
        Some(cluster)
    }

    fn start_apiserver(&self, etcd: u16, secure: u16) -> Child {
        let d = self.dir.path();
        let sa_key = d.join("sa.key");
        let o = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&sa_key)
            .arg("2048")
            .output()
            .expect("run openssl (scripts/bootstrap.sh installs it)");
        assert!(o.status.success(), "openssl genrsa: {o:?}");
        std::fs::write(
            d.join("tokens.csv"),
            format!("{TOKEN},gotel-test,gotel-test-uid,\"system:masters\"\n"),
        )
        .unwrap();
        Command::new(self.bin.join("kube-apiserver"))
            .args([
                &format!("--etcd-servers=http://127.0.0.1:{etcd}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                // The `kubernetes` Service's endpoints may not be loopback
                // addresses, and nothing here needs them.
                "--endpoint-reconciler-type=none",
                &format!("--secure-port={secure}"),
                // The server makes its own self-signed serving certificate here.
                &format!("--cert-dir={}", d.join("certs").display()),
                &format!("--service-account-key-file={}", sa_key.display()),
                &format!("--service-account-signing-key-file={}", sa_key.display()),
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.96.0.0/24",
                &format!("--token-auth-file={}", d.join("tokens.csv").display()),
                "--anonymous-auth=false",
                "--authorization-mode=AlwaysAllow",
                "--profiling=false",
                "--enable-priority-and-fairness=false",
            ])
            .stdout(Stdio::null())
            .stderr(log_file(d, "kube-apiserver.log"))
            .spawn()
            .expect("start kube-apiserver")
    }

    fn write_kubeconfig(&self) {
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: test\n  user:\n    token: {TOKEN}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n\
             current-context: test\n",
            self.url,
            self.ca.display()
        );
        std::fs::write(&self.kubeconfig, text).unwrap();
    }

    /// Runs kubectl against this cluster, `stdin` piped in when given.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(self.bin.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("kube-cache").display()
            ))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Server-side apply of every object in `yaml` (`--validate=strict`),
    /// with a server dry run when `dry_run`: the objects as the API server
    /// stored them or would store them (defaulted, validated, admitted by
    /// every admission plugin and webhook), or kubectl's error output.
    pub fn apply(&self, yaml: &str, dry_run: bool) -> Result<Vec<serde_json::Value>, String> {
        let mut args = vec![
            "apply",
            "--server-side",
            "--field-manager=gotel-test",
            "--validate=strict",
            "-o",
            "json",
            "-f",
            "-",
        ];
        if dry_run {
            args.push("--dry-run=server");
        }
        let o = self.kubectl(&args, Some(yaml));
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        Ok(match out["kind"].as_str() {
            Some("List") => out["items"].as_array().unwrap().clone(),
            _ => vec![out],
        })
    }

    /// `kubectl kustomize DIR`, which needs no server: the rendered YAML.
    pub fn kustomize(&self, dir: &Path) -> String {
        let o = Command::new(self.bin.join("kubectl"))
            .arg("kustomize")
            .arg(dir)
            .output()
            .expect("run kubectl kustomize");
        assert!(
            o.status.success(),
            "kubectl kustomize {}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Creates (for real) a namespace and its `default` ServiceAccount,
    /// which Pods need and no controller-manager makes here.
    pub fn namespace(&self, name: &str) {
        let yaml = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: {name}\n"
        );
        let o = self.kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=gotel-test",
                "-f",
                "-",
            ],
            Some(&yaml),
        );
        assert!(o.status.success(), "create namespace {name}: {o:?}");
    }

    /// The log of `etcd` or `kube-apiserver` so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn exited(&mut self, name: &str) -> bool {
        let child = if name == "etcd" {
            &mut self.etcd
        } else {
            &mut self.apiserver
        };
        child.try_wait().unwrap().is_some()
    }

    fn wait(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut(&mut Self) -> bool) {
        let end = Instant::now() + timeout;
        while !ready(self) {
            let name = if what.starts_with("etcd") {
                "etcd"
            } else {
                "kube-apiserver"
            };
            assert!(
                Instant::now() < end,
                "{what} not ready after {timeout:?}; {name} log:\n{}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in [&mut self.apiserver, &mut self.etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).unwrap()
}

/// A loopback port free now (the kernel's choice; released for the caller).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over plain HTTP on loopback: the body, or None when not answered.
fn http_get_plain(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}
