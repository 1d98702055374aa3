//! Whole records through `decode`: synthetic site plans and bytes laid
//! out as the BPF program writes them, to exact JSON.

use serde_json::json;

use super::testkit::{elem_op, op, run, run_masked, scalar_site, site, Data, Fake};
use super::value::READ_FAULT;
use super::wire::{captures, Capture};
use super::GoValue;
use crate::golang::types::{reflect_kind, Kind};
use crate::plan::{ByteLayout, MapEntries, ScalarKind, Shape};
use crate::recipe::{RawDynBlock, OPF_DYN, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_STRING, OP_STRINGS};

fn sc(op: usize, kind: ScalarKind, size: u8) -> Shape {
    Shape::Scalar { op, kind, size }
}

fn fault() -> serde_json::Value {
    json!({ "unavailable": READ_FAULT })
}

#[test]
fn scalars_of_each_kind_keep_their_width_and_sign() {
    use ScalarKind::*;
    let cases: Vec<(Shape, u64, serde_json::Value)> = vec![
        (sc(0, Bool, 1), 1, json!(true)),
        (sc(0, Bool, 1), 0x100, json!(false)),
        (sc(0, Int, 1), 0xf8, json!(-8)),
        (sc(0, Int, 2), 0xdead_f9c0, json!(-1600)),
        (sc(0, Int, 4), 0xffff_ffff, json!(-1)),
        (sc(0, Int, 8), i64::MIN as u64, json!(i64::MIN)),
        (sc(0, Uint, 1), 0x1_00c8, json!(200)),
        (sc(0, Uint, 8), u64::MAX, json!(u64::MAX)),
        (sc(0, Float, 4), u64::from(1.5f32.to_bits()), json!(1.5)),
        (sc(0, Float, 8), (-2.25f64).to_bits(), json!(-2.25)),
        (sc(0, Float, 8), f64::INFINITY.to_bits(), json!("Inf")),
        (sc(0, Float, 8), f64::NEG_INFINITY.to_bits(), json!("-Inf")),
        (sc(0, Float, 8), f64::NAN.to_bits(), json!("NaN")),
        (sc(0, Pointer, 8), 0, json!(null)),
        (sc(0, Pointer, 8), 0xc0_0001_0000, json!("0xc000010000")),
    ];
    let names = Fake::default();
    for (shape, word, want) in cases {
        let s = scalar_site(shape.clone());
        let (v, _) = run(&s, &Data::default().word(word).0, &names);
        assert_eq!(v, vec![want], "{shape:?} {word:#x}");
    }
}

#[test]
fn strings_are_flagged_when_cut_and_null_when_nil() {
    let s = site(
        &[op(OP_STRING, 1); 3],
        vec![
            ("a", Shape::String { op: 0 }),
            ("b", Shape::String { op: 1 }),
            ("c", Shape::String { op: 2 }),
        ],
    );
    let data = Data::default()
        .bytes(b"hello")
        .bytes_of(10, b"abc")
        .bytes(b"")
        .0
        .clone();
    let (v, _) = run_masked(&s, &data, (0, 0b100), &Fake::default());
    assert_eq!(
        v,
        vec![
            json!("hello"),
            json!({"string": "abc", "truncated": true, "length": 10}),
            json!(null)
        ]
    );
}

#[test]
fn fault_and_nil_masks_name_ops_by_index() {
    let s = site(
        &[
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_STRING, 1),
        ],
        vec![
            ("faulted", sc(0, ScalarKind::Int, 8)),
            ("nil", sc(1, ScalarKind::Int, 8)),
            ("both", sc(2, ScalarKind::Int, 8)),
            ("s", Shape::String { op: 3 }),
        ],
    );
    let data = Data::default()
        .word(1)
        .word(2)
        .word(3)
        .bytes(b"x")
        .0
        .clone();
    let (v, _) = run_masked(&s, &data, (0b1101, 0b0110), &Fake::default());
    assert_eq!(v, vec![fault(), json!(null), fault(), fault()]);
}

