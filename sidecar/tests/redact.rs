//! Redaction end to end: a real Go program (`integration/secrets`) whose
//! arguments, results and fields hold secrets, traced with real uprobes.
//! The outputs (JSONL, OTLP spans and logs, gotel's own logs) show the
//! replacement and never a secret; the plans gotel installs, checked on
//! the real binary, have no op that reads a secret.

mod common;
// Only some of the receiver's helpers are used here.
#[allow(dead_code)]
#[path = "common/otlp.rs"]
mod otlp;

use std::time::Duration;

use common::*;
use gotel::plan::{Plan, Shape};
use otlp::*;
use serde_json::{json, Value};

/// Every secret in the program contains this; 987654321987 is the one
/// number.
const SECRET: &str = "SECRET";
const SECRET_NUMBER: &str = "987654321987";
const R: &str = "[REDACTED]";

fn config(pid: u32) -> String {
    let p =
        |f: &str, extra: &str| format!("  - function: {f}\n    target: {{ pid: {pid} }}\n{extra}");
    [
        "probes:\n".to_string(),
        p("main.login", ""),
        p(
            "main.login",
            "    name: login_explicit\n    args: [password, attempt]\n",
        ),
        p("main.connect", ""),
        p("main.connectPtr", ""),
        p("main.connectAll", ""),
        p("main.account", ""),
        p("main.issue", ""),
        p("main.describe", ""),
    ]
    .concat()
}

const PROBES: usize = 8;

