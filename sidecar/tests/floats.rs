//! Float results read at landing sites (`golang::landing`): real uprobes on
//! `integration/floats`, whose call sites use a float64 or float32 result
//! through fmt, as raw bits, negated, converted, widened, compared and
//! passed on. Every float gotel prints must be exactly the one the program
//! itself printed; every other one unavailable, saying which call site
//! kept it in XMM. Needs root.

mod common;

use std::collections::HashMap;
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
