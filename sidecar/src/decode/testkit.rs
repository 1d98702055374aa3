//! Synthetic binaries and records for decode's unit tests: a type table
//! with runtime addresses, and record bytes laid out as the BPF program
//! writes them (block headers from the `RawDynBlock` mirror).

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use super::{GoValue, Names};
use crate::golang::types::{Field, GoType, Kind, TypeId, TypeTable};
use crate::plan::TypePlan;
use crate::plan::{Shape, SitePlan, Value};
use crate::recipe::{RawDynBlock, RawOp, RawRecipe, LOC_ELEM, OP_SCALAR};

/// A binary: DWARF types, the runtime `_type` addresses of some of them,
/// runtime kinds, functions and errno texts.
#[derive(Default)]
pub struct Fake {
    pub table: TypeTable,
    /// Runtime address → (name, DWARF type).
    pub rtypes: HashMap<u64, (String, Option<TypeId>)>,
    /// Runtime address → (reflect.Kind, size) of types DWARF lacks.
    pub kinds: HashMap<u64, (u8, u64)>,
    /// Runtime address → the recipe installed for it.
    pub plans: HashMap<u64, Arc<TypePlan>>,
    pub funcs: HashMap<u64, String>,
    pub errnos: HashMap<u64, String>,
    /// Names of DWARF types, for `type_named`.
    pub named: HashMap<String, TypeId>,
    /// Functions' [entry, end) and names, for `code_at`.
    pub code: Vec<(u64, u64, String)>,
}

impl Fake {
    /// Adds a DWARF type.
    pub fn add(&mut self, name: &str, size: u64, kind: Kind) -> TypeId {
        let id = self.table.push(GoType {
            name: name.into(),
            size,
            kind,
        });
        self.named.insert(name.into(), id);
        id
    }

    /// Adds struct `name` and `*name`; `*name` gets runtime address `rtype`.
    pub fn error_struct(
        &mut self,
        name: &str,
        rtype: u64,
        fields: &[(&str, u64, TypeId)],
    ) -> TypeId {
        let size = fields
            .last()
            .map_or(0, |(_, off, ty)| off + self.table.get(*ty).size);
        let fields = fields
            .iter()
            .map(|(n, offset, ty)| Field {
                name: (*n).into(),
                offset: *offset,
                ty: *ty,
            })
            .collect();
        let s = self.add(name, size, Kind::Struct { fields });
        let p = self.add(&format!("*{name}"), 8, Kind::Pointer { elem: Some(s) });
        self.runtime(rtype, p);
        p
    }

    /// Gives DWARF type `id` runtime address `rtype`.
    pub fn runtime(&mut self, rtype: u64, id: TypeId) {
        let name = self.table.get(id).name.clone();
        self.rtypes.insert(rtype, (name, Some(id)));
    }

    /// Installs the recipe of the type at `rtype`.
    pub fn install(&mut self, rtype: u64) -> Arc<TypePlan> {
        let id = self.rtypes[&rtype].1.expect("a DWARF type");
        let plan = Arc::new(
            crate::plan::plan_type(&self.table, id, 64, &crate::plan::Secrets::off())
                .expect("a recipe"),
        );
        self.plans.insert(rtype, plan.clone());
        plan
    }

    /// The basic types: (string, int, error, []byte).
    pub fn basics(&mut self) -> (TypeId, TypeId, TypeId, TypeId) {
        let string = self.add("string", 16, Kind::String);
        let int = self.add("int", 8, Kind::Int { signed: true });
        let error = self.add("error", 16, Kind::Interface { empty: false });
        let byte = self.add("uint8", 1, Kind::Int { signed: false });
        let bytes = self.add("[]uint8", 24, Kind::Slice { elem: Some(byte) });
        (string, int, error, bytes)
    }
}

impl Names for Fake {
    fn runtime_type(&self, rtype: u64) -> Option<(String, Option<TypeId>)> {
        self.rtypes.get(&rtype).cloned()
    }
    fn runtime_kind(&self, rtype: u64) -> Option<(u8, u64)> {
        self.kinds.get(&rtype).copied()
    }
    fn type_named(&self, name: &str) -> Option<TypeId> {
        self.named.get(name).copied()
    }
    fn type_table(&self) -> Option<&TypeTable> {
        Some(&self.table)
    }
    fn func_name(&self, pc: u64) -> Option<String> {
        self.funcs.get(&pc).cloned()
    }
    fn errno_text(&self, n: u64) -> Option<String> {
        self.errnos.get(&n).cloned()
    }
    fn code_at(&self, pc: u64) -> Option<(String, u64)> {
        let (entry, _, name) = self.code.iter().find(|(a, b, _)| (*a..*b).contains(&pc))?;
        Some((name.clone(), *entry))
    }
    fn dyn_plan(&self, rtype: u64) -> Option<Arc<TypePlan>> {
        self.plans.get(&rtype).cloned()
    }
}

