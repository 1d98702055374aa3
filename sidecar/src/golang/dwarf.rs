//! Go DWARF: functions with their parameters and results, types, and the
//! `runtime.g` field offsets the BPF program needs.
//!
//! One pass over `.debug_info` collects raw DIEs; types are then resolved
//! only for what function signatures reach.

use std::collections::HashMap;
use std::sync::Arc;

mod chunked;
mod collect;
mod incomplete;
mod inlined;
mod lines;
mod location;
mod raw_types;
mod resolve;
mod stream;

use gimli::{DebugInfoOffset, EndianSlice, RunTimeEndian};

use super::types::{TypeId, TypeTable};
use super::AnalysisError;
use collect::{collect, Collected, RawParam};
use raw_types::{RawType, Types};
use resolve::Resolver;

pub use incomplete::Incomplete;
pub use inlined::{frame_slots, inlined_instances, InlinedInstance, InlinedParam};
pub use location::{each_entry_location, entry_locations, EntryLocation};

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// A function with a machine-code body, as DWARF describes it.
#[derive(Debug, Clone)]
pub struct Function {
    /// The linker symbol name, e.g. `main.(*Counter).Add`.
    pub name: String,
    /// First instruction (link-time virtual address).
    pub low_pc: u64,
    /// One past the last instruction.
    pub high_pc: u64,
    /// Arguments then results, in declaration order.
    pub params: Vec<Param>,
    /// How many call sites inline this function elsewhere.
    pub inlined_sites: usize,
    /// Set when `params` is (or may be) short of the function's real
    /// signature: what is unknown, and why. Boxed: few functions have
    /// one, and every function would carry its size.
    pub incomplete: Option<Box<Incomplete>>,
}

impl Function {
    /// The arguments (receiver first for methods).
    pub fn args(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| !p.is_result)
    }

    /// The results.
    pub fn results(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.is_result)
    }
}

/// One formal parameter or result.
#[derive(Debug, Clone)]
pub struct Param {
    /// Source name; unnamed results are `~r0`, `~r1`… as the compiler
    /// names them. Shared: a binary's tens of thousands of parameters
    /// have a few thousand names (`ctx`, `err`, `~r0`…), and a small
    /// string apart each cost more than its own bytes.
    pub name: Arc<str>,
    /// Its type, or None when DWARF gives none.
    pub ty: Option<TypeId>,
    /// True for results (`DW_AT_variable_parameter`).
    pub is_result: bool,
}

impl Param {
    /// The dictionary of a generic body (`.dict`, listed since Go 1.27):
    /// passed and located like an argument, never shown.
    pub fn is_dictionary(&self) -> bool {
        &*self.name == ".dict"
    }
}

/// Everything the analysis reads from DWARF.
#[derive(Debug, Default)]
pub struct DwarfInfo {
    /// Out-of-line functions, sorted by name.
    pub functions: Vec<Function>,
    /// Functions that exist only inlined: name → number of inlined call sites.
    pub inlined_only: HashMap<String, usize>,
    /// Types reached from function signatures.
    pub types: TypeTable,
    /// Offsets inside `runtime.g`.
    pub g_offsets: Option<GOffsets>,
    /// Where maps, chans and funcs keep what gotel shows of them.
    pub layout: RuntimeLayout,
    /// Producer string of the first Go compile unit (`Go cmd/compile go1.22; regabi`).
    pub producer: Option<String>,
    /// Type names by runtime `_type` offset from `runtime.types`: names the
    /// dynamic type of an interface value.
    pub runtime_types: HashMap<u64, (String, TypeId)>,
}

/// Field offsets of runtime structures behind map, chan and func values,
/// read from the binary so that a Go release that moves them makes gotel
/// say "unavailable" instead of reading the wrong word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeLayout {
    /// Element count of a map: `runtime.hmap.count`, or (Go ≥ 1.24, swiss
    /// tables) `internal/runtime/maps.Map.used`.
    pub map_len: Option<u64>,
    /// `runtime.hchan.qcount`.
    pub chan_len: Option<u64>,
    /// `runtime.hchan.dataqsiz`.
    pub chan_cap: Option<u64>,
    /// `runtime.funcval.fn`: the code pointer of a func value.
    pub func_pc: Option<u64>,
    /// Swiss-table maps (Go ≥ 1.24): `Map.dirPtr` and `Map.dirLen`; a
    /// map with `dirLen` 0 keeps its (at most 8) entries in the one group
    /// `dirPtr` points at.
    pub swiss: Option<(u64, u64)>,
    /// Swiss-table maps with a directory (`dirLen` > 0): where a table
    /// keeps the pointer to its groups (`table.groups.data`).
    pub swiss_groups: Option<u64>,
    /// Bucket maps (Go < 1.24): `hmap.B`, `hmap.buckets`, `hmap.oldbuckets`;
    /// with B 0 and no old buckets, every entry is in the one bucket.
    pub hmap: Option<(u64, u64, u64)>,
}

