//! Raw type DIEs, read from `.debug_info` when the resolver asks for one
//! instead of collected up front: a collected type with its members cost
//! ~180 bytes of the peak whether or not a signature reached it (2.6 MB
//! of cmd/go's, and its members 1.3 MB more), and `.debug_info` stays
//! decompressed through the analysis anyway. What the pass over the DIEs
//! keeps is their offsets, the first type of each name, and the units.

use std::collections::HashMap;

use gimli::{AttributeValue, DebugInfoOffset};

use super::collect::{Name, DW_AT_GO_ELEM, DW_AT_GO_KEY, DW_AT_GO_KIND};
use super::R;

/// One type DIE, as the resolver reads it.
#[derive(Debug)]
pub(super) struct RawType<'a> {
    pub(super) tag: gimli::DwTag,
    pub(super) name: Option<Name<'a>>,
    pub(super) size: Option<u64>,
    pub(super) go_kind: Option<u64>,
    pub(super) encoding: Option<gimli::DwAte>,
    pub(super) ty: Option<DebugInfoOffset>,
    pub(super) elem: Option<DebugInfoOffset>,
    pub(super) key: Option<DebugInfoOffset>,
    pub(super) members: Vec<(Name<'a>, u64, Option<DebugInfoOffset>)>,
    pub(super) count: Option<u64>,
}

/// Structure types [`Types::structs`] finds by name: the runtime's, whose
/// field offsets the analysis reads (`runtime.g`, maps, chans, funcs).
pub(super) const RUNTIME_STRUCTS: [&str; 8] = [
    "runtime.g",
    "runtime.stack",
    "runtime.hmap",
    "runtime.hchan",
    "runtime.funcval",
    "internal/runtime/maps.Map",
    "internal/runtime/maps.table",
    "internal/runtime/maps.groupsReference",
];

/// The type DIEs of one binary, read on demand.
pub(super) struct Types<'a> {
    dwarf: &'a gimli::Dwarf<R<'a>>,
    /// Every unit (without its line program), in section order.
    units: Vec<gimli::Unit<R<'a>>>,
    /// Offsets of the type DIEs, in order: only these are types (a
    /// reference elsewhere reads as a missing type, as it did when
    /// types were collected).
    offsets: Vec<DebugInfoOffset>,
    /// The first type of each name; `lossy` for names that are not UTF-8
    /// (they cannot borrow from the section).
    names: HashMap<&'a str, DebugInfoOffset>,
    lossy: HashMap<String, DebugInfoOffset>,
    /// Structure types named in [`RUNTIME_STRUCTS`], in offset order.
    runtime: Vec<(&'static str, DebugInfoOffset)>,
}

impl<'a> Types<'a> {
    pub(super) fn new(dwarf: &'a gimli::Dwarf<R<'a>>) -> Self {
        Types {
            dwarf,
            units: Vec::new(),
            offsets: Vec::new(),
            names: HashMap::new(),
            lossy: HashMap::new(),
            runtime: Vec::new(),
        }
    }

    /// Records the type DIE at `off` (DIEs come in offset order).
    pub(super) fn push(
        &mut self,
        off: DebugInfoOffset,
        tag: gimli::DwTag,
        name: Option<&Name<'a>>,
    ) {
        debug_assert!(self.offsets.last().is_none_or(|o| o.0 < off.0));
        self.offsets.push(off);
        let Some(name) = name else { return };
        match name {
            Name::Borrowed(n) => self.names.entry(n).or_insert(off),
            Name::Owned(n) => self.lossy.entry(n.clone()).or_insert(off),
        };
        if tag == gimli::DW_TAG_structure_type {
            if let Some(s) = RUNTIME_STRUCTS.iter().find(|s| **s == name.as_ref()) {
                self.runtime.push((s, off));
            }
        }
    }

    /// Adds a unit once its DIEs are recorded: types are read through it.
    pub(super) fn push_unit(&mut self, unit: gimli::Unit<R<'a>>) {
        self.units.push(unit);
    }

    /// The first type (in offset order) called `name`.
    pub(super) fn by_name(&self, name: &str) -> Option<DebugInfoOffset> {
        let first = self.names.get(name).into_iter().chain(self.lossy.get(name));
        first.min_by_key(|o| o.0).copied()
    }

