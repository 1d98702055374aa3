//! Landing sites: where a caller moves a float result out of its XMM
//! register into a place eBPF can read.
//!
//! eBPF cannot read XMM registers, but Go code very often copies a float
//! result into an integer register (`movq %xmm0,%rax` before
//! `runtime.convT64`) or spills it to its frame (`movsd %xmm0,0x38(%rsp)`)
//! within a few instructions of the call. From each direct call site's
//! return address every path is followed, instruction by instruction,
//! until the value (still in its register, or copied or exactly widened
//! into another one) is read out: that next instruction is a **landing
//! site**. A path that branches out of the caller, calls, returns, moves
//! SP, overwrites every copy of the value or runs too long makes the site
//! unreadable: nothing is ever guessed. A path that ends in a panic (a
//! call to a runtime `panic*`/`throw`, `ud2`, `int3`) never continues, so
//! it needs no landing.

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register,
};

use super::abi::Loc;
use super::{BinaryInfo, Function};

/// Instructions followed on one path from the return address.
const MAX_PATH: usize = 32;
/// Instructions decoded for one call site, all paths together.
const MAX_SITE: usize = 256;

/// Where, after one call site, the float result is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Landing {
    /// The instruction probed (link-time address): the value is at `loc`
    /// before it runs.
    pub addr: u64,
    /// An integer register (ABI order) or `SP + off` at `addr`.
    pub loc: Loc,
    /// 8: the float64's bits; 4: a float32's bits.
    pub size: u8,
}

/// A float held in one XMM register: its number and width in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) xmm: usize,
    pub(super) size: u8,
}

/// Where execution goes on after a path that kept the value in XMM
/// (callee mode): a landing site it can reach would read something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resume {
    /// Nowhere in this activation: it returned or left the function.
    Nowhere,
    /// At this instruction, with the value gone.
    At(u64),
    /// Anywhere (an indirect jump, undecodable code).
    Anywhere,
}

impl BinaryInfo {
    /// The return addresses of every direct call of `f`, in address order.
    /// The text of every function is decoded once per binary, on first use.
    pub fn call_sites(&self, f: &Function) -> Vec<u64> {
        let calls = self.calls.get_or_init(|| {
            let mut v = Vec::new();
            for g in &self.dwarf.functions {
                for ins in self.instructions(g) {
                    if ins.flow_control() == FlowControl::Call
                        && ins.op0_kind() == OpKind::NearBranch64
                    {
                        v.push((ins.near_branch_target(), ins.next_ip()));
                    }
                }
            }
            v.sort_unstable();
            v.shrink_to_fit();
            v
        });
        let start = calls.partition_point(|&(t, _)| t < f.low_pc);
        calls[start..]
            .iter()
            .take_while(|&&(t, _)| t == f.low_pc)
            .map(|&(_, r)| r)
            .collect()
    }

    /// Where the float of `size` bytes a call left in X`xmm` is read after
    /// the call returning to `ret`: one landing per path (deduplicated),
    /// or why some path keeps it in XMM.
    pub fn landings(&self, ret: u64, xmm: u8, size: u8) -> Result<Vec<Landing>, String> {
        self.landings_and_path(ret, xmm, size).map(|(l, _)| l)
    }

    /// [`BinaryInfo::landings`], and every instruction a path runs while
    /// the value is still in XMM: a landing site among them (this call
    /// site's or another's) would fire with the value not there yet.
    pub fn landings_and_path(&self, ret: u64, xmm: u8, size: u8) -> Result<Walked, String> {
        // The function holding the call (a call ending its function
        // returns to the next one's first byte).
        let caller = self
            .function_at(ret.wrapping_sub(1))
            .filter(|f| ret < f.high_pc)
            .ok_or("the caller is not a known function")?;
        let code = self.code(caller).ok_or("the caller has no code")?;
        let mut walk = Walk::new(self, caller, code, false);
        let held = vec![Held {
            xmm: usize::from(xmm),
            size,
        }];
        walk.path(ret, held, Vec::new())?;
        let (mut out, mut ran) = (walk.out, walk.ran);
        out.sort_unstable();
        out.dedup();
        ran.sort_unstable();
        ran.dedup();
        Ok((out, ran))
    }
}