/// Where the goroutine id and the stack top live in `runtime.g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GOffsets {
    /// `offsetof(runtime.g, goid)`.
    pub goid: u64,
    /// `offsetof(runtime.g, stack) + offsetof(runtime.stack, hi)`.
    pub stack_hi: u64,
}

/// Reads functions, types and `runtime.g` offsets from loaded DWARF
/// sections. What is no longer needed is dropped as soon as it is not,
/// before the next step adds to the peak.
fn read(
    dwarf: &gimli::Dwarf<R<'_>>,
    lines: Option<&mut lines::LineHeaders<'_>>,
) -> Result<Unchecked, AnalysisError> {
    let c = collect(dwarf, lines).map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
    let range_owners = c
        .funcs
        .iter()
        .map(|f| f.name())
        .chain(c.abstract_funcs.iter().map(|f| f.name()))
        .filter_map(|name| incomplete::range_owner(&name?))
        .collect();
    let Collected {
        types,
        mut funcs,
        mut params,
        abstract_funcs,
        abstract_params,
        inline_counts,
        producer,
        runtime_types,
    } = c;
    let mut resolver = Resolver::new(&types);

    let mut functions = Vec::with_capacity(funcs.len());
    let mut names = std::collections::HashSet::new();
    let mut asm = std::collections::HashSet::new();
    // Which abstract functions have an out-of-line copy, by index.
    let mut by_abstract = vec![false; abstract_funcs.len()];
    let abstract_func = |o: DebugInfoOffset| {
        let i = abstract_funcs.search(o)?;
        Some((i, abstract_funcs.get(i)))
    };
    let abstract_param = |o| abstract_params.get(o);
    // Each function's raw records are freed (a chunk at a time) once it
    // is built: the functions being built and the records they come from
    // are not all in memory at once. In DIE order, as types are resolved
    // in the order they are met.
    let needed_after = params.needed_after(&funcs);
    for (i, free_below) in needed_after.into_iter().enumerate() {
        let f = funcs.get(i);
        'one: {
            let (Some(low), Some(high)) = (f.low_pc, f.high_pc) else {
                break 'one;
            };
            let origin = f.origin.and_then(abstract_func);
            let Some(name) = f
                .name()
                .or_else(|| origin.and_then(|(_, o)| o.name()))
                .map(std::borrow::Cow::into_owned)
            else {
                break 'one;
            };
            if let Some((a, _)) = origin {
                by_abstract[a] = true;
            }
            if f.asm {
                asm.insert(low);
            }
            let own = params.of(i, &f.params);
            let raw_params: Vec<RawParam> = match origin {
                Some((a, o)) if abstract_params.of(a, &o.params).next().is_some() => {
                    let abstract_params: Vec<RawParam> = abstract_params.of(a, &o.params).collect();
                    let own: Vec<RawParam> = own.collect();
                    out_of_line_params(&abstract_params, &own, &abstract_param)
                }
                _ => own.map(|p| merge_param(&p, &abstract_param)).collect(),
            };
            let mut params: Vec<Param> = raw_params
                .iter()
                .map(|p| Param {
                    name: intern(&mut names, p.name.as_deref().unwrap_or_default()),
                    ty: p.ty.map(|t| resolver.resolve(t)),
                    is_result: p.is_result,
                })
                .collect();
            resolver.add_omitted_receiver(&name, &mut params);
            // Go sometimes lists a result twice (`~r0`, `~r0` for a result the
            // function's defer can change); there is one value, in the first
            // slot. A second entry would claim the next registers.
            let mut seen = std::collections::HashSet::new();
            params.retain(|p| p.name.is_empty() || seen.insert((p.name.clone(), p.is_result)));
            functions.push(Function {
                name,
                low_pc: low,
                high_pc: high,
                params,
                inlined_sites: f.origin.map_or(0, |o| match abstract_func(o) {
                    Some((_, a)) => a.inlined as usize,
                    None => inline_counts.get(&o).copied().unwrap_or(0),
                }),
                incomplete: None,
            });
        }
        funcs.free_below(i + 1);
        params.free_below(free_below);
    }
    // Only the functions' names and counts are read from here on.
    drop((funcs, params, abstract_params));
    sort_stably(&mut functions, |a, b| {
        a.name.cmp(&b.name).then(a.low_pc.cmp(&b.low_pc))
    });
    functions.dedup_by(|a, b| a.name == b.name && a.low_pc == b.low_pc);

    let mut inlined_only = HashMap::new();
    for (a, f) in abstract_funcs.iter().enumerate() {
        if by_abstract[a] {
            continue;
        }
        if let Some(name) = f.name() {
            inlined_only.insert(name.to_string(), f.inlined as usize);
        }
    }
    drop((abstract_funcs, inline_counts));

    // Interfaces' dynamic values are decoded by these types: resolve
    // them all, not only those reachable from a signature.
    let runtime_types = runtime_types
        .iter()
        .filter_map(|&(rt, off)| Some((rt, (types.name(off)?.to_string(), resolver.resolve(off)))))
        .collect();
    let g_offsets = g_offsets(&types);
    let layout = runtime_layout(&types);
    let info = DwarfInfo {
        functions,
        inlined_only,
        types: resolver.into_table(),
        g_offsets,
        layout,
        producer,
        runtime_types,
    };
    Ok((info, asm, range_owners))
}

