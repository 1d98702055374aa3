//! What decoding needs to know about one traced process image: its
//! binary's types and functions at run-time addresses (PIE bias applied),
//! the recipes of its dynamic types, and its own `syscall.errors` table.

use std::sync::{Arc, OnceLock};

use super::pipeline::Lookups;
use super::type_recipes::BinaryTypes;
use crate::decode::Names;
use crate::golang::types::{TypeId, TypeTable};
use crate::golang::BinaryInfo;
use crate::plan::TypePlan;
use crate::proc::Memory;

/// Decoding lookups for one process running one analysed binary.
pub struct ProcessNames {
    /// The analysed executable.
    pub bin: Arc<BinaryInfo>,
    /// Runtime minus link-time addresses in this process (PIE).
    pub bias: u64,
    /// The process, whose memory holds `syscall.errors`.
    pub pid: u32,
    /// The binary's dynamic-type recipes.
    pub types: Arc<BinaryTypes>,
    /// `syscall.errors` of this process, read on first use.
    errnos: OnceLock<Option<Vec<Option<String>>>>,
}

impl ProcessNames {
    /// Lookups for process `pid`, which loaded `bin` at `bias`.
    pub fn new(bin: Arc<BinaryInfo>, bias: u64, pid: u32, types: Arc<BinaryTypes>) -> Self {
        ProcessNames {
            bin,
            bias,
            pid,
            types,
            errnos: OnceLock::new(),
        }
    }

    fn link_time(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.bias)
    }
}

impl Names for ProcessNames {
    fn runtime_type(&self, addr: u64) -> Option<(String, Option<TypeId>)> {
        self.bin.runtime_type(self.link_time(addr))
    }

    fn link_time(&self, pc: u64) -> u64 {
        pc.wrapping_sub(self.bias)
    }

    fn func_name(&self, pc: u64) -> Option<String> {
        self.bin
            .function_at(self.link_time(pc))
            .map(|f| f.name.clone())
    }

    fn code_at(&self, pc: u64) -> Option<(String, u64)> {
        let f = self.bin.function_at(self.link_time(pc))?;
        Some((f.name.clone(), f.low_pc.wrapping_add(self.bias)))
    }

    fn line_at(&self, pc: u64) -> Option<(String, u32)> {
        self.bin.file_line(self.link_time(pc))
    }

    fn type_table(&self) -> Option<&TypeTable> {
        Some(&self.bin.dwarf.types)
    }

    fn type_named(&self, name: &str) -> Option<TypeId> {
        self.bin.runtime_type_named(name)
    }

    fn runtime_kind(&self, addr: u64) -> Option<(u8, u64)> {
        let r = self.bin.rtype(self.link_time(addr))?;
        Some((r.kind, r.size))
    }

    fn dyn_plan(&self, addr: u64) -> Option<Arc<TypePlan>> {
        self.types.plan(self.link_time(addr))
    }

    fn errno_text(&self, n: u64) -> Option<String> {
        let table = self
            .errnos
            .get_or_init(|| errno_table(&self.bin, self.pid, self.bias))
            .as_ref()?;
        // As Errno.Error(): the table's text, else "errno N".
        match usize::try_from(n).ok().and_then(|i| table.get(i)) {
            Some(Some(t)) if !t.is_empty() => Some(t.clone()),
            Some(None) => None,
            _ => Some(format!("errno {}", n as i64)),
        }
    }
}

impl Lookups for ProcessNames {
    fn met(&self, addr: u64) -> bool {
        self.types.want(self.link_time(addr))
    }
}

/// The traced program's own `syscall.errors` table (what Errno.Error()
/// returns), read once from its memory: exact for its Go version and
/// platform. None when it cannot be read; None entries could not be.
fn errno_table(bin: &BinaryInfo, pid: u32, bias: u64) -> Option<Vec<Option<String>>> {
    let (addr, size) = bin.symbol("syscall.errors")?;
    let mem = Memory::open(pid)?;
    // At most a few hundred entries; refuse a bogus size.
    let mut headers = vec![0u8; size.min(16 * 4096) as usize];
    mem.read(addr.wrapping_add(bias), &mut headers)?;
    Some(
        headers
            .chunks_exact(16)
            .map(|h| {
                // A Go string header: data pointer, then length.
                let ptr = u64::from_le_bytes(h[..8].try_into().ok()?);
                let len = u64::from_le_bytes(h[8..].try_into().ok()?);
                if len == 0 {
                    return Some(String::new());
                }
                let mut b = vec![0u8; len.min(256) as usize];
                mem.read(ptr, &mut b)?;
                Some(String::from_utf8_lossy(&b).into_owned())
            })
            .collect(),
    )
}
