//! The inlined instances of one function (`DW_TAG_inlined_subroutine`):
//! where each starts, who inlined it at which line, and where DWARF puts
//! each parameter there. Read for the functions being planned only, by
//! two passes over the units, instead of being kept for every function
//! by the analysis (most are never probed).

use std::collections::{HashMap, HashSet};

use gimli::{AttributeValue, DebugInfoOffset};

use super::location::{dwarf_reg, Lists};
use super::stream::Units;
use super::{with_dwarf, R};
use crate::golang::abi::Loc;
use crate::golang::AnalysisError;

/// One place the compiler inlined the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedInstance {
    /// The first instruction of the instance (`DW_AT_entry_pc`, else the
    /// lowest address of its ranges): a link-time address.
    pub entry_pc: u64,
    /// The function whose body holds the call: the enclosing function, or
    /// the inlined function the call was itself inlined into.
    pub caller: String,
    /// The call's line in the caller's source (`DW_AT_call_line`), 0 if none.
    pub call_line: u64,
    /// Its code: link-time address ranges `[start, end)`, in DWARF's order.
    pub ranges: Vec<(u64, u64)>,
    /// The instance's parameters, in DIE order.
    pub params: Vec<InlinedParam>,
}

/// One parameter of an inlined instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedParam {
    /// Its name (the abstract parameter's).
    pub name: String,
    /// A result (`DW_AT_variable_parameter`).
    pub is_result: bool,
    /// The name of its type, as DWARF spells it.
    pub ty: Option<String>,
    /// Its pieces at the entry PC (with each piece's size, when given), or
    /// why it is not located there.
    pub location: Located,
}

/// Code address ranges `[start, end)`.
type Ranges = Vec<(u64, u64)>;

/// A parameter's pieces at an instance's start (each with its size, when
/// DWARF gives it), or why it is not located there.
pub type Located = Result<Vec<(Loc, Option<u64>)>, String>;

/// What the first pass finds: abstract functions' names (callers of nested
/// instances are named by them) and the target's abstract parameters.
#[derive(Default)]
struct Abstracts {
    names: HashMap<DebugInfoOffset, String>,
    /// The abstract functions named as the target, each with its
    /// parameters' DIEs in order.
    targets: HashMap<DebugInfoOffset, Vec<DebugInfoOffset>>,
    /// Their parameters: name, result flag, type DIE.
    params: HashMap<DebugInfoOffset, (String, bool, Option<DebugInfoOffset>)>,
}

/// Every inlined instance of the function named `name` in `file`, in DIE
/// order, its stack slots CFA-relative (see [`frame_slots`]). `release`
/// drops the file's pages read so far.
pub fn inlined_instances(
    file: &object::File<'_>,
    release: &dyn Fn(),
    name: &str,
) -> Result<Vec<InlinedInstance>, AnalysisError> {
    const SECTIONS: [gimli::SectionId; 7] = [
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugAddr,
        gimli::SectionId::DebugStrOffsets,
        gimli::SectionId::DebugLineStr,
        gimli::SectionId::DebugRanges,
        gimli::SectionId::DebugRngLists,
    ];
    let endian = super::endian(file);
    let fail = |e: gimli::Error| AnalysisError::Dwarf(e.to_string());
    with_dwarf(file, &SECTIONS, release, |dwarf| {
        let Some(mut units) = Units::of(file, endian, release)? else {
            return Err(AnalysisError::NoDwarf);
        };
        let abstracts = first_pass(dwarf, &mut units, endian, name).map_err(fail)?;
        if abstracts.targets.is_empty() {
            return Ok(Vec::new());
        }
        let Some(mut units) = Units::of(file, endian, release)? else {
            return Err(AnalysisError::NoDwarf);
        };
        let mut lists = Lists::of(file, release)?;
        second_pass(dwarf, &mut units, &mut lists, endian, &abstracts).map_err(fail)
    })
}

