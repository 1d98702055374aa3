//! End-to-end: real Go programs, real uprobes, the real `gotel` binary.
//! Every test runs against every toolchain in `GOTEL_GO_TOOLCHAINS`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The walkthrough: computeE's iterations, result and latency for each
/// request, with wall-clock start times inside the request window.
#[test]
fn demo_compute_e() {
    for tc in toolchains() {
        let target = Target::demo(&tc, "e2e", &[]);
        let addr = target.addr();
        let pid = target.pid();
        let gotel = Gotel::run(
            &format!(
                "probes:
  - function: main.computeE
    target: {{ pid: {pid} }}
  - function: main.handleE
    args: [r.Method, r.URL.Path, r.URL.RawQuery]
    target: {{ pid: {pid} }}
"
            ),
            2,
        );
        let mut windows = Vec::new();
        let mut printed = Vec::new();
        for q in ["/e?iters=2", "/e?iters=200", "/e"] {
            let before = now_ns();
            let body = http_get(&addr, q);
            windows.push((before, now_ns()));
            let e = body.split("e = ").nth(1).map(str::trim);
            printed.push(e.unwrap_or_else(|| panic!("{body}")).to_string());
        }
        std::thread::sleep(Duration::from_millis(300));
        let (all, _) = gotel.stop();
        // The handler's view, through *http.Request and *url.URL.
        let handlers = of(&all, "main.handleE");
        let queries: Vec<_> = handlers.iter().map(|c| c["args"].clone()).collect();
        assert_eq!(
            queries,
            vec![
                json!({"r.Method": "GET", "r.URL.Path": "/e", "r.URL.RawQuery": "iters=2"}),
                json!({"r.Method": "GET", "r.URL.Path": "/e", "r.URL.RawQuery": "iters=200"}),
                json!({"r.Method": "GET", "r.URL.Path": "/e", "r.URL.RawQuery": ""}),
            ],
            "{}",
            tc.version
        );
        let calls: Vec<Value> = of(&all, "main.computeE").into_iter().cloned().collect();
        assert_eq!(calls.len(), 3, "{}: {calls:?}", tc.version);
        for (((c, want), (before, after)), printed) in
            calls.iter().zip([2, 200, 100]).zip(windows).zip(&printed)
        {
            assert_eq!(c["function"], "main.computeE");
            assert_eq!(c["probe"], "main.computeE");
            assert_eq!(c["pid"], target.pid());
            assert_eq!(c["args"], json!({ "iterations": want }), "{}", tc.version);
            // Read at handleE's landing site, after the call: exactly
            // the float the program computed and printed.
            let r0 = c["returns"]["r0"].as_f64().unwrap_or_else(|| panic!("{c}"));
            assert_eq!(r0, compute_e(want), "{}: {c}", tc.version);
            assert_eq!(&format!("{r0:.10}"), printed, "{}", tc.version);
            let start = c["start_time_unix_nano"].as_u64().unwrap();
            let dur = c["duration_ns"].as_u64().unwrap();
            assert!(dur > 0 && dur < 1_000_000_000, "{c}");
            // Correct to the millisecond: inside the request's window.
            assert!(
                start + 1_000_000 >= before && start + dur <= after + 1_000_000,
                "{c} not in [{before}, {after}]"
            );
            assert!(c["goroutine"].as_u64().unwrap() > 0);
            assert!(c["tid"].as_u64().unwrap() > 0);
        }
    }
}

fn sigs_config(pid: u32) -> String {
    let p =
        |f: &str, extra: &str| format!("  - function: {f}\n    target: {{ pid: {pid} }}\n{extra}");
    [
        "probes:\n".to_string(),
        p("main.ints", ""),
        p("flip", ""),
        p("main.greet", ""),
        p(
            "main.greet",
            "    name: greet_short\n    max_string_len: 10\n    args: [name]\n",
        ),
        p("main.many", ""),
        p("main.mixed", ""),
        p("main.deep", ""),
        p("main.deep", "    name: deep_too\n    args: [n]\n"),
        p(
            "main.deep",
            "    name: deep_entry\n    args: [n]\n    returns: false\n    latency: false\n",
        ),
        p("(*Counter).Add", ""),
        p("Counter.Peek", ""),
        p("main.blank", ""),
        p("main.fail", ""),
        p("main.show", ""),
        p("main.refs", ""),
        p("main.slices", ""),
        p("main.handle", ""),
        p("main.explode", ""),
        p("main.guard", ""),
    ]
    .concat()
}

