//! Float arguments' landing sites: where a function moves a float
//! argument out of its XMM register into a place eBPF can read.
//!
//! The same walker as for float results (`landing`), run once per
//! function from its entry (in callee mode: the frame set-up may move SP,
//! the morestack tail is not followed since that slow path restarts the
//! function at its entry). Unlike a call site, one path that keeps the
//! value in XMM does not make the argument unreadable for every call:
//! calls taking the other paths are read, unless execution after a path
//! that kept it can reach one of its landing sites (that site would then
//! read something else, for that call). Such a landing site's SP delta
//! (Go's `pcsp` table) ties its record to the call's entry.

use std::collections::HashSet;

use iced_x86::{FlowControl, OpKind};

use super::landing::{never_returns, Held, Landing, Resume, Walk};
use super::{BinaryInfo, Function};

/// Where one float argument of a function is read in its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgLandings {
    /// The landing sites, each with the SP delta from the entry there.
    pub landings: Vec<(Landing, u32)>,
    /// Why some paths keep it in XMM (calls taking them show it
    /// unavailable); empty: every path moves it out.
    pub kept: Vec<String>,
}

impl BinaryInfo {
    /// Where `f` moves the float of `size` bytes it was passed in
    /// X`xmm` out of XMM, walking every path from its entry; Err: no call
    /// can be read (no path moves it out, or reading some would be wrong).
    pub fn arg_landings(&self, f: &Function, xmm: u8, size: u8) -> Result<ArgLandings, String> {
        let code = self.code(f).ok_or("the function has no code")?;
        let mut walk = Walk::new(self, f, code, true);
        let held = vec![Held {
            xmm: usize::from(xmm),
            size,
        }];
        walk.path(f.low_pc, held, Vec::new())?;
        let (mut out, ran, kept) = (walk.out, walk.ran, walk.kept);
        out.sort_unstable();
        out.dedup();
        let mut why: Vec<String> = kept.iter().map(|(w, _)| w.clone()).collect();
        why.sort();
        why.dedup();
        if out.is_empty() {
            return Err(match why.is_empty() {
                true => "no path moves it out of XMM".into(),
                false => why.join("; "),
            });
        }
        let at: HashSet<u64> = out.iter().map(|l| l.addr).collect();
        let name = |a: u64| format!("{}+{:#x}", f.name, a - f.low_pc);
        // A landing site a path passes with the value still in XMM would
        // fire with it elsewhere.
        if let Some(a) = ran.iter().find(|a| at.contains(a)) {
            return Err(format!(
                "a path runs through its landing site at {} before it leaves XMM",
                name(*a)
            ));
        }
        let resumes: Vec<Resume> = kept.iter().map(|(_, r)| *r).collect();
        // None: execution after such a path may go anywhere, any landing
        // site among it.
        let reach = self.reached(f, &resumes);
        let mut sites: Vec<u64> = at.iter().copied().collect();
        sites.sort_unstable();
        if let Some(a) = sites
            .into_iter()
            .find(|a| reach.as_ref().is_none_or(|r| r.contains(a)))
        {
            return Err(format!(
                "{}, and that path goes on to its landing site at {}",
                why.join("; "),
                name(a)
            ));
        }
        // A RET's uprobe and the landing's at one address would fire in
        // either order: the return might come first.
        let rets = self.ret_sites(f);
        if let Some(a) = at.iter().find(|&&a| rets.contains(&a)) {
            return Err(format!("its landing site at {} is a RET", name(*a)));
        }
        let deltas = self.sp_deltas(&out.iter().map(|l| l.addr).collect::<Vec<_>>());
        let mut landings = Vec::with_capacity(out.len());
        for (l, d) in out.into_iter().zip(deltas) {
            let d = d.ok_or_else(|| {
                format!(
                    "Go's pcsp table does not give the frame at its landing site {}",
                    name(l.addr)
                )
            })?;
            landings.push((l, d));
        }
        Ok(ArgLandings {
            landings,
            kept: why,
        })
    }

    /// Every instruction of `f` execution can reach from `resumes` (None:
    /// anywhere, an indirect jump or undecodable code on the way).
    fn reached(&self, f: &Function, resumes: &[Resume]) -> Option<HashSet<u64>> {
        let mut todo = Vec::new();
        for r in resumes {
            match r {
                Resume::Nowhere => {}
                Resume::At(a) => todo.push(*a),
                Resume::Anywhere => return None,
            }
        }
        let code: std::collections::HashMap<u64, iced_x86::Instruction> =
            self.instructions(f).map(|i| (i.ip(), i)).collect();
        let inside = |a: u64| (f.low_pc..f.high_pc).contains(&a);
        let mut seen = HashSet::new();
        while let Some(ip) = todo.pop() {
            if !inside(ip) || !seen.insert(ip) {
                continue;
            }
            let ins = code.get(&ip)?;
            let branch = (ins.op0_kind() == OpKind::NearBranch64).then(|| ins.near_branch_target());
            match ins.flow_control() {
                FlowControl::Next => todo.push(ins.next_ip()),
                FlowControl::UnconditionalBranch => todo.extend(branch.filter(|&t| inside(t))),
                FlowControl::ConditionalBranch => {
                    todo.push(ins.next_ip());
                    todo.extend(branch.filter(|&t| inside(t)));
                }
                FlowControl::Call => {
                    let ends = branch
                        .and_then(|t| self.function_at(t))
                        .is_some_and(|g| never_returns(&g.name));
                    if !ends {
                        todo.push(ins.next_ip());
                    }
                }
                FlowControl::Return | FlowControl::Exception | FlowControl::Interrupt => {}
                _ => return None,
            }
        }
        Some(seen)
    }

    /// For each of `pcs`, how far below the entry's SP the function's SP
    /// is there (Go's `pcsp` table); None where it does not say.
    pub fn sp_deltas(&self, pcs: &[u64]) -> Vec<Option<u32>> {
        use object::{Object, ObjectSection};
        let read = || -> Option<Vec<Option<u32>>> {
            let file = object::File::parse(self.data.bytes()).ok()?;
            let tab = file
                .section_by_name(".gopclntab")
                .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))?;
            let text = file.section_by_name(".text").map_or(0, |s| s.address());
            super::pclntab::sp_deltas(tab.data().ok()?, text, pcs).ok()
        };
        let out = read().unwrap_or_else(|| vec![None; pcs.len()]);
        // The table's pages are the file's: handed back once read.
        self.data.release();
        out
    }
}