/// Makes the CFA-relative slots of `found` SP-relative at each instance's
/// start: the CFA of the function holding it is `SP + delta + 8` there,
/// `deltas` (one per instance) from Go's own `pcsp` table; without one
/// they stay unavailable.
pub fn frame_slots(found: &mut [InlinedInstance], deltas: &[Option<u32>]) {
    for (inst, &delta) in found.iter_mut().zip(deltas) {
        for p in &mut inst.params {
            let Ok(pieces) = &mut p.location else {
                continue;
            };
            if !pieces.iter().any(|(l, _)| matches!(l, Loc::Stack(_))) {
                continue;
            }
            let Some(d) = delta else {
                p.location = Err(
                    "in the caller's stack frame, whose size at this inlined site Go's pcsp table does not give"
                        .into(),
                );
                continue;
            };
            for (l, _) in pieces.iter_mut() {
                if let Loc::Stack(o) = l {
                    *o = o.saturating_add(i64::from(d) + 8);
                }
            }
        }
    }
}

/// A reference attribute as a section offset (`base`: the unit's).
fn reference(v: AttributeValue<R<'_>>, base: DebugInfoOffset) -> Option<DebugInfoOffset> {
    match v {
        AttributeValue::UnitRef(o) => Some(DebugInfoOffset(base.0 + o.0)),
        AttributeValue::DebugInfoRef(o) => Some(o),
        _ => None,
    }
}

