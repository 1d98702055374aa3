//! A call's callers (`OP_STACK`, a probe's `stack:`): the return addresses
//! its entry record carries, and their symbolization into a [`Stack`].

use crate::plan::SitePlan;
use crate::recipe::{STACK_BAD_FP, STACK_BOTTOM, STACK_DEPTH, STACK_FAULT};

use super::wire::{self, Capture};
use super::Names;

/// One caller: the function and the return address's offset in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function's name (`main.handleE`), or the address in hex when
    /// the function table has no function there.
    pub function: String,
    /// The return address minus the function's entry (Go's tracebacks'
    /// `+0x1d`); 0 when the function is unknown.
    pub offset: u64,
    /// The call's source file and line (`.gopclntab`), when known.
    pub source: Option<(String, u32)>,
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:#x}", self.function, self.offset)?;
        match &self.source {
            Some((file, line)) => write!(f, " ({file}:{line})"),
            None => Ok(()),
        }
    }
}

/// A call's callers, innermost first, symbolized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// A hash of the frames (names and offsets): the same for every call
    /// from the same call path, in any process of the same binary.
    pub id: u64,
    /// The callers, innermost (the probed function's caller) first.
    pub frames: Vec<Frame>,
    /// The probe's depth was reached: outer callers are not shown.
    pub truncated: bool,
    /// Why the walk stopped before the goroutine's first frame and before
    /// the depth, if it did (a frame pointer it could not follow).
    pub broken: Option<&'static str>,
}

impl Stack {
    /// The stack as text, one `function+0xoff (file:line)` frame a line
    /// (the `code.stacktrace` attribute), `...` last when truncated.
    pub fn text(&self) -> String {
        let mut lines: Vec<String> = self.frames.iter().map(|f| f.to_string()).collect();
        if self.truncated {
            lines.push("...".into());
        }
        lines.join("\n")
    }

    /// The id as the outputs spell it: 16 hex digits.
    pub fn id_hex(&self) -> String {
        format!("{:016x}", self.id)
    }
}

/// The return addresses (as the process sees them) and the walk's end
/// (`STACK_*`) the entry record of `site` carries; None when the site
/// walks no stack or the record is cut short.
pub fn stack_pcs(site: &SitePlan, data: &[u8], masks: (u32, u32)) -> Option<(Vec<u64>, u32)> {
    let op = site.stack?;
    // The stack op comes first (`plan::stack`): only the ops up to it.
    let n = usize::from(site.recipe.n_ops)
        .min(site.recipe.ops.len())
        .min(op + 1);
    let (mut captures, _) = wire::captures(&site.recipe.ops[..n], data, masks.0, masks.1);
    match captures.get_mut(op)? {
        Capture::Stack { end, pcs } => Some((std::mem::take(pcs), *end)),
        _ => None,
    }
}

/// Symbolizes the return addresses `pcs` (walk ended as `end`) with the
/// process's function table.
pub fn symbolize(pcs: &[u64], end: u32, names: &dyn Names) -> Stack {
    let frames: Vec<Frame> = pcs
        .iter()
        .map(|&pc| {
            // A return address is one past its call: the call is at pc - 1
            // (a call as a function's last instruction returns past it).
            match names.code_at(pc.wrapping_sub(1)) {
                Some((function, entry)) => Frame {
                    function,
                    offset: pc.wrapping_sub(entry),
                    source: names.line_at(pc.wrapping_sub(1)),
                },
                None => Frame {
                    function: format!("{pc:#x}"),
                    offset: 0,
                    source: None,
                },
            }
        })
        .collect();
    Stack {
        id: frames_id(&frames),
        frames,
        truncated: end == STACK_DEPTH,
        broken: match end {
            STACK_BAD_FP => Some("a frame pointer off the goroutine's stack"),
            STACK_FAULT => Some("a frame could not be read"),
            STACK_BOTTOM | STACK_DEPTH => None,
            _ => Some("unknown end"),
        },
    }
}

/// FNV-1a over the frames' names and offsets: stable across processes
/// and load addresses (PIE), unlike the addresses themselves.
fn frames_id(frames: &[Frame]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in frames {
        eat(f.function.as_bytes());
        eat(&f.offset.to_le_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testkit::{site, Fake};
    use crate::recipe::{RawOp, OP_STACK};

    fn record(pcs: &[u64], end: u32) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend((pcs.len() as u32).to_le_bytes());
        d.extend(end.to_le_bytes());
        for pc in pcs {
            d.extend(pc.to_le_bytes());
        }
        d
    }

    #[test]
    fn return_addresses_are_read_and_named_by_the_call_before_them() {
        let op = RawOp {
            kind: OP_STACK,
            size: 3,
            ..RawOp::default()
        };
        let mut s = site(&[op], vec![]);
        s.stack = Some(0);
        let data = record(&[0x1010, 0x2020, 0x3030], STACK_DEPTH);
        let (pcs, end) = stack_pcs(&s, &data, (0, 0)).unwrap();
        assert_eq!(pcs, [0x1010, 0x2020, 0x3030]);
        let names = Fake {
            code: vec![
                (0x1000, 0x1010, "main.b".into()),
                (0x2000, 0x2100, "main.a".into()),
            ],
            ..Fake::default()
        };
        let st = symbolize(&pcs, end, &names);
        let shown: Vec<String> = st.frames.iter().map(|f| f.to_string()).collect();
        // 0x1010 returns past main.b's last instruction: still main.b.
        assert_eq!(shown, ["main.b+0x10", "main.a+0x20", "0x3030+0x0"]);
        assert!(st.truncated);
        assert_eq!(st.text(), "main.b+0x10\nmain.a+0x20\n0x3030+0x0\n...");
        // The same frames, the same id; other frames, another.
        assert_eq!(st.id, symbolize(&pcs, end, &names).id);
        assert_ne!(st.id, symbolize(&pcs[..2], STACK_BOTTOM, &names).id);
        // A record cut inside the addresses has no stack.
        assert_eq!(stack_pcs(&s, &data[..20], (0, 0)), None);
    }
}
