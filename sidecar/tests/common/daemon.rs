//! The real OpenTelemetry Collector and Jaeger as the tests run them
//! (scripts/otel-tools.sh builds both): a child process started with a
//! config of `otel-collector/test/` and its ports from the environment,
//! waited for until it listens, killed on drop.
//!
//! Not part of `common/mod.rs`: only the tests that export into a real
//! pipeline (tests/jaeger.rs, tests/delivery.rs) include it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where scripts/otel-tools.sh put `otelcol-gotel` and `jaeger`.
pub fn tools() -> PathBuf {
    let dir = std::env::var("OTEL_TOOLS_BIN").expect(
        "OTEL_TOOLS_BIN is not set: run `source scripts/otel-tools.sh` (scripts/test.sh does)",
    );
    PathBuf::from(dir)
}

/// A local port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Daemon {
    pub child: Child,
    what: &'static str,
}

impl Daemon {
    /// Starts `bin --config config` with `env`, then waits until each of
    /// `ports` accepts connections.
    pub fn start(
        what: &'static str,
        bin: &Path,
        config: &Path,
        env: &[(&str, String)],
        ports: &[u16],
    ) -> Daemon {
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what} ({}): {e}", bin.display()));
        let mut d = Daemon { child, what };
        let deadline = Instant::now() + Duration::from_secs(60);
        for &port in ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = d.child.try_wait() {
                    panic!("{} exited: {status}", d.what);
                }
                assert!(
                    Instant::now() < deadline,
                    "{} never listened on {port}",
                    d.what
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        d
    }

    /// Sends `signal` (SIGSTOP, SIGTERM…).
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A stopped child cannot die of SIGKILL until it runs again.
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The requests the collector's file exporter has written whole to `file`
/// so far, one JSON line each: the file is read while the collector runs,
/// and a line it is still writing is left for the next read.
pub fn written_requests(file: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let whole = text.rsplit_once('\n').map_or("", |(done, _)| done);
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", file.display())))
        .collect()
}
