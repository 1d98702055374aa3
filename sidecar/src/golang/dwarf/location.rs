//! Where DWARF says each parameter is at its function's entry: the
//! compiler's own location lists, the cross-check for the register ABI.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use gimli::{AttributeValue, DebugInfoOffset, EndianSlice};

use super::stream::{Units, Window};
use super::{with_dwarf, R};
use crate::golang::abi::Loc;
use crate::golang::AnalysisError;

/// Where DWARF says one parameter lives at its function's first instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLocation {
    /// The parameter's name.
    pub name: String,
    /// Pieces in order; None when DWARF gives no location at the entry PC.
    pub pieces: Option<Vec<Loc>>,
}

/// For every function (by low_pc), the DWARF location of each parameter at
/// the entry PC. Used to cross-check the ABI assignment and by `gotel check`.
/// `release` drops the file's pages read so far from memory.
pub fn entry_locations(
    file: &object::File<'_>,
    release: &dyn Fn(),
) -> Result<HashMap<u64, Vec<EntryLocation>>, AnalysisError> {
    let mut out: HashMap<u64, Vec<EntryLocation>> = HashMap::new();
    each_entry_location(file, release, &mut |low, l| {
        out.entry(low).or_default().push(l)
    })?;
    Ok(out)
}

/// [`entry_locations`] one at a time: `emit` gets each function's low_pc
/// and one of its parameters' locations, in the order `entry_locations`
/// lists them, without the map of them all.
pub fn each_entry_location(
    file: &object::File<'_>,
    release: &dyn Fn(),
    emit: &mut dyn FnMut(u64, EntryLocation),
) -> Result<(), AnalysisError> {
    // `.debug_info` is streamed a unit at a time, and the location lists
    // a unit's worth at a time (see `entry_locations_in`).
    const SECTIONS: [gimli::SectionId; 5] = [
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugAddr,
        gimli::SectionId::DebugStrOffsets,
        gimli::SectionId::DebugLineStr,
    ];
    let endian = super::endian(file);
    with_dwarf(file, &SECTIONS, release, |dwarf| {
        let Some(mut units) = Units::of(file, endian, release)? else {
            return Err(AnalysisError::NoDwarf);
        };
        let mut lists = Lists::of(file, release)?;
        entry_locations_in(dwarf, &mut units, &mut lists, emit)
            .map_err(|e| AnalysisError::Dwarf(e.to_string()))
    })
}

/// The location list sections, each through a window: `.debug_loc` for
/// DWARF 4 units (Go ≤ 1.24), `.debug_loclists` for DWARF 5 ones.
pub(super) struct Lists<'d> {
    loc: Option<Window<'d>>,
    loclists: Option<Window<'d>>,
    endian: gimli::RunTimeEndian,
}

/// Evaluates one location expression (see [`eval`]).
pub(super) type Eval<T> = fn(gimli::Expression<R<'_>>, gimli::Encoding) -> Option<T>;

impl<'d> Lists<'d> {
    /// Both sections of `file`, each through a window at its start.
    pub(super) fn of(
        file: &object::File<'d>,
        release: &'d dyn Fn(),
    ) -> Result<Self, AnalysisError> {
        Ok(Lists {
            loc: Window::of(file, ".debug_loc", release)?,
            loclists: Window::of(file, ".debug_loclists", release)?,
            endian: super::endian(file),
        })
    }

    fn window(&mut self, enc: gimli::Encoding) -> Option<&mut Window<'d>> {
        match enc.version {
            ..5 => self.loc.as_mut(),
            _ => self.loclists.as_mut(),
        }
    }

    /// Moves the window of `unit`'s lists to the first one its DIEs
    /// refer to (DIEs and lists are in the same order).
    pub(super) fn seek(&mut self, unit: &gimli::Unit<R<'_>>) -> gimli::Result<()> {
        let mut first: Option<u64> = None;
        let mut entries = unit.entries();
        while let Some((_, entry)) = entries.next_dfs()? {
            let at = match entry.attr_value(gimli::DW_AT_location)? {
                Some(AttributeValue::LocationListsRef(o)) => o.0 as u64,
                // An index into the table at the unit's base.
                Some(AttributeValue::DebugLocListsIndex(_)) => unit.loclists_base.0 as u64,
                _ => continue,
            };
            first = Some(first.map_or(at, |f| f.min(at)));
        }
        match (first, self.window(unit.encoding())) {
            (Some(at), Some(w)) => w.seek(at).map_err(|_| gimli::Error::Io),
            _ => Ok(()),
        }
    }

    /// The pieces at `low` of the location list `v` refers to (None for
    /// other forms), as [`gimli::Dwarf::attr_locations`] reads it from the
    /// whole section: the window grows while the list runs past it.
    fn at(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        v: AttributeValue<R<'_>>,
        low: u64,
    ) -> gimli::Result<Option<Vec<Loc>>> {
        self.at_with(dwarf, unit, v, low, eval)
    }

    /// As [`Lists::at`], with `ev` evaluating the expression found.
    pub(super) fn at_with<T>(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        v: AttributeValue<R<'_>>,
        low: u64,
        ev: Eval<T>,
    ) -> gimli::Result<Option<T>> {
        let (enc, endian) = (unit.encoding(), self.endian);
        // Where in the section the list (or the index table) is.
        let need = match v {
            AttributeValue::LocationListsRef(o) => o.0 as u64,
            AttributeValue::DebugLocListsIndex(_) => unit.loclists_base.0 as u64,
            _ => return Ok(None),
        };
        let Some(w) = self.window(enc) else {
            // No such section: as gimli reads an empty one.
            let lists = gimli::LocationLists::new(
                gimli::DebugLoc::new(&[], endian),
                gimli::DebugLocLists::new(&[], endian),
            );
            return entry_pieces(dwarf, unit, &lists, v, 0, low, ev);
        };
        if need < w.start() {
            w.seek(need).map_err(|_| gimli::Error::Io)?;
        }
        loop {
            let section = EndianSlice::new(w.bytes(), endian);
            let lists = gimli::LocationLists::new(section.into(), section.into());
            match entry_pieces(dwarf, unit, &lists, v, w.start(), low, ev) {
                Err(gimli::Error::UnexpectedEof(_))
                    if w.grow().map_err(|_| gimli::Error::Io)? => {}
                r => return r,
            }
        }
    }
}

