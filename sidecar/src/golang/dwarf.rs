//! Go DWARF: functions with their parameters and results, types, and the
//! `runtime.g` field offsets the BPF program needs.
//!
//! One pass over `.debug_info` collects raw DIEs; types are then resolved
//! only for what function signatures reach.

use std::collections::HashMap;

use gimli::{AttributeValue, DebugInfoOffset, EndianSlice, RunTimeEndian, UnitOffset};

use super::abi::Loc;
use super::types::{Field, GoType, Kind, TypeId, TypeTable};
use super::AnalysisError;

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// `DW_AT_go_kind`: the type's `reflect.Kind`.
const DW_AT_GO_KIND: gimli::DwAt = gimli::DwAt(0x2900);
/// `DW_AT_go_elem`: element type of slices, chans, maps.
const DW_AT_GO_ELEM: gimli::DwAt = gimli::DwAt(0x2902);
/// `DW_AT_go_key`: a map's key type.
const DW_AT_GO_KEY: gimli::DwAt = gimli::DwAt(0x2901);
/// `DW_AT_go_runtime_type`: the type's runtime `_type`, as an offset from
/// the module's type data (`runtime.types`).
const DW_AT_GO_RUNTIME_TYPE: gimli::DwAt = gimli::DwAt(0x2904);

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
    /// Source name; unnamed results are `~r0`, `~r1`… as the compiler names them.
    pub name: String,
    /// Its type, or None when DWARF gives none.
    pub ty: Option<TypeId>,
    /// True for results (`DW_AT_variable_parameter`).
    pub is_result: bool,
}

