//! Property tests ("fuzzing", issue #12) of everything gotel reads from
//! outside itself: config text, Go executables, ring-buffer records. Each
//! must never panic, and bad input must give a clear error (a config) or
//! be counted (a record) or degrade the analysis (a binary).
//!
//! They run inside `cargo test` with case counts that keep the whole file
//! under a minute in a debug build on 2 shared cores; `PROPTEST_CASES=N`
//! runs N cases of every property instead (e.g. 2000 for a long soak).
//! The RNG is seeded afresh on each run: a failure prints the minimal
//! input, which then becomes a plain regression test below.
//!
//! The condition language of `when`/`when_return` is fuzzed twice: through
//! the config (refused naming the field) and directly (an error names a
//! column inside the text, and a parsed condition evaluates without
//! panicking).

mod common;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_yaml::{Mapping, Value as Yaml};

use common::fuzz::{assert_clear_error, cases};
use gotel::config;

// ---------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------

/// Keys of the config schema, and near misses of them.
const KEYS: &[&str] = &[
    "probes",
    "function",
    "target",
    "exe",
    "pid",
    "cmdline",
    "name",
    "args",
    "returns",
    "latency",
    "sample",
    "rate_limit",
    "max_hits_per_second",
    "breaker_cooldown",
    "max_string_len",
    "max_elems",
    "pointer_depth",
    "stack",
    "from_start",
    "defaults",
    "redact",
    "names",
    "replacement",
    "otlp",
    "endpoint",
    "protocol",
    "headers",
    "outputs",
    "admin",
    "scan_interval_ms",
    "ring_buffer_kib",
    "when",
    "when_return",
    "probe",
    "Function",
    "rate-limit",
];

/// A scalar as YAML or TOML might spell it, valid or not for its key.
fn scalar_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        Just(".nan".to_string()),
        Just("-.inf".to_string()),
        Just("1e400".to_string()),
        Just("~".to_string()),
        Just("true".to_string()),
        "-?[0-9]{1,22}(ns|us|ms|s|m|min|h|d|w|y|M|)",
        "[(\\[\\]*+?{}a-z\\\\|^$]{0,12}",
        "\"[^\"\\\\]{0,16}\"",
        "[a-z./:_ -]{0,16}",
        "&[a-z]{1,3}|\\*[a-z]{1,3}|!![a-z]{1,5}",
        "\\[[0-9a-z, ]{0,12}\\]|\\{[0-9a-z:, ]{0,12}\\}",
    ]
}

/// Text shaped like a config (keys, indentation, list items, sections)
/// but random: reaches deeper into the parsers than arbitrary bytes.
fn yaml_ish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_string),
        "[a-z_]{1,10}"
    ];
    let line = (
        0usize..4,
        any::<bool>(),
        key,
        prop::option::of(scalar_text()),
    )
        .prop_map(|(indent, item, key, value)| {
            let dash = if item { "- " } else { "" };
            match value {
                Some(v) => format!("{}{dash}{key}: {v}", "  ".repeat(indent)),
                None => format!("{}{dash}{key}:", "  ".repeat(indent)),
            }
        });
    prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

/// The same, for the TOML path: tables, arrays of tables, dotted keys.
fn toml_ish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_string),
        "[a-z_.]{1,10}"
    ];
    let line = prop_oneof![
        (key.clone(), scalar_text()).prop_map(|(k, v)| format!("{k} = {v}")),
        key.clone().prop_map(|k| format!("[{k}]")),
        key.prop_map(|k| format!("[[{k}]]")),
    ];
    prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