#[test]
fn a_short_record_leaves_what_it_lacks_unavailable() {
    let s = site(
        &[op(OP_SCALAR, 8), op(OP_STRING, 1), op(OP_SCALAR, 8)],
        vec![
            ("a", sc(0, ScalarKind::Uint, 8)),
            ("b", Shape::String { op: 1 }),
            ("c", sc(2, ScalarKind::Uint, 8)),
        ],
    );
    let mut d = Data::default();
    d.word(7).word(3).bits(3, 0);
    let (v, _) = run(&s, &d.0, &Fake::default());
    assert_eq!(v, vec![json!(7), fault(), fault()]);
}

#[test]
fn string_captures_follow_the_padded_layout() {
    let ops = [op(OP_STRING, 1), op(OP_SCALAR, 8)];
    let data = Data::default().bytes_of(10, b"abc").word(42).0.clone();
    assert_eq!(data.len(), 16 + 8 + 8);
    let (c, end) = captures(&ops, &data, 0, 0);
    assert!(matches!(
        c[0],
        Capture::String {
            len: 10,
            bytes: b"abc"
        }
    ));
    assert!(matches!(c[1], Capture::Scalar(42)));
    assert_eq!(end, data.len());
    let (c, _) = captures(&ops, &data, 0b10, 0);
    assert!(matches!(c[1], Capture::Fault));
}

fn slice(op: usize, cap_op: Option<usize>, elem: Option<ByteLayout>, elem_size: u64) -> Shape {
    Shape::Slice {
        op,
        cap_op,
        elem,
        elem_size,
        ty: "[]T".into(),
    }
}

#[test]
fn slices_of_plain_elements_decode_each_element_from_its_bytes() {
    let point = ByteLayout::Struct(vec![
        ("X".into(), 0, ByteLayout::Scalar(ScalarKind::Int, 4)),
        ("Y".into(), 4, ByteLayout::Scalar(ScalarKind::Int, 4)),
    ]);
    let s = site(
        &[
            op(OP_STRING, 8),
            op(OP_SCALAR, 8),
            op(OP_STRING, 1),
            op(OP_STRING, 1),
            op(OP_STRING, 1),
            op(OP_STRING, 8),
            op(OP_STRING, 8),
        ],
        vec![
            ("points", slice(0, Some(1), Some(point), 8)),
            ("text", slice(2, None, Some(ByteLayout::Byte), 1)),
            ("binary", slice(3, None, Some(ByteLayout::Byte), 1)),
            ("cut", slice(4, None, Some(ByteLayout::Byte), 1)),
            ("empty", slice(5, None, None, 8)),
            ("maps", slice(6, None, None, 8)),
        ],
    );
    let mut d = Data::default();
    d.bytes_of(
        3,
        &[1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0],
    )
    .word(5)
    .bytes(b"hi\n")
    .bytes(&[0, 1, 0xfe])
    .bytes_of(10, b"abc")
    .bytes_of(0, b"")
    .bytes_of(2, b"");
    let (v, _) = run(&s, &d.0, &Fake::default());
    assert_eq!(
        v,
        vec![
            json!({"elements": [{"X": 1, "Y": 2}, {"X": -1, "Y": 4}],
                   "truncated": true, "length": 3, "cap": 5}),
            json!("hi\n"),
            json!({"hex": "0001fe"}),
            json!({"string": "abc", "truncated": true, "length": 10}),
            json!([]),
            json!({"unavailable": "[]T of length 2: its elements are not captured here (slices of maps, channels or slices inside a slice element or a map)"}),
        ]
    );
}

#[test]
fn string_slices_show_each_element_and_its_faults() {
    let s = site(
        &[op(OP_STRINGS, 4)],
        vec![("names", slice(0, None, None, 16))],
    );
    let mut d = Data::default();
    d.head(3, 2)
        .string_elem(b"a", false)
        .string_elem(b"zz", true);
    let (v, _) = run(&s, &d.0, &Fake::default());
    assert_eq!(
        v,
        vec![json!({"elements": ["a", fault()], "truncated": true, "length": 3, "cap": null})]
    );
}

