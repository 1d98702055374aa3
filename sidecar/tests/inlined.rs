//! Inlined call sites (issue 14, part 2): every inlined instance of a
//! probed function is probed at its start, its calls marked inlined with
//! their caller and line, and the arguments DWARF locates there captured
//! exactly; the others `unavailable` with DWARF's reason, never guessed.

mod common;

use common::*;
use serde_json::{json, Value};

/// `integration/inl`'s line of the call marked `// site: NAME`.
fn site_line(name: &str) -> usize {
    let src = std::fs::read_to_string(repo().join("integration/inl/main.go")).unwrap();
    let mark = format!("// site: {name}");
    1 + src.lines().position(|l| l.ends_with(&mark)).unwrap()
}

/// The program's own printout of one call: function, caller, arguments.
fn printed(line: &str) -> (String, String, Vec<(String, String)>) {
    let mut words = line.split(' ').skip(1);
    let f = words.next().unwrap().to_string();
    let caller = words.next().unwrap().to_string();
    let args = words
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    (f, caller, args)
}

/// Whether gotel's value `got` of argument `name` is the printed `want`
/// (`it` is printed as the `N` it points at).
fn same(name: &str, got: &Value, want: &str) -> bool {
    match name {
        "s" | "label" => got == &json!(want),
        "n" => got["N"] == json!(want.parse::<i64>().unwrap()),
        _ => got == &json!(want.parse::<i64>().unwrap()),
    }
}

#[test]
fn every_call_at_every_inlined_site_is_seen_with_its_caller() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "inl", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let pid = target.pid();
        // main.add: its out-of-line copy and three inlined sites;
        // main.mark: three inlined sites (one in a loop), no copy.
        let gotel = Gotel::run(
            &format!(
                "probes:
  - function: main.add
    target: {{ pid: {pid} }}
  - function: main.mark
    target: {{ pid: {pid} }}
"
            ),
            7,
        );
        target.round(1);
        target.round(2);
        let (calls, _) = gotel.stop();
        let want: Vec<_> = target
            .stdout
            .seen
            .iter()
            .filter(|l| l.starts_with("call "))
            .map(|l| printed(l))
            .collect();
        assert_eq!(want.len(), 2 * (3 * 5 + 3 + 1), "{v}");
        let mut captured = std::collections::BTreeMap::<String, usize>::new();
        for (probe, sites) in [
            ("main.add", &["first", "second", "fifth", "out-of-line"][..]),
            ("main.mark", &["third", "fourth", "sixth"][..]),
        ] {
            let got = of(&calls, probe);
            let function = probe.strip_prefix("main.").unwrap();
            for site in sites {
                let printed: Vec<_> = want
                    .iter()
                    .filter(|(f, c, _)| f == function && c.ends_with(site))
                    .collect();
                let seen: Vec<&&Value> = got
                    .iter()
                    .filter(|c| match *site {
                        "out-of-line" => c.get("inlined").is_none(),
                        _ => c["inlined_at"] == json!(format!("main.{site}:{}", site_line(site))),
                    })
                    .collect();
                assert_eq!(
                    seen.len(),
                    printed.len(),
                    "{v} {probe} at {site}: {calls:#?}"
                );
                for (c, (_, _, args)) in seen.iter().zip(&printed) {
                    assert_eq!(c["function"], json!(probe), "{v}");
                    if *site == "out-of-line" {
                        assert!(c["duration_ns"].is_u64(), "{v} {c}");
                    } else {
                        assert_eq!(c["inlined"], json!(true), "{v} {c}");
                        // Timed from its start to its exit (every site of
                        // this program has exits gotel can pair); its
                        // results are said unavailable, never `{}`.
                        assert!(c["duration_ns"].as_u64().is_some_and(|d| d > 0), "{v} {c}");
                        assert!(
                            c["returns"]["unavailable"]
                                .as_str()
                                .is_some_and(|w| w.contains("inlined call's results")),
                            "{v} {c}"
                        );
                    }
                    for (name, want) in args {
                        let key = if name == "n" { "it" } else { name.as_str() };
                        let got = &c["args"][key];
                        if let Some(why) = got.get("unavailable") {
                            // Never a guess: DWARF's reason for this site.
                            assert!(
                                why.as_str().is_some_and(|w| w.contains("inlined site")),
                                "{v} {probe} at {site}: {key} {why}"
                            );
                            assert_ne!(*site, "out-of-line", "{v} {c}");
                        } else {
                            assert!(
                                same(name, got, want),
                                "{v} {probe} at {site}: {key}={got}, printed {want}"
                            );
                            if *site != "out-of-line" {
                                *captured.entry(format!("{site}.{key}")).or_default() += 1;
                            }
                        }
                    }
                }
            }
        }
        eprintln!("{v}: captured at inlined sites: {captured:?}");
        // Located on every toolchain of the matrix (Go 1.19–1.27): a string
        // in the caller's frame (SP + its pcsp delta + 8 + DWARF's offset),
        // and a pointer in a register, followed to what it points at.
        for key in [
            "first.s",
            "second.s",
            "third.label",
            "fourth.label",
            "fifth.it",
        ] {
            assert_eq!(captured.get(key), Some(&6), "{v}: {key} in {captured:?}");
        }
    }
}

