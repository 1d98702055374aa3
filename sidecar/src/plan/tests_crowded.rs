//! A site short of room: what gives way first.

use super::*;

/// A struct too large for the site gives way to the results after it: the
/// error keeps its type word and message, the struct loses its last fields.
#[test]
fn a_crowded_site_trims_a_struct_before_the_error_after_it() {
    let mut t = Types::new();
    let int = t.int;
    let names: Vec<String> = (0..40).map(|i| format!("F{i}")).collect();
    let fields: Vec<(&str, TypeId)> = names.iter().map(|n| (n.as_str(), int)).collect();
    let big = t.strukt("main.Big", &fields);
    let probe = spec(serde_json::json!({}));
    let results = [("~r0", big), ("err", t.error)];
    let s = plan_site(&t, &[("a", t.int)], &results, &probe, SITE_RETURN, |_| {});
    let Shape::Struct(r0) = s.shape("r0") else {
        panic!("{:?}", s.shape("r0"))
    };
    assert_eq!(
        r0[29].1,
        Shape::Scalar {
            op: 29,
            kind: ScalarKind::Int,
            size: 8
        }
    );
    assert_eq!(r0[30].1, Shape::Unavailable(FULL.into()));
    assert_eq!(
        *s.shape("err"),
        Shape::Interface {
            type_op: 30,
            head_op: None,
            strings: vec![(0, 31)],
            ty: "error".into()
        }
    );
    assert_eq!(s.plan.recipe.n_ops, 32);
    assert_eq!(s.warnings.len(), 10);
    assert_eq!(s.warnings[0], format!("r0.F30: {FULL}"));
    // With room for everything nothing is trimmed, and the error gets its
    // head (an extra) too.
    let fields: Vec<(&str, TypeId)> = names[..8].iter().map(|n| (n.as_str(), int)).collect();
    let small = t.strukt("main.Small", &fields);
    let s = plan_site(
        &t,
        &[],
        &[("~r0", small), ("err", t.error)],
        &probe,
        SITE_RETURN,
        |_| {},
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(matches!(
        s.shape("err"),
        Shape::Interface {
            head_op: Some(_),
            ..
        }
    ));
}
