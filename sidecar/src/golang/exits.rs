//! The exits of an inlined instance: where control leaves its code for
//! good, so that a probe there ends the call its start began (its
//! latency).
//!
//! An instance is a set of address ranges inside its caller, often
//! interleaved with the caller's own code (a `Printf`'s argument set-up
//! scheduled between two halves of it). The caller is decoded whole (from
//! its start, so that no byte inside an instruction is taken for one) into
//! a graph of instructions. An edge out of the ranges is a **detour** when
//! every path from its target comes back into them without passing the
//! instance's start (the call is still running), and an **exit** when no
//! path does and some path ends the call (the start again, the caller's
//! RET); an edge whose every path panics is neither (the call does not
//! return). Only code reachable from the caller's start counts. An edge
//! that may come back or not leaves the instance untimed, as do the
//! caller's RET inside the ranges, an instruction moving SP (entry and
//! exit pair by frame, as a function's entry and RET do), an indirect jump
//! anywhere the paths go, a start that is also a loop head inside it, and
//! a way into it other than its start. A call of a runtime function that
//! never returns ends its path.

use std::collections::{BTreeSet, HashMap, HashSet};

use iced_x86::{FlowControl, Instruction, InstructionInfoFactory, Register};

use super::flow::{reach_all, Step, INDIRECT};
use super::landing::written;
use super::BinaryInfo;

/// Exits one inlined instance is timed by at most: each is a uprobe.
pub const MAX_EXITS: usize = 8;

impl BinaryInfo {
    /// The exits (link-time addresses, ascending) of the inlined instance
    /// starting at `start` whose code is `ranges`, or why it has none that
    /// time it exactly.
    pub fn inlined_exits(&self, start: u64, ranges: &[(u64, u64)]) -> Result<Vec<u64>, String> {
        let f = self
            .function_at(start)
            .ok_or("its start is in no function of the binary")?;
        let inside = |a: u64| ranges.iter().any(|&(lo, hi)| lo <= a && a < hi);
        let mut info = InstructionInfoFactory::new();
        let mut moves_sp = HashSet::new();
        let graph = self.flow(f, |ins| {
            let calls = matches!(
                ins.flow_control(),
                FlowControl::Call | FlowControl::IndirectCall
            );
            if inside(ins.ip()) && !calls && writes_sp(&mut info, ins) {
                moves_sp.insert(ins.ip());
            }
        });
        // A jump table may enter any of the caller's code: where a call
        // begins, and whether paths come back, cannot be told.
        if let Some((&at, _)) = graph.iter().find(|(_, s)| s.unknown == Some(INDIRECT)) {
            return Err(format!(
                "{} has an indirect jump (a jump table, at {at:#x}), which may enter its code anywhere",
                f.name
            ));
        }
        // Only code that runs: the bytes after a call that never returns
        // (padding, the morestack tail's neighbours) are no path.
        let live = reach_all(&graph, [f.low_pc]);
        let mut out = BTreeSet::new();
        for &ip in live.iter().filter(|&&a| inside(a)) {
            let s = &graph[&ip];
            if let Some(why) = &s.unknown {
                return Err(format!("{why} inside it (at {ip:#x})"));
            }
            if s.returns {
                return Err(format!("{} returns from inside it (at {ip:#x})", f.name));
            }
            if moves_sp.contains(&ip) {
                return Err(format!(
                    "it moves the stack pointer (at {ip:#x}), so its end cannot be paired with its start by frame"
                ));
            }
            if s.next.contains(&start) {
                return Err(format!(
                    "its start {start:#x} is a loop head inside it (from {ip:#x}): each pass would look like a new call"
                ));
            }
            out.extend(s.next.iter().copied().filter(|&t| !inside(t)));
        }
        if !live.iter().any(|&a| inside(a)) {
            return Err("none of its code is reached from its caller's start".into());
        }
        let mut exits = Vec::new();
        // The caller's code run in detours, while the call goes on.
        let mut detours = HashSet::new();
        for &t in &out {
            let r = reach(&graph, t, start, &inside, (f.low_pc, f.high_pc));
            if let Some(why) = r.unknown {
                return Err(format!(
                    "from {t:#x}, outside it, {why} goes where the code does not say"
                ));
            }
            match (r.back, r.gone) {
                (true, false) => detours.extend(r.seen),
                (false, true) => exits.push(t),
                // Every path from there panics: the call does not return.
                (false, false) => {}
                (true, true) => {
                    return Err(format!(
                        "from {t:#x}, outside it, control may come back into it or not"
                    ))
                }
            }
        }
        // A probe goes only on an instruction of the caller.
        if let Some(t) = exits.iter().find(|t| !graph.contains_key(t)) {
            return Err(format!(
                "control leaves it for {t:#x}, not an instruction of {}",
                f.name
            ));
        }
        if exits.is_empty() {
            return Err("no path leaves it (every one panics)".into());
        }
        // Its start is probed: a call must not begin anywhere else (Go
        // gives no DW_AT_entry_pc, and the lowest address is not always
        // where the code starts running, as in a loop rotated by the
        // compiler), nor enter it through code its detours run.
        for &a in &live {
            if inside(a) || detours.contains(&a) {
                continue;
            }
            if let Some(&t) = graph[&a]
                .next
                .iter()
                .find(|&&t| (inside(t) && t != start) || detours.contains(&t))
            {
                return Err(format!(
                    "calls can begin at {t:#x} (from {a:#x}), not only at its lowest address {start:#x} where it is probed"
                ));
            }
        }
        if exits.len() > MAX_EXITS {
            return Err(format!(
                "it has {} exits, more than the {MAX_EXITS} probed per inlined site",
                exits.len()
            ));
        }
        Ok(exits)
    }
}

/// What the paths from one edge out of an instance do.
struct Reached {
    /// Some path comes back into the instance (not through its start).
    back: bool,
    /// Some path ends the call for sure: reaches the start again (a new
    /// call) or leaves the caller.
    gone: bool,
    /// Some path goes where the code does not say: what.
    unknown: Option<&'static str>,
    /// Every address the paths went through.
    seen: HashSet<u64>,
}

/// From `from` (outside the instance), without passing its `start`: what
/// the paths do (see [`Reached`]); `bounds`: the caller's code.
fn reach(
    graph: &HashMap<u64, Step>,
    from: u64,
    start: u64,
    inside: &dyn Fn(u64) -> bool,
    bounds: (u64, u64),
) -> Reached {
    let mut r = Reached {
        back: false,
        gone: false,
        unknown: None,
        seen: HashSet::new(),
    };
    let mut todo = vec![from];
    while let Some(a) = todo.pop() {
        if !r.seen.insert(a) {
            continue;
        }
        if a == start || a < bounds.0 || a >= bounds.1 {
            r.gone = true;
            continue;
        }
        if inside(a) {
            r.back = true;
            continue;
        }
        let Some(s) = graph.get(&a) else {
            r.unknown = Some("a jump into the middle of an instruction");
            continue;
        };
        r.gone |= s.returns;
        if s.unknown.is_some() {
            r.unknown = s.unknown;
        }
        todo.extend(&s.next);
    }
    r
}

/// Whether `ins` writes the stack pointer.
fn writes_sp(info: &mut InstructionInfoFactory, ins: &Instruction) -> bool {
    info.info(ins)
        .used_registers()
        .iter()
        .any(|u| u.register().full_register() == Register::RSP && written(u.access()))
}