/// `[]struct{N int; S *string}`-like: two element ops, then a cap op.
fn elems_site() -> crate::plan::SitePlan {
    site(
        &[
            op(OP_ELEMS, 2),
            elem_op(OP_SCALAR),
            elem_op(OP_STRING),
            op(OP_SCALAR, 8),
        ],
        vec![(
            "items",
            Shape::Elems {
                op: 0,
                cap_op: Some(3),
                first: 1,
                k: 2,
                elem: Box::new(Shape::Struct(vec![
                    ("N".into(), sc(1, ScalarKind::Int, 8)),
                    ("S".into(), Shape::String { op: 2 }),
                ])),
                ty: "[]main.Item".into(),
            },
        )],
    )
}

#[test]
fn element_ops_run_once_per_element_with_their_own_masks() {
    let mut d = Data::default();
    d.head(4, 3)
        .bits(0, 0)
        .word(5)
        .bytes(b"x")
        .bits(0b10, 0)
        .word(6)
        .bytes(b"")
        .bits(0, 0b01)
        .word(7)
        .bytes(b"z")
        .word(9);
    let (v, _) = run(&elems_site(), &d.0, &Fake::default());
    assert_eq!(
        v,
        vec![
            json!({"elements": [{"N": 5, "S": "x"}, {"N": 6, "S": null}, {"N": fault(), "S": "z"}],
                    "truncated": true, "length": 4, "cap": 9})
        ]
    );
    // A nil slice, and a faulted one.
    let mut d = Data::default();
    d.head(0, 0).word(0);
    let (v, _) = run_masked(&elems_site(), &d.0, (0, 1), &Fake::default());
    assert_eq!(v, vec![json!(null)]);
    let (v, _) = run_masked(&elems_site(), &d.0, (1, 0), &Fake::default());
    assert_eq!(v, vec![fault()]);
}

#[test]
fn pointers_channels_funcs_and_map_lengths() {
    let mut names = Fake::default();
    names.funcs.insert(0x401000, "main.handler".into());
    let s = site(
        &[op(OP_SCALAR, 8); 7],
        vec![
            (
                "p",
                Shape::Pointer {
                    addr_op: 0,
                    pointee: Box::new(sc(1, ScalarKind::Int, 8)),
                },
            ),
            (
                "ch",
                Shape::Chan {
                    len_op: 2,
                    cap_op: 3,
                },
            ),
            ("f", Shape::Func { pc_op: 4 }),
            ("g", Shape::Func { pc_op: 5 }),
            (
                "m",
                Shape::Map {
                    len_op: 6,
                    entries: None,
                },
            ),
        ],
    );
    let mut d = Data::default();
    d.word(0xc000).word(42).word(1).word(4).word(0x401000);
    d.word(0x999).word(3);
    let (v, _) = run(&s, &d.0, &names);
    assert_eq!(
        v,
        vec![
            json!(42),
            json!({"len": 1, "cap": 4}),
            json!("main.handler"),
            json!("0x999"),
            json!({"len": 3})
        ]
    );
    // Nil pointer, channel, func and map.
    let (v, _) = run_masked(&s, &d.0, (0, 0b101_0100), &names);
    assert_eq!(
        v[1..],
        [json!(null), json!(null), json!("0x999"), json!(null)]
    );
    d.0[..8].fill(0);
    let (v, _) = run(&s, &d.0, &names);
    assert_eq!(v[0], json!(null));
}

/// A swiss-table map[string]int: len, dirLen, ctrl, then its group's 8
/// slots as {key, elem} elements.
fn swiss_site() -> crate::plan::SitePlan {
    let group = Shape::Elems {
        op: 3,
        cap_op: None,
        first: 4,
        k: 2,
        elem: Box::new(Shape::Struct(vec![
            ("key".into(), Shape::String { op: 4 }),
            ("elem".into(), sc(5, ScalarKind::Int, 8)),
        ])),
        ty: "group".into(),
    };
    site(
        &[
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_ELEMS, 2),
            elem_op(OP_STRING),
            elem_op(OP_SCALAR),
        ],
        vec![(
            "m",
            Shape::Map {
                len_op: 0,
                entries: Some(Box::new(MapEntries::Group {
                    dir_len_op: 1,
                    ctrl_op: 2,
                    slots: group,
                    first: None,
                })),
            },
        )],
    )
}

fn swiss_data(len: u64, dir_len: u64) -> Vec<u8> {
    let mut d = Data::default();
    // Slots 0 and 2 full (h2 bits), the rest empty (0x80).
    d.word(len).word(dir_len).word(0x8080_8080_8034_8012);
    d.head(8, 3);
    for (k, v) in [(&b"a"[..], 1), (b"junk", 9), (b"b", 2)] {
        d.bits(0, 0).bytes(k).word(v);
    }
    d.0
}

