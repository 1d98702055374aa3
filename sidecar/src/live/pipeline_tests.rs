//! The pipeline on synthetic records: probes on `main.f(x int64) int64`
//! and `main.g` (the same shape), whose entry captures `x` and whose
//! return captures the result `n`.

use std::sync::Arc;

use super::*;
use crate::live::testkit::{self, NoNames};
use crate::plan::{ScalarKind, Shape, SitePlan, Value};
use crate::recipe::{RawOp, RawRecipe, OP_SCALAR, SITE_RETURN};

fn scalar_site(site: u8, name: &str) -> SitePlan {
    let mut recipe = RawRecipe {
        site,
        n_ops: 1,
        ..RawRecipe::default()
    };
    recipe.ops[0] = RawOp {
        kind: OP_SCALAR,
        size: 8,
        ..RawOp::default()
    };
    SitePlan {
        recipe,
        span: None,
        traceparent: None,
        stack: None,
        values: vec![Value {
            name: name.into(),
            ty: "int64".into(),
            location: "RAX".into(),
            shape: Shape::Scalar {
                op: 0,
                kind: ScalarKind::Int,
                size: 8,
            },
        }],
    }
}

fn plan(function: &str, instant: bool) -> Plan {
    Plan {
        function: function.into(),
        signature: format!("{function}(x int64) (n int64)"),
        entry_offset: 0x1000,
        ret_offsets: vec![0x1040],
        restart_offsets: vec![],
        instant,
        entry_args: 1,
        entry: scalar_site(SITE_ENTRY, "x"),
        ret: scalar_site(SITE_RETURN, "n"),
        warnings: Vec::new(),
        landings: None,
        arg_landings: None,
        when: None,
        when_return: None,
        inlined_at: None,
        untimed: None,
    }
}

fn attachment_of(id: u64, plan: Plan) -> Arc<Attachment> {
    Arc::new(Attachment {
        id,
        key: format!("{{\"function\":\"{}\"}}", plan.function),
        probe: plan.function.clone(),
        pid: 42,
        plan: Arc::new(plan),
        origin: Arc::new(Origin::default()),
        names: Arc::new(NoNames),
        marker: None,
        slot: 0,
        every_process: None,
    })
}

fn attachment(id: u64, function: &str, instant: bool) -> Arc<Attachment> {
    attachment_of(id, plan(function, instant))
}

/// A ring-buffer record as the BPF program writes it: header, then one
/// 8-byte capture per scalar op.
fn record(cookie: u32, site: u8, goid: u64, frame: u64, ktime: u64, value: i64) -> Vec<u8> {
    record_with(cookie, site, goid, frame, ktime, &[value], |_| {})
}

fn record_with(
    cookie: u32,
    site: u8,
    goid: u64,
    frame: u64,
    ktime: u64,
    values: &[i64],
    edit: impl FnOnce(&mut RawEvent),
) -> Vec<u8> {
    let mut ev = RawEvent {
        ktime_ns: ktime,
        goid,
        frame,
        cookie,
        pid: 42,
        tid: 7,
        data_len: 8 * values.len() as u16,
        site,
        ..RawEvent::default()
    };
    edit(&mut ev);
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    testkit::record(&ev, &data)
}

/// Routes cookies 1 (entry) and 2 (return) to `main.f`, and 3/4 to `main.g`.
fn pipeline() -> Pipeline {
    let mut p = Pipeline::new(16, 1_000);
    let f = attachment(1, "main.f", false);
    let g = attachment(2, "main.g", false);
    p.route(1, f.clone(), SITE_ENTRY);
    p.route(2, f, SITE_RETURN);
    p.route(3, g.clone(), SITE_ENTRY);
    p.route(4, g, SITE_RETURN);
    p
}

fn run(p: &mut Pipeline, records: &[Vec<u8>]) -> Vec<Call> {
    let mut out = Vec::new();
    for r in records {
        p.handle(r, &mut |c| out.push(c));
    }
    out
}