    /// The structure types called `name` (one of [`RUNTIME_STRUCTS`]), in
    /// offset order.
    pub(super) fn structs<'s>(&'s self, name: &'s str) -> impl Iterator<Item = RawType<'a>> + 's {
        debug_assert!(RUNTIME_STRUCTS.contains(&name), "{name} not recorded");
        self.runtime
            .iter()
            .filter(move |(n, _)| *n == name)
            .filter_map(|(_, off)| self.get(*off))
    }

    /// The name of the type whose DIE is at `off`, read as the pass over
    /// the DIEs read it.
    pub(super) fn name(&self, off: DebugInfoOffset) -> Option<Name<'a>> {
        self.offsets.binary_search_by_key(&off.0, |o| o.0).ok()?;
        let (unit, at) = self.unit_of(off).ok()?;
        let mut entries = unit.entries_at_offset(at).ok()?;
        let (_, entry) = entries.next_dfs().ok()??;
        let v = entry.attr_value(gimli::DW_AT_name).ok()??;
        Some(self.dwarf.attr_string(unit, v).ok()?.to_string_lossy())
    }

    /// The unit of the DIE at `off`, and its offset there.
    fn unit_of(
        &self,
        off: DebugInfoOffset,
    ) -> gimli::Result<(&gimli::Unit<R<'a>>, gimli::UnitOffset)> {
        let start = |u: &gimli::Unit<R<'a>>| u.header.offset().as_debug_info_offset();
        let i = self
            .units
            .partition_point(|u| start(u).is_some_and(|s| s.0 <= off.0));
        let unit = &self.units[i.checked_sub(1).ok_or(gimli::Error::NoEntryAtGivenOffset)?];
        let at = off
            .to_unit_offset(&unit.header)
            .ok_or(gimli::Error::NoEntryAtGivenOffset)?;
        Ok((unit, at))
    }

    /// The type whose DIE is at `off`; None when no type DIE is there (or
    /// it cannot be read).
    pub(super) fn get(&self, off: DebugInfoOffset) -> Option<RawType<'a>> {
        self.offsets.binary_search_by_key(&off.0, |o| o.0).ok()?;
        self.read(off).ok()
    }

    fn read(&self, off: DebugInfoOffset) -> gimli::Result<RawType<'a>> {
        let (unit, at) = self.unit_of(off)?;
        let dwarf = self.dwarf;
        let reference = |v: AttributeValue<R<'a>>| match v {
            AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header),
            AttributeValue::DebugInfoRef(o) => Some(o),
            _ => None,
        };
        let name = |entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>| {
            gimli::Result::Ok(match entry.attr_value(gimli::DW_AT_name)? {
                Some(v) => Some(dwarf.attr_string(unit, v)?.to_string_lossy()),
                None => None,
            })
        };
        let mut entries = unit.entries_at_offset(at)?;
        let (_, entry) = entries
            .next_dfs()?
            .ok_or(gimli::Error::NoEntryAtGivenOffset)?;
        let udata = |e: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>, at| {
            gimli::Result::Ok(e.attr_value(at)?.and_then(|v| v.udata_value()))
        };
        let mut t = RawType {
            tag: entry.tag(),
            name: name(entry)?,
            size: udata(entry, gimli::DW_AT_byte_size)?,
            go_kind: udata(entry, DW_AT_GO_KIND)?,
            encoding: match entry.attr_value(gimli::DW_AT_encoding)? {
                Some(AttributeValue::Encoding(e)) => Some(e),
                _ => None,
            },
            ty: entry.attr_value(gimli::DW_AT_type)?.and_then(reference),
            elem: entry.attr_value(DW_AT_GO_ELEM)?.and_then(reference),
            key: entry.attr_value(DW_AT_GO_KEY)?.and_then(reference),
            members: Vec::new(),
            count: None,
        };
        if !entry.has_children() {
            return Ok(t);
        }
        // The direct children: members of a struct, the subrange of an array.
        let mut depth = 0;
        while let Some((delta, child)) = entries.next_dfs()? {
            depth += delta;
            if depth <= 0 {
                break;
            }
            if depth > 1 {
                continue;
            }
            match child.tag() {
                gimli::DW_TAG_member => {
                    let loc = udata(child, gimli::DW_AT_data_member_location)?.unwrap_or(0);
                    let ty = child.attr_value(gimli::DW_AT_type)?.and_then(reference);
                    t.members.push((name(child)?.unwrap_or_default(), loc, ty));
                }
                gimli::DW_TAG_subrange_type => t.count = udata(child, gimli::DW_AT_count)?,
                _ => {}
            }
        }
        Ok(t)
    }
}
