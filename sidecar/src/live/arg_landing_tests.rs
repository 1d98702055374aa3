//! Float arguments joined from their callee's landing records:
//! `main.g(x float64)`, whose entry cannot read x (X0) and whose landing
//! site (cookie 5) reads it 0x28 below the entry's SP.

use super::*;
use crate::plan::{ArgLandings, ArgRead, ArgSite};
use crate::recipe::SITE_LANDING;

const DELTA: u64 = 0x28;

/// What a returned call shows when its path kept x in XMM.
fn kept() -> GoValue {
    GoValue::Unavailable(
        "float64 argument in X0: this call's path kept it in XMM (it returns)".into(),
    )
}

fn pipeline() -> Pipeline {
    let mut plan = plan("main.g", false);
    plan.entry.values[0].ty = "float64".into();
    plan.entry.values[0].shape = Shape::Unavailable("in X0".into());
    let mut land = scalar_site(SITE_LANDING, "x");
    land.values[0].ty = "float64".into();
    land.values[0].shape = Shape::Scalar {
        op: 0,
        kind: ScalarKind::Float,
        size: 8,
    };
    plan.arg_landings = Some(Arc::new(ArgLandings {
        sites: vec![ArgSite {
            offsets: vec![0x1010],
            site: land,
            args: vec![0],
            delta: DELTA,
        }],
        args: vec![ArgRead {
            index: 0,
            what: "float64 argument in X0".into(),
            kept: Some("it returns".into()),
        }],
        report: Vec::new(),
    }));
    let g = attachment_of(1, plan);
    let mut p = Pipeline::new(16, 0);
    p.route(1, g.clone(), SITE_ENTRY);
    p.route(2, g.clone(), SITE_RETURN);
    p.route_arg_landing(5, g, 0);
    p
}

fn entry(goid: u64, frame: u64, ktime: u64) -> Vec<u8> {
    record(1, SITE_ENTRY, goid, frame, ktime, 0)
}

fn ret(goid: u64, frame: u64, ktime: u64) -> Vec<u8> {
    record(2, SITE_RETURN, goid, frame, ktime, 0)
}

/// The landing record of the call entered at `frame`.
fn landing(goid: u64, frame: u64, v: f64) -> Vec<u8> {
    record(5, SITE_LANDING, goid, frame + DELTA, 50, v.to_bits() as i64)
}

fn x(c: &Call) -> &GoValue {
    &c.args[0].1
}

#[test]
fn the_landing_record_fills_the_argument_of_the_call_at_its_frame() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            landing(9, 0x200, -2.5),
            ret(9, 0x200, 90),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(x(&calls[0]), &GoValue::Float(-2.5));
    assert_eq!(calls[0].duration_ns, Some(80));
    assert_eq!(p.landing_stats().args_landed, 1);
    assert_eq!(p.landing_stats().args_missed, 0);
}

#[test]
fn recursion_each_call_gets_its_own() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            landing(9, 0x200, 1.0),
            entry(9, 0x300, 20),
            landing(9, 0x300, 2.0),
            ret(9, 0x300, 30),
            ret(9, 0x200, 40),
        ],
    );
    let got: Vec<&GoValue> = calls.iter().map(x).collect();
    assert_eq!(got, [&GoValue::Float(2.0), &GoValue::Float(1.0)]);
}

#[test]
fn a_call_whose_record_never_came_says_why_and_is_counted() {
    let mut p = pipeline();
    // Another goroutine's record, and one at no open call's frame.
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            landing(10, 0x200, 1.0),
            landing(9, 0x208, 1.0),
            ret(9, 0x200, 90),
        ],
    );
    assert_eq!(x(&calls[0]), &kept());
    let s = p.landing_stats();
    assert_eq!((s.args_landed, s.args_missed, s.unmatched), (0, 1, 2));
}

