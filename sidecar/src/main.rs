//! The `gotel` command line.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use gotel::bpf::Bpf;
use gotel::config;
use gotel::config::Output;
use gotel::export::{Fanout, JsonLines, Sink};
use gotel::golang::{self, BinaryInfo};
use gotel::live::Supervisor;

#[derive(Parser)]
#[command(
    name = "gotel",
    version,
    about = "Trace any Go function's arguments, results and latency with eBPF"
)]
struct Cli {
    /// Log format for gotel's own logs (stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "GOTEL_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// JSON in Kubernetes or when stderr is not a terminal, pretty otherwise.
    Auto,
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Attach the configured probes and print one JSON line per call (or export OTLP) until SIGINT/SIGTERM.
    Run {
        /// Probe config (YAML or TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Serve /healthz, /readyz, /metrics and /probes on this address
        /// (e.g. 0.0.0.0:9464); overrides the config's `admin`.
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
    },
    /// List the traceable functions of a Go binary with their signatures.
    Functions {
        /// The Go executable.
        #[arg(required_unless_present = "pid")]
        binary: Option<PathBuf>,
        /// Read the executable of this running process instead.
        #[arg(long)]
        pid: Option<u32>,
        /// Only functions whose name contains this (case-insensitive).
        pattern: Option<String>,
    },
    /// Resolve every probe without attaching and print what would be captured.
    Check {
        /// Probe config (YAML or TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Check against this running process.
        #[arg(long, conflicts_with = "binary")]
        pid: Option<u32>,
        /// Check against this executable.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Add the gotel sidecar to Kubernetes YAML (Pod, Deployment, StatefulSet,
    /// DaemonSet, Job, CronJob, List; other kinds pass unchanged).
    Inject {
        /// The YAML file (multi-document); `-` or none: stdin.
        file: Option<PathBuf>,
        #[command(flatten)]
        sidecar: SidecarArgs,
    },
    /// Serve the mutating admission webhook (POST /mutate over TLS) that
    /// injects into pods annotated `gotel.dev/inject: "true"`.
    Webhook {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: std::net::SocketAddr,
        /// PEM certificate chain (re-read when it changes).
        #[arg(long)]
        cert: PathBuf,
        /// PEM private key (re-read when it changes).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        sidecar: SidecarArgs,
    },
}

/// What the injected sidecar looks like.
#[derive(clap::Args)]
struct SidecarArgs {
    /// The gotel image.
    #[arg(long, default_value = concat!("ghcr.io/gotel/gotel:", env!("CARGO_PKG_VERSION")))]
    image: String,
    /// The ConfigMap holding the probes (the webhook: unless the pod's
    /// `gotel.dev/probes` annotation names another).
    #[arg(long, default_value = "gotel-probes")]
    probes_config_map: String,
    /// The ConfigMap key of the config file.
    #[arg(long, default_value = "gotel.yaml")]
    config_key: String,
    /// Inject a native sidecar (init container, restartPolicy: Always; Kubernetes ≥ 1.29).
    #[arg(long)]
    native: bool,
    /// OTEL_EXPORTER_OTLP_ENDPOINT for the sidecar.
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// OTEL_EXPORTER_OTLP_PROTOCOL beside the endpoint.
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http/protobuf"])]
    otlp_protocol: String,
    /// The sidecar's admin port (/healthz for its probes, /metrics); the next free one if
    /// a container of the pod declares it.
    #[arg(long, default_value_t = gotel::inject::ADMIN_PORT, value_parser = clap::value_parser!(i32).range(1..=65535))]
    admin_port: i32,
}

impl SidecarArgs {
    fn options(self) -> gotel::inject::Options {
        gotel::inject::Options {
            image: self.image,
            probes_config_map: self.probes_config_map,
            config_key: self.config_key,
            native: self.native,
            otlp_endpoint: self.otlp_endpoint,
            otlp_protocol: self.otlp_protocol,
            admin_port: self.admin_port,
        }
    }
}

fn inject(file: Option<PathBuf>, opts: gotel::inject::Options) -> Result<()> {
    let text = match file.as_deref() {
        None => std::io::read_to_string(std::io::stdin())?,
        Some(p) if p == Path::new("-") => std::io::read_to_string(std::io::stdin())?,
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
    };
    let (yaml, changed) = gotel::inject::inject_yaml(&text, &opts)?;
    print!("{yaml}");
    if changed == 0 {
        eprintln!("gotel inject: no pod template to inject into (or every one already has a `gotel` container)");
    }
    Ok(())
}

fn webhook(
    listen: std::net::SocketAddr,
    cert: &Path,
    key: &Path,
    opts: gotel::inject::Options,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(gotel::inject::webhook::serve(listen, cert, key, opts))?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if !matches!(cli.command, Command::Run { .. } | Command::Webhook { .. }) {
        // Listing commands behave like any Unix filter: `| head` ends them
        // quietly. `run` keeps SIGPIPE ignored and counts sink errors.
        // SAFETY: setting a signal disposition before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let r = match cli.command {
        Command::Run { config, admin } => run(&config, admin),
        // With --pid, a lone positional is the pattern, not a binary.
        Command::Functions {
            binary: Some(b),
            pid: Some(pid),
            pattern: None,
        } => functions(None, Some(pid), b.to_str()),
        Command::Functions {
            binary,
            pid,
            pattern,
        } => functions(binary, pid, pattern.as_deref()),
        Command::Check {
            config,
            pid,
            binary,
        } => check(&config, pid, binary),
        Command::Inject { file, sidecar } => inject(file, sidecar.options()),
        Command::Webhook {
            listen,
            cert,
            key,
            sidecar,
        } => webhook(listen, &cert, &key, sidecar.options()),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gotel: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GOTEL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => {
            std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
                || !std::io::stderr().is_terminal()
        }
    };
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().flatten_event(true).init();
    } else {
        b.init();
    }
}