fn int(v: &GoValue) -> i64 {
    match v {
        GoValue::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

#[test]
fn an_entry_and_its_return_make_one_call() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x200, 5_000, 3),
            record(2, SITE_RETURN, 9, 0x200, 7_500, 4),
        ],
    );
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.function.as_str(), c.pid, c.tid, c.goroutine),
        ("main.f", 42, 7, 9)
    );
    assert_eq!(c.start_time_unix_nano, 6_000, "ktime + clock offset");
    assert_eq!(c.duration_ns, Some(2_500));
    assert!(!c.panicked);
    assert_eq!(c.ended_by_unix_nano, None);
    assert_eq!(c.args[0].0, "x");
    assert_eq!(int(&c.args[0].1), 3);
    assert_eq!(c.returns[0].0, "n");
    assert_eq!(int(&c.returns[0].1), 4);
    assert_eq!(c.error, None);
    assert_eq!(c.trace.parent_span_id, None);
    assert_eq!(p.stats.records, 2);
    assert_eq!(p.correlate_stats(), CorrelateStats::default());
}

#[test]
fn a_call_nested_on_the_same_goroutine_is_a_child_span() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            // g runs deeper (a larger stack.hi − SP) on the same goroutine.
            record(3, SITE_ENTRY, 9, 0x480, 200, 2),
            record(4, SITE_RETURN, 9, 0x480, 300, 20),
            // Another goroutine's g is a root of its own trace.
            record(3, SITE_ENTRY, 10, 0x480, 310, 5),
            record(4, SITE_RETURN, 10, 0x480, 320, 50),
            record(2, SITE_RETURN, 9, 0x400, 400, 10),
        ],
    );
    let names: Vec<_> = calls
        .iter()
        .map(|c| (c.function.as_str(), c.goroutine))
        .collect();
    assert_eq!(names, [("main.g", 9), ("main.g", 10), ("main.f", 9)]);
    let (inner, other, outer) = (&calls[0], &calls[1], &calls[2]);
    assert_eq!(inner.trace.trace_id, outer.trace.trace_id);
    assert_eq!(inner.trace.parent_span_id, Some(outer.trace.span_id));
    assert_ne!(other.trace.trace_id, outer.trace.trace_id);
    assert_eq!(other.trace.parent_span_id, None);
}

#[test]
fn a_return_proves_deeper_calls_were_unwound_by_a_panic() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            record(3, SITE_ENTRY, 9, 0x480, 200, 2),
            // g panicked; f recovered and returned.
            record(2, SITE_RETURN, 9, 0x400, 900, 10),
        ],
    );
    assert_eq!(calls.len(), 2);
    let (g, f) = (&calls[0], &calls[1]);
    assert_eq!(g.function, "main.g");
    assert!(g.panicked);
    assert_eq!(g.duration_ns, None);
    assert!(g.returns.is_empty());
    assert_eq!(
        g.ended_by_unix_nano,
        Some(1_900),
        "bounded by the record that proved it"
    );
    assert_eq!(int(&g.args[0].1), 2);
    assert_eq!(f.duration_ns, Some(800));
    assert_eq!(p.correlate_stats().panicked, 1);
}

#[test]
fn a_restarted_prologue_is_one_call_with_its_first_ids() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            // runtime.morestack grew the stack and re-ran the entry.
            record(1, SITE_ENTRY, 9, 0x400, 150, 1),
            record(2, SITE_RETURN, 9, 0x400, 400, 10),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].duration_ns, Some(250), "timed from the restart");
    assert_eq!(p.correlate_stats().restarted_entries, 1);
}

#[test]
fn a_lone_ret_body_is_a_call_at_entry() {
    // Entry values are the argument, then the result.
    let mut nop = plan("main.nop", true);
    nop.entry.recipe.n_ops = 2;
    nop.entry.recipe.ops[1] = nop.entry.recipe.ops[0];
    let mut r0 = nop.entry.values[0].clone();
    r0.name = "r0".into();
    r0.shape = Shape::Scalar {
        op: 1,
        kind: ScalarKind::Int,
        size: 8,
    };
    nop.entry.values.push(r0);
    let mut p = Pipeline::new(16, 0);
    p.route(1, attachment_of(1, nop), SITE_ENTRY);
    let calls = run(
        &mut p,
        &[record_with(1, SITE_ENTRY, 9, 0x400, 100, &[6, 7], |_| {})],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].duration_ns, Some(0));
    assert_eq!(calls[0].args.len(), 1);
    assert_eq!(int(&calls[0].args[0].1), 6);
    assert_eq!(calls[0].returns.len(), 1);
    assert_eq!(calls[0].returns[0].0, "r0");
    assert_eq!(int(&calls[0].returns[0].1), 7);
    assert_eq!(
        p.correlate_stats(),
        CorrelateStats::default(),
        "nothing left open"
    );
}

