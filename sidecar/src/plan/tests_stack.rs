//! `stack:`: the entry's walk of the callers, op 0, before every value.

use super::*;
use crate::recipe::{OP_STACK, SITE_RETURN};

#[test]
fn the_stack_is_op_0_of_the_entry_and_takes_its_bytes_from_the_budget() {
    let t = Types::new();
    let s = entry(&t, &[("n", t.int)], serde_json::json!({"stack": 8}));
    assert_eq!(s.plan.stack, Some(0));
    assert_eq!((s.op(0).kind, s.op(0).size), (OP_STACK, 8));
    // The value after it, as without a stack.
    assert_eq!((s.op(1).kind, s.op(1).a), (OP_SCALAR, reg(0)));
    assert_eq!(
        *s.shape("n"),
        Shape::Scalar {
            op: 1,
            kind: ScalarKind::Int,
            size: 8
        }
    );
    assert!(!s.plan.recipe.fast());
    // The return site walks nothing; a probe without `stack` neither.
    let ret = plan_site(
        &t,
        &[("n", t.int)],
        &[("r0", t.int)],
        &spec(serde_json::json!({"stack": 8})),
        SITE_RETURN,
        |_| {},
    );
    assert_eq!(ret.plan.stack, None);
    assert!(ret.plan.recipe.ops.iter().all(|o| o.kind != OP_STACK));
    let plain = entry(&t, &[("n", t.int)], serde_json::json!({}));
    assert_eq!(plain.plan.stack, None);
    assert_eq!(plain.op(0).kind, OP_SCALAR);
}