/// Exact values for every signature shape the skeleton supports, twice.
#[test]
fn sigs_exact_values() {
    for tc in toolchains() {
        let bin = build(&tc, "sigs", "e2e", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let gotel = Gotel::run(&sigs_config(target.pid()), 19);
        target.round(1);
        target.round(2);
        std::thread::sleep(Duration::from_millis(300));
        let (calls, logs) = gotel.stop();
        let v = &tc.version;

        // mixed's two unreadable floats: one warning line, not one each.
        let warned: Vec<&String> = logs
            .iter()
            .filter(|l| l.contains("\"probe\":\"main.mixed\"") && l.contains("XMM"))
            .collect();
        assert_eq!(warned.len(), 1, "{v}: {warned:?}");
        let w: Value = serde_json::from_str(warned[0]).unwrap();
        assert_eq!(w["warnings"], 2, "{v}: {w}");
        assert_eq!(
            w["message"],
            "f: float64 passed in register X0; eBPF cannot read XMM registers (and 1 more; `gotel check` lists them)",
            "{v}"
        );

        let ints = of(&calls, "main.ints");
        assert_eq!(ints.len(), 2, "{v}");
        assert_eq!(
            ints[0]["args"],
            json!({"a": -8, "b": -1600, "c": -320000, "d": -6400000000i64, "e": 200, "f": 60000,
                   "g": 4000000000u64, "h": 18000000000000000000u64, "i": -42}),
            "{v}"
        );
        // The sum wraps in int64 exactly as Go computes it.
        let want: i64 = [
            -8i64,
            -1600,
            -320000,
            -6400000000,
            200,
            60000,
            4000000000,
            18000000000000000000u64 as i64,
            -42,
        ]
        .iter()
        .fold(0i64, |a, b| a.wrapping_add(*b));
        assert_eq!(ints[0]["returns"], json!({ "r0": want }), "{v}");

        let flip = of(&calls, "flip");
        assert_eq!(flip.len(), 2);
        assert_eq!(flip[0]["function"], "main.flip");
        assert_eq!(flip[0]["args"], json!({"b": true}));
        assert_eq!(flip[0]["returns"], json!({"r0": false}));

        let name = "a name longer than twenty-three bytes";
        let greet = of(&calls, "main.greet");
        assert_eq!(greet.len(), 2);
        assert_eq!(greet[0]["args"], json!({"name": name, "times": 3}), "{v}");
        assert_eq!(
            greet[0]["returns"],
            json!({"r0": format!("hello, {name}"), "r1": name.len() * 3}),
            "{v}"
        );
        let short = of(&calls, "greet_short");
        assert_eq!(short.len(), 2);
        assert_eq!(
            short[0]["args"],
            json!({"name": {"string": &name[..10], "truncated": true, "length": name.len()}}),
            "{v}"
        );
        assert_eq!(short[0]["returns"]["r0"]["string"], "hello, a n");

        // Arguments 10 and 11 and the result live on the stack.
        let many = of(&calls, "main.many");
        assert_eq!(many.len(), 2);
        let args: BTreeMap<String, i64> = (1..=11).map(|i| (format!("a{i}"), i)).collect();
        assert_eq!(many[0]["args"], serde_json::to_value(args).unwrap(), "{v}");
        assert_eq!(many[0]["returns"], json!({"r0": 66}), "{v}");

        let mixed = of(&calls, "main.mixed");
        assert_eq!(mixed.len(), 2);
        assert_eq!(mixed[0]["args"]["x"], 3);
        assert_eq!(mixed[0]["args"]["s"], "x");
        assert!(
            mixed[0]["args"]["f"]["unavailable"]
                .as_str()
                .unwrap()
                .contains("X0"),
            "{}",
            mixed[0]
        );
        assert!(mixed[0]["returns"]["r0"]["unavailable"].is_string());
        assert_eq!(mixed[0]["returns"]["r1"], Value::Null, "nil error");

        let add = of(&calls, "(*Counter).Add");
        assert_eq!(add.len(), 2);
        assert_eq!(add[0]["function"], "main.(*Counter).Add");
        assert_eq!(add[0]["args"]["d"], 5);
        // A pointer argument shows what it points to (at entry: before +5).
        assert_eq!(add[0]["args"]["c"], json!({"total": 0}), "{v}");
        assert_eq!(add[1]["args"]["c"], json!({"total": 5}), "{v}");
        assert_eq!(add[0]["returns"]["r0"], 5);
        assert_eq!(add[1]["returns"]["r0"], 10);

        // An unnamed value receiver is restored from the symbol name, so x is
        // read from RBX, not RAX.
        let peek = of(&calls, "Counter.Peek");
        assert_eq!(peek.len(), 2);
        assert_eq!(peek[0]["function"], "main.Counter.Peek");
        assert_eq!(peek[0]["args"], json!({"~p0": {"total": 5}, "x": 9}), "{v}");
        assert_eq!(peek[1]["args"]["~p0"], json!({"total": 10}), "{v}");
        assert_eq!(peek[0]["returns"], json!({"r0": 18}));

        // A blank parameter: named ~p0 by Go ≥ 1.22; absent from older DWARF,
        // where gotel refuses the arguments rather than shift them.
        let blank = of(&calls, "main.blank");
        assert_eq!(blank.len(), 2);
        assert_eq!(blank[0]["returns"], json!({"r0": "kept!"}), "{v}");
        if v.as_str() >= "go1.22" {
            assert_eq!(blank[0]["args"], json!({"~p0": 7, "s": "kept"}), "{v}");
        } else {
            let why = blank[0]["args"]["s"]["unavailable"]
                .as_str()
                .unwrap_or_else(|| panic!("{}", blank[0]));
            assert!(why.contains("DWARF and the register ABI disagree"), "{why}");
        }

        // Errors: nil, the message of errors.New, of fmt.Errorf("%w") and
        // of a *strconv.NumError.
        let fail = of(&calls, "main.fail");
        assert_eq!(fail.len(), 8, "{v}");
        assert_eq!(fail[0]["returns"], json!({"r0": 0, "r1": null}), "{v}");
        assert_eq!(
            fail[1]["returns"]["r1"], "boom: a message longer than twenty-three bytes",
            "{v}"
        );
        assert_eq!(fail[2]["returns"]["r1"], "wrapped: inner", "{v}");
        assert_eq!(
            fail[3]["returns"]["r1"], "strconv.Atoi: parsing \"x\": invalid syntax",
            "{v}"
        );
        let show = of(&calls, "main.show");
        assert_eq!(show.len(), 4);
        assert_eq!(
            show[0]["args"]["v"],
            json!({"type": "int", "value": 42}),
            "{v}"
        );
        assert_eq!(show[1]["args"]["v"], Value::Null);

        // Maps by count and entries (nm's entries would crowd the values
        // after it out of the site's 16 captures, so only m gets them),
        // chans by len/cap, funcs by the function they run.
        let refs = of(&calls, "main.refs");
        assert_eq!(refs.len(), 2, "{v}");
        assert_eq!(
            refs[0]["args"],
            json!({"m": {"len": 3, "entries": {"a": 1, "b": 2, "c": 3}},
                   "ch": {"len": 1, "cap": 4}, "f": "main.double",
                   "nm": null, "nc": null, "nf": null}),
            "{v}"
        );
        assert_eq!(refs[0]["returns"], json!({"r0": 6}));

        // Slices: elements decoded by type, []byte as text or hex, a
        // truncated slice flagged with its length and capacity.
        let sl = of(&calls, "main.slices");
        assert_eq!(sl.len(), 2, "{v}");
        let big: Vec<u64> = (0..16).map(|i| i * 1000).collect();
        assert_eq!(
            sl[0]["args"],
            json!({
                "ints": [1, -2, 3],
                "bs": "hello",
                "raw": {"hex": "0001ff"},
                "pts": [{"X": 1, "Y": 2}, {"X": 3, "Y": 4}],
                "names": ["a", "b"],
                "big": {"elements": big, "truncated": true, "length": 20, "cap": 20},
                "empty": [],
            }),
            "{v}"
        );

        // A whole *Request: its fields, pointers inside followed too (a
        // nil one is null).
        let h = of(&calls, "main.handle");
        assert_eq!(h.len(), 2, "{v}");
        let r = &h[0]["args"]["r"];
        assert_eq!(r["Method"], "GET", "{v}: {r}");
        assert_eq!(
            r["URL"],
            json!({"Scheme": "https", "Host": "example.com", "Path": "/api/v1/items", "Port": 8443}),
            "{v}: {r}"
        );
        assert_eq!(r["Body"], Value::Null);
        assert_eq!(r["Depth"], 3);
        assert_eq!(r["Ports"], json!([80, 443]));
        assert_eq!(h[0]["args"]["tag"], "t");

        // A recovered panic: explode(1) never returns; guard's return proves
        // it was unwound, so it is reported as panicked, with no made-up
        // duration or result, right before guard's own line.
        let ex = of(&calls, "main.explode");
        assert_eq!(ex.len(), 4, "{v}");
        assert_eq!(ex[0]["args"], json!({"n": 0}));
        assert_eq!(ex[0]["returns"], json!({"r0": 0}));
        assert!(ex[0].get("panicked").is_none());
        assert_eq!(ex[1]["args"], json!({"n": 1}));
        assert_eq!(ex[1]["panicked"], true, "{v}: {}", ex[1]);
        assert_eq!(ex[1]["duration_ns"], Value::Null);
        assert_eq!(ex[1]["returns"], json!({}));
        let gd = of(&calls, "main.guard");
        assert_eq!(gd.len(), 4, "{v}");
        assert_eq!(gd[1]["args"], json!({"n": 1}));
        assert_eq!(gd[1]["returns"], json!({"r": -1}), "{v}");
        let pos = |c: &Value| calls.iter().position(|x| x == c).unwrap();
        assert_eq!(pos(ex[1]) + 1, pos(gd[1]), "{v}");

        // Recursion 40 levels deep on a fresh goroutine with 512-byte
        // frames: the stack is copied several times mid-call. Exactly one
        // event per call, each paired with its own result n(n+1)/2.
        let deep = of(&calls, "main.deep");
        assert_eq!(deep.len(), 82, "{v}: 41 calls per round");
        for round in deep.chunks(41) {
            let g = &round[0]["goroutine"];
            let mut seen: Vec<i64> = round
                .iter()
                .map(|c| {
                    assert_eq!(&c["goroutine"], g);
                    let n = c["args"]["n"].as_i64().unwrap();
                    assert_eq!(
                        c["returns"]["r0"].as_i64().unwrap(),
                        n * (n + 1) / 2,
                        "{v}: {c}"
                    );
                    n
                })
                .collect();
            // Innermost returns first.
            assert_eq!(seen[0], 0);
            seen.sort();
            assert_eq!(seen, (0..=40).collect::<Vec<_>>(), "{v}");
        }
        // Nested calls end inside their callers.
        for w in deep[..41].windows(2) {
            let (inner, outer) = (w[0], w[1]);
            let ie = inner["start_time_unix_nano"].as_u64().unwrap()
                + inner["duration_ns"].as_u64().unwrap();
            let oe = outer["start_time_unix_nano"].as_u64().unwrap()
                + outer["duration_ns"].as_u64().unwrap();
            assert!(ie <= oe, "{v}");
        }
        // A second probe on deep: its entries at each restarted prologue
        // interleave with the first probe's, and still make one call each.
        let too = of(&calls, "deep_too");
        assert_eq!(too.len(), 82, "{v}: 41 calls per round");
        assert!(too.iter().all(|c| c.get("panicked").is_none()), "{v}");
        // An entry-only probe has no return to pair with: the kernel drops
        // the entry run again (noted right after the call to morestack).
        let entered: Vec<i64> = of(&calls, "deep_entry")
            .iter()
            .map(|c| c["args"]["n"].as_i64().unwrap())
            .collect();
        let once: Vec<i64> = (0..=40).rev().chain((0..=40).rev()).collect();
        assert_eq!(entered, once, "{v}");
        let stopped = stopped_record(&logs);
        assert_eq!(stopped["dropped"], 0);
        assert_eq!(stopped["unmatched_returns"], 0, "{v}");
        // Both entry probes did fire twice for calls whose prologue ran
        // runtime.morestack (the stack really grew), and each was counted once.
        assert!(
            stopped["restarted_entries"].as_u64().unwrap() >= 4,
            "{v}: {stopped}"
        );
        assert_eq!(stopped["panicked"], 2, "{v}: {stopped}");
    }
}

/// gotel started before its target waits for it, says so, then attaches.
#[test]
fn waits_for_a_target_that_starts_later() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "late_starter", &[]);
    let mut gotel = Gotel::run(
        "probes:\n  - function: main.flip\n    target: { exe: sigs-late_starter }\n",
        0,
    );
    let w = gotel.wait_log("waiting for a matching process", Duration::from_secs(10));
    assert_eq!(w["selector"], "exe sigs-late_starter");
    let mut target = Target::start(&bin, &[], "ready");
    let a = gotel.wait_log("attached", Duration::from_secs(10));
    assert_eq!(a["pid"], target.pid());
    target.round(1);
    std::thread::sleep(Duration::from_millis(200));
    let (calls, _) = gotel.stop();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["args"]["b"], true);
}

