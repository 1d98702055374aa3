//! Calls held for their landing records: `main.h(x int64) float64`, whose
//! return reads only the return address (op 0) and whose float result
//! comes from landing site 0 (cookie 5) after the call site returning to
//! 0x5005; the site returning to 0x6006 keeps it in XMM.

use std::collections::HashMap;

use super::*;
use crate::plan::{LandingSite, Landings};
use crate::recipe::SITE_LANDING;

use super::super::landing::HOLD_NS;

const READABLE: u64 = 0x5005;
const IN_XMM: u64 = 0x6006;

fn float_site(site: u8, shape: Shape) -> SitePlan {
    let mut s = scalar_site(site, "r0");
    s.values[0].ty = "float64".into();
    s.values[0].shape = shape;
    s
}

fn pipeline() -> Pipeline {
    let mut plan = plan("main.h", false);
    plan.ret = float_site(SITE_RETURN, Shape::Unavailable("in X0".into()));
    let land = float_site(
        SITE_LANDING,
        Shape::Scalar {
            op: 0,
            kind: ScalarKind::Float,
            size: 8,
        },
    );
    plan.landings = Some(Arc::new(Landings {
        ret_addr_op: 0,
        sites: vec![LandingSite {
            offsets: vec![0x5008],
            site: land,
            results: vec![0],
        }],
        calls: HashMap::from([
            (READABLE, vec![(0, Ok(()))]),
            (IN_XMM, vec![(0, Err("kept in XMM".into()))]),
        ]),
        floats: vec![(0, "returned elsewhere".into())],
        report: Vec::new(),
    }));
    let h = attachment_of(1, plan);
    let mut p = Pipeline::new(16, 0);
    p.route(1, h.clone(), SITE_ENTRY);
    p.route(2, h.clone(), SITE_RETURN);
    p.route_landing(5, h, 0);
    p
}

/// Entry and return of a call on goroutine `goid` at frame 0x200,
/// returning to `to`.
fn call(goid: u64, ktime: u64, to: u64) -> [Vec<u8>; 2] {
    [
        record(1, SITE_ENTRY, goid, 0x200, ktime, 3),
        record(2, SITE_RETURN, goid, 0x200, ktime + 10, to as i64),
    ]
}

/// The landing record of goroutine `goid` (the caller's frame: 0x200 − 8).
fn landing(goid: u64, frame: u64, v: f64) -> Vec<u8> {
    record(5, SITE_LANDING, goid, frame, 1_000, v.to_bits() as i64)
}

fn r0(c: &Call) -> &GoValue {
    &c.returns[0].1
}

#[test]
fn a_landing_record_completes_the_call_it_follows() {
    let mut p = pipeline();
    let [e, r] = call(9, 100, READABLE);
    assert!(run(&mut p, &[e, r]).is_empty(), "held for its landing");
    let calls = run(&mut p, &[landing(9, 0x1f8, 2.5)]);
    assert_eq!(calls.len(), 1);
    assert!(matches!(r0(&calls[0]), GoValue::Float(f) if *f == 2.5));
    assert_eq!(calls[0].duration_ns, Some(10), "timed at its return");
    assert_eq!(p.landing_stats().landed, 1);
}

#[test]
fn a_call_site_that_keeps_it_in_xmm_or_an_unknown_one_says_so_at_once() {
    let mut p = pipeline();
    let mut records = call(9, 100, IN_XMM).to_vec();
    records.extend(call(9, 200, 0x7777));
    let calls = run(&mut p, &records);
    assert_eq!(calls.len(), 2);
    assert_eq!(r0(&calls[0]), &GoValue::Unavailable("kept in XMM".into()));
    assert_eq!(
        r0(&calls[1]),
        &GoValue::Unavailable("returned elsewhere".into())
    );
    // A landing record now has no call waiting.
    assert!(run(&mut p, &[landing(9, 0x1f8, 1.0)]).is_empty());
    assert_eq!(p.landing_stats().unmatched, 1);
}

#[test]
fn another_record_of_the_goroutine_releases_the_held_call_first() {
    let mut p = pipeline();
    let mut records = call(9, 100, READABLE).to_vec();
    // Another goroutine's landing, and one at another frame: not ours.
    records.push(landing(10, 0x1f8, 1.0));
    records.push(landing(9, 0x300, 1.0));
    records.extend(call(9, 300, IN_XMM));
    let calls = run(&mut p, &records);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let GoValue::Unavailable(why) = r0(&calls[0]) else {
        panic!("{calls:?}")
    };
    assert!(
        why.starts_with("in X0; its landing site was not reached"),
        "{why}"
    );
    assert_eq!(calls[0].duration_ns, Some(10));
    let s = p.landing_stats();
    assert_eq!((s.landed, s.missed, s.unmatched), (0, 1, 2));
}

