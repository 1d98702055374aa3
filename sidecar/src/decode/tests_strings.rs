//! `[]string` captured inside a slice element or map slot (an element
//! op) and inside a dynamic value (a type recipe's op).

use serde_json::json;

use super::super::testkit::{elem_op, op, run, site, Data, Fake};
use crate::golang::types::Kind;
use crate::plan::Shape;
use crate::recipe::{RawDynBlock, OPF_DYN, OP_BYTES, OP_ELEMS, OP_SCALAR, OP_STRING, OP_STRINGS};

#[test]
fn a_string_slice_element_op_shows_each_element_and_its_cut() {
    let strings = |op| Shape::Slice {
        op,
        cap_op: None,
        elem: None,
        elem_size: 16,
        ty: "[]string".into(),
    };
    let pair = Shape::Struct(vec![
        ("key".into(), Shape::String { op: 1 }),
        ("value".into(), strings(2)),
    ]);
    let s = site(
        &[op(OP_ELEMS, 2), elem_op(OP_STRING), elem_op(OP_STRINGS)],
        vec![(
            "v",
            Shape::Elems {
                op: 0,
                cap_op: None,
                first: 1,
                k: 2,
                elem: Box::new(pair),
                ty: "[]kv".into(),
            },
        )],
    );
    let mut d = Data::default();
    d.head(3, 3);
    d.bits(0, 0).bytes(b"a").head(1, 1).string_elem(b"1", false);
    // Three values of which two were copied, the second unreadable.
    d.bits(0, 0)
        .bytes(b"b")
        .head(3, 2)
        .string_elem(b"2", false)
        .string_elem(b"", true);
    // A nil []string.
    d.bits(0b10, 0).bytes(b"c").head(0, 0);
    let (v, _) = run(&s, &d.0, &Fake::default());
    assert_eq!(
        v,
        vec![json!([
            {"key": "a", "value": ["1"]},
            {"key": "b", "value": {"elements": ["2", {"unavailable": super::super::value::READ_FAULT}],
                                   "truncated": true, "length": 3, "cap": null}},
            {"key": "c", "value": null},
        ])]
    );
}

#[test]
fn a_dynamic_values_string_slice_comes_from_its_block() {
    const REC: u64 = 0x3000;
    let mut f = Fake::default();
    let (string, int, _, _) = f.basics();
    let strings = f.add("[]string", 24, Kind::Slice { elem: Some(string) });
    let rec = f.add(
        "main.Rec",
        48,
        Kind::Struct {
            fields: vec![
                field("ID", 0, int),
                field("Tags", 8, strings),
                field("Name", 32, string),
            ],
        },
    );
    f.runtime(REC, rec);
    let plan = f.install(REC);
    // The head, then Tags and Name in field order.
    assert_eq!(plan.slices[0].elem, None);
    assert_eq!(plan.recipe.ops[1].kind, OP_STRINGS);
    let mut head_op = op(OP_BYTES, 1);
    head_op.flags = OPF_DYN;
    let s = site(
        &[op(OP_SCALAR, 8), op(OP_STRING, 1), head_op],
        vec![(
            "v",
            Shape::Interface {
                type_op: 0,
                head_op: Some(2),
                strings: vec![(0, 1)],
                ty: "interface {}".into(),
            },
        )],
    );
    let mut head = 7u64.to_le_bytes().to_vec();
    head.resize(48, 0);
    let mut d = Data::default();
    d.word(REC).bytes(b"").bytes(&head);
    d.block(RawDynBlock {
        rtype: REC,
        op: 2,
        n_ops: 3,
        ..RawDynBlock::default()
    })
    .bytes(&head)
    .head(2, 2)
    .string_elem(b"x", false)
    .string_elem(b"y", false)
    .bytes(b"rec");
    let (v, met) = run(&s, &d.0, &f);
    assert_eq!(
        v,
        vec![json!({"type": "main.Rec", "value": {"ID": 7, "Tags": ["x", "y"], "Name": "rec"}})]
    );
    assert!(met.is_empty());
}

fn field(name: &str, offset: u64, ty: crate::golang::types::TypeId) -> crate::golang::types::Field {
    crate::golang::types::Field {
        name: name.into(),
        offset,
        ty,
    }
}

#[test]
fn redacted_values_and_dynamic_fields_show_the_replacement() {
    const LOGIN: u64 = 0x3100;
    let mut f = Fake::default();
    let (string, int, _, _) = f.basics();
    let login = f.add(
        "main.Login",
        40,
        Kind::Struct {
            fields: vec![
                field("ID", 0, int),
                field("Name", 8, string),
                field("Token", 24, string),
            ],
        },
    );
    f.runtime(LOGIN, login);
    let secrets = crate::plan::Secrets {
        redaction: crate::redact::Redaction::default(),
        ..crate::plan::Secrets::off()
    };
    let plan = crate::plan::plan_type(&f.table, login, 64, &secrets).unwrap();
    // Token's bytes are never read (its header is in the head); Name is
    // the only string.
    assert_eq!(plan.recipe.ops[0].max_len, 40);
    assert_eq!((plan.recipe.n_ops, plan.strings.clone()), (2, vec![(8, 1)]));
    f.plans.insert(LOGIN, std::sync::Arc::new(plan));
    let mut head_op = op(OP_BYTES, 1);
    head_op.flags = OPF_DYN;
    let s = site(
        &[op(OP_SCALAR, 8), op(OP_STRING, 1), head_op],
        vec![
            (
                "v",
                Shape::Interface {
                    type_op: 0,
                    head_op: Some(2),
                    strings: vec![(0, 1)],
                    ty: "interface {}".into(),
                },
            ),
            ("password", Shape::Redacted("[REDACTED]".into())),
        ],
    );
    let mut head = 7u64.to_le_bytes().to_vec();
    head.resize(40, 0);
    let mut d = Data::default();
    d.word(LOGIN).bytes(b"").bytes(&head);
    d.block(RawDynBlock {
        rtype: LOGIN,
        op: 2,
        n_ops: 2,
        ..RawDynBlock::default()
    })
    .bytes(&head)
    .bytes(b"bob");
    let (v, met) = run(&s, &d.0, &f);
    assert_eq!(
        v,
        vec![
            json!({"type": "main.Login", "value": {"ID": 7, "Name": "bob", "Token": "[REDACTED]"}}),
            json!("[REDACTED]"),
        ]
    );
    assert!(met.is_empty());
}
