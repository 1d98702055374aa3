//! Float results in XMM registers, planned for their landing sites: the
//! return recipe also reads the return address (which call site the call
//! returns to), and each landing site gets a recipe reading the register
//! or stack slot the caller moved the value to (see `golang::landing`).

use std::collections::{BTreeMap, HashMap};

use crate::golang::abi::{Loc, Part};
use crate::golang::landing::{Landing, Walked};
use crate::golang::{BinaryInfo, Function};
use crate::recipe::{RawRecipe, MAX_OPS, OP_SCALAR, SITE_LANDING};

use super::contract::{CallSiteFloat, LandingSite, Landings, ScalarKind, Shape, SitePlan, Value};
use super::emit::{self, Access};

/// Landing sites (uprobes) one probe of one function attaches at most;
/// call sites past them stay unread.
pub(super) const MAX_LANDINGS: usize = 64;
/// Distinct places (result, register or slot, size) one probe reads at
/// its landing sites at most: each set of them is a recipe of the
/// kernel's 4096, per process.
pub(super) const MAX_PLACES: usize = 8;

/// A float value (a result, or an argument) passed in an XMM register.
#[derive(Debug, Clone, Copy)]
pub(super) struct Float {
    /// Its index in its site's values.
    pub(super) index: usize,
    /// X0–X14.
    pub(super) xmm: u8,
    /// 4: float32, 8: float64.
    pub(super) size: u8,
}

/// The float results of a return site passed in XMM registers: those
/// whose value is one float part in X0–X14 and planned unavailable (not
/// redacted). `parts`: each result's ABI parts.
pub(super) fn floats(ret: &SitePlan, parts: &[Vec<Part>]) -> Vec<Float> {
    ret.values
        .iter()
        .zip(parts)
        .enumerate()
        .filter_map(|(index, (v, p))| match &v.shape {
            Shape::Unavailable(_) => Float::in_xmm(index, p),
            _ => None,
        })
        .collect()
}