/// What [`read`] makes of the DWARF, before [`incomplete::check`]: the
/// functions are yet to be marked where their lists fall short. With
/// the entry addresses of assembly functions and the functions that
/// have range-over-func loops, which it needs.
type Unchecked = (
    DwarfInfo,
    std::collections::HashSet<u64>,
    std::collections::HashSet<String>,
);

/// The signature of an out-of-line copy of an inlinable function. The
/// copy lists its parameters in signature order: those the abstract origin
/// has point at it, and those it leaves out (unnamed results `~r0`, blank
/// `_` ones, a generic's `.dict`) stand alone. The copy may omit unused
/// parameters the abstract list has: each goes right after the abstract
/// parameter before it, keeping the ABI's order.
fn out_of_line_params<'a>(
    abstract_params: &[RawParam<'a>],
    own: &[RawParam<'a>],
    all: &impl Fn(DebugInfoOffset) -> Option<RawParam<'a>>,
) -> Vec<RawParam<'a>> {
    let same = |q: &RawParam, a: &RawParam| {
        q.name.is_some() && q.name == a.name && q.is_result == a.is_result
    };
    let mut params: Vec<RawParam<'a>> = own.iter().map(|p| merge_param(p, all)).collect();
    for (i, a) in abstract_params.iter().enumerate() {
        if params.iter().any(|q| same(q, a)) {
            continue;
        }
        let after_previous = abstract_params[..i]
            .iter()
            .rev()
            .find_map(|prev| params.iter().position(|q| same(q, prev)).map(|p| p + 1));
        let at = after_previous.unwrap_or_else(|| match a.is_result {
            true => params
                .iter()
                .position(|q| q.is_result)
                .unwrap_or(params.len()),
            false => 0,
        });
        params.insert(at, a.clone());
    }
    params
}

fn merge_param<'a>(
    p: &RawParam<'a>,
    all: &impl Fn(DebugInfoOffset) -> Option<RawParam<'a>>,
) -> RawParam<'a> {
    let Some(o) = p.origin.and_then(all) else {
        return p.clone();
    };
    RawParam {
        name: p.name.clone().or_else(|| o.name.clone()),
        ty: p.ty.or(o.ty),
        is_result: p.is_result || o.is_result,
        origin: None,
    }
}

/// The one copy in `names` of the string `s`.
pub(super) fn intern(names: &mut std::collections::HashSet<Arc<str>>, s: &str) -> Arc<str> {
    if let Some(n) = names.get(s) {
        return n.clone();
    }
    let n: Arc<str> = s.into();
    names.insert(n.clone());
    n
}