/// A call site's landings, and the instructions its paths ran with the
/// value still in XMM.
pub type Walked = (Vec<Landing>, Vec<u64>);

/// A path's instructions so far, each with where the value was before it.
pub(super) type Seen = Vec<(u64, Vec<Held>)>;

/// One call site's (or one callee argument's) exploration.
pub(super) struct Walk<'a> {
    bin: &'a BinaryInfo,
    caller: &'a Function,
    code: &'a [u8],
    info: InstructionInfoFactory,
    /// Instructions this site may still decode.
    left: usize,
    pub(super) out: Vec<Landing>,
    /// Every instruction run with the value still in XMM.
    pub(super) ran: Vec<u64>,
    /// Callee mode (a float argument, walked from the function's entry):
    /// SP may move (the frame is set up; the landing's SP delta comes
    /// from `pcsp`), the branch to the morestack tail is not followed
    /// (that slow path restarts the function at its entry), and a path
    /// that keeps the value in XMM is noted in `kept`, not fatal.
    callee: bool,
    /// Callee mode: why each such path kept it, and where it goes on.
    pub(super) kept: Vec<(String, Resume)>,
}

impl<'a> Walk<'a> {
    /// A walk through `caller`'s `code`; `callee`: see the field.
    pub(super) fn new(
        bin: &'a BinaryInfo,
        caller: &'a Function,
        code: &'a [u8],
        callee: bool,
    ) -> Self {
        Walk {
            bin,
            caller,
            code,
            info: InstructionInfoFactory::new(),
            left: MAX_SITE,
            out: Vec::new(),
            ran: Vec::new(),
            callee,
            kept: Vec::new(),
        }
    }

    /// A path that keeps the value in XMM: fatal for a call site (its
    /// result is unreadable), noted for a callee's argument (calls taking
    /// it show it unavailable), execution going on at `resume`.
    fn keep(&mut self, why: String, resume: Resume) -> Result<(), String> {
        match self.callee {
            true => {
                self.kept.push((why, resume));
                Ok(())
            }
            false => Err(why),
        }
    }

    /// Whether the conditional branch to `t` goes to the prologue's
    /// morestack tail: straight-line code (the spills of up to 9 + 15
    /// argument registers) up to a call of `runtime.morestack*`.
    fn to_morestack(&self, t: u64) -> bool {
        let mut ip = t;
        for _ in 0..32 {
            let Ok(ins) = self.decode(ip) else {
                return false;
            };
            match ins.flow_control() {
                FlowControl::Next => ip = ins.next_ip(),
                FlowControl::Call => return self.bin.calls_morestack(&ins),
                _ => return false,
            }
        }
        false
    }

