//! Inlined sites: one entry-only plan per inlined instance of a probed
//! function, probed at the instance's first instruction, capturing the
//! arguments DWARF locates there (registers, or slots of the caller's
//! frame), each other argument `unavailable` with DWARF's reason.
//!
//! There is no call there, so no RET of its own: an inlined site gives no
//! results. Where every way out of its code is known (`golang::exits`),
//! each exit is probed as a return site would be, and the call is timed;
//! otherwise the site is entry only, and `untimed` says why. Its recipes
//! are ordinary entry and return recipes: the BPF side needs nothing new.

use crate::config::ProbeSpec;
use crate::golang::abi::{self, Loc, Part};
use crate::golang::dwarf::{InlinedInstance, InlinedParam};
use crate::golang::types::TypeId;
use crate::golang::{BinaryInfo, Function};
use crate::recipe::{SITE_ENTRY, SITE_RETURN};

use super::builder::Builder;
use super::contract::{Plan, Shape, Value};
use super::secrets::Secrets;

/// Inlined sites a probe attaches at most, per function: each is one
/// uprobe and one recipe (the kernel holds 4096 recipes in all).
pub const MAX_INLINED_SITES: usize = 64;

/// Why a function's inlined sites could not be planned (a note on the
/// probe, not a failure of its out-of-line copy).
#[derive(Debug, thiserror::Error)]
pub enum InlinedError {
    /// DWARF could not be read again for the instances.
    #[error("inlined sites of {function} not read: {why}")]
    Dwarf {
        /// The function.
        function: String,
        /// What failed.
        why: String,
    },
}

/// The inlined sites of the function `name` (`f`: its out-of-line copy,
/// whose parameters' types the sites share), each an entry-only plan, and
/// the notes on those left out.
pub fn inlined_plans(
    bin: &BinaryInfo,
    spec: &ProbeSpec,
    name: &str,
    f: Option<&Function>,
) -> Result<(Vec<Plan>, Vec<String>), InlinedError> {
    let found = bin
        .inlined_instances(name)
        .map_err(|e| InlinedError::Dwarf {
            function: name.to_string(),
            why: e.to_string(),
        })?;
    let mut notes = Vec::new();
    // With an out-of-line copy, its own warning says how many are probed.
    if f.is_none() && found.len() > MAX_INLINED_SITES {
        notes.push(format!(
            "{name} is inlined at {} sites: only the first {MAX_INLINED_SITES} are probed",
            found.len()
        ));
    }
    let secrets = Secrets::of(bin, &spec.redact);
    let mut plans = Vec::new();
    for inst in found.iter().take(MAX_INLINED_SITES) {
        let at = format!("{}:{}", inst.caller, inst.call_line);
        if !bin.is_instruction_start(inst.entry_pc) {
            notes.push(format!(
                "inlined site in {at} not probed: its start {:#x} is not the first byte of an instruction",
                inst.entry_pc
            ));
            continue;
        }
        let Some(entry_offset) = bin.file_offset(inst.entry_pc) else {
            notes.push(format!(
                "inlined site in {at} not probed: its start {:#x} is not in an executable segment",
                inst.entry_pc
            ));
            continue;
        };
        match site_plan(bin, spec, &secrets, name, f, inst, entry_offset) {
            Ok(p) => plans.push(p),
            Err(why) => notes.push(format!("inlined site in {at} not probed: {why}")),
        }
    }
    Ok((plans, notes))
}