#[test]
fn records_that_cannot_be_routed_are_stray_and_counted() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            // Too short for a header.
            vec![0u8; 10],
            // A cookie nobody owns.
            record(99, SITE_ENTRY, 9, 0x400, 100, 1),
            // A return record under an entry cookie.
            record(1, SITE_RETURN, 9, 0x400, 100, 1),
            // data_len larger than the record.
            record_with(1, SITE_ENTRY, 9, 0x400, 100, &[1], |e| e.data_len = 64),
        ],
    );
    assert!(calls.is_empty());
    assert_eq!(p.stats.records, 4);
    assert_eq!(p.stats.stray_records, 4);
    // An unrouted cookie's records are stray too.
    p.unroute(1);
    run(&mut p, &[record(1, SITE_ENTRY, 9, 0x400, 100, 1)]);
    assert_eq!(p.stats.stray_records, 5);
}

#[test]
fn a_record_without_goroutine_counts_as_lost() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            record(3, SITE_ENTRY, 9, 0x480, 200, 2),
            // g's return record could not read its goroutine: a loss.
            record_with(4, SITE_RETURN, 0, 0, 300, &[0], |e| e.flags = EV_NO_G),
            record(2, SITE_RETURN, 9, 0x400, 900, 10),
        ],
    );
    // g is not claimed as panicked: a record was lost since it entered.
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function, "main.f");
    assert_eq!(p.stats.no_goroutine, 1);
    assert_eq!(p.correlate_stats().unobserved, 1);
    assert_eq!(p.correlate_stats().panicked, 0);
}

#[test]
fn a_full_record_is_counted_and_still_decoded() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record_with(1, SITE_ENTRY, 9, 0x400, 100, &[1], |e| {
                e.flags = EV_DATA_FULL
            }),
            record(2, SITE_RETURN, 9, 0x400, 200, 2),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(int(&calls[0].args[0].1), 1);
    assert_eq!(p.stats.data_full, 1);
}

#[test]
fn a_faulted_value_is_unavailable_not_zero() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            record_with(1, SITE_ENTRY, 9, 0x400, 100, &[0], |e| e.fault_mask = 1),
            record(2, SITE_RETURN, 9, 0x400, 200, 2),
        ],
    );
    assert!(
        matches!(calls[0].args[0].1, GoValue::Unavailable(_)),
        "{:?}",
        calls[0].args[0].1
    );
}

#[test]
fn a_process_that_ends_delivers_its_open_calls_unfinished() {
    let mut p = pipeline();
    run(&mut p, &[record(1, SITE_ENTRY, 9, 0x400, 100, 1)]);
    assert_eq!(p.open_calls(), (1, Some(100)));
    let mut ended = Vec::new();
    p.end_process(42, 5_000, &mut |c| ended.push(c));
    assert_eq!(ended.len(), 1);
    let c = &ended[0];
    assert_eq!((c.goroutine, c.duration_ns, c.panicked), (9, None, false));
    assert_eq!(c.unfinished, Some(Unfinished::ProcessEnded));
    assert_eq!(
        (c.start_time_unix_nano, c.ended_by_unix_nano),
        (1_100, Some(6_000))
    );
    assert_eq!(p.open_calls(), (0, None));
    // Its late return record is not paired with anything.
    let calls = run(&mut p, &[record(2, SITE_RETURN, 9, 0x400, 200, 2)]);
    assert!(calls.is_empty());
    assert_eq!(p.correlate_stats().unmatched_returns, 1);
    assert_eq!(p.correlate_stats().unfinished, 1);
}

#[test]
fn an_error_result_becomes_the_calls_error() {
    let plan = attachment(1, "main.f", false).plan.as_ref().clone();
    let mut with_err = plan.clone();
    with_err.ret.values[0].ty = "error".into();
    let returns = vec![(
        "err".to_string(),
        GoValue::Str {
            text: "boom".into(),
            len: 4,
            truncated: false,
        },
    )];
    assert_eq!(error_message(&with_err, &returns).as_deref(), Some("boom"));
    assert_eq!(error_message(&plan, &returns), None, "only `error` results");
    let nil = vec![("err".to_string(), GoValue::Null)];
    assert_eq!(error_message(&with_err, &nil), None);
}

