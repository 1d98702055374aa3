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

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use proptest::sample::Index;
use serde_yaml::{Mapping, Value as Yaml};

use gotel::config::{self, ProbeSpec};
use gotel::decode::{GoValue, Names};
use gotel::golang::types::{TypeId, TypeTable};
use gotel::golang::BinaryInfo;
use gotel::live::pipeline::{Attachment, Lookups, Pipeline};
use gotel::plan::{Plan, SitePlan, TypePlan};
use gotel::recipe::{RawEvent, SITE_ENTRY, SITE_RETURN};

/// `default` cases, unless `PROPTEST_CASES` says otherwise.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures become named regression tests here instead of files
        // written into the source tree by whichever run found them.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// An error a user reads: not empty, and naming one of `names` (a field,
/// a key) when any are given.
fn assert_clear_error(message: &str, names: &[&str]) {
    assert!(!message.trim().is_empty(), "an empty error message");
    if !names.is_empty() {
        assert!(
            names.iter().any(|n| message.contains(n)),
            "the error names none of {names:?}: {message}"
        );
    }
}

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
// ELF / DWARF analysis
// ---------------------------------------------------------------------

/// A Go executable to mutate, and its parts worth mutating.
struct Variant {
    name: &'static str,
    bytes: Vec<u8>,
    /// (what, file range): headers and the sections analysis reads.
    regions: Vec<(String, Range<usize>)>,
}

/// Sections the analysis reads (absent ones are skipped per variant).
const SECTIONS: &[&str] = &[
    ".debug_info",
    ".debug_abbrev",
    ".debug_str",
    ".debug_line",
    ".debug_loc",
    ".debug_loclists",
    ".debug_ranges",
    ".debug_rnglists",
    ".debug_addr",
    ".debug_frame",
    ".zdebug_info",
    ".zdebug_abbrev",
    ".gopclntab",
    ".go.buildinfo",
    ".symtab",
    ".strtab",
    ".shstrtab",
    ".typelink",
    ".rodata",
    ".text",
    ".noptrdata",
];

fn le(b: &[u8], at: usize, n: usize) -> usize {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0usize, |v, x| (v << 8) | usize::from(*x))
}

fn regions(bytes: &[u8]) -> Vec<(String, Range<usize>)> {
    use object::{Object, ObjectSection};
    // ELF64 header fields: e_phoff, e_shoff, e_phentsize/e_phnum,
    // e_shentsize/e_shnum.
    let (phoff, shoff) = (le(bytes, 0x20, 8), le(bytes, 0x28, 8));
    let (phsize, shsize) = (
        le(bytes, 0x36, 2) * le(bytes, 0x38, 2),
        le(bytes, 0x3a, 2) * le(bytes, 0x3c, 2),
    );
    let mut out = vec![
        ("ELF header".to_string(), 0..64),
        ("program headers".to_string(), phoff..phoff + phsize),
        ("section headers".to_string(), shoff..shoff + shsize),
    ];
    let file = object::File::parse(bytes).expect("an ELF file");
    for name in SECTIONS {
        if let Some((off, size)) = file
            .section_by_name(name)
            .and_then(|s| s.compressed_file_range().ok())
            .map(|r| (r.offset as usize, r.compressed_size as usize))
            .filter(|(_, size)| *size > 0)
        {
            out.push((name.to_string(), off..off + size));
        }
    }
    out
}

/// `integration/shapes` (strings, slices, maps, interfaces, errors) as
/// built by default (compressed DWARF), with plain DWARF (each byte a
/// DWARF byte), and stripped (functions from `.gopclntab`).
fn variants() -> &'static [Variant] {
    static V: OnceLock<Vec<Variant>> = OnceLock::new();
    V.get_or_init(|| {
        let tc = common::newest_toolchain();
        [
            ("compressed", "fuzz", &[][..]),
            (
                "plain",
                "fuzz-plain",
                &["-ldflags=-compressdwarf=false"][..],
            ),
            ("stripped", "fuzz-stripped", &["-ldflags=-s -w"][..]),
        ]
        .into_iter()
        .map(|(name, tag, flags)| {
            let bytes = std::fs::read(common::build(&tc, "shapes", tag, flags)).expect("read");
            Variant {
                name,
                regions: regions(&bytes),
                bytes,
            }
        })
        .collect()
    })
}

