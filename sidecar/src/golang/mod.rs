//! Static analysis of a Go executable: a pure function of the file.
//!
//! Nothing here touches a process or the kernel, so every result can be
//! computed once per binary, cached, and tested on a file.

pub mod abi;
pub mod arg_landing;
mod crosscheck;
pub mod dwarf;
mod exits;
mod flow;
pub mod landing;
mod lookup;
mod mapping;
pub mod pcln;
pub mod pclntab;
mod rtype;
pub mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};

use mapping::Mapping;

pub use dwarf::{Function, GOffsets, Param, RuntimeLayout};
pub use lookup::{local_name, signature, without_type_args, LookupError};
pub use rtype::RuntimeType;

/// Why a binary or function cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not chained: shown once).
        error: std::io::Error,
    },
    /// Not an ELF file we understand.
    #[error("{path} is not an ELF executable: {why}")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        why: String,
    },
    /// Only x86-64 is supported so far.
    #[error("{path} is built for {arch}; gotel supports amd64 only")]
    Arch {
        /// The file.
        path: PathBuf,
        /// The architecture found.
        arch: String,
    },
    /// Neither Go's build info nor its function table: not a Go program.
    #[error("{path} is not a Go program (it has no Go build info and no Go function table); gotel traces Go binaries only")]
    NotGo {
        /// The file.
        path: PathBuf,
    },
    /// The binary was stripped or built with `-ldflags=-w`.
    #[error("the binary has no DWARF debug info (built with -ldflags=-w or stripped); rebuild without -w/-s to see arguments")]
    NoDwarf,
    /// No DWARF, and the fallback function table was unusable too.
    #[error("the binary has no DWARF debug info (built with -ldflags=-w or stripped), and its Go function table cannot be used ({0}); rebuild without -w/-s")]
    NoDwarfNoTable(String),
    /// The DWARF could not be parsed.
    #[error("malformed DWARF: {0}")]
    Dwarf(String),
    /// Built by a Go without the register ABI.
    #[error("{path} was built by {version}, which predates Go's register ABI (Go 1.17); gotel needs Go ≥ 1.17 on amd64")]
    StackAbi {
        /// The file.
        path: PathBuf,
        /// The Go version found.
        version: String,
    },
    /// `runtime.g` is missing from DWARF.
    #[error("runtime.g (goid, stack) not found in the binary's DWARF")]
    NoG,
    /// A Go release moved `runtime.g` fields beyond what the BPF program reads.
    #[error("runtime.g layout not supported: goid at offset {goid}, stack.hi at {stack_hi} (gotel reads the first {span} bytes of g); please report this Go version")]
    GLayout {
        /// `offsetof(runtime.g, goid)`.
        goid: u64,
        /// `offsetof(runtime.g, stack.hi)`.
        stack_hi: u64,
        /// Bytes read.
        span: u32,
    },
}

/// A PT_LOAD segment: how virtual addresses map to file offsets.
#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    exec: bool,
}

/// Everything gotel knows about one Go executable.
#[derive(Debug)]
pub struct BinaryInfo {
    /// Where it was read from.
    pub path: PathBuf,
    /// The Go version from `.go.buildinfo` (e.g. `go1.22.10`), if found.
    pub go_version: Option<String>,
    /// True when built with Go's register ABI.
    pub regabi: bool,
    /// Functions, types and runtime offsets from DWARF.
    pub dwarf: dwarf::DwarfInfo,
    /// Link-time address of `runtime.types`, the base of runtime type offsets.
    pub types_base: Option<u64>,
    /// `runtime.etypes`: where the type data ends.
    pub types_end: Option<u64>,
    /// Runtime types read so far, by address.
    rtypes: std::sync::Mutex<HashMap<u64, Option<RuntimeType>>>,
    /// No DWARF (stripped): functions come from `.gopclntab`, without
    /// parameters; only calls and latency can be captured.
    pub symbols_only: bool,
    /// True for position-independent executables (ET_DYN).
    pub pie: bool,
    segments: Vec<Segment>,
    /// The file, mapped: only what is read of it is in memory, and only
    /// until [`Mapping::release`].
    data: Mapping,
    /// What the ABI cross-check needs of DWARF's location lists, read on first use.
    entry_locs: std::sync::OnceLock<Option<crosscheck::ArgLocations>>,
    /// (low_pc, high_pc, index into functions), sorted, built on first use.
    by_addr: std::sync::OnceLock<Vec<(u64, u64, usize)>>,
    /// `.gopclntab`'s line tables, read on the first caller stack.
    lines: std::sync::OnceLock<Option<pcln::LineTable>>,
    /// Runtime type name → DWARF type, built on first use.
    rt_by_name: std::sync::OnceLock<HashMap<String, types::TypeId>>,
    /// Every direct call (target, return address), sorted, decoded on
    /// first use (`landing`).
    calls: std::sync::OnceLock<Vec<(u64, u64)>>,
}

