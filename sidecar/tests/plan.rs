//! The planner on real binaries: exact recipes for functions of
//! `integration/sigs`, the same with every toolchain (Go's register ABI
//! and these types' layouts do not change between releases).

mod common;

use std::fmt::Write as _;

use common::*;
use gotel::golang::BinaryInfo;
use gotel::plan::{Plan, Shape, SitePlan};
use gotel::recipe::RawOp;

fn probe(function: &str, extra: serde_json::Value) -> gotel::config::ProbeSpec {
    let mut v = serde_json::json!({"function": function, "target": {"exe": "x"}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

/// One op, its fields that are set.
fn op(o: &RawOp) -> String {
    let mut s = format!("k{} s{} m{}", o.kind, o.size, o.max_len);
    let _ = write!(s, " a{}:{}:{}", o.a.kind, o.a.reg, o.a.offset);
    if o.b.kind != 0 {
        let _ = write!(s, " b{}:{}:{}", o.b.kind, o.b.reg, o.b.offset);
    }
    if o.indirect != 0 {
        let hops = &o.hops[..usize::from(o.n_hops)];
        let _ = write!(s, " *{} {hops:?}+{}", o.indirect, o.mem_off);
    }
    if o.stride != 0 {
        let _ = write!(s, " stride{}", o.stride);
    }
    if o.flags != 0 {
        let _ = write!(s, " f{} t{}", o.flags, o.type_op);
    }
    s
}

/// The shape, with op numbers.
fn shape(s: &Shape) -> String {
    match s {
        Shape::Scalar { op, kind, size } => format!("{kind:?}{size}@{op}"),
        Shape::String { op } => format!("string@{op}"),
        Shape::Pointer { addr_op, pointee } => format!("&{}@{addr_op}", shape(pointee)),
        Shape::Struct(fields) => {
            let f: Vec<String> = fields
                .iter()
                .map(|(n, s)| format!("{n}: {}", shape(s)))
                .collect();
            format!("{{{}}}", f.join(", "))
        }
        Shape::Slice { op, cap_op, .. } => format!("slice@{op}/{cap_op:?}"),
        Shape::Unavailable(why) => format!("({why})"),
        other => format!("{other:?}"),
    }
}

fn site(name: &str, p: &SitePlan) -> String {
    let mut out = format!("{name} quiet={:#x}\n", p.recipe.quiet_mask);
    for v in &p.values {
        let _ = writeln!(
            out,
            "  {} {} {} = {}",
            v.name,
            v.ty,
            v.location,
            shape(&v.shape)
        );
    }
    for (i, o) in p.recipe.ops[..usize::from(p.recipe.n_ops)]
        .iter()
        .enumerate()
    {
        let _ = writeln!(out, "  {i}: {}", op(o));
    }
    out
}

/// What `gotel check` would show of a plan, with every op.
fn render(p: &Plan) -> String {
    let mut out = format!("{}\n", p.signature);
    // Call sites are named caller+offset: the offset differs by toolchain.
    let offset = regex::Regex::new(r"\+0x[0-9a-f]+").unwrap();
    for w in &p.warnings {
        let _ = writeln!(out, "! {}", offset.replace_all(w, "+0x…"));
    }
    out + &site("entry", &p.entry) + &site("return", &p.ret)
}

fn plans(extra: serde_json::Value, function: &str) -> Vec<String> {
    toolchains()
        .iter()
        .map(|tc| {
            let path = build(tc, "sigs", "plan", &[]);
            let bin = BinaryInfo::open(&path).unwrap();
            let plans = gotel::plan::plan(&bin, &probe(function, extra.clone())).unwrap();
            assert_eq!(plans.len(), 1);
            render(&plans[0])
        })
        .collect()
}

/// A pinned text: a raw string literal that starts on its own line.
fn text(s: &str) -> String {
    s.strip_prefix('\n').unwrap().to_string()
}

fn assert_all(got: Vec<String>, want: &str) {
    for g in got {
        assert_eq!(g, want, "\n{g}");
    }
}

#[test]
fn handle() {
    assert_all(
        plans(serde_json::json!({}), "main.handle"),
        &text(
            r#"
main.handle(r *main.Request, tag string) int
entry quiet=0x0
  r *main.Request RAX = &{Method: string@2, URL: &{Scheme: string@4, Host: string@5, Path: string@6, Port: Int8@7}@3, Body: &{N: Int8@9}@8, Depth: Int4@10, Ports: slice@11/Some(12)}@0
  tag string RBX+RCX = string@1
  0: k1 s8 m0 a1:0:0
  1: k2 s1 m256 a1:1:0 b1:2:0
  2: k2 s1 m256 a1:0:0 *1 []+0
  3: k1 s8 m0 a1:0:0 *1 []+16
  4: k2 s1 m256 a1:0:0 *1 [16]+0
  5: k2 s1 m256 a1:0:0 *1 [16]+16
  6: k2 s1 m256 a1:0:0 *1 [16]+32
  7: k1 s8 m0 a1:0:0 *1 [16]+48
  8: k1 s8 m0 a1:0:0 *1 []+24
  9: k1 s8 m0 a1:0:0 *1 [24]+0
  10: k1 s4 m0 a1:0:0 *1 []+32
  11: k2 s8 m128 a1:0:0 *1 []+40
  12: k1 s8 m0 a1:0:0 *1 []+56
return quiet=0x0
  r0 int RAX = Int8@0
  0: k1 s8 m0 a1:0:0
"#,
        ),
    );
}

#[test]
fn many() {
    assert_all(
        plans(serde_json::json!({}), "main.many"),
        &text(
            r#"
main.many(a1 int, a2 int, a3 int, a4 int, a5 int, a6 int, a7 int, a8 int, a9 int, a10 int, a11 int) int
entry quiet=0x0
  a1 int RAX = Int8@0
  a2 int RBX = Int8@1
  a3 int RCX = Int8@2
  a4 int RDI = Int8@3
  a5 int RSI = Int8@4
  a6 int R8 = Int8@5
  a7 int R9 = Int8@6
  a8 int R10 = Int8@7
  a9 int R11 = Int8@8
  a10 int 8(SP) = Int8@9
  a11 int 16(SP) = Int8@10
  0: k1 s8 m0 a1:0:0
  1: k1 s8 m0 a1:1:0
  2: k1 s8 m0 a1:2:0
  3: k1 s8 m0 a1:3:0
  4: k1 s8 m0 a1:4:0
  5: k1 s8 m0 a1:5:0
  6: k1 s8 m0 a1:6:0
  7: k1 s8 m0 a1:7:0
  8: k1 s8 m0 a1:8:0
  9: k1 s8 m0 a2:0:8
  10: k1 s8 m0 a2:0:16
return quiet=0x0
  r0 int RAX = Int8@0
  0: k1 s8 m0 a1:0:0
"#,
        ),
    );
}

#[test]
fn mixed() {
    assert_all(
        plans(serde_json::json!({}), "main.mixed"),
        &text(
            r#"
main.mixed(x int64, f float64, s string) (float64, error)
! f: float64 passed in register X0; eBPF cannot read XMM registers
! r0 (float64 result in X0): readable at 0 of 1 direct call sites; not at main.round+0x…: it stays in XMM across a call of runtime.makechan
entry quiet=0x0
  x int64 RAX = Int8@0
  f float64 X0 = (float64 passed in register X0; eBPF cannot read XMM registers)
  s string RBX+RCX = string@1
  0: k1 s8 m0 a1:0:0
  1: k2 s1 m256 a1:1:0 b1:2:0
return quiet=0x6
  r0 float64 X0 = (float64 passed in register X0; eBPF cannot read XMM registers)
  r1 error RAX+RBX = Interface { type_op: 0, head_op: Some(2), strings: [(0, 1)], ty: "error" }
  0: k1 s8 m0 a1:0:0 *1 []+8
  1: k2 s1 m256 a1:1:0 *1 []+0
  2: k4 s1 m64 a1:1:0 *2 []+0 f1 t0
"#,
        ),
    );
}

#[test]
fn crowded() {
    let extra = serde_json::json!({"max_string_len": 4000, "args": ["r.URL", "tag", "r.Method"]});
    assert_all(
        plans(extra, "main.handle"),
        &text(
            r#"
main.handle(r *main.Request, tag string) int
! r.URL.Path: more than 32 captures or 8192 bytes at one site; narrow `args:`
! r.Method: more than 32 captures or 8192 bytes at one site; narrow `args:`
! tag: more than 32 captures or 8192 bytes at one site; narrow `args:`
entry quiet=0x0
  r.URL *main.URL *(RAX+16) = &{Scheme: string@1, Host: string@2, Path: (more than 32 captures or 8192 bytes at one site; narrow `args:`), Port: Int8@3}@0
  r.Method string RAX = (more than 32 captures or 8192 bytes at one site; narrow `args:`)
  tag string RBX+RCX = (more than 32 captures or 8192 bytes at one site; narrow `args:`)
  0: k1 s8 m0 a1:0:0 *1 []+16
  1: k2 s1 m4000 a1:0:0 *1 [16]+0
  2: k2 s1 m4000 a1:0:0 *1 [16]+16
  3: k1 s8 m0 a1:0:0 *1 [16]+48
return quiet=0x0
  r0 int RAX = Int8@0
  0: k1 s8 m0 a1:0:0
"#,
        ),
    );
}

/// An entry-only probe has a restart site right after its prologue's call
/// to `runtime.morestack` (the 5 bytes before it are that CALL, checked
/// against the ELF symbol); a probe with returns pairs restarts in
/// userspace and has none, and so has a leaf with no stack check.
#[test]
fn restart_sites() {
    let entry_only = serde_json::json!({"returns": false, "latency": false});
    for tc in toolchains() {
        let v = &tc.version;
        let path = build(&tc, "sigs", "plan", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        let file = std::fs::read(&path).unwrap();
        let plan_of = |f: &str, extra: &serde_json::Value| {
            gotel::plan::plan(&bin, &probe(f, extra.clone())).unwrap()[0].clone()
        };
        let deep = plan_of("main.deep", &entry_only);
        assert_eq!(deep.restart_offsets.len(), 1, "{v}");
        assert_ne!(deep.entry.recipe.flags & gotel::recipe::RECIPE_RESTARTS, 0);
        let at = deep.restart_offsets[0] as usize;
        assert_eq!(file[at - 5], 0xE8, "{v}: a near CALL");
        let rel = i32::from_le_bytes(file[at - 4..at].try_into().unwrap());
        let low_pc = bin.lookup("main.deep").unwrap().low_pc;
        let vaddr = low_pc + (deep.restart_offsets[0] - deep.entry_offset);
        let target = vaddr.wrapping_add_signed(i64::from(rel));
        let morestack = ["runtime.morestack_noctxt.abi0", "runtime.morestack_noctxt"]
            .iter()
            .find_map(|s| bin.symbol(s))
            .unwrap()
            .0;
        assert_eq!(target, morestack, "{v}");

        let paired = plan_of("main.deep", &serde_json::json!({}));
        assert!(paired.restart_offsets.is_empty(), "{v}");
        assert_eq!(
            paired.entry.recipe.flags & gotel::recipe::RECIPE_RESTARTS,
            0
        );
        assert!(
            plan_of("main.flip", &entry_only).restart_offsets.is_empty(),
            "{v}"
        );
    }
}

/// Float results in X0 read at landing sites (`integration/floats`): how
/// many direct call sites move the value where eBPF reads it, the return
/// recipe's extra op (the return address), and `float_landing: false`.
#[test]
fn float_results_at_landing_sites() {
    for tc in toolchains() {
        let v = &tc.version;
        let path = build(&tc, "floats", "plan", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        let plan = |f: &str, extra| gotel::plan::plan(&bin, &probe(f, extra)).unwrap().remove(0);
        // How many call sites move the value out of XMM depends on the
        // compiler (Go 1.21-1.23 keep main.round's `area` result in XMM
        // across the next call); the number of direct call sites does not.
        for (f, head, total) in [
            ("main.area", "r0 (float64 result in X0): readable at ", 7),
            ("main.third", "r0 (float32 result in X0): readable at ", 4),
        ] {
            let on = plan(f, serde_json::json!({}));
            let l = on.landings.as_ref().unwrap_or_else(|| panic!("{v}: {f}"));
            let line = &l.report[0];
            let counts = line
                .strip_prefix(head)
                .and_then(|r| r.split_once(" direct call sites"))
                .and_then(|(c, _)| c.split_once(" of "))
                .unwrap_or_else(|| panic!("{v}: {f}: {line}"));
            let readable: usize = counts.0.parse().unwrap();
            assert_eq!(counts.1, total.to_string(), "{v}: {f}: {line}");
            assert!((1..total).contains(&readable), "{v}: {f}: {line}");
            assert!(line.contains("; not at main.round+0x"), "{v}: {line}");
            assert_eq!(on.warnings, l.report, "{v}: the unread sites, once");
            let reads: usize = l.sites.iter().map(|s| s.offsets.len()).sum();
            // A readable call site has a landing site per path out of XMM.
            assert!(reads >= readable, "{v}: {f}: {reads} landing sites");
            for s in &l.sites {
                assert_eq!(s.site.recipe.site, gotel::recipe::SITE_LANDING);
                assert_eq!(s.results, vec![0]);
            }
            let off = plan(f, serde_json::json!({"float_landing": false}));
            assert!(off.landings.is_none());
            assert_eq!(
                off.ret.recipe.n_ops + 1,
                on.ret.recipe.n_ops,
                "{v}: the return address"
            );
            let ty = if f == "main.area" {
                "float64"
            } else {
                "float32"
            };
            assert_eq!(
                off.warnings,
                vec![format!(
                    "r0: {ty} passed in register X0; eBPF cannot read XMM registers"
                )],
                "{v}"
            );
        }
    }
}

#[test]
fn float_arguments_at_landing_sites_in_the_callee() {
    use gotel::recipe::SITE_LANDING;
    let at = regex::Regex::new(r"\+0x[0-9a-f]+").unwrap();
    for tc in toolchains() {
        let v = &tc.version;
        let path = build(&tc, "floats", "plan", &[]);
        let bin = BinaryInfo::open(&path).unwrap();
        let plan = |f: &str, extra| gotel::plan::plan(&bin, &probe(f, extra)).unwrap().remove(0);
        // Moved out of XMM on every path: read in the callee, no warning.
        for (f, report, index) in [
            ("main.scale", "x (float64 argument in X0): read in the callee at main.scale+0x…", 0),
            (
                "main.(*service).Authorise",
                "amount (float32 argument in X0): read in the callee at main.(*service).Authorise+0x…",
                1,
            ),
        ] {
            let p = plan(f, serde_json::json!({}));
            let l = p.arg_landings.as_ref().unwrap_or_else(|| panic!("{v}: {f}"));
            assert_eq!(l.report.len(), 1, "{v}: {f}: {:?}", l.report);
            assert_eq!(at.replace_all(&l.report[0], "+0x…"), report, "{v}");
            assert!(p.warnings.is_empty(), "{v}: {f}: {:?}", p.warnings);
            assert_eq!(l.sites.len(), 1, "{v}: {f}");
            let s = &l.sites[0];
            assert_eq!(s.site.recipe.site, SITE_LANDING);
            assert_eq!((s.args.clone(), s.offsets.len()), (vec![index], 1), "{v}: {f}");
            // After the frame set-up: the return address, the saved BP and
            // the frame are below the entry's SP.
            assert!(s.delta >= 16 && s.delta % 8 == 0, "{v}: {f}: {}", s.delta);
            assert_eq!(l.args.len(), 1);
            assert_eq!((l.args[0].index, l.args[0].kept.as_deref()), (index, None), "{v}");
        }
        // Three floats, each read on every toolchain (Go 1.21-1.23 move w
        // to EDX, not an argument register: a recipe reads RDX too).
        let p = plan("main.blend", serde_json::json!({}));
        let l = p.arg_landings.as_ref().unwrap();
        assert_eq!(l.report.len(), 3, "{v}: {:?}", l.report);
        for (i, head) in [
            "a (float64 argument in X0): read in the callee at main.blend+0x",
            "b (float64 argument in X1): read in the callee at main.blend+0x",
            "w (float32 argument in X2): read in the callee at main.blend+0x",
        ]
        .iter()
        .enumerate()
        {
            assert!(l.report[i].starts_with(head), "{v}: {:?}", l.report);
        }
        assert!(p.warnings.is_empty(), "{v}: {:?}", p.warnings);
        let read: Vec<usize> = l.sites.iter().flat_map(|s| s.args.clone()).collect();
        assert_eq!(read.len(), 3, "{v}: {:?}", l.sites);
        // Kept in XMM on one path: read on the other, the warning says which.
        let p = plan("main.pick", serde_json::json!({}));
        let l = p.arg_landings.as_ref().unwrap();
        let line = at.replace_all(&l.report[0], "+0x…");
        assert_eq!(
            line,
            "x (float64 argument in X0): read in the callee at main.pick+0x…; not on paths where its register is overwritten (addsd) before it leaves XMM",
            "{v}"
        );
        assert!(p.warnings.contains(&l.report[0]), "{v}: {:?}", p.warnings);
        assert_eq!(
            l.args[0].kept.as_deref(),
            Some("its register is overwritten (addsd) before it leaves XMM"),
            "{v}"
        );
        // Moved out where both paths meet, one after tripling it in XMM: a
        // probe there would read 3x on that path, so it is not read at all.
        let p = plan("main.twice", serde_json::json!({}));
        let l = p.arg_landings.as_ref().unwrap();
        assert_eq!(
            at.replace_all(&l.report[0], "+0x…"),
            "x (float64 argument in X0): not readable: its register is overwritten (mulsd) before it leaves XMM, and that path goes on to its landing site at main.twice+0x…",
            "{v}"
        );
        assert!(l.sites.is_empty() && l.args.is_empty(), "{v}");
        assert_eq!(
            p.warnings,
            vec!["x: float64 passed in register X0; eBPF cannot read XMM registers".to_string()],
            "{v}"
        );
        // Entry-only: delivered before any landing, never read, and why.
        let p = plan(
            "main.pick",
            serde_json::json!({"returns": false, "latency": false}),
        );
        let l = p.arg_landings.as_ref().unwrap();
        assert!(l.sites.is_empty() && l.args.is_empty(), "{v}");
        assert!(
            l.report[0].contains("not readable: an entry-only probe"),
            "{v}"
        );
        // A redacted float argument is never read, not even in the callee.
        let yaml = "redact: { names: [amount] }\nprobes:\n  - function: main.(*service).Authorise\n    target: { exe: x }\n";
        let cfg = gotel::config::from_yaml(yaml).unwrap();
        let p = gotel::plan::plan(&bin, &cfg.probes[0]).unwrap().remove(0);
        assert!(p.arg_landings.is_none(), "{v}: {:?}", p.arg_landings);
        // float_landing: false: no argument landing site either.
        let p = plan("main.scale", serde_json::json!({"float_landing": false}));
        assert!(p.arg_landings.is_none(), "{v}");
        assert_eq!(
            p.warnings,
            vec!["x: float64 passed in register X0; eBPF cannot read XMM registers".to_string()],
            "{v}"
        );
    }
}
