//! Shared harness: builds the Go targets in `integration/` with every
//! toolchain in `GOTEL_GO_TOOLCHAINS`, runs them, runs the real `gotel`
//! binary against them and collects its JSON lines.
#![allow(dead_code)]

pub mod fuzz;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A Go toolchain to build targets with.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub go: PathBuf,
    /// `go1.19.8`.
    pub version: String,
}

/// The toolchains under test: `GOTEL_GO_TOOLCHAINS` (colon-separated go
/// binaries, set by scripts/test.sh) or the `go` on PATH.
pub fn toolchains() -> Vec<Toolchain> {
    let list = std::env::var("GOTEL_GO_TOOLCHAINS").unwrap_or_else(|_| "go".into());
    let out: Vec<Toolchain> = list
        .split(':')
        .filter(|s| !s.is_empty())
        .map(|go| {
            let out = Command::new(go)
                .arg("env")
                .arg("GOVERSION")
                .env("GOTOOLCHAIN", "local")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {go}: {e}; run scripts/bootstrap.sh"));
            assert!(out.status.success(), "{go} env GOVERSION failed");
            Toolchain {
                go: go.into(),
                version: String::from_utf8(out.stdout).unwrap().trim().to_string(),
            }
        })
        .collect();
    assert!(!out.is_empty(), "no Go toolchain configured");
    out
}

/// The newest toolchain under test, for tests whose subject does not depend
/// on the Go version.
pub fn newest_toolchain() -> Toolchain {
    toolchains().pop().unwrap()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `integration/<program>` with `tc`; `tag` keeps outputs of
/// different tests apart (tests run in parallel), `extra` are build flags.
pub fn build(tc: &Toolchain, program: &str, tag: &str, extra: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("go")
        .join(&tc.version);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{program}-{tag}"));
    let status = Command::new(&tc.go)
        .arg("build")
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(".")
        .current_dir(repo().join("integration").join(program))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .status()
        .expect("go build");
    assert!(status.success(), "{} build of {program} failed", tc.version);
    out
}

pub fn gotel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gotel")
}

/// Lines of a child's pipe, read on a thread.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn new(r: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits until a line satisfies `f`; panics with everything seen on timeout.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if f(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "timed out waiting for {what}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Everything until the pipe closes.
    pub fn rest(&mut self) -> Vec<String> {
        while let Ok(l) = self.rx.recv_timeout(Duration::from_secs(20)) {
            self.seen.push(l);
        }
        self.seen.clone()
    }
}

/// A running Go target with piped stdin/stdout.
pub struct Target {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Lines,
}

impl Target {
    /// Starts `bin` and waits until it prints a line containing `ready`.
    pub fn start(bin: &Path, args: &[&str], ready: &str) -> Target {
        Target::start_env(bin, args, &[], ready)
    }

    /// [`Target::start`] with extra environment variables.
    pub fn start_env(bin: &Path, args: &[&str], env: &[(&str, &str)], ready: &str) -> Target {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdin = child.stdin.take();
        let mut stdout = Lines::new(child.stdout.take().unwrap());
        stdout.wait_for(ready, Duration::from_secs(20), |l| l.contains(ready));
        Target {
            child,
            stdin,
            stdout,
        }
    }

    /// `integration/demo` built by `tc` (`tag` as in [`build`]), serving
    /// HTTP on a free local port; `env` is its extra environment (e.g.
    /// downward-API variables).
    pub fn demo(tc: &Toolchain, tag: &str, env: &[(&str, &str)]) -> Target {
        let bin = build(tc, "demo", tag, &[]);
        Target::start_env(&bin, &["-addr", "127.0.0.1:0"], env, "listening on")
    }

    /// The `host:port` the demo printed it is listening on.
    pub fn addr(&self) -> String {
        let line = &self.stdout.seen[0];
        line.trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("demo printed {line:?}"))
            .to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the bench program's loop (it waits for a line on stdin) and
    /// waits for its `calls=…` summary line.
    pub fn bench(&mut self, timeout: Duration) -> String {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
        self.stdout
            .wait_for("calls=", timeout, |l| l.starts_with("calls="))
    }

