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

use super::flow::reach_all;
use super::landing::{Held, Landing, Resume, Walk};
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
    /// anywhere: an indirect jump or call, undecodable code, or a jump
    /// into the middle of an instruction on the way).
    fn reached(&self, f: &Function, resumes: &[Resume]) -> Option<HashSet<u64>> {
        let mut from = Vec::new();
        for r in resumes {
            match r {
                Resume::Nowhere => {}
                Resume::At(a) => from.push(*a),
                Resume::Anywhere => return None,
            }
        }
        let graph = self.flow(f, |_| {});
        let inside = |a: u64| (f.low_pc..f.high_pc).contains(&a);
        if from.iter().any(|&a| inside(a) && !graph.contains_key(&a)) {
            return None;
        }
        let seen = reach_all(&graph, from);
        for a in &seen {
            let s = &graph[a];
            let mid_instruction = s.next.iter().any(|&t| inside(t) && !graph.contains_key(&t));
            if s.unknown.is_some() || s.calls_indirect || mid_instruction {
                return None;
            }
        }
        Some(seen)
    }
}