impl BinaryInfo {
    /// Reads and analyses the executable at `path`.
    pub fn open(path: &Path) -> Result<Self, AnalysisError> {
        let data = Mapping::open(path).map_err(|error| AnalysisError::Io {
            path: path.to_owned(),
            error,
        })?;
        let keep = |r: Result<Self, _>| {
            r.map(|mut b| {
                b.dwarf = copy_dwarf(std::mem::take(&mut b.dwarf));
                b
            })
        };
        let b = apart(|| Self::parse(path, data), keep)?;
        // The DWARF and symbol pages are read; later reads (code, type
        // data) touch a few pages each.
        b.data.release();
        Ok(b)
    }

    fn parse(path: &Path, data: Mapping) -> Result<Self, AnalysisError> {
        let file = object::File::parse(data.bytes()).map_err(|e| AnalysisError::NotElf {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        if file.architecture() != object::Architecture::X86_64 {
            return Err(AnalysisError::Arch {
                path: path.to_owned(),
                arch: format!("{:?}", file.architecture()),
            });
        }
        let segments = file
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                let exec = matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0);
                Segment {
                    vaddr: s.address(),
                    memsz: s.size(),
                    offset,
                    filesz,
                    exec,
                }
            })
            .collect();
        let go_version = buildinfo_version(&file);
        // Every Go binary keeps its function table (the runtime needs it),
        // stripped or not; PIE builds of Go < 1.21 keep it in relocated data.
        let has_pclntab = [".gopclntab", ".data.rel.ro.gopclntab"]
            .iter()
            .any(|s| file.section_by_name(s).is_some());
        if go_version.is_none() && !has_pclntab {
            return Err(AnalysisError::NotGo {
                path: path.to_owned(),
            });
        }
        let symbol = |name: &str| {
            use object::ObjectSymbol;
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| s.address())
        };
        let types_base = symbol("runtime.types");
        let types_end = symbol("runtime.etypes");
        let pie = file.kind() == object::ObjectKind::Dynamic;
        let (mut dwarf, symbols_only) = match dwarf::read_file(&file, &|| data.release()) {
            Ok(d) => (d, false),
            Err(AnalysisError::NoDwarf) => (symbols_only(&file, go_version.as_deref())?, true),
            Err(e) => return Err(e),
        };
        drop_abi0_wrappers(&file, &mut dwarf.functions);
        let regabi = match &dwarf.producer {
            Some(p) => p.contains("regabi"),
            // No DWARF to say; Go ≥ 1.18 wrote the table gotel just read.
            None => symbols_only,
        };
        if !regabi {
            return Err(AnalysisError::StackAbi {
                path: path.to_owned(),
                version: go_version.clone().unwrap_or_else(|| "an unknown Go".into()),
            });
        }
        let g = dwarf.g_offsets.ok_or(AnalysisError::NoG)?;
        let span = u64::from(crate::recipe::G_SPAN);
        if g.goid < 8 || g.goid + 8 > span || g.stack_hi + 8 > g.goid {
            return Err(AnalysisError::GLayout {
                goid: g.goid,
                stack_hi: g.stack_hi,
                span: crate::recipe::G_SPAN,
            });
        }
        Ok(BinaryInfo {
            path: path.to_owned(),
            go_version,
            regabi,
            symbols_only,
            dwarf,
            types_base,
            types_end,
            rtypes: std::sync::Mutex::new(HashMap::new()),
            pie,
            segments,
            data,
            entry_locs: std::sync::OnceLock::new(),
            by_addr: std::sync::OnceLock::new(),
            lines: std::sync::OnceLock::new(),
            rt_by_name: std::sync::OnceLock::new(),
            calls: std::sync::OnceLock::new(),
        })
    }

    /// The `runtime.g` offsets (always present once `open` succeeded).
    pub fn g_offsets(&self) -> GOffsets {
        self.dwarf.g_offsets.expect("checked in open")
    }

    /// File offset of a link-time virtual address in an executable segment;
    /// this is what the kernel's uprobe API wants, for PIE and non-PIE alike.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        // Checked: a corrupt program header must not wrap an address.
        let s = self
            .segments
            .iter()
            .find(|s| s.exec && vaddr.checked_sub(s.vaddr).is_some_and(|d| d < s.memsz))?;
        let d = vaddr - s.vaddr;
        (d < s.filesz).then(|| d.checked_add(s.offset)).flatten()
    }

    /// Address and size of the ELF symbol `name` (link-time).
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        use object::ObjectSymbol;
        let file = object::File::parse(self.data.bytes()).ok()?;
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| (s.address(), s.size()))
    }

    /// The Go minor version (19 for go1.19.8), when known.
    pub fn go_minor(&self) -> Option<u32> {
        let v = self.go_version.as_deref()?.strip_prefix("go1.")?;
        v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    }

    /// How far a process loaded this executable from its link-time
    /// addresses: 0 unless PIE. `mapping_start` gives where the process
    /// mapped the file's offset 0 (read from /proc by the caller, and only
    /// for PIE), which is the lowest PT_LOAD, page-aligned.
    pub fn load_bias(&self, mapping_start: impl FnOnce() -> Option<u64>) -> Option<u64> {
        if !self.pie {
            return Some(0);
        }
        let lowest = self.segments.iter().map(|s| s.vaddr).min()? & !0xfff;
        mapping_start()?.checked_sub(lowest)
    }

    /// The machine code of `f`.
    pub fn code(&self, f: &Function) -> Option<&[u8]> {
        let start = self.file_offset(f.low_pc)? as usize;
        let len = f.high_pc.checked_sub(f.low_pc)? as usize;
        self.data.bytes().get(start..start + len)
    }

    /// The instructions of `f`, decoded with a real x86 decoder (so that
    /// bytes inside other instructions are never taken for one).
    pub fn instructions(&self, f: &Function) -> impl Iterator<Item = iced_x86::Instruction> + '_ {
        let code = self.code(f).unwrap_or_default();
        iced_x86::Decoder::with_ip(64, code, f.low_pc, iced_x86::DecoderOptions::NONE).into_iter()
    }

    /// Whether `addr` is the first byte of an instruction of the function
    /// holding it: a uprobe anywhere else would break the instruction it
    /// lands in.
    pub fn is_instruction_start(&self, addr: u64) -> bool {
        self.function_at(addr)
            .is_some_and(|f| self.instructions(f).any(|i| i.ip() == addr))
    }

    /// For each of `pcs`, how far below the entry's SP the function's SP
    /// is there (Go's `pcsp` table); None where it does not say.
    pub fn sp_deltas(&self, pcs: &[u64]) -> Vec<Option<u32>> {
        use object::{Object, ObjectSection};
        /// Lookups between two releases of the file's pages: each faults
        /// in a few 64 KiB windows of the table (the kernel maps the
        /// cached pages around each fault), so a function inlined at
        /// hundreds of sites would otherwise map megabytes of it.
        const BATCH: usize = 8;
        let file = object::File::parse(self.data.bytes()).ok();
        let tab = file.as_ref().and_then(|file| {
            let tab = file
                .section_by_name(".gopclntab")
                .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))?;
            let text = file.section_by_name(".text").map_or(0, |s| s.address());
            Some((tab.data().ok()?, text))
        });
        let Some((tab, text)) = tab else {
            return vec![None; pcs.len()];
        };
        pcs.chunks(BATCH)
            .flat_map(|batch| {
                let d = pclntab::sp_deltas(tab, text, batch)
                    .unwrap_or_else(|_| vec![None; batch.len()]);
                self.data.release();
                d
            })
            .collect()
    }

    /// Addresses of every RET instruction in `f`.
    pub fn ret_sites(&self, f: &Function) -> Vec<u64> {
        self.instructions(f)
            .filter(|i| i.flow_control() == iced_x86::FlowControl::Return)
            .map(|i| i.ip())
            .collect()
    }

    /// Addresses right after each call in `f` to `runtime.morestack` (or
    /// `morestack_noctxt`): where a prologue that had to grow the stack
    /// resumes, on the new stack, before jumping back to the entry.
    pub fn restart_sites(&self, f: &Function) -> Vec<u64> {
        self.instructions(f)
            .filter(|i| self.calls_morestack(i))
            .map(|i| i.next_ip())
            .collect()
    }

    /// Whether `ins` is a prologue's direct call of `runtime.morestack`
    /// (or `morestack_noctxt`).
    pub(crate) fn calls_morestack(&self, ins: &iced_x86::Instruction) -> bool {
        ins.is_call_near()
            && self
                .function_at(ins.near_branch_target())
                .is_some_and(|t| t.name.starts_with("runtime.morestack"))
    }
}