impl Param {
    /// The dictionary of a generic body (`.dict`, listed since Go 1.27):
    /// passed and located like an argument, never shown.
    pub fn is_dictionary(&self) -> bool {
        self.name == ".dict"
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

#[derive(Debug)]
struct RawType {
    tag: gimli::DwTag,
    name: Option<String>,
    size: Option<u64>,
    go_kind: Option<u64>,
    encoding: Option<gimli::DwAte>,
    ty: Option<DebugInfoOffset>,
    elem: Option<DebugInfoOffset>,
    key: Option<DebugInfoOffset>,
    members: Vec<(String, u64, Option<DebugInfoOffset>)>,
    count: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct RawParam {
    name: Option<String>,
    ty: Option<DebugInfoOffset>,
    is_result: bool,
    origin: Option<DebugInfoOffset>,
}

#[derive(Debug, Default)]
struct RawFunc {
    name: Option<String>,
    low_pc: Option<u64>,
    high_pc: Option<u64>,
    origin: Option<DebugInfoOffset>,
    params: Vec<RawParam>,
}

#[derive(Default)]
struct Collected {
    types: HashMap<DebugInfoOffset, RawType>,
    params: HashMap<DebugInfoOffset, RawParam>,
    abstract_funcs: HashMap<DebugInfoOffset, RawFunc>,
    funcs: Vec<RawFunc>,
    inline_counts: HashMap<DebugInfoOffset, usize>,
    producer: Option<String>,
    runtime_types: HashMap<u64, (String, DebugInfoOffset)>,
}

/// Reads functions, types and `runtime.g` offsets from loaded DWARF sections.
pub fn read(dwarf: &gimli::Dwarf<R<'_>>) -> Result<DwarfInfo, AnalysisError> {
    let c = collect(dwarf).map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
    let mut resolver = Resolver {
        raw: &c.types,
        table: TypeTable::default(),
        memo: HashMap::new(),
        names: HashMap::new(),
    };

    let mut functions = Vec::new();
    let mut by_abstract: HashMap<DebugInfoOffset, ()> = HashMap::new();
    for f in &c.funcs {
        let (Some(low), Some(high)) = (f.low_pc, f.high_pc) else {
            continue;
        };
        let origin = f.origin.and_then(|o| c.abstract_funcs.get(&o));
        let Some(name) = f
            .name
            .clone()
            .or_else(|| origin.and_then(|o| o.name.clone()))
        else {
            continue;
        };
        if let Some(o) = f.origin {
            by_abstract.insert(o, ());
        }
        // An out-of-line copy of an inlinable function lists concrete params
        // that point at the abstract ones, and may omit unused ones: take the
        // abstract list as the signature when there is one.
        let raw_params: Vec<RawParam> = match origin {
            Some(o) if !o.params.is_empty() => o.params.clone(),
            _ => f.params.iter().map(|p| merge_param(p, &c.params)).collect(),
        };
        let mut params: Vec<Param> = raw_params
            .iter()
            .map(|p| Param {
                name: p.name.clone().unwrap_or_default(),
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
            inlined_sites: f
                .origin
                .and_then(|o| c.inline_counts.get(&o).copied())
                .unwrap_or(0),
        });
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name).then(a.low_pc.cmp(&b.low_pc)));
    functions.dedup_by(|a, b| a.name == b.name && a.low_pc == b.low_pc);

    let mut inlined_only = HashMap::new();
    for (off, f) in &c.abstract_funcs {
        if by_abstract.contains_key(off) {
            continue;
        }
        if let Some(name) = &f.name {
            let n = c.inline_counts.get(off).copied().unwrap_or(0);
            inlined_only.insert(name.clone(), n);
        }
    }

    // Interfaces' dynamic values are decoded by these types: resolve
    // them all, not only those reachable from a signature.
    let runtime_types = c
        .runtime_types
        .iter()
        .map(|(rt, (n, off))| (*rt, (n.clone(), resolver.resolve(*off))))
        .collect();
    let g_offsets = g_offsets(&c.types);
    let layout = runtime_layout(&c.types);
    Ok(DwarfInfo {
        functions,
        inlined_only,
        types: resolver.table,
        g_offsets,
        layout,
        producer: c.producer,
        runtime_types,
    })
}

fn merge_param(p: &RawParam, all: &HashMap<DebugInfoOffset, RawParam>) -> RawParam {
    let Some(o) = p.origin.and_then(|o| all.get(&o)) else {
        return p.clone();
    };
    RawParam {
        name: p.name.clone().or_else(|| o.name.clone()),
        ty: p.ty.or(o.ty),
        is_result: p.is_result || o.is_result,
        origin: None,
    }
}

fn g_offsets(types: &HashMap<DebugInfoOffset, RawType>) -> Option<GOffsets> {
    let find = |name: &str| {
        types
            .values()
            .find(|t| t.tag == gimli::DW_TAG_structure_type && t.name.as_deref() == Some(name))
    };
    let member = |t: &RawType, name: &str| t.members.iter().find(|m| m.0 == name).map(|m| m.1);
    let g = find("runtime.g")?;
    let stack = find("runtime.stack")?;
    Some(GOffsets {
        goid: member(g, "goid")?,
        stack_hi: member(g, "stack")? + member(stack, "hi")?,
    })
}

fn member_of(types: &HashMap<DebugInfoOffset, RawType>, ty: &str, field: &str) -> Option<u64> {
    types
        .values()
        .filter(|t| t.tag == gimli::DW_TAG_structure_type && t.name.as_deref() == Some(ty))
        .find_map(|t| t.members.iter().find(|m| m.0 == field).map(|m| m.1))
}

fn runtime_layout(types: &HashMap<DebugInfoOffset, RawType>) -> RuntimeLayout {
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

fn collect(dwarf: &gimli::Dwarf<R<'_>>) -> gimli::Result<Collected> {
    let mut c = Collected::default();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let global = |o: UnitOffset| o.to_debug_info_offset(&unit.header);
        let reference = |v: AttributeValue<R<'_>>| match v {
            AttributeValue::UnitRef(o) => global(o),
            AttributeValue::DebugInfoRef(o) => Some(o),
            _ => None,
        };
        // Stack of (depth, kind of parent) so children attach to their owner.
        enum Owner {
            Type(DebugInfoOffset),
            Func(usize),
            Abstract(DebugInfoOffset),
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
            let name = match entry.attr_value(gimli::DW_AT_name)? {
                Some(v) => Some(dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned()),
                None => None,
            };
            let tyref = entry.attr_value(gimli::DW_AT_type)?.and_then(reference);
            let udata = |at| -> gimli::Result<Option<u64>> {
                Ok(entry.attr_value(at)?.and_then(|v| v.udata_value()))
            };
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
                    let encoding = match entry.attr_value(gimli::DW_AT_encoding)? {
                        Some(AttributeValue::Encoding(e)) => Some(e),
                        _ => None,
                    };
                    // Encoded as DW_FORM_addr although it is an offset.
                    let rt = match entry.attr_value(DW_AT_GO_RUNTIME_TYPE)? {
                        Some(AttributeValue::Addr(a)) => Some(a),
                        Some(v) => v.udata_value(),
                        None => None,
                    };
                    if let (Some(rt), Some(n)) = (rt, &name) {
                        c.runtime_types
                            .entry(rt)
                            .or_insert_with(|| (n.clone(), off));
                    }
                    c.types.insert(
                        off,
                        RawType {
                            tag: entry.tag(),
                            name,
                            size: udata(gimli::DW_AT_byte_size)?,
                            go_kind: udata(DW_AT_GO_KIND)?,
                            encoding,
                            ty: tyref,
                            elem: entry.attr_value(DW_AT_GO_ELEM)?.and_then(reference),
                            key: entry.attr_value(DW_AT_GO_KEY)?.and_then(reference),
                            members: Vec::new(),
                            count: None,
                        },
                    );
                    owner = Owner::Type(off);
                }
                gimli::DW_TAG_member | gimli::DW_TAG_subrange_type => {
                    if let Some((_, Owner::Type(t))) = owners.last() {
                        if let Some(raw) = c.types.get_mut(t) {
                            if entry.tag() == gimli::DW_TAG_member {
                                let loc = udata(gimli::DW_AT_data_member_location)?.unwrap_or(0);
                                raw.members.push((name.unwrap_or_default(), loc, tyref));
                            } else {
                                raw.count = udata(gimli::DW_AT_count)?;
                            }
                        }
                    }
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
                        Some(v) => v.udata_value().and_then(|n| low_pc.map(|l| l + n)),
                        None => None,
                    };
                    let origin = entry
                        .attr_value(gimli::DW_AT_abstract_origin)?
                        .and_then(reference);
                    let f = RawFunc {
                        name,
                        low_pc,
                        high_pc,
                        origin,
                        params: Vec::new(),
                    };
                    if low_pc.is_none() && entry.attr_value(gimli::DW_AT_inline)?.is_some() {
                        c.abstract_funcs.insert(off, f);
                        owner = Owner::Abstract(off);
                    } else {
                        c.funcs.push(f);
                        owner = Owner::Func(c.funcs.len() - 1);
                    }
                }
                gimli::DW_TAG_inlined_subroutine => {
                    if let Some(o) = entry
                        .attr_value(gimli::DW_AT_abstract_origin)?
                        .and_then(reference)
                    {
                        *c.inline_counts.entry(o).or_default() += 1;
                    }
                }
                gimli::DW_TAG_formal_parameter => {
                    let is_result = matches!(
                        entry.attr_value(gimli::DW_AT_variable_parameter)?,
                        Some(AttributeValue::Flag(true))
                    );
                    let p = RawParam {
                        name,
                        ty: tyref,
                        is_result,
                        origin: entry
                            .attr_value(gimli::DW_AT_abstract_origin)?
                            .and_then(reference),
                    };
                    // Only direct children of a subprogram are its signature;
                    // parameters of inlined calls nest deeper.
                    match owners.last() {
                        Some((d, Owner::Func(i))) if *d == depth - 1 => {
                            c.funcs[*i].params.push(p.clone())
                        }
                        Some((d, Owner::Abstract(a))) if *d == depth - 1 => {
                            if let Some(f) = c.abstract_funcs.get_mut(a) {
                                f.params.push(p.clone());
                            }
                        }
                        _ => {}
                    }
                    c.params.insert(off, p);
                }
                _ => {}
            }
            if entry.has_children() {
                owners.push((depth, owner));
            }
        }
    }
    Ok(c)
}