    /// Runs one round of calls (sigs) and waits for its "done N".
    pub fn round(&mut self, n: usize) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(b"go\n").unwrap();
        w.flush().unwrap();
        let want = format!("done {n}");
        self.stdout
            .wait_for(&want, Duration::from_secs(20), |l| l == want);
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `gotel run`.
pub struct Gotel {
    pub child: Child,
    /// The config file gotel was started with (tests may rewrite it).
    pub config_path: PathBuf,
    pub stdout: Lines,
    pub stderr: Lines,
    _dir: tempfile::TempDir,
}

impl Gotel {
    /// Starts `gotel run` with `config` (YAML) and waits for `attached`
    /// attachments (0: do not wait).
    pub fn run(config: &str, attached: usize) -> Gotel {
        Gotel::run_env(config, attached, &[])
    }

    /// [`Gotel::run`] with extra environment variables.
    pub fn run_env(config: &str, attached: usize, env: &[(&str, &str)]) -> Gotel {
        Gotel::run_in(&[], config, attached, env)
    }

    /// [`Gotel::run_env`] under `wrapper` (a command and its arguments,
    /// e.g. `unshare --pid --fork`), which runs gotel as its child; stop it
    /// with [`Gotel::stop_wrapped`].
    pub fn run_in(wrapper: &[&str], config: &str, attached: usize, env: &[(&str, &str)]) -> Gotel {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gotel.yaml");
        std::fs::write(&path, config).unwrap();
        let mut command = match wrapper {
            [] => Command::new(gotel_bin()),
            [first, rest @ ..] => {
                let mut c = Command::new(first);
                c.args(rest).arg(gotel_bin());
                c
            }
        };
        let mut child = command
            .args(["run", "--config"])
            .arg(&path)
            .env("GOTEL_SCAN_INTERVAL_MS", "100")
            .env("GOTEL_LOG_FORMAT", "json")
            .env("GOTEL_LOG", "gotel=debug")
            // The breaker off: tests trace loops far hotter than production
            // would; tests/breaker.rs turns it back on.
            .env("GOTEL_DEFAULTS__MAX_HITS_PER_SECOND", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gotel");
        let stdout = Lines::new(child.stdout.take().unwrap());
        let stderr = Lines::new(child.stderr.take().unwrap());
        let mut g = Gotel {
            child,
            config_path: path,
            stdout,
            stderr,
            _dir: dir,
        };
        for _ in 0..attached {
            g.wait_log("attached", Duration::from_secs(30));
        }
        g
    }

    /// Waits for a log record whose message starts with `message`.
    pub fn wait_log(&mut self, message: &str, timeout: Duration) -> Value {
        let needle = format!("\"message\":\"{message}");
        let line = self
            .stderr
            .wait_for(message, timeout, |l| l.contains(&needle));
        serde_json::from_str(&line).unwrap()
    }

    /// SIGINT, wait for a clean exit, return the calls printed.
    pub fn stop(self) -> (Vec<Value>, Vec<String>) {
        self.stop_with(libc::SIGINT)
    }

    /// Sends `signal` (SIGINT or SIGTERM), waits for a clean exit after the
    /// final flush, returns the calls printed and the log lines.
    pub fn stop_with(mut self, signal: i32) -> (Vec<Value>, Vec<String>) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let what = format!("gotel did not exit on signal {signal}");
        exit_output(&mut self.child, &mut self.stdout, &mut self.stderr, &what)
    }

