//! Go types as the capture planner and decoder need them, built from DWARF.

use std::fmt;

/// Index of a type in a [`TypeTable`].
pub type TypeId = usize;

/// A Go type with its size and the shape the register ABI cares about.
#[derive(Debug, Clone, PartialEq)]
pub struct GoType {
    /// The Go name as DWARF spells it (`int64`, `main.Celsius`, `*main.T`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// What kind of value it is.
    pub kind: Kind,
}

/// The structural kind of a Go type (mirrors `reflect.Kind`, minus detail we do not use).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `bool`.
    Bool,
    /// Any integer type, including `uintptr`, `byte` and `rune`.
    Int {
        /// True for int, int8 … int64.
        signed: bool,
    },
    /// `float32` or `float64`.
    Float,
    /// `complex64` or `complex128` (a pair of floats).
    Complex,
    /// `string`: {data pointer, length}.
    String,
    /// `*T`; `elem` is None when DWARF does not name the pointee.
    Pointer {
        /// The pointee type.
        elem: Option<TypeId>,
    },
    /// `unsafe.Pointer`.
    UnsafePointer,
    /// `[]T`: {array pointer, len, cap}.
    Slice {
        /// The element type.
        elem: Option<TypeId>,
    },
    /// `[N]T`.
    Array {
        /// The element type.
        elem: TypeId,
        /// Number of elements.
        len: u64,
    },
    /// A struct; fields in memory order.
    Struct {
        /// The fields with their byte offsets.
        fields: Vec<Field>,
    },
    /// An interface: {itab or type pointer, data pointer}.
    Interface {
        /// True for `interface{}` / `any` (runtime.eface).
        empty: bool,
    },
    /// `map[K]V` (a pointer to runtime.hmap, or to a swiss-table
    /// internal/runtime/maps.Map since Go 1.24).
    Map {
        /// The key type.
        key: Option<TypeId>,
        /// The value type.
        elem: Option<TypeId>,
    },
    /// `chan T` (a pointer to runtime.hchan).
    Chan,
    /// A func value (a pointer to a closure).
    Func,
    /// Something this version cannot capture; the string says what.
    Unsupported(String),
}

/// One struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field name (embedded fields carry the type's name).
    pub name: String,
    /// Byte offset within the struct.
    pub offset: u64,
    /// The field's type.
    pub ty: TypeId,
}

impl Field {
    /// A blank field (`_`: padding, `noCopy` markers, `atomic.Uint64`'s
    /// alignment): it holds nothing to show, and several in one struct
    /// would repeat a key in JSON and OTLP attributes. It still takes its
    /// place (and registers) in the struct's layout.
    pub fn is_blank(&self) -> bool {
        self.name == "_"
    }
}

/// All types reachable from the functions of one binary.
#[derive(Debug, Default, Clone)]
pub struct TypeTable {
    types: Vec<GoType>,
}

impl TypeTable {
    /// Adds a type and returns its id.
    pub fn push(&mut self, t: GoType) -> TypeId {
        self.types.push(t);
        self.types.len() - 1
    }

    /// Replaces a placeholder pushed before a recursive type was resolved.
    pub fn set(&mut self, id: TypeId, t: GoType) {
        self.types[id] = t;
    }

    /// The type with this id.
    pub fn get(&self, id: TypeId) -> &GoType {
        &self.types[id]
    }

    /// Number of types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// True when no type has been added.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

impl fmt::Display for GoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `reflect.Kind` numbers, as a runtime `_type` records them (its kind
/// byte masked with [`reflect_kind::MASK`]); see `RuntimeType::kind`.
pub mod reflect_kind {
    /// The runtime's `kindMask`: the kind byte's low bits; the high ones
    /// are flags (`kindDirectIface`, `kindGCProg` before Go 1.21).
    pub const MASK: u8 = 0x1f;
    /// `reflect.Bool`.
    pub const BOOL: u8 = 1;
    /// `reflect.Int`; `INT8` … `INT64` follow it.
    pub const INT: u8 = 2;
    /// `reflect.Int64`, the last signed integer kind.
    pub const INT64: u8 = 6;
    /// `reflect.Uint`; `UINT8` … `UINTPTR` follow it.
    pub const UINT: u8 = 7;
    /// `reflect.Uintptr`, the last unsigned integer kind.
    pub const UINTPTR: u8 = 12;
    /// `reflect.Float32`.
    pub const FLOAT32: u8 = 13;
    /// `reflect.Float64`.
    pub const FLOAT64: u8 = 14;
    /// `reflect.Pointer`.
    pub const POINTER: u8 = 22;
    /// `reflect.String`.
    pub const STRING: u8 = 24;
    /// `reflect.Struct`.
    pub const STRUCT: u8 = 25;
}