/// The values every round shows (round `n`).
fn expected(n: u64) -> Vec<(&'static str, Value, Value)> {
    let bob = json!({"User": "bob", "Token": R, "Port": 5432});
    vec![
        (
            "main.login",
            json!({"user": "alice", "password": R, "attempt": n}),
            json!({"r0": true}),
        ),
        (
            "login_explicit",
            json!({"password": R, "attempt": n}),
            json!({"r0": true}),
        ),
        ("main.connect", json!({ "c": bob }), json!({"r0": 5432})),
        (
            "main.connectPtr",
            json!({"c": {"User": "carol", "Token": R, "Port": 6543}}),
            json!({"r0": 6544}),
        ),
        (
            "main.connectAll",
            json!({"cs": [bob, {"User": "dave", "Token": R, "Port": 7}]}),
            json!({"r0": 2}),
        ),
        (
            "main.account",
            json!({"a": {"ID": 9, "Creds": bob, "Keys": [{"ID": 1, "APIKey": R}]}}),
            json!({"r0": 10}),
        ),
        (
            "main.issue",
            json!({"user": "erin"}),
            json!({"token": R, "ok": true}),
        ),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for s in [SECRET, SECRET_NUMBER] {
        assert!(!text.contains(s), "{what} holds {s}: {text}");
    }
}

/// JSONL: exact values, the replacement in place of each secret, and no
/// secret in anything gotel printed (its debug logs included).
#[test]
fn jsonl_shows_the_replacement_and_never_a_secret() {
    let tc = newest_toolchain();
    let bin = build(&tc, "secrets", "redact", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let gotel = Gotel::run(&config(target.pid()), PROBES);
    target.round(1);
    // Round 1 showed describe's dynamic type: its recipe is installed
    // after that batch of records.
    std::thread::sleep(Duration::from_millis(500));
    target.round(2);
    std::thread::sleep(Duration::from_millis(300));
    let (calls, logs) = gotel.stop();
    for (n, round) in [(1, 0), (2, 1)] {
        for (probe, args, returns) in expected(n) {
            let got = of(&calls, probe);
            assert_eq!(got.len(), 2, "{probe}: {got:?}");
            assert_eq!(got[round]["args"], args, "{probe} round {n}");
            assert_eq!(got[round]["returns"], returns, "{probe} round {n}");
        }
    }
    // A dynamic value is shown by its type's recipe (installed once the
    // first record met the type). Before that, what the site reads of it
    // stops before `Key.APIKey` (offset 8), the first redacted number of
    // any type this binary holds in an interface: in round 1 too, the
    // number is nowhere (checked below).
    let d = of(&calls, "main.describe");
    assert_eq!(d.len(), 4);
    assert_eq!(
        d[2]["args"],
        json!({"v": {"type": "*main.Creds", "value": {"User": "frank", "Token": R, "Port": 8}}})
    );
    assert_eq!(
        d[3]["args"],
        json!({"v": {"type": "main.Key", "value": {"ID": 2, "APIKey": R}}})
    );
    assert_eq!(calls.len(), 2 * (PROBES + 1), "{calls:?}");
    for c in &calls {
        assert_no_secret("a JSONL line", &c.to_string());
    }
    assert_no_secret("gotel's log", &logs.join("\n"));
}

/// OTLP spans and logs (attributes and bodies) carry the replacement and
/// never a secret.
#[test]
fn otlp_shows_the_replacement_and_never_a_secret() {
    let tc = newest_toolchain();
    let bin = build(&tc, "secrets", "redact-otlp", &[]);
    let mut target = Target::start(&bin, &[], "ready");
    let rx = Receiver::http(listener());
    let endpoint = format!("http://{}", rx.addr);
    let config = config(target.pid()) + "outputs: [otlp]\notlp: { batch_timeout_ms: 50 }\n";
    let gotel = Gotel::run_env(
        &config,
        PROBES,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    );
    target.round(1);
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.wait("a span per probe", Duration::from_secs(20), |g| {
            g.spans().len() >= PROBES && g.logs().len() >= PROBES
        })
    }));
    let (_, logs) = gotel.stop();
    if waited.is_err() {
        let got = rx.got.lock().unwrap();
        panic!(
            "spans {} logs {}: {}",
            got.spans().len(),
            got.logs().len(),
            logs.join("\n")
        );
    }
    let got = rx.got.lock().unwrap();
    let spans = got.spans();
    let login = spans
        .iter()
        .find(|(_, s)| s.name == "main.login")
        .expect("a login span")
        .1;
    assert_eq!(str_attr(&login.attributes, "go.arg.user"), "alice");
    assert_eq!(str_attr(&login.attributes, "go.arg.password"), R);
    let connect = spans
        .iter()
        .find(|(_, s)| s.name == "main.connect")
        .unwrap()
        .1;
    assert_eq!(str_attr(&connect.attributes, "go.arg.c.User"), "bob");
    assert_eq!(str_attr(&connect.attributes, "go.arg.c.Token"), R);
    let issue = spans
        .iter()
        .find(|(_, s)| s.name == "main.issue")
        .unwrap()
        .1;
    assert_eq!(str_attr(&issue.attributes, "go.ret.token"), R);
    let bodies: Vec<String> = got
        .logs()
        .iter()
        .map(|(_, l)| format!("{:?}", l.body))
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains(&format!("password={R:?}")) || b.contains("password=[REDACTED]")),
        "{bodies:?}"
    );
    assert_no_secret("OTLP spans", &format!("{:?}", got.spans));
    assert_no_secret("OTLP logs", &format!("{:?}", got.logs));
    assert_no_secret("gotel's log", &logs.join("\n"));
}