/// Runs `f` on a thread of its own and returns what `keep` makes of its
/// result. The analysis allocates several times what it keeps, in many
/// small pieces; glibc gives each thread its own arena, so those pieces do
/// not end up between the ones kept: `keep` copies what lives on, compactly,
/// into the caller's arena, and the thread's is given back whole.
fn apart<T: Send, U>(f: impl FnOnce() -> T + Send, keep: impl FnOnce(T) -> U) -> U {
    fix_mmap_threshold();
    let t = std::thread::scope(|s| match s.spawn(f).join() {
        Ok(t) => t,
        Err(panic) => std::panic::resume_unwind(panic),
    });
    // What the thread freed, before the copy adds to the peak.
    trim_heap();
    let u = keep(t);
    trim_heap();
    u
}

/// Gives freed memory back to the system: the allocator otherwise keeps
/// free chunks between live ones resident for as long as gotel runs.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keeps glibc's mmap threshold at its default. Freeing a large mapped
/// block (the analysis frees many MB of them) otherwise raises it to that
/// block's size for good, and the large buffers allocated later (plans,
/// ring buffers, their growing vectors) land in the heap, where freeing
/// them leaves holes: measured, 5 MiB more steady RSS for `run` on cmd/compile.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator tunable; 128 KiB is glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// A copy of `d` in the calling thread's arena (see [`apart`]), made a
/// piece at a time: each piece of `d` is freed, and its pages given back,
/// once copied, so that `d` and its copy are not both in memory whole.
/// The parameters' shared names are copied too, or they would keep the
/// pages they sit on in the other arena.
fn copy_dwarf(d: dwarf::DwarfInfo) -> dwarf::DwarfInfo {
    /// Functions copied between two trims: a few hundred KB.
    const BATCH: usize = 4096;
    let mut names = std::collections::HashSet::new();
    let mut functions = Vec::with_capacity(d.functions.len());
    for (i, f) in d.functions.into_iter().enumerate() {
        let params = f
            .params
            .iter()
            .map(|p| Param {
                name: dwarf::intern(&mut names, &p.name),
                ty: p.ty,
                is_result: p.is_result,
            })
            .collect();
        functions.push(Function {
            name: f.name.as_str().to_owned(),
            params,
            incomplete: f.incomplete.clone(),
            ..f
        });
        if i % BATCH == BATCH - 1 {
            trim_heap();
        }
    }
    trim_heap();
    let types = d.types.clone();
    drop(d.types);
    trim_heap();
    dwarf::DwarfInfo {
        functions,
        inlined_only: d.inlined_only.clone(),
        types,
        g_offsets: d.g_offsets,
        layout: d.layout,
        producer: d.producer.clone(),
        runtime_types: d.runtime_types.clone(),
    }
}

