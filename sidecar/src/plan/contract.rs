//! The contract between the recipes and `decode`: how to turn the bytes
//! one site's ops captured back into Go values. Op indices here are the
//! indices of the ops in the site's `RawRecipe`.

use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::recipe::RawRecipe;

/// Bytes copied at an interface's data pointer: enough for the dynamic
/// values of most scalar, string and small struct types.
pub const DYN_HEAD: u32 = 64;

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
    /// there was room, copied the first [`DYN_HEAD`] bytes there, where
    /// the type's own recipe (see `type_recipe`) captures the rest.
    Interface {
        /// Op reading the `_type` address.
        type_op: usize,
        /// Op copying the bytes at the data pointer (`OPF_DYN`).
        head_op: Option<usize>,
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
        elem: Option<ByteLayout>,
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
    /// Not copied out of the program because its name matched
    /// `redact.names`; the outputs show this replacement in its place.
    Redacted(String),
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
pub enum ByteLayout {
    /// A scalar of this kind and size.
    Scalar(ScalarKind, u8),
    /// Struct fields at their offsets.
    Struct(Vec<(String, u64, ByteLayout)>),
    /// Array elements: element, count, element size.
    Array(Box<ByteLayout>, u64, u64),
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

impl Value {
    /// True for the one unnamed, unavailable value that stands for a whole
    /// list of arguments or results DWARF does not give: the outputs show
    /// it as `{"unavailable": reason}` in place of the list, never as an
    /// empty one.
    pub fn is_whole_list(&self) -> bool {
        self.name.is_empty() && matches!(self.shape, Shape::Unavailable(_))
    }
}

/// The capture program for one site kind (entry, or all RETs).
#[derive(Debug, Clone, PartialEq)]
pub struct SitePlan {
    /// The recipe for the BPF program.
    pub recipe: RawRecipe,
    /// The values, in output order.
    pub values: Vec<Value>,
    /// The op following the call's `context.Context` to the application's
    /// span (`OP_SPAN_CTX`), and what it reads (`ctx`, `r.ctx`).
    pub span: Option<(usize, String)>,
    /// The op reading an incoming W3C `traceparent` header
    /// (`OP_TRACEPARENT`), used when the context holds no span.
    pub traceparent: Option<(usize, String)>,
    /// The op walking the callers' frame pointers (`OP_STACK`, `stack:`).
    pub stack: Option<usize>,
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
    /// Entry-only probes: file offsets right after the prologue's call to
    /// `runtime.morestack`, where a restart is noted so that the entry
    /// run again is not taken for a second call (`SITE_RESTART`).
    pub restart_offsets: Vec<u64>,
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
    /// The probe's `when`: calls whose arguments fail it are not delivered.
    pub when: Option<std::sync::Arc<crate::condition::Condition>>,
    /// The probe's `when_return`, on arguments, results and `duration`.
    pub when_return: Option<std::sync::Arc<crate::condition::Condition>>,
    /// An inlined site's plan: the caller and line the function was
    /// inlined at, `main.handle:42`. Its `ret_offsets` are the site's exits
    /// (the call timed, no results), else it is probed at its start only.
    pub inlined_at: Option<String>,
    /// An inlined site probed at its start only while its probe wants
    /// results or latency: why its exits are not probed.
    pub untimed: Option<String>,
    /// Float results read at landing sites after the call (None: no
    /// float result in XMM, or `float_landing: false`).
    pub landings: Option<std::sync::Arc<Landings>>,
    /// Float arguments in XMM read in the function's body, where it moves
    /// them out (None: none readable, `float_landing: false`, or an
    /// entry-only probe).
    pub arg_landings: Option<std::sync::Arc<ArgLandings>>,
}

/// Float arguments in XMM, read where the callee moves them out (see
/// `golang::arg_landing`): each landing record joins the open call at the
/// frame its SP delta names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArgLandings {
    /// The landing recipes, each attached at its offsets.
    pub sites: Vec<ArgSite>,
    /// The float arguments read at some site.
    pub args: Vec<ArgRead>,
    /// What `gotel check` says of each float argument in XMM.
    pub report: Vec<String>,
}

/// A float argument read at landing sites in the callee.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgRead {
    /// Its index in `entry.values`.
    pub index: usize,
    /// `float64 argument in X0`.
    pub what: String,
    /// Why some paths keep it in XMM (None: every path moves it out).
    pub kept: Option<String>,
}

