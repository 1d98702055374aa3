//! Unit tests of the planner on synthetic type tables: exact ops,
//! locations, shapes, and what gives way first when a site runs short of
//! its 32 ops and 8 KiB.

use crate::config::ProbeSpec;
use crate::golang::abi::{self, Loc};
use crate::golang::types::{Field, GoType, Kind, TypeId, TypeTable};
use crate::golang::{Param, RuntimeLayout};
use crate::recipe::{
    RawLoc, RawOp, RawRecipe, RawTypeRecipe, ADDR_ONLY, LOC_ELEM, LOC_REG, LOC_STACK, MAX_TYPE_OPS,
    OPF_DYN, OP_BYTES, OP_ELEMS, OP_GROUP, OP_SCALAR, OP_STRING, OP_STRINGS, SITE_ENTRY,
    SITE_RETURN,
};

use super::budget::{Budget, Priority};
use super::contract::{ByteLayout, MapEntries, ScalarKind, Shape, SitePlan};
use super::emit::{self, Access, Base, Mem};
use super::function::SiteCtx;

const FULL: &str = "more than 32 captures or 8192 bytes at one site; narrow `args:`";

/// A type table with the basic types, and room for more.
struct Types {
    t: TypeTable,
    int: TypeId,
    boolean: TypeId,
    string: TypeId,
    float: TypeId,
    error: TypeId,
}

impl Types {
    fn new() -> Self {
        let mut t = TypeTable::default();
        let mut add = |name: &str, size, kind| {
            t.push(GoType {
                name: name.into(),
                size,
                kind,
            })
        };
        let int = add("int", 8, Kind::Int { signed: true });
        let boolean = add("bool", 1, Kind::Bool);
        let string = add("string", 16, Kind::String);
        let float = add("float64", 8, Kind::Float);
        let error = add("error", 16, Kind::Interface { empty: false });
        Types {
            t,
            int,
            boolean,
            string,
            float,
            error,
        }
    }

    fn add(&mut self, name: &str, size: u64, kind: Kind) -> TypeId {
        self.t.push(GoType {
            name: name.into(),
            size,
            kind,
        })
    }

    /// A struct of these fields, laid out one after another (8-aligned).
    fn strukt(&mut self, name: &str, fields: &[(&str, TypeId)]) -> TypeId {
        let mut off = 0;
        let mut out = Vec::new();
        for (n, ty) in fields {
            out.push(Field {
                name: n.to_string(),
                offset: off,
                ty: *ty,
            });
            off += self.t.get(*ty).size.div_ceil(8) * 8;
        }
        self.add(name, off, Kind::Struct { fields: out })
    }

    fn ptr(&mut self, to: TypeId) -> TypeId {
        let name = format!("*{}", self.t.get(to).name);
        self.add(&name, 8, Kind::Pointer { elem: Some(to) })
    }

    fn slice(&mut self, of: TypeId) -> TypeId {
        let name = format!("[]{}", self.t.get(of).name);
        self.add(&name, 24, Kind::Slice { elem: Some(of) })
    }
}