#[test]
fn swiss_map_groups_show_their_full_slots() {
    let names = Fake::default();
    let (v, _) = run(&swiss_site(), &swiss_data(2, 0), &names);
    assert_eq!(v, vec![json!({"len": 2, "entries": {"a": 1, "b": 2}})]);
    // More entries than the group shows: flagged.
    let (v, _) = run(&swiss_site(), &swiss_data(5, 0), &names);
    assert_eq!(
        v,
        vec![json!({"len": 5, "entries": {"a": 1, "b": 2}, "truncated": true})]
    );
    // A directory, and no first table captured: the count only.
    let (v, _) = run(&swiss_site(), &swiss_data(40, 2), &names);
    assert_eq!(v, vec![json!({"len": 40})]);
    // No group allocated yet (nil on the way to ctrl): no entries.
    let (v, _) = run_masked(&swiss_site(), &swiss_data(0, 0), (0, 0b100), &names);
    assert_eq!(v, vec![json!({"len": 0, "entries": {}})]);
}

#[test]
fn bucket_maps_with_other_keys_show_pairs_unless_growing() {
    let keys = |op, first| Shape::Elems {
        op,
        cap_op: None,
        first,
        k: 1,
        elem: Box::new(sc(first, ScalarKind::Int, 8)),
        ty: "keys".into(),
    };
    let s = site(
        &[
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_SCALAR, 8),
            op(OP_ELEMS, 1),
            elem_op(OP_SCALAR),
            op(OP_ELEMS, 1),
            elem_op(OP_SCALAR),
        ],
        vec![(
            "m",
            Shape::Map {
                len_op: 0,
                entries: Some(Box::new(MapEntries::Bucket {
                    old_op: 1,
                    tophash_op: 2,
                    keys: keys(3, 4),
                    values: keys(5, 6),
                })),
            },
        )],
    );
    let data = |len: u64, old: u64, tophash: u64| {
        let mut d = Data::default();
        d.word(len).word(old).word(tophash);
        for base in [10, 100] {
            d.head(8, 3);
            for i in 0..3 {
                d.bits(0, 0).word(base + i);
            }
        }
        d.0
    };
    let names = Fake::default();
    // Slots 0 and 2 full (tophash >= 5), slot 1 emptyOne.
    let (v, _) = run(&s, &data(2, 0, 0x00c3_019a), &names);
    assert_eq!(
        v,
        vec![json!({"len": 2, "entries": [[10, 100], [12, 102]]})]
    );
    let (v, _) = run(&s, &data(2, 0xc000, 0x00c3_019a), &names);
    assert_eq!(v, vec![json!({"len": 2})]);
    // A larger map whose bucket 0 holds nothing: still the form of int
    // keys, not the string keys' object.
    let (v, _) = run(&s, &data(20, 0, 0), &names);
    assert_eq!(
        v,
        vec![json!({"len": 20, "entries": [], "truncated": true})]
    );
}

const E: u64 = 0x1000;
const ES: u64 = 0x2000;

/// `*main.E{Code int; Msg string; Err error}` and `*errors.errorString`,
/// both with recipes.
fn two_types() -> Fake {
    let mut f = Fake::default();
    let (string, int, error, _) = f.basics();
    f.error_struct(
        "main.E",
        E,
        &[("Code", 0, int), ("Msg", 8, string), ("Err", 24, error)],
    );
    f.error_struct("errors.errorString", ES, &[("s", 0, string)]);
    f.install(E);
    f.install(ES);
    f
}

/// An `error` argument: type word, the string at offset 0, and the bytes
/// at its data pointer (`OPF_DYN`).
fn error_site() -> crate::plan::SitePlan {
    let mut head = op(OP_BYTES, 1);
    head.flags = OPF_DYN;
    site(
        &[op(OP_SCALAR, 8), op(OP_STRING, 1), head],
        vec![(
            "err",
            Shape::Interface {
                type_op: 0,
                head_op: Some(2),
                strings: vec![(0, 1)],
                ty: "error".into(),
            },
        )],
    )
}