#[test]
fn a_held_call_leaves_after_its_wait_or_with_its_process() {
    let mut p = pipeline();
    let [e, r] = call(9, 100, READABLE);
    run(&mut p, &[e, r]);
    let mut out = Vec::new();
    p.release_held(110 + HOLD_NS, &mut |c| out.push(c));
    assert!(out.is_empty(), "not yet");
    p.release_held(111 + HOLD_NS, &mut |c| out.push(c));
    assert_eq!(out.len(), 1);
    // Reading a backlog (now unknown): records of other goroutines 20 ms
    // younger say its landing record would have come.
    let [e, r] = call(11, 500, READABLE);
    run(&mut p, &[e, r]);
    let later = record(1, SITE_ENTRY, 12, 0x200, 511 + HOLD_NS, 3);
    run(
        &mut p,
        &[record(1, SITE_ENTRY, 12, 0x200, 510 + HOLD_NS, 3)],
    );
    p.release_held(0, &mut |c| out.push(c));
    assert_eq!(out.len(), 1, "not yet");
    run(&mut p, &[later]);
    p.release_held(0, &mut |c| out.push(c));
    assert_eq!(out.len(), 2);
    let [e, r] = call(13, 900, READABLE);
    run(&mut p, &[e, r]);
    p.end_process(42, 900, &mut |c| out.push(c));
    // The held call, and goroutine 12's open one, unfinished.
    assert_eq!(out.len(), 4);
    assert!(out[2].returns.len() == 1 && out[3].unfinished.is_some());
    assert_eq!(p.landing_stats().missed, 3);
}

/// A held call whose landing record was lost (the ring was full: the loss
/// stamp moved), then another landing record at the same frame (a later
/// call that sampling or the rate limit did not keep): not this call's
/// value. The call leaves unread, counted missed.
#[test]
fn a_landing_record_after_a_loss_is_not_taken_for_the_held_call() {
    let mut p = pipeline();
    let [e, r] = call(9, 100, READABLE);
    assert!(run(&mut p, &[e, r]).is_empty());
    let other = record_with(
        5,
        SITE_LANDING,
        9,
        0x1f8,
        5_000,
        &[7.0f64.to_bits() as i64],
        |ev| ev.drop_seq = 1,
    );
    assert!(run(&mut p, &[other]).is_empty());
    assert_eq!(p.landing_stats().unmatched, 1);
    let mut calls = Vec::new();
    p.release_held(u64::MAX, &mut |c| calls.push(c));
    assert_eq!(calls.len(), 1);
    assert!(
        matches!(r0(&calls[0]), GoValue::Unavailable(_)),
        "{:?}",
        r0(&calls[0])
    );
    assert_eq!((p.landing_stats().landed, p.landing_stats().missed), (0, 1));
}

/// Two probes on one float function (or both versions of an edited probe
/// during its cut-over): both return uprobes fire at the RET, then both
/// landing uprobes; each call gets its float.
#[test]
fn two_probes_on_one_function_each_get_the_float() {
    let mut p = pipeline();
    let (h, _) = p.routes.get(&1).unwrap().clone();
    let h2 = attachment_of(2, (*h.plan).clone());
    p.route(11, h2.clone(), SITE_ENTRY);
    p.route(12, h2.clone(), SITE_RETURN);
    p.route_landing(15, h2, 0);
    let bits = 2.5f64.to_bits() as i64;
    let calls = run(
        &mut p,
        &[
            record(1, SITE_ENTRY, 9, 0x200, 100, 3),
            record(11, SITE_ENTRY, 9, 0x200, 101, 3),
            record(2, SITE_RETURN, 9, 0x200, 110, READABLE as i64),
            record(12, SITE_RETURN, 9, 0x200, 111, READABLE as i64),
            record(5, SITE_LANDING, 9, 0x1f8, 120, bits),
            record(15, SITE_LANDING, 9, 0x1f8, 121, bits),
        ],
    );
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert!(
            matches!(r0(c), GoValue::Float(f) if *f == 2.5),
            "{:?}",
            r0(c)
        );
    }
    let s = p.landing_stats();
    assert_eq!((s.landed, s.missed, s.unmatched), (2, 0, 0));
}