/// Sorts `v` as `sort_by` would (equal elements keep their order) without
/// its scratch buffer, which for the functions is as large as they are.
fn sort_stably<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_unstable_by(|&a, &b| cmp(&v[a], &v[b]).then(a.cmp(&b)));
    // Element order[i] goes to i: follow each cycle of the permutation.
    for start in 0..v.len() {
        let mut at = start;
        while order[at] != usize::MAX {
            let from = std::mem::replace(&mut order[at], usize::MAX);
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

fn g_offsets(types: &Types<'_>) -> Option<GOffsets> {
    let member = |t: &RawType<'_>, name: &str| t.members.iter().find(|m| m.0 == name).map(|m| m.1);
    let g = types.structs("runtime.g").next()?;
    let stack = types.structs("runtime.stack").next()?;
    Some(GOffsets {
        goid: member(&g, "goid")?,
        stack_hi: member(&g, "stack")? + member(&stack, "hi")?,
    })
}

fn member_of(types: &Types<'_>, ty: &str, field: &str) -> Option<u64> {
    types
        .structs(ty)
        .find_map(|t| t.members.iter().find(|m| m.0 == field).map(|m| m.1))
}

fn runtime_layout(types: &Types<'_>) -> RuntimeLayout {
    RuntimeLayout {
        map_len: member_of(types, "internal/runtime/maps.Map", "used")
            .or_else(|| member_of(types, "runtime.hmap", "count")),
        chan_len: member_of(types, "runtime.hchan", "qcount"),
        chan_cap: member_of(types, "runtime.hchan", "dataqsiz"),
        func_pc: member_of(types, "runtime.funcval", "fn"),
        swiss: member_of(types, "internal/runtime/maps.Map", "dirPtr").zip(member_of(
            types,
            "internal/runtime/maps.Map",
            "dirLen",
        )),
        swiss_groups: member_of(types, "internal/runtime/maps.table", "groups")
            .zip(member_of(
                types,
                "internal/runtime/maps.groupsReference",
                "data",
            ))
            .map(|(g, d)| g + d),
        hmap: match (
            member_of(types, "runtime.hmap", "B"),
            member_of(types, "runtime.hmap", "buckets"),
            member_of(types, "runtime.hmap", "oldbuckets"),
        ) {
            (Some(b), Some(k), Some(o)) => Some((b, k, o)),
            _ => None,
        },
    }
}
/// Reads Go DWARF from an ELF file; `release` drops the file's pages read
/// so far from memory (see [`with_dwarf`]).
pub fn read_file(file: &object::File<'_>, release: &dyn Fn()) -> Result<DwarfInfo, AnalysisError> {
    let mut lines = lines::LineHeaders::of(file, endian(file), release)
        .map_err(|e| AnalysisError::Dwarf(format!(".debug_line: {e}")))?;
    let (mut info, asm, range_owners) =
        with_dwarf(file, &SECTIONS, release, |d| read(d, lines.as_mut()))?;
    // Read once the sections are freed, so as not to add to their peak.
    let frames = arg_frames(file).unwrap_or_default();
    // The function table is read whole: its pages need not stay.
    release();
    incomplete::check(&mut info.functions, &frames, &asm, &range_owners);
    Ok(info)
}

/// Every function's argument frame from `.gopclntab`, by entry address.
fn arg_frames(file: &object::File<'_>) -> Option<HashMap<u64, u32>> {
    use object::{Object, ObjectSection};
    // PIE builds of Go < 1.21 keep the table among the relocated data.
    let tab = file
        .section_by_name(".gopclntab")
        .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))?;
    let text = file.section_by_name(".text").map_or(0, |s| s.address());
    let frames = super::pclntab::arg_frames(tab.data().ok()?, text).ok()?;
    Some(frames.into_iter().collect())
}

/// The sections the analysis decompresses. `.debug_line` is not among
/// them: units are read without their line programs, and the one pass
/// that needs their headers streams them (`lines`).
const SECTIONS: [gimli::SectionId; 6] = [
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugStrOffsets,
    gimli::SectionId::DebugLineStr,
];

/// Loads the DWARF sections (decompressing: Go ≥ 1.22 writes SHF_COMPRESSED
/// sections, older toolchains `.zdebug_*`) and runs `f` on them: those of
/// `sections`; the others read as empty. `release` is called after each
/// is decompressed: the compressed bytes read from the mapped file would
/// otherwise stay resident, each section's beside the others' and
/// through `f`.
fn with_dwarf<T>(
    file: &object::File<'_>,
    sections: &[gimli::SectionId],
    release: &dyn Fn(),
    f: impl FnOnce(&gimli::Dwarf<R<'_>>) -> Result<T, AnalysisError>,
) -> Result<T, AnalysisError> {
    use object::{Object, ObjectSection};
    if file.section_by_name(".debug_info").is_none()
        && file.section_by_name(".zdebug_info").is_none()
    {
        return Err(AnalysisError::NoDwarf);
    }
    let endian = endian(file);
    let mut loaded: HashMap<gimli::SectionId, std::borrow::Cow<'_, [u8]>> = HashMap::new();
    for &id in sections {
        let zname = format!(".z{}", &id.name()[1..]);
        let data = match file
            .section_by_name(id.name())
            .or_else(|| file.section_by_name(&zname))
        {
            Some(s) => s
                .uncompressed_data()
                .map_err(|e| AnalysisError::Dwarf(format!("{}: {e}", id.name())))?,
            None => std::borrow::Cow::Borrowed(&[][..]),
        };
        loaded.insert(id, data);
        release();
    }
    let mut dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, gimli::Error> {
        let data: &[u8] = loaded.get(&id).map(|c| c.as_ref()).unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    })
    .map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
    // Go's units share one abbreviation table: parsed once, not per unit
    // (types are read through units kept for the whole analysis).
    dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
    f(&dwarf)
}