/// The analysis of a binary without DWARF: every function from
/// `.gopclntab`, no parameters or types, `runtime.g` offsets by Go release.
fn symbols_only(
    file: &object::File<'_>,
    version: Option<&str>,
) -> Result<dwarf::DwarfInfo, AnalysisError> {
    let no_table = |why: String| AnalysisError::NoDwarfNoTable(why);
    // PIE builds of Go < 1.21 keep it among the relocated read-only data.
    let tab = file
        .section_by_name(".gopclntab")
        .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))
        .ok_or_else(|| no_table("it has no .gopclntab section either".into()))?;
    let text = file
        .section_by_name(".text")
        .map(|s| s.address())
        .unwrap_or(0);
    let bytes = tab.data().map_err(|e| no_table(e.to_string()))?;
    let funcs = pclntab::functions(bytes, text).map_err(|e| no_table(e.to_string()))?;
    let minor = version
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse().ok());
    let goid = minor.and_then(pclntab::goid_offset).ok_or_else(|| {
        no_table(format!(
            "gotel does not know runtime.g's layout in {} without DWARF",
            version.unwrap_or("this Go release")
        ))
    })?;
    let mut functions: Vec<Function> = funcs
        .into_iter()
        .map(|f| Function {
            name: f.name,
            low_pc: f.entry,
            high_pc: f.end,
            params: Vec::new(),
            inlined_sites: 0,
            incomplete: None,
        })
        .collect();
    // Generic instantiations share one abbreviated name (`main.Max[...]`).
    functions.sort_by(|a, b| a.name.cmp(&b.name).then(a.low_pc.cmp(&b.low_pc)));
    functions.dedup_by(|a, b| a.name == b.name && a.low_pc == b.low_pc);
    Ok(dwarf::DwarfInfo {
        functions,
        g_offsets: Some(GOffsets { goid, stack_hi: 8 }),
        ..Default::default()
    })
}