/// A valid config exercising every section, as a YAML tree to mutate.
fn valid_config() -> Yaml {
    serde_yaml::from_str(
        r#"
scan_interval_ms: 500
drain_interval_ms: 100
ring_buffer_kib: 1024
outputs: [jsonl]
admin: 127.0.0.1:9464
defaults:
  rate_limit: 1000
  max_hits_per_second: 20000
  breaker_cooldown: 30s
redact:
  names: ["(?i)passw(or)?d|secret"]
  replacement: "[REDACTED]"
otlp:
  endpoint: http://collector:4317
  protocol: grpc
  compression: gzip
  timeout_ms: 1000
  headers: { authorization: x }
probes:
  - function: main.Authorise
    target: { exe: payment }
    name: authorise
    args: [amount, user]
    sample: 0.1
    rate_limit: 10
    max_hits_per_second: 500
    breaker_cooldown: 5s
    max_string_len: 64
    max_elems: 8
    pointer_depth: 2
  - function: main.other
    target: { cmdline: "serve .*" }
    returns: false
    latency: false
"#,
    )
    .expect("the base config is YAML")
}

/// Where a mutation lands: a path of keys and list indices.
#[derive(Debug, Clone)]
enum Step {
    Key(&'static str),
    At(usize),
}

/// Every field path of [`valid_config`], plus ones it leaves unset.
fn field_paths() -> Vec<Vec<Step>> {
    use Step::*;
    let mut out: Vec<Vec<Step>> = [
        "scan_interval_ms",
        "drain_interval_ms",
        "ring_buffer_kib",
        "outputs",
        "admin",
        "defaults",
        "redact",
        "otlp",
        "probes",
    ]
    .iter()
    .map(|k| vec![Key(k)])
    .collect();
    for k in [
        "rate_limit",
        "max_hits_per_second",
        "breaker_cooldown",
        "stack",
    ] {
        out.push(vec![Key("defaults"), Key(k)]);
    }
    for k in ["names", "replacement"] {
        out.push(vec![Key("redact"), Key(k)]);
    }
    out.push(vec![Key("redact"), Key("names"), At(0)]);
    for k in [
        "endpoint",
        "protocol",
        "compression",
        "timeout_ms",
        "headers",
        "queue_size",
        "max_batch",
        "ca_file",
        "resource_attributes",
    ] {
        out.push(vec![Key("otlp"), Key(k)]);
    }
    for i in 0..2 {
        out.push(vec![Key("probes"), At(i)]);
        for k in [
            "function",
            "target",
            "name",
            "args",
            "returns",
            "latency",
            "sample",
            "rate_limit",
            "max_hits_per_second",
            "breaker_cooldown",
            "max_string_len",
            "max_elems",
            "pointer_depth",
            "stack",
            "from_start",
            "service_name",
        ] {
            out.push(vec![Key("probes"), At(i), Key(k)]);
        }
        for k in ["exe", "pid", "cmdline"] {
            out.push(vec![Key("probes"), At(i), Key("target"), Key(k)]);
        }
    }
    out.push(vec![Key("probes"), At(0), Key("args"), At(1)]);
    out
}

/// A value of any YAML type, often of the wrong one for its key.
fn junk() -> impl Strategy<Value = Yaml> {
    let leaf = prop_oneof![
        Just(Yaml::Null),
        any::<bool>().prop_map(Yaml::Bool),
        any::<i64>().prop_map(|n| Yaml::Number(n.into())),
        any::<u64>().prop_map(|n| Yaml::Number(n.into())),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(15),
            Just(16),
            Just(1 << 20),
            Just(u32::MAX as i64 + 1)
        ]
        .prop_map(|n| Yaml::Number(n.into())),
        any::<f64>().prop_map(|f| Yaml::Number(f.into())),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1.0000001)
        ]
        .prop_map(|f| Yaml::Number(f.into())),
        // Durations, regexes, addresses and plain text.
        "-?[0-9]{1,22}(ns|us|ms|s|m|min|h|d|w|y|M|)".prop_map(Yaml::String),
        "[0-9]{1,3}(y|d)? ?[0-9]{0,3}(h|s)?".prop_map(Yaml::String),
        "[(\\[\\]*+?{}a-z\\\\|^$]{0,12}".prop_map(Yaml::String),
        "[0-9.:\\[\\]a-z]{0,20}".prop_map(Yaml::String),
        ".{0,20}".prop_map(Yaml::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Yaml::Sequence),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                Yaml::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (Yaml::String(k.into()), v))
                        .collect::<Mapping>(),
                )
            }),
        ]
    })
}