/// One change to a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte of a region with a non-zero mask.
    Flip(Index, Index, u8),
    /// Write an 8-byte value (often a boundary) into a region.
    Word(Index, Index, u64),
    /// Zero a run of up to 64 bytes of a region.
    Zero(Index, Index, u8),
    /// Cut the file inside a region.
    Truncate(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        any::<u64>(),
        Just(0),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        Just(1 << 63),
        0u64..256,
    ];
    prop_oneof![
        6 => (any::<Index>(), any::<Index>(), 1u8..=255).prop_map(|(r, p, m)| Mutation::Flip(r, p, m)),
        3 => (any::<Index>(), any::<Index>(), word).prop_map(|(r, p, w)| Mutation::Word(r, p, w)),
        1 => (any::<Index>(), any::<Index>(), any::<u8>()).prop_map(|(r, p, n)| Mutation::Zero(r, p, n)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(r, p)| Mutation::Truncate(r, p)),
    ]
}

/// `v`'s bytes with `muts` applied; also says where they landed.
fn mutate(v: &Variant, muts: &[Mutation]) -> (Vec<u8>, Vec<String>) {
    let mut b = v.bytes.clone();
    let mut what = Vec::new();
    for m in muts {
        let (Mutation::Flip(r, p, _)
        | Mutation::Word(r, p, _)
        | Mutation::Zero(r, p, _)
        | Mutation::Truncate(r, p)) = m;
        let (name, range) = &v.regions[r.index(v.regions.len())];
        let off = p.index(range.len().max(1));
        what.push(format!("{name}+{off:#x}: {m:?}"));
        // An earlier cut may have taken the region off the end.
        let at = (range.start + off).min(b.len());
        match m {
            Mutation::Flip(_, _, mask) if at < b.len() => b[at] ^= mask,
            Mutation::Word(_, _, w) => {
                for (i, x) in w.to_le_bytes().iter().enumerate() {
                    if let Some(y) = b.get_mut(at + i) {
                        *y = *x;
                    }
                }
            }
            Mutation::Zero(_, _, n) => {
                let end = (at + usize::from(*n)).min(b.len());
                b[at..end].fill(0);
            }
            Mutation::Truncate(..) => b.truncate(at),
            _ => {}
        }
    }
    (b, what)
}

/// Functions of `integration/shapes` worth planning: every kind of value.
const FUNCTIONS: &[&str] = &[
    "main.inspect",
    "main.query",
    "main.maps",
    "main.items",
    "main.crowded",
    "main.walk",
    "main.check",
    "main.cplx",
    "main.sum",
    "main.apply",
    "main.Max",
];

fn probe(function: &str) -> ProbeSpec {
    serde_json::from_value(serde_json::json!({
        "function": function,
        "target": {"exe": "x"},
    }))
    .expect("a probe")
}

/// Analyses `path` and, when that succeeds, uses the analysis as the
/// live side would: lookups, code and RET sites, plans, runtime types.
fn analyse(path: &Path) {
    let bin = match BinaryInfo::open(path) {
        Ok(b) => b,
        Err(e) => return assert_clear_error(&e.to_string(), &[]),
    };
    let _ = bin.g_offsets();
    let _ = bin.go_minor();
    let _ = bin.load_bias(|| Some(0x7f00_0000_0000));
    // Every function's code: its bounds come straight from the file.
    for f in &bin.dwarf.functions {
        let _ = bin.code(f);
        let _ = bin.file_offset(f.low_pc);
    }
    for name in FUNCTIONS {
        match bin.lookup(name) {
            Ok(f) => {
                let _ = gotel::golang::signature(&bin, f);
                let _ = bin.ret_sites(f);
                let _ = bin.function_at(f.low_pc);
            }
            Err(e) => assert_clear_error(&e.to_string(), &[]),
        }
        if let Err(e) = gotel::plan::plan(&bin, &probe(name)) {
            assert_clear_error(&e.to_string(), &[]);
        }
    }
    for (addr, _) in bin.dwarf.runtime_types.iter().take(64) {
        let _ = bin.runtime_type(*addr);
        let _ = bin.rtype(*addr);
    }
}

