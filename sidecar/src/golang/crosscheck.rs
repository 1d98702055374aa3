//! The register ABI assignment as DWARF confirms it: gotel derives each
//! parameter's registers from its types (`abi.rs`) and checks them against
//! the compiler's own location lists at the function's entry.

use std::collections::HashMap;

use super::{abi, dwarf, local_name, types, without_type_args, AnalysisError, BinaryInfo};
use super::{Function, Param};

/// DWARF's location at entry of each argument of each function, indexed
/// like `dwarf.functions` and then in the order of [`Function::args`]: what
/// the ABI cross-check compares, kept for later plans without the names
/// and other entries of [`BinaryInfo::entry_locations`] (a third of its size).
/// In three flat lists: a list per function and per argument cost an
/// allocation each (twice the size of what they held, on cmd/go).
#[derive(Debug, Clone, Default)]
pub(super) struct ArgLocations {
    /// Per function: its arguments' slots in `args`; None while DWARF
    /// lists no parameter at its entry.
    functions: Vec<Option<std::ops::Range<u32>>>,
    args: Vec<Slot>,
    /// The pieces of every location found, one after the other.
    pieces: Vec<abi::Loc>,
}

/// What DWARF says of one argument at its function's entry.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Not listed (yet: a later entry of the same name may fill it).
    Unlisted,
    /// Listed, without a location at the entry.
    Nowhere,
    /// In `pieces[start..end]`.
    At(u32, u32),
}

impl ArgLocations {
    /// The location of each argument of function `i` (None for those
    /// without one); None when DWARF lists no parameter at its entry.
    fn of(&self, i: usize) -> Option<impl Iterator<Item = Option<&[abi::Loc]>>> {
        let range = self.functions.get(i)?.clone()?;
        let args = &self.args[range.start as usize..range.end as usize];
        Some(args.iter().map(|s| match *s {
            Slot::At(start, end) => Some(&self.pieces[start as usize..end as usize]),
            Slot::Unlisted | Slot::Nowhere => None,
        }))
    }
}

impl BinaryInfo {
    /// DWARF's own view of each parameter's location at each function's
    /// entry, keyed by low_pc: the cross-check for [`abi::assign`]. Read
    /// from the file at each call; [`BinaryInfo::abi_disagreement`] keeps
    /// what it needs of it.
    pub fn entry_locations(
        &self,
    ) -> Result<HashMap<u64, Vec<dwarf::EntryLocation>>, AnalysisError> {
        let file = object::File::parse(self.data.bytes())
            .map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
        let locs = dwarf::entry_locations(&file, &|| self.data.release());
        self.data.release();
        locs
    }

    /// The inlined instances of the function named `name`, read from the
    /// file at each call (only the functions being planned need them).
    pub fn inlined_instances(
        &self,
        name: &str,
    ) -> Result<Vec<dwarf::InlinedInstance>, AnalysisError> {
        let file = object::File::parse(self.data.bytes())
            .map_err(|e| AnalysisError::Dwarf(e.to_string()))?;
        let found = dwarf::inlined_instances(&file, &|| self.data.release(), name);
        self.data.release();
        let mut found = found?;
        let pcs: Vec<u64> = found.iter().map(|i| i.entry_pc).collect();
        dwarf::frame_slots(&mut found, &self.sp_deltas(&pcs));
        Ok(found)
    }

    /// [`ArgLocations`], computed on first use and kept.
    fn arg_locations(&self) -> Option<&ArgLocations> {
        self.entry_locs
            .get_or_init(|| {
                // The full map is several times the part kept (see `apart`).
                super::apart(|| self.arg_locations_now(), |l| l.clone())
            })
            .as_ref()
    }

    fn arg_locations_now(&self) -> Option<ArgLocations> {
        let functions = &self.dwarf.functions;
        let mut by_low: Vec<(u64, usize)> = functions
            .iter()
            .enumerate()
            .map(|(i, f)| (f.low_pc, i))
            .collect();
        by_low.sort_unstable();
        // Per function: None while DWARF lists no parameter at its low_pc;
        // then per argument, the first location listed under its name
        // (what a search of `entry_locations`' list would find), streamed
        // instead of keeping every location of every function.
        // At most every argument of every function, a piece or so each:
        // sized once, instead of doubling (and twice the size for a moment).
        let args = functions.iter().map(|f| f.args().count()).sum();
        let mut found = ArgLocations {
            functions: vec![None; functions.len()],
            args: Vec::with_capacity(args),
            pieces: Vec::with_capacity(args),
        };
        let file = object::File::parse(self.data.bytes()).ok()?;
        let read = dwarf::each_entry_location(&file, &|| self.data.release(), &mut |low, l| {
            let start = by_low.partition_point(|(at, _)| *at < low);
            for &(_, i) in by_low[start..].iter().take_while(|(at, _)| *at == low) {
                let f = &functions[i];
                let args = &mut found.args;
                let slots = found.functions[i].get_or_insert_with(|| {
                    let start = args.len() as u32;
                    args.extend(f.args().map(|_| Slot::Unlisted));
                    start..args.len() as u32
                });
                let slots = &mut args[slots.start as usize..slots.end as usize];
                for (slot, p) in slots.iter_mut().zip(f.args()) {
                    if matches!(slot, Slot::Unlisted) && *l.name == *p.name {
                        *slot = match &l.pieces {
                            Some(pieces) => {
                                let start = found.pieces.len() as u32;
                                found.pieces.extend_from_slice(pieces);
                                Slot::At(start, found.pieces.len() as u32)
                            }
                            None => Slot::Nowhere,
                        };
                    }
                }
            }
        });
        self.data.release();
        read.ok()?;
        Some(found)
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

    /// Compares the derived ABI locations of `f`'s arguments with DWARF's
    /// locations at its entry; returns the first disagreement. Go before
    /// 1.22 omits blank (`_`) and unnamed parameters from DWARF, which
    /// shows up here as every later argument sitting one slot further on.
    pub fn abi_disagreement(&self, f: &Function, assigned: &abi::Assignment) -> Option<String> {
        // The table is sorted by name, then address.
        let i = self
            .dwarf
            .functions
            .binary_search_by(|g| g.name.cmp(&f.name).then(g.low_pc.cmp(&f.low_pc)))
            .ok()?;
        let by_arg = self.arg_locations()?.of(i)?;
        for ((p, parts), pieces) in f.args().zip(&assigned.args).zip(by_arg) {
            // Unnamed parameters (`~p0`) are untracked by the compiler: Go
            // 1.27 gives them a placeholder location (the bare CFA) even
            // when they arrive in registers.
            // Go 1.27 places the listed dictionary of a generic body at
            // its spill slot from the first instruction on.
            if p.name.starts_with('~') || p.is_dictionary() {
                continue;
            }
            let Some(pieces) = pieces else {
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
                    let mut d = pieces.to_vec();
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
}