/// `gotel check` lists each inlined site (caller:line) and, per argument,
/// captured or unavailable and why; `gotel functions` no longer calls an
/// inlined-only function untraceable.
#[test]
fn check_lists_each_inlined_site_and_its_arguments() {
    for tc in toolchains() {
        let v = &tc.version;
        let bin = build(&tc, "inl", "e2e", &[]);
        let out = check(
            &bin,
            "probes:\n  - function: main.add\n    target: { exe: inl }\n  - function: main.mark\n    target: { exe: inl }\n",
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{v}: {text}");
        assert!(
            text.contains("main.add is also inlined at 3 call site(s); 3 probed at their start"),
            "{v}: {text}"
        );
        for (f, site, args) in [
            ("main.add", "first", &["a", "s", "it"][..]),
            ("main.add", "second", &["a", "s", "it"][..]),
            ("main.add", "fifth", &["a", "s", "it"][..]),
            ("main.mark", "third", &["id", "label"][..]),
            ("main.mark", "fourth", &["id", "label"][..]),
            ("main.mark", "sixth", &["id", "label"][..]),
        ] {
            let head = format!(
                "  inlined site: {f} inlined in main.{site}:{}, ",
                site_line(site)
            );
            let timed = text
                .lines()
                .find(|l| l.starts_with(&head))
                .is_some_and(|l| l.ends_with(": timed by 1 exit(s); no results"));
            assert!(timed, "{v}: {site}: {text}");
            let at = text
                .find(&head)
                .unwrap_or_else(|| panic!("{v}: no {head:?} in {text}"));
            let lines: Vec<&str> = text[at..].lines().skip(1).take(args.len()).collect();
            for (line, arg) in lines.iter().zip(args) {
                let words: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(&words[..2], &["arg", arg], "{v}: {line}");
                assert!(
                    line.ends_with("captured") || line.contains("unavailable: "),
                    "{v}: {line}"
                );
            }
        }
        let listed = gotel(&["functions", bin.to_str().unwrap(), "main.mark"]);
        let listed = text_of(&listed);
        assert!(
            listed.contains("main.mark  // inlined at 3 site(s) only: probed at their start"),
            "{v}: {listed}"
        );
    }
}

/// `inlined: false` leaves the inlined sites alone: the copy only, with the
/// old note, and a function inlined everywhere is refused as before.
#[test]
fn inlined_false_probes_the_out_of_line_copy_only() {
    let tc = newest_toolchain();
    let bin = build(&tc, "inl", "e2e", &[]);
    let out = check(
        &bin,
        "probes:\n  - function: main.add\n    inlined: false\n    target: { exe: inl }\n  - function: main.mark\n    inlined: false\n    target: { exe: inl }\n",
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains("inlined site:"), "{text}");
    assert!(
        text.contains("main.add is also inlined at 3 call site(s); calls there are not seen"),
        "{text}"
    );
    assert!(
        text.contains("function main.mark is inlined at 3 call site(s)"),
        "{text}"
    );
}

fn text_of(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