/// Writes `bytes` to a fresh file of `dir` and analyses it.
fn analyse_bytes(dir: &Path, bytes: &[u8]) {
    let path = dir.join("bin");
    std::fs::write(&path, bytes).expect("write");
    analyse(&path);
}

proptest! {
    // Each case is a full analysis (~0.25 s in a debug build).
    #![proptest_config(cases(48))]

    #[test]
    fn mutated_binaries_never_panic(
        variant in any::<Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let v = &variants()[variant.index(variants().len())];
        let (bytes, what) = mutate(v, &muts);
        let dir = tempfile::tempdir().expect("tempdir");
        eprintln!("{}: {}", v.name, what.join("; "));
        analyse_bytes(dir.path(), &bytes);
    }
}

#[test]
fn truncated_and_foreign_files_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = &variants()[0];
    let len = v.bytes.len();
    // Inside the ELF header, the program headers, half-way, near the end.
    for cut in [0, 1, 4, 16, 63, 64, 200, 4096, len / 2, len - 1] {
        analyse_bytes(dir.path(), &v.bytes[..cut]);
    }
    for (bytes, why) in [
        (&b"#!/bin/sh\necho hi\n"[..], "not an ELF"),
        (&b"\x7fELF"[..], "not an ELF"),
        (&[0u8; 4096][..], "not an ELF"),
    ] {
        let path = dir.path().join("foreign");
        std::fs::write(&path, bytes).expect("write");
        let e = BinaryInfo::open(&path).expect_err("not a Go binary");
        assert_clear_error(&e.to_string(), &[why]);
    }
    let missing = BinaryInfo::open(&dir.path().join("missing")).expect_err("no file");
    assert_clear_error(&missing.to_string(), &["cannot read"]);
}

// ---------------------------------------------------------------------
// Records: the pipeline and the decoder
// ---------------------------------------------------------------------

/// Decoding lookups on the unmutated analysis, as `live::names` makes
/// them for a non-PIE process; type recipes for a few runtime types.
struct BinNames {
    bin: Arc<BinaryInfo>,
    plans: HashMap<u64, Arc<TypePlan>>,
}

impl Names for BinNames {
    fn runtime_type(&self, rtype: u64) -> Option<(String, Option<TypeId>)> {
        self.bin.runtime_type(rtype)
    }
    fn runtime_kind(&self, rtype: u64) -> Option<(u8, u64)> {
        self.bin.rtype(rtype).map(|r| (r.kind, r.size))
    }
    fn type_named(&self, name: &str) -> Option<TypeId> {
        self.bin.runtime_type_named(name)
    }
    fn type_table(&self) -> Option<&TypeTable> {
        Some(&self.bin.dwarf.types)
    }
    fn func_name(&self, pc: u64) -> Option<String> {
        self.bin.function_at(pc).map(|f| f.name.clone())
    }
    fn errno_text(&self, n: u64) -> Option<String> {
        Some(format!("errno {n}"))
    }
    fn dyn_plan(&self, rtype: u64) -> Option<Arc<TypePlan>> {
        self.plans.get(&rtype).cloned()
    }
}

impl Lookups for BinNames {
    fn met(&self, _rtype: u64) -> bool {
        true
    }
}

/// The plans of [`FUNCTIONS`], the lookups, and runtime type addresses
/// (so that random interface words often name a real type).
struct Planned {
    plans: Vec<Arc<Plan>>,
    names: Arc<BinNames>,
    rtypes: Vec<u64>,
}

fn planned() -> &'static Planned {
    static P: OnceLock<Planned> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shapes");
        std::fs::write(&path, &variants()[0].bytes).expect("write");
        let bin = Arc::new(BinaryInfo::open(&path).expect("analysis"));
        let plans = FUNCTIONS
            .iter()
            .flat_map(|f| gotel::plan::plan(&bin, &probe(f)).expect("a plan"))
            .map(Arc::new)
            .collect();
        let mut rtypes: Vec<u64> = bin.dwarf.runtime_types.keys().copied().collect();
        rtypes.sort_unstable();
        // Every other type has its recipe installed; the rest are "met".
        let plans_by_type = rtypes
            .iter()
            .step_by(2)
            .filter_map(|r| {
                let (_, id) = bin.dwarf.runtime_types[r];
                gotel::plan::plan_type(&bin.dwarf.types, id, 64, &gotel::plan::Secrets::off())
                    .map(|p| (*r, Arc::new(p)))
            })
            .collect();
        Planned {
            plans,
            names: Arc::new(BinNames {
                bin,
                plans: plans_by_type,
            }),
            rtypes,
        }
    })
}