fn binary_for(binary: Option<PathBuf>, pid: Option<u32>) -> Result<PathBuf> {
    match (binary, pid) {
        (Some(b), _) => Ok(b),
        (None, Some(pid)) => {
            let p = gotel::proc::exe_path(pid);
            if !p.exists() {
                bail!("no process with pid {pid} (or no permission to read /proc/{pid}/exe)");
            }
            Ok(p)
        }
        (None, None) => bail!("give a binary path or --pid"),
    }
}

fn functions(binary: Option<PathBuf>, pid: Option<u32>, pattern: Option<&str>) -> Result<()> {
    let path = binary_for(binary, pid)?;
    let bin = BinaryInfo::open(&path)?;
    if bin.symbols_only {
        eprintln!(
            "gotel: {} has no DWARF debug info (built with -ldflags=-s -w or stripped): functions from Go's function table, without signatures; probes capture calls and latency only",
            path.display()
        );
    }
    let pat = pattern.map(str::to_lowercase);
    let matches = |name: &str| {
        pat.as_ref()
            .is_none_or(|p| name.to_lowercase().contains(p.as_str()))
    };
    let mut lines = Vec::new();
    for f in bin.dwarf.functions.iter().filter(|f| matches(&f.name)) {
        let mut line = golang::signature(&bin, f);
        if let Some(u) = &f.incomplete {
            let what = match u.arguments() {
                true => "arguments and results",
                false => "results",
            };
            line.push_str(&format!("  // {what} unknown: {}", u.reason()));
        }
        if f.inlined_sites > 0 {
            line.push_str(&format!("  // also inlined at {} site(s)", f.inlined_sites));
        }
        lines.push(line);
    }
    let mut inl: Vec<_> = bin
        .dwarf
        .inlined_only
        .iter()
        .filter(|(name, _)| matches(name))
        .collect();
    inl.sort();
    for (name, sites) in inl {
        lines.push(format!(
            "{name}  // inlined at {sites} site(s) only: probed at their start (entry only)"
        ));
    }
    if lines.is_empty() {
        bail!("no functions match {}", pattern.unwrap_or(""));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(())
}

fn check(config_path: &Path, pid: Option<u32>, binary: Option<PathBuf>) -> Result<()> {
    let cfg = config::load(config_path)?;
    let mut failures = 0;
    // Probes share the process list and each binary's analysis: a config
    // of many probes on one program is analysed once.
    let procs = match (&binary, pid) {
        (None, None) => gotel::proc::scan(),
        _ => Vec::new(),
    };
    let mut analyses: HashMap<(u64, u64), std::rc::Rc<Result<BinaryInfo, String>>> = HashMap::new();
    for (i, spec) in cfg.probes.iter().enumerate() {
        let path = match (&binary, pid) {
            (None, None) => match procs
                .iter()
                .find(|p| gotel::discover::matches(&spec.target, p))
            {
                Some(p) => p.exe_path(),
                None => {
                    println!("probes[{i}] {}: no running process matches {}; pass --binary to check a file", spec.function, spec.target);
                    failures += 1;
                    continue;
                }
            },
            _ => binary_for(binary.clone(), pid)?,
        };
        println!("probes[{i}] {} in {}", spec.display_name(), path.display());
        let analysis = match std::fs::metadata(&path) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                analyses
                    .entry((m.dev(), m.ino()))
                    .or_insert_with(|| {
                        std::rc::Rc::new(BinaryInfo::open(&path).map_err(|e| e.to_string()))
                    })
                    .clone()
            }
            Err(e) => std::rc::Rc::new(Err(format!("cannot read {}: {e}", path.display()))),
        };
        let bin = match analysis.as_ref() {
            Ok(b) => b,
            Err(e) => {
                println!("  error: {e}");
                failures += 1;
                continue;
            }
        };
        match gotel::plan::plan(bin, spec) {
            Ok(plans) => {
                let copies = plans.iter().filter(|p| p.inlined_at.is_none()).count();
                if copies > 1 {
                    println!("  generic: {copies} instantiations, each attached");
                }
                for plan in plans {
                    if let Some(at) = &plan.inlined_at {
                        let how = match (plan.ret_offsets.len(), &plan.untimed) {
                            (0, Some(why)) => format!("entry only, not timed: {why}"),
                            (0, None) => "entry only".to_string(),
                            (n, _) => format!("timed by {n} exit(s); no results"),
                        };
                        println!(
                            "  inlined site: {} inlined in {at}, probed at its start (file offset {:#x}): {how}",
                            plan.function, plan.entry_offset
                        );
                    } else {
                        println!("  function: {}", plan.signature);
                        println!(
                            "  go: {}   entry at file offset {:#x}, {} RET site(s)",
                            bin.go_version.as_deref().unwrap_or("?"),
                            plan.entry_offset,
                            plan.ret_offsets.len()
                        );
                    }
                    if !plan.restart_offsets.is_empty() {
                        println!(
                            "  entry only: {} restart site(s) after the prologue's call to runtime.morestack (a restarted prologue is not a second call)",
                            plan.restart_offsets.len()
                        );
                    }
                    let (args, rets) = if plan.instant {
                        println!("  its body is a lone RET: arguments and results are read at entry, duration 0");
                        plan.entry
                            .values
                            .split_at(plan.entry_args.min(plan.entry.values.len()))
                    } else {
                        (&plan.entry.values[..], &plan.ret.values[..])
                    };
                    for (label, values) in [("arg", args), ("ret", rets)] {
                        for v in values {
                            let status = match &v.shape {
                                gotel::plan::Shape::Unavailable(why) => {
                                    format!("unavailable: {why}")
                                }
                                gotel::plan::Shape::Redacted(_) => {
                                    "redacted: never copied (redact.names)".to_string()
                                }
                                _ => "captured".to_string(),
                            };
                            let name = match v.is_whole_list() {
                                true => "(all)",
                                false => &v.name,
                            };
                            println!(
                                "  {label} {name:<16} {:<20} {:<14} {status}",
                                v.ty, v.location
                            );
                        }
                    }
                    if let Some((_, reads)) = &plan.entry.span {
                        println!("  trace: joins the application's OpenTelemetry span that `{reads}` carries");
                    }
                    if let Some((_, reads)) = &plan.entry.traceparent {
                        println!("  trace: joins the W3C trace context in `{reads}` (a request with at most 8 headers)");
                    }
                    if let Some(op) = plan.entry.stack {
                        let depth = plan.entry.recipe.ops[op].size;
                        println!("  stack: the {depth} innermost callers, by frame pointers at the entry");
                    }
                    if let Some(l) = &plan.arg_landings {
                        // Those not read on every path are warnings too.
                        for line in l.report.iter().filter(|r| !plan.warnings.contains(r)) {
                            println!("  landing: {line}");
                        }
                    }
                    if let Some(l) = &plan.landings {
                        // Those some call site keeps in XMM are warnings too.
                        for line in l.report.iter().filter(|r| !plan.warnings.contains(r)) {
                            println!("  landing: {line}");
                        }
                    }
                    for w in &plan.warnings {
                        println!("  warning: {w}");
                    }
                }
            }
            Err(e) => {
                println!("  error: {e}");
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} probe(s) cannot be attached");
    }
    Ok(())
}

