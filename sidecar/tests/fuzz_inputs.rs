//! Property tests ("fuzzing", issue #12) of the inputs gotel reads that
//! are not text: Go executables (mutated ELF and DWARF: the analysis never
//! panics, a broken binary is refused clearly or degrades) and ring-buffer
//! records (the pipeline and the decoder never panic, count what they
//! cannot use, and make nothing up). Config text and conditions are in
//! `fuzz.rs`; case counts and `PROPTEST_CASES` work as there.

mod common;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use proptest::sample::Index;

use gotel::config::ProbeSpec;
use gotel::decode::{GoValue, Names};
use gotel::golang::types::{TypeId, TypeTable};
use gotel::golang::BinaryInfo;
use gotel::live::pipeline::{Attachment, Lookups, Pipeline};
use gotel::plan::{Plan, SitePlan, TypePlan};
use gotel::recipe::{RawEvent, SITE_ENTRY, SITE_RETURN};

use common::fuzz::{assert_clear_error, cases};

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
