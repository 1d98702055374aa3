//! Compiles "this function, these values" into the fixed-size recipes the
//! BPF program interprets, plus the shapes the decoder needs to turn the
//! captured bytes back into Go values. A pure function of the binary and
//! the probe spec.

use crate::config::ProbeSpec;
use crate::golang::abi::{self, Loc, Part};
use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::{BinaryInfo, Function, LookupError, RuntimeLayout};
use crate::recipe::{
    RawLoc, RawOp, RawRecipe, ADDR_ONLY, LOC_ELEM, LOC_REG, LOC_STACK, MAX_DATA, MAX_HOPS, MAX_OPS,
    MAX_STRING, OPF_DYN, OP_BYTES, OP_ELEMS, OP_GROUP, OP_SCALAR, OP_STRING, OP_STRINGS,
    SITE_ENTRY, SITE_RETURN,
};

/// Why a probe cannot be planned at all.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The function name did not resolve.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// `args:` names something the function does not have.
    #[error("function {function} has no argument {arg}; its arguments are: {}", .available.join(", "))]
    NoSuchArg {
        /// The function.
        function: String,
        /// The unknown name.
        arg: String,
        /// What it does have.
        available: Vec<String>,
    },
    /// The function's machine code is not where DWARF says.
    #[error("function {0} has no machine code in an executable segment")]
    NoCode(String),
    /// No RET instruction was found: returns cannot be observed.
    #[error("function {0} has no RET instruction (it never returns normally); results and latency cannot be captured")]
    NoRet(String),
}

/// Bytes copied at an interface's data pointer: enough for the dynamic
/// values of most scalar, string and small struct types.
pub const DYN_IMAGE: u32 = 64;

/// The same for an interface in a slice element or map slot.
const ELEM_IMAGE: u32 = 32;

/// How to decode one captured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An integer, bool or pointer read by op `op`.
    Scalar {
        /// Op index.
        op: usize,
        /// How to interpret the bytes.
        kind: ScalarKind,
        /// Size in bytes.
        size: u8,
    },
    /// A string read by op `op`.
    String {
        /// Op index.
        op: usize,
    },
    /// An interface: op `type_op` read its dynamic type (the runtime
    /// `_type` address, 0 for nil). The dynamic type is known only in the
    /// record: ops read the string its data pointer points at and, when
    /// there was room, copied the first [`DYN_IMAGE`] bytes there, where
    /// the type's own recipe (see `dynamic`) captures the rest.
    Interface {
        /// Op reading the `_type` address.
        type_op: usize,
        /// Op copying the bytes at the data pointer (`OPF_DYN`).
        image_op: Option<usize>,
        /// (offset, op): strings read at these offsets of the dynamic value.
        strings: Vec<(u64, usize)>,
        /// The interface type's name (`error`, `interface {}`).
        ty: String,
    },
    /// A slice: op `op` copied its first elements (with the length),
    /// `cap_op` read its capacity.
    Slice {
        /// Op copying the elements.
        op: usize,
        /// Op reading the capacity.
        cap_op: Option<usize>,
        /// How to decode one element; None: elements not captured.
        elem: Option<Image>,
        /// Bytes per element.
        elem_size: u64,
        /// The Go slice type, for messages.
        ty: String,
    },
    /// A slice whose elements ran ops `first..first + k` each (`OP_ELEMS`).
    Elems {
        /// Op copying the elements.
        op: usize,
        /// Op reading the capacity (slices).
        cap_op: Option<usize>,
        /// The first element op.
        first: usize,
        /// Element ops.
        k: usize,
        /// One element, in terms of the element ops.
        elem: Box<Shape>,
        /// The Go slice type.
        ty: String,
    },
    /// A pointer shown as what it points to (null when nil): `addr_op`
    /// read the pointer, `pointee` the value behind it.
    Pointer {
        /// Op reading the pointer itself.
        addr_op: usize,
        /// The value it points to.
        pointee: Box<Shape>,
    },
    /// A map: its element count (null for a nil map), and for a small
    /// map its entries.
    Map {
        /// Op reading the count.
        len_op: usize,
        /// The entries, when they could be planned.
        entries: Option<Box<MapEntries>>,
    },
    /// A channel: buffered elements and capacity (null for a nil chan).
    Chan {
        /// Op reading qcount.
        len_op: usize,
        /// Op reading dataqsiz.
        cap_op: usize,
    },
    /// A func value: the name of the function it runs (null for nil).
    Func {
        /// Op reading the code pointer.
        pc_op: usize,
    },
    /// Struct fields in order.
    Struct(Vec<(String, Shape)>),
    /// Array elements.
    Array(Vec<Shape>),
    /// Not captured; the reason is shown to the user.
    Unavailable(String),
}

/// How a small map's entries were captured.
#[derive(Debug, Clone, PartialEq)]
pub enum MapEntries {
    /// Swiss tables (Go ≥ 1.24): with `dirLen` 0 the map is one group of
    /// 8 slots; a slot is full when its control byte's high bit is clear.
    Group {
        /// Op reading `Map.dirLen`.
        dir_len_op: usize,
        /// Op reading the group's control word.
        ctrl_op: usize,
        /// The 8 slots: `Elems` of {key, value} structs.
        slots: Shape,
        /// A larger map (`dirLen` > 0): the first group of its first
        /// table, (control word op, slots), when there was room.
        first: Option<Box<(usize, Shape)>>,
    },
    /// Buckets (Go < 1.24): with no old buckets, bucket 0 (the only one
    /// when B is 0); a slot is full when its tophash is at least 5
    /// (minTopHash).
    Bucket {
        /// Op reading `hmap.oldbuckets`.
        old_op: usize,
        /// Op reading the bucket's 8 tophash bytes.
        tophash_op: usize,
        /// The 8 keys (`Elems`).
        keys: Shape,
        /// The 8 values (`Elems`).
        values: Shape,
    },
}

/// A value decodable from its memory bytes alone (no pointer to follow):
/// slice elements.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// A scalar of this kind and size.
    Scalar(ScalarKind, u8),
    /// Struct fields at their offsets.
    Struct(Vec<(String, u64, Image)>),
    /// Array elements: element, count, element size.
    Array(Box<Image>, u64, u64),
    /// A byte (`[]byte` is shown as text or hex).
    Byte,
}

/// The interpretation of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// `bool`.
    Bool,
    /// Signed integer.
    Int,
    /// Unsigned integer.
    Uint,
    /// IEEE float read from memory.
    Float,
    /// An address; 0 is nil.
    Pointer,
}

/// One named value captured at a site.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Output name (`iterations`, `r0`).
    pub name: String,
    /// Go type name.
    pub ty: String,
    /// Where it lives, for `gotel check`.
    pub location: String,
    /// How to decode it.
    pub shape: Shape,
}

/// The capture program for one site kind (entry, or all RETs).
#[derive(Debug, Clone, PartialEq)]
pub struct SitePlan {
    /// The recipe for the BPF program.
    pub recipe: RawRecipe,
    /// The values, in output order.
    pub values: Vec<Value>,
}

/// A compiled probe for one function of one binary.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Full function name.
    pub function: String,
    /// Go signature for display.
    pub signature: String,
    /// File offset of the function entry.
    pub entry_offset: u64,
    /// File offsets of every RET instruction.
    pub ret_offsets: Vec<u64>,
    /// The body is a lone RET: the entry captures arguments and results
    /// (`entry.values[entry_args..]`), with no return probe.
    pub instant: bool,
    /// How many of `entry.values` are arguments.
    pub entry_args: usize,
    /// What to capture at entry.
    pub entry: SitePlan,
    /// What to capture at each RET.
    pub ret: SitePlan,
    /// Things the user should know (unreadable floats, truncation…).
    pub warnings: Vec<String>,
}