fn spec(extra: serde_json::Value) -> ProbeSpec {
    let mut v = serde_json::json!({"function": "main.f", "target": {"exe": "x"}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

/// A Go 1.24 layout: swiss maps.
fn swiss() -> RuntimeLayout {
    RuntimeLayout {
        map_len: Some(0),
        chan_len: Some(0),
        chan_cap: Some(8),
        func_pc: Some(0),
        swiss: Some((16, 24)),
        swiss_groups: Some(32),
        hmap: None,
    }
}

/// What planning one site gave.
struct Site {
    plan: SitePlan,
    warnings: Vec<String>,
}

impl Site {
    fn op(&self, i: usize) -> &RawOp {
        assert!(i < usize::from(self.plan.recipe.n_ops), "op {i}");
        &self.plan.recipe.ops[i]
    }

    fn shape(&self, name: &str) -> &Shape {
        &self.value(name).shape
    }

    fn value(&self, name: &str) -> &crate::plan::Value {
        self.plan
            .values
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no value {name}"))
    }
}

fn plan_site(
    types: &Types,
    args: &[(&str, TypeId)],
    results: &[(&str, TypeId)],
    probe: &ProbeSpec,
    site: u8,
    adjust: impl FnOnce(&mut SiteCtx),
) -> Site {
    let params = |list: &[(&str, TypeId)], is_result| -> Vec<Param> {
        list.iter()
            .map(|(n, ty)| Param {
                name: (*n).into(),
                ty: Some(*ty),
                is_result,
            })
            .collect()
    };
    let (a, r) = (params(args, false), params(results, true));
    let (a, r): (Vec<&Param>, Vec<&Param>) = (a.iter().collect(), r.iter().collect());
    let ids = |l: &[(&str, TypeId)]| l.iter().map(|(_, t)| *t).collect::<Vec<_>>();
    let assignment = abi::assign(&types.t, &ids(args), &ids(results)).map_err(|e| e.to_string());
    let secrets = crate::plan::Secrets {
        redaction: probe.redact.clone(),
        ..crate::plan::Secrets::off()
    };
    let mut ctx = SiteCtx {
        secrets: &secrets,
        types: &types.t,
        layout: swiss(),
        g: (152, 8),
        spec: probe,
        args: &a,
        results: &r,
        assignment: &assignment,
        args_suspect: None,
        unknown: None,
        instant: false,
        join: false,
        sdk: false,
    };
    adjust(&mut ctx);
    let b = ctx.build(site);
    let warnings = b.warnings.clone();
    Site {
        plan: b.finish(),
        warnings,
    }
}

fn entry(types: &Types, args: &[(&str, TypeId)], probe: serde_json::Value) -> Site {
    plan_site(types, args, &[], &spec(probe), SITE_ENTRY, |_| {})
}

fn reg(r: u8) -> RawLoc {
    RawLoc {
        kind: LOC_REG,
        reg: r,
        ..RawLoc::default()
    }
}

#[test]
fn scalars_and_strings_in_registers_are_read_directly() {
    let t = Types::new();
    let s = entry(
        &t,
        &[("n", t.int), ("ok", t.boolean), ("name", t.string)],
        serde_json::json!({"max_string_len": 100}),
    );
    let r = &s.plan.recipe;
    assert_eq!(
        (r.site, r.n_ops, r.goid_offset, r.stack_hi_offset),
        (SITE_ENTRY, 3, 152, 8)
    );
    assert_eq!(
        *s.op(0),
        RawOp {
            kind: OP_SCALAR,
            size: 8,
            a: reg(0),
            ..RawOp::default()
        }
    );
    assert_eq!(
        (s.op(1).kind, s.op(1).size, s.op(1).a),
        (OP_SCALAR, 1, reg(1))
    );
    assert_eq!(
        *s.op(2),
        RawOp {
            kind: OP_STRING,
            size: 1,
            max_len: 100,
            a: reg(2),
            b: reg(3),
            ..RawOp::default()
        }
    );
    let locations: Vec<&str> = s.plan.values.iter().map(|v| v.location.as_str()).collect();
    assert_eq!(locations, ["RAX", "RBX", "RCX+RDI"]);
    assert_eq!(
        *s.shape("ok"),
        Shape::Scalar {
            op: 1,
            kind: ScalarKind::Bool,
            size: 1
        }
    );
    assert_eq!(*s.shape("name"), Shape::String { op: 2 });
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn results_are_planned_at_the_return_with_their_names() {
    let t = Types::new();
    let probe = spec(serde_json::json!({}));
    let results = [("~r0", t.int), ("err", t.error)];
    let s = plan_site(&t, &[("a", t.int)], &results, &probe, SITE_RETURN, |_| {});
    let names: Vec<&str> = s.plan.values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["r0", "err"]);
    assert_eq!(s.plan.recipe.site, SITE_RETURN);
    // Results are assigned from RAX afresh.
    assert_eq!(s.op(0).a, reg(0));
}

#[test]
fn a_float_in_an_xmm_register_is_unavailable_with_a_warning() {
    let t = Types::new();
    let s = entry(&t, &[("x", t.float), ("n", t.int)], serde_json::json!({}));
    let why = "float64 passed in register X0; eBPF cannot read XMM registers";
    assert_eq!(*s.shape("x"), Shape::Unavailable(why.into()));
    assert_eq!(s.warnings, [format!("x: {why}")]);
    // The float took no integer register.
    assert_eq!(s.op(0).a, reg(0));
}

#[test]
fn a_whole_pointer_is_shown_as_its_pointee_read_through_the_register() {
    let mut t = Types::new();
    let (int, string) = (t.int, t.string);
    let user = t.strukt("main.User", &[("ID", int), ("Name", string)]);
    let p = t.ptr(user);
    let s = entry(&t, &[("u", p)], serde_json::json!({"max_string_len": 32}));
    // The address first, then the pointee's fields at their offsets.
    assert_eq!(
        (s.op(0).kind, s.op(0).indirect, s.op(0).a),
        (OP_SCALAR, 0, reg(0))
    );
    assert_eq!(
        *s.op(1),
        RawOp {
            kind: OP_SCALAR,
            size: 8,
            indirect: 1,
            a: reg(0),
            ..RawOp::default()
        }
    );
    assert_eq!(
        *s.op(2),
        RawOp {
            kind: OP_STRING,
            size: 1,
            max_len: 32,
            indirect: 1,
            a: reg(0),
            mem_off: 8,
            ..RawOp::default()
        }
    );
    let Shape::Pointer {
        addr_op: 0,
        pointee,
    } = s.shape("u")
    else {
        panic!("{:?}", s.shape("u"));
    };
    assert_eq!(
        **pointee,
        Shape::Struct(vec![
            (
                "ID".into(),
                Shape::Scalar {
                    op: 1,
                    kind: ScalarKind::Int,
                    size: 8
                }
            ),
            ("Name".into(), Shape::String { op: 2 }),
        ])
    );
}

#[test]
fn field_paths_read_only_the_field_and_say_where() {
    let mut t = Types::new();
    let (int, string) = (t.int, t.string);
    let inner = t.strukt("main.Inner", &[("Code", int), ("Msg", string)]);
    let pi = t.ptr(inner);
    let outer = t.strukt("main.Outer", &[("N", int), ("In", pi)]);
    let po = t.ptr(outer);
    let s = entry(
        &t,
        &[("o", po), ("n", int)],
        serde_json::json!({"args": ["o.In.Msg", "o.Nope", "n.x"]}),
    );
    let msg = s.value("o.In.Msg");
    assert_eq!(
        (msg.ty.as_str(), msg.location.as_str()),
        ("string", "*(*(RAX+8)+8)")
    );
    assert_eq!(msg.shape, Shape::String { op: 0 });
    assert_eq!(
        (s.op(0).n_hops, s.op(0).hops[0], s.op(0).mem_off),
        (1, 8, 8)
    );
    assert_eq!(s.plan.recipe.n_ops, 1);
    assert_eq!(
        s.warnings,
        [
            "o.Nope: main.Outer has no field Nope; fields: N, In",
            "n.x: int is not a struct; cannot select .x",
        ]
    );
}

#[test]
fn the_thirty_third_capture_is_refused_with_the_warning() {
    let t = Types::new();
    let names: Vec<String> = (0..33).map(|i| format!("a{i}")).collect();
    let args: Vec<(&str, TypeId)> = names.iter().map(|n| (n.as_str(), t.int)).collect();
    let s = entry(&t, &args, serde_json::json!({}));
    assert_eq!(s.plan.recipe.n_ops, 32);
    // Beyond 9 registers the arguments are on the stack.
    assert_eq!(
        s.op(9).a,
        RawLoc {
            kind: LOC_STACK,
            offset: 8,
            ..RawLoc::default()
        }
    );
    assert_eq!(s.value("a9").location, "8(SP)");
    assert_eq!(*s.shape("a32"), Shape::Unavailable(FULL.into()));
    // Reported under its own name.
    assert_eq!(s.warnings, [format!("a32: {FULL}")]);
}

#[test]
fn strings_past_8_kib_are_refused_and_named() {
    let t = Types::new();
    let s = entry(
        &t,
        &[("a", t.string), ("b", t.string), ("n", t.int)],
        serde_json::json!({"max_string_len": 4096}),
    );
    // 16 + 4096 bytes each: the second does not fit, the int still does.
    assert_eq!(*s.shape("a"), Shape::String { op: 0 });
    assert_eq!(*s.shape("b"), Shape::Unavailable(FULL.into()));
    assert_eq!(s.op(1).kind, OP_SCALAR);
    assert_eq!(s.warnings, [format!("b: {FULL}")]);
}

/// An error's speculative reads: the type word, the string at its data
/// pointer, and (an extra) the first 64 bytes there.
#[test]
fn an_interface_gets_its_head_only_while_later_values_still_fit() {
    let t = Types::new();
    let ints = |n: usize| -> Vec<String> { (0..n).map(|i| format!("i{i}")).collect() };
    let plan = |n: usize| {
        let names = ints(n);
        let mut args = vec![("err", t.error)];
        args.extend(names.iter().map(|s| (s.as_str(), t.int)));
        entry(&t, &args, serde_json::json!({"max_string_len": 64}))
    };
    // 3 + 29 ops: everything fits.
    let s = plan(29);
    let Shape::Interface {
        type_op,
        head_op,
        strings,
        ty,
    } = s.shape("err")
    else {
        panic!()
    };
    assert_eq!(
        (*type_op, *head_op, strings.as_slice(), ty.as_str()),
        (0, Some(2), &[(0, 1)][..], "error")
    );
    // error: the itab in RAX, its _type at +8; the data pointer in RBX.
    assert_eq!(
        (s.op(0).indirect, s.op(0).a, s.op(0).mem_off),
        (1, reg(0), 8)
    );
    assert_eq!(
        *s.op(2),
        RawOp {
            kind: OP_BYTES,
            size: 1,
            max_len: 64,
            indirect: ADDR_ONLY,
            flags: OPF_DYN,
            type_op: 0,
            a: reg(1),
            ..RawOp::default()
        }
    );
    // Reads past the type word may fault.
    assert_eq!(s.plan.recipe.quiet_mask, 0b110);
    assert!(s.warnings.is_empty());
    // 30 ints need the head's op: it gives way, silently.
    let s = plan(30);
    let Shape::Interface { head_op, .. } = s.shape("err") else {
        panic!()
    };
    assert_eq!(*head_op, None);
    assert_eq!(s.plan.recipe.n_ops, 32);
    assert_eq!(
        *s.shape("i29"),
        Shape::Scalar {
            op: 31,
            kind: ScalarKind::Int,
            size: 8
        }
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn a_pointee_too_large_is_shown_shallower_then_as_its_address() {
    let mut t = Types::new();
    let string = t.string;
    let leaf = t.strukt("main.Leaf", &[("X", string), ("Y", string)]);
    let pl = t.ptr(leaf);
    let node = t.strukt("main.Node", &[("S", string), ("P", pl)]);
    let pn = t.ptr(node);
    // Depth 2 and 1 follow P (4 strings of 3016 bytes); depth 0 does not.
    let s = entry(
        &t,
        &[("n", pn)],
        serde_json::json!({"max_string_len": 3000}),
    );
    let Shape::Pointer { pointee, .. } = s.shape("n") else {
        panic!("{:?}", s.shape("n"));
    };
    let Shape::Struct(fields) = &**pointee else {
        panic!()
    };
    assert_eq!(fields[0].1, Shape::String { op: 1 });
    assert_eq!(
        fields[1].1,
        Shape::Scalar {
            op: 2,
            kind: ScalarKind::Pointer,
            size: 8
        }
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Three strings never fit: the address, and why.
    let big = t.strukt("main.Big", &[("A", string), ("B", string), ("C", string)]);
    let pb = t.ptr(big);
    let s = entry(
        &t,
        &[("b", pb)],
        serde_json::json!({"max_string_len": 3000}),
    );
    assert_eq!(
        *s.shape("b"),
        Shape::Scalar {
            op: 0,
            kind: ScalarKind::Pointer,
            size: 8
        }
    );
    assert_eq!(s.plan.recipe.n_ops, 1);
    assert_eq!(s.warnings, [
        "b: the main.Big it points to does not fit in what is left of this site's 32 captures and 8192 bytes; showing the address (name fields in `args:`)"
    ]);
}

#[test]
fn slices_copy_their_elements_or_run_ops_per_element() {
    let mut t = Types::new();
    let (int, string) = (t.int, t.string);
    let ints = t.slice(int);
    let strings = t.slice(string);
    let kv = t.strukt("main.KV", &[("K", string), ("V", int)]);
    let kvs = t.slice(kv);
    let s = entry(
        &t,
        &[("a", ints), ("b", strings), ("c", kvs)],
        serde_json::json!({"max_string_len": 10, "max_elems": 4}),
    );
    // []int: 4 elements of 8 bytes copied whole, then the capacity.
    assert_eq!(
        *s.op(0),
        RawOp {
            kind: OP_STRING,
            size: 8,
            max_len: 32,
            a: reg(0),
            b: reg(1),
            ..RawOp::default()
        }
    );
    assert_eq!((s.op(1).kind, s.op(1).a), (OP_SCALAR, reg(2)));
    assert_eq!(
        *s.shape("a"),
        Shape::Slice {
            op: 0,
            cap_op: Some(1),
            elem: Some(ByteLayout::Scalar(ScalarKind::Int, 8)),
            elem_size: 8,
            ty: "[]int".into()
        }
    );
    // []string: element by element.
    assert_eq!(
        (s.op(2).kind, s.op(2).size, s.op(2).max_len),
        (OP_STRINGS, 4, 10)
    );
    // []KV: an OP_ELEMS over 4 elements of 24 bytes running the 2 ops
    // after it against the element (LOC_ELEM), then the capacity.
    let e = s.op(4);
    assert_eq!(
        (e.kind, e.size, e.max_len, e.stride, e.a),
        (OP_ELEMS, 2, 4, 24, reg(6))
    );
    let elem = RawLoc {
        kind: LOC_ELEM,
        ..RawLoc::default()
    };
    assert_eq!(
        (s.op(5).kind, s.op(5).indirect, s.op(5).a),
        (OP_STRING, 1, elem)
    );
    assert_eq!(
        (s.op(6).kind, s.op(6).mem_off, s.op(6).a),
        (OP_SCALAR, 16, elem)
    );
    assert_eq!((s.op(7).kind, s.op(7).a), (OP_SCALAR, reg(8)));
    let Shape::Elems {
        op: 4,
        cap_op: Some(7),
        first: 5,
        k: 2,
        ..
    } = s.shape("c")
    else {
        panic!("{:?}", s.shape("c"));
    };
}

#[test]
fn a_small_map_gets_its_group_and_a_large_one_its_first_group_last() {
    let mut t = Types::new();
    let (int, string) = (t.int, t.string);
    let m = t.add(
        "map[string]int",
        8,
        Kind::Map {
            key: Some(string),
            elem: Some(int),
        },
    );
    let s = entry(&t, &[("m", m)], serde_json::json!({"max_string_len": 8}));
    let Shape::Map {
        len_op: 0,
        entries: Some(e),
    } = s.shape("m")
    else {
        panic!("{:?}", s.shape("m"));
    };
    let MapEntries::Group {
        dir_len_op: 1,
        ctrl_op: 2,
        first: Some(first),
        ..
    } = &**e
    else {
        panic!("{e:?}");
    };
    // used at 0, dirLen at 24, through the map pointer in RAX.
    assert_eq!((s.op(0).indirect, s.op(0).mem_off), (1, 0));
    assert_eq!((s.op(1).n_hops, s.op(1).mem_off), (0, 24));
    // The group dirPtr (at 16) points at: its control word, then an
    // OP_ELEMS over its 8 slots of {string, int} (24 bytes).
    assert_eq!(
        (s.op(2).n_hops, s.op(2).hops[0], s.op(2).mem_off),
        (1, 16, 0)
    );
    let g = s.op(3);
    assert_eq!(
        (g.kind, g.indirect, g.size, g.max_len, g.stride, g.mem_off),
        (OP_ELEMS, ADDR_ONLY, 2, 8, 24, 8)
    );
    // The first group of a larger map is planned last; its reads may fault.
    assert_eq!(first.0, 6);
    assert_eq!((s.op(6).n_hops, &s.op(6).hops[..3]), (3, &[16, 0, 32][..]));
    assert_eq!(s.plan.recipe.n_ops, 10);
    assert_eq!(s.plan.recipe.quiet_mask, 0b11_1100_0000);
}

#[test]
fn the_emitter_chases_pointers_and_fills_each_recipe_to_its_capacity() {
    // An error's type word at offset 24 of the element: one load, then
    // the word 8 bytes on.
    let at = Access::Mem(Mem {
        off: 24,
        ..Mem::at(Base::Elem)
    });
    let tw = emit::type_word(at.clone(), false).unwrap();
    let op = emit::op(OP_SCALAR, 8, 0, tw, None);
    assert_eq!(
        (op.indirect, op.n_hops, op.hops[0], op.mem_off, op.a.kind),
        (1, 1, 24, 8, LOC_ELEM)
    );
    let mut site = RawRecipe::default();
    let mut ty = RawTypeRecipe::default();
    // A site recipe holds MAX_OPS ops, a type recipe MAX_TYPE_OPS.
    for i in 0..crate::recipe::MAX_OPS {
        assert_eq!(emit::append(&mut site, op), Some(i));
    }
    assert_eq!(emit::append(&mut site, op), None);
    let max = crate::recipe::MAX_OPS;
    assert_eq!((site.n_ops as usize, site.ops[max - 1]), (max, op));
    for i in 0..MAX_TYPE_OPS {
        assert_eq!(emit::append(&mut ty, op), Some(i));
    }
    assert_eq!(emit::append(&mut ty, op), None);
    assert_eq!(ty.n_ops as usize, MAX_TYPE_OPS);
    // An OP_GROUP is sent as an OP_ELEMS over the address its chase ends at.
    let g = emit::op(OP_GROUP, 0, 0, at.clone(), None);
    assert_eq!((g.kind, g.indirect, g.mem_off), (OP_ELEMS, ADDR_ONLY, 24));
    // A direct op names both words; a chase past MAX_HOPS has no access.
    let d = emit::op(
        OP_STRING,
        1,
        8,
        Access::Direct(Loc::IntReg(3)),
        Some(Loc::Stack(16)),
    );
    assert_eq!(
        (d.a, d.b.kind, d.b.offset, d.indirect),
        (reg(3), LOC_STACK, 16, 0)
    );
    let mut deep = Some(at);
    for _ in 0..4 {
        deep = deep.and_then(|a| a.follow_to(0));
    }
    assert!(deep.is_some());
    assert_eq!(deep.and_then(|a| a.follow_to(0)), None);
    assert_eq!(
        emit::describe_op(&emit::op(
            OP_SCALAR,
            8,
            0,
            Access::Direct(Loc::IntReg(0))
                .follow_to(8)
                .unwrap()
                .follow_to(16)
                .unwrap(),
            None
        ))
        .as_deref(),
        Some("*(*(RAX+8)+16)")
    );
}

#[test]
fn the_budget_leaves_reserved_room_to_values_and_counts_refusals() {
    let mut b = Budget::new(true);
    b.reserve((3, 100));
    // Ops: an extra may not take the last 3 ops' room, a value may.
    assert!(!b.grant(29, 8, Priority::Extra));
    assert!(b.grant(29, 8, Priority::Value));
    // Bytes likewise.
    assert!(!b.grant(0, 8192 - 8 - 99, Priority::Extra));
    assert!(b.grant(0, 8192 - 8 - 100, Priority::Extra));
    assert_eq!(b.bytes(), 8092);
    // A refused extra is counted but does not make the site short.
    assert_eq!((b.refused(), b.short()), (2, false));
    let before = b.spent();
    assert!(!b.grant(32, 8, Priority::Value));
    assert_eq!((b.refused(), b.short()), (3, true));
    b.restore(before);
    assert_eq!((b.refused(), b.short(), b.bytes()), (3, false, 8092));
    // Rewinding forgets the refusals too (an attempt planned again).
    assert!(!b.grant(32, 8, Priority::Value));
    b.rewind(before);
    assert_eq!((b.refused(), b.short(), b.bytes()), (2, false, 8092));
}

#[test]
fn suspect_arguments_and_stack_results_are_not_read() {
    let t = Types::new();
    let probe = spec(serde_json::json!({}));
    let args = [("a", t.int), ("s", t.string)];
    // Ten ints: the last is on the stack, after the arguments.
    let names: Vec<String> = (0..10).map(|i| format!("~r{i}")).collect();
    let results: Vec<(&str, TypeId)> = names.iter().map(|n| (n.as_str(), t.int)).collect();
    let suspect = |c: &mut SiteCtx| c.args_suspect = Some("DWARF disagrees");
    let s = plan_site(&t, &args, &results, &probe, SITE_ENTRY, suspect);
    assert_eq!(s.plan.recipe.n_ops, 0);
    assert_eq!(*s.shape("s"), Shape::Unavailable("DWARF disagrees".into()));
    let s = plan_site(&t, &args, &results, &probe, SITE_RETURN, suspect);
    assert_eq!(s.plan.recipe.n_ops, 9);
    assert_eq!(*s.shape("r9"), Shape::Unavailable("DWARF disagrees".into()));
    assert_eq!(s.value("r8").location, "R11");
}

#[test]
fn an_instant_entry_reads_arguments_then_results() {
    let t = Types::new();
    let probe = spec(serde_json::json!({}));
    let instant = |c: &mut SiteCtx| c.instant = true;
    let s = plan_site(
        &t,
        &[("x", t.int)],
        &[("~r0", t.int)],
        &probe,
        SITE_ENTRY,
        instant,
    );
    let names: Vec<&str> = s.plan.values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["x", "r0"]);
    // Both in RAX: the argument at entry is the result of a lone RET.
    assert_eq!((s.op(0).a, s.op(1).a), (reg(0), reg(0)));
}

#[path = "tests_crowded.rs"]
mod crowded;
#[path = "tests_unknown.rs"]
mod unknown;

#[path = "tests_redact.rs"]
mod redact;
#[path = "tests_stack.rs"]
mod stack;
#[path = "tests_strings.rs"]
mod strings;