/// One argument-landing recipe: where it is attached, which arguments it
/// reads, and how far below the entry's SP its SP is there.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgSite {
    /// File offsets of the instructions it is attached at.
    pub offsets: Vec<u64>,
    /// Its recipe (`SITE_LANDING`) and values, one per argument it reads.
    pub site: SitePlan,
    /// For each of `site.values`: the index in `entry.values` it fills.
    pub args: Vec<usize>,
    /// SP delta from the entry at every one of `offsets` (`pcsp`): the
    /// call's frame is the record's minus this.
    pub delta: u64,
}

/// Float results in XMM, read where callers move them out (see
/// `golang::landing`): the return site notes where each call returns to,
/// which says which landing records follow it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Landings {
    /// The return recipe's op reading the return address (SP points at it
    /// at a RET).
    pub ret_addr_op: usize,
    /// The landing recipes, each attached at its offsets.
    pub sites: Vec<LandingSite>,
    /// Return address (link time) of each direct call → for each float
    /// result (index in `ret.values`), Ok: a landing record brings it; Err:
    /// why it is not readable after that call.
    pub calls: std::collections::HashMap<u64, Vec<CallSiteFloat>>,
    /// Per float result: (index in `ret.values`, its reason when the call
    /// returns elsewhere: a func value, an interface, assembly).
    pub floats: Vec<(usize, String)>,
    /// What `gotel check` says of each float result.
    pub report: Vec<String>,
}

/// One float result after one call site: (index in `ret.values`, Ok: a
/// landing record brings it, Err: why not).
pub type CallSiteFloat = (usize, Result<(), String>);

/// One landing recipe: where it is attached and which results it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct LandingSite {
    /// File offsets of the instructions it is attached at.
    pub offsets: Vec<u64>,
    /// Its recipe (`SITE_LANDING`) and values, one per result it reads.
    pub site: SitePlan,
    /// For each of `site.values`: the index in `ret.values` it fills.
    pub results: Vec<usize>,
}

impl Plan {
    /// Only the entry is probed (`returns: false`, `latency: false`): each
    /// call is delivered at its entry, untimed.
    pub fn entry_only(&self) -> bool {
        self.ret_offsets.is_empty() && !self.instant
    }
}

/// How to decode a `ty` from its bytes alone, when it has no pointer to follow.
pub fn byte_layout(types: &TypeTable, ty: TypeId) -> Option<ByteLayout> {
    let t = types.get(ty);
    let size = t.size as u8;
    Some(match &t.kind {
        Kind::Int { signed: false } if t.size == 1 => ByteLayout::Byte,
        Kind::Bool => ByteLayout::Scalar(ScalarKind::Bool, size),
        Kind::Int { signed: true } => ByteLayout::Scalar(ScalarKind::Int, size),
        Kind::Int { signed: false } => ByteLayout::Scalar(ScalarKind::Uint, size),
        Kind::Float => ByteLayout::Scalar(ScalarKind::Float, size),
        Kind::Complex => {
            let half = t.size / 2;
            let f = ByteLayout::Scalar(ScalarKind::Float, half as u8);
            ByteLayout::Struct(vec![
                ("real".into(), 0, f.clone()),
                ("imag".into(), half, f),
            ])
        }
        Kind::Pointer { .. } | Kind::UnsafePointer => ByteLayout::Scalar(ScalarKind::Pointer, 8),
        Kind::Struct { fields } => ByteLayout::Struct(
            fields
                .iter()
                .filter(|f| !f.is_blank())
                .map(|f| Some((f.name.clone(), f.offset, byte_layout(types, f.ty)?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        Kind::Array { elem, len } => ByteLayout::Array(
            Box::new(byte_layout(types, *elem)?),
            *len,
            types.get(*elem).size,
        ),
        _ => return None,
    })
}