/// Names every abstract function, and finds the target's (several units
/// may each hold one) and their parameters.
fn first_pass(
    dwarf: &gimli::Dwarf<R<'_>>,
    units: &mut Units<'_>,
    endian: gimli::RunTimeEndian,
    name: &str,
) -> gimli::Result<Abstracts> {
    let mut a = Abstracts::default();
    while let Some((base, bytes)) = units.next().map_err(|_| gimli::Error::Io)? {
        let Some(header) = gimli::DebugInfo::new(bytes, endian).units().next()? else {
            continue;
        };
        let (unit, _) = super::lines::unit(dwarf, header)?;
        let mut entries = unit.entries();
        let mut depth = 0isize;
        // The depth of the target's abstract function being read, if one is.
        let mut target: Option<(isize, DebugInfoOffset)> = None;
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if target.is_some_and(|(d, _)| depth <= d) {
                target = None;
            }
            let off = DebugInfoOffset(base.0 + entry.offset().0);
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    let abstract_fn = entry.attr_value(gimli::DW_AT_low_pc)?.is_none()
                        && entry.attr_value(gimli::DW_AT_inline)?.is_some();
                    let Some(v) = entry.attr_value(gimli::DW_AT_name)? else {
                        continue;
                    };
                    if !abstract_fn {
                        continue;
                    }
                    let n = dwarf.attr_string(&unit, v)?.to_string_lossy();
                    if n == name {
                        a.targets.insert(off, Vec::new());
                        target = Some((depth, off));
                    }
                    a.names.insert(off, n.into_owned());
                }
                gimli::DW_TAG_formal_parameter if target.is_some_and(|(d, _)| d == depth - 1) => {
                    let n = match entry.attr_value(gimli::DW_AT_name)? {
                        Some(v) => dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned(),
                        None => String::new(),
                    };
                    let result = matches!(
                        entry.attr_value(gimli::DW_AT_variable_parameter)?,
                        Some(AttributeValue::Flag(true))
                    );
                    let ty = entry
                        .attr_value(gimli::DW_AT_type)?
                        .and_then(|v| reference(v, base));
                    a.params.insert(off, (n, result, ty));
                    if let Some(list) = target.and_then(|(_, t)| a.targets.get_mut(&t)) {
                        list.push(off);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(a)
}

/// Reads every inlined instance of the target: its start, its caller and
/// line, and each parameter's location at the start; then names the
/// parameters' types (their DIEs may come after the instances).
fn second_pass(
    dwarf: &gimli::Dwarf<R<'_>>,
    units: &mut Units<'_>,
    lists: &mut Lists<'_>,
    endian: gimli::RunTimeEndian,
    a: &Abstracts,
) -> gimli::Result<Vec<InlinedInstance>> {
    let wanted_types: HashSet<DebugInfoOffset> = a.params.values().filter_map(|p| p.2).collect();
    let mut type_names: HashMap<DebugInfoOffset, String> = HashMap::new();
    // Parameters name their type by offset, resolved once every unit is read.
    // With its abstract parameters' DIEs, and the ones this instance lists.
    let mut out: Vec<(InlinedInstance, Vec<DebugInfoOffset>, &Vec<DebugInfoOffset>)> = Vec::new();
    while let Some((base, bytes)) = units.next().map_err(|_| gimli::Error::Io)? {
        let Some(header) = gimli::DebugInfo::new(bytes, endian).units().next()? else {
            continue;
        };
        let (unit, _) = super::lines::unit(dwarf, header)?;
        lists.seek(&unit)?;
        let mut entries = unit.entries();
        let mut depth = 0isize;
        // Enclosing functions (concrete or inlined), innermost last.
        let mut callers: Vec<(isize, String)> = Vec::new();
        // The instance being read: its depth and index in `out`.
        let mut current: Option<(isize, usize)> = None;
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            while callers.last().is_some_and(|(d, _)| *d >= depth) {
                callers.pop();
            }
            if current.is_some_and(|(d, _)| depth <= d) {
                current = None;
            }
            let off = DebugInfoOffset(base.0 + entry.offset().0);
            if wanted_types.contains(&off) {
                if let Some(v) = entry.attr_value(gimli::DW_AT_name)? {
                    let n = dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned();
                    type_names.insert(off, n);
                }
            }
            let origin = entry
                .attr_value(gimli::DW_AT_abstract_origin)?
                .and_then(|v| reference(v, base));
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    let name = match entry.attr_value(gimli::DW_AT_name)? {
                        Some(v) => {
                            Some(dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned())
                        }
                        None => origin.and_then(|o| a.names.get(&o).cloned()),
                    };
                    callers.push((depth, name.unwrap_or_else(|| "?".into())));
                }
                gimli::DW_TAG_inlined_subroutine => {
                    let name = origin.and_then(|o| a.names.get(&o).cloned());
                    if let Some(list) = origin.and_then(|o| a.targets.get(&o)) {
                        let (pc, ranges) = entry_pc(dwarf, &unit, entry)?;
                        if let Some(pc) = pc {
                            let call_line = entry
                                .attr_value(gimli::DW_AT_call_line)?
                                .and_then(|v| v.udata_value())
                                .unwrap_or(0);
                            let caller = callers.last().map(|(_, n)| n.clone());
                            out.push((
                                InlinedInstance {
                                    entry_pc: pc,
                                    caller: caller.unwrap_or_else(|| "?".into()),
                                    call_line,
                                    ranges,
                                    params: Vec::new(),
                                },
                                Vec::new(),
                                list,
                            ));
                            current = Some((depth, out.len() - 1));
                        }
                    }
                    callers.push((depth, name.unwrap_or_else(|| "?".into())));
                }
                gimli::DW_TAG_formal_parameter => {
                    let Some((d, i)) = current else { continue };
                    if depth != d + 1 {
                        continue;
                    }
                    let abs = origin.and_then(|o| a.params.get(&o));
                    let pc = out[i].0.entry_pc;
                    let location = match entry.attr_value(gimli::DW_AT_location)? {
                        Some(AttributeValue::Exprloc(e)) => eval_here(e, unit.encoding())
                            .unwrap_or_else(|| Err("optimized out at this inlined site".into())),
                        Some(v) => lists.at_with(dwarf, &unit, v, pc, eval_here)?.unwrap_or_else(
                            || {
                                Err("not located at this inlined site's start (its location list does not cover it)".into())
                            },
                        ),
                        None => Err("optimized out at this inlined site (no DWARF location)".into()),
                    };
                    let (inst, listed, _) = &mut out[i];
                    let (Some(o), Some(_)) = (origin, abs) else {
                        continue;
                    };
                    inst.params.push(InlinedParam {
                        name: String::new(),
                        is_result: false,
                        ty: None,
                        location,
                    });
                    listed.push(o);
                }
                _ => {}
            }
        }
    }
    // Every abstract parameter, in order: one the instance does not list
    // was optimized away there.
    Ok(out
        .into_iter()
        .map(|(mut inst, listed, all)| {
            let mut located: Vec<_> = listed.into_iter().zip(inst.params).collect();
            inst.params = all
                .iter()
                .map(|o| {
                    let (name, is_result, ty) = &a.params[o];
                    let location = match located.iter().position(|(l, _)| l == o) {
                        Some(i) => located.swap_remove(i).1.location,
                        None => Err("optimized out at this inlined site (DWARF lists no location for it there)".into()),
                    };
                    InlinedParam {
                        name: name.clone(),
                        is_result: *is_result,
                        ty: ty.and_then(|t| type_names.get(&t).cloned()),
                        location,
                    }
                })
                .collect();
            inst
        })
        .collect())
}

