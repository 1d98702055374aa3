//! Float results read at landing sites (`golang::landing`): real uprobes on
//! `integration/floats`, whose call sites use a float64 or float32 result
//! through fmt, as raw bits, negated, converted, widened, compared and
//! passed on. Every float gotel prints must be exactly the one the program
//! itself printed; every other one unavailable, saying which call site
//! kept it in XMM. Needs root.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The program's own results: (function, n) → value, from its
/// `want fn:n:bits …` line (float32 bits widened exactly).
fn wanted(line: &str) -> HashMap<(String, i64), f64> {
    line.trim_start_matches("want ")
        .split(' ')
        .map(|w| {
            let mut it = w.split(':');
            let (f, n, bits) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let bits = u64::from_str_radix(bits, 16).unwrap();
            let v = match f {
                "third" => f64::from(f32::from_bits(bits as u32)),
                _ => f64::from_bits(bits),
            };
            ((format!("main.{f}"), n.parse().unwrap()), v)
        })
        .collect()
}

#[test]
fn float_results_are_the_programs_own() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "floats", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let pid = target.pid();
        let gotel = Gotel::run(
            &format!(
                "probes:
  - function: main.area
    target: {{ pid: {pid} }}
  - function: main.third
    target: {{ pid: {pid} }}
"
            ),
            2,
        );
        let stdin = target.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        let timeout = Duration::from_secs(20);
        let want = target
            .stdout
            .wait_for("want", timeout, |l| l.starts_with("want "));
        target.stdout.wait_for("done 1", timeout, |l| l == "done 1");
        std::thread::sleep(Duration::from_millis(300));
        let (all, _) = gotel.stop();
        let want = wanted(&want);

        let mut calls: Vec<&Value> = of(&all, "main.area");
        calls.extend(of(&all, "main.third"));
        calls.sort_by_key(|c| c["start_time_unix_nano"].as_u64());
        // The round's 9 calls, then the 9 of the printout.
        assert_eq!(calls.len(), 18, "{v}: {calls:?}");
        let mut read = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let f = c["function"].as_str().unwrap().to_string();
            let n = c["args"]["n"].as_i64().unwrap();
            let r0 = &c["returns"]["r0"];
            match r0.as_f64() {
                Some(x) => {
                    let w = want[&(f.clone(), n)];
                    assert_eq!(x.to_bits(), w.to_bits(), "{v}: {c}: want {w}");
                    read.push((i, f, n));
                }
                None => {
                    let why = r0["unavailable"].as_str().unwrap_or_default();
                    assert!(
                        why.contains("call site in main.") && why.contains("keeps it in XMM"),
                        "{v}: {c}"
                    );
                }
            }
        }
        // The printout's calls (math.Float*bits of the result in main's
        // loop: one call site per function): each function's are all read
        // or, where that toolchain's code keeps the value in XMM across
        // the next call (Go 1.21's `area` loop), all unavailable.
        for f in ["main.area", "main.third"] {
            let at: Vec<bool> = (9..18)
                .filter(|&i| calls[i]["function"] == f)
                .map(|i| read.iter().any(|r| r.0 == i))
                .collect();
            assert!(
                at.iter().all(|&r| r) || at.iter().all(|&r| !r),
                "{v}: {f}: {at:?}"
            );
        }
        let printout = read.iter().filter(|r| r.0 >= 9).count();
        eprintln!("{v}: the printout's float results read: {printout} of 9");
        // Go 1.21-1.23 park them in RDX (not an argument register, but
        // one a recipe reads): read on every toolchain.
        assert_eq!(printout, 9, "{v}: {calls:?}");
        // In the round: through fmt (convT64, convT32) and a movd to a
        // register, read; negated or passed on in X0, never.
        for (f, n) in [("main.area", 1), ("main.third", 6), ("main.third", 10)] {
            let got = read.iter().any(|r| r.0 < 9 && r.1 == f && r.2 == n);
            assert!(got, "{v}: {f}({n}) in the round: {calls:?}");
        }
        // Negated or passed on in X0: never readable.
        for (_, f, n) in read.iter().filter(|r| r.0 < 9) {
            assert!(f != "main.area" || ![3, 5].contains(n), "{v}: area({n})");
        }
        let round: Vec<_> = read
            .iter()
            .filter(|r| r.0 < 9)
            .map(|r| (&r.1, r.2))
            .collect();
        eprintln!("{v}: the round's float results read: {round:?} (of 9)");
    }
}

/// The program's own arguments, in call order: (function, n, name, value)
/// from its `args fn:n:name:bits …` line (float32 bits widened exactly).
fn passed(line: &str) -> Vec<(String, i64, String, f64)> {
    line.trim_start_matches("args ")
        .split(' ')
        .map(|w| {
            let mut it = w.rsplitn(4, ':');
            let (bits, name, n, f) = (
                it.next().unwrap(),
                it.next().unwrap(),
                it.next().unwrap(),
                it.next().unwrap(),
            );
            let bits = u64::from_str_radix(bits, 16).unwrap();
            // blend's w and Authorise's amount are the float32s.
            let v = match name {
                "w" | "amount" => f64::from(f32::from_bits(bits as u32)),
                _ => f64::from_bits(bits),
            };
            (format!("main.{f}"), n.parse().unwrap(), name.into(), v)
        })
        .collect()
}

