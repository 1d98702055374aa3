//! Lists DWARF does not give: one unavailable value in their place.

use super::*;
use crate::golang::dwarf::Incomplete;

/// Plans `site` of a function with `args` and `results` whose DWARF is
/// short as `unknown` says.
fn plan_unknown(t: &Types, unknown: &Incomplete, site: u8, args: &[(&str, TypeId)]) -> Site {
    let probe = spec(serde_json::json!({}));
    let a: Vec<Param> = args
        .iter()
        .map(|(n, ty)| Param {
            name: (*n).into(),
            ty: Some(*ty),
            is_result: false,
        })
        .collect();
    let a: Vec<&Param> = a.iter().collect();
    let ids: Vec<TypeId> = args.iter().map(|(_, ty)| *ty).collect();
    let assignment = abi::assign(&t.t, &ids, &[]).map_err(|e| e.to_string());
    let secrets = crate::plan::Secrets {
        redaction: probe.redact.clone(),
        ..crate::plan::Secrets::off()
    };
    let ctx = SiteCtx {
        secrets: &secrets,
        types: &t.t,
        layout: swiss(),
        g: (152, 8),
        spec: &probe,
        args: &a,
        results: &[],
        assignment: &assignment,
        args_suspect: None,
        unknown: Some(unknown),
        instant: false,
        join: false,
        sdk: false,
    };
    let b = ctx.build(site);
    let warnings = b.warnings.clone();
    Site {
        plan: b.finish(),
        warnings,
    }
}

#[test]
fn unknown_results_are_one_unavailable_value_and_the_arguments_stay() {
    let t = Types::new();
    let why = Incomplete::Results("lost".into());
    let ret = plan_unknown(&t, &why, SITE_RETURN, &[("name", t.string)]);
    assert_eq!(ret.plan.values.len(), 1);
    assert!(ret.plan.values[0].is_whole_list());
    assert_eq!(ret.plan.values[0].shape, Shape::Unavailable("lost".into()));
    assert_eq!(ret.plan.recipe.n_ops, 0);
    let entry = plan_unknown(&t, &why, SITE_ENTRY, &[("name", t.string)]);
    assert_eq!(entry.plan.values.len(), 1);
    assert_eq!(entry.plan.values[0].name, "name");
    assert_eq!(entry.plan.values[0].shape, Shape::String { op: 0 });
    assert!(!entry.plan.values[0].is_whole_list());
}

#[test]
fn an_unknown_signature_is_one_unavailable_value_at_each_site() {
    let t = Types::new();
    let why = Incomplete::Everything("assembly".into());
    for site in [SITE_ENTRY, SITE_RETURN] {
        let s = plan_unknown(&t, &why, site, &[]);
        assert_eq!(s.plan.values.len(), 1, "site {site}");
        assert!(s.plan.values[0].is_whole_list());
        assert_eq!(
            s.plan.values[0].shape,
            Shape::Unavailable("assembly".into())
        );
        assert_eq!(s.plan.recipe.n_ops, 0);
        assert!(s.warnings.is_empty());
    }
}