/// A site op of `kind`; `size` is a scalar's bytes or an `OP_ELEMS`'s
/// element ops.
pub fn op(kind: u8, size: u8) -> RawOp {
    RawOp {
        kind,
        size,
        max_len: 64,
        ..RawOp::default()
    }
}

/// An element op (`LOC_ELEM`) of `kind`.
pub fn elem_op(kind: u8) -> RawOp {
    let mut o = op(kind, 8);
    o.a.kind = LOC_ELEM;
    o
}

/// A site capturing `ops`, showing `values` (name, shape).
pub fn site(ops: &[RawOp], values: Vec<(&str, Shape)>) -> SitePlan {
    let mut recipe = RawRecipe {
        n_ops: ops.len() as u8,
        ..RawRecipe::default()
    };
    recipe.ops[..ops.len()].copy_from_slice(ops);
    SitePlan {
        span: None,
        traceparent: None,
        stack: None,
        recipe,
        values: values
            .into_iter()
            .map(|(name, shape)| Value {
                name: name.into(),
                ty: "-".into(),
                location: "-".into(),
                shape,
            })
            .collect(),
    }
}

/// A one-op scalar site showing `shape`.
pub fn scalar_site(shape: Shape) -> SitePlan {
    site(&[op(OP_SCALAR, 8)], vec![("v", shape)])
}

/// Record data, written capture by capture.
#[derive(Default, Clone)]
pub struct Data(pub Vec<u8>);

impl Data {
    /// An `OP_SCALAR` word.
    pub fn word(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A u32 pair (an element's nil and fault bits).
    pub fn bits(&mut self, nil: u32, fault: u32) -> &mut Self {
        self.0.extend_from_slice(&nil.to_le_bytes());
        self.0.extend_from_slice(&fault.to_le_bytes());
        self
    }

    /// A string-like capture of length `len` of which `b` was copied.
    pub fn bytes_of(&mut self, len: u64, b: &[u8]) -> &mut Self {
        self.word(len);
        self.bits(b.len() as u32, 0);
        self.0.extend_from_slice(b);
        self.0.resize(self.0.len().div_ceil(8) * 8, 0);
        self
    }

    /// A string-like capture copied whole.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.bytes_of(b.len() as u64, b)
    }

    /// An `OP_STRINGS` or `OP_ELEMS` head: length and elements copied.
    pub fn head(&mut self, len: u64, n: u32) -> &mut Self {
        self.word(len);
        self.bits(n, 0)
    }

    /// One `OP_STRINGS` element; `fault`: it could not be read.
    pub fn string_elem(&mut self, b: &[u8], fault: bool) -> &mut Self {
        self.word(b.len() as u64);
        self.bits(b.len() as u32, u32::from(fault));
        self.0.extend_from_slice(b);
        self.0.resize(self.0.len().div_ceil(8) * 8, 0);
        self
    }

    /// A dynamic value's block header.
    pub fn block(&mut self, b: RawDynBlock) -> &mut Self {
        // SAFETY: RawDynBlock is repr(C) with integer fields and explicit
        // padding: all of its bytes are initialised.
        let raw = unsafe {
            std::slice::from_raw_parts(
                (&b as *const RawDynBlock).cast::<u8>(),
                size_of::<RawDynBlock>(),
            )
        };
        self.0.extend_from_slice(raw);
        self
    }
}

/// `v` as JSON.
pub fn json(v: &GoValue) -> serde_json::Value {
    serde_json::to_value(v).expect("serialises")
}

/// Decodes `data` with no masks, collecting the unplanned types met.
pub fn run(site: &SitePlan, data: &[u8], names: &Fake) -> (Vec<serde_json::Value>, Vec<u64>) {
    run_masked(site, data, (0, 0), names)
}

/// Decodes `data` with `masks`, collecting the unplanned types met.
pub fn run_masked(
    site: &SitePlan,
    data: &[u8],
    masks: (u32, u32),
    names: &Fake,
) -> (Vec<serde_json::Value>, Vec<u64>) {
    let mut met = Vec::new();
    let values = super::decode(site, data, masks, names, &mut |t: u64| {
        met.push(t);
        true
    });
    assert_eq!(values.len(), site.values.len());
    (values.iter().map(|(_, v)| json(v)).collect(), met)
}