#[test]
fn a_panic_between_two_entries_at_one_frame_makes_them_two_calls() {
    let mut p = pipeline();
    p.route(7, marker(3, "runtime.gopanic", Marker::Panic), SITE_ENTRY);
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            // f(1) panics (gopanic runs deeper), an unprobed caller
            // recovers and calls f(2) from the same frame.
            record_with(7, SITE_ENTRY, 9, 0x600, 120, &[], |_| {}),
            record(1, SITE_ENTRY, 9, 0x400, 150, 2),
            record(2, SITE_RETURN, 9, 0x400, 400, 20),
        ],
    );
    assert_eq!(calls.len(), 2);
    assert!(calls[0].panicked);
    assert_eq!(int(&calls[0].args[0].1), 1);
    assert!(!calls[1].panicked);
    assert_eq!(int(&calls[1].args[0].1), 2);
    assert_eq!(calls[1].duration_ns, Some(250));
    let c = p.correlate_stats();
    assert_eq!((c.panicked, c.restarted_entries), (1, 0));
    assert_eq!(p.stats.records, 4);
}

/// A marker attachment on `function`, entry only, capturing nothing.
fn marker(id: u64, function: &str, m: Marker) -> Arc<Attachment> {
    let mut plan = plan(function, false);
    plan.entry.recipe.n_ops = 0;
    plan.entry.values.clear();
    Arc::new(Attachment {
        marker: Some(m),
        slot: 0,
        every_process: None,
        ..Arc::try_unwrap(attachment_of(id, plan)).ok().unwrap()
    })
}

#[test]
fn goexit_delivers_its_goroutines_open_calls_unfinished() {
    let mut p = pipeline();
    p.route(7, marker(3, "runtime.Goexit", Marker::Goexit), SITE_ENTRY);
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x400, 100, 1),
            record(3, SITE_ENTRY, 9, 0x500, 110, 2),
            record(1, SITE_ENTRY, 10, 0x400, 120, 3),
            // g calls runtime.Goexit on goroutine 9: f and g never return.
            record_with(7, SITE_ENTRY, 9, 0x600, 150, &[], |_| {}),
            // Goroutine 10's f is not concerned.
            record(2, SITE_RETURN, 10, 0x400, 400, 30),
        ],
    );
    let got: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                c.function.as_str(),
                c.goroutine,
                c.duration_ns,
                c.unfinished,
            )
        })
        .collect();
    let goexit = Some(Unfinished::Goexit);
    assert_eq!(
        got,
        [
            ("main.f", 9, None, goexit),
            ("main.g", 9, None, goexit),
            ("main.f", 10, Some(280), None)
        ]
    );
    assert!(calls.iter().all(|c| !c.panicked));
    assert_eq!(calls[1].ended_by_unix_nano, Some(1_150));
    assert_eq!(p.correlate_stats().unfinished, 2);
    assert_eq!(p.open_calls(), (0, None));
}

/// Each process's view of a file-wide attachment: its own origin, made
/// once per process.
struct Views(std::sync::Mutex<Vec<u32>>);

impl PerProcess for Views {
    fn process(&self, pid: u32) -> (Arc<Origin>, Arc<dyn Lookups>) {
        self.0.lock().unwrap().push(pid);
        let origin = Origin {
            pid,
            exe: format!("/bin/app-{pid}").into(),
            ..Origin::default()
        };
        (Arc::new(origin), Arc::new(NoNames))
    }
}