/// The pieces at `low` of the list `v` refers to, in `lists`: a window
/// of the section that starts at its offset `start`.
fn entry_pieces<'w, T>(
    dwarf: &gimli::Dwarf<R<'w>>,
    unit: &gimli::Unit<R<'w>>,
    lists: &gimli::LocationLists<R<'w>>,
    v: AttributeValue<R<'w>>,
    start: u64,
    low: u64,
    ev: Eval<T>,
) -> gimli::Result<Option<T>> {
    let enc = unit.encoding();
    let local = |o: usize| {
        let o = (o as u64).checked_sub(start).ok_or(gimli::Error::Io)?;
        usize::try_from(o).map_err(|_| gimli::Error::Io)
    };
    let offset = match v {
        AttributeValue::LocationListsRef(o) => gimli::LocationListsOffset(local(o.0)?),
        AttributeValue::DebugLocListsIndex(i) => {
            let base = gimli::DebugLocListsBase(local(unit.loclists_base.0)?);
            lists.get_offset(enc, base, i)?
        }
        _ => return Ok(None),
    };
    let mut iter = lists.locations(offset, enc, unit.low_pc, &dwarf.debug_addr, unit.addr_base)?;
    while let Some(le) = iter.next()? {
        if le.range.begin <= low && low < le.range.end {
            return Ok(ev(le.data, enc));
        }
    }
    Ok(None)
}