/// One edit of a valid config.
#[derive(Debug, Clone)]
enum Edit {
    /// The field at the path gets this value.
    Set(Index, Yaml),
    /// The field at the path is removed.
    Remove(Index),
    /// A key no schema has is added beside the field at the path.
    Unknown(Index, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<Index>(), junk()).prop_map(|(i, v)| Edit::Set(i, v)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => (any::<Index>(), "[a-z]{1,6}_x").prop_map(|(i, k)| Edit::Unknown(i, k)),
    ]
}

/// The container holding the last step of `path`, made where missing.
fn parent<'a>(root: &'a mut Yaml, path: &[Step]) -> Option<&'a mut Yaml> {
    let mut at = root;
    for step in &path[..path.len() - 1] {
        at = match step {
            Step::Key(k) => {
                let m = at.as_mapping_mut()?;
                m.entry(Yaml::String((*k).into()))
                    .or_insert_with(|| Yaml::Mapping(Mapping::new()))
            }
            Step::At(i) => at.as_sequence_mut()?.get_mut(*i)?,
        };
    }
    Some(at)
}

/// Applies `edit` to `cfg`; returns the names an error about it may use:
/// the edited key, and its parents' (a target left with no selector is
/// reported at `target`).
fn apply(cfg: &mut Yaml, edit: &Edit, paths: &[Vec<Step>]) -> Vec<String> {
    let (Edit::Set(i, _) | Edit::Remove(i) | Edit::Unknown(i, _)) = edit;
    let path = &paths[i.index(paths.len())];
    let mut names: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some((*k).to_string()),
            Step::At(_) => None,
        })
        .collect();
    let Some(holder) = parent(cfg, path) else {
        return names;
    };
    let last = path.last().expect("paths are not empty");
    match (edit, last, holder) {
        (Edit::Set(_, v), Step::Key(k), Yaml::Mapping(m)) => {
            m.insert(Yaml::String((*k).into()), v.clone());
        }
        (Edit::Set(_, v), Step::At(i), Yaml::Sequence(s)) if *i < s.len() => s[*i] = v.clone(),
        (Edit::Remove(_), Step::Key(k), Yaml::Mapping(m)) => {
            m.remove(*k);
        }
        (Edit::Remove(_), Step::At(i), Yaml::Sequence(s)) if *i < s.len() => {
            s.remove(*i);
        }
        (Edit::Unknown(_, key), _, Yaml::Mapping(m)) => {
            m.insert(Yaml::String(key.clone()), Yaml::Bool(true));
            names.push(key.clone());
        }
        _ => {}
    }
    names
}