/// The entry-only plan of one inlined instance.
fn site_plan(
    bin: &BinaryInfo,
    spec: &ProbeSpec,
    secrets: &Secrets,
    name: &str,
    f: Option<&Function>,
    inst: &InlinedInstance,
    entry_offset: u64,
) -> Result<Plan, String> {
    if spec.when_return.is_some() {
        return Err(
            "when_return reads results or the duration, which an inlined site does not give".into(),
        );
    }
    let types = &bin.dwarf.types;
    let g = bin.g_offsets();
    let g = (g.goid as u32, g.stack_hi as u32);
    let mut b = Builder::new(
        (types, secrets),
        bin.dwarf.layout,
        SITE_ENTRY,
        g,
        spec,
        true,
    );
    let args: Vec<&InlinedParam> = inst
        .params
        .iter()
        .filter(|p| !p.is_result && p.name != ".dict")
        .collect();
    if let Some(want) = &spec.args {
        for w in want {
            let root = w.split('.').next().unwrap_or(w);
            if !args.iter().any(|p| p.name == root) {
                return Err(format!("it has no argument {root}"));
            }
        }
    }
    for p in &args {
        let paths: Vec<&str> = match &spec.args {
            None => vec![&p.name],
            Some(w) => w
                .iter()
                .map(String::as_str)
                .filter(|n| n.split('.').next() == Some(&p.name))
                .collect(),
        };
        let ty = type_of(bin, f, p);
        for path in paths {
            let value = match (&p.location, ty) {
                (Err(why), _) => unavailable(path, p, why),
                (Ok(_), None) => unavailable(
                    path,
                    p,
                    "its type at this inlined site is not among those gotel resolved",
                ),
                (Ok(pieces), Some(ty)) => match parts(bin, ty, pieces) {
                    Ok(parts) => b.value(path, &p.name, ty, &parts),
                    Err(why) => unavailable(path, p, &why),
                },
            };
            b.push_value(value, &[]);
        }
    }
    b.entry_args = b.values.len();
    b.budget.reserve_least((0, 0));
    b.crowded = b.budget.short();
    b.expand_pointers();
    b.expand_map_groups();
    let warnings = std::mem::take(&mut b.warnings);
    let entry = b.finish();
    let captured: Vec<String> = entry.values.iter().map(|v| v.name.clone()).collect();
    let when = super::function::condition(&spec.when, "when", name, &captured, "entry")
        .map_err(|e| e.to_string())?;
    // Timed where every way out of its code is known: a probe on each
    // exit ends the call its start began (same goroutine, same frame).
    let exits = match spec.entry_only() {
        true => Ok(Vec::new()),
        false => bin
            .inlined_exits(inst.entry_pc, &inst.ranges)
            .and_then(|e| {
                e.iter()
                    .map(|&a| {
                        bin.file_offset(a).ok_or_else(|| {
                            format!("its exit {a:#x} is not in an executable segment")
                        })
                    })
                    .collect()
            }),
    };
    let (ret_offsets, untimed) = match exits {
        Ok(e) => (e, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let mut ret = Builder::new(
        (types, secrets),
        bin.dwarf.layout,
        SITE_RETURN,
        g,
        spec,
        true,
    );
    if spec.returns && !ret_offsets.is_empty() {
        // Never `{}`, which would read as "returns nothing".
        ret.push_value(
            super::function::whole_list(
                "an inlined call's results are not read: DWARF does not locate them at its exits",
            ),
            &[],
        );
    }
    let ret = ret.finish();
    Ok(Plan {
        function: name.to_string(),
        signature: match f {
            Some(f) => crate::golang::signature(bin, f),
            None => format!("{name}(…) (inlined only)"),
        },
        entry_offset,
        ret_offsets,
        restart_offsets: Vec::new(),
        instant: false,
        entry_args: entry.values.len(),
        entry,
        ret,
        warnings,
        when,
        when_return: None,
        inlined_at: Some(format!("{}:{}", inst.caller, inst.call_line)),
        untimed,
        landings: None,
        arg_landings: None,
    })
}

/// The type of inlined parameter `p`: the out-of-line copy's parameter of
/// that name, else the one resolved type of that name (an inlined-only
/// function's types are resolved only when some signature reaches them).
fn type_of(bin: &BinaryInfo, f: Option<&Function>, p: &InlinedParam) -> Option<TypeId> {
    if let Some(f) = f {
        return f.args().find(|a| *a.name == p.name)?.ty;
    }
    let name = p.ty.as_deref()?;
    let types = &bin.dwarf.types;
    let mut found = (0..types.len()).filter(|&t| types.get(t).name == name);
    let first = found.next()?;
    // Two different types of one name (local types of two functions):
    // neither; copies of one type (resolved from two DIEs) are one.
    found
        .all(|t| types.get(t) == types.get(first))
        .then_some(first)
}

/// The ABI parts of a value of type `ty` placed at DWARF's `pieces`: the
/// layout is the register ABI's (a piece per part), the places DWARF's.
fn parts(bin: &BinaryInfo, ty: TypeId, pieces: &[(Loc, Option<u64>)]) -> Result<Vec<Part>, String> {
    let types = &bin.dwarf.types;
    let mut a = abi::assign(types, &[ty], &[]).map_err(|e| e.to_string())?;
    let mut parts = a.args.pop().unwrap_or_default();
    // One whole location for a one-word value, or one piece per part.
    let fits = parts.len() == pieces.len()
        && parts
            .iter()
            .zip(pieces)
            .all(|(p, (_, size))| size.is_none_or(|s| s == p.size));
    if !fits {
        return Err(format!(
            "DWARF's {} piece(s) at this inlined site do not match the {} part(s) of its type",
            pieces.len(),
            parts.len()
        ));
    }
    for (p, (loc, _)) in parts.iter_mut().zip(pieces) {
        p.loc = *loc;
    }
    Ok(parts)
}

fn unavailable(path: &str, p: &InlinedParam, why: &str) -> Value {
    Value {
        name: path.to_string(),
        ty: p.ty.clone().unwrap_or_else(|| "?".into()),
        location: "-".into(),
        shape: Shape::Unavailable(why.to_string()),
    }
}