/// Plans `spec` against `bin`: one plan per function it names (several
/// for the instantiations of a generic function).
pub fn plan(bin: &BinaryInfo, spec: &ProbeSpec) -> Result<Vec<Plan>, PlanError> {
    bin.lookup_all(&spec.function)?
        .into_iter()
        .map(|f| plan_function(bin, f, spec))
        .collect()
}

/// Plans a resolved function.
pub fn plan_function(bin: &BinaryInfo, f: &Function, spec: &ProbeSpec) -> Result<Plan, PlanError> {
    let types = &bin.dwarf.types;
    let entry_offset = bin
        .file_offset(f.low_pc)
        .ok_or_else(|| PlanError::NoCode(f.name.clone()))?;
    let mut ret_offsets: Vec<u64> = bin
        .ret_sites(f)
        .into_iter()
        .filter_map(|a| bin.file_offset(a))
        .collect();
    // A body that is a lone RET (`func id(x int) int { return x }`): the
    // entry and return probes would share one address and fire in either
    // order. Probe the entry only, reading arguments and results there.
    let instant = ret_offsets.contains(&entry_offset);
    if instant {
        ret_offsets.clear();
    }
    if ret_offsets.is_empty() && !instant {
        return Err(PlanError::NoRet(f.name.clone()));
    }
    let mut warnings = Vec::new();
    if f.inlined_sites > 0 {
        warnings.push(format!(
            "{} is also inlined at {} call site(s); calls there are not seen",
            f.name, f.inlined_sites
        ));
    }

    let args: Vec<_> = f.args().collect();
    let results: Vec<_> = f.results().collect();
    let ids =
        |ps: &[&crate::golang::Param]| -> Option<Vec<TypeId>> { ps.iter().map(|p| p.ty).collect() };
    let checked = match (ids(&args), ids(&results)) {
        (Some(a), Some(r)) => bin.assign(f, &a, &r).map_err(|e| e.to_string()),
        _ => Err("a parameter has no type in DWARF".to_string()),
    };
    let assignment = checked
        .as_ref()
        .map(|(a, _)| a.clone())
        .map_err(Clone::clone);
    // Never print a value from the wrong register: if the compiler's own
    // DWARF disagrees with the derived ABI, some parameter is missing from
    // the signature and every argument is suspect. Register results are
    // assigned from RAX afresh and stay trustworthy; stack results do not.
    let mut args_suspect = None;
    if let Ok((_, Some(why))) = &checked {
        let why = format!(
            "DWARF and the register ABI disagree ({why}), so arguments are not captured rather than risk reading the wrong register; Go before 1.22 omits blank and unnamed parameters from DWARF"
        );
        warnings.push(why.clone());
        args_suspect = Some(why);
    }

    if bin.symbols_only {
        warnings.push(format!(
            "{} has no DWARF (built with -ldflags=-s -w or stripped): only calls and latency are captured, from Go's function table; rebuild without -s -w to see arguments and results",
            bin.path.display()
        ));
    }
    if let (Some(w), false) = (&spec.args, bin.symbols_only) {
        for name in w {
            let root = name.split('.').next().unwrap_or(name);
            if !args.iter().any(|p| p.name == root && !p.is_dictionary()) {
                return Err(PlanError::NoSuchArg {
                    function: f.name.clone(),
                    arg: name.clone(),
                    available: args
                        .iter()
                        .filter(|p| !p.is_dictionary())
                        .map(|p| p.name.clone())
                        .collect(),
                });
            }
        }
    }

    let g = bin.g_offsets();
    let ctx = SiteCtx {
        types,
        layout: bin.dwarf.layout,
        g: (g.goid as u32, g.stack_hi as u32),
        spec,
        args: &args,
        results: &results,
        assignment: &assignment,
        args_suspect: args_suspect.as_deref(),
        instant,
    };
    let entry = ctx.build(SITE_ENTRY)?;
    let ret = ctx.build(SITE_RETURN)?;
    for b in [&entry, &ret] {
        warnings.extend(b.warnings.iter().cloned());
    }
    let entry_args = entry.entry_args;
    Ok(Plan {
        function: f.name.clone(),
        signature: crate::golang::signature(bin, f),
        entry_offset,
        ret_offsets,
        instant,
        entry_args,
        entry: entry.finish(),
        ret: ret.finish(),
        warnings,
    })
}

/// What planning one site of one function needs.
struct SiteCtx<'a> {
    types: &'a TypeTable,
    layout: RuntimeLayout,
    /// goid and stack.hi offsets in runtime.g.
    g: (u32, u32),
    spec: &'a ProbeSpec,
    args: &'a [&'a crate::golang::Param],
    results: &'a [&'a crate::golang::Param],
    assignment: &'a Result<abi::Assignment, String>,
    args_suspect: Option<&'a str>,
    /// The entry is the only site: it captures the results too.
    instant: bool,
}

impl SiteCtx<'_> {
    /// Plans the entry or return site. The speculative reads that decode
    /// interfaces' dynamic values are dropped again when they crowd out
    /// any other value.
    fn build(&self, site: u8) -> Result<Builder, PlanError> {
        // What every value needs without extras, then the extras (an
        // interface's speculative reads, a small map's entries) in order,
        // each only if the values after it still fit.
        let base = self.build_with(site, false, &[])?;
        let mut later: Vec<(u32, u32)> = vec![(0, 0); base.costs.len() + 1];
        for i in (0..base.costs.len()).rev() {
            let (o, d) = base.costs[i];
            later[i] = (later[i + 1].0 + o, later[i + 1].1 + d);
        }
        let full = self.build_with(site, true, &later)?;
        if full.crowded && !base.crowded {
            return Ok(base);
        }
        Ok(full)
    }

    /// `later[i]`: ops and bytes the values after value i need without
    /// extras (empty: no reservation).
    fn build_with(
        &self,
        site: u8,
        dynamic: bool,
        later: &[(u32, u32)],
    ) -> Result<Builder, PlanError> {
        let (types, spec) = (self.types, self.spec);
        let mut b = Builder::new(self.layout, site, self.g.0, self.g.1, spec);
        b.dynamic = dynamic;
        b.reserve = later.get(1).copied().unwrap_or((0, 0));
        let assignment = self.assignment;
        let args_suspect = self.args_suspect;
        if site == SITE_ENTRY {
            // Which arguments to capture: all, or the ones named in `args:`.
            let wanted: Option<Vec<&str>> = spec
                .args
                .as_ref()
                .map(|a| a.iter().map(|s| s.as_str()).collect());
            for (i, p) in self.args.iter().enumerate() {
                if p.is_dictionary() {
                    continue;
                }
                let selected: Vec<&str> = match &wanted {
                    None => vec![p.name.as_str()],
                    Some(w) => w
                        .iter()
                        .copied()
                        .filter(|n| n.split('.').next() == Some(p.name.as_str()))
                        .collect(),
                };
                for path in selected {
                    let value = match (assignment, p.ty) {
                        _ if args_suspect.is_some() => {
                            unavailable(path, "?", args_suspect.unwrap_or_default())
                        }
                        (Ok(a), Some(ty)) => b.value(types, path, &p.name, ty, &a.args[i]),
                        (Err(why), _) => unavailable(path, "?", why),
                        (_, None) => unavailable(path, "?", "no type in DWARF"),
                    };
                    b.push_value(value, later);
                }
            }
            b.entry_args = b.values.len();
        }
        if (site == SITE_RETURN || self.instant) && spec.returns {
            for (i, p) in self.results.iter().enumerate() {
                let name = result_name(&p.name, i);
                let value = match (assignment, p.ty) {
                    // Stack-assigned results sit after the stack-assigned
                    // arguments: a missing argument moves them too.
                    (Ok(a), Some(_))
                        if args_suspect.is_some()
                            && a.results[i].iter().any(|p| matches!(p.loc, Loc::Stack(_))) =>
                    {
                        unavailable(&name, "?", args_suspect.unwrap_or_default())
                    }
                    (Ok(a), Some(ty)) => b.value(types, &name, &name, ty, &a.results[i]),
                    (Err(why), _) => unavailable(&name, "?", why),
                    (_, None) => unavailable(&name, "?", "no type in DWARF"),
                };
                b.push_value(value, later);
            }
        }
        b.crowded = b.full_hit;
        b.expand_pointers(types);
        b.expand_map_groups(types);
        Ok(b)
    }
}

