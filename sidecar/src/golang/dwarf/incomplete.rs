//! Where DWARF's parameter lists are short of a function's signature, so
//! that gotel says "unknown" instead of showing a function that takes or
//! returns nothing. The cases, found by comparing every function of
//! `cmd/go` with its source on every toolchain (`tests/goroot_tools.rs`):
//!
//! - assembly functions (declared in a `.s` file): DWARF lists no
//!   parameters, and the frame size the assembly declares by hand is not
//!   always true, so their signature is unknown;
//! - a Go function listing no parameter although Go's function table gives
//!   its frame (`_func.args`: stack arguments and results, and the spill
//!   slots of register arguments) a size (Go before 1.22 omits blank ones);
//! - functions with range-over-func loops (Go ≥ 1.23): a loop body that
//!   returns makes the compiler rename every unnamed result (`#rv1`…), and
//!   DWARF loses them. Results in registers leave no trace in the frame
//!   size, so such a function listing no result is marked as possibly
//!   short, and so is the `(*T).M` wrapper of such a value method.

use std::collections::{HashMap, HashSet};

use super::Function;

/// Sets [`Function::incomplete`] where DWARF's lists are provably or
/// possibly short: `frames` maps entry addresses to frame bytes (from
/// `.gopclntab`; a function missing from it has a frame of unknown size),
/// `asm` holds the entry addresses of assembly functions, `range_owners`
/// the functions with range-over-func loops (those that have `F-range1`
/// bodies).
pub(super) fn check(
    functions: &mut [Function],
    frames: &HashMap<u64, u32>,
    asm: &HashSet<u64>,
    range_owners: &HashSet<String>,
) {
    for f in functions {
        let frame = frames.get(&f.low_pc).copied();
        // Assembly declares its frame size by hand, and not always truly
        // (Go 1.19's runtime.cputicks returns a word from a frame of 0).
        if asm.contains(&f.low_pc) && f.params.is_empty() {
            f.incomplete = Some(Box::new(Incomplete::Everything(
                "an assembly function, whose parameters DWARF does not list".into(),
            )));
            continue;
        }
        if let (true, Some(n @ 1..)) = (f.params.is_empty(), frame) {
            f.incomplete = Some(Box::new(Incomplete::Everything(format!(
                "DWARF lists none of its parameters, yet Go's function table gives them {n} bytes"
            ))));
            continue;
        }
        // Go does not mix named and unnamed results, and named ones stay
        // listed: a result listed means none was lost. The (*T).M wrapper
        // of a value method T.M copies its signature.
        let owner = without_type_args(&f.name);
        if f.results().next().is_none()
            && (range_owners.contains(&owner) || range_owners.contains(&value_method(&owner)))
        {
            f.incomplete = Some(Box::new(Incomplete::Results(
                "it has range-over-func loops, and Go's compiler leaves the unnamed results of such functions out of DWARF: it may return nothing, or values DWARF does not list".into(),
            )));
        }
    }
}

/// `pkg.(*T).M` → `pkg.T.M`: the value method a pointer wrapper calls.
fn value_method(name: &str) -> String {
    match name.find(".(*").zip(name.find(").")) {
        Some((open, close)) if open < close => {
            format!(
                "{}.{}{}",
                &name[..open],
                &name[open + 3..close],
                &name[close + 1..]
            )
        }
        _ => name.to_string(),
    }
}

/// The function whose range-over-func loop `name` is the body of
/// (`pkg.F-range1` → `pkg.F`, `pkg.F.func1-range2-range1` → `pkg.F.func1`).
pub(super) fn range_owner(name: &str) -> Option<String> {
    let at = name.find("-range")?;
    Some(without_type_args(&name[..at]))
}

fn without_type_args(name: &str) -> String {
    crate::golang::without_type_args(name)
}

/// What DWARF leaves out of a function's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incomplete {
    /// Some results, maybe all of them (which ones is not known, so none
    /// of the listed ones can be located either); the reason.
    Results(String),
    /// Every parameter: neither arguments nor results are known; the
    /// reason.
    Everything(String),
}

