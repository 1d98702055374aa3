//! The registry against a fake kernel: cookies taken are routed, and
//! given back exactly once whatever ends the attachment.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::live::kernel::fake::FakeKernel;
use crate::live::markers::Marker;
use crate::live::testkit;
use crate::recipe::RawEvent;

fn process(pid: u32) -> Process {
    Process {
        pid,
        exe: "/srv/app".into(),
        cmdline: "/srv/app".into(),
        start_time: 100,
        exe_id: (1, 2),
    }
}

fn meta(id: u64, key: &str, pid: u32) -> Arc<Attachment> {
    testkit::attachment(id, key, pid)
}

const LOADED: Loaded = Loaded {
    bin: (1, 2, 3, 4),
    bin_id: 7,
    bias: 0x1000,
};

/// An entry record for `cookie` with no data: routed or stray.
fn is_routed(pipeline: &mut Pipeline, cookie: u32) -> bool {
    let ev = RawEvent {
        cookie,
        goid: 1,
        site: SITE_ENTRY,
        ..RawEvent::default()
    };
    let before = pipeline.stats.stray_records;
    pipeline.handle(&testkit::record(&ev, &[]), &mut |_| {});
    pipeline.stats.stray_records == before
}

#[test]
fn attaching_takes_two_cookies_and_attaches_entry_and_every_ret() {
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(4, 0),
        Registry::default(),
    );
    r.attach(&mut k, &mut pl, meta(1, "a", 42), &process(42), LOADED)
        .unwrap();
    assert_eq!(k.recipes, [1, 2].into());
    let exe = PathBuf::from("/proc/42/exe");
    assert_eq!(
        k.attached,
        [
            (exe.clone(), 0x1000, 42, 1),
            (exe.clone(), 0x1040, 42, 2),
            (exe, 0x1080, 42, 2)
        ]
    );
    assert!(r.has(42, &"a".to_string()));
    assert!(!r.has(42, &"b".to_string()));
    assert!(!r.has(43, &"a".to_string()));
    assert_eq!(r.attachments(), 1);
    assert_eq!(r.binaries_in_use(), HashSet::from([LOADED.bin]));
    assert!(is_routed(&mut pl, 1));
}

#[test]
fn a_failed_attach_leaves_nothing_behind() {
    let mut k = FakeKernel {
        fail_offset: Some(0x1080),
        ..FakeKernel::default()
    };
    let (mut pl, mut r) = (Pipeline::new(4, 0), Registry::default());
    let e = r
        .attach(&mut k, &mut pl, meta(1, "a", 42), &process(42), LOADED)
        .unwrap_err();
    assert!(e.to_string().contains("/proc/42/exe+0x1080"), "{e}");
    assert!(k.recipes.is_empty(), "both recipes removed");
    assert_eq!(r.attachments(), 0);
    assert!(!r.has(42, &"a".to_string()));
    assert!(!is_routed(&mut pl, 1) && !is_routed(&mut pl, 2));
}

#[test]
fn a_gone_process_is_detached_and_its_cookies_freed() {
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(4, 0),
        Registry::default(),
    );
    r.attach(&mut k, &mut pl, meta(1, "a", 42), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(2, "b", 42), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(3, "a", 43), &process(43), LOADED)
        .unwrap();
    // 42 exec'd a new image (same pid, new start time); 43 runs on.
    let mut execd = process(42);
    execd.start_time = 200;
    let live = HashMap::from([(42, execd), (43, process(43))]);
    assert_eq!(r.changed(&live), [42]);
    r.detach_process(&mut k, &mut pl, 42);
    assert_eq!(k.recipes, [5, 6].into());
    assert_eq!(r.attachments(), 1);
    // Every uprobe is gone before its recipe is cleared: a late hit never
    // finds an empty recipe. The entry goes before the returns (and after
    // any restart site).
    assert_eq!(
        *k.log.borrow(),
        [
            "detach 1", "detach 2", "detach 2", "remove 1", "remove 2", "detach 3", "detach 4",
            "detach 4", "remove 3", "remove 4"
        ]
    );
    assert!(!is_routed(&mut pl, 1) && !is_routed(&mut pl, 4));
    assert!(is_routed(&mut pl, 5));
    // Detaching again is a no-op (the fake panics on a double free).
    r.detach_process(&mut k, &mut pl, 42);
}

#[test]
fn removed_probes_are_detached_everywhere() {
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(4, 0),
        Registry::default(),
    );
    r.attach(&mut k, &mut pl, meta(1, "a", 42), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(2, "b", 42), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(3, "a", 43), &process(43), LOADED)
        .unwrap();
    r.retain_probes(&mut k, &mut pl, &HashSet::from(["b".to_string()]));
    assert_eq!(k.recipes, [3, 4].into());
    assert_eq!(r.attachments(), 1);
    assert!(r.has(42, &"b".to_string()));
    assert_eq!(r.changed(&HashMap::new()), [42], "43 has nothing left");
}