/// Reads `units` one after the other: nothing here looks back at an
/// earlier unit's bytes (references to other units are only compared as
/// offsets), so only the current unit is in memory.
fn entry_locations_in(
    dwarf: &gimli::Dwarf<R<'_>>,
    units: &mut Units<'_>,
    lists: &mut Lists<'_>,
    emit: &mut dyn FnMut(u64, EntryLocation),
) -> gimli::Result<()> {
    // Names of abstract functions' parameters, for concrete ones that
    // only point there (only those are ever an origin), in DIE order
    // (offset order); each name once (`intern`): they outlive their unit.
    let mut names: Vec<(DebugInfoOffset, Rc<str>)> = Vec::new();
    let mut intern: HashSet<Rc<str>> = HashSet::new();
    while let Some((base, bytes)) = units.next().map_err(|_| gimli::Error::Io)? {
        let Some(header) = gimli::DebugInfo::new(bytes, lists.endian).units().next()? else {
            continue;
        };
        // The line programs say nothing of locations.
        let (unit, _) = super::lines::unit(dwarf, header)?;
        lists.seek(&unit)?;
        // Offsets in the section, from offsets in this unit's bytes.
        let global = |o: DebugInfoOffset| DebugInfoOffset(base.0 + o.0);
        let mut entries = unit.entries();
        let mut depth = 0isize;
        let mut current: Option<(isize, u64)> = None;
        // The depth of the abstract function being read, if one is.
        let mut abstract_fn: Option<isize> = None;
        // (function low_pc, abstract origin, name, pieces at entry)
        type Pending<'n> = (
            u64,
            Option<DebugInfoOffset>,
            Option<Cow<'n, str>>,
            Option<Vec<Loc>>,
        );
        let mut pending: Vec<Pending> = Vec::new();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if current.is_some_and(|(d, _)| depth <= d) {
                current = None;
            }
            if abstract_fn.is_some_and(|d| depth <= d) {
                abstract_fn = None;
            }
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    current = match entry.attr_value(gimli::DW_AT_low_pc)? {
                        Some(v) => dwarf.attr_address(&unit, v)?.map(|a| (depth, a)),
                        None => None,
                    };
                    // As `collect` tells abstract functions.
                    if current.is_none() && entry.attr_value(gimli::DW_AT_inline)?.is_some() {
                        abstract_fn = Some(depth);
                    }
                }
                gimli::DW_TAG_formal_parameter => {
                    let name = match entry.attr_value(gimli::DW_AT_name)? {
                        Some(v) => Some(dwarf.attr_string(&unit, v)?.to_string_lossy()),
                        None => None,
                    };
                    if let (Some(n), Some(off), Some(d)) = (
                        &name,
                        entry.offset().to_debug_info_offset(&unit.header),
                        abstract_fn,
                    ) {
                        if depth == d + 1 {
                            let n = match intern.get(n.as_ref()) {
                                Some(n) => n.clone(),
                                None => {
                                    let n: Rc<str> = n.as_ref().into();
                                    intern.insert(n.clone());
                                    n
                                }
                            };
                            names.push((global(off), n));
                        }
                    }
                    let Some((d, low)) = current else { continue };
                    if depth != d + 1 {
                        continue;
                    }
                    let origin = match entry.attr_value(gimli::DW_AT_abstract_origin)? {
                        Some(AttributeValue::UnitRef(o)) => {
                            o.to_debug_info_offset(&unit.header).map(global)
                        }
                        Some(AttributeValue::DebugInfoRef(o)) => Some(o),
                        _ => None,
                    };
                    let pieces = match entry.attr_value(gimli::DW_AT_location)? {
                        Some(AttributeValue::Exprloc(e)) => eval(e, unit.encoding()),
                        Some(v) => lists.at(dwarf, &unit, v, low)?,
                        None => None,
                    };
                    pending.push((low, origin, name, pieces));
                }
                _ => {}
            }
        }
        for (low, origin, name, pieces) in pending {
            let name = match name {
                Some(n) => n.into_owned(),
                None => origin
                    .and_then(|o| names.binary_search_by_key(&o.0, |(o, _)| o.0).ok())
                    .map(|i| names[i].1.to_string())
                    .unwrap_or_default(),
            };
            emit(low, EntryLocation { name, pieces });
        }
    }
    Ok(())
}

/// Evaluates the simple location expressions Go emits: registers and
/// CFA-relative stack slots, split in pieces.
fn eval(e: gimli::Expression<R<'_>>, enc: gimli::Encoding) -> Option<Vec<Loc>> {
    let mut ops = e.operations(enc);
    let mut out = Vec::new();
    let mut cur: Option<Loc> = None;
    let mut cfa = false;
    while let Ok(Some(op)) = ops.next() {
        match op {
            gimli::Operation::Register { register } => cur = Some(dwarf_reg(register.0)?),
            gimli::Operation::CallFrameCFA => {
                cfa = true;
                // At the entry PC, CFA = SP + 8 (the return address).
                cur = Some(Loc::Stack(8));
            }
            // Offsets come from the file: one that overflows is no location.
            gimli::Operation::FrameOffset { offset } => {
                cur = Some(Loc::Stack(offset.checked_add(8)?))
            }
            gimli::Operation::PlusConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o.checked_add_unsigned(value)?));
                }
            }
            gimli::Operation::SignedConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o.checked_add(value)?));
                }
            }
            gimli::Operation::UnsignedConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o.checked_add_unsigned(value)?));
                }
            }
            gimli::Operation::Piece { .. } => {
                out.push(cur.take()?);
                cfa = false;
            }
            _ => {}
        }
    }
    if let Some(c) = cur {
        out.push(c);
    }
    Some(out)
}

/// DWARF x86-64 register number → the location a recipe reads.
pub(super) fn dwarf_reg(n: u16) -> Option<Loc> {
    let abi = match n {
        1 => 9,   // RDX
        12 => 10, // R12
        13 => 11, // R13
        15 => 12, // R15
        0 => 0,   // RAX
        3 => 1,   // RBX
        2 => 2,   // RCX
        5 => 3,   // RDI
        4 => 4,   // RSI
        8 => 5,   // R8
        9 => 6,   // R9
        10 => 7,  // R10
        11 => 8,  // R11
        17..=32 => return Some(Loc::FloatReg((n - 17) as u8)),
        _ => return None,
    };
    Some(Loc::IntReg(abi))
}
