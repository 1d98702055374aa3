//! One pass over `.debug_info`: the raw DIEs gotel needs (functions with
//! their parameters, inlined call sites, where the types are), keyed by
//! offset, before any type is resolved.

use std::borrow::Cow;
use std::collections::HashMap;

use gimli::{AttributeValue, DebugInfoOffset, UnitOffset};

use super::chunked::Chunked;
use super::lines::{self, LineHeaders};
use super::raw_types::Types;
use super::R;

/// `DW_AT_go_kind`: the type's `reflect.Kind`.
pub(super) const DW_AT_GO_KIND: gimli::DwAt = gimli::DwAt(0x2900);
/// `DW_AT_go_elem`: element type of slices, chans, maps.
pub(super) const DW_AT_GO_ELEM: gimli::DwAt = gimli::DwAt(0x2902);
/// `DW_AT_go_key`: a map's key type.
pub(super) const DW_AT_GO_KEY: gimli::DwAt = gimli::DwAt(0x2901);
/// `DW_AT_go_runtime_type`: the type's runtime `_type`, as an offset from
/// the module's type data (`runtime.types`).
const DW_AT_GO_RUNTIME_TYPE: gimli::DwAt = gimli::DwAt(0x2904);

/// A DIE's name as the sections hold it: borrowed, not copied (one
/// allocation per name was most of the collected data's size), except
/// when it is not UTF-8.
pub(super) type Name<'a> = Cow<'a, str>;

#[derive(Debug, Default, Clone)]
pub(super) struct RawParam<'a> {
    pub(super) name: Option<Name<'a>>,
    pub(super) ty: Option<DebugInfoOffset>,
    pub(super) is_result: bool,
    pub(super) origin: Option<DebugInfoOffset>,
}

/// A function with code. Its name is the section's bytes, made a string
/// when it is read (see [`Packed`]).
#[derive(Debug, Default)]
pub(super) struct RawFunc<'a> {
    name: Option<&'a [u8]>,
    pub(super) low_pc: Option<u64>,
    pub(super) high_pc: Option<u64>,
    pub(super) origin: Option<DebugInfoOffset>,
    /// Where its parameters are in [`Params`]: between the first and one
    /// past the last (those of this function, see [`Params::of`]).
    pub(super) params: std::ops::Range<u32>,
    /// Declared in a `.s` file: assembly, whose parameters DWARF omits.
    pub(super) asm: bool,
}

impl<'a> RawFunc<'a> {
    pub(super) fn name(&self) -> Option<Name<'a>> {
        self.name.map(String::from_utf8_lossy)
    }
}

/// An abstract (inlinable) function: it has no code, so no addresses,
/// origin or assembly flag; 32 bytes where a [`RawFunc`] and its offset
/// took 96, for thousands of them kept until the end of [`collect`]'s caller.
#[derive(Debug)]
pub(super) struct AbstractFunc<'a> {
    name: Option<&'a [u8]>,
    /// Its DIE's offset, in 32 bits (see [`offset`]).
    off: u32,
    /// How many call sites inline it.
    pub(super) inlined: u32,
    /// As [`RawFunc::params`], in the abstract parameters.
    pub(super) params: std::ops::Range<u32>,
}

impl<'a> AbstractFunc<'a> {
    pub(super) fn name(&self) -> Option<Name<'a>> {
        self.name.map(String::from_utf8_lossy)
    }
}

/// Abstract functions in offset order (as DIEs come).
#[derive(Debug, Default)]
pub(super) struct AbstractFuncs<'a>(Chunked<AbstractFunc<'a>>);

impl<'a> AbstractFuncs<'a> {
    /// The index of the abstract function whose DIE is at `off`.
    pub(super) fn search(&self, off: DebugInfoOffset) -> Option<usize> {
        self.0.search(&off.0, |f| f.off as usize)
    }

    pub(super) fn get(&self, i: usize) -> &AbstractFunc<'a> {
        self.0.get(i)
    }

    fn get_mut(&mut self, i: usize) -> &mut AbstractFunc<'a> {
        self.0.get_mut(i)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &AbstractFunc<'a>> {
        self.0.iter()
    }
}