/// `~r0` → `r0`; named results keep their names.
fn result_name(name: &str, index: usize) -> String {
    match name.strip_prefix('~') {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ if name.is_empty() => format!("r{index}"),
        _ => name.to_string(),
    }
}

fn unavailable(name: &str, ty: &str, why: &str) -> Value {
    Value {
        name: name.to_string(),
        ty: ty.to_string(),
        location: "-".into(),
        shape: Shape::Unavailable(why.to_string()),
    }
}

struct Builder {
    layout: RuntimeLayout,
    recipe: RawRecipe,
    values: Vec<Value>,
    warnings: Vec<String>,
    data_bytes: u32,
    max_string_len: u32,
    max_elems: u32,
    /// Whole pointer values to show as their pointee if ops remain:
    /// (value name, pointee type, where the pointer is).
    pending: Vec<(String, TypeId, Loc)>,
    /// Larger maps' first groups to capture if ops remain at the end.
    pending_groups: Vec<PendingGroup>,
    /// Set when an op did not fit.
    full_hit: bool,
    /// Pointers followed to show their pointee.
    pointer_depth: u32,
    /// Whether interfaces get the speculative reads that decode their
    /// dynamic values, and small maps their entries (off when these would
    /// crowd out other values).
    dynamic: bool,
    /// Planning the ops of one slice element (no slices of ops inside).
    in_elems: bool,
    /// Values that are arguments (the rest, at an instant entry, results).
    entry_args: usize,
    /// Ops and bytes each value took, in order.
    costs: Vec<(u32, u32)>,
    /// (ops, bytes) used when the previous value was recorded.
    mark: (u32, u32),
    /// Ops and bytes the values still to plan need: extras leave them.
    reserve: (u32, u32),
    /// Planning an extra (see `reserve`).
    extra: bool,
    /// Pushes (or plans) that did not fit, extras included.
    fails: u32,
    /// A value had to give way for lack of room (pointees, planned last,
    /// only get shallower and do not count).
    crowded: bool,
}

impl Builder {
    fn new(layout: RuntimeLayout, site: u8, goid: u32, stack_hi: u32, spec: &ProbeSpec) -> Self {
        let recipe = RawRecipe {
            site,
            goid_offset: goid,
            stack_hi_offset: stack_hi,
            ..RawRecipe::default()
        };
        Builder {
            layout,
            recipe,
            values: Vec::new(),
            warnings: Vec::new(),
            data_bytes: 0,
            max_string_len: spec.max_string_len,
            max_elems: spec.max_elems,
            pending: Vec::new(),
            pending_groups: Vec::new(),
            full_hit: false,
            pointer_depth: spec.pointer_depth,
            dynamic: true,
            in_elems: false,
            entry_args: 0,
            costs: Vec::new(),
            mark: (0, 0),
            reserve: (0, 0),
            extra: false,
            fails: 0,
            crowded: false,
        }
    }

    /// Shows whole pointer values as their pointees, in order, while the
    /// recipe has room: planned after every other value, so a large
    /// pointee can never crowd out a later argument.
    fn expand_pointers(&mut self, types: &TypeTable) {
        for (name, elem, loc) in std::mem::take(&mut self.pending) {
            let Some(i) = self.values.iter().position(|v| v.name == name) else {
                continue;
            };
            let Shape::Scalar { op: addr_op, .. } = self.values[i].shape else {
                continue;
            };
            let saved = self.checkpoint();
            let mem = Mem {
                base: Base::At(loc),
                hops: Vec::new(),
                off: 0,
            };
            // As deep as configured, shallower when that does not fit.
            let mut shown = None;
            let mut overflowed = false;
            for depth in (0..self.pointer_depth).rev() {
                self.full_hit = false;
                let pointee = self.shape_mem(types, elem, &mem, &name, depth);
                if !self.full_hit && !matches!(pointee, Shape::Unavailable(_)) {
                    shown = Some(pointee);
                    break;
                }
                overflowed |= self.full_hit;
                self.restore(&saved);
                self.warnings.truncate(saved.warnings);
            }
            self.full_hit = false;
            let Some(pointee) = shown else {
                if overflowed {
                    self.warnings.push(format!(
                        "{name}: the {} it points to does not fit in what is left of this site's {MAX_OPS} captures and {MAX_DATA} bytes; showing the address (name fields in `args:`)",
                        types.get(elem).name
                    ));
                }
                continue;
            };
            self.values[i].shape = Shape::Pointer {
                addr_op,
                pointee: Box::new(pointee),
            };
        }
    }

    /// Larger swiss maps' first groups, planned after every value and
    /// pointee: a sample of a big map's entries is worth less than any
    /// small map's entries or any value.
    fn expand_map_groups(&mut self, types: &TypeTable) {
        for p in std::mem::take(&mut self.pending_groups) {
            let saved = self.checkpoint();
            let (fails, was) = (self.fails, std::mem::replace(&mut self.extra, true));
            self.reserve = (0, 0);
            let first = self.group_ops(types, &p.at, &p.slot, &p.name);
            self.extra = was;
            let Some(first) = first.filter(|_| self.fails == fails) else {
                self.restore(&saved);
                continue;
            };
            // A small map's control word is no table pointer: these reads
            // then fault, as expected.
            for op in saved.recipe.n_ops..self.recipe.n_ops {
                self.recipe.quiet_mask |= 1 << op;
            }
            let mut first = Some(first);
            for v in &mut self.values {
                set_first_group(&mut v.shape, p.dir_len_op, &mut first);
            }
        }
    }

    /// The control word and 8 slots of the swiss-table group at `g`.
    fn group_ops(
        &mut self,
        types: &TypeTable,
        g: &Mem,
        slot: &MapSlot,
        name: &str,
    ) -> Option<(usize, Shape)> {
        let ctrl_op = self.push(OP_SCALAR, 8, 0, Access::Mem(g.clone()), None, 8)?;
        let at = Mem {
            off: g.off + 8,
            ..g.clone()
        };
        let plan_slot = |b: &mut Self, m: &Mem| {
            let k = b.shape_mem(types, slot.key, m, &format!("{name}[key]"), slot.depth);
            let v_at = Mem {
                off: m.off + slot.elem_off as i64,
                ..m.clone()
            };
            let v = b.shape_mem(
                types,
                slot.value,
                &v_at,
                &format!("{name}[value]"),
                slot.depth,
            );
            Shape::Struct(vec![("key".into(), k), ("value".into(), v)])
        };
        let count = 8;
        let slots = self.elements(
            Elements::Group { at, count },
            slot.size as u32,
            plan_slot,
            "",
        )?;
        Some((ctrl_op, slots))
    }

