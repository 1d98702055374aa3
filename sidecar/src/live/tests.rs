//! The supervisor against the fake kernel: what it does with processes it
//! cannot trace, with config edits, and with records and the sink.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::kernel::fake::FakeKernel;
use super::*;
use crate::recipe::{RawEvent, SITE_ENTRY, SITE_RETURN};

/// A sink that keeps what it is given.
#[derive(Default, Clone)]
struct Kept(Rc<RefCell<Vec<Call>>>);

impl Sink for Kept {
    fn write(&mut self, call: &Call) -> std::io::Result<()> {
        self.0.borrow_mut().push(call.clone());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config(probes: serde_json::Value) -> Config {
    Config {
        probes: serde_json::from_value(probes).unwrap(),
        ..Config::default()
    }
}

fn supervisor(cfg: Config) -> (Supervisor<FakeKernel>, Kept) {
    let kept = Kept::default();
    (
        Supervisor::new(cfg, FakeKernel::default(), Box::new(kept.clone())),
        kept,
    )
}

/// A small process that is not a Go binary (analysing this test binary,
/// with its DWARF, would take long): killed when dropped.
struct Sleeper(std::process::Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper() -> (Sleeper, u32, Process) {
    let sleeper = Sleeper(
        std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap(),
    );
    let pid = sleeper.0.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Until the exec, /proc/PID/exe is this test binary.
        if let Some(p) = crate::proc::read(pid).filter(|p| p.exe.ends_with("sleep")) {
            return (sleeper, pid, p);
        }
        assert!(std::time::Instant::now() < deadline, "sleep never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_process_that_cannot_be_traced_is_tried_once_per_image() {
    let (_sleeper, pid, me) = sleeper();
    let (mut sup, _) = supervisor(config(
        serde_json::json!([{ "function": "main.f", "target": { "pid": pid } }]),
    ));
    let live = HashMap::from([(pid, me.clone())]);
    let drained = RefCell::new(0);
    sup.reconcile_with(&live, |_| *drained.borrow_mut() += 1);
    assert_eq!(sup.attachments(), 0);
    assert_eq!(sup.failed.len(), 1, "not a Go binary: failed");
    assert_eq!(sup.binaries.opened, 1);
    let key = sup.failed.keys().next().unwrap().1.clone();
    let failure = sup.status().probes[0].failed.clone();
    assert_eq!(failure.len(), 1);
    assert_eq!(failure[0].pid, pid);
    assert!(failure[0].error.contains("not a Go program"), "{failure:?}");
    assert_eq!(sup.status().unready().len(), 1);
    sup.reconcile_with(&live, |_| *drained.borrow_mut() += 1);
    assert_eq!(sup.failed.len(), 1);
    assert_eq!(sup.binaries.opened, 1, "not retried while the image lives");
    // Nothing was attached, so nothing is gone and nothing was drained.
    assert_eq!(*drained.borrow(), 0);
    // A new image of the pid (exec) is tried again.
    let mut execd = me.clone();
    execd.start_time += 1;
    sup.reconcile_with(&HashMap::from([(pid, execd.clone())]), |_| {});
    assert_eq!(sup.failed.len(), 1);
    assert!(sup.failed.contains_key(&(execd.identity(), key.clone())));
    // Removing the probe forgets its failures and its waiting state.
    sup.set_config(config(serde_json::json!([])));
    assert!(sup.failed.is_empty());
    assert!(sup.waiting_since.is_empty());
}

#[test]
fn a_probe_without_a_slot_is_not_attached() {
    let (_sleeper, pid, me) = sleeper();
    let (mut sup, _) = supervisor(config(
        serde_json::json!([{ "function": "main.f", "target": { "pid": pid } }]),
    ));
    sup.slots = breaker::Slots::all_taken();
    sup.sync_slots();
    sup.reconcile_with(&HashMap::from([(pid, me.clone())]), |_| {});
    assert_eq!(sup.attachments(), 0);
    // Refused before the binary is even read: no breaker could watch it.
    assert_eq!(sup.binaries.opened, 0);
    let failure = sup.status().probes[0].failed.clone();
    assert!(
        failure[0].error.contains("no probe slot left"),
        "{failure:?}"
    );
    // A slot given back: the probe is tried again (and fails for what the
    // process is, not a Go program).
    sup.slots = breaker::Slots::default();
    sup.sync_slots();
    sup.reconcile_with(&HashMap::from([(pid, me)]), |_| {});
    assert_eq!(sup.binaries.opened, 1);
    let failure = sup.status().probes[0].failed.clone();
    assert!(failure[0].error.contains("not a Go program"), "{failure:?}");
}

#[test]
fn a_probe_without_a_process_waits() {
    let (mut sup, _) = supervisor(config(
        serde_json::json!([{ "function": "main.f", "target": { "exe": "no-such-app" } }]),
    ));
    let (_sleeper, pid, me) = sleeper();
    sup.reconcile_with(&HashMap::from([(pid, me)]), |_| {});
    assert_eq!(sup.waiting_since.len(), 1);
    assert!(sup.failed.is_empty());
}

#[test]
fn records_become_calls_in_the_sink_and_are_counted() {
    let (mut sup, kept) = supervisor(Config::default());
    let meta = super::testkit::attachment(1, "main.f", 42);
    sup.pipeline.route(1, meta.clone(), SITE_ENTRY);
    sup.pipeline.route(2, meta, SITE_RETURN);
    let record = |cookie, site| {
        let ev = RawEvent {
            cookie,
            goid: 1,
            frame: 0x100,
            site,
            ..RawEvent::default()
        };
        super::testkit::record(&ev, &[])
    };
    // An entry, its return, and a record for a cookie nothing owns.
    sup.handle_record(&record(1, SITE_ENTRY));
    sup.handle_record(&record(2, SITE_RETURN));
    sup.handle_record(&record(5, SITE_ENTRY));
    sup.end_batch();
    let c = sup.counters();
    assert_eq!((c.events, c.stray_records, c.calls), (3, 1, 1));
    assert_eq!(kept.0.borrow().len(), 1);
    assert_eq!(kept.0.borrow()[0].function, "main.f");
}

#[test]
fn an_exec_record_tries_the_process_at_once_and_once_per_image() {
    let (_sleeper, pid, me) = sleeper();
    let (mut sup, _) = supervisor(config(
        serde_json::json!([{ "function": "main.f", "target": { "exe": "sleep" } }]),
    ));
    let record = |kind, pid| {
        let ev = crate::recipe::RawProcEvent {
            ktime_ns: monotonic_ns(),
            pid,
            kind,
            _pad: [0; 3],
        };
        // SAFETY: RawProcEvent is repr(C) plain integers.
        let bytes: [u8; 16] = unsafe { std::mem::transmute(ev) };
        bytes.to_vec()
    };
    let drained = RefCell::new(0);
    sup.process_event(&record(crate::recipe::PROC_EXEC, pid), |_| {
        *drained.borrow_mut() += 1
    });
    // Not a Go binary: tried, failed, recorded, without any scan.
    assert_eq!(sup.binaries.opened, 1);
    assert_eq!(sup.failed.len(), 1);
    assert!(sup
        .failed
        .contains_key(&(me.identity(), probe_key(&sup.cfg.probes[0]))));
    sup.exec_seen(&me, monotonic_ns(), |_| *drained.borrow_mut() += 1);
    assert_eq!(sup.failed.len(), 1, "not retried for the same image");
    // Nothing traced: neither the exit nor a short record drains.
    sup.process_event(&record(crate::recipe::PROC_EXIT, pid), |_| {
        *drained.borrow_mut() += 1
    });
    sup.process_event(&[1, 2, 3], |_| *drained.borrow_mut() += 1);
    assert_eq!(*drained.borrow(), 0);
}

#[test]
fn a_vanished_process_is_told_from_a_probe_that_cannot_attach() {
    let stat = |kind: std::io::ErrorKind| AttachError::Stat {
        path: "/proc/1/exe".into(),
        source: Arc::new(std::io::Error::from(kind)),
    };
    let attach = |why: &str| {
        AttachError::from(BpfError::Attach {
            path: "/proc/1/exe".into(),
            offset: 0x10,
            pid: 1,
            why: why.into(),
        })
    };
    assert!(gone(&stat(std::io::ErrorKind::NotFound)));
    assert!(!gone(&stat(std::io::ErrorKind::PermissionDenied)));
    assert!(gone(&attach(
        "`perf_event_open` failed: No such process (os error 3)"
    )));
    assert!(!gone(&attach(
        "`perf_event_open` failed: Permission denied (os error 13)"
    )));
}
