//! The register ABI assignment as DWARF confirms it: gotel derives each
//! parameter's registers from its types (`abi.rs`) and checks them against
//! the compiler's own location lists at the function's entry.

use std::collections::HashMap;

use super::{abi, dwarf, local_name, types, without_type_args, AnalysisError, BinaryInfo};
use super::{Function, Param};

impl BinaryInfo {
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
}
