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
//! path does (the call is over); one that may do either leaves the
//! instance untimed, as do the caller's RET inside the ranges, an
//! instruction moving SP (entry and exit pair by frame, as a function's
//! entry and RET do) and an indirect jump whose targets the code does not
//! say. A call of a runtime function that never returns ends its path.

use std::collections::{BTreeSet, HashMap, HashSet};

use iced_x86::{FlowControl, Instruction, InstructionInfoFactory, OpAccess, Register};

use super::landing::never_returns;
use super::BinaryInfo;

/// Exits one inlined instance is timed by at most: each is a uprobe.
pub const MAX_EXITS: usize = 8;

/// Where control goes after one instruction of the caller.
struct Step {
    /// Its direct successors.
    next: Vec<u64>,
    /// It may go where the code does not say (an indirect jump), or leave
    /// the caller (its RET).
    leaves: bool,
}

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
        let mut graph: HashMap<u64, Step> = HashMap::new();
        let mut out = BTreeSet::new();
        for ins in self.instructions(f) {
            let ip = ins.ip();
            let step = self.step(&ins);
            if inside(ip) {
                if step.leaves {
                    return Err(match ins.flow_control() {
                        FlowControl::Return => format!("{} returns from inside it (at {ip:#x})", f.name),
                        _ => format!("an indirect jump inside it (at {ip:#x}) goes where the code does not say"),
                    });
                }
                let calls = matches!(
                    ins.flow_control(),
                    FlowControl::Call | FlowControl::IndirectCall
                );
                if !calls && writes_sp(&mut info, &ins) {
                    return Err(format!(
                        "it moves the stack pointer (at {ip:#x}), so its end cannot be paired with its start by frame"
                    ));
                }
                out.extend(step.next.iter().copied().filter(|&t| !inside(t)));
            }
            graph.insert(ip, step);
        }
        if !ranges.iter().any(|&(lo, _)| graph.contains_key(&lo)) {
            return Err("none of its code is left in its caller".into());
        }
        let mut exits = Vec::new();
        // The caller's code run in detours, while the call goes on.
        let mut detours = HashSet::new();
        for &t in &out {
            let (back, gone, seen) = reach(&graph, t, start, &inside, (f.low_pc, f.high_pc));
            match (back, gone) {
                (true, false) => detours.extend(seen),
                (false, _) => exits.push(t),
                (true, true) => {
                    return Err(format!(
                        "from {t:#x}, outside it, control may come back into it or not"
                    ))
                }
            }
        }
        if exits.is_empty() {
            return Err("no path leaves it (every one panics)".into());
        }
        // Its start is probed: a call must not begin anywhere else (Go
        // gives no DW_AT_entry_pc, and the lowest address is not always
        // where the code starts running, as in a loop rotated by the
        // compiler).
        for (&a, s) in &graph {
            if inside(a) || detours.contains(&a) {
                continue;
            }
            if let Some(&t) = s.next.iter().find(|&&t| inside(t) && t != start) {
                return Err(format!(
                    "calls can begin at {t:#x} (from {a:#x}), not at its lowest address {start:#x} where it is probed"
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

    /// Where control goes after `ins`.
    fn step(&self, ins: &Instruction) -> Step {
        let next = ins.next_ip();
        let (next, leaves) = match ins.flow_control() {
            FlowControl::Next | FlowControl::IndirectCall => (vec![next], false),
            FlowControl::UnconditionalBranch => (vec![ins.near_branch_target()], false),
            FlowControl::ConditionalBranch => (vec![ins.near_branch_target(), next], false),
            FlowControl::Call => {
                let panics = self
                    .function_at(ins.near_branch_target())
                    .is_some_and(|t| never_returns(&t.name));
                (if panics { vec![] } else { vec![next] }, false)
            }
            // ud2, int3: the path ends.
            FlowControl::Interrupt | FlowControl::Exception => (vec![], false),
            FlowControl::Return | FlowControl::IndirectBranch | FlowControl::XbeginXabortXend => {
                (vec![], true)
            }
        };
        Step { next, leaves }
    }
}

/// From `from` (outside the instance), without passing its `start`:
/// whether some path comes back into the instance, and whether some path
/// ends the call for sure (reaches the start again — a new call — or
/// leaves the caller, `bounds`).
/// Also every address it went through.
fn reach(
    graph: &HashMap<u64, Step>,
    from: u64,
    start: u64,
    inside: &dyn Fn(u64) -> bool,
    bounds: (u64, u64),
) -> (bool, bool, HashSet<u64>) {
    let (mut back, mut gone) = (false, false);
    let mut seen = HashSet::new();
    let mut todo = vec![from];
    while let Some(a) = todo.pop() {
        if !seen.insert(a) {
            continue;
        }
        if a == start || a < bounds.0 || a >= bounds.1 {
            gone = true;
            continue;
        }
        if inside(a) {
            back = true;
            continue;
        }
        let Some(s) = graph.get(&a) else {
            // Not an instruction boundary of the caller: nothing is known.
            gone = true;
            continue;
        };
        gone |= s.leaves;
        todo.extend(&s.next);
    }
    (back, gone, seen)
}

/// Whether `ins` writes the stack pointer.
fn writes_sp(info: &mut InstructionInfoFactory, ins: &Instruction) -> bool {
    info.info(ins).used_registers().iter().any(|u| {
        u.register().full_register() == Register::RSP
            && matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            )
    })
}
