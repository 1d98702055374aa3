//! Processes as the kernel reports them (exec and exit tracepoints, see
//! `procs` in ebpf/gotel.h): a new process is read from /proc and attached
//! within milliseconds of its exec, and an exiting one is drained and
//! detached at once, without waiting for the next /proc scan, which stays
//! the fallback for anything these records miss.

use tracing::debug;

use super::kernel::Kernel;
use super::{monotonic_ns, probe_key, Attempt, Supervisor};
use crate::proc::Process;
use crate::recipe::{RawProcEvent, PROC_EXEC, PROC_EXIT};

impl<K: Kernel> Supervisor<K> {
    /// Acts on one record of the `procs` ring buffer; `drain` reads the
    /// call records still in the ring before a process image is detached.
    pub fn process_event(&mut self, record: &[u8], drain: impl FnOnce(&mut Self)) {
        let Some(ev) = RawProcEvent::parse(record) else {
            return;
        };
        match ev.kind {
            // Every exec of the host (or pod) lands here: without probes,
            // /proc is not even read.
            PROC_EXEC if ev.pid != std::process::id() && !self.cfg.probes.is_empty() => {
                match crate::proc::read(ev.pid) {
                    Some(p) => self.exec_seen(&p, ev.ktime_ns, drain),
                    None => debug!(pid = ev.pid, "exec'd process ended before it could be read"),
                }
            }
            PROC_EXIT => self.exit_seen(ev.pid, drain),
            _ => {}
        }
    }

    /// Process `p` exec'd at `ktime_ns` (CLOCK_MONOTONIC): its previous
    /// image, if traced, is drained, its open calls ended, and detached;
    /// every probe selecting the new one is attached now (a reconcile of
    /// this one process).
    pub fn exec_seen(&mut self, p: &Process, ktime_ns: u64, drain: impl FnOnce(&mut Self)) {
        // (Attached after the exec: a /proc scan found the new image first.)
        let held = self.registry.attached_before(p.pid, ktime_ns);
        if held || self.pipeline.knows_process(p.pid) {
            // The old image's calls will not return. Only calls entered
            // before the exec: the new image's records (file-wide) may have
            // been read already. The same binary exec'd again keeps pid,
            // start time and inode, but not its load address (PIE): it is
            // attached again like any new image.
            drain(self);
            if held {
                self.registry
                    .detach_process(&mut self.kernel, &mut self.pipeline, p.pid);
            }
            self.deliver(|pipeline, emit| pipeline.end_image(p.pid, ktime_ns, emit));
        }
        // Traced from its first instruction already: its view is made now,
        // while /proc still describes it (a short-lived one may be gone by
        // the time its records are read).
        for meta in self.registry.on_file(p.exe_id) {
            self.pipeline.view(&meta, p.pid);
        }
        self.failed
            .retain(|(id, _), _| id.0 != p.pid || *id == p.identity());
        let probes = self.cfg.probes.clone();
        let mut made = false;
        for spec in probes
            .iter()
            .filter(|s| crate::discover::matches(&s.target, p))
        {
            let key = probe_key(spec);
            self.waiting_since.remove(&key);
            match self.attach_missing(&key, spec, p) {
                Attempt::Made => made = true,
                Attempt::Skipped => {}
                Attempt::Gone => {
                    self.note_gone(p);
                    return;
                }
            }
        }
        if made && self.registry.identity(p.pid).is_some() {
            let us = monotonic_ns().saturating_sub(ktime_ns) / 1000;
            debug!(
                pid = p.pid,
                exe = %p.exe.display(),
                ms = us as f64 / 1000.0,
                "attached after exec"
            );
        }
    }

    /// Process `pid` exited: if traced, its records are drained, its open
    /// calls ended and its probes detached.
    pub fn exit_seen(&mut self, pid: u32, drain: impl FnOnce(&mut Self)) {
        let traced = self.registry.identity(pid).is_some();
        if !traced && !self.registry.any_file() {
            return;
        }
        // A process traced through a file-wide attachment is known by its
        // records: those still in the ring first.
        drain(self);
        if !traced && !self.pipeline.knows_process(pid) {
            return;
        }
        self.end_process(pid);
        debug!(pid, "process exit seen; detached");
    }

    /// Detaches process `pid` and ends its open calls.
    pub(super) fn end_process(&mut self, pid: u32) {
        let now = monotonic_ns();
        self.registry
            .detach_process(&mut self.kernel, &mut self.pipeline, pid);
        self.deliver(|pipeline, emit| pipeline.end_process(pid, now, emit));
    }
}