/// Every parameter of a kind of function, in DIE order, each with its
/// DIE's offset and its function's index: one list instead of a vector
/// per function (most have two or three parameters, and each vector
/// cost an allocation and its slack).
#[derive(Debug, Default)]
pub(super) struct Params<'a>(Chunked<Packed<'a>>);

/// A [`RawParam`] as [`Params`] keeps it, 40 bytes instead of 80: they
/// are most of the collected records. Offsets in 32 bits (a DWARF32
/// `.debug_info` is under 4 GiB; [`offset`] refuses any other), the
/// name as the section's bytes, made a string when it is read.
#[derive(Debug)]
pub(super) struct Packed<'a> {
    name: Option<&'a [u8]>,
    off: u32,
    owner: u32,
    /// [`NONE`] when there is none.
    ty: u32,
    origin: u32,
    is_result: bool,
}

/// An absent offset in a [`Packed`]: [`offset`] never gives it.
const NONE: u32 = u32::MAX;

/// `o` in 32 bits, or an error when it does not fit.
fn offset(o: DebugInfoOffset) -> gimli::Result<u32> {
    u32::try_from(o.0)
        .ok()
        .filter(|&o| o != NONE)
        .ok_or(gimli::Error::OffsetOutOfBounds)
}

fn unpack(o: u32) -> Option<DebugInfoOffset> {
    (o != NONE).then_some(DebugInfoOffset(o as usize))
}

impl<'a> Packed<'a> {
    fn raw(&self) -> RawParam<'a> {
        RawParam {
            name: self.name.map(String::from_utf8_lossy),
            ty: unpack(self.ty),
            is_result: self.is_result,
            origin: unpack(self.origin),
        }
    }
}

impl<'a> Params<'a> {
    /// Adds the parameter at `off` named `name` (the section's bytes) to
    /// its function `owner`; `p`'s own name is not read.
    fn push(
        &mut self,
        off: DebugInfoOffset,
        owner: (usize, &mut std::ops::Range<u32>),
        name: Option<&'a [u8]>,
        p: &RawParam<'_>,
    ) -> gimli::Result<()> {
        let (index, params) = owner;
        let at = self.0.len() as u32;
        if params.start == params.end {
            *params = at..at;
        }
        params.end = at + 1;
        self.0.push(Packed {
            name,
            off: offset(off)?,
            owner: index as u32,
            ty: p.ty.map_or(Ok(NONE), offset)?,
            origin: p.origin.map_or(Ok(NONE), offset)?,
            is_result: p.is_result,
        });
        Ok(())
    }

    /// The parameters of function `index` (whose `params` are `range`),
    /// in order. They follow one another unless a function nests in
    /// another (Go's never do).
    pub(super) fn of<'s>(
        &'s self,
        index: usize,
        range: &std::ops::Range<u32>,
    ) -> impl Iterator<Item = RawParam<'a>> + Clone + 's {
        (range.start as usize..range.end as usize)
            .map(|i| self.0.get(i))
            .filter(move |p| p.owner as usize == index)
            .map(Packed::raw)
    }

    /// For each function of `funcs`, the first parameter the functions
    /// after it need: those before can go once it is built.
    pub(super) fn needed_after(&self, funcs: &Chunked<RawFunc<'a>>) -> Vec<usize> {
        let mut first = self.0.len();
        let mut needed = vec![0; funcs.len()];
        for i in (0..funcs.len()).rev() {
            needed[i] = first;
            let f = funcs.get(i);
            if !f.params.is_empty() {
                first = first.min(f.params.start as usize);
            }
        }
        needed
    }

    /// Frees (as far as it can) the parameters before index `at`.
    pub(super) fn free_below(&mut self, at: usize) {
        self.0.free_below(at);
    }

    /// The parameter whose DIE is at `off`; DIEs come in offset order.
    pub(super) fn get(&self, off: DebugInfoOffset) -> Option<RawParam<'a>> {
        let i = self.0.search(&off.0, |p| p.off as usize)?;
        Some(self.0.get(i).raw())
    }
}