impl Float {
    /// Value `index`, if its ABI `parts` are one float32/float64 in an XMM
    /// register.
    pub(super) fn in_xmm(index: usize, parts: &[Part]) -> Option<Float> {
        match parts {
            [p] if p.float && matches!(p.size, 4 | 8) => match p.loc {
                Loc::FloatReg(xmm) => Some(Float {
                    index,
                    xmm,
                    size: p.size as u8,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The planner's warnings about float results read at landing sites: the
/// walker's "cannot read XMM" goes; a result some call sites keep in XMM
/// is reported with them.
pub(super) fn warn(l: &Landings, ret: &SitePlan, warnings: &mut Vec<String>) {
    for (i, (index, _)) in l.floats.iter().enumerate() {
        let prefix = format!("{}: ", ret.values[*index].name);
        warnings.retain(|w| !(w.starts_with(&prefix) && w.contains("XMM")));
        if let Some(line) = l
            .report
            .get(i)
            .filter(|r| r.contains("; not at ") || r.contains(" of 0 "))
        {
            warnings.push(line.clone());
        }
    }
}

/// Plans the landing sites of `f`'s float results `floats` (values of
/// `ret`), adding the return-address op to `ret`'s recipe when there is
/// one (`sites` empty: no call site is readable, nothing is probed);
/// None when there is nothing to read or no op left for the return address.
pub(super) fn plan(
    bin: &BinaryInfo,
    f: &Function,
    ret: &mut SitePlan,
    floats: &[Float],
) -> Option<Landings> {
    let n = usize::from(ret.recipe.n_ops);
    if floats.is_empty() || n >= MAX_OPS {
        return None;
    }
    let sites = bin.call_sites(f);
    // The call site as `caller+offset` of its return address.
    let caller = |r: u64| {
        bin.function_at(r.wrapping_sub(1)).map_or_else(
            || format!("{r:#x}"),
            |g| format!("{}+{:#x}", g.name, r - g.low_pc),
        )
    };
    let mut by_addr: BTreeMap<u64, Vec<(usize, Loc, u8)>> = BTreeMap::new();
    let mut places: std::collections::BTreeSet<(usize, Loc, u8)> = Default::default();
    let mut calls: HashMap<u64, Vec<CallSiteFloat>> = HashMap::new();
    let mut floats_out = Vec::new();
    let mut report = Vec::new();
    for fl in floats {
        let v = &ret.values[fl.index];
        let what = format!("{} result in X{}", v.ty, fl.xmm);
        let walked: Vec<(u64, Result<Walked, String>)> = sites
            .iter()
            .map(|&r| (r, bin.landings_and_path(r, fl.xmm, fl.size)))
            .collect();
        // A landing site's uprobe fires on every path through it: one that
        // a call site's path runs through before its value left XMM would
        // read something else there, for that call. Such call sites are
        // not read at all.
        let landing_at: std::collections::HashSet<u64> = walked
            .iter()
            .filter_map(|(_, w)| w.as_ref().ok())
            .flat_map(|(ls, _)| ls.iter().map(|l| l.addr))
            .collect();
        let found: Vec<(u64, Result<Vec<Landing>, String>)> = walked
            .into_iter()
            .map(|(r, walk)| {
                let got = walk.and_then(|(ls, ran)| {
                    match ran.iter().find(|a| landing_at.contains(a)) {
                        Some(a) => Err(format!(
                            "a path from it runs through the landing site at {a:#x} before the value leaves XMM"
                        )),
                        None => Ok(ls),
                    }
                });
                let got = got.and_then(|ls| {
                    let new = ls.iter().filter(|l| !by_addr.contains_key(&l.addr)).count();
                    if by_addr.len() + new > MAX_LANDINGS {
                        return Err(format!("more than {MAX_LANDINGS} landing sites"));
                    }
                    let mut more = places.clone();
                    more.extend(ls.iter().map(|l| (fl.index, l.loc, l.size)));
                    if more.len() > MAX_PLACES {
                        return Err(format!(
                            "more than {MAX_PLACES} distinct places to read it at landing sites"
                        ));
                    }
                    places = more;
                    if ls.iter().any(|l| bin.file_offset(l.addr).is_none()) {
                        return Err("a landing site outside the executable code".into());
                    }
                    for l in &ls {
                        let reads = by_addr.entry(l.addr).or_default();
                        reads.push((fl.index, l.loc, l.size));
                        reads.sort_unstable();
                        reads.dedup();
                    }
                    Ok(ls)
                });
                (r, got)
            })
            .collect();
        let readable = found.iter().filter(|(_, g)| g.is_ok()).count();
        let total = found.len();
        let mut not = Vec::new();
        for (r, got) in found {
            let why = got.err().map(|e| {
                not.push(format!("{}: {e}", caller(r)));
                format!(
                    "{what}: the call site in {} keeps it in XMM ({e}); {readable} of {total} call sites readable",
                    caller(r)
                )
            });
            calls
                .entry(r)
                .or_default()
                .push((fl.index, why.map_or(Ok(()), Err)));
        }
        floats_out.push((
            fl.index,
            format!(
                "{what}: this call returned elsewhere than a direct call site (a func value, an interface method, a deferred call), where eBPF cannot read XMM registers"
            ),
        ));
        let mut line = format!(
            "{} ({what}): readable at {readable} of {total} direct call sites",
            v.name
        );
        if !not.is_empty() {
            line += &format!("; not at {}", not.join("; "));
        }
        report.push(line);
    }

    // Landing addresses reading the same places share one recipe.
    let mut groups: BTreeMap<Vec<(usize, Loc, u8)>, Vec<u64>> = BTreeMap::new();
    for (addr, reads) in by_addr {
        let off = bin.file_offset(addr).expect("checked above");
        groups.entry(reads).or_default().push(off);
    }
    let sites: Vec<LandingSite> = groups
        .into_iter()
        .map(|(reads, offsets)| landing_site(ret, &reads, offsets))
        .collect();
    // The return address tells which landing records follow a return:
    // read only when some call site has one.
    if !sites.is_empty() {
        ret.recipe.ops[n] = emit::op(OP_SCALAR, 8, 0, Access::Direct(Loc::Stack(0)), None);
        ret.recipe.n_ops += 1;
    }
    Some(Landings {
        ret_addr_op: n,
        sites,
        calls,
        floats: floats_out,
        report,
    })
}

/// The recipe reading `reads` (result index, place, size), attached at
/// `offsets`.
fn landing_site(ret: &SitePlan, reads: &[(usize, Loc, u8)], offsets: Vec<u64>) -> LandingSite {
    let (site, results) = reading(ret, reads);
    LandingSite {
        offsets,
        site,
        results,
    }
}

/// A landing recipe reading `reads` (index of a value of `of`, place,
/// size) as floats: its site plan, and the value index each op fills.
pub(super) fn reading(of: &SitePlan, reads: &[(usize, Loc, u8)]) -> (SitePlan, Vec<usize>) {
    let mut recipe = RawRecipe {
        site: SITE_LANDING,
        goid_offset: of.recipe.goid_offset,
        stack_hi_offset: of.recipe.stack_hi_offset,
        ..RawRecipe::default()
    };
    let mut values = Vec::new();
    let mut filled = Vec::new();
    for (i, &(index, loc, size)) in reads.iter().enumerate().take(MAX_OPS) {
        recipe.ops[i] = emit::op(OP_SCALAR, size, 0, Access::Direct(loc), None);
        recipe.n_ops += 1;
        let v = &of.values[index];
        values.push(Value {
            name: v.name.clone(),
            ty: v.ty.clone(),
            location: loc.to_string(),
            shape: Shape::Scalar {
                op: i,
                kind: ScalarKind::Float,
                size,
            },
        });
        filled.push(index);
    }
    let site = SitePlan {
        recipe,
        values,
        span: None,
        traceparent: None,
        stack: None,
    };
    (site, filled)
}
