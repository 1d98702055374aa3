//! Static analysis of a Go executable: a pure function of the file.
//!
//! Nothing here touches a process or the kernel, so every result can be
//! computed once per binary, cached, and tested on a file.

pub mod abi;
pub mod dwarf;
pub mod pclntab;
pub mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};

pub use dwarf::{Function, GOffsets, Param, RuntimeLayout};

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

/// Why a function name does not resolve to exactly one function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No such function.
    #[error("no function {name} in {binary}{}", did_you_mean(.suggestions))]
    NotFound {
        /// What the user asked for.
        name: String,
        /// The binary searched.
        binary: String,
        /// Near matches.
        suggestions: Vec<String>,
    },
    /// The short name matches several functions.
    #[error("function name {name} is ambiguous; use one of: {}", .candidates.join(", "))]
    Ambiguous {
        /// What the user asked for.
        name: String,
        /// The full names that match.
        candidates: Vec<String>,
    },
    /// The compiler inlined every call; there is no code to probe.
    #[error("function {name} is inlined at {sites} call site(s) and has no out-of-line copy to probe; mark it //go:noinline or probe its callers")]
    Inlined {
        /// The full name.
        name: String,
        /// Inlined call sites.
        sites: usize,
    },
}

fn did_you_mean(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", s.join(", "))
    }
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
    data: Arc<Vec<u8>>,
    entry_locs: std::sync::OnceLock<Result<HashMap<u64, Vec<dwarf::EntryLocation>>, String>>,
    /// (low_pc, high_pc, index into functions), sorted, built on first use.
    by_addr: std::sync::OnceLock<Vec<(u64, u64, usize)>>,
    /// Runtime type name → DWARF type, built on first use.
    rt_by_name: std::sync::OnceLock<HashMap<String, types::TypeId>>,
}

impl BinaryInfo {
    /// Reads and analyses the executable at `path`.
    pub fn open(path: &Path) -> Result<Self, AnalysisError> {
        let data = std::fs::read(path).map_err(|error| AnalysisError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(path, Arc::new(data))
    }

    fn parse(path: &Path, data: Arc<Vec<u8>>) -> Result<Self, AnalysisError> {
        let file = object::File::parse(&data[..]).map_err(|e| AnalysisError::NotElf {
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
        let symbol = |name: &str| {
            use object::ObjectSymbol;
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| s.address())
        };
        let types_base = symbol("runtime.types");
        let types_end = symbol("runtime.etypes");
        let pie = file.kind() == object::ObjectKind::Dynamic;
        let (mut dwarf, symbols_only) = match dwarf::read_file(&file) {
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
            rt_by_name: std::sync::OnceLock::new(),
        })
    }

    /// The `runtime.g` offsets (always present once `open` succeeded).
    pub fn g_offsets(&self) -> GOffsets {
        self.dwarf.g_offsets.expect("checked in open")
    }

    /// File offset of a link-time virtual address in an executable segment;
    /// this is what the kernel's uprobe API wants, for PIE and non-PIE alike.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| s.exec && vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz)
            .filter(|s| vaddr - s.vaddr < s.filesz)
            .map(|s| vaddr - s.vaddr + s.offset)
    }

    /// DWARF's own view of each parameter's location at each function's
    /// entry, keyed by low_pc: the cross-check for [`abi::assign`].
    /// Computed on first use and kept.
    pub fn entry_locations(
        &self,
    ) -> Result<&HashMap<u64, Vec<dwarf::EntryLocation>>, AnalysisError> {
        let r = self.entry_locs.get_or_init(|| {
            let file = object::File::parse(&self.data[..]).map_err(|e| e.to_string())?;
            dwarf::entry_locations(&file).map_err(|e| e.to_string())
        });
        r.as_ref().map_err(|e| AnalysisError::Dwarf(e.clone()))
    }

