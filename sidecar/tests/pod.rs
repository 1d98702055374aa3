//! A pod with `shareProcessNamespace: true`, reproduced without Docker, and
//! gotel in it as a sidecar under the documented capability set.
//!
//! `unshare --pid --fork --mount-proc` makes the pod: one PID namespace whose
//! pid 1 is a small launcher (the pause container's place). The app is the
//! demo, built static (`CGO_ENABLED=0`), in a mount namespace of its own whose
//! root is a tmpfs holding its binary, entered by `chroot` (the root is a
//! directory) or by `pivot_root` (the root is the namespace's, as a container
//! runtime does it): the path `/proc/PID/exe` names does not exist in gotel's
//! filesystem, so `/proc/PID/exe` is the only way in. gotel runs beside it in
//! the pod's PID namespace, as user 65534 with exactly CAP_SYS_ADMIN +
//! CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH, and finds the app by `exe` basename, by `exe` path as the
//! app names it, by `cmdline` and by the pod's `pid`.

mod common;
#[path = "common/otlp.rs"]
#[allow(dead_code)]
mod otlp;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use otlp::{listener, str_attr, Receiver};
use serde_json::{json, Value};

/// The capabilities gotel gets (setpriv's syntax): the README's set.
const CAPS: &str = "+sys_admin,+sys_ptrace,+dac_read_search";
/// Their bits in `CapEff`: CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19),
/// CAP_SYS_ADMIN (21).
const CAP_BITS: u64 = 1 << 2 | 1 << 19 | 1 << 21;
/// gotel's user in the pod: not root (nobody).
const USER: u32 = 65534;

/// pid 1 of the pod. Starts the app's container, waits for a line on stdin,
/// starts gotel with exactly `$POD_CAPS` as `$POD_USER`, waits for another
/// line, stops gotel with SIGINT and exits with its status. The app's
/// container mounts a tmpfs on `$POD_ROOT` in its own mount namespace
/// (private propagation: gotel's namespace keeps the empty directory),
/// copies the binary in and enters it by `$POD_ENTER`. After `pivot_root`
/// the old root stays mounted at `/.old` inside the app's namespace: only
/// a static `umount` could detach it from there, and gotel does not look.
const LAUNCHER: &str = r#"
unshare --mount --fork sh -c '
  mount -t tmpfs -o mode=0755 pod-app "$POD_ROOT" && cp "$POD_BIN" "$POD_ROOT/demo" || exit 1
  export K8S_CONTAINER_NAME=app
  [ "$POD_ENTER" = chroot ] && exec chroot "$POD_ROOT" /demo -addr 127.0.0.1:0
  mkdir "$POD_ROOT/.old" && cd "$POD_ROOT" && pivot_root . .old && exec /demo -addr 127.0.0.1:0
' >"$POD_APP_OUT" 2>&1 &
read _ || exit 90
setpriv --reuid="$POD_USER" --regid="$POD_USER" --clear-groups \
  --inh-caps="-all,$POD_CAPS" --ambient-caps="-all,$POD_CAPS" --bounding-set="-all,$POD_CAPS" \
  -- "$GOTEL" run --config "$POD_CONFIG" &
gotel=$!
read _
kill -INT "$gotel"
wait "$gotel"
"#;