#[test]
fn the_first_record_wins_and_one_after_lost_records_is_not_taken() {
    let mut p = pipeline();
    // A loop passing the landing site again reads something else then.
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            landing(9, 0x200, 1.0),
            landing(9, 0x200, 7.0),
            ret(9, 0x200, 90),
        ],
    );
    assert_eq!(x(&calls[0]), &GoValue::Float(1.0));
    assert_eq!(p.landing_stats().unmatched, 1);
    // Records lost since the entry: this landing may be a later call's.
    let lost = record_with(5, SITE_LANDING, 9, 0x200 + DELTA, 50, &[3], |ev| {
        ev.drop_seq = 1
    });
    let ret = record_with(2, SITE_RETURN, 9, 0x200, 190, &[0], |ev| ev.drop_seq = 1);
    let calls = run(&mut p, &[entry(9, 0x200, 100), lost, ret]);
    let GoValue::Unavailable(why) = x(&calls[0]) else {
        panic!("{calls:?}")
    };
    assert!(why.contains("may have been lost"), "{why}");
    assert_eq!(p.landing_stats().unmatched, 2);
}

#[test]
fn a_restarted_prologue_keeps_the_call_waiting() {
    let mut p = pipeline();
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            entry(9, 0x200, 20),
            landing(9, 0x200, 4.0),
            ret(9, 0x200, 90),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(x(&calls[0]), &GoValue::Float(4.0));
}

#[test]
fn when_return_sees_the_landed_argument() {
    let mut p = Pipeline::new(16, 0);
    let mut plan = (*pipeline().routes[&1].0.plan).clone();
    let c = crate::condition::Condition::parse("x > 0").unwrap();
    plan.when_return = Some(Arc::new(c));
    let g = attachment_of(1, plan);
    p.route(1, g.clone(), SITE_ENTRY);
    p.route(2, g.clone(), SITE_RETURN);
    p.route_arg_landing(5, g, 0);
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            landing(9, 0x200, -1.0),
            ret(9, 0x200, 20),
            entry(9, 0x200, 30),
            landing(9, 0x200, 1.0),
            ret(9, 0x200, 40),
            // Never landed: unknown, so kept.
            entry(9, 0x200, 50),
            ret(9, 0x200, 60),
        ],
    );
    let got: Vec<&GoValue> = calls.iter().map(x).collect();
    assert_eq!(got, [&GoValue::Float(1.0), &kept()]);
    assert_eq!(p.stats.filtered, 1);
}

#[test]
fn a_call_that_did_not_return_says_so() {
    let mut p = pipeline();
    let mut out = Vec::new();
    p.handle(&entry(9, 0x200, 10), &mut |c| out.push(c));
    p.end_process(42, 99, &mut |c| out.push(c));
    let GoValue::Unavailable(why) = x(&out[0]) else {
        panic!("{out:?}")
    };
    assert!(
        why.starts_with("float64 argument in X0: not read before the call ended"),
        "{why}"
    );
    assert_eq!(p.landing_stats().args_missed, 1);
}

/// A landing record at the frame of a call a recovered panic left open is
/// not that call's (it may be a later call's, one the kernel did not
/// keep): the stale call keeps its argument unavailable.
#[test]
fn a_landing_after_a_panic_does_not_fill_the_stale_call() {
    let mut p = pipeline();
    p.route(
        7,
        super::marker(3, "runtime.gopanic", Marker::Panic),
        SITE_ENTRY,
    );
    let calls = run(
        &mut p,
        &[
            entry(9, 0x200, 10),
            super::record_with(7, SITE_ENTRY, 9, 0x300, 6_000, &[], |_| {}),
            landing(9, 0x200, 7.0),
            entry(9, 0x100, 100),
        ],
    );
    assert_eq!(calls.len(), 1);
    assert_ne!(x(&calls[0]), &GoValue::Float(7.0));
    assert_eq!(p.landing_stats().unmatched, 1);
}