#[test]
fn a_file_wide_attachment_gives_each_process_its_own_calls() {
    let views = Arc::new(Views(Default::default()));
    let mut file_wide = Arc::into_inner(attachment(9, "main.f", false)).unwrap();
    file_wide.pid = 0;
    file_wide.every_process = Some(views.clone());
    let meta = Arc::new(file_wide);
    let mut p = Pipeline::new(16, 0);
    p.route(1, meta.clone(), SITE_ENTRY);
    p.route(2, meta, SITE_RETURN);
    let at = |pid: u32| move |ev: &mut RawEvent| ev.pid = pid;
    // Two processes in the same goroutine and frame: distinct calls.
    let calls = run(
        &mut p,
        &[
            record_with(1, SITE_ENTRY, 1, 64, 10, &[1], at(100)),
            record_with(1, SITE_ENTRY, 1, 64, 11, &[2], at(200)),
            record_with(2, SITE_RETURN, 1, 64, 20, &[10], at(200)),
            record_with(2, SITE_RETURN, 1, 64, 30, &[20], at(100)),
        ],
    );
    let seen: Vec<(u32, i64, i64, String)> = calls
        .iter()
        .map(|c| {
            let exe = c.origin.exe.display().to_string();
            (c.pid, int(&c.args[0].1), int(&c.returns[0].1), exe)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (200, 2, 10, "/bin/app-200".to_string()),
            (100, 1, 20, "/bin/app-100".to_string())
        ]
    );
    assert_eq!(*views.0.lock().unwrap(), [100, 200], "one view per process");
    assert_eq!(p.known_pids(), [100, 200]);

    // A process that ends hands back its open call, and its view goes.
    let mut out = Vec::new();
    p.handle(
        &record_with(1, SITE_ENTRY, 1, 64, 40, &[3], at(100)),
        &mut |c| out.push(c),
    );
    p.end_process(100, 50, &mut |c| out.push(c));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].pid, out[0].unfinished),
        (100, Some(Unfinished::ProcessEnded))
    );
    assert_eq!(p.known_pids(), [200]);
    // Released: its views go with it.
    p.unroute(1);
    assert!(!p.knows_process(200));
}

#[test]
fn an_exec_ends_the_calls_its_old_image_entered_and_no_later_one() {
    let mut p = pipeline();
    let mut out = Vec::new();
    // Entered at 10 by the old image, at 30 by the new one (read first).
    p.handle(&record(1, SITE_ENTRY, 1, 64, 10, 5), &mut |c| out.push(c));
    p.handle(&record(3, SITE_ENTRY, 2, 32, 30, 6), &mut |c| out.push(c));
    p.end_image(42, 20, &mut |c| out.push(c));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].function, "main.f");
    assert_eq!(out[0].unfinished, Some(Unfinished::ProcessEnded));
    // The new image's call returns as usual.
    p.handle(&record(4, SITE_RETURN, 2, 32, 40, 12), &mut |c| out.push(c));
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[1].function.as_str(), out[1].duration_ns),
        ("main.g", Some(10))
    );
    assert_eq!(p.open_calls().0, 0);
}

#[test]
fn both_versions_of_an_edited_probe_report_each_call_once() {
    // Attachment 1 (cookies 1/2) as the old version, 2 (3/4) as the new:
    // the same shape of call.
    let mut p = pipeline();
    p.cut_over(1, 2, 42, 100);
    let calls = run(
        &mut p,
        &[
            // Entered before the cut-over, seen by both: the old one's.
            record(1, SITE_ENTRY, 1, 64, 60, 1),
            record(3, SITE_ENTRY, 1, 64, 60, 1),
            record(2, SITE_RETURN, 1, 64, 150, 10),
            record(4, SITE_RETURN, 1, 64, 150, 10),
            // Entered after: the new one's.
            record(1, SITE_ENTRY, 2, 64, 120, 2),
            record(3, SITE_ENTRY, 2, 64, 120, 2),
            record(2, SITE_RETURN, 2, 64, 130, 20),
            record(4, SITE_RETURN, 2, 64, 130, 20),
        ],
    );
    let seen: Vec<(i64, u64)> = calls
        .iter()
        .map(|c| (int(&c.args[0].1), c.duration_ns.unwrap()))
        .collect();
    assert_eq!(seen, [(1, 90), (2, 10)]);
    assert_eq!(p.stats.superseded_records, 4);
    assert_eq!(p.correlate_stats().unmatched_returns, 0);
    // The old version retired: the new one is alone, returns without
    // their entry are unmatched again.
    p.forget_attachment(1);
    run(&mut p, &[record(4, SITE_RETURN, 3, 64, 200, 30)]);
    assert_eq!(p.correlate_stats().unmatched_returns, 1);
}