    /// What `restore` returns to: the recipe and its budget so far.
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            recipe: self.recipe,
            data_bytes: self.data_bytes,
            full_hit: self.full_hit,
            warnings: self.warnings.len(),
            pending_groups: self.pending_groups.len(),
        }
    }

    /// Undoes the ops planned since `c` (warnings are the caller's).
    fn restore(&mut self, c: &Checkpoint) {
        self.recipe = c.recipe;
        self.data_bytes = c.data_bytes;
        self.full_hit = c.full_hit;
        // Groups of maps planned after the checkpoint went with them.
        self.pending_groups.truncate(c.pending_groups);
    }

    /// Records a planned value and what it cost since the previous one,
    /// then reserves room for the values after it.
    fn push_value(&mut self, value: Value, later: &[(u32, u32)]) {
        let (o, d) = (u32::from(self.recipe.n_ops), self.data_bytes);
        self.costs.push((o - self.mark.0, d - self.mark.1));
        self.mark = (o, d);
        self.values.push(value);
        self.reserve = later.get(self.values.len() + 1).copied().unwrap_or((0, 0));
    }

    fn finish(self) -> SitePlan {
        SitePlan {
            recipe: self.recipe,
            values: self.values,
        }
    }

    /// Plans the value (or the field `path` inside it) of parameter `param`.
    fn value(
        &mut self,
        types: &TypeTable,
        path: &str,
        param: &str,
        ty: TypeId,
        parts: &[Part],
    ) -> Value {
        let location = describe(parts);
        let mut it = parts.iter();
        let mut field_path: Vec<&str> = path.split('.').skip(1).collect();
        if let (true, Kind::Pointer { elem: Some(elem) }, [p]) =
            (field_path.is_empty(), &types.get(ty).kind, parts)
        {
            self.pending.push((path.to_string(), *elem, p.loc));
        }
        let first = self.recipe.n_ops as usize;
        let (ty, shape) = if field_path.is_empty() {
            (
                types.get(ty).name.clone(),
                self.shape(types, ty, &mut it, param),
            )
        } else {
            self.field(types, ty, &mut it, &mut field_path, path)
        };
        // A field path: where in memory, as the first op reads it.
        let location = match self.recipe.ops.get(first) {
            Some(op) if path.contains('.') && first < self.recipe.n_ops as usize => {
                describe_op(op).unwrap_or(location)
            }
            _ => location,
        };
        Value {
            name: path.to_string(),
            ty,
            location,
            shape,
        }
    }

    /// Walks to the field named by `path` (through struct fields and
    /// pointers), planning only it.
    fn field(
        &mut self,
        types: &TypeTable,
        ty: TypeId,
        parts: &mut std::slice::Iter<'_, Part>,
        path: &mut Vec<&str>,
        full: &str,
    ) -> (String, Shape) {
        let t = types.get(ty);
        if path.is_empty() {
            return (t.name.clone(), self.shape(types, ty, parts, full));
        }
        match &t.kind {
            Kind::Struct { fields } => {
                let want = path.remove(0);
                for f in fields {
                    if f.name == want {
                        return self.field(types, f.ty, parts, path, full);
                    }
                    skip(types, f.ty, parts);
                }
                ("?".into(), self.no_field(&t.name, fields, want, full))
            }
            Kind::Pointer { elem: Some(elem) } => match parts.next() {
                // The pointer is a word at the probe: follow it in BPF.
                Some(p) => {
                    let mem = Mem {
                        base: Base::At(p.loc),
                        hops: Vec::new(),
                        off: 0,
                    };
                    self.field_mem(types, *elem, mem, path, full)
                }
                None => ("?".into(), Shape::Unavailable("no location".into())),
            },
            _ => self.not_a_struct(&t.name, path, full),
        }
    }

    /// The same walk once the value is in memory.
    fn field_mem(
        &mut self,
        types: &TypeTable,
        ty: TypeId,
        mut mem: Mem,
        path: &mut Vec<&str>,
        full: &str,
    ) -> (String, Shape) {
        let t = types.get(ty);
        if path.is_empty() {
            let depth = self.pointer_depth;
            return (t.name.clone(), self.shape_mem(types, ty, &mem, full, depth));
        }
        match &t.kind {
            Kind::Struct { fields } => {
                let want = path.remove(0);
                match fields.iter().find(|f| f.name == want) {
                    Some(f) => {
                        mem.off += f.offset as i64;
                        self.field_mem(types, f.ty, mem, path, full)
                    }
                    None => ("?".into(), self.no_field(&t.name, fields, want, full)),
                }
            }
            Kind::Pointer { elem: Some(elem) } => match mem.follow() {
                Some(next) => self.field_mem(types, *elem, next, path, full),
                None => {
                    let why = format!("{full}: more than {MAX_HOPS} pointers to follow");
                    self.warnings.push(why.clone());
                    (t.name.clone(), Shape::Unavailable(why))
                }
            },
            _ => self.not_a_struct(&t.name, path, full),
        }
    }

    fn no_field(
        &mut self,
        ty: &str,
        fields: &[crate::golang::types::Field],
        want: &str,
        full: &str,
    ) -> Shape {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let why = format!("{ty} has no field {want}; fields: {}", names.join(", "));
        self.warnings.push(format!("{full}: {why}"));
        Shape::Unavailable(why)
    }

    fn not_a_struct(&mut self, ty: &str, path: &[&str], full: &str) -> (String, Shape) {
        let why = format!("{ty} is not a struct; cannot select .{}", path.join("."));
        self.warnings.push(format!("{full}: {why}"));
        (ty.to_string(), Shape::Unavailable(why))
    }

    /// Plans a value that lives in memory at `mem`. `depth` counts the
    /// pointers still to follow at the leaf (a path ending in a pointer to
    /// a struct shows the struct).
    fn shape_mem(
        &mut self,
        types: &TypeTable,
        ty: TypeId,
        mem: &Mem,
        name: &str,
        depth: u32,
    ) -> Shape {
        let t = types.get(ty);
        let scalar = |b: &mut Self, kind| match b.push(
            OP_SCALAR,
            t.size as u8,
            0,
            Access::Mem(mem.clone()),
            None,
            8,
        ) {
            Some(op) => Shape::Scalar {
                op,
                kind,
                size: t.size as u8,
            },
            None => b.full(name),
        };
        match &t.kind {
            Kind::Bool => scalar(self, ScalarKind::Bool),
            Kind::Int { signed: true } => scalar(self, ScalarKind::Int),
            Kind::Int { signed: false } => scalar(self, ScalarKind::Uint),
            // In memory, floats are readable.
            Kind::Float => scalar(self, ScalarKind::Float),
            Kind::Complex => {
                let half = t.size / 2;
                let mut part = |off: u64| {
                    let at = Mem {
                        off: mem.off + off as i64,
                        ..mem.clone()
                    };
                    match self.push(OP_SCALAR, half as u8, 0, Access::Mem(at), None, 8) {
                        Some(op) => Shape::Scalar {
                            op,
                            kind: ScalarKind::Float,
                            size: half as u8,
                        },
                        None => self.full(name),
                    }
                };
                Shape::Struct(vec![("real".into(), part(0)), ("imag".into(), part(half))])
            }
            Kind::Pointer { elem: Some(elem) }
                if depth > 0 && !matches!(types.get(*elem).kind, Kind::Unsupported(_)) =>
            {
                let Some(next) = mem.follow() else {
                    return scalar(self, ScalarKind::Pointer);
                };
                // The pointer itself too: nil shows as null, not as a
                // struct of nulls.
                let Shape::Scalar { op: addr_op, .. } = scalar(self, ScalarKind::Pointer) else {
                    return self.full(name);
                };
                let pointee = self.shape_mem(types, *elem, &next, name, depth - 1);
                Shape::Pointer {
                    addr_op,
                    pointee: Box::new(pointee),
                }
            }
            Kind::Pointer { .. } | Kind::UnsafePointer => scalar(self, ScalarKind::Pointer),
            Kind::String => self.string(Access::Mem(mem.clone()), None, name),
            Kind::Interface { empty } => {
                let at = |off: i64| Mem {
                    off: mem.off + off,
                    ..mem.clone()
                };
                self.interface(*empty, Access::Mem(at(0)), at(8).follow(), &t.name, name)
            }
            Kind::Struct { fields } => Shape::Struct(
                fields
                    .iter()
                    .map(|f| {
                        let m = Mem {
                            off: mem.off + f.offset as i64,
                            ..mem.clone()
                        };
                        (
                            f.name.clone(),
                            self.shape_mem(types, f.ty, &m, &format!("{name}.{}", f.name), depth),
                        )
                    })
                    .collect(),
            ),
            Kind::Array { elem, len } => {
                let esize = types.get(*elem).size as i64;
                let mut items = Vec::new();
                let fails = self.fails;
                for i in 0..*len {
                    // Out of room: one marker for the rest, however long
                    // the array (planning must not grow with it).
                    if self.full_hit || self.fails != fails {
                        items.push(Shape::Unavailable(format!(
                            "{} more element(s): no room left at this site",
                            len - i
                        )));
                        break;
                    }
                    let m = Mem {
                        off: mem.off + i as i64 * esize,
                        ..mem.clone()
                    };
                    items.push(self.shape_mem(types, *elem, &m, &format!("{name}[{i}]"), depth));
                }
                Shape::Array(items)
            }
            Kind::Map { .. } | Kind::Chan | Kind::Func => {
                self.runtime_ref(types, &t.kind, &t.name, Access::Mem(mem.clone()), name)
            }
            Kind::Slice { elem } => {
                // The header {array, len, cap} is in memory: the string op
                // reads {array, len} there, cap is the third word.
                let cap = Mem {
                    off: mem.off + 16,
                    ..mem.clone()
                };
                let array = Access::Mem(mem.clone());
                self.slice(types, *elem, &t.name, (array, None, Access::Mem(cap)), name)
            }
            _ => Shape::Unavailable(format!("values of type {} are not captured yet", t.name)),
        }
    }

    /// A slice, from its header (array, length when direct, capacity): its
    /// length, capacity and first elements (`max_elems`, or
    /// `max_string_len` bytes of a `[]byte`) when the element type can be
    /// decoded from its bytes alone.
    fn slice(
        &mut self,
        types: &TypeTable,
        elem: Option<TypeId>,
        ty: &str,
        (array, len, cap): (Access, Option<Loc>, Access),
        name: &str,
    ) -> Shape {
        if !self.in_elems {
            if elem.is_some_and(|e| matches!(types.get(e).kind, Kind::String)) {
                return self.string_slice(ty, (array, len, cap), name);
            }
            if let Some(e) = elem.filter(|e| self.needs_elem_ops(types, *e)) {
                return self.elems(types, e, ty, (array, len, cap), name);
            }
        }
        let image = elem.and_then(|e| image(types, e));
        let elem_size = elem.map(|e| types.get(e).size).unwrap_or(0);
        let max = match (&image, elem_size) {
            (Some(Image::Byte), _) => self.max_string_len,
            (Some(_), n) if n > 0 => {
                (u64::from(self.max_elems) * n).min(u64::from(MAX_STRING) / n * n) as u32
            }
            // Length only.
            _ => 0,
        };
        let size = elem_size.clamp(1, 255) as u8;
        let bytes = 16 + max.div_ceil(8) * 8;
        let Some(op) = self.push(OP_STRING, size, max as u16, array, len, bytes) else {
            return self.full(name);
        };
        let cap_op = self.push(OP_SCALAR, 8, 0, cap, None, 8);
        Shape::Slice {
            op,
            cap_op,
            elem: if max > 0 { image } else { None },
            elem_size: elem_size.max(1),
            ty: ty.to_string(),
        }
    }

    /// Whether elements of this type need ops of their own (strings,
    /// pointers to follow, interfaces…) rather than a copy of their bytes.
    fn needs_elem_ops(&self, types: &TypeTable, e: TypeId) -> bool {
        match &types.get(e).kind {
            Kind::Pointer { elem: Some(p) } => {
                self.pointer_depth > 0 && !matches!(types.get(*p).kind, Kind::Unsupported(_))
            }
            Kind::Unsupported(_) => false,
            _ => image(types, e).is_none(),
        }
    }

    /// A slice whose elements each run a few ops (`OP_ELEMS`): the element
    /// planned once against the element's address, as many elements as the
    /// site's data budget allows, up to `max_elems`.
    fn elems(
        &mut self,
        types: &TypeTable,
        elem: TypeId,
        ty: &str,
        (array, len, cap): (Access, Option<Loc>, Access),
        name: &str,
    ) -> Shape {
        let depth = self.pointer_depth.saturating_sub(1);
        let plan_elem =
            |b: &mut Self, mem: &Mem| b.shape_mem(types, elem, mem, &format!("{name}[]"), depth);
        let stride = types.get(elem).size as u32;
        let source = Elements::Slice { array, len, cap };
        self.elements(source, stride, plan_elem, ty)
            .unwrap_or_else(|| self.full(name))
    }

    /// Plans an `OP_ELEMS`/`OP_GROUP` op and the element ops that follow it
    /// (`plan_elem`, against the element's address), as many elements as
    /// the data budget allows up to `max_elems` (a group: all or none).
    /// None, with the recipe unchanged, when it does not fit.
    fn elements(
        &mut self,
        source: Elements,
        stride: u32,
        plan_elem: impl FnOnce(&mut Self, &Mem) -> Shape,
        ty: &str,
    ) -> Option<Shape> {
        let saved = self.checkpoint();
        let revert = |b: &mut Self| b.restore(&saved);
        let fails = self.fails;
        let (op, cap, fixed) = match source {
            Elements::Slice { array, len, cap } => {
                (self.push(OP_ELEMS, 0, 0, array, len, 16)?, Some(cap), None)
            }
            Elements::Group { at, count } => (
                self.push(OP_GROUP, 0, 0, Access::Mem(at), None, 16)?,
                None,
                Some(count),
            ),
        };
        // The element ops follow their op directly.
        let first = self.recipe.n_ops as usize;
        let before = self.data_bytes;
        let mem = Mem {
            base: Base::Elem,
            hops: Vec::new(),
            off: 0,
        };
        let was = std::mem::replace(&mut self.in_elems, true);
        let shape = plan_elem(self, &mem);
        self.in_elems = was;
        let k = self.recipe.n_ops as usize - first;
        let per = self.data_bytes - before;
        let cap_op = match cap {
            Some(cap) => match self.push(OP_SCALAR, 8, 0, cap, None, 8) {
                Some(op) => Some(op),
                None => {
                    revert(self);
                    return None;
                }
            },
            None => None,
        };
        // Each element: an 8-byte status header and its ops' slots.
        let room = MAX_DATA.saturating_sub(before + 8) / (8 + per);
        let n = match fixed {
            Some(count) if room >= count => count,
            Some(_) => 0,
            None => self.max_elems.min(room).min(255),
        };
        if self.fails != fails || k == 0 || k > 32 || n == 0 {
            revert(self);
            return None;
        }
        let o = &mut self.recipe.ops[op];
        o.size = k as u8;
        o.max_len = n as u16;
        o.stride = stride;
        self.data_bytes = before + n * (8 + per) + 8;
        Some(Shape::Elems {
            op,
            cap_op,
            first,
            k,
            elem: Box::new(shape),
            ty: ty.to_string(),
        })
    }

    /// The entries of a map small enough to keep them in one place (at
    /// most 8: one swiss-table group, or one bucket before Go 1.24), read
    /// through the map pointer at `word`; None when they cannot be planned
    /// (no layout, large keys or values, no room, inside a slice element).
    fn map_entries(
        &mut self,
        types: &TypeTable,
        key: TypeId,
        value: TypeId,
        word: Access,
        name: &str,
    ) -> Option<MapEntries> {
        let (kt, vt) = (types.get(key), types.get(value));
        // Larger keys and values are stored behind pointers. Entries are
        // extras like interfaces' speculative reads: planned only while the
        // values after them still fit.
        if !self.dynamic || self.in_elems || kt.size > 128 || vt.size > 128 {
            return None;
        }
        let was = std::mem::replace(&mut self.extra, true);
        let entries = self.map_entries_ops(types, (key, value), word, name);
        self.extra = was;
        entries
    }

    fn map_entries_ops(
        &mut self,
        types: &TypeTable,
        (key, value): (TypeId, TypeId),
        word: Access,
        name: &str,
    ) -> Option<MapEntries> {
        let (kt, vt) = (types.get(key), types.get(value));
        let saved = self.checkpoint();
        let revert = |b: &mut Self| b.restore(&saved);
        let fails = self.fails;
        let depth = self.pointer_depth.saturating_sub(1);
        let scalar = |b: &mut Self, a: Access, size: u8| b.push(OP_SCALAR, size, 0, a, None, 8);
        let planned = if let Some((dir_ptr, dir_len)) = self.layout.swiss {
            // group { ctrl uint64; slots [8]struct{ key K; elem V } }
            let align = |n: u64, a: u64| n.div_ceil(a.max(1)) * a.max(1);
            let elem_off = align(kt.size, abi::alignment(types, value));
            let slot = align(
                elem_off + vt.size,
                abi::alignment(types, key).max(abi::alignment(types, value)),
            );
            let group = word.clone().follow_to(dir_ptr as i64)?;
            let Access::Mem(group_mem) = group.clone() else {
                return None;
            };
            let slot = MapSlot {
                key,
                value,
                elem_off,
                size: slot,
                depth,
            };
            let small = group_mem.follow()?;
            let planned = (|| {
                let dir_len_op = scalar(self, word.clone().follow_to(dir_len as i64)?, 8)?;
                let (ctrl_op, slots) = self.group_ops(types, &small, &slot, name)?;
                Some(MapEntries::Group {
                    dir_len_op,
                    ctrl_op,
                    slots,
                    first: None,
                })
            })();
            // A larger map: its directory's first table's first group
            // (three pointers: table, its groups, the group), at the end.
            let big = small.follow().and_then(|t| {
                Mem {
                    off: self.layout.swiss_groups? as i64,
                    ..t
                }
                .follow()
            });
            if let (Some(MapEntries::Group { dir_len_op, .. }), Some(at)) = (&planned, big) {
                self.pending_groups.push(PendingGroup {
                    dir_len_op: *dir_len_op,
                    at,
                    slot,
                    name: name.to_string(),
                });
            }
            planned
        } else if let Some((_, buckets, old)) = self.layout.hmap {
            // bucket { tophash [8]uint8; keys [8]K; elems [8]V; overflow }
            let bucket = word.clone().follow_to(buckets as i64)?;
            let Access::Mem(bucket_word) = bucket else {
                return None;
            };
            let at = |off: u64| -> Option<Mem> {
                Some(Mem {
                    off: off as i64,
                    ..bucket_word.follow()?
                })
            };
            (|| {
                let old_op = scalar(self, word.clone().follow_to(old as i64)?, 8)?;
                let tophash_op = scalar(self, Access::Mem(at(0)?), 8)?;
                let one = |t: TypeId, what: &'static str| {
                    move |b: &mut Self, m: &Mem| {
                        b.shape_mem(types, t, m, &format!("{name}[{what}]"), depth)
                    }
                };
                let keys = self.elements(
                    Elements::Group {
                        at: at(8)?,
                        count: 8,
                    },
                    kt.size as u32,
                    one(key, "key"),
                    "",
                )?;
                let values = self.elements(
                    Elements::Group {
                        at: at(8 + 8 * kt.size)?,
                        count: 8,
                    },
                    vt.size as u32,
                    one(value, "value"),
                    "",
                )?;
                Some(MapEntries::Bucket {
                    old_op,
                    tophash_op,
                    keys,
                    values,
                })
            })()
        } else {
            None
        };
        if planned.is_none() || self.fails != fails {
            revert(self);
            return None;
        }
        planned
    }

    /// A []string: up to `max_elems` elements (at most 255), each up to
    /// `max_string_len` bytes, shrunk to what the site's data budget has left.
    fn string_slice(
        &mut self,
        ty: &str,
        (array, len, cap): (Access, Option<Loc>, Access),
        name: &str,
    ) -> Shape {
        let n = self.max_elems.min(255);
        let left = MAX_DATA.saturating_sub(self.data_bytes + 16 + 8);
        let per = (left / n).saturating_sub(16) / 8 * 8;
        let max = self.max_string_len.min(per);
        if max == 0 {
            return self.full(name);
        }
        let bytes = 16 + n * (16 + max.div_ceil(8) * 8);
        let Some(op) = self.push(OP_STRINGS, n as u8, max as u16, array, len, bytes) else {
            return self.full(name);
        };
        let cap_op = self.push(OP_SCALAR, 8, 0, cap, None, 8);
        Shape::Slice {
            op,
            cap_op,
            elem: None,
            elem_size: 16,
            ty: ty.to_string(),
        }
    }

    /// A map, chan or func value, whose pointer word is reached by `word`:
    /// reads the count (map), qcount and dataqsiz (chan) or code pointer
    /// (func) behind it, at offsets taken from the binary's DWARF.
    fn runtime_ref(
        &mut self,
        types: &TypeTable,
        kind: &Kind,
        ty: &str,
        word: Access,
        name: &str,
    ) -> Shape {
        let l = self.layout;
        let fields: &[Option<u64>] = match kind {
            Kind::Map { .. } => &[l.map_len],
            Kind::Chan => &[l.chan_len, l.chan_cap],
            _ => &[l.func_pc],
        };
        let mut ops = Vec::new();
        for f in fields {
            let Some(off) = f else {
                return Shape::Unavailable(format!(
                    "{ty}: runtime layout not found in this binary's DWARF"
                ));
            };
            let Some(at) = word.clone().follow_to(*off as i64) else {
                return Shape::Unavailable(format!(
                    "{name}: more than {MAX_HOPS} pointers to follow"
                ));
            };
            match self.push(OP_SCALAR, 8, 0, at, None, 8) {
                Some(op) => ops.push(op),
                None => return self.full(name),
            }
        }
        match (kind, ops.as_slice()) {
            (Kind::Map { key, elem }, [len_op]) => {
                let entries = match (key, elem) {
                    (Some(k), Some(v)) => self.map_entries(types, *k, *v, word, name),
                    _ => None,
                };
                Shape::Map {
                    len_op: *len_op,
                    entries: entries.map(Box::new),
                }
            }
            (Kind::Chan, [len_op, cap_op]) => Shape::Chan {
                len_op: *len_op,
                cap_op: *cap_op,
            },
            (_, [pc_op]) => Shape::Func { pc_op: *pc_op },
            _ => Shape::Unavailable(format!("{ty}: unexpected layout")),
        }
    }

    /// A string whose header is reached by `a` (direct: `a` is the data
    /// pointer and `len` its length).
    fn string(&mut self, a: Access, len: Option<Loc>, name: &str) -> Shape {
        let max = self.max_string_len;
        match self.push(OP_STRING, 1, max as u16, a, len, 16 + max.div_ceil(8) * 8) {
            Some(op) => Shape::String { op },
            None => self.full(name),
        }
    }

    /// An interface whose first word is reached by `word0`; `data` is the
    /// memory its data pointer points at. The first word is the _type
    /// itself for `any`, an itab (with the _type at offset 8) otherwise.
    fn interface(
        &mut self,
        empty: bool,
        word0: Access,
        data: Option<Mem>,
        ty: &str,
        name: &str,
    ) -> Shape {
        let start = self.recipe.n_ops;
        let shape = self.interface_ops(empty, word0, data, ty, name);
        // Reads past the type word guess at the dynamic value: their
        // faults are expected.
        for op in start + 1..self.recipe.n_ops {
            self.recipe.quiet_mask |= 1 << op;
        }
        shape
    }

    fn interface_ops(
        &mut self,
        empty: bool,
        word0: Access,
        data: Option<Mem>,
        ty: &str,
        name: &str,
    ) -> Shape {
        let type_access = if empty {
            word0
        } else {
            match word0.follow_to(8) {
                Some(a) => a,
                None => {
                    return Shape::Unavailable(format!(
                        "{name}: more than {MAX_HOPS} pointers to follow"
                    ))
                }
            }
        };
        let Some(type_op) = self.push(OP_SCALAR, 8, 0, type_access, None, 8) else {
            return self.full(name);
        };
        let mut strings = Vec::new();
        let mut image_op = None;
        if let Some(data) = data {
            // Always, when there is room: the string its data pointer
            // points at, which is the value of a `string` and the message
            // of the common errors.
            let max = self.max_string_len;
            let bytes = 16 + max.div_ceil(8) * 8;
            let s0 = Access::Mem(data.clone());
            if let Some(op) = self.push(OP_STRING, 1, max as u16, s0, None, bytes) {
                strings.push((0, op));
            }
            // The value's first bytes, where its dynamic type's own recipe
            // (if installed) then runs: planned only while the values
            // after it still fit; shorter per slice element.
            if self.dynamic {
                let was = std::mem::replace(&mut self.extra, true);
                let image = Access::Mem(data);
                let len = if self.in_elems { ELEM_IMAGE } else { DYN_IMAGE };
                image_op = self.push(OP_BYTES, 1, len as u16, image, None, 16 + len);
                self.extra = was;
                if let Some(op) = image_op {
                    self.recipe.ops[op].flags = OPF_DYN;
                    self.recipe.ops[op].type_op = type_op as u8;
                }
            }
        }
        Shape::Interface {
            type_op,
            image_op,
            strings,
            ty: ty.to_string(),
        }
    }

    fn shape(
        &mut self,
        types: &TypeTable,
        ty: TypeId,
        parts: &mut std::slice::Iter<'_, Part>,
        name: &str,
    ) -> Shape {
        let t = types.get(ty);
        match &t.kind {
            Kind::Bool => self.scalar(parts, ScalarKind::Bool),
            Kind::Int { signed } => self.scalar(
                parts,
                if *signed {
                    ScalarKind::Int
                } else {
                    ScalarKind::Uint
                },
            ),
            Kind::Pointer { .. } | Kind::UnsafePointer => self.scalar(parts, ScalarKind::Pointer),
            Kind::Float => {
                let p = parts.next().copied();
                match p {
                    Some(Part {
                        loc: Loc::FloatReg(r),
                        ..
                    }) => {
                        let why = format!(
                            "{} passed in register X{r}; eBPF cannot read XMM registers",
                            t.name
                        );
                        self.warnings.push(format!("{name}: {why}"));
                        Shape::Unavailable(why)
                    }
                    Some(p) => self.scalar_at(p, ScalarKind::Float),
                    None => Shape::Unavailable("no location".into()),
                }
            }
            Kind::String => {
                let (Some(a), Some(b)) = (parts.next().copied(), parts.next().copied()) else {
                    return Shape::Unavailable("no location".into());
                };
                self.string(Access::Direct(a.loc), Some(b.loc), name)
            }
            Kind::Interface { empty } => {
                let (Some(a), Some(b)) = (parts.next().copied(), parts.next().copied()) else {
                    return Shape::Unavailable("no location".into());
                };
                let data = Mem {
                    base: Base::At(b.loc),
                    hops: Vec::new(),
                    off: 0,
                };
                self.interface(*empty, Access::Direct(a.loc), Some(data), &t.name, name)
            }
            Kind::Struct { fields } => Shape::Struct(
                fields
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            self.shape(types, f.ty, parts, &format!("{name}.{}", f.name)),
                        )
                    })
                    .collect(),
            ),
            Kind::Array { elem, len } => {
                let mut items = Vec::new();
                let fails = self.fails;
                for i in 0..*len {
                    if self.full_hit || self.fails != fails {
                        for _ in i..*len {
                            skip(types, *elem, parts);
                        }
                        items.push(Shape::Unavailable(format!(
                            "{} more element(s): no room left at this site",
                            len - i
                        )));
                        break;
                    }
                    items.push(self.shape(types, *elem, parts, &format!("{name}[{i}]")));
                }
                Shape::Array(items)
            }
            Kind::Map { .. } | Kind::Chan | Kind::Func => match parts.next() {
                Some(p) => self.runtime_ref(types, &t.kind, &t.name, Access::Direct(p.loc), name),
                None => Shape::Unavailable("no location".into()),
            },
            Kind::Slice { elem } => {
                let (Some(a), Some(l), Some(c)) = (
                    parts.next().copied(),
                    parts.next().copied(),
                    parts.next().copied(),
                ) else {
                    return Shape::Unavailable("no location".into());
                };
                let header = (Access::Direct(a.loc), Some(l.loc), Access::Direct(c.loc));
                self.slice(types, *elem, &t.name, header, name)
            }
            // Two floats: XMM registers (unreadable) or the stack.
            Kind::Complex => {
                let (Some(re), Some(im)) = (parts.next().copied(), parts.next().copied()) else {
                    return Shape::Unavailable("no location".into());
                };
                if let Loc::FloatReg(r) = re.loc {
                    let why = format!(
                        "{} passed in registers X{r}, X{}; eBPF cannot read XMM registers",
                        t.name,
                        r + 1
                    );
                    self.warnings.push(format!("{name}: {why}"));
                    return Shape::Unavailable(why);
                }
                Shape::Struct(vec![
                    ("real".into(), self.scalar_at(re, ScalarKind::Float)),
                    ("imag".into(), self.scalar_at(im, ScalarKind::Float)),
                ])
            }
            Kind::Unsupported(why) => {
                skip(types, ty, parts);
                Shape::Unavailable(format!("type {}: {why}", t.name))
            }
        }
    }

    fn scalar(&mut self, parts: &mut std::slice::Iter<'_, Part>, kind: ScalarKind) -> Shape {
        match parts.next() {
            Some(p) => self.scalar_at(*p, kind),
            None => Shape::Unavailable("no location".into()),
        }
    }

    fn scalar_at(&mut self, p: Part, kind: ScalarKind) -> Shape {
        match self.push(OP_SCALAR, p.size as u8, 0, Access::Direct(p.loc), None, 8) {
            Some(op) => Shape::Scalar {
                op,
                kind,
                size: p.size as u8,
            },
            None => self.full("value"),
        }
    }

    fn full(&mut self, name: &str) -> Shape {
        self.fails += 1;
        let why =
            format!("more than {MAX_OPS} captures or {MAX_DATA} bytes at one site; narrow `args:`");
        // An extra that does not fit is simply left out.
        if !self.extra {
            self.full_hit = true;
            self.warnings.push(format!("{name}: {why}"));
        }
        Shape::Unavailable(why)
    }

    /// Appends an op; None when the recipe is full.
    fn push(
        &mut self,
        kind: u8,
        size: u8,
        max_len: u16,
        a: Access,
        len: Option<Loc>,
        bytes: u32,
    ) -> Option<usize> {
        let n = self.recipe.n_ops as usize;
        let (ro, rb) = if self.extra { self.reserve } else { (0, 0) };
        if n + ro as usize >= MAX_OPS || self.data_bytes + bytes + rb > MAX_DATA {
            self.fails += 1;
            if !self.extra {
                self.full_hit = true;
            }
            return None;
        }
        let mut op = RawOp {
            kind: if kind == OP_GROUP { OP_ELEMS } else { kind },
            size,
            max_len,
            b: len.map(raw_loc).unwrap_or_default(),
            ..RawOp::default()
        };
        match a {
            Access::Direct(loc) => op.a = raw_loc(loc),
            Access::Mem(m) => {
                op.indirect = if matches!(kind, OP_BYTES | OP_GROUP) {
                    ADDR_ONLY
                } else {
                    1
                };
                op.a = match m.base {
                    Base::At(l) => raw_loc(l),
                    Base::Elem => RawLoc {
                        kind: LOC_ELEM,
                        ..RawLoc::default()
                    },
                };
                op.n_hops = m.hops.len() as u8;
                for (slot, h) in op.hops.iter_mut().zip(&m.hops) {
                    *slot = *h as i32;
                }
                op.mem_off = m.off as i32;
            }
        }
        self.recipe.ops[n] = op;
        self.recipe.n_ops += 1;
        self.data_bytes += bytes;
        Some(n)
    }
}

