//! Runtime type descriptors (`_type`) of a binary: the dynamic type of an
//! interface value is a pointer to one, named through DWARF or, for types
//! DWARF leaves out, read from the file's type data.

use super::{read_vaddr, types, uvarint, BinaryInfo};

/// What a runtime `_type` says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeType {
    /// As `reflect.Type.String()` prints it.
    pub name: String,
    /// `reflect.Kind` (1 bool … 24 string, 25 struct).
    pub kind: u8,
    /// Size in bytes.
    pub size: u64,
}

impl BinaryInfo {
    /// The Go type whose runtime `_type` is at `addr` (a link-time
    /// address): its name and, when DWARF describes it, its DWARF type.
    pub fn runtime_type(&self, addr: u64) -> Option<(String, Option<types::TypeId>)> {
        let off = addr.checked_sub(self.types_base?)?;
        if let Some((n, id)) = self.dwarf.runtime_types.get(&off) {
            return Some((n.clone(), Some(*id)));
        }
        self.rtype(addr).map(|r| (r.name, None))
    }

    /// The DWARF type of the runtime type named `name`.
    pub fn runtime_type_named(&self, name: &str) -> Option<types::TypeId> {
        let m = self.rt_by_name.get_or_init(|| {
            self.dwarf
                .runtime_types
                .values()
                .map(|(n, id)| (n.clone(), *id))
                .collect()
        });
        m.get(name).copied()
    }

    /// The Go type whose runtime `_type` is at `addr` (a link-time address).
    pub fn runtime_type_name(&self, addr: u64) -> Option<String> {
        self.runtime_type(addr).map(|(n, _)| n)
    }

    /// Reads the runtime `_type` at `addr` from the file, for types DWARF
    /// leaves out (named types only converted to interfaces). Its layout
    /// (`internal/abi.Type`) is the same in every supported release: size
    /// at 0, kind at 23, the name's offset from `runtime.types` at 40.
    pub fn rtype(&self, addr: u64) -> Option<RuntimeType> {
        // The address comes from the traced program's memory: only an
        // aligned one inside the type data is a _type at all.
        let (start, end) = (self.types_base?, self.types_end?);
        if addr < start || addr.checked_add(48)? > end || !addr.is_multiple_of(8) {
            return None;
        }
        let mut cache = self.rtypes.lock().ok()?;
        if let Some(r) = cache.get(&addr) {
            return r.clone();
        }
        let r = self.read_rtype(addr);
        // Bounded: a program has a few thousand types.
        if cache.len() >= 16384 {
            cache.clear();
        }
        cache.insert(addr, r.clone());
        r
    }

    fn read_rtype(&self, addr: u64) -> Option<RuntimeType> {
        let file = object::File::parse(self.data.bytes()).ok()?;
        let t = read_vaddr(&file, addr, 48)?;
        let size = u64::from_le_bytes(t[0..8].try_into().ok()?);
        let tflag = t[20];
        let kind = t[23] & super::types::reflect_kind::MASK;
        let name_off = i32::from_le_bytes(t[40..44].try_into().ok()?);
        let name_at = self.types_base?.checked_add_signed(i64::from(name_off))?;
        // A name: one flag byte, a uvarint length, the bytes.
        let head = read_vaddr(&file, name_at, 11)?;
        let (len, n) = uvarint(&head[1..])?;
        if len == 0 || len > 4096 {
            return None;
        }
        let bytes = read_vaddr(&file, name_at + 1 + n as u64, len)?;
        let mut name = String::from_utf8_lossy(bytes).into_owned();
        // tflagExtraStar: the name is stored with a '*' for sharing.
        if tflag & 2 != 0 {
            name = name.strip_prefix('*')?.to_string();
        }
        Some(RuntimeType { name, kind, size })
    }
}