/// The plans gotel installs for the real binary: no op of a site, and no
/// op of a dynamic type's recipe, reads a redacted value. Each redacted
/// value's op in the plan made without redaction (where it is read) is
/// absent from the redacted plan, which is otherwise the same.
#[test]
fn the_real_binarys_plans_never_read_a_secret() {
    let tc = newest_toolchain();
    let path = build(&tc, "secrets", "redact-plan", &[]);
    let bin = gotel::golang::BinaryInfo::open(&path).unwrap();
    let plan = |function: &str, redact: &str| -> Plan {
        let yaml = format!("{redact}probes:\n  - function: {function}\n    target: {{ exe: x }}\n");
        let cfg = gotel::config::from_yaml(&yaml).unwrap();
        gotel::plan::plan(&bin, &cfg.probes[0]).unwrap().remove(0)
    };
    let ops = |p: &Plan| {
        let r = &p.entry.recipe;
        r.ops[..usize::from(r.n_ops)].to_vec()
    };
    // (function, the redacted value's path in its shape)
    for (function, path) in [
        ("main.login", &["password"][..]),
        ("main.connect", &["c", "Token"]),
        ("main.connectPtr", &["c", "Token"]),
    ] {
        let on = plan(function, "");
        let off = plan(function, "redact: { names: [] }\n");
        let secret_op = |p: &Plan| -> Option<usize> {
            let v = p.entry.values.iter().find(|v| v.name == path[0])?;
            let mut s = &v.shape;
            for f in &path[1..] {
                s = match s {
                    Shape::Pointer { pointee, .. } => match pointee.as_ref() {
                        Shape::Struct(fs) => &fs.iter().find(|(n, _)| n == f)?.1,
                        _ => return None,
                    },
                    Shape::Struct(fs) => &fs.iter().find(|(n, _)| n == f)?.1,
                    _ => return None,
                };
            }
            match s {
                Shape::String { op } => Some(*op),
                Shape::Redacted(r) => {
                    assert_eq!(r, R);
                    None
                }
                other => panic!("{function}: {other:?}"),
            }
        };
        let read = secret_op(&off).unwrap_or_else(|| panic!("{function}: read without redaction"));
        assert_eq!(secret_op(&on), None, "{function}: redacted");
        let secret = ops(&off)[read];
        let (a, b) = (ops(&on), ops(&off));
        assert_eq!(a.len() + 1, b.len(), "{function}: one op fewer");
        assert!(!a.contains(&secret), "{function}: {secret:?} still read");
        let rest: Vec<_> = b.iter().filter(|o| **o != secret).copied().collect();
        assert_eq!(a, rest, "{function}: the other ops unchanged");
    }
    // The slice of Creds: element ops, none of them the Token's.
    let all = plan("main.connectAll", "");
    let Shape::Elems { elem, k, .. } = &all.entry.values[0].shape else {
        panic!("{:?}", all.entry.values[0].shape)
    };
    assert_eq!(*k, 2, "User and Port");
    assert!(matches!(elem.as_ref(), Shape::Struct(f) if f[1].1 == Shape::Redacted(R.into())));
    // *main.Creds held in an interface: its recipe reads User's string
    // (offset 0), not Token's, and its head whole (Token's header, not its
    // bytes).
    let redaction = gotel::redact::Redaction::default();
    let secrets = gotel::plan::Secrets::of(&bin, &redaction);
    // Key.APIKey is a number at offset 8: an interface's value is read no
    // further before its type is known. No type starts with a redacted
    // field: the string at its data pointer is read.
    assert_eq!((secrets.dyn_head, secrets.dyn_string), (8, true));
    let (_, id) = bin
        .dwarf
        .runtime_types
        .values()
        .find(|(n, _)| n == "*main.Creds")
        .expect("*main.Creds is converted to an interface");
    let tp = gotel::plan::plan_type(&bin.dwarf.types, *id, 64, &secrets).unwrap();
    assert_eq!(tp.strings.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [0]);
    let head = &tp.recipe.ops[tp.head_op.unwrap()];
    assert_eq!(head.max_len, 40);
    assert_eq!(tp.recipe.n_ops, 2);
}

/// `gotel check` says which values are redacted.
#[test]
fn check_lists_redacted_values() {
    let tc = newest_toolchain();
    let bin = build(&tc, "secrets", "redact-check", &[]);
    let out = check(
        &bin,
        "probes:\n  - function: main.login\n    target: { exe: secrets }\n",
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("arg password"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.ends_with("redacted: never copied (redact.names)"),
        "{line}"
    );
    let user = text.lines().find(|l| l.contains("arg user")).unwrap();
    assert!(user.ends_with("captured"), "{user}");
}