/// One swiss-table slot's layout: {key, value} and how deep to show them.
struct MapSlot {
    key: TypeId,
    value: TypeId,
    /// Offset of the value in the slot.
    elem_off: u64,
    /// Bytes per slot.
    size: u64,
    depth: u32,
}

/// A larger map's first group, planned once everything else is.
struct PendingGroup {
    /// The map's `dirLen` op: names its `MapEntries::Group`.
    dir_len_op: usize,
    at: Mem,
    slot: MapSlot,
    name: String,
}

/// Gives the map whose `dirLen` op is `dir_len_op` its first group.
fn set_first_group(s: &mut Shape, dir_len_op: usize, first: &mut Option<(usize, Shape)>) {
    match s {
        Shape::Map {
            entries: Some(e), ..
        } => {
            if let MapEntries::Group {
                dir_len_op: d,
                first: f,
                ..
            } = e.as_mut()
            {
                if *d == dir_len_op {
                    *f = first.take().map(Box::new);
                }
            }
        }
        Shape::Struct(fields) => {
            for (_, f) in fields {
                set_first_group(f, dir_len_op, first);
            }
        }
        Shape::Array(items) => {
            for i in items {
                set_first_group(i, dir_len_op, first);
            }
        }
        Shape::Pointer { pointee, .. } => set_first_group(pointee, dir_len_op, first),
        _ => {}
    }
}