struct Resolver<'a> {
    raw: &'a HashMap<DebugInfoOffset, RawType>,
    table: TypeTable,
    memo: HashMap<DebugInfoOffset, TypeId>,
    /// Type name → DIE, built on first use.
    names: HashMap<String, DebugInfoOffset>,
}

/// Splits a method symbol into its package path and receiver:
/// `net/http.(*Server).Serve` → (`net/http`, `(*Server)`), `main.T.M` →
/// (`main`, `T`). None for plain functions and generic receivers.
fn receiver_of(func: &str) -> Option<(&str, &str)> {
    let slash = func.rfind('/').map_or(0, |i| i + 1);
    let dot = slash + func[slash..].find('.')?;
    let (pkg, local) = (&func[..dot], &func[dot + 1..]);
    let (recv, method) = if local.starts_with("(*") {
        let close = local.find(").")?;
        (&local[..close + 1], &local[close + 2..])
    } else {
        local.split_once('.')?
    };
    // Closures (`T.M.func1`), method values (`T.M-fm`, receiver in the
    // closure context) and generic receivers are not plain methods.
    if recv.contains('[') || method.contains('.') || method.ends_with("-fm") {
        return None;
    }
    Some((pkg, recv))
}

impl Resolver<'_> {
    /// Go before 1.22 leaves unnamed receivers (`func (*T) M()`) out of
    /// DWARF, which would shift every register assignment by one. The
    /// receiver's type is in the symbol name, so put it back.
    fn add_omitted_receiver(&mut self, func: &str, params: &mut Vec<Param>) {
        let Some((pkg, recv)) = receiver_of(func) else {
            return;
        };
        let (pointer, base) = match recv.strip_prefix("(*").and_then(|r| r.strip_suffix(')')) {
            Some(b) => (true, b),
            None => (false, recv),
        };
        let base_name = format!("{pkg}.{base}");
        let want = if pointer {
            format!("*{base_name}")
        } else {
            base_name.clone()
        };
        if let Some(first) = params.iter().find(|p| !p.is_result) {
            if first.ty.is_some_and(|t| self.table.get(t).name == want) {
                return;
            }
        }
        let Some(base_off) = self.by_name(&base_name) else {
            // Not a method after all (a closure like pkg.F.func1).
            return;
        };
        let ty = match self.by_name(&want) {
            Some(off) => self.resolve(off),
            None if pointer => {
                let elem = Some(self.resolve(base_off));
                self.table.push(GoType {
                    name: want,
                    size: 8,
                    kind: Kind::Pointer { elem },
                })
            }
            None => self.resolve(base_off),
        };
        params.insert(
            0,
            Param {
                name: "~p0".into(),
                ty: Some(ty),
                is_result: false,
            },
        );
    }

    fn by_name(&mut self, name: &str) -> Option<DebugInfoOffset> {
        if self.names.is_empty() {
            for (off, t) in self.raw {
                if let Some(n) = &t.name {
                    self.names.entry(n.clone()).or_insert(*off);
                }
            }
        }
        self.names.get(name).copied()
    }

    fn resolve(&mut self, off: DebugInfoOffset) -> TypeId {
        if let Some(&id) = self.memo.get(&off) {
            return id;
        }
        let Some(raw) = self.raw.get(&off) else {
            return self.table.push(GoType {
                name: "?".into(),
                size: 0,
                kind: Kind::Unsupported("type missing from DWARF".into()),
            });
        };
        // Placeholder first: types may refer to themselves through pointers.
        let id = self.table.push(GoType {
            name: raw.name.clone().unwrap_or_default(),
            size: 0,
            kind: Kind::Unsupported("recursive".into()),
        });
        self.memo.insert(off, id);
        let t = self.build(raw);
        self.table.set(id, t);
        id
    }

    fn build(&mut self, raw: &RawType) -> GoType {
        let name = raw.name.clone().unwrap_or_default();
        let size = raw.size.unwrap_or(8);
        let kind = match raw.go_kind {
            Some(1) => Kind::Bool,
            Some(k @ 2..=12) => Kind::Int {
                signed: (2..=6).contains(&k),
            },
            Some(13 | 14) => Kind::Float,
            Some(15 | 16) => Kind::Complex,
            Some(17) => match raw.ty {
                Some(e) => Kind::Array {
                    elem: self.resolve(e),
                    len: raw.count.unwrap_or(0),
                },
                None => Kind::Unsupported("array without element type".into()),
            },
            Some(18) => Kind::Chan,
            Some(19) => Kind::Func,
            Some(20) => Kind::Interface {
                empty: self.is_eface(raw),
            },
            Some(21) => Kind::Map {
                key: raw.key.map(|t| self.resolve(t)),
                elem: raw.elem.map(|t| self.resolve(t)),
            },
            Some(22) => Kind::Pointer {
                elem: raw.ty.map(|t| self.resolve(t)),
            },
            Some(23) => Kind::Slice {
                elem: raw.elem.map(|t| self.resolve(t)),
            },
            Some(24) => Kind::String,
            Some(25) => Kind::Struct {
                fields: raw
                    .members
                    .clone()
                    .into_iter()
                    .filter_map(|(name, offset, ty)| {
                        Some(Field {
                            name,
                            offset,
                            ty: self.resolve(ty?),
                        })
                    })
                    .collect(),
            },
            Some(26) => Kind::UnsafePointer,
            _ => return self.build_untagged(raw, name, size),
        };
        let size = match kind {
            Kind::Pointer { .. }
            | Kind::UnsafePointer
            | Kind::Map { .. }
            | Kind::Chan
            | Kind::Func => 8,
            Kind::Interface { .. } | Kind::String => 16,
            Kind::Slice { .. } => 24,
            _ => size,
        };
        GoType { name, size, kind }
    }

    /// Types without `DW_AT_go_kind`: typedefs (named types) and the few
    /// runtime types the linker synthesises.
    fn build_untagged(&mut self, raw: &RawType, name: String, size: u64) -> GoType {
        if raw.tag == gimli::DW_TAG_typedef {
            if let Some(t) = raw.ty {
                let id = self.resolve(t);
                let mut under = self.table.get(id).clone();
                // `.param0` is a generic body's local alias of its shape
                // type: `go.shape.int` tells the user more.
                if !name.is_empty() && !name.starts_with(".param") {
                    under.name = name;
                }
                return under;
            }
        }
        if raw.tag == gimli::DW_TAG_pointer_type {
            return GoType {
                name,
                size: 8,
                kind: Kind::Pointer {
                    elem: raw.ty.map(|t| self.resolve(t)),
                },
            };
        }
        if raw.tag == gimli::DW_TAG_base_type {
            let kind = match raw.encoding {
                Some(gimli::DW_ATE_boolean) => Kind::Bool,
                Some(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char) => {
                    Kind::Int { signed: true }
                }
                Some(gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char) => {
                    Kind::Int { signed: false }
                }
                Some(gimli::DW_ATE_float) => Kind::Float,
                Some(gimli::DW_ATE_complex_float) => Kind::Complex,
                _ => Kind::Unsupported(format!("base type {name}")),
            };
            return GoType { name, size, kind };
        }
        GoType {
            kind: Kind::Unsupported(format!("DWARF {} without a Go kind", raw.tag)),
            name,
            size,
        }
    }

    fn is_eface(&self, raw: &RawType) -> bool {
        let target = raw.ty.and_then(|t| self.raw.get(&t));
        match target.and_then(|t| t.name.as_deref()) {
            Some(n) => n == "runtime.eface",
            None => raw.name.as_deref().is_some_and(|n| n == "interface {}"),
        }
    }
}