    /// The admin endpoint's address, from its start-up log line.
    pub fn admin_address(&mut self) -> String {
        self.wait_log("admin endpoint", Duration::from_secs(10))["address"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// [`Gotel::stop`] for a gotel started by [`Gotel::run_in`]: SIGINT to
    /// the wrapper's child, which is gotel.
    pub fn stop_wrapped(mut self) -> (Vec<Value>, Vec<String>) {
        let me = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap();
        let pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
        // SAFETY: plain kill(2) on our child's child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let what = "gotel did not exit on SIGINT";
        exit_output(&mut self.child, &mut self.stdout, &mut self.stderr, what)
    }
}

/// Waits (20 s at most, else panics with `what`) for `child` to exit
/// successfully, then returns the JSON lines of its stdout and the lines of
/// its stderr; a failed exit panics with the logs.
pub fn exit_output(
    child: &mut Child,
    stdout: &mut Lines,
    stderr: &mut Lines,
    what: &str,
) -> (Vec<Value>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let logs = stderr.rest();
    assert!(
        status.success(),
        "gotel exited with {status}; logs:\n{}",
        logs.join("\n")
    );
    let calls = stdout
        .rest()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    (calls, logs)
}

/// `gotel inject ARGS` with `input` on its stdin.
pub fn gotel_inject(input: &str, args: &[&str]) -> Output {
    let mut child = Command::new(gotel_bin())
        .arg("inject")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

impl Gotel {
    /// Replaces the config file atomically (write + rename), as a
    /// Kubernetes ConfigMap update does.
    pub fn rewrite_config(&self, text: &str) {
        let tmp = self.config_path.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }
}

impl Drop for Gotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls of one probe.
pub fn of<'a>(calls: &'a [Value], probe: &str) -> Vec<&'a Value> {
    calls.iter().filter(|c| c["probe"] == probe).collect()
}

/// The demo's `computeE`: the same IEEE operations in the same order, so
/// the same float64, bit for bit.
pub fn compute_e(iterations: i64) -> f64 {
    let (mut res, mut fact) = (2.0f64, 1.0f64);
    for i in 2..iterations {
        fact *= i as f64;
        res += 1.0 / fact;
    }
    res
}

/// Wall clock now, in ns since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The body of `GET path` from an HTTP server at `addr` (HTTP/1.0, so the
/// server closes the connection after the response).
/// The JSON body of `GET path` on the admin endpoint at `addr`.
pub fn admin_json(addr: &str, path: &str) -> Value {
    let response = http_get(addr, path);
    let body = response.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

pub fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// Lower-case hex of `b`, as gotel prints trace and span ids.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `stopped` log record gotel writes on exit, with its counters.
pub fn stopped_record(logs: &[String]) -> Value {
    let line = logs
        .iter()
        .find(|l| l.contains("\"message\":\"stopped\""))
        .expect("a stopped record");
    serde_json::from_str(line).unwrap()
}

/// The stopped record's counter `name`.
pub fn stopped(logs: &[String], name: &str) -> u64 {
    let v = stopped_record(logs);
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// Runs the `gotel` binary with `args` and waits for it.
pub fn gotel(args: &[&str]) -> Output {
    Command::new(gotel_bin()).args(args).output().unwrap()
}

/// Everything a finished command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `gotel check` on a config made of `yaml` against `bin`.
pub fn check(bin: &Path, yaml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    gotel(&[
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
    ])
}

/// Resident memory of process `pid`, in KiB (`VmRSS`).
pub fn vm_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// CPU seconds (user + system) of each thread of `pid`, by thread name.
pub fn thread_cpu(pid: u32) -> Vec<(String, f64)> {
    let tick = 100.0; // USER_HZ
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        // Fields after the parenthesised name: utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split(' ').collect();
        let cpu = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        out.push((name.trim().to_string(), cpu / tick));
    }
    out
}

/// A self-signed EC certificate for 127.0.0.1 in `dir` (`tls.crt`,
/// `tls.key`), renamed into place as a Secret volume update swaps files.
pub fn self_signed_certificate(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=gotel-webhook"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("new.key"))
        .arg("-out")
        .arg(dir.join("new.crt"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req");
    std::fs::rename(dir.join("new.key"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("new.crt"), dir.join("tls.crt")).unwrap();
}