/// Every config `from_yaml` accepts can be run: numbers the live side
/// computes with stay in range.
fn assert_usable(cfg: &config::Config) {
    let now = std::time::Instant::now();
    for p in &cfg.probes {
        let c = p.breaker_cooldown(&cfg.defaults);
        // The breaker doubles the cool-down and adds it to "now".
        let doubled = c.checked_mul(2).expect("a cool-down that can double");
        assert!(now.checked_add(doubled).is_some(), "cool-down {c:?}");
        if let Some(s) = p.sample {
            assert!(s > 0.0 && s <= 1.0, "sample {s}");
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn config_text_never_panics(text in prop_oneof![yaml_ish(), ".{0,200}"]) {
        match config::from_yaml(&text) {
            Ok(cfg) => assert_usable(&cfg),
            Err(e) => assert_clear_error(&e.to_string(), &[]),
        }
    }

    #[test]
    fn wrong_fields_are_named(edits in prop::collection::vec(edit(), 1..3)) {
        let paths = field_paths();
        let mut cfg = valid_config();
        let mut names = Vec::new();
        for e in &edits {
            names.extend(apply(&mut cfg, e, &paths));
        }
        let text = serde_yaml::to_string(&cfg).expect("serialises");
        match config::from_yaml(&text) {
            Ok(cfg) => assert_usable(&cfg),
            Err(e) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                assert_clear_error(&e.to_string(), &names);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(64))]

    /// The TOML path is reached through a file (`load`), so fewer cases.
    #[test]
    fn toml_text_never_panics(text in toml_ish()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gotel.toml");
        std::fs::write(&path, &text).expect("write");
        match config::load(&path) {
            Ok(cfg) => assert_usable(&cfg),
            Err(e) => assert_clear_error(&e.to_string(), &[]),
        }
    }
}

/// Text shaped like a `when`/`when_return` condition (issue #12): names,
/// fields, literals, comparisons, `&&`, `||`, `!`, `nil`, parentheses and
/// durations, often unbalanced or out of place.
fn condition_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "[a-z][a-zA-Z]{0,5}(\\.[A-Z][a-z]{0,4}){0,2}",
        "-?[0-9]{1,20}(\\.[0-9]{1,3})?(ms|s|ns)?",
        "\"[a-z\\\\\"]{0,6}\"?",
        prop::sample::select(
            &[
                "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "(", ")", "nil", "err",
                "duration", "true", "'", "[", "]",
            ][..]
        )
        .prop_map(str::to_string),
    ];
    prop::collection::vec(token, 0..10).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(cases(64))]

    /// Whatever a condition says, the config is accepted or refused
    /// naming the probe's field.
    #[test]
    fn conditions_never_panic(
        cond in condition_text(),
        field in prop::sample::select(&["when", "when_return"][..]),
    ) {
        let text = format!(
            "probes:\n  - function: main.f\n    target: {{ exe: x }}\n    {field}: {}\n",
            serde_json::to_string(&cond).expect("a JSON string is a YAML string")
        );
        if let Err(e) = config::from_yaml(&text) {
            assert_clear_error(&e.to_string(), &[field]);
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// The parser itself: an error names a column within the text and
    /// says something; a condition that parses evaluates (true, false or
    /// unknown) on any values without panicking.
    #[test]
    fn the_condition_parser_errs_clearly_or_evaluates(cond in condition_text()) {
        use gotel::condition::{Condition, Values};
        use gotel::decode::GoValue;
        struct Some3;
        impl Values for Some3 {
            fn get(&self, path: &[String]) -> Option<&GoValue> {
                static V: [GoValue; 3] = [GoValue::Int(3), GoValue::Null, GoValue::Bool(true)];
                Some(&V[path.len() % 3])
            }
            fn duration(&self) -> Option<u64> {
                Some(5)
            }
        }
        match Condition::parse(&cond) {
            Ok(c) => {
                let _ = c.eval(&Some3);
            }
            Err(e) => {
                assert!(e.pos <= cond.len(), "{e} in {cond:?}");
                assert!(!e.message.is_empty(), "{cond:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------
// Regressions: inputs the properties above found
// ---------------------------------------------------------------------

/// `breaker_cooldown: 400000000000y` parsed (humantime counts seconds in
/// a u64), and the breaker's `now + cool-down` then panicked on
/// overflow; the cool-down is now capped where its doubling stops.
#[test]
fn a_cool_down_past_the_breakers_cap_is_refused() {
    let probe = "probes:\n  - function: main.f\n    target: { exe: x }\n";
    for (text, field) in [
        (
            format!("{probe}    breaker_cooldown: 400000000000y\n"),
            "probes[0].breaker_cooldown",
        ),
        (
            format!("defaults:\n  breaker_cooldown: 11m\n{probe}"),
            "defaults.breaker_cooldown",
        ),
    ] {
        let e = config::from_yaml(&text).expect_err("too long");
        assert_clear_error(&e.to_string(), &[field]);
        assert!(e.to_string().contains("at most 10m"), "{e}");
    }
    let cfg = config::from_yaml(&format!("{probe}    breaker_cooldown: 10m\n")).expect("the cap");
    assert_usable(&cfg);
}