#[test]
fn a_removed_probes_open_calls_are_unobserved_not_panicked_later() {
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(16, 0),
        Registry::default(),
    );
    r.attach(&mut k, &mut pl, meta(1, "outer", 42), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(2, "inner", 42), &process(42), LOADED)
        .unwrap();
    let entry = |cookie: u32, frame: u64| {
        let ev = RawEvent {
            cookie,
            goid: 9,
            frame,
            site: SITE_ENTRY,
            ..RawEvent::default()
        };
        testkit::record(&ev, &[])
    };
    let mut calls = Vec::new();
    // outer (cookies 1/2) enters, then inner (3/4) deeper on the same goroutine.
    pl.handle(&entry(1, 0x100), &mut |c| calls.push(c));
    pl.handle(&entry(3, 0x180), &mut |c| calls.push(c));
    r.retain_probes(&mut k, &mut pl, &HashSet::from(["outer".to_string()]));
    assert_eq!(pl.correlate_stats().unobserved, 1);
    // outer returns: inner is not claimed as unwound by a panic.
    let mut ret = entry(2, 0x100);
    ret[std::mem::offset_of!(RawEvent, site)] = SITE_RETURN;
    pl.handle(&ret, &mut |c| calls.push(c));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function, "main.f");
    assert!(!calls[0].panicked);
    assert_eq!(pl.correlate_stats().panicked, 0);
}

#[test]
fn the_panic_marker_stays_while_a_probe_does_and_goes_with_the_last() {
    let marker = || {
        let mut m = Arc::try_unwrap(testkit::attachment(9, "gotel:runtime.gopanic", 42))
            .ok()
            .unwrap();
        let mut plan = (*m.plan).clone();
        plan.ret_offsets.clear();
        m.plan = Arc::new(plan);
        m.marker = Some(Marker::Panic);
        Arc::new(m)
    };
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(4, 0),
        Registry::default(),
    );
    r.attach(&mut k, &mut pl, marker(), &process(42), LOADED)
        .unwrap();
    r.attach(&mut k, &mut pl, meta(1, "a", 42), &process(42), LOADED)
        .unwrap();
    assert_eq!(r.attachments(), 1, "the marker is not a probe's");
    // The marker has no return site: one recipe, not two.
    assert_eq!(k.recipes.len(), 3);
    r.prune(&mut k, &mut pl, 42);
    assert_eq!(k.recipes.len(), 3, "a probe is attached: nothing pruned");
    // Another probe's edit keeps it; removing the last probe removes it.
    r.retain_probes(&mut k, &mut pl, &HashSet::from(["a".to_string()]));
    assert_eq!(k.recipes.len(), 3);
    r.retain_probes(&mut k, &mut pl, &HashSet::new());
    assert!(k.recipes.is_empty());
    assert!(
        r.changed(&HashMap::new()).is_empty(),
        "the process is forgotten"
    );
    // A marker whose probes all failed to attach is pruned.
    r.attach(&mut k, &mut pl, marker(), &process(42), LOADED)
        .unwrap();
    r.prune(&mut k, &mut pl, 42);
    assert!(k.recipes.is_empty());
}

#[test]
fn a_file_wide_attachment_is_for_every_process_and_goes_with_its_probe() {
    struct Nobody;
    impl crate::live::pipeline::PerProcess for Nobody {
        fn process(
            &self,
            _: u32,
        ) -> (
            Arc<crate::export::Origin>,
            Arc<dyn crate::live::pipeline::Lookups>,
        ) {
            let t = testkit::attachment(0, "x", 0);
            (t.origin.clone(), t.names.clone())
        }
    }
    let (mut k, mut pl, mut r) = (
        FakeKernel::default(),
        Pipeline::new(4, 0),
        Registry::default(),
    );
    let mut file_wide = Arc::into_inner(meta(1, "a", 0)).unwrap();
    file_wide.every_process = Some(Arc::new(Nobody));
    let path = PathBuf::from("/srv/app");
    r.attach_file(&mut k, &mut pl, Arc::new(file_wide), &path, LOADED)
        .unwrap();
    // Also attached to one process, the usual way.
    r.attach(&mut k, &mut pl, meta(2, "b", 42), &process(42), LOADED)
        .unwrap();
    // pid 0: every process; its recipes tell the BPF program so.
    assert_eq!(
        &k.attached[..3],
        [
            (path.clone(), 0x1000, 0, 1),
            (path.clone(), 0x1040, 0, 2),
            (path, 0x1080, 0, 2)
        ]
    );
    assert_eq!(k.flags[&1], crate::recipe::RECIPE_EVERY_PROCESS);
    assert_eq!(k.flags[&2], crate::recipe::RECIPE_EVERY_PROCESS);
    assert_eq!(k.flags[&3], 0);
    assert!(r.has_file(&LOADED.bin, &"a".to_string()));
    assert!(r.file_has((1, 2), &"a".to_string()));
    assert!(!r.file_has((1, 2), &"b".to_string()));
    assert_eq!(r.on_file((1, 2)).len(), 1);
    assert_eq!(r.attachments(), 2);
    assert_eq!(r.attached_to(&"a".to_string()).count(), 1);
    // No process runs it: the file stays in use while the probe does.
    r.detach_process(&mut k, &mut pl, 42);
    assert_eq!(r.binaries_in_use(), HashSet::from([LOADED.bin]));
    assert!(r.any_file());
    r.retain_probes(&mut k, &mut pl, &HashSet::new());
    assert!(!r.any_file());
    assert!(k.recipes.is_empty(), "every cookie given back");
    assert!(r.binaries_in_use().is_empty());
}
