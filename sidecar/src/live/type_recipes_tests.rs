//! The per-binary record of type recipes, and their removal with the
//! binary, against the fake kernel.

use super::*;
use crate::live::kernel::fake::FakeKernel;
use crate::live::kernel::Kernel;
use crate::recipe::RawTypeRecipe;

#[test]
fn a_type_is_wanted_until_planned_then_never() {
    let t = BinaryTypes::new(3);
    assert!(t.want(0x100), "first sight: to be planned");
    assert!(t.want(0x100), "still wanted until planned");
    assert_eq!(t.take_wanted(), [0x100]);
    assert!(t.take_wanted().is_empty());
    // Planned with nothing to install: never wanted again, not installed.
    t.set(0x100, None);
    assert!(!t.want(0x100));
    assert!(t.installed().is_empty());
    assert!(t.plan(0x100).is_none());
}

#[test]
fn at_most_types_per_binary_are_wanted_or_planned() {
    let t = BinaryTypes::new(3);
    for i in 0..TYPES_PER_BINARY as u64 {
        assert!(t.want(i));
    }
    assert!(!t.want(u64::MAX), "the binary has all the recipes it may");
}

#[test]
fn prewarm_is_claimed_once() {
    let t = BinaryTypes::new(3);
    assert!(t.first_prewarm());
    assert!(!t.first_prewarm());
}

#[test]
fn binaries_get_distinct_nonzero_ids_and_keep_them() {
    let mut r = TypeRecipes::default();
    let a = r.of((1, 1, 1, 1));
    let b = r.of((2, 2, 2, 2));
    assert_eq!((a.bin, b.bin), (1, 2));
    assert_eq!(r.of((1, 1, 1, 1)).bin, 1);
}

#[test]
fn an_unused_binary_takes_its_type_recipes_with_it() {
    let mut k = FakeKernel::default();
    let mut r = TypeRecipes::default();
    let (used, unused) = ((1, 1, 1, 1), (2, 2, 2, 2));
    for (key, rtype) in [(used, 0x10), (unused, 0x20), (unused, 0x30)] {
        let t = r.of(key);
        let recipe = RawTypeRecipe::default();
        k.add_type_recipe(
            RawTypeKey {
                bin: t.bin,
                _pad: 0,
                rtype,
            },
            &recipe,
        )
        .unwrap();
        t.set(
            rtype,
            Some(Arc::new(TypePlan {
                recipe,
                value_ty: 0,
                head_op: None,
                strings: Vec::new(),
                slices: Vec::new(),
                ifaces: Vec::new(),
                redaction: crate::redact::Redaction::off(),
            })),
        );
    }
    r.retain(&mut k, &HashSet::from([used]));
    assert_eq!(k.types.keys().copied().collect::<Vec<_>>(), [(1, 0x10)]);
    assert_eq!(r.of(used).installed(), [0x10]);
    assert_eq!(r.of(unused).bin, 3, "a binary seen again is a new id");
}