/// One bad probe is reported and the others still attach.
#[test]
fn a_bad_probe_does_not_stop_the_others() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "bad_probe", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let pid = target.pid();
    let mut gotel = Gotel::run(
        &format!(
            "probes:\n  - function: main.flipp\n    target: {{ pid: {pid} }}\n  - function: main.flip\n    target: {{ pid: {pid} }}\n"
        ),
        0,
    );
    let warn = gotel.wait_log("cannot attach", Duration::from_secs(10));
    assert_eq!(warn["probe"], "main.flipp");
    assert_eq!(
        warn["message"],
        format!(
            "cannot attach: no function main.flipp in /proc/{pid}/exe; did you mean main.flip?"
        )
    );
    gotel.wait_log("attached", Duration::from_secs(10));
    target.round(1);
    std::thread::sleep(Duration::from_millis(200));
    let (calls, _) = gotel.stop();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["function"], "main.flip");
}

/// Overload: with gotel frozen (SIGSTOP) and a small ring buffer, the traced
/// app still runs at full speed to the end, the BPF program drops what does
/// not fit, and every probe hit is accounted for: records read + drops =
/// hits. The calls that did arrive are exact.
#[test]
fn overload_drops_are_counted_and_never_block_the_app() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "bench", "overload", &[]);
    let calls = 20 * 1024;
    let mut target = Target::start(&bin, &["-calls", &calls.to_string()], "ready");
    let mut gotel = Gotel::run(
        &format!(
            "admin: 127.0.0.1:0\nring_buffer_kib: 64\nprobes:\n  - function: main.work\n    target: {{ pid: {} }}\n    max_hits_per_second: 0\n",
            target.pid()
        ),
        0,
    );
    let admin = gotel.wait_log("admin endpoint", Duration::from_secs(10))["address"]
        .as_str()
        .unwrap()
        .to_string();
    gotel.wait_log("attached", Duration::from_secs(30));
    let gpid = gotel.child.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(gpid, libc::SIGSTOP) };
    let done = target.bench(Duration::from_secs(60));
    assert!(done.starts_with(&format!("calls={calls} ")), "{done}");
    unsafe { libc::kill(gpid, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(300));
    let probes = http_get(&admin, "/probes");
    let probes: Value = serde_json::from_str(probes.split_once("\r\n\r\n").unwrap().1).unwrap();
    let (lines, logs) = gotel.stop();
    let stopped = stopped_record(&logs);
    let records = stopped["events"].as_u64().unwrap();
    let dropped = stopped["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{stopped}");
    // Counted per probe too, by the kernel: all of them are this one's.
    assert_eq!(probes["probes"][0]["dropped"], dropped, "{probes}");
    assert_eq!(records + dropped, 2 * calls as u64, "{stopped}");
    // Lost records are never mistaken for recovered panics.
    assert_eq!(stopped["panicked"], 0, "{stopped}");
    assert_eq!(stopped["calls"].as_u64().unwrap(), lines.len() as u64);
    assert!(!lines.is_empty() && lines.len() < calls, "{}", lines.len());
    for c in &lines {
        assert_eq!(c["args"]["s"], "gotel-bench-payload-0123456789abcdefghij");
        let (a, b, cc) = (&c["args"]["a"], &c["args"]["b"], &c["args"]["c"]);
        let sum = a.as_i64().unwrap() + b.as_i64().unwrap() + cc.as_i64().unwrap() + 40;
        assert_eq!(c["returns"]["r0"].as_i64().unwrap(), sum, "{c}");
    }
}