/// A pipeline with plan `i` routed as cookies `2i+1` (entry), `2i+2`
/// (return).
fn pipeline(p: &Planned) -> Pipeline {
    let mut pipe = Pipeline::new(64, 0);
    for (i, plan) in p.plans.iter().enumerate() {
        let meta = Arc::new(Attachment {
            id: i as u64 + 1,
            key: plan.function.clone(),
            probe: plan.function.clone(),
            pid: 42,
            plan: plan.clone(),
            origin: Default::default(),
            names: p.names.clone(),
            marker: None,
            slot: 1,
            every_process: None,
        });
        let cookie = 2 * i as u32;
        pipe.route(cookie + 1, meta.clone(), SITE_ENTRY);
        pipe.route(cookie + 2, meta, SITE_RETURN);
    }
    pipe
}

/// A word of captured data: what a capture holds is lengths, counts,
/// addresses and type words more often than uniform noise.
fn data_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => 0u64..80,
        1 => Just(u64::MAX),
        1 => (0u32..16, 0u32..16).prop_map(|(a, b)| u64::from(a) | u64::from(b) << 32),
        2 => any::<Index>().prop_map(|i| {
            let r = &planned().rtypes;
            r[i.index(r.len())]
        }),
        1 => any::<u64>().prop_map(|w| 0xc0_0000_0000 | (w & 0xff_fff8)),
    ]
}

/// A record: a header (routed or not), data of words, a `data_len` that
/// may lie.
#[derive(Debug, Clone)]
enum Rec {
    /// Arbitrary bytes.
    Raw(Vec<u8>),
    /// A header and words; `len_delta` is added to `data_len`, `cut`
    /// drops bytes from the end of the record.
    Built {
        ev: RawEvent,
        words: Vec<u64>,
        len_delta: i16,
        cut: u8,
    },
}

fn record() -> impl Strategy<Value = Rec> {
    let n_plans = planned().plans.len() as u32;
    let header = (
        // A routed cookie, usually of the right site.
        prop_oneof![9 => 1..=2 * n_plans, 1 => any::<u32>()],
        prop_oneof![9 => Just(None), 1 => any::<u8>().prop_map(Some)],
        1u64..4,
        prop_oneof![Just(0x200u64), Just(0x280), any::<u64>()],
        prop_oneof![8 => Just(0u8), 2 => any::<u8>()],
        prop_oneof![6 => Just((0u32, 0u32)), 4 => any::<(u32, u32)>()],
        any::<u64>(),
    )
        .prop_map(
            |(cookie, site, goid, frame, flags, (fault, nil), t)| RawEvent {
                ktime_ns: t >> 8,
                goid,
                frame,
                cookie,
                pid: 42,
                tid: 7,
                data_len: 0,
                // Odd cookies are entries, even ones returns.
                site: site.unwrap_or(if cookie % 2 == 1 {
                    SITE_ENTRY
                } else {
                    SITE_RETURN
                }),
                flags,
                fault_mask: fault,
                nil_mask: nil,
                drop_seq: 0,
            },
        );
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Rec::Raw),
        6 => (
            header,
            prop::collection::vec(data_word(), 0..96),
            prop_oneof![8 => Just(0i16), 2 => any::<i16>()],
            prop_oneof![8 => Just(0u8), 2 => any::<u8>()],
        )
            .prop_map(|(ev, words, len_delta, cut)| Rec::Built { ev, words, len_delta, cut }),
    ]
}

/// The record's bytes, as the ring buffer hands them over.
fn bytes_of(r: &Rec) -> Vec<u8> {
    match r {
        Rec::Raw(b) => b.clone(),
        Rec::Built {
            ev,
            words,
            len_delta,
            cut,
        } => {
            let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut ev = *ev;
            ev.data_len = (data.len() as u16).wrapping_add_signed(*len_delta);
            let mut out = header_bytes(&ev);
            out.extend_from_slice(&data);
            out.truncate(out.len().saturating_sub(usize::from(*cut)));
            out
        }
    }
}