#[test]
fn float_arguments_are_the_programs_own() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "floats", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let pid = target.pid();
        let fns = [
            "main.scale",
            "main.blend",
            "main.pick",
            "main.twice",
            "main.(*service).Authorise",
        ];
        let probes: String = fns
            .iter()
            .map(|f| format!("  - function: {f}\n    target: {{ pid: {pid} }}\n"))
            .collect();
        let gotel = Gotel::run(&format!("probes:\n{probes}"), fns.len());
        let stdin = target.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        let timeout = Duration::from_secs(20);
        let want = target
            .stdout
            .wait_for("args", timeout, |l| l.starts_with("args "));
        target.stdout.wait_for("done 1", timeout, |l| l == "done 1");
        std::thread::sleep(Duration::from_millis(300));
        let (all, logs) = gotel.stop();
        let want = passed(&want);

        let mut calls: Vec<&Value> = fns.iter().flat_map(|f| of(&all, f)).collect();
        calls.sort_by_key(|c| c["start_time_unix_nano"].as_u64());
        // scale ×2, blend ×2, pick ×2, twice ×2, Authorise ×3 (direct,
        // interface, method value).
        assert_eq!(calls.len(), 11, "{v}: {calls:?}");
        let mut authorise = calls
            .iter()
            .filter(|c| c["function"] == "main.(*service).Authorise");
        // (function, argument) → whether each of its calls was read.
        let mut by_arg: BTreeMap<(String, String), Vec<bool>> = BTreeMap::new();
        let (mut read, mut unread) = (Vec::new(), Vec::new());
        let mut missed = std::collections::HashSet::new();
        for (f, n, name, w) in &want {
            let c = match f.as_str() {
                "main.(*service).Authorise" => authorise.next().unwrap(),
                _ => calls
                    .iter()
                    .find(|c| c["function"] == f.as_str() && c["args"]["n"] == *n)
                    .unwrap_or_else(|| panic!("{v}: no call {f}({n})")),
            };
            let got = &c["args"][name.as_str()];
            let key = (f.clone(), name.clone());
            match got.as_f64() {
                Some(x) => {
                    assert_eq!(x.to_bits(), w.to_bits(), "{v}: {c}: {name} want {w}");
                    read.push(format!("{f}({n}).{name}"));
                    by_arg.entry(key).or_default().push(true);
                }
                None => {
                    let why = got["unavailable"].as_str().unwrap_or_default();
                    // Read nowhere in this binary (the plan's reason), or
                    // not on the path this call took.
                    let path = why.contains("argument in X")
                        && why.contains("this call's path kept it in XMM");
                    assert!(
                        path || why.contains("eBPF cannot read XMM registers"),
                        "{v}: {c}"
                    );
                    if path {
                        missed.insert(c["span_id"].as_str().unwrap().to_string());
                    }
                    unread.push(format!("{f}({n}).{name}: {why}"));
                    by_arg.entry(key).or_default().push(false);
                }
            }
        }
        // Every argument but pick's is moved out of XMM on every path or
        // on none: all its calls read (direct, through a func value, an
        // interface or a method value), or none.
        for ((f, name), at) in &by_arg {
            if f != "main.pick" {
                assert!(
                    at.iter().all(|&r| r) || at.iter().all(|&r| !r),
                    "{v}: {f}.{name}: {at:?}"
                );
            }
        }
        // scale's float64 before an int, blend's three floats (Go 1.21-1.23
        // park w in EDX) and Authorise's float32 through all three kinds
        // of call are read on every toolchain.
        for (f, name) in [
            ("main.scale", "x"),
            ("main.blend", "a"),
            ("main.blend", "b"),
            ("main.blend", "w"),
            ("main.(*service).Authorise", "amount"),
        ] {
            let at = &by_arg[&(f.to_string(), name.to_string())];
            assert!(at.iter().all(|&r| r), "{v}: {f}.{name}: {unread:?}");
        }
        // pick(5) moves x out of XMM before its call; pick(60) returns x*2
        // straight from XMM: never read, and says why.
        assert!(
            read.contains(&"main.pick(5).x".to_string()),
            "{v}: {unread:?}"
        );
        // twice(70) triples x in XMM, then both paths move it out at one
        // instruction: a probe there would read 3x, so neither call is read.
        assert!(
            !read.iter().any(|r| r.starts_with("main.twice")),
            "{v}: {read:?}"
        );
        assert!(
            unread.iter().any(|u| u.starts_with("main.pick(60).x: ")
                && u.contains("this call's path kept it in XMM")),
            "{v}: {unread:?}"
        );
        assert_eq!(
            stopped(&logs, "landed_float_args"),
            read.len() as u64,
            "{v}"
        );
        assert_eq!(
            stopped(&logs, "float_args_missed"),
            missed.len() as u64,
            "{v}"
        );
        assert_eq!(stopped(&logs, "landing_unmatched"), 0, "{v}");
        let none: Vec<_> = by_arg
            .iter()
            .filter(|(_, at)| at.iter().all(|&r| !r))
            .map(|(k, _)| format!("{}.{}", k.0, k.1))
            .collect();
        eprintln!("{v}: not read in this binary: {none:?}");
        eprintln!(
            "{v}: float arguments read: {} of {}",
            read.len(),
            want.len()
        );
    }
}