/// Functions called from assembly have a second DWARF entry with the same
/// name: the ABI0 wrapper (ELF symbol `name.abi0`), which takes its
/// arguments on the stack. Keep the entry at the address of the ELF symbol
/// of that exact name, the ABIInternal body every Go caller reaches.
fn drop_abi0_wrappers(file: &object::File<'_>, funcs: &mut Vec<Function>) {
    use object::ObjectSymbol;
    let mut seen = std::collections::HashSet::new();
    let dups: std::collections::HashSet<String> = funcs
        .iter()
        .filter(|f| !seen.insert(f.name.as_str()))
        .map(|f| f.name.clone())
        .collect();
    if dups.is_empty() {
        return;
    }
    let addrs: HashMap<&str, u64> = file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?, s.address())))
        .filter(|(n, _)| dups.contains(*n))
        .collect();
    funcs.retain(|f| {
        !dups.contains(&f.name) || addrs.get(f.name.as_str()).is_none_or(|&a| a == f.low_pc)
    });
}

/// Reads the Go version string from `.go.buildinfo`.
fn buildinfo_version(file: &object::File<'_>) -> Option<String> {
    let sec = file.section_by_name(".go.buildinfo")?;
    let data = sec.data().ok()?;
    if data.len() < 32 || &data[..14] != b"\xff Go buildinf:" {
        return None;
    }
    let ptr_size = data[14] as usize;
    let flags = data[15];
    if flags & 2 != 0 {
        // Go ≥ 1.18: the version is inline, a uvarint length then bytes.
        let (len, n) = uvarint(&data[32..])?;
        let start = 32 + n;
        return std::str::from_utf8(data.get(start..start + len as usize)?)
            .ok()
            .map(str::to_owned);
    }
    // Older: pointer to a string header {ptr, len}.
    if ptr_size != 8 {
        return None;
    }
    let word = |b: &[u8]| -> Option<u64> { Some(u64::from_le_bytes(b.try_into().ok()?)) };
    let hdr_addr = word(data.get(16..24)?)?;
    let hdr = read_vaddr(file, hdr_addr, 16)?;
    let (p, l) = (word(&hdr[..8])?, word(&hdr[8..])?);
    let s = read_vaddr(file, p, l)?;
    String::from_utf8(s.to_vec()).ok()
}

fn read_vaddr<'d>(file: &object::File<'d>, addr: u64, len: u64) -> Option<&'d [u8]> {
    file.sections().find_map(|s| {
        let (a, sz) = (s.address(), s.size());
        if addr >= a && addr.checked_add(len)? <= a.checked_add(sz)? {
            let d = s.data().ok()?;
            d.get((addr - a) as usize..(addr - a + len) as usize)
        } else {
            None
        }
    })
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_decodes_multibyte() {
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
    }
}