/// Where an instance starts (`DW_AT_entry_pc`, else `DW_AT_low_pc`, else
/// the lowest address of its ranges) and its code's ranges (`DW_AT_low_pc`/`high_pc` or
/// `DW_AT_ranges`; empty ones left out).
fn entry_pc(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    entry: &gimli::DebuggingInformationEntry<R<'_>>,
) -> gimli::Result<(Option<u64>, Ranges)> {
    // Ranges DWARF cannot give leave this instance untimed, not every
    // instance unread.
    let read = |ranges: &mut Ranges| -> gimli::Result<()> {
        let mut it = dwarf.die_ranges(unit, entry)?;
        while let Some(r) = it.next()? {
            if r.begin < r.end {
                ranges.push((r.begin, r.end));
            }
        }
        Ok(())
    };
    let mut ranges = Vec::new();
    if read(&mut ranges).is_err() {
        ranges.clear();
    }
    for at in [gimli::DW_AT_entry_pc, gimli::DW_AT_low_pc] {
        if let Some(v) = entry.attr_value(at)? {
            if let Some(a) = dwarf.attr_address(unit, v)? {
                return Ok((Some(a), ranges));
            }
        }
    }
    Ok((ranges.iter().map(|r| r.0).min(), ranges))
}

/// Evaluates a location at an inlined site's start: registers and
/// CFA-relative stack slots (as `Loc::Stack` from the CFA), whole or in
/// pieces; anything else is reported, never read at a guessed place.
fn eval_here(e: gimli::Expression<R<'_>>, enc: gimli::Encoding) -> Option<Located> {
    let mut ops = e.operations(enc);
    let mut out = Vec::new();
    let mut cur: Option<Loc> = None;
    let mut any = false;
    let mut cfa = false;
    // Offsets come from the file: one that overflows is no location.
    fn add(cur: &mut Option<Loc>, v: i64) {
        if let Some(Loc::Stack(o)) = *cur {
            *cur = o.checked_add(v).map(Loc::Stack);
        }
    }
    loop {
        let op = match ops.next() {
            Ok(Some(op)) => op,
            Ok(None) => break,
            Err(_) => {
                return Some(Err(
                    "a DWARF location at this inlined site that gotel cannot parse".into(),
                ))
            }
        };
        any = true;
        match op {
            gimli::Operation::Register { register } => match dwarf_reg(register.0) {
                Some(l) => cur = Some(l),
                None => {
                    return Some(Err(format!(
                    "in DWARF register {} at this inlined site, which gotel's recipes do not read",
                    register.0
                )))
                }
            },
            // CFA-relative (Go's frame base is the CFA) until `frame_slots`
            // makes it SP-relative.
            gimli::Operation::CallFrameCFA => {
                cfa = true;
                cur = Some(Loc::Stack(0));
            }
            gimli::Operation::FrameOffset { offset } => {
                cfa = true;
                cur = Some(Loc::Stack(offset));
            }
            gimli::Operation::SignedConstant { value } if cfa => add(&mut cur, value),
            gimli::Operation::UnsignedConstant { value } if cfa => add(&mut cur, value as i64),
            gimli::Operation::PlusConstant { value } if cfa => add(&mut cur, value as i64),
            gimli::Operation::Plus if cfa => {}
            gimli::Operation::Piece {
                size_in_bits,
                bit_offset: None,
            } => match cur.take() {
                Some(l) => {
                    cfa = false;
                    out.push((l, Some(size_in_bits / 8)))
                }
                None => {
                    return Some(Err(
                        "partly optimized out at this inlined site (a piece has no location)"
                            .into(),
                    ))
                }
            },
            _ => {
                return Some(Err(
                    "a computed DWARF location at this inlined site, which gotel does not evaluate"
                        .into(),
                ))
            }
        }
    }
    if let Some(c) = cur {
        out.push((c, None));
    }
    if !any || out.is_empty() {
        return Some(Err(
            "optimized out at this inlined site (empty DWARF location)".into(),
        ));
    }
    Some(Ok(out))
}
