//! A function's control flow, instruction by instruction: where each
//! instruction goes next, and what can be reached from where. Shared by
//! the inlined instances' exits (`exits`) and the float arguments' landing
//! sites (`arg_landing`), which both ask where execution can go in one
//! function.

use std::collections::{HashMap, HashSet};

use iced_x86::{FlowControl, Instruction};

use super::landing::never_returns;
use super::{BinaryInfo, Function};

/// What an indirect jump's step says.
pub(super) const INDIRECT: &str = "an indirect jump";

/// Where control goes after one instruction of the caller.
pub(super) struct Step {
    /// Its direct successors.
    pub(super) next: Vec<u64>,
    /// It is the function's RET.
    pub(super) returns: bool,
    /// It goes where the code does not say: what it is.
    pub(super) unknown: Option<&'static str>,
    /// It calls through a register or memory (it returns to the next
    /// instruction, but what it runs is not known here).
    pub(super) calls_indirect: bool,
}

impl BinaryInfo {
    /// Every instruction of `f`, keyed by address, with where it goes;
    /// `each` sees every instruction on the way (one decoding pass).
    pub(super) fn flow(
        &self,
        f: &Function,
        mut each: impl FnMut(&Instruction),
    ) -> HashMap<u64, Step> {
        self.instructions(f)
            .map(|i| {
                each(&i);
                (i.ip(), self.step(&i))
            })
            .collect()
    }

    /// Where control goes after `ins`.
    fn step(&self, ins: &Instruction) -> Step {
        let next = ins.next_ip();
        let mut step = Step {
            next: Vec::new(),
            returns: false,
            unknown: None,
            calls_indirect: ins.flow_control() == FlowControl::IndirectCall,
        };
        if ins.is_invalid() {
            step.unknown = Some("bytes that decode to no instruction");
            return step;
        }
        match ins.flow_control() {
            FlowControl::Next | FlowControl::IndirectCall => step.next = vec![next],
            FlowControl::UnconditionalBranch => step.next = vec![ins.near_branch_target()],
            FlowControl::ConditionalBranch => step.next = vec![ins.near_branch_target(), next],
            FlowControl::Call => {
                let panics = self
                    .function_at(ins.near_branch_target())
                    .is_some_and(|t| never_returns(&t.name));
                if !panics {
                    step.next = vec![next];
                }
            }
            // ud2, int3: the path ends.
            FlowControl::Interrupt | FlowControl::Exception => {}
            FlowControl::Return => step.returns = true,
            FlowControl::IndirectBranch => step.unknown = Some(INDIRECT),
            FlowControl::XbeginXabortXend => step.unknown = Some("a transaction instruction"),
        }
        step
    }
}

/// Every instruction of `graph` reachable from `from` (addresses that are
/// no instruction of it, outside the function or inside an instruction,
/// are not followed).
pub(super) fn reach_all(
    graph: &HashMap<u64, Step>,
    from: impl IntoIterator<Item = u64>,
) -> HashSet<u64> {
    let mut seen = HashSet::new();
    let mut todo: Vec<u64> = from.into_iter().collect();
    while let Some(a) = todo.pop() {
        if let Some(s) = graph.get(&a) {
            if seen.insert(a) {
                todo.extend(&s.next);
            }
        }
    }
    seen
}