fn block(rtype: u64, parent: u8, op: u8, n_ops: u8) -> RawDynBlock {
    RawDynBlock {
        rtype,
        parent,
        op,
        n_ops,
        ..RawDynBlock::default()
    }
}

/// The site's captures of a `*main.E`, then its block and (parent
/// `es_parent`) its Err's block.
fn error_record(es_parent: u8, cut: usize) -> Vec<u8> {
    let mut head = 5u64.to_le_bytes().to_vec();
    head.resize(40, 0xee);
    let mut d = Data::default();
    d.word(E).bytes(b"").bytes(&head);
    d.block(block(E, 0, 2, 4))
        .bytes(&head)
        .bytes(b"boom")
        .word(ES)
        .bytes(&[0xee; 16]);
    d.block(block(ES, es_parent, 3, 2))
        .bytes(&[0xee; 16])
        .bytes(b"inner");
    d.0.truncate(d.0.len() - cut);
    d.0
}

#[test]
fn dynamic_values_nest_through_their_blocks() {
    let names = two_types();
    let (v, met) = run(&error_site(), &error_record(1, 0), &names);
    assert_eq!(
        v,
        vec![json!({"type": "*main.E", "value": {"Code": 5, "Msg": "boom", "Err": "inner"}})]
    );
    assert_eq!(met, Vec::<u64>::new());
}

#[test]
fn blocks_that_do_not_follow_their_parent_or_are_cut_are_not_used() {
    let names = two_types();
    // A parent that is not an earlier block, or a cut block: the Err
    // shows its type only, and decode reports it met it without a block.
    for (parent, cut) in [(2, 0), (9, 0), (1, 30)] {
        let (v, met) = run(&error_site(), &error_record(parent, cut), &names);
        let v = &v[0];
        assert_eq!(v["value"]["Msg"], "boom", "{parent} {cut}: {v}");
        assert_eq!(v["value"]["Err"]["type"], "*errors.errorString", "{v}");
        assert!(
            v["value"]["Err"]["value"]["s"]["unavailable"].is_string(),
            "{v}"
        );
        assert_eq!(met, vec![ES]);
    }
    // The first block cut: nothing of it is used.
    let mut data = error_record(1, 0);
    data.truncate(data.len() - 204);
    let (v, met) = run(&error_site(), &data, &names);
    assert_eq!(v[0]["value"]["Code"], 5, "{v:?}");
    assert_eq!(
        v[0]["value"]["Msg"],
        json!({"unavailable": "not captured in this record: gotel plans a capture for *main.E when it first sees one, and later values show this field"})
    );
    assert_eq!(met, vec![E]);
}

#[test]
fn a_type_met_without_its_block_is_reported_and_explained() {
    let mut names = two_types();
    names.plans.clear();
    let mut head = 5u64.to_le_bytes().to_vec();
    head.resize(40, 0);
    let data = Data::default().word(E).bytes(b"").bytes(&head).0.clone();
    // The caller will not plan it: the reason says what is missing.
    let values = super::decode(&error_site(), &data, (0, 0), &names, &mut |_: u64| false);
    assert_eq!(
        serde_json::to_value(&values[0].1).unwrap(),
        json!({"type": "*main.E", "value": {"Code": 5,
            "Msg": {"unavailable": "a string at offset 8 of a dynamic value is not captured here"},
            "Err": {"unavailable": "a error at offset 24 of a dynamic value is not captured here"}}})
    );
}

#[test]
fn interfaces_nil_typed_nil_and_unnamed() {
    let names = two_types();
    let (v, met) = run(
        &error_site(),
        &Data::default().word(0).bytes(b"").bytes(b"").0,
        &names,
    );
    assert_eq!((v, met), (vec![json!(null)], vec![]));
    let d = Data::default().word(E).bytes(b"").bytes(b"").0.clone();
    let (v, _) = run_masked(&error_site(), &d, (0, 0b110), &names);
    assert_eq!(v, vec![json!({"type": "*main.E", "value": null})]);
    let d = Data::default().word(0x9990).bytes(b"").bytes(b"").0.clone();
    let (v, met) = run(&error_site(), &d, &names);
    assert_eq!(
        v,
        vec![
            json!({"unavailable": "non-nil error of a dynamic type gotel cannot name (runtime type 0x9990)"})
        ]
    );
    assert_eq!(met, vec![0x9990]);
}

