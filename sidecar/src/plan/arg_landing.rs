//! Float arguments in XMM registers, planned for their landing sites in
//! the function's own body (see `golang::arg_landing`): one recipe per set
//! of places read (and SP delta), attached where the function moves the
//! value out of XMM. One place per function, so calls through func values
//! and interfaces are read too.

use std::collections::BTreeMap;

use crate::golang::abi::{Loc, Part};
use crate::golang::{BinaryInfo, Function, Param};

use super::contract::{ArgLandings, ArgRead, ArgSite, Shape, SitePlan, Value};
use super::landing::{Float, MAX_LANDINGS, MAX_PLACES};

/// What one landing site reads: (entry value index, place, size) each.
type Reads = Vec<(usize, Loc, u8)>;

/// The float arguments among `entry`'s values passed in X0–X14 and planned
/// unavailable (not redacted, not suspect): `args` with their ABI `parts`.
fn float_args(entry: &SitePlan, args: &[&Param], parts: &[Vec<Part>]) -> Vec<Float> {
    entry
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v.shape, Shape::Unavailable(_)) && v.is_xmm_float())
        .filter_map(|(index, v)| {
            let i = args.iter().position(|p| *p.name == v.name)?;
            Float::in_xmm(index, parts.get(i)?)
        })
        .collect()
}

impl Value {
    /// A float64/float32 value the entry could not read from XMM.
    fn is_xmm_float(&self) -> bool {
        matches!(self.ty.as_str(), "float64" | "float32") && self.location.starts_with('X')
    }
}

/// Plans the landing sites of `f`'s float arguments in XMM (values of
/// `entry`), and replaces their "cannot read XMM" warnings by what is
/// read where. `entry_only`: why the calls are delivered at their entry,
/// before any landing, so that none is read (the report says so). None:
/// no float argument in XMM.
pub(super) fn plan(
    bin: &BinaryInfo,
    f: &Function,
    entry: &SitePlan,
    (args, parts): (&[&Param], &[Vec<Part>]),
    entry_only: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<ArgLandings> {
    let floats = float_args(entry, args, parts);
    if floats.is_empty() {
        return None;
    }
    let at = |a: u64| format!("{}+{:#x}", f.name, a - f.low_pc);
    let mut by_addr: BTreeMap<u64, (u64, Reads)> = BTreeMap::new();
    let mut places = std::collections::BTreeSet::new();
    let mut out = ArgLandings::default();
    for fl in &floats {
        let v = &entry.values[fl.index];
        let what = format!("{} argument in X{}", v.ty, fl.xmm);
        let found = match entry_only {
            None => bin.arg_landings(f, fl.xmm, fl.size),
            Some(why) => Err(why.to_string()),
        };
        let found = found.and_then(|a| {
            let new = a
                .landings
                .iter()
                .filter(|(l, _)| !by_addr.contains_key(&l.addr));
            if by_addr.len() + new.count() > MAX_LANDINGS {
                return Err(format!("more than {MAX_LANDINGS} landing sites"));
            }
            let mut more = places.clone();
            more.extend(a.landings.iter().map(|(l, _)| (fl.index, l.loc, l.size)));
            if more.len() > MAX_PLACES {
                return Err(format!("more than {MAX_PLACES} distinct places to read it"));
            }
            if a.landings
                .iter()
                .any(|(l, _)| bin.file_offset(l.addr).is_none())
            {
                return Err("a landing site outside the executable code".into());
            }
            // Two places' reads share a recipe only at one frame delta.
            if a.landings.iter().any(|(l, d)| {
                by_addr
                    .get(&l.addr)
                    .is_some_and(|(e, _)| *e != u64::from(*d))
            }) {
                return Err(
                    "its landing site's frame differs from another argument's there".into(),
                );
            }
            places = more;
            Ok(a)
        });
        // Its "cannot read XMM" warning goes where every path is read,
        // says which paths are not where some are, and stays where none is
        // (the report line says why).
        let prefix = format!("{}: ", v.name);
        let warning = warnings
            .iter()
            .position(|w| w.starts_with(&prefix) && w.contains("XMM"));
        let line = match found {
            Ok(a) => {
                for (l, d) in &a.landings {
                    let reads = &mut by_addr
                        .entry(l.addr)
                        .or_insert((u64::from(*d), Vec::new()))
                        .1;
                    reads.push((fl.index, l.loc, l.size));
                    reads.sort_unstable();
                    reads.dedup();
                }
                let sites: Vec<String> = a.landings.iter().map(|(l, _)| at(l.addr)).collect();
                let mut line = format!(
                    "{} ({what}): read in the callee at {}",
                    v.name,
                    sites.join(", ")
                );
                let kept = (!a.kept.is_empty()).then(|| a.kept.join("; "));
                match &kept {
                    None => {
                        if let Some(i) = warning {
                            warnings.remove(i);
                        }
                    }
                    Some(k) => {
                        line += &format!("; not on paths where {k}");
                        match warning {
                            Some(i) => warnings[i] = line.clone(),
                            None => warnings.push(line.clone()),
                        }
                    }
                }
                out.args.push(ArgRead {
                    index: fl.index,
                    what: what.clone(),
                    kept,
                });
                line
            }
            Err(why) => format!("{} ({what}): not readable: {why}", v.name),
        };
        out.report.push(line);
    }
    // Landing addresses reading the same places at one frame delta share
    // one recipe.
    let mut groups: BTreeMap<(u64, Reads), Vec<u64>> = BTreeMap::new();
    for (addr, (delta, reads)) in by_addr {
        let off = bin.file_offset(addr).expect("checked above");
        groups.entry((delta, reads)).or_default().push(off);
    }
    out.sites = groups
        .into_iter()
        .map(|((delta, reads), offsets)| site(entry, &reads, offsets, delta))
        .collect();
    Some(out)
}

/// The recipe reading `reads` (entry value index, place, size), attached
/// at `offsets`, `delta` below the entry's SP.
fn site(entry: &SitePlan, reads: &[(usize, Loc, u8)], offsets: Vec<u64>, delta: u64) -> ArgSite {
    let (site, args) = super::landing::reading(entry, reads);
    ArgSite {
        offsets,
        site,
        args,
        delta,
    }
}