    /// The register ABI assignment of `f`'s parameters (types `args`,
    /// `results`), with DWARF's disagreement if any (see
    /// [`BinaryInfo::abi_disagreement`]).
    ///
    /// A shape-instantiated generic (`pkg.Max[go.shape.int]`) also takes a
    /// dictionary pointer that DWARF does not list: first for functions;
    /// for methods of generic types after the receiver since Go 1.20
    /// (unified IR) and before it earlier. The placement DWARF's own entry locations
    /// confirm is used; the version only orders the candidates.
    pub fn assign(
        &self,
        f: &Function,
        args: &[types::TypeId],
        results: &[types::TypeId],
    ) -> Result<(abi::Assignment, Option<String>), abi::AbiError> {
        // Go 1.27 lists the dictionary itself.
        let listed = f.args().any(Param::is_dictionary);
        let candidates: &[Option<usize>] = if listed || !f.name.contains("go.shape.") {
            &[None]
        } else if local_name(&without_type_args(&f.name)).contains(".func") {
            // Closures reach the dictionary through their context.
            &[None, Some(0)]
        } else if !local_name(&without_type_args(&f.name)).contains('.') {
            &[Some(0)]
        } else if self.go_minor().is_some_and(|m| m < 20) {
            &[Some(0), Some(1)]
        } else {
            &[Some(1), Some(0)]
        };
        let mut first = None;
        for &at in candidates {
            let a = abi::assign_after(&self.dwarf.types, at, args, results)?;
            match self.abi_disagreement(f, &a) {
                None => return Ok((a, None)),
                Some(why) if first.is_none() => first = Some((a, Some(why))),
                Some(_) => {}
            }
        }
        Ok(first.expect("at least one candidate"))
    }