fn header_bytes(ev: &RawEvent) -> Vec<u8> {
    // The header's fields in order, little-endian: the BPF side writes
    // `struct gotel_event` (checked against recipe.rs by tests/layout.rs).
    let mut b = Vec::with_capacity(std::mem::size_of::<RawEvent>());
    b.extend_from_slice(&ev.ktime_ns.to_le_bytes());
    b.extend_from_slice(&ev.goid.to_le_bytes());
    b.extend_from_slice(&ev.frame.to_le_bytes());
    b.extend_from_slice(&ev.cookie.to_le_bytes());
    b.extend_from_slice(&ev.pid.to_le_bytes());
    b.extend_from_slice(&ev.tid.to_le_bytes());
    b.extend_from_slice(&ev.data_len.to_le_bytes());
    b.push(ev.site);
    b.push(ev.flags);
    b.extend_from_slice(&ev.fault_mask.to_le_bytes());
    b.extend_from_slice(&ev.nil_mask.to_le_bytes());
    b.extend_from_slice(&ev.drop_seq.to_le_bytes());
    assert_eq!(b.len(), std::mem::size_of::<RawEvent>());
    b
}

/// Whether the pipeline must count `record` as stray: unparsable, or
/// naming no route, or the wrong site for its route.
fn is_stray(record: &[u8], routes: u32) -> bool {
    match RawEvent::parse(record) {
        None => true,
        Some((ev, _)) => {
            let routed = (1..=routes).contains(&ev.cookie);
            let site = if ev.cookie % 2 == 1 {
                SITE_ENTRY
            } else {
                SITE_RETURN
            };
            !routed || ev.site != site
        }
    }
}

/// A value holding something read from the record (not only reasons why
/// nothing could be).
fn concrete(v: &GoValue) -> bool {
    match v {
        GoValue::Unavailable(_) => false,
        GoValue::Struct(fields) => fields.iter().any(|(_, v)| concrete(v)),
        GoValue::Array(items) => items.iter().any(concrete),
        _ => true,
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn records_are_decoded_or_counted(records in prop::collection::vec(record(), 1..24)) {
        let p = planned();
        let mut pipe = pipeline(p);
        let routes = 2 * p.plans.len() as u32;
        let mut stray = 0;
        let mut calls = Vec::new();
        for r in &records {
            let bytes = bytes_of(r);
            stray += u64::from(is_stray(&bytes, routes));
            pipe.handle(&bytes, &mut |c| calls.push(c));
        }
        prop_assert_eq!(pipe.stats.records, records.len() as u64);
        prop_assert_eq!(pipe.stats.stray_records, stray);
        for c in &calls {
            // What the JSONL and OTLP sinks do with it.
            serde_json::to_string(c).expect("a call serialises");
            let _ = c.summary();
        }
        pipe.end_process(42, u64::MAX, &mut |c| calls.push(c));
        prop_assert_eq!(pipe.open_calls().0, 0);
    }

    /// Each site's decoder on its own: random data, and data cut short.
    #[test]
    fn decode_never_panics(
        plan in any::<Index>(),
        entry in any::<bool>(),
        words in prop::collection::vec(data_word(), 0..128),
        masks in prop_oneof![Just((0u32, 0u32)), any::<(u32, u32)>()],
        cut in any::<Index>(),
    ) {
        let p = planned();
        let plan = &p.plans[plan.index(p.plans.len())];
        let site: &SitePlan = if entry { &plan.entry } else { &plan.ret };
        let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let names = p.names.as_ref();
        for d in [&data[..], &data[..cut.index(data.len() + 1)]] {
            let values = gotel::decode::decode(site, d, masks, names, &mut |_| true);
            prop_assert_eq!(values.len(), site.values.len());
            for (_, v) in &values {
                serde_json::to_string(v).expect("a value serialises");
            }
        }
        // Nothing captured: nothing may be made up.
        for (name, v) in gotel::decode::decode(site, &[], (0, 0), names, &mut |_| true) {
            prop_assert!(!concrete(&v), "{} {name} from no data: {v:?}", plan.function);
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