fn endian(file: &object::File<'_>) -> RunTimeEndian {
    use object::Object;
    if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &'static str, is_result: bool, origin: Option<usize>) -> RawParam<'static> {
        RawParam {
            name: Some(name.into()),
            ty: None,
            is_result,
            origin: origin.map(DebugInfoOffset),
        }
    }

    fn names(params: Vec<RawParam<'_>>) -> Vec<(String, bool)> {
        params
            .into_iter()
            .map(|p| (p.name.unwrap().into_owned(), p.is_result))
            .collect()
    }

    fn own(name: &'static str, is_result: bool) -> RawParam<'static> {
        param(name, is_result, None)
    }

    /// A concrete parameter pointing at abstract parameter `name` (its
    /// DIE at offset `at` in `all`).
    fn linked(
        name: &'static str,
        is_result: bool,
        at: usize,
        all: &mut HashMap<DebugInfoOffset, RawParam<'static>>,
    ) -> RawParam<'static> {
        all.insert(DebugInfoOffset(at), param(name, is_result, None));
        RawParam {
            name: None,
            ty: None,
            is_result,
            origin: Some(DebugInfoOffset(at)),
        }
    }

    fn pairs(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
    }

    #[test]
    fn sorting_stably_keeps_equal_elements_in_order() {
        let mut v: Vec<(u8, usize)> = [3, 1, 2, 1, 3, 0, 2, 1].iter().copied().zip(0..).collect();
        let mut want = v.clone();
        want.sort_by_key(|a| a.0);
        sort_stably(&mut v, |a, b| a.0.cmp(&b.0));
        assert_eq!(v, want);
        let mut empty: Vec<u8> = Vec::new();
        sort_stably(&mut empty, |a, b| a.cmp(b));
    }

    #[test]
    fn an_out_of_line_copy_keeps_its_own_params_where_it_lists_them() {
        let mut all = HashMap::new();
        // resetForSleep(gp *g, _ unsafe.Pointer) bool: the abstract DIE
        // lists gp only; the copy lists gp, ~p1 and ~r0 in that order.
        let abs = [param("gp", false, None)];
        let copy = [
            linked("gp", false, 8, &mut all),
            own("~p1", false),
            own("~r0", true),
        ];
        assert_eq!(
            names(out_of_line_params(&abs, &copy, &|o| all.get(&o).cloned())),
            pairs(&[("gp", false), ("~p1", false), ("~r0", true)])
        );
        // ServeHTTP(_ ResponseWriter, r *Request): the blank comes first.
        let abs = [param("r", false, None)];
        let copy = [own("~p0", false), linked("r", false, 16, &mut all)];
        assert_eq!(
            names(out_of_line_params(&abs, &copy, &|o| all.get(&o).cloned())),
            pairs(&[("~p0", false), ("r", false)])
        );
        // f(x int) (_ int, err error): the unnamed result before the named one.
        let abs = [param("x", false, None), param("err", true, None)];
        let copy = [
            linked("x", false, 24, &mut all),
            own("~r0", true),
            linked("err", true, 32, &mut all),
        ];
        assert_eq!(
            names(out_of_line_params(&abs, &copy, &|o| all.get(&o).cloned())),
            pairs(&[("x", false), ("~r0", true), ("err", true)])
        );
        // A generic's dictionary stays where the copy has it.
        let abs = [param("a", false, None), param("b", false, None)];
        let copy = [
            own(".dict", false),
            linked("a", false, 40, &mut all),
            linked("b", false, 48, &mut all),
        ];
        assert_eq!(
            names(out_of_line_params(&abs, &copy, &|o| all.get(&o).cloned())),
            pairs(&[(".dict", false), ("a", false), ("b", false)])
        );
        // An unused parameter the copy omits goes back after its predecessor.
        let abs = [
            param("a", false, None),
            param("unused", false, None),
            param("c", false, None),
        ];
        let copy = [
            linked("a", false, 56, &mut all),
            linked("c", false, 64, &mut all),
            own("~r0", true),
        ];
        assert_eq!(
            names(out_of_line_params(&abs, &copy, &|o| all.get(&o).cloned())),
            pairs(&[("a", false), ("unused", false), ("c", false), ("~r0", true)])
        );
    }
}
