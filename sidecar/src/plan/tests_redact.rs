//! Redaction: a redacted value, field or element field has no op (its
//! bytes never reach a record) and a `Redacted` shape.

use super::*;
use crate::plan::type_recipe::plan_type;
use crate::plan::Secrets;

/// The (location kind, register, stack offset) every op reads first.
fn sources(s: &Site) -> Vec<(u8, u8, i32)> {
    let r = &s.plan.recipe;
    r.ops[..usize::from(r.n_ops)]
        .iter()
        .map(|o| (o.a.kind, o.a.reg, o.a.offset))
        .collect()
}

fn redacted() -> Shape {
    Shape::Redacted("[REDACTED]".into())
}

#[test]
fn a_redacted_argument_and_field_get_no_op_and_say_so() {
    let mut t = Types::new();
    let creds = t.strukt(
        "main.Creds",
        &[("User", t.string), ("Token", t.string), ("N", t.int)],
    );
    let args = [("password", t.string), ("creds", creds)];
    let on = entry(&t, &args, serde_json::json!({}));
    let off = entry(&t, &args, serde_json::json!({}).clone());
    // The same plan without redaction, for where each value lives.
    let mut plain = spec(serde_json::json!({}));
    plain.redact = crate::redact::Redaction::off();
    let all = plan_site(&t, &args, &[], &plain, SITE_ENTRY, |_| {});
    assert_eq!(off.plan, on.plan);
    assert_eq!(all.plan.recipe.n_ops, 4, "password, User, Token, N");
    assert_eq!(on.plan.recipe.n_ops, 2, "User and N only");
    assert_eq!(on.shape("password"), &redacted());
    let Shape::Struct(fields) = on.shape("creds") else {
        panic!("{:?}", on.shape("creds"))
    };
    assert_eq!(fields[1], ("Token".to_string(), redacted()));
    // What is left reads exactly User's and N's registers, never the
    // password's or the token's.
    let (a, b) = (sources(&on), sources(&all));
    assert_eq!(a, vec![b[1], b[3]]);
    assert!(on.warnings.is_empty(), "{:?}", on.warnings);
}

#[test]
fn an_explicit_path_through_a_redacted_name_is_redacted_too() {
    let mut t = Types::new();
    let creds = t.strukt("main.Creds", &[("User", t.string), ("Token", t.string)]);
    let pc = t.ptr(creds);
    let s = entry(
        &t,
        &[("password", t.string), ("c", pc)],
        serde_json::json!({"args": ["password", "c.Token", "c.User"]}),
    );
    assert_eq!(s.shape("password"), &redacted());
    assert_eq!(s.shape("c.Token"), &redacted());
    assert!(matches!(s.shape("c.User"), Shape::String { .. }));
    assert_eq!(s.plan.recipe.n_ops, 1, "c.User only");
}

#[test]
fn slice_elements_holding_a_redacted_field_are_not_copied_as_bytes() {
    let mut t = Types::new();
    let item = t.strukt("main.Item", &[("ID", t.int), ("ApiKey", t.int)]);
    let items = t.slice(item);
    let s = entry(&t, &[("items", items)], serde_json::json!({}));
    let Shape::Elems { elem, k, .. } = s.shape("items") else {
        panic!("{:?}", s.shape("items"))
    };
    assert_eq!(*k, 1, "ID's op only");
    let Shape::Struct(fields) = elem.as_ref() else {
        panic!("{elem:?}")
    };
    assert_eq!(fields[1], ("ApiKey".to_string(), redacted()));
    // Without redaction the elements are one run of bytes.
    let mut plain = spec(serde_json::json!({}));
    plain.redact = crate::redact::Redaction::off();
    let all = plan_site(&t, &[("items", items)], &[], &plain, SITE_ENTRY, |_| {});
    assert!(matches!(all.shape("items"), Shape::Slice { .. }));
}

#[test]
fn a_type_recipe_stops_its_head_before_a_redacted_field_and_skips_its_strings() {
    let mut t = Types::new();
    let s = t.strukt(
        "main.Login",
        &[
            ("Code", t.int),
            ("Pin", t.int),
            ("Msg", t.string),
            ("Token", t.string),
        ],
    );
    let secrets = Secrets {
        redaction: crate::redact::Redaction::compile(&crate::config::Redact {
            names: vec!["^(Pin|Token)$".into()],
            replacement: "x".into(),
        })
        .unwrap(),
        ..crate::plan::Secrets::off()
    };
    let p = plan_type(&t.t, s, 64, &secrets).unwrap();
    assert_eq!(p.head_op, Some(0));
    assert_eq!(
        (p.recipe.ops[0].kind, p.recipe.ops[0].max_len),
        (OP_BYTES, 8)
    );
    assert_eq!(p.strings, vec![(16, 1)], "Msg only");
    assert_eq!(p.recipe.n_ops, 2);
    let all = plan_type(&t.t, s, 64, &Secrets::off()).unwrap();
    assert_eq!(all.recipe.ops[0].max_len, 48);
    assert_eq!(all.strings.len(), 2);
}

#[test]
fn without_speculation_an_interface_reads_no_bytes_before_its_type_is_known() {
    let t = Types::new();
    let probe = spec(serde_json::json!({}));
    let s = plan_site(&t, &[("err", t.error)], &[], &probe, SITE_ENTRY, |c| {
        let leaked: &'static Secrets = Box::leak(Box::new(Secrets {
            redaction: c.secrets.redaction.clone(),
            dyn_head: 0,
            dyn_string: false,
        }));
        c.secrets = leaked;
    });
    let Shape::Interface {
        head_op, strings, ..
    } = s.shape("err")
    else {
        panic!()
    };
    assert!(strings.is_empty());
    let head = s.op(head_op.expect("the head still hands over to the type's recipe"));
    assert_eq!(
        (head.kind, head.max_len, head.flags),
        (OP_BYTES, 0, OPF_DYN)
    );
}
