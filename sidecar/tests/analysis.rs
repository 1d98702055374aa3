//! Binary analysis on Go executables built during the test, per toolchain.

mod common;

use common::*;
use gotel::golang::{signature, without_type_args, BinaryInfo, LookupError};

#[test]
fn versions_signatures_and_ret_sites() {
    for tc in toolchains() {
        let path = build(&tc, "sigs", "analysis", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        assert_eq!(bin.go_version.as_deref(), Some(tc.version.as_str()));
        assert!(bin.regabi);
        let g = bin.g_offsets();
        assert!(g.goid > 100 && g.goid < 400, "{g:?}");
        assert_eq!(g.stack_hi, 8, "runtime.g starts with stack{{lo, hi}}");

        let f = |n: &str| bin.lookup(n).unwrap();
        assert_eq!(
            signature(&bin, f("main.ints")),
            "main.ints(a int8, b int16, c int32, d int64, e uint8, f uint16, g uint32, h uint64, i int) int64"
        );
        assert_eq!(
            signature(&bin, f("greet")),
            "main.greet(name string, times int) (string, int)"
        );
        assert_eq!(
            signature(&bin, f("main.mixed")),
            "main.mixed(x int64, f float64, s string) (float64, error)"
        );
        assert_eq!(
            signature(&bin, f("(*Counter).Add")),
            "main.(*Counter).Add(c *main.Counter, d int) int"
        );
        assert_eq!(f("main.(*Counter).Add").name, "main.(*Counter).Add");
        assert_eq!(f("fmt.Fprintf").name, "fmt.Fprintf");

        // Every RET site is a RET opcode inside the function, and the
        // recursive function has both its base-case and recursive returns.
        for name in ["main.ints", "main.deep", "main.mixed"] {
            let func = f(name);
            let code = bin.code(func).unwrap();
            let rets = bin.ret_sites(func);
            assert!(!rets.is_empty(), "{name}");
            for r in rets {
                assert!(r >= func.low_pc && r < func.high_pc);
                assert_eq!(
                    code[(r - func.low_pc) as usize],
                    0xc3,
                    "{} {name} at {r:#x}",
                    tc.version
                );
            }
        }
        assert!(bin.ret_sites(f("main.deep")).len() >= 2, "{}", tc.version);
    }
}

#[test]
fn lookup_errors_say_what_to_do() {
    let tc = toolchains().remove(0);
    let path = build(&tc, "sigs", "analysis_lookup", &[]);
    let bin = BinaryInfo::open(&path).unwrap();
    match bin.lookup("main.gret") {
        Err(LookupError::NotFound { suggestions, .. }) => assert_eq!(suggestions[0], "main.greet"),
        other => panic!("{other:?}"),
    }
    let e = bin.lookup("computeE").unwrap_err().to_string();
    assert!(e.starts_with("no function computeE in "), "{e}");
    // `throw` exists in runtime and in internal/bytealg's stubs' callers.
    match bin.lookup("throw") {
        Err(LookupError::Ambiguous { candidates, .. }) => assert!(candidates.len() > 1),
        Ok(f) => panic!("throw resolved to {}", f.name),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn file_offsets_point_at_the_code_for_pie_too() {
    let tc = toolchains().remove(0);
    for flags in [&[][..], &["-buildmode=pie"][..]] {
        let path = build(&tc, "sigs", &format!("offsets{}", flags.len()), flags);
        let bin = BinaryInfo::open(&path).unwrap();
        let raw = std::fs::read(&path).unwrap();
        let f = bin.lookup("main.greet").unwrap();
        let off = bin.file_offset(f.low_pc).unwrap() as usize;
        assert_eq!(
            &raw[off..off + 16],
            &bin.code(f).unwrap()[..16],
            "{flags:?}"
        );
    }
}

/// A binary without DWARF still yields its functions (from `.gopclntab`)
/// and the runtime.g offsets gotel's table gives for its Go release; both
/// checked against DWARF of the same build, for every toolchain.
#[test]
fn function_table_and_g_offsets_agree_with_dwarf() {
    use gotel::golang::pclntab;
    use object::{Object, ObjectSection};
    for tc in toolchains() {
        let v = &tc.version;
        for (tag, flags) in [("table", &[][..]), ("table-pie", &["-buildmode=pie"][..])] {
            let path = build(&tc, "sigs", tag, flags);
            let bin = BinaryInfo::open(&path).unwrap();
            let data = std::fs::read(&path).unwrap();
            let file = object::File::parse(&data[..]).unwrap();
            let tab = file
                .section_by_name(".gopclntab")
                .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))
                .unwrap_or_else(|| panic!("{v} {tag}: no pclntab section"));
            let text = file.section_by_name(".text").unwrap().address();
            let table = pclntab::functions(tab.data().unwrap(), text).unwrap();
            let by_entry: std::collections::HashMap<u64, &pclntab::PcFunc> =
                table.iter().map(|f| (f.entry, f)).collect();
            let mut compared = 0;
            for f in &bin.dwarf.functions {
                let t = by_entry
                    .get(&f.low_pc)
                    .unwrap_or_else(|| panic!("{v} {tag}: {} at {:#x} missing", f.name, f.low_pc));
                // The table abbreviates type arguments (`main.Max[...]`).
                if t.name.contains("[...]") {
                    assert_eq!(without_type_args(&t.name), without_type_args(&f.name));
                } else {
                    assert_eq!(t.name, f.name, "{v} {tag}");
                }
                assert!(t.end >= f.high_pc, "{v} {tag}: {}", f.name);
                compared += 1;
            }
            assert!(compared > 1000, "{v}: {compared}");
            let minor: u32 = v
                .trim_start_matches("go1.")
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                pclntab::goid_offset(minor),
                Some(bin.g_offsets().goid),
                "{v}: goid offset table"
            );
        }
        // Stripped: the same functions, no parameters, a clear warning.
        let path = build(&tc, "sigs", "stripped", &["-ldflags=-s -w"]);
        let bin = BinaryInfo::open(&path).unwrap();
        assert!(bin.symbols_only);
        let greet = bin.lookup("main.greet").unwrap();
        assert!(greet.params.is_empty());
        assert_eq!(
            signature(&bin, greet),
            "main.greet(…) (no DWARF: signature unknown)"
        );
        let plan = gotel::plan::plan_function(&bin, greet, &probe("main.greet")).unwrap();
        assert!(
            plan.warnings[0].contains("only calls and latency"),
            "{:?}",
            plan.warnings
        );
        assert!(plan.entry.values.is_empty() && plan.ret.values.is_empty());
    }
}