/// The pod: its pid 1 (through `unshare`, which kills it when it dies),
/// gotel's output, and where the app writes.
struct Pod {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines,
    stderr: Lines,
    app_out: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pod {
    /// Starts the pod with the app `bin` (static) entering its root by
    /// `enter` (`chroot` or `pivot_root`) and waits until the app listens;
    /// gotel is not started yet.
    fn start(bin: &Path, enter: &str) -> (Pod, String) {
        let dir = tempfile::tempdir().unwrap();
        // gotel, as USER, reads its config from here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("app-root");
        std::fs::create_dir(&root).unwrap();
        let app_out = dir.path().join("app.out");
        let config = dir.path().join("gotel.yaml");
        let mut child = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(["sh", "-c", LAUNCHER])
            .env("POD_ROOT", &root)
            .env("POD_BIN", bin)
            .env("POD_ENTER", enter)
            .env("POD_APP_OUT", &app_out)
            .env("POD_CONFIG", &config)
            .env("POD_CAPS", CAPS)
            .env("POD_USER", USER.to_string())
            .env("GOTEL", gotel_bin())
            .env("GOTEL_SCAN_INTERVAL_MS", "100")
            .env("GOTEL_LOG_FORMAT", "json")
            .env("GOTEL_LOG", "gotel=debug")
            // The pod's downward-API variable, in every container.
            .env("K8S_NAMESPACE_NAME", "shop-ns")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let stdin = child.stdin.take().unwrap();
        let stdout = Lines::new(child.stdout.take().unwrap());
        let stderr = Lines::new(child.stderr.take().unwrap());
        let pod = Pod {
            child,
            stdin,
            stdout,
            stderr,
            app_out,
            config,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = std::fs::read_to_string(&pod.app_out).unwrap_or_default();
            if let Some(addr) = out.lines().find_map(|l| l.strip_prefix("listening on ")) {
                return (pod, addr.trim().to_string());
            }
            assert!(Instant::now() < deadline, "the app never listened: {out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first process under pid 1 (host pids) whose command line starts
    /// with `prefix`.
    fn find(&self, prefix: &str) -> u32 {
        let mut todo = vec![self.child.id()];
        while let Some(pid) = todo.pop() {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd.starts_with(prefix.as_bytes()) {
                return pid;
            }
            for task in std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
            {
                let children = std::fs::read_to_string(task.unwrap().path().join("children"))
                    .unwrap_or_default();
                todo.extend(
                    children
                        .split_whitespace()
                        .map(|c| c.parse::<u32>().unwrap()),
                );
            }
        }
        panic!("no process {prefix:?} in the pod");
    }

    /// Writes gotel's config and starts gotel.
    fn start_gotel(&mut self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.config, std::fs::Permissions::from_mode(0o644)).unwrap();
        self.stdin.write_all(b"start\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Stops gotel (SIGINT) and returns its calls and log lines once the
    /// pod is gone; panics unless gotel exited cleanly.
    fn stop(mut self) -> (Vec<Value>, Vec<String>) {
        self.stdin.write_all(b"stop\n").unwrap();
        self.stdin.flush().unwrap();
        exit_output(
            &mut self.child,
            &mut self.stdout,
            &mut self.stderr,
            "the pod did not stop",
        )
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        // --kill-child: pid 1, and with it the whole pod, dies with unshare.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `Status:` field of process `pid`.
fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

#[test]
fn sidecar_traces_the_app_by_exe_cmdline_and_pod_pid() {
    // The app's root holds nothing but its binary: it must not need libc.
    std::env::set_var("CGO_ENABLED", "0");
    let all = toolchains();
    let mut ends = vec![all.first().unwrap().clone(), all.last().unwrap().clone()];
    ends.dedup_by(|a, b| a.version == b.version);
    for (tc, enter) in ends
        .iter()
        .flat_map(|tc| [(tc, "chroot"), (tc, "pivot_root")])
    {
        let bin = build(tc, "demo", "pod", &[]);
        let v = format!("{} {enter}", tc.version);
        let (mut pod, addr) = Pod::start(&bin, enter);
        let app = pod.find("/demo");
        // The pod's numbering: pid 1 is the launcher, the app is a later one.
        let nspid: u32 = status_field(app, "NSpid:")
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap();
        assert!(nspid > 1 && nspid != app, "{v}: {nspid} (host {app})");
        // The app's executable is out of gotel's reach by path: the kernel
        // names it from the app's root ("/demo") or, chrooted, from its
        // namespace's (".../app-root/demo", an empty directory for gotel).
        let exe = std::fs::read_link(format!("/proc/{app}/exe")).unwrap();
        let named = if enter == "chroot" {
            "app-root/demo"
        } else {
            "/demo"
        };
        assert!(exe.ends_with(named), "{v}: {}", exe.display());
        assert!(
            !exe.exists(),
            "{v}: {} is visible outside the app",
            exe.display()
        );

        // Calls also go out as OTLP: their resource is read from the app's
        // /proc/PID/environ (0400, root's), and gotel, in the app's pod,
        // adds its own pod's attributes.
        let rx = Receiver::http(listener());
        pod.start_gotel(&format!(
            "probes:
  - name: by_exe
    function: main.computeE
    target: {{ exe: demo }}
  - name: by_cmdline
    function: main.handleE
    args: [r.URL.RawQuery]
    target: {{ cmdline: '^/demo -addr 127\\.0\\.0\\.1:0$' }}
  - name: by_pid
    function: main.computeE
    target: {{ pid: {nspid} }}
  - name: by_path
    function: main.computeE
    target: {{ exe: /demo }}
outputs: [jsonl, otlp]
otlp: {{ endpoint: 'http://{}', protocol: http/protobuf, batch_timeout_ms: 50 }}
",
            rx.addr
        ));
        for _ in 0..4 {
            pod.stderr
                .wait_for("attached", Duration::from_secs(30), |l| {
                    l.contains("\"message\":\"attached\"")
                });
        }
        // gotel holds exactly the set, as a user that is not root.
        let gotel = pod.find(gotel_bin());
        assert_eq!(
            u64::from_str_radix(&status_field(gotel, "CapEff:"), 16).unwrap(),
            CAP_BITS,
            "{v}"
        );
        assert_eq!(
            status_field(gotel, "Uid:"),
            format!("{USER}\t{USER}\t{USER}\t{USER}")
        );
        for q in ["/e?iters=7", "/e?iters=12"] {
            let body = http_get(&addr, q);
            assert!(body.contains("e = 2.7"), "{body}");
        }
        std::thread::sleep(Duration::from_millis(300));
        rx.wait("8 spans", Duration::from_secs(20), |g| g.spans().len() >= 8);
        let (calls, logs) = pod.stop();
        let got = rx.got.lock().unwrap();
        for (res, _) in got.spans() {
            let r = &res.attributes;
            assert_eq!(str_attr(r, "k8s.container.name"), "app", "{v}: {r:?}");
            assert_eq!(str_attr(r, "k8s.namespace.name"), "shop-ns", "{v}: {r:?}");
            assert_eq!(
                str_attr(r, "process.executable.path"),
                "/demo",
                "{v}: {r:?}"
            );
        }
        for probe in ["by_exe", "by_pid", "by_path"] {
            let got: Vec<_> = of(&calls, probe)
                .iter()
                .map(|c| (c["function"].clone(), c["pid"].clone(), c["args"].clone()))
                .collect();
            assert_eq!(
                got,
                [7, 12].map(|n| (
                    json!("main.computeE"),
                    json!(nspid),
                    json!({"iterations": n})
                )),
                "{v} {probe}: {calls:?}"
            );
        }
        let got: Vec<_> = of(&calls, "by_cmdline")
            .iter()
            .map(|c| (c["pid"].clone(), c["args"].clone()))
            .collect();
        assert_eq!(
            got,
            ["iters=7", "iters=12"].map(|q| (json!(nspid), json!({ "r.URL.RawQuery": q }))),
            "{v}: {calls:?}"
        );
        assert_eq!(calls.len(), 8, "{v}: {calls:?}");
        let complaints: Vec<_> = logs
            .iter()
            .filter(|l| l.contains("missing capabilit") || l.contains("cannot attach"))
            .collect();
        assert!(complaints.is_empty(), "{v}: {complaints:?}");
        assert_eq!(stopped(&logs, "read_faults"), 0, "{v}");
    }
}