#[test]
fn types_dwarf_lacks_decode_by_their_runtime_kind() {
    let mut names = two_types();
    let int = names.named["int"];
    names.add(
        "main.P",
        8,
        Kind::Struct {
            fields: vec![crate::golang::types::Field {
                name: "X".into(),
                offset: 0,
                ty: int,
            }],
        },
    );
    for (rtype, name, kind) in [
        (0x3000, "main.Level", reflect_kind::INT + 3),
        (0x3008, "main.Name", reflect_kind::STRING),
        (0x3010, "*main.P", reflect_kind::POINTER),
        (0x3018, "main.Ok", reflect_kind::BOOL),
        (0x3020, "main.Ch", reflect_kind::STRUCT),
    ] {
        names.rtypes.insert(rtype, (name.into(), None));
        names.kinds.insert(rtype, (kind, 4));
    }
    let any = |rtype: u64, head: &[u8]| {
        let mut s = error_site();
        if let Shape::Interface { ty, .. } = &mut s.values[0].shape {
            *ty = "interface {}".into();
        }
        let d = Data::default()
            .word(rtype)
            .bytes(b"text")
            .bytes(head)
            .0
            .clone();
        run(&s, &d, &names).0.remove(0)
    };
    let minus3 = (-3i64).to_le_bytes();
    assert_eq!(
        any(0x3000, &minus3),
        json!({"type": "main.Level", "value": -3})
    );
    assert_eq!(
        any(0x3008, &[0; 16]),
        json!({"type": "main.Name", "value": "text"})
    );
    assert_eq!(
        any(0x3010, &minus3),
        json!({"type": "*main.P", "value": {"X": -3}})
    );
    assert_eq!(
        any(0x3018, &[1, 0, 0, 0, 0, 0, 0, 0]),
        json!({"type": "main.Ok", "value": true})
    );
    assert_eq!(
        any(0x3020, &[1, 0]),
        json!({"type": "main.Ch", "unavailable": "main.Ch: the binary's DWARF does not describe this type"})
    );
    // Four bytes: the width the runtime type records.
    assert_eq!(
        any(0x3000, &[0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff]),
        json!({"type": "main.Level", "value": i32::MAX})
    );
}

#[test]
fn values_print_go_like_in_one_line() {
    let v = GoValue::Dynamic {
        ty: "*main.E".into(),
        value: Box::new(GoValue::Struct(vec![
            ("Code".into(), GoValue::Int(5)),
            (
                "Msg".into(),
                GoValue::Str {
                    text: "bo".into(),
                    len: 4,
                    truncated: true,
                },
            ),
        ])),
    };
    assert_eq!(v.to_string(), r#"*main.E({Code: 5, Msg: "bo"…})"#);
    let s = GoValue::Seq {
        items: vec![GoValue::Uint(1), GoValue::Null],
        len: 3,
        cap: None,
    };
    assert_eq!(s.to_string(), "[1 nil …3]");
}

/// xorshift64*: deterministic garbage.
fn garbage(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_and_cut_records_never_panic() {
    let names = two_types();
    let sites = [
        (error_site(), error_record(1, 0)),
        (
            elems_site(),
            Data::default()
                .head(2, 1)
                .bits(0, 0)
                .word(1)
                .bytes(b"x")
                .word(2)
                .0
                .clone(),
        ),
        (swiss_site(), swiss_data(2, 0)),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for (site, good) in &sites {
        for len in 0..=good.len() {
            run(site, &good[..len], &names);
        }
        for len in [0, 1, 7, 8, 16, 23, 24, 40, 100, 300, 1000] {
            for _ in 0..20 {
                let data = garbage(&mut seed, len);
                let masks = (seed as u32, (seed >> 32) as u32);
                run_masked(site, &data, masks, &names);
                // Garbage after a good prefix: the blocks are what varies.
                let mut d = good.clone();
                d.extend(garbage(&mut seed, len));
                run_masked(site, &d, (0, 0), &names);
            }
        }
    }
}

#[path = "tests_strings.rs"]
mod strings;