    /// Follows the path from `ip` with the value in `held`, after the
    /// instructions `seen` (each with where the value was); every branch
    /// it meets is followed too. A path back to an instruction it passed
    /// with the value in the same registers is a loop that cannot land
    /// on this round either: its exits are the paths already followed.
    pub(super) fn path(
        &mut self,
        mut ip: u64,
        mut held: Vec<Held>,
        mut seen: Seen,
    ) -> Result<(), String> {
        loop {
            if seen.iter().any(|(at, h)| *at == ip && *h == held) {
                return Ok(());
            }
            let long = format!("it does not leave XMM within {MAX_PATH} instructions");
            if self.left == 0 {
                return Err(long);
            }
            if seen.len() >= MAX_PATH {
                return self.keep(long, Resume::At(ip));
            }
            seen.push((ip, held.clone()));
            self.ran.push(ip);
            self.left -= 1;
            let ins = match self.decode(ip) {
                Ok(ins) => ins,
                Err(e) => return self.keep(e, Resume::Anywhere),
            };
            if let Some(l) = landing(&ins, &held) {
                self.out.push(l);
                return Ok(());
            }
            match ins.flow_control() {
                FlowControl::Next => {}
                FlowControl::UnconditionalBranch => {
                    ip = match self.target(&ins) {
                        Ok(to) => to,
                        Err(e) => return self.keep(e, Resume::Nowhere),
                    };
                    continue;
                }
                FlowControl::ConditionalBranch => match self.target(&ins) {
                    Ok(to) if self.callee && self.to_morestack(to) => {}
                    Ok(to) => self.path(to, held.clone(), seen.clone())?,
                    Err(e) => self.keep(e, Resume::Nowhere)?,
                },
                FlowControl::Call => {
                    let callee = (ins.op0_kind() == OpKind::NearBranch64)
                        .then(|| self.bin.function_at(ins.near_branch_target()))
                        .flatten();
                    let why = match callee {
                        Some(f) if never_returns(&f.name) => return Ok(()),
                        Some(f) => format!("it stays in XMM across a call of {}", f.name),
                        None => "it stays in XMM across a call".into(),
                    };
                    return self.keep(why, Resume::At(ins.next_ip()));
                }
                // ud2, int3: the path ends here (a fault, padding).
                FlowControl::Exception | FlowControl::Interrupt => return Ok(()),
                FlowControl::Return => {
                    let why = format!("{} returns with it still in XMM", self.caller.name);
                    return self.keep(why, Resume::Nowhere);
                }
                _ => {
                    let why = "it stays in XMM up to an indirect jump or call".into();
                    return self.keep(why, Resume::Anywhere);
                }
            }
            held = match self.after(&ins, held) {
                Ok(h) => h,
                Err(e) => return self.keep(e, Resume::At(ins.next_ip())),
            };
            ip = ins.next_ip();
        }
    }

    /// The instruction at `ip`, which must lie in the caller.
    pub(super) fn decode(&self, ip: u64) -> Result<Instruction, String> {
        let off = ip
            .checked_sub(self.caller.low_pc)
            .filter(|&o| ip < self.caller.high_pc && (o as usize) < self.code.len())
            .ok_or("it stays in XMM past the caller's code")?;
        let mut d = Decoder::with_ip(64, &self.code[off as usize..], ip, DecoderOptions::NONE);
        let ins = d.decode();
        match ins.is_invalid() {
            true => Err(format!("undecodable instruction at {ip:#x}")),
            false => Ok(ins),
        }
    }

    /// A direct branch's target inside the caller.
    fn target(&self, ins: &Instruction) -> Result<u64, String> {
        let t = ins.near_branch_target();
        match ins.op0_kind() == OpKind::NearBranch64
            && (self.caller.low_pc..self.caller.high_pc).contains(&t)
        {
            true => Ok(t),
            false => Err("it stays in XMM up to a jump out of the caller".into()),
        }
    }

    /// Where the value is after `ins` (not a landing): copies and exact
    /// widenings add a register, writes remove one; SP must not move.
    fn after(&mut self, ins: &Instruction, mut held: Vec<Held>) -> Result<Vec<Held>, String> {
        let copy = copied(ins, &held);
        for u in self.info.info(ins).used_registers() {
            if !written(u.access()) {
                continue;
            }
            let r = u.register();
            if r.full_register() == Register::RSP && !self.callee {
                return Err("SP moves before it leaves XMM".into());
            }
            if r.is_xmm() || r.is_ymm() || r.is_zmm() {
                held.retain(|h| h.xmm != r.number());
            }
        }
        held.extend(copy);
        match held.is_empty() {
            true => Err(format!(
                "its register is overwritten ({}) before it leaves XMM",
                format!("{:?}", ins.mnemonic()).to_lowercase()
            )),
            false => Ok(held),
        }
    }
}

