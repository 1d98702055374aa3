//! `[]string` wherever it is: inside a slice element, a map's value
//! (`url.Values`) and a dynamic value; and what a type recipe spends its
//! ops and bytes on first.

use super::*;
use crate::plan::type_recipe::plan_type;

/// `url.Values`: a map whose values are `[]string`.
fn values(t: &mut Types) -> TypeId {
    let strings = t.slice(t.string);
    t.add(
        "net/url.Values",
        8,
        Kind::Map {
            key: Some(t.string),
            elem: Some(strings),
        },
    )
}

#[test]
fn a_string_slice_in_a_map_value_is_copied_string_by_string() {
    let mut t = Types::new();
    let v = values(&mut t);
    let s = entry(&t, &[("v", v)], serde_json::json!({}));
    // len, dirLen, ctrl, the group's OP_ELEMS over 8 slots of {string,
    // []string} (40 bytes): the key, the value's strings and capacity.
    let g = s.op(3);
    assert_eq!((g.kind, g.size, g.max_len, g.stride), (OP_ELEMS, 3, 8, 40));
    let elem = RawLoc {
        kind: LOC_ELEM,
        ..RawLoc::default()
    };
    assert_eq!(
        (s.op(4).kind, s.op(4).max_len, s.op(4).a),
        (OP_STRING, 256, elem)
    );
    // The first step of INNER: 8 strings of at most 64 bytes.
    let vals = s.op(5);
    assert_eq!(
        (vals.kind, vals.size, vals.max_len, vals.mem_off, vals.a),
        (OP_STRINGS, 8, 64, 16, elem)
    );
    assert_eq!((s.op(6).kind, s.op(6).mem_off), (OP_SCALAR, 32));
    let Shape::Map {
        entries: Some(e), ..
    } = s.shape("v")
    else {
        panic!("{:?}", s.shape("v"));
    };
    let MapEntries::Group {
        slots: Shape::Elems { elem, .. },
        ..
    } = &**e
    else {
        panic!("{e:?}");
    };
    assert_eq!(
        **elem,
        Shape::Struct(vec![
            ("key".into(), Shape::String { op: 4 }),
            (
                "value".into(),
                Shape::Slice {
                    op: 5,
                    cap_op: Some(6),
                    elem: None,
                    elem_size: 16,
                    ty: "[]string".into()
                }
            ),
        ])
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn elements_with_a_string_slice_take_fewer_strings_until_all_elements_fit() {
    let mut t = Types::new();
    let strings = t.slice(t.string);
    let item = t.strukt("main.Item", &[("Name", t.string), ("Tags", strings)]);
    let items = t.slice(item);
    // 4 elements: the first step fits (8 strings capped by max_elems).
    let s = entry(
        &t,
        &[("xs", items)],
        serde_json::json!({"max_elems": 4, "max_string_len": 100}),
    );
    assert_eq!(
        (s.op(0).kind, s.op(0).size, s.op(0).max_len),
        (OP_ELEMS, 3, 4)
    );
    assert_eq!(
        (s.op(2).kind, s.op(2).size, s.op(2).max_len),
        (OP_STRINGS, 4, 64)
    );
    // 16 elements of 272-byte names: 8 strings of 64 bytes each leave
    // room for 8 elements, 4 strings of 32 bytes for all 16.
    let s = entry(&t, &[("xs", items)], serde_json::json!({}));
    assert_eq!((s.op(0).kind, s.op(0).max_len), (OP_ELEMS, 16));
    assert_eq!(
        (s.op(2).kind, s.op(2).size, s.op(2).max_len),
        (OP_STRINGS, 4, 32)
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.plan.recipe.n_ops, 5);
}

#[test]
fn a_type_recipe_copies_string_slices_and_spends_its_ops_shallow_first() {
    let mut t = Types::new();
    let strings = t.slice(t.string);
    let s = t.string;
    // Inner: 30 strings, deeper than the outer struct's own fields.
    let names: Vec<String> = (0..30).map(|i| format!("S{i}")).collect();
    let fields: Vec<(&str, TypeId)> = names.iter().map(|n| (n.as_str(), s)).collect();
    let inner = t.strukt("main.Inner", &fields);
    let outer = t.strukt(
        "main.Outer",
        &[
            ("In", inner),
            ("Name", s),
            ("Tags", strings),
            ("Err", t.error),
        ],
    );
    let p = plan_type(&t.t, outer, 32, &crate::plan::Secrets::off()).unwrap();
    let r = &p.recipe;
    assert_eq!(usize::from(r.n_ops), MAX_TYPE_OPS);
    // The head, then the outer fields (depth 1), then Inner's strings.
    assert_eq!(p.head_op, Some(0));
    assert_eq!(p.strings[0], (480, 1));
    assert_eq!(
        p.slices,
        vec![crate::plan::SliceAt {
            off: 496,
            op: 2,
            elem: None,
            elem_size: 16
        }]
    );
    assert_eq!(
        (r.ops[2].kind, r.ops[2].size, r.ops[2].max_len),
        (OP_STRINGS, 8, 32)
    );
    assert_eq!(
        (p.ifaces[0].off, p.ifaces[0].type_op, p.ifaces[0].data_op),
        (520, 3, 4)
    );
    // Inner's first strings take the ops left: S0 at offset 0 on.
    assert_eq!(p.strings[1], (0, 5));
    assert_eq!(p.strings.len(), 1 + MAX_TYPE_OPS - 5);
    assert_eq!(
        p.strings.last(),
        Some(&(16 * (MAX_TYPE_OPS as u64 - 6), 23))
    );
}

#[test]
fn a_type_recipe_shortens_its_last_strings_to_stay_within_its_bytes() {
    let mut t = Types::new();
    let s = t.string;
    let names: Vec<String> = (0..20).map(|i| format!("S{i}")).collect();
    let fields: Vec<(&str, TypeId)> = names.iter().map(|n| (n.as_str(), s)).collect();
    let wide = t.strukt("main.Wide", &fields);
    // Head: 16 + 256 bytes; each string 16 + 256: 14 full strings fit
    // in 4096 bytes, then what is left.
    let p = plan_type(&t.t, wide, 256, &crate::plan::Secrets::off()).unwrap();
    let lens: Vec<u16> = p.recipe.ops[1..usize::from(p.recipe.n_ops)]
        .iter()
        .map(|o| o.max_len)
        .collect();
    assert_eq!(lens.len(), 14);
    assert!(lens.iter().all(|l| *l == 256), "{lens:?}");
    let p = plan_type(&t.t, wide, 200, &crate::plan::Secrets::off()).unwrap();
    let lens: Vec<u16> = p.recipe.ops[1..usize::from(p.recipe.n_ops)]
        .iter()
        .map(|o| o.max_len)
        .collect();
    // 272 + 17 × 216 = 3944: the 18th string gets the 136 bytes left.
    assert_eq!(lens.len(), 18);
    assert_eq!(lens[16], 200);
    assert_eq!(lens[17], 136);
}

/// `items(xs []Item, ps []*Point, es []error)`: the elements of the
/// first slice, []string inside them, leave the slices after it their
/// first elements rather than crowd them out.
#[test]
fn a_slice_of_elements_with_strings_leaves_later_slices_their_first_elements() {
    let mut t = Types::new();
    let strings = t.slice(t.string);
    let item = t.strukt(
        "main.Item",
        &[("Name", t.string), ("Qty", t.int), ("Tags", strings)],
    );
    let items = t.slice(item);
    let point = t.strukt("main.Point", &[("X", t.int), ("Y", t.int)]);
    let p = t.ptr(point);
    let points = t.slice(p);
    let errors = t.slice(t.error);
    let s = entry(
        &t,
        &[("xs", items), ("ps", points), ("es", errors)],
        serde_json::json!({}),
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let count = |name: &str| match s.shape(name) {
        Shape::Elems { op, .. } => (s.op(*op).max_len, s.op(*op).size),
        other => panic!("{name}: {other:?}"),
    };
    // (elements, element ops): 16 items with 2 tags of 16 bytes each, 16
    // points, and the 4 errors the crowded site keeps room for.
    assert_eq!(
        (count("xs"), count("ps"), count("es")),
        ((16, 4), (16, 3), (4, 3))
    );
    assert_eq!(
        (s.op(3).kind, s.op(3).size, s.op(3).max_len),
        (OP_STRINGS, 2, 16)
    );
    assert_eq!(s.plan.recipe.n_ops, 16);
}

/// A `[]string` at a crowded site shortens its strings to leave the error
/// after it its type word and message.
#[test]
fn a_crowded_string_slice_shortens_its_strings_for_the_error_after_it() {
    let mut t = Types::new();
    let strings = t.slice(t.string);
    let s = plan_site(
        &t,
        &[],
        &[("names", strings), ("err", t.error)],
        &spec(serde_json::json!({"max_string_len": 1024})),
        SITE_RETURN,
        |_| {},
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // 16 strings share what the error's type word and 1 KiB message
    // (1048 bytes) leave: (8192 - 24 - 1048) / 16 - 16, to a multiple of 8.
    let names = s.op(0);
    assert_eq!(
        (names.kind, names.size, names.max_len),
        (OP_STRINGS, 16, 424)
    );
    assert!(matches!(s.shape("err"), Shape::Interface { .. }));
}