/// "Test both ways": the ABI assignment gotel derives from types must agree
/// with the compiler's own DWARF location lists at every function entry, for
/// every function of the binary (standard library included) where DWARF
/// gives a location — except where DWARF itself left a parameter out.
#[test]
fn abi_assignment_agrees_with_dwarf_locations() {
    for tc in toolchains() {
        let path = build(&tc, "demo", "abi", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        let dwarf = bin.entry_locations().unwrap();
        let (mut compared, mut mismatches) = (0, Vec::new());
        for f in &bin.dwarf.functions {
            let Some(tys) = f.args().map(|p| p.ty).collect::<Option<Vec<_>>>() else {
                continue;
            };
            let Ok((_, disagreement)) = bin.assign(f, &tys, &[]) else {
                continue;
            };
            if dwarf.get(&f.low_pc).is_none_or(|l| {
                l.iter()
                    .all(|l| l.pieces.as_ref().is_none_or(|p| p.is_empty()))
            }) {
                continue;
            }
            compared += 1;
            if let Some(why) = disagreement {
                mismatches.push(format!("{}: {why}", f.name));
            }
        }
        assert!(
            compared > 1000,
            "{}: only {compared} functions compared",
            tc.version
        );
        // What remains are functions where DWARF itself is off: `_`/unnamed
        // parameters omitted (Go < 1.22), runtime entry points called through
        // ABI0, autogenerated wrappers (Go 1.27 places their receivers on the
        // stack). The planner refuses their arguments instead of guessing.
        // None may be user code, and they must stay under 5%.
        let user: Vec<_> = mismatches
            .iter()
            .filter(|m| m.starts_with("main."))
            .collect();
        assert!(user.is_empty(), "{}: {user:?}", tc.version);
        assert!(
            mismatches.len() * 20 <= compared,
            "{}: {} of {compared} differ:\n{}",
            tc.version,
            mismatches.len(),
            mismatches
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Functions called from assembly also have an ABI0 wrapper with the same
/// DWARF name; lookups must land on the ABIInternal body Go code calls.
#[test]
fn abi0_wrappers_do_not_shadow_the_real_function() {
    for tc in toolchains() {
        let path = build(&tc, "demo", "abi0", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        let raw = std::fs::read(&path).unwrap();
        let file = object::File::parse(&raw[..]).unwrap();
        use object::{Object, ObjectSymbol};
        let sym = |n: &str| {
            file.symbols()
                .find(|s| s.name() == Ok(n))
                .map(|s| s.address())
        };
        for name in ["runtime.newproc", "runtime.write"] {
            let f = bin.lookup(name).unwrap();
            assert_eq!(Some(f.low_pc), sym(name), "{} {name}", tc.version);
            assert_eq!(
                bin.dwarf
                    .functions
                    .iter()
                    .filter(|g| g.name == name)
                    .count(),
                1
            );
        }
    }
}

/// DWARF sometimes repeats a result (`~r0` twice for a result a deferred
/// call can change): the signature must keep one, or the ABI would assign a
/// phantom second result to the next registers.
#[test]
fn repeated_parameters_are_listed_once() {
    for tc in toolchains() {
        let path = build(&tc, "demo", "dups", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        for f in &bin.dwarf.functions {
            let mut names: Vec<_> = f
                .params
                .iter()
                .filter(|p| !p.name.is_empty())
                .map(|p| (&p.name, p.is_result))
                .collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{} {}", tc.version, f.name);
        }
        let serve = bin.lookup("net/http.(*Server).Serve").unwrap();
        assert_eq!(
            signature(&bin, serve),
            "net/http.(*Server).Serve(srv *net/http.Server, l net.Listener) error"
                .replace("srv", &serve.params[0].name)
        );
    }
}

fn probe(function: &str) -> gotel::config::ProbeSpec {
    serde_json::from_value(serde_json::json!({"function": function, "target": {"exe": "x"}}))
        .unwrap()
}

/// Names every runtime type address as some DWARF type of the binary, so
/// that garbage records exercise dynamic decoding over all kinds of types.
struct AnyType<'a> {
    bin: &'a BinaryInfo,
}

impl AnyType<'_> {
    fn type_id(&self, addr: u64) -> Option<gotel::golang::types::TypeId> {
        let n = self.bin.dwarf.types.len();
        (n > 0).then(|| (addr as usize) % n)
    }
}

impl gotel::decode::Names for AnyType<'_> {
    fn runtime_type(&self, addr: u64) -> Option<(String, Option<gotel::golang::types::TypeId>)> {
        let id = self.type_id(addr)?;
        Some((self.bin.dwarf.types.get(id).name.clone(), Some(id)))
    }
    fn func_name(&self, pc: u64) -> Option<String> {
        self.bin.function_at(pc).map(|f| f.name.clone())
    }
    fn type_table(&self) -> Option<&gotel::golang::types::TypeTable> {
        Some(&self.bin.dwarf.types)
    }
    fn type_named(&self, _: &str) -> Option<gotel::golang::types::TypeId> {
        None
    }
    fn runtime_kind(&self, addr: u64) -> Option<(u8, u64)> {
        Some(((addr % 27) as u8, addr % 17))
    }
    fn errno_text(&self, n: u64) -> Option<String> {
        Some(format!("errno {n}"))
    }
    fn dyn_plan(&self, addr: u64) -> Option<std::sync::Arc<gotel::plan::TypePlan>> {
        let id = self.type_id(addr)?;
        gotel::plan::plan_type(&self.bin.dwarf.types, id, 64, &gotel::plan::Secrets::off())
            .map(std::sync::Arc::new)
    }
}

/// The decoder reads ring-buffer bytes: for every function of a net/http
/// binary, planned with default settings, garbage records of every length
/// (and random fault/nil masks) must decode without a panic, and planning
/// itself must not fail unexpectedly. (How long planning takes is measured
/// by scripts/measure.sh, not asserted here: a debug build on a loaded VM.)
#[test]
fn every_plan_decodes_garbage_without_panicking() {
    use rand::{Rng, SeedableRng};
    let tc = toolchains().remove(0);
    let path = build(&tc, "demo", "garbage", &[]);
    let bin = BinaryInfo::open(&path).unwrap();
    let names = AnyType { bin: &bin };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // One buffer refilled per site: generating the bytes one by one took
    // most of the test's time.
    let mut garbage = vec![0u8; 8192];
    let mut planned = 0;
    for f in &bin.dwarf.functions {
        let Ok(plan) = gotel::plan::plan_function(&bin, f, &probe(&f.name)) else {
            continue;
        };
        planned += 1;
        for site in [&plan.entry, &plan.ret] {
            rng.fill(&mut garbage[..]);
            for len in [0usize, 7, 16, 100, 1000, 8192] {
                let data = &garbage[..len];
                let masks = (rng.random(), rng.random());
                let values = gotel::decode::decode(site, data, masks, &names, &mut |_: u64| false);
                assert_eq!(values.len(), site.values.len(), "{}", f.name);
                // And every value serialises.
                serde_json::to_string(&values.iter().map(|(_, v)| v).collect::<Vec<_>>()).unwrap();
            }
        }
    }
    assert!(planned > 1000, "{planned}");
}