/// Which parent a call's span gets, from the app span its context carried
/// and its innermost open probed caller.
#[test]
fn trace_ids_join_the_app_span_unless_the_enclosing_call_hangs_under_it() {
    let (s1, s2) = ([1; 8], [2; 8]);
    let found = |span_id, flags| AppSpan::Found {
        trace_id: [9; 16],
        span_id,
        flags,
        remote: false,
    };
    // No enclosing call: under the app span, in the app's trace.
    let outer = trace_ids(Some(&found(s1, 1)), None);
    assert_eq!(outer.trace_id, [9; 16]);
    assert_eq!(outer.parent_span_id, Some(s1));
    assert_eq!(outer.joined, Some(s1));
    // The same app span as the enclosing call: under the enclosing call.
    let nested = trace_ids(Some(&found(s1, 1)), Some((&outer, false)));
    assert_eq!(nested.parent_span_id, Some(outer.span_id));
    assert_eq!((nested.trace_id, nested.joined), ([9; 16], Some(s1)));
    // A newer app span (started between the two): under it.
    let newer = trace_ids(Some(&found(s2, 1)), Some((&outer, false)));
    assert_eq!(newer.parent_span_id, Some(s2));
    // The enclosing call was filtered (never exported): under the app span.
    let past_filtered = trace_ids(Some(&found(s1, 1)), Some((&outer, true)));
    assert_eq!(past_filtered.parent_span_id, Some(s1));
    // No app span: under the enclosing call, else a new trace.
    let plain = trace_ids(Some(&AppSpan::None), Some((&outer, false)));
    assert_eq!(plain.parent_span_id, Some(outer.span_id));
    assert_eq!(plain.joined, Some(s1));
    let root = trace_ids(None, None);
    assert_eq!((root.parent_span_id, root.joined), (None, None));
    // An unsampled app span is not joined: the app exports none of it.
    let unsampled = trace_ids(Some(&found(s1, 0)), None);
    assert_eq!((unsampled.parent_span_id, unsampled.joined), (None, None));
    assert_ne!(unsampled.trace_id, [9; 16]);
}

#[path = "landing_tests.rs"]
mod landing;

/// Routes cookies 1 (its start) and 2 (its exits) to an inlined site of
/// `main.add` in `main.first`.
fn inlined_site() -> Pipeline {
    let mut p = Pipeline::new(16, 1_000);
    let mut site = plan("main.add", false);
    site.inlined_at = Some("main.first:40".into());
    let site = attachment_of(1, site);
    p.route(1, site.clone(), SITE_ENTRY);
    p.route(2, site, SITE_RETURN);
    p
}

/// An inlined site's exit is its caller's ordinary code: a hit there with
/// none of its calls open is not a return (not `unmatched_returns`), and
/// one with a call open ends that call, timed.
#[test]
fn an_inlined_sites_exit_ends_only_an_open_call() {
    let mut p = inlined_site();
    let calls = run(
        &mut p,
        &[
            record(2, SITE_RETURN, 9, 0x200, 4_000, 0),
            record(1, SITE_ENTRY, 9, 0x200, 5_000, 3),
            record(2, SITE_RETURN, 9, 0x200, 5_300, 0),
            record(2, SITE_RETURN, 9, 0x200, 6_000, 0),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].inlined_at.as_deref(), Some("main.first:40"));
    assert_eq!(calls[0].duration_ns, Some(300));
    assert_eq!(p.stats.inlined_exit_passes, 2);
    assert_eq!(p.correlate_stats(), CorrelateStats::default());
}

#[path = "arg_landing_tests.rs"]
mod arg_landing;

/// An inlined call whose exit record may have been lost is not ended by a
/// later pass through its exit (the caller's code reached another way):
/// its end went unobserved.
#[test]
fn an_inlined_exit_after_a_loss_does_not_end_the_stale_call() {
    let mut p = inlined_site();
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x200, 5_000, 3),
            record_with(2, SITE_RETURN, 9, 0x200, 900_000, &[0], |e| e.drop_seq = 1),
        ],
    );
    assert!(calls.is_empty(), "{calls:?}");
    assert_eq!(p.correlate_stats().unobserved, 1);
    assert_eq!(p.stats.inlined_exit_passes, 1);
}

/// An inlined call a recovered panic unwound is delivered as panicked when
/// the caller's next run passes its exit, never timed by that pass.
#[test]
fn an_inlined_exit_after_a_panic_delivers_the_call_unwound() {
    let mut p = inlined_site();
    p.route(7, marker(3, "runtime.gopanic", Marker::Panic), SITE_ENTRY);
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x200, 5_000, 3),
            record_with(7, SITE_ENTRY, 9, 0x300, 6_000, &[], |_| {}),
            record(2, SITE_RETURN, 9, 0x200, 900_000, 0),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].duration_ns, None);
    assert!(calls[0].panicked);
    assert_eq!(p.correlate_stats().panicked, 1);
}