fn run(config_path: &Path, admin: Option<std::net::SocketAddr>) -> Result<()> {
    let mut cfg = config::load(config_path)?;
    cfg.admin = admin.or(cfg.admin);
    // The main loop runs on this thread (block_on); one worker runs the
    // OTLP export task, so encoding and sending never delay draining.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let r = rt.block_on(run_loop(config_path, cfg));
    // Dropping the runtime would wait for blocking tasks (a collector host
    // name still resolving): the export deadline already passed.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    r
}

/// What identifies one version of the config file. Follows symlinks, so a
/// Kubernetes ConfigMap update (an atomic `..data` symlink swap) shows.
type FileVersion = (std::time::SystemTime, u64, u64);

fn file_version(path: &Path) -> Option<FileVersion> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Reloads the config when the file changed; a bad edit keeps the old one.
fn reload(
    path: &Path,
    seen: &mut Option<FileVersion>,
    sup: &mut Supervisor,
    current: &mut config::Config,
    drain: impl FnOnce(&mut Supervisor),
) {
    let v = file_version(path);
    if v == *seen {
        return;
    }
    *seen = v;
    if v.is_none() {
        warn!(path = %path.display(), "config file deleted or unreadable; keeping the current probes until it is back");
        return;
    }
    match config::load(path) {
        Ok(new) if new == *current => {}
        Ok(new) => {
            if new.ring_buffer_kib != current.ring_buffer_kib
                || new.scan_interval_ms != current.scan_interval_ms
                || new.drain_interval_ms != current.drain_interval_ms
                || new.outputs != current.outputs
                || new.otlp != current.otlp
                || (new.admin.is_some() && new.admin != current.admin)
            {
                warn!("ring_buffer_kib, scan_interval_ms, drain_interval_ms, outputs, otlp and admin take effect on restart");
            }
            info!(probes = new.probes.len(), "config reloaded");
            *current = new.clone();
            // Probes removed or edited are detached now: their records first.
            drain(sup);
            sup.set_config(new);
        }
        Err(e) => warn!("config reload failed, keeping the previous config: {e}"),
    }
}