    /// Address and size of the ELF symbol `name` (link-time).
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        use object::ObjectSymbol;
        let file = object::File::parse(&self.data[..]).ok()?;
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| (s.address(), s.size()))
    }

    /// The Go minor version (19 for go1.19.8), when known.
    pub fn go_minor(&self) -> Option<u32> {
        let v = self.go_version.as_deref()?.strip_prefix("go1.")?;
        v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    }

    /// Compares the derived ABI locations of `f`'s arguments with DWARF's
    /// locations at its entry; returns the first disagreement. Go before
    /// 1.22 omits blank (`_`) and unnamed parameters from DWARF, which
    /// shows up here as every later argument sitting one slot further on.
    pub fn abi_disagreement(&self, f: &Function, assigned: &abi::Assignment) -> Option<String> {
        let locs = self.entry_locations().ok()?.get(&f.low_pc)?;
        for (p, parts) in f.args().zip(&assigned.args) {
            // Unnamed parameters (`~p0`) are untracked by the compiler: Go
            // 1.27 gives them a placeholder location (the bare CFA) even
            // when they arrive in registers.
            // Go 1.27 places the listed dictionary of a generic body at
            // its spill slot from the first instruction on.
            if p.name.starts_with('~') || p.is_dictionary() {
                continue;
            }
            let Some(pieces) = locs
                .iter()
                .find(|l| l.name == p.name)
                .and_then(|l| l.pieces.as_ref())
            else {
                continue;
            };
            if pieces.is_empty() || parts.is_empty() {
                continue;
            }
            let ours: Vec<abi::Loc> = parts.iter().map(|p| p.loc).collect();
            let is_slice = p
                .ty
                .is_some_and(|t| matches!(self.dwarf.types.get(t).kind, types::Kind::Slice { .. }));
            let same = match pieces[0] {
                // DWARF names a stack-assigned value once, by its start;
                // for stack-assigned slices every Go release names the
                // second word (len) instead, while the code reads the
                // array pointer one word lower, as the ABI says.
                abi::Loc::Stack(_) => {
                    pieces[0] == ours[0] || (is_slice && ours.get(1) == Some(&pieces[0]))
                }
                _ => {
                    // Go 1.19–1.21 repeat register pieces of slices and
                    // interfaces (RAX, RAX, RBX, RCX for a 3-word slice).
                    let mut d = pieces.clone();
                    d.dedup();
                    d == ours
                }
            };
            if !same {
                return Some(format!(
                    "argument {} is in {} by DWARF but {} by the register ABI",
                    p.name,
                    pieces
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join("+"),
                    ours.iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join("+"),
                ));
            }
        }
        None
    }

    /// The function whose code contains `pc` (a link-time address).
    pub fn function_at(&self, pc: u64) -> Option<&Function> {
        let by_addr = self.by_addr.get_or_init(|| {
            let mut v: Vec<(u64, u64, usize)> = self
                .dwarf
                .functions
                .iter()
                .enumerate()
                .map(|(i, f)| (f.low_pc, f.high_pc, i))
                .collect();
            v.sort_unstable();
            v
        });
        let i = by_addr
            .partition_point(|&(low, _, _)| low <= pc)
            .checked_sub(1)?;
        let (low, high, idx) = by_addr[i];
        (pc >= low && pc < high).then(|| &self.dwarf.functions[idx])
    }

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
        let file = object::File::parse(&self.data[..]).ok()?;
        let t = read_vaddr(&file, addr, 48)?;
        let size = u64::from_le_bytes(t[0..8].try_into().ok()?);
        let tflag = t[20];
        let kind = t[23] & 0x1f;
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
        self.data.get(start..start + len)
    }

    /// Addresses of every RET instruction in `f`, decoded with a real x86
    /// decoder so that 0xC3 bytes inside other instructions are not taken.
    pub fn ret_sites(&self, f: &Function) -> Vec<u64> {
        use iced_x86::{Decoder, DecoderOptions, FlowControl};
        let Some(code) = self.code(f) else {
            return Vec::new();
        };
        let mut decoder = Decoder::with_ip(64, code, f.low_pc, DecoderOptions::NONE);
        let mut out = Vec::new();
        for ins in &mut decoder {
            if ins.flow_control() == FlowControl::Return {
                out.push(ins.ip());
            }
        }
        out
    }

    /// Every function a probe on `name` attaches to: the one [`lookup`]
    /// finds, or else, when `name` is a generic function or a method of a
    /// generic type written without type arguments (`pkg.Max`,
    /// `(*Stack).Push`), all of its shape instantiations.
    ///
    /// [`lookup`]: BinaryInfo::lookup
    pub fn lookup_all(&self, name: &str) -> Result<Vec<&Function>, LookupError> {
        let err = match self.lookup(name) {
            Ok(f) => return Ok(vec![f]),
            Err(e @ LookupError::NotFound { .. }) => e,
            Err(e) => return Err(e),
        };
        let mut bases: Vec<String> = Vec::new();
        let mut found = Vec::new();
        for f in &self.dwarf.functions {
            if !f.name.contains('[') {
                continue;
            }
            let base = without_type_args(&f.name);
            if base == name || short_match(&base, name) {
                if !bases.contains(&base) {
                    bases.push(base);
                }
                found.push(f);
            }
        }
        // Fully instantiated names (`main.(*Stack[int]).Push`) are
        // wrappers that call the shape body: probing both would report
        // each call twice.
        if found.iter().any(|f| f.name.contains("go.shape.")) {
            found.retain(|f| f.name.contains("go.shape."));
        }
        match bases.len() {
            0 => Err(err),
            1 => Ok(found),
            _ => Err(LookupError::Ambiguous {
                name: name.into(),
                candidates: bases,
            }),
        }
    }

    /// Finds a function by full name or unambiguous short form
    /// (`computeE`, `main.computeE`, `(*T).M`, `pkg.(*T).M`).
    pub fn lookup(&self, name: &str) -> Result<&Function, LookupError> {
        let funcs = &self.dwarf.functions;
        if let Ok(i) = funcs.binary_search_by(|f| f.name.as_str().cmp(name)) {
            return Ok(&funcs[i]);
        }
        let matches: Vec<&Function> = funcs
            .iter()
            .filter(|f| short_match(&f.name, name))
            .collect();
        match matches.len() {
            1 => return Ok(matches[0]),
            n if n > 1 => {
                return Err(LookupError::Ambiguous {
                    name: name.into(),
                    candidates: matches.iter().map(|f| f.name.clone()).collect(),
                })
            }
            _ => {}
        }
        if let Some((full, &sites)) = self
            .dwarf
            .inlined_only
            .iter()
            .find(|(full, _)| full.as_str() == name || short_match(full, name))
        {
            return Err(LookupError::Inlined {
                name: full.clone(),
                sites,
            });
        }
        Err(LookupError::NotFound {
            name: name.into(),
            binary: self.path.display().to_string(),
            suggestions: suggest(funcs.iter().map(|f| f.name.as_str()), name),
        })
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

/// The part of a symbol after its package path: `github.com/x/y.(*T).M` → `(*T).M`.
pub fn local_name(full: &str) -> &str {
    let after_slash = full.rfind('/').map_or(full, |i| &full[i + 1..]);
    // Package names contain no dots; the first dot ends the package.
    after_slash
        .find('.')
        .map_or(after_slash, |i| &after_slash[i + 1..])
}

/// `main.Max[go.shape.int]` → `main.Max`; `main.(*Stack[int]).Push` →
/// `main.(*Stack).Push`: the name as the user writes it in source.
pub fn without_type_args(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn short_match(full: &str, q: &str) -> bool {
    let local = local_name(full);
    if local == q {
        return true;
    }
    // pkg.local, with pkg the last path element.
    let after_slash = full.rfind('/').map_or(full, |i| &full[i + 1..]);
    after_slash == q
}

fn suggest<'a>(names: impl Iterator<Item = &'a str>, q: &str) -> Vec<String> {
    let ql = local_name(q).to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .map(|n| (strsim::jaro_winkler(&local_name(n).to_lowercase(), &ql), n))
        .filter(|(s, _)| *s > 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
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

/// Formats a function's Go signature: `main.greet(name string, times int) (string, int)`.
pub fn signature(bin: &BinaryInfo, f: &Function) -> String {
    let ty = |p: &Param| {
        p.ty.map(|t| bin.dwarf.types.get(t).name.clone())
            .unwrap_or_else(|| "?".into())
    };
    let args: Vec<String> = f
        .args()
        .filter(|p| !p.is_dictionary())
        .map(|p| format!("{} {}", p.name, ty(p)))
        .collect();
    let results: Vec<&Param> = f.results().collect();
    let res = match results.as_slice() {
        [] => String::new(),
        [r] if r.name.starts_with('~') => format!(" {}", ty(r)),
        rs => {
            let parts: Vec<String> = rs
                .iter()
                .map(|r| {
                    if r.name.starts_with('~') {
                        ty(r)
                    } else {
                        format!("{} {}", r.name, ty(r))
                    }
                })
                .collect();
            format!(" ({})", parts.join(", "))
        }
    };
    if bin.symbols_only {
        return format!("{}(…) (no DWARF: signature unknown)", f.name);
    }
    format!("{}({}){}", f.name, args.join(", "), res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_strip_the_package_path() {
        assert_eq!(local_name("main.computeE"), "computeE");
        assert_eq!(local_name("github.com/x/y.(*T).M"), "(*T).M");
        assert_eq!(
            local_name("net/http.(*ServeMux).ServeHTTP"),
            "(*ServeMux).ServeHTTP"
        );
        assert!(short_match("github.com/x/y.(*T).M", "y.(*T).M"));
        assert!(!short_match("main.computeEx", "computeE"));
    }

    #[test]
    fn type_arguments_are_dropped_at_every_depth() {
        assert_eq!(without_type_args("main.Max[go.shape.int]"), "main.Max");
        assert_eq!(
            without_type_args("main.(*Stack[go.shape.map[string]int]).Push"),
            "main.(*Stack).Push"
        );
        assert_eq!(without_type_args("main.plain"), "main.plain");
    }

    #[test]
    fn uvarint_decodes_multibyte() {
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
    }
}