/// A point in planning to return to when a tentative plan does not fit.
struct Checkpoint {
    recipe: RawRecipe,
    data_bytes: u32,
    full_hit: bool,
    warnings: usize,
    pending_groups: usize,
}

/// Where the elements of an `OP_ELEMS`/`OP_GROUP` op are.
enum Elements {
    /// A slice: its {array, len} and its cap.
    Slice {
        array: Access,
        len: Option<Loc>,
        cap: Access,
    },
    /// `count` elements from `at`.
    Group { at: Mem, count: u32 },
}

/// Where a value in memory is: the pointer word `base` (a register or
/// stack slot at the probe), pointer loads at the offsets `hops`, then
/// `off` bytes further.
#[derive(Debug, Clone, PartialEq)]
struct Mem {
    base: Base,
    hops: Vec<i64>,
    off: i64,
}

/// Where a chain of pointer loads starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Base {
    /// The word in a register or stack slot at the probe.
    At(Loc),
    /// The address of the current element of an `OP_ELEMS` slice.
    Elem,
}

impl Mem {
    /// The memory a pointer stored here points at; None past MAX_HOPS.
    fn follow(&self) -> Option<Mem> {
        if self.hops.len() >= MAX_HOPS {
            return None;
        }
        let mut hops = self.hops.clone();
        hops.push(self.off);
        Some(Mem {
            base: self.base,
            hops,
            off: 0,
        })
    }
}