/// Whether an operand access writes (perhaps also reading) its register.
pub(super) fn written(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// Runtime functions that never return: a path calling one ends there.
pub(super) fn never_returns(name: &str) -> bool {
    let Some(n) = name.strip_prefix("runtime.") else {
        return false;
    };
    // panicCheck1/2 return when the check passes.
    (n.starts_with("panic") && !n.starts_with("panicCheck"))
        || n.starts_with("goPanic")
        || matches!(n, "gopanic" | "throw" | "fatal")
}

/// The value held in register operand `op` of `ins`, if it is one.
fn held_in(ins: &Instruction, op: u32, held: &[Held]) -> Option<Held> {
    if ins.op_count() != 2 || ins.op_kind(op) != OpKind::Register {
        return None;
    }
    let r = ins.op_register(op);
    let n = r.is_xmm().then(|| r.number())?;
    held.iter().copied().find(|h| h.xmm == n)
}

/// The landing `ins` makes, if it copies the held value (whole) to an
/// integer register eBPF reads, or stores it at `SP + disp`: the value is
/// there before the next instruction runs.
fn landing(ins: &Instruction, held: &[Held]) -> Option<Landing> {
    let h = held_in(ins, 1, held)?;
    let m = ins.mnemonic();
    let at = ins.next_ip();
    match ins.op0_kind() {
        OpKind::Register => {
            let d = ins.op0_register();
            // movq keeps all 64 bits (a float32's are the low 4); movd
            // the low 32 (a float32 only).
            let whole = (m == Mnemonic::Movq && d.is_gpr64())
                || (m == Mnemonic::Movd && d.is_gpr32() && h.size == 4);
            let reg = INT_REGS.iter().position(|&r| r == d.full_register())?;
            whole.then_some(Landing {
                addr: at,
                loc: Loc::IntReg(reg as u8),
                size: h.size,
            })
        }
        OpKind::Memory => {
            let stores = match h.size {
                8 => matches!(m, Mnemonic::Movsd | Mnemonic::Movq),
                _ => matches!(
                    m,
                    Mnemonic::Movss | Mnemonic::Movd | Mnemonic::Movsd | Mnemonic::Movq
                ),
            };
            let on_sp = ins.memory_base() == Register::RSP
                && ins.memory_index() == Register::None
                && ins.segment_prefix() == Register::None;
            (stores && on_sp).then_some(Landing {
                addr: at,
                loc: Loc::Stack(ins.memory_displacement64() as i64),
                size: h.size,
            })
        }
        _ => None,
    }
}

/// The register `ins` copies the held value into whole, or widens it into
/// exactly (float32 → float64 is exact), if it does.
fn copied(ins: &Instruction, held: &[Held]) -> Option<Held> {
    let h = held_in(ins, 1, held)?;
    if ins.op0_kind() != OpKind::Register || !ins.op0_register().is_xmm() {
        return None;
    }
    let xmm = ins.op0_register().number();
    let size = match ins.mnemonic() {
        Mnemonic::Movaps | Mnemonic::Movapd | Mnemonic::Movups | Mnemonic::Movupd => h.size,
        Mnemonic::Movdqa | Mnemonic::Movdqu | Mnemonic::Movsd | Mnemonic::Movq => h.size,
        Mnemonic::Movss if h.size == 4 => 4,
        Mnemonic::Cvtss2sd if h.size == 4 => 8,
        _ => return None,
    };
    Some(Held { xmm, size })
}

/// The registers a recipe reads, in `Loc::IntReg` order.
const INT_REGS: [Register; 13] = [
    Register::RAX,
    Register::RBX,
    Register::RCX,
    Register::RDI,
    Register::RSI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::RDX,
    Register::R12,
    Register::R13,
    Register::R15,
];
const _: () = assert!(INT_REGS.len() == super::abi::REG_NAMES.len());

#[cfg(test)]
mod tests {
    use super::never_returns;

    #[test]
    fn only_runtime_functions_that_cannot_return_end_a_path() {
        for n in [
            "runtime.panicIndex",
            "runtime.goPanicSliceB",
            "runtime.throw",
            "runtime.gopanic",
        ] {
            assert!(never_returns(n), "{n}");
        }
        for n in [
            "runtime.panicCheck1",
            "runtime.convT64",
            "main.panicky",
            "runtime.morestack",
        ] {
            assert!(!never_returns(n), "{n}");
        }
    }
}