/// Reads Go DWARF from an ELF file.
pub fn read_file(file: &object::File<'_>) -> Result<DwarfInfo, AnalysisError> {
    with_dwarf(file, read)
}

/// Loads the DWARF sections (decompressing: Go ≥ 1.22 writes SHF_COMPRESSED
/// sections, older toolchains `.zdebug_*`) and runs `f` on them.
fn with_dwarf<T>(
    file: &object::File<'_>,
    f: impl FnOnce(&gimli::Dwarf<R<'_>>) -> Result<T, AnalysisError>,
) -> Result<T, AnalysisError> {
    use object::{Object, ObjectSection};
    if file.section_by_name(".debug_info").is_none()
        && file.section_by_name(".zdebug_info").is_none()
    {
        return Err(AnalysisError::NoDwarf);
    }
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let mut sections: HashMap<gimli::SectionId, std::borrow::Cow<'_, [u8]>> = HashMap::new();
    for id in [
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugInfo,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugLine,
        gimli::SectionId::DebugLoc,
        gimli::SectionId::DebugLocLists,
        gimli::SectionId::DebugRanges,
        gimli::SectionId::DebugRngLists,
        gimli::SectionId::DebugAddr,
        gimli::SectionId::DebugStrOffsets,
        gimli::SectionId::DebugLineStr,
    ] {
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
        sections.insert(id, data);
    }
    let dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, gimli::Error> {
        let data: &[u8] = sections.get(&id).map(|c| c.as_ref()).unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    })
    .map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
    f(&dwarf)
}

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
pub fn entry_locations(
    file: &object::File<'_>,
) -> Result<HashMap<u64, Vec<EntryLocation>>, AnalysisError> {
    with_dwarf(file, |dwarf| {
        entry_locations_in(dwarf).map_err(|e| AnalysisError::Dwarf(e.to_string()))
    })
}