/// Editing the config while running: removed (or renamed) probes detach,
/// new ones attach, no restart; a broken edit keeps the previous config.
#[test]
fn config_reload_without_restart() {
    let tc = toolchains().remove(0);
    let bin = build(&tc, "sigs", "reload", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let pid = target.pid();
    let probe = |f: &str, name: &str| {
        format!("  - function: {f}\n    name: {name}\n    target: {{ pid: {pid} }}\n")
    };
    let mut gotel = Gotel::run(&format!("probes:\n{}", probe("main.flip", "flip_v1")), 1);
    target.round(1);

    gotel.rewrite_config(&format!(
        "probes:\n{}{}",
        probe("main.flip", "flip_v2"),
        probe("main.greet", "greet")
    ));
    gotel.wait_log("config reloaded", Duration::from_secs(10));
    gotel.wait_log("attached", Duration::from_secs(10));
    gotel.wait_log("attached", Duration::from_secs(10));
    target.round(2);

    gotel.rewrite_config("probes: [ this is not valid");
    let w = gotel.wait_log(
        "config reload failed, keeping the previous config",
        Duration::from_secs(10),
    );
    assert!(w["level"] == "WARN", "{w}");
    target.round(3);
    std::thread::sleep(Duration::from_millis(300));
    let (calls, logs) = gotel.stop();
    assert_eq!(of(&calls, "flip_v1").len(), 1, "{calls:?}");
    assert_eq!(of(&calls, "flip_v2").len(), 2, "{calls:?}");
    assert_eq!(of(&calls, "greet").len(), 2, "{calls:?}");
    assert!(logs
        .iter()
        .any(|l| l.contains("probe removed from config; detached") && l.contains("flip_v1")));
}

/// Like a pod with a shared process namespace: app and gotel in their own
/// PID namespace (with its own /proc). Calls must arrive, with the pid the
/// namespace uses (the one `target.pid` would name), not the host's.
#[test]
fn inside_a_pid_namespace_like_a_pod() {
    use std::process::{Command, Stdio};
    let tc = toolchains().remove(0);
    let app = build(&tc, "demo", "pidns", &[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gotel.yaml");
    std::fs::write(
        &cfg,
        "probes:\n  - function: main.computeE\n    target: { exe: demo-pidns }\n",
    )
    .unwrap();
    let app_out = dir.path().join("app.out");
    // gotel becomes pid 1 of the namespace; when it exits the app is killed.
    let script = format!(
        "{} -addr 127.0.0.1:0 > {} & exec {} run --config {}",
        app.display(),
        app_out.display(),
        gotel_bin(),
        cfg.display()
    );
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "bash", "-c", &script])
        .env("GOTEL_LOG_FORMAT", "json")
        .env("GOTEL_SCAN_INTERVAL_MS", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    let mut stderr = Lines::new(child.stderr.take().unwrap());
    let attached = stderr.wait_for("attached", Duration::from_secs(30), |l| {
        l.contains("\"message\":\"attached\"")
    });
    let attached: Value = serde_json::from_str(&attached).unwrap();
    let ns_pid = attached["pid"].as_u64().unwrap();
    assert!(ns_pid < 10, "expected a namespace-local pid, got {ns_pid}");
    let addr = std::fs::read_to_string(&app_out).unwrap();
    let addr = addr
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("listening on ")
        .to_string();
    http_get(&addr, "/e?iters=7");
    http_get(&addr, "/e?iters=8");
    std::thread::sleep(Duration::from_millis(300));
    // The namespace's pid 1 (gotel) is unshare's child.
    let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    let gotel_host_pid: i32 = kids.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: plain kill(2) on our own grandchild.
    unsafe { libc::kill(gotel_host_pid, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    let calls: Vec<Value> = stdout
        .rest()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}\n{}", stderr.rest().join("\n"));
    for (c, n) in calls.iter().zip([7, 8]) {
        assert_eq!(c["args"]["iterations"], n);
        assert_eq!(c["pid"].as_u64().unwrap(), ns_pid);
        // Threads are numbered in the namespace too.
        assert!(c["tid"].as_u64().unwrap() < 1000, "{c}");
    }
}

/// execve keeps the pid and the start time: gotel must notice the new
/// executable, drop the old attachment and attach to the new image.
#[test]
fn a_process_that_execs_is_re_attached() {
    let tc = toolchains().remove(0);
    let a = build(&tc, "sigs", "exec_a", &[]);
    let b = build(&tc, "sigs", "exec_b", &[]);
    let mut target = Target::start(&a, &[], "ready");
    let pid = target.pid();
    let mut gotel = Gotel::run(
        &format!("probes:\n  - function: main.flip\n    target: {{ pid: {pid} }}\n"),
        1,
    );
    target.round(1);
    let w = target.stdin.as_mut().unwrap();
    writeln!(w, "exec {}", b.display()).unwrap();
    w.flush().unwrap();
    target
        .stdout
        .wait_for("ready after exec", Duration::from_secs(20), |l| {
            l == "ready"
        });
    gotel.wait_log(
        "process exited or replaced by exec; detached",
        Duration::from_secs(10),
    );
    let again = gotel.wait_log("attached", Duration::from_secs(10));
    assert_eq!(again["pid"], pid);
    target.round(1);
    std::thread::sleep(Duration::from_millis(200));
    let (calls, logs) = gotel.stop();
    assert_eq!(calls.len(), 2, "{calls:?}\n{}", logs.join("\n"));
    assert!(calls
        .iter()
        .all(|c| c["pid"] == pid && c["args"]["b"] == true));
}

/// Field paths follow pointers in BPF: r.URL.Path, a nil pointer on the
/// way gives null, a path ending at a pointer to a struct shows the struct,
/// and a pointer receiver's field (c.total) is read through RAX.
#[test]
fn field_paths_through_pointers() {
    for tc in toolchains() {
        let bin = build(&tc, "sigs", "paths", &[]);
        let mut target = Target::start(&bin, &[], "ready");
        let pid = target.pid();
        let gotel = Gotel::run(
            &format!(
                "probes:
  - function: main.handle
    args: [r.Method, r.URL.Path, r.URL.Port, r.Body.N, r.Depth, tag, r.Ports]
    target: {{ pid: {pid} }}
  - function: main.handle
    name: whole_url
    args: [r.URL]
    target: {{ pid: {pid} }}
  - function: (*Counter).Add
    args: [c.total, d]
    target: {{ pid: {pid} }}
"
            ),
            3,
        );
        target.round(1);
        target.round(2);
        let (calls, _) = gotel.stop();
        let v = &tc.version;
        let h = of(&calls, "main.handle");
        assert_eq!(h.len(), 2, "{v}");
        assert_eq!(
            h[0]["args"],
            json!({"r.Method": "GET", "r.URL.Path": "/api/v1/items", "r.URL.Port": 8443,
                   "r.Body.N": null, "r.Depth": 3, "tag": "t", "r.Ports": [80, 443]}),
            "{v}"
        );
        assert_eq!(h[0]["returns"], json!({"r0": 14}));
        let w = of(&calls, "whole_url");
        assert_eq!(
            w[0]["args"]["r.URL"],
            json!({"Scheme": "https", "Host": "example.com", "Path": "/api/v1/items", "Port": 8443}),
            "{v}"
        );
        // At entry c.total is the value before the call adds 5.
        let add = of(&calls, "(*Counter).Add");
        assert_eq!(add[0]["args"], json!({"c.total": 0, "d": 5}), "{v}");
        assert_eq!(add[1]["args"], json!({"c.total": 5, "d": 5}), "{v}");
    }
}