async fn run_loop(config_path: &Path, cfg: config::Config) -> Result<()> {
    let mut seen = file_version(config_path);
    let mut current = cfg.clone();
    let privileges = gotel::privilege::current();
    match privileges.message() {
        Some(line) if privileges.fatal() => tracing::error!("{line}"),
        Some(line) => warn!("{line}"),
        None => {}
    }
    let (mut bpf, ring) = Bpf::load(cfg.ring_buffer_kib * 1024)?;
    // SAFETY: the RingBuf owns its map fd, which stays open and unchanged
    // until the AsyncFd (and with it the RingBuf) is dropped.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .context("polling the ring buffer")?;
    // Exec and exit from the kernel; without them, /proc scans alone.
    let mut procs = match bpf.watch_processes() {
        // SAFETY: as for `ring`.
        Ok(r) => Some(
            unsafe { AsyncFd::register_with_interest(r, tokio::io::Interest::READABLE) }
                .context("polling the process ring buffer")?,
        ),
        Err(e) => {
            warn!(
                "{e}; new processes are found by /proc scans every {} ms",
                cfg.scan_interval_ms
            );
            None
        }
    };
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let mut otlp = None;
    for out in gotel::otlp::outputs(&cfg) {
        match out {
            Output::Jsonl => sinks.push(Box::new(JsonLines::new(std::io::stdout()))),
            Output::Otlp if otlp.is_none() => {
                let (sink, handle) = gotel::otlp::start(&cfg.otlp)?;
                info!(traces = %handle.traces_url, "exporting calls as OTLP logs and spans");
                sinks.push(Box::new(sink));
                otlp = Some(handle);
            }
            Output::Otlp => {}
        }
    }
    let sink: Box<dyn Sink> = match sinks.len() {
        1 => sinks.pop().expect("one"),
        _ => Box::new(Fanout(sinks)),
    };
    let mut sup = Supervisor::new(cfg.clone(), bpf, sink);
    let mut admin = match cfg.admin {
        Some(addr) => {
            let (bound, rx) = gotel::admin::start(addr).await?;
            info!(address = %bound, "admin endpoint: /healthz /readyz /metrics /probes");
            Some(rx)
        }
        None => None,
    };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut scan = tokio::time::interval(Duration::from_millis(cfg.scan_interval_ms));
    let mut drain = tokio::time::interval(Duration::from_millis(cfg.drain_interval_ms));
    // After a slow tick (binary analysis), do not fire the missed ones back to back.
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Breakers read each probe's hit counter four times a second.
    let mut breakers = tokio::time::interval(Duration::from_millis(250));
    breakers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report = tokio::time::interval(Duration::from_secs(60));
    report.tick().await;
    let mut last_dropped = 0;
    let mut last_queue_dropped = 0;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                // A bounded batch: timers, exec records and the admin
                // endpoint get their turn even under a flood of records.
                if sup.drain_for(guard.get_inner_mut(), gotel::live::DRAIN_TIME) {
                    guard.clear_ready();
                }
            }
            Some(guard) = async {
                match procs.as_mut() {
                    Some(p) => Some(p.readable_mut().await),
                    None => None,
                }
            }, if procs.is_some() => {
                let mut guard = guard?;
                let mut records = Vec::new();
                while let Some(item) = guard.get_inner_mut().next() {
                    records.push(item.to_vec());
                }
                guard.clear_ready();
                // One full drain per batch at most: each exec or exit of
                // a traced process needs its records read first, once.
                let mut drained = false;
                for r in &records {
                    sup.process_event(r, |s| {
                        if !std::mem::replace(&mut drained, true) {
                            s.drain(ring.get_mut());
                        }
                    });
                }
            }
            _ = drain.tick() => {
                sup.drain_for(ring.get_mut(), gotel::live::DRAIN_TIME);
                if let Some(o) = &otlp {
                    o.set_counters(sup.counters().named(), sup.open_calls().named());
                }
            }
            // Not after a drain: under the flood a breaker is for, the
            // check must not wait for the records.
            _ = breakers.tick() => sup.check_breakers(),
            _ = scan.tick() => {
                // Drain first: records of an exiting process must meet its
                // recipe (reconcile reads the rest before it detaches one).
                sup.drain_for(ring.get_mut(), gotel::live::DRAIN_TIME);
                reload(config_path, &mut seen, &mut sup, &mut current, |s| s.drain(ring.get_mut()));
                sup.reconcile(ring.get_mut());
            }
            Some(reply) = async { admin.as_mut()?.recv().await }, if admin.is_some() => {
                let snapshot = gotel::admin::Snapshot {
                    status: sup.status(),
                    export: otlp.as_ref().map(|o| o.stats()),
                };
                let _ = reply.send(snapshot);
            }
            _ = report.tick() => {
                let open = sup.open_calls();
                if open.oldest_age_ns >= 60_000_000_000 {
                    info!(open_calls = open.count, oldest_open_call_ms = open.oldest_age_ns / 1_000_000, "calls open for over a minute (blocked, or ended by an unrecovered unwind gotel cannot see)");
                }
                let dropped = sup.counters().dropped;
                if dropped != last_dropped {
                    warn!(dropped = dropped - last_dropped, "events dropped: ring buffer full or CPU busy (the traced app was not slowed); raise ring_buffer_kib");
                    last_dropped = dropped;
                }
                if let Some(o) = &otlp {
                    let x = o.stats();
                    if x.queue_dropped != last_queue_dropped {
                        warn!(dropped = x.queue_dropped - last_queue_dropped, "calls dropped: the OTLP export queue was full (collector slow or unreachable); raise otlp.queue_size or otlp.max_in_flight");
                        last_queue_dropped = x.queue_dropped;
                    }
                }
            }
        }
    }
    sup.drain(ring.get_mut());
    sup.flush();
    let x = match otlp {
        Some(o) => {
            o.shutdown(sup.counters().named(), sup.open_calls().named())
                .await
        }
        None => Default::default(),
    };
    sup.counters().log_stopped(&x, sup.open_calls());
    Ok(())
}