/// How an op reaches its value.
#[derive(Debug, Clone, PartialEq)]
enum Access {
    /// A register or stack slot at the probe.
    Direct(Loc),
    /// Memory, through pointers.
    Mem(Mem),
}

impl Access {
    /// The value `off` bytes into what the pointer held here points at.
    fn follow_to(self, off: i64) -> Option<Access> {
        let m = match self {
            Access::Direct(base) => Mem {
                base: Base::At(base),
                hops: Vec::new(),
                off,
            },
            Access::Mem(m) => Mem { off, ..m.follow()? },
        };
        Some(Access::Mem(m))
    }
}

/// The memory image decoder of `ty`, when it has no pointer to follow.
pub fn image(types: &TypeTable, ty: TypeId) -> Option<Image> {
    let t = types.get(ty);
    let size = t.size as u8;
    Some(match &t.kind {
        Kind::Int { signed: false } if t.size == 1 => Image::Byte,
        Kind::Bool => Image::Scalar(ScalarKind::Bool, size),
        Kind::Int { signed: true } => Image::Scalar(ScalarKind::Int, size),
        Kind::Int { signed: false } => Image::Scalar(ScalarKind::Uint, size),
        Kind::Float => Image::Scalar(ScalarKind::Float, size),
        Kind::Complex => {
            let half = t.size / 2;
            let f = Image::Scalar(ScalarKind::Float, half as u8);
            Image::Struct(vec![
                ("real".into(), 0, f.clone()),
                ("imag".into(), half, f),
            ])
        }
        Kind::Pointer { .. } | Kind::UnsafePointer => Image::Scalar(ScalarKind::Pointer, 8),
        Kind::Struct { fields } => Image::Struct(
            fields
                .iter()
                .map(|f| Some((f.name.clone(), f.offset, image(types, f.ty)?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        Kind::Array { elem, len } => {
            Image::Array(Box::new(image(types, *elem)?), *len, types.get(*elem).size)
        }
        _ => return None,
    })
}

/// Consumes the parts of a value that is not captured.
fn skip(types: &TypeTable, ty: TypeId, parts: &mut std::slice::Iter<'_, Part>) {
    let n = match &types.get(ty).kind {
        Kind::String | Kind::Interface { .. } | Kind::Complex => 2,
        Kind::Slice { .. } => 3,
        Kind::Struct { fields } => {
            for f in fields {
                skip(types, f.ty, parts);
            }
            0
        }
        Kind::Array { elem, len } => {
            for _ in 0..*len {
                skip(types, *elem, parts);
            }
            0
        }
        Kind::Unsupported(_) => 0,
        _ => 1,
    };
    for _ in 0..n {
        parts.next();
    }
}

fn raw_loc(l: Loc) -> RawLoc {
    match l {
        Loc::IntReg(r) => RawLoc {
            kind: LOC_REG,
            reg: r,
            _pad: 0,
            offset: 0,
        },
        Loc::Stack(o) => RawLoc {
            kind: LOC_STACK,
            reg: 0,
            _pad: 0,
            offset: o as i32,
        },
        // Never emitted: float registers become Shape::Unavailable.
        Loc::FloatReg(_) => RawLoc::default(),
    }
}

/// What an indirect op reads, C-like: `*(*(RCX+16)+56)` is the value 56
/// bytes past the pointer stored 16 bytes past the one in RCX.
fn describe_op(op: &RawOp) -> Option<String> {
    if op.indirect == 0 {
        return None;
    }
    let base = match op.a.kind {
        LOC_REG => Loc::IntReg(op.a.reg),
        LOC_STACK => Loc::Stack(i64::from(op.a.offset)),
        _ => return None,
    };
    let mut s = base.to_string();
    for h in &op.hops[..usize::from(op.n_hops).min(MAX_HOPS)] {
        s = format!("*({s}+{h})");
    }
    Some(format!("*({s}+{})", op.mem_off))
}

/// `RAX`, `RBX+RCX`, `8(SP)…24(SP)` for display.
fn describe(parts: &[Part]) -> String {
    match parts {
        [] => "-".into(),
        [p] => p.loc.to_string(),
        _ if matches!(parts[0].loc, Loc::Stack(_)) => {
            format!("{}…{}", parts[0].loc, parts[parts.len() - 1].loc)
        }
        _ => parts
            .iter()
            .map(|p| p.loc.to_string())
            .collect::<Vec<_>>()
            .join("+"),
    }
}