impl Incomplete {
    /// Why the results cannot be shown.
    pub fn reason(&self) -> &str {
        match self {
            Incomplete::Results(why) | Incomplete::Everything(why) => why,
        }
    }

    /// True when the arguments are unknown too.
    pub fn arguments(&self) -> bool {
        matches!(self, Incomplete::Everything(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golang::dwarf::Param;

    fn func(name: &str, low_pc: u64, params: &[(&str, bool)]) -> Function {
        Function {
            name: name.into(),
            low_pc,
            high_pc: low_pc + 16,
            params: params
                .iter()
                .map(|(n, is_result)| Param {
                    name: (*n).into(),
                    ty: None,
                    is_result: *is_result,
                })
                .collect(),
            inlined_sites: 0,
            incomplete: None,
        }
    }

    #[test]
    fn pointer_wrappers_name_their_value_method() {
        assert_eq!(
            value_method("reflect.(*Value).Comparable"),
            "reflect.Value.Comparable"
        );
        assert_eq!(value_method("a/b.c.(*T).M"), "a/b.c.T.M");
        assert_eq!(value_method("pkg.F"), "pkg.F");
    }

    #[test]
    fn loop_bodies_name_their_owner() {
        assert_eq!(range_owner("pkg.F-range1").as_deref(), Some("pkg.F"));
        assert_eq!(
            range_owner("a/b.(*T).M.func1-range2-range1").as_deref(),
            Some("a/b.(*T).M.func1")
        );
        assert_eq!(
            range_owner("pkg.G[go.shape.int]-range1").as_deref(),
            Some("pkg.G")
        );
        assert_eq!(range_owner("pkg.F.func1"), None);
    }

    #[test]
    fn short_lists_are_marked_and_complete_ones_are_not() {
        let mut fs = vec![
            // Assembly with a declared frame, with a frame of 0 (which
            // may be untrue), with no frame size.
            func("bytealg.IndexByteString", 0x100, &[]),
            func("runtime.cputicks", 0x200, &[]),
            func("runtime.rt0_go", 0x300, &[]),
            // Go: a blank parameter omitted (Go < 1.22), a function taking
            // nothing.
            func("main.blank", 0x400, &[]),
            func("main.nothing", 0x500, &[]),
            // Range-over-func loops: no result listed, the pointer wrapper
            // of such a value method, a result listed.
            func("fsys.ReadDir", 0x600, &[("name", false)]),
            func("reflect.(*Value).Comparable", 0x680, &[("v", false)]),
            func("main.walk", 0x700, &[("name", false), ("~r0", true)]),
            // No loops, no result: returns nothing.
            func("main.plain", 0x800, &[("name", false)]),
        ];
        let frames = HashMap::from([
            (0x100, 32),
            (0x200, 0),
            (0x400, 8),
            (0x500, 0),
            (0x600, 16),
            (0x680, 8),
            (0x700, 16),
            (0x800, 16),
        ]);
        let asm = HashSet::from([0x100, 0x200, 0x300]);
        let owners = HashSet::from([
            "fsys.ReadDir".to_string(),
            "reflect.Value.Comparable".to_string(),
            "main.walk".to_string(),
        ]);
        check(&mut fs, &frames, &asm, &owners);
        let got: Vec<(&str, Option<bool>)> = fs
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.incomplete.as_ref().map(|u| u.arguments()),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("bytealg.IndexByteString", Some(true)),
                ("runtime.cputicks", Some(true)),
                ("runtime.rt0_go", Some(true)),
                ("main.blank", Some(true)),
                ("main.nothing", None),
                ("fsys.ReadDir", Some(false)),
                ("reflect.(*Value).Comparable", Some(false)),
                ("main.walk", None),
                ("main.plain", None),
            ]
        );
        assert_eq!(
            fs[0].incomplete.as_ref().unwrap().reason(),
            "an assembly function, whose parameters DWARF does not list"
        );
        assert_eq!(
            fs[3].incomplete.as_ref().unwrap().reason(),
            "DWARF lists none of its parameters, yet Go's function table gives them 8 bytes"
        );
        assert!(fs[5]
            .incomplete
            .as_ref()
            .unwrap()
            .reason()
            .starts_with("it has range-over-func loops"));
    }
}