pub(super) struct Collected<'a> {
    /// Where the types are, to be read on demand.
    pub(super) types: Types<'a>,
    /// Functions with code (their parameters in `params`).
    pub(super) funcs: Chunked<RawFunc<'a>>,
    pub(super) params: Params<'a>,
    /// Abstract (inlinable) functions by offset, in offset order, and
    /// their parameters: only an abstract function's parameters are ever
    /// an origin (keeping the others, inlined calls' arguments, cost most
    /// of the peak).
    pub(super) abstract_funcs: AbstractFuncs<'a>,
    pub(super) abstract_params: Params<'a>,
    /// Inlined call sites by origin, for origins other than the abstract
    /// functions (which count their own: a map entry per function cost
    /// more than the count).
    pub(super) inline_counts: HashMap<DebugInfoOffset, usize>,
    pub(super) producer: Option<String>,
    /// Runtime type offset → its type DIE (named), the first of each.
    pub(super) runtime_types: Vec<(u64, DebugInfoOffset)>,
}

/// Collects the DIEs of every unit of `dwarf`; `lines` gives their line
/// program headers (their file names tell assembly functions).
pub(super) fn collect<'a>(
    dwarf: &'a gimli::Dwarf<R<'a>>,
    mut lines: Option<&mut LineHeaders<'_>>,
) -> gimli::Result<Collected<'a>> {
    let mut c = Collected {
        types: Types::new(dwarf),
        funcs: Chunked::default(),
        params: Params::default(),
        abstract_funcs: AbstractFuncs::default(),
        abstract_params: Params::default(),
        inline_counts: HashMap::new(),
        producer: None,
        runtime_types: Vec::new(),
    };
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let (unit, stmt_list) = lines::unit(dwarf, header)?;
        let program = match (stmt_list, lines.as_deref_mut()) {
            (Some(offset), Some(lines)) => Some(lines.program(offset, &unit)?),
            _ => None,
        };
        let global = |o: UnitOffset| o.to_debug_info_offset(&unit.header);
        let reference = |v: AttributeValue<R<'_>>| match v {
            AttributeValue::UnitRef(o) => global(o),
            AttributeValue::DebugInfoRef(o) => Some(o),
            _ => None,
        };
        // Stack of (depth, kind of parent) so children attach to their owner.
        enum Owner {
            Func(usize),
            Abstract(usize),
            Other,
        }
        let mut owners: Vec<(isize, Owner)> = Vec::new();
        let mut depth = 0isize;
        let mut entries = unit.entries();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            while owners.last().is_some_and(|(d, _)| *d >= depth) {
                owners.pop();
            }
            let Some(off) = global(entry.offset()) else {
                continue;
            };
            let name_bytes = match entry.attr_value(gimli::DW_AT_name)? {
                Some(v) => Some(dwarf.attr_string(&unit, v)?.slice()),
                None => None,
            };
            let name = name_bytes.map(String::from_utf8_lossy);
            let mut owner = Owner::Other;
            match entry.tag() {
                gimli::DW_TAG_compile_unit if c.producer.is_none() => {
                    if let Some(v) = entry.attr_value(gimli::DW_AT_producer)? {
                        let p = dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned();
                        if p.starts_with("Go ") {
                            c.producer = Some(p);
                        }
                    }
                }
                gimli::DW_TAG_base_type
                | gimli::DW_TAG_pointer_type
                | gimli::DW_TAG_structure_type
                | gimli::DW_TAG_typedef
                | gimli::DW_TAG_array_type
                | gimli::DW_TAG_subroutine_type
                | gimli::DW_TAG_interface_type => {
                    // Encoded as DW_FORM_addr although it is an offset.
                    let rt = match entry.attr_value(DW_AT_GO_RUNTIME_TYPE)? {
                        Some(AttributeValue::Addr(a)) => Some(a),
                        Some(v) => v.udata_value(),
                        None => None,
                    };
                    if let (Some(rt), Some(_)) = (rt, &name) {
                        c.runtime_types.push((rt, off));
                    }
                    // The rest of the type (members too) is read when needed.
                    c.types.push(off, entry.tag(), name.as_ref());
                }
                gimli::DW_TAG_subprogram => {
                    // DWARF 5 (Go ≥ 1.25) gives addresses as indices into .debug_addr.
                    let low_pc = match entry.attr_value(gimli::DW_AT_low_pc)? {
                        Some(v) => dwarf.attr_address(&unit, v)?,
                        None => None,
                    };
                    let high_pc = match entry.attr_value(gimli::DW_AT_high_pc)? {
                        Some(v @ (AttributeValue::Addr(_) | AttributeValue::DebugAddrIndex(_))) => {
                            dwarf.attr_address(&unit, v)?
                        }
                        // A corrupt length must not wrap: no range then.
                        Some(v) => v.udata_value().and_then(|n| low_pc?.checked_add(n)),
                        None => None,
                    };
                    let origin = entry
                        .attr_value(gimli::DW_AT_abstract_origin)?
                        .and_then(reference);
                    if low_pc.is_none() && entry.attr_value(gimli::DW_AT_inline)?.is_some() {
                        c.abstract_funcs.0.push(AbstractFunc {
                            name: name_bytes,
                            off: offset(off)?,
                            inlined: 0,
                            params: 0..0,
                        });
                        owner = Owner::Abstract(c.abstract_funcs.len() - 1);
                    } else {
                        let f = RawFunc {
                            name: name_bytes,
                            low_pc,
                            high_pc,
                            origin,
                            params: 0..0,
                            asm: declared_in_assembly(dwarf, &unit, program.as_ref(), entry)?,
                        };
                        c.funcs.push(f);
                        owner = Owner::Func(c.funcs.len() - 1);
                    }
                }
                gimli::DW_TAG_inlined_subroutine => {
                    if let Some(o) = entry
                        .attr_value(gimli::DW_AT_abstract_origin)?
                        .and_then(reference)
                    {
                        match c.abstract_funcs.search(o) {
                            Some(i) => {
                                let f = c.abstract_funcs.get_mut(i);
                                f.inlined = f.inlined.saturating_add(1);
                            }
                            // Not an abstract function, or not read yet.
                            None => *c.inline_counts.entry(o).or_default() += 1,
                        }
                    }
                }
                gimli::DW_TAG_formal_parameter => {
                    let is_result = matches!(
                        entry.attr_value(gimli::DW_AT_variable_parameter)?,
                        Some(AttributeValue::Flag(true))
                    );
                    let p = RawParam {
                        name: None,
                        ty: entry.attr_value(gimli::DW_AT_type)?.and_then(reference),
                        is_result,
                        origin: entry
                            .attr_value(gimli::DW_AT_abstract_origin)?
                            .and_then(reference),
                    };
                    // Only direct children of a subprogram are its signature;
                    // parameters of inlined calls nest deeper.
                    match owners.last() {
                        Some((d, Owner::Func(i))) if *d == depth - 1 => c.params.push(
                            off,
                            (*i, &mut c.funcs.get_mut(*i).params),
                            name_bytes,
                            &p,
                        )?,
                        Some((d, Owner::Abstract(i))) if *d == depth - 1 => {
                            let f = c.abstract_funcs.get_mut(*i);
                            c.abstract_params
                                .push(off, (*i, &mut f.params), name_bytes, &p)?
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            if entry.has_children() {
                owners.push((depth, owner));
            }
        }
        c.types.push_unit(unit);
    }
    // Counts of abstract functions met after their inlined calls.
    let abstract_funcs = &mut c.abstract_funcs;
    c.inline_counts
        .retain(|o, n| match abstract_funcs.search(*o) {
            Some(i) => {
                let f = abstract_funcs.get_mut(i);
                f.inlined = f
                    .inlined
                    .saturating_add(u32::try_from(*n).unwrap_or(u32::MAX));
                false
            }
            None => true,
        });
    c.inline_counts.shrink_to_fit();
    // The first DIE of each runtime type, as a map's first insert would keep.
    c.runtime_types.sort_by_key(|(rt, _)| *rt);
    c.runtime_types.dedup_by_key(|(rt, _)| *rt);
    c.runtime_types.shrink_to_fit();
    Ok(c)
}

/// True when the subprogram's `DW_AT_decl_file` is a `.s` file.
fn declared_in_assembly(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    program: Option<&gimli::IncompleteLineProgram<lines::Slice<'_>>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
) -> gimli::Result<bool> {
    let Some(AttributeValue::FileIndex(index)) = entry.attr_value(gimli::DW_AT_decl_file)? else {
        return Ok(false);
    };
    let Some(program) = program else {
        return Ok(false);
    };
    let Some(file) = program.header().file(index) else {
        return Ok(false);
    };
    lines::is_assembly(dwarf, unit, file.path_name())
}