fn entry_locations_in(
    dwarf: &gimli::Dwarf<R<'_>>,
) -> gimli::Result<HashMap<u64, Vec<EntryLocation>>> {
    // Names of abstract parameters, for concrete ones that only point there.
    let mut names: HashMap<DebugInfoOffset, String> = HashMap::new();
    let mut out: HashMap<u64, Vec<EntryLocation>> = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        let mut depth = 0isize;
        let mut current: Option<(isize, u64)> = None;
        // (function low_pc, abstract origin, name, pieces at entry)
        type Pending = (
            u64,
            Option<DebugInfoOffset>,
            Option<String>,
            Option<Vec<Loc>>,
        );
        let mut pending: Vec<Pending> = Vec::new();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if current.is_some_and(|(d, _)| depth <= d) {
                current = None;
            }
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    current = match entry.attr_value(gimli::DW_AT_low_pc)? {
                        Some(v) => dwarf.attr_address(&unit, v)?.map(|a| (depth, a)),
                        None => None,
                    };
                }
                gimli::DW_TAG_formal_parameter => {
                    let name = match entry.attr_value(gimli::DW_AT_name)? {
                        Some(v) => {
                            Some(dwarf.attr_string(&unit, v)?.to_string_lossy().into_owned())
                        }
                        None => None,
                    };
                    if let (Some(n), Some(off)) =
                        (&name, entry.offset().to_debug_info_offset(&unit.header))
                    {
                        names.insert(off, n.clone());
                    }
                    let Some((d, low)) = current else { continue };
                    if depth != d + 1 {
                        continue;
                    }
                    let origin = match entry.attr_value(gimli::DW_AT_abstract_origin)? {
                        Some(AttributeValue::UnitRef(o)) => o.to_debug_info_offset(&unit.header),
                        Some(AttributeValue::DebugInfoRef(o)) => Some(o),
                        _ => None,
                    };
                    let pieces = match entry.attr_value(gimli::DW_AT_location)? {
                        Some(AttributeValue::Exprloc(e)) => eval(e, unit.encoding()),
                        Some(v) => match dwarf.attr_locations(&unit, v)? {
                            Some(mut iter) => {
                                let mut found = None;
                                while let Some(le) = iter.next()? {
                                    if le.range.begin <= low && low < le.range.end {
                                        found = eval(le.data, unit.encoding());
                                        break;
                                    }
                                }
                                found
                            }
                            None => None,
                        },
                        None => None,
                    };
                    pending.push((low, origin, name, pieces));
                }
                _ => {}
            }
        }
        for (low, origin, name, pieces) in pending {
            let name = name
                .or_else(|| origin.and_then(|o| names.get(&o).cloned()))
                .unwrap_or_default();
            out.entry(low)
                .or_default()
                .push(EntryLocation { name, pieces });
        }
    }
    Ok(out)
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
            gimli::Operation::FrameOffset { offset } => cur = Some(Loc::Stack(8 + offset)),
            gimli::Operation::PlusConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o + value as i64));
                }
            }
            gimli::Operation::SignedConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o + value));
                }
            }
            gimli::Operation::UnsignedConstant { value } if cfa => {
                if let Some(Loc::Stack(o)) = cur {
                    cur = Some(Loc::Stack(o + value as i64));
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

/// DWARF x86-64 register number → Go ABI location.
fn dwarf_reg(n: u16) -> Option<Loc> {
    let abi = match n {
        0 => 0,  // RAX
        3 => 1,  // RBX
        2 => 2,  // RCX
        5 => 3,  // RDI
        4 => 4,  // RSI
        8 => 5,  // R8
        9 => 6,  // R9
        10 => 7, // R10
        11 => 8, // R11
        17..=32 => return Some(Loc::FloatReg((n - 17) as u8)),
        _ => return None,
    };
    Some(Loc::IntReg(abi))
}

#[cfg(test)]
mod tests {
    use super::receiver_of;

    #[test]
    fn receivers_come_from_symbol_names() {
        assert_eq!(
            receiver_of("context.(*emptyCtx).Value"),
            Some(("context", "(*emptyCtx)"))
        );
        assert_eq!(
            receiver_of("net/http.(*Server).Serve"),
            Some(("net/http", "(*Server)"))
        );
        assert_eq!(receiver_of("main.T.Peek"), Some(("main", "T")));
        assert_eq!(receiver_of("main.computeE"), None);
        // Looks like a method by name; the missing type main.main rules it out.
        assert_eq!(receiver_of("main.main.func1"), Some(("main", "main")));
        assert_eq!(receiver_of("crypto/tls.(*m).marshal.func1"), None);
        assert_eq!(receiver_of("net.(*Dialer).DialContext-fm"), None);
    }
}
