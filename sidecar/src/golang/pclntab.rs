//! The function table Go keeps for its own stack traces (`.gopclntab`):
//! names and code ranges of every function, present even in binaries
//! stripped of symbols and DWARF (`-ldflags=-s -w`). It is what lets gotel
//! still count calls and time them there.
//!
//! Layout (`runtime/symtab.go`, Go 1.18 onwards): a `pcHeader` (magic,
//! pads, minLC, ptrSize, then nfunc, nfiles, textStart and five section
//! offsets, each pointer-sized), a `functab` of (entry offset, `_func`
//! offset) u32 pairs ending with the end of text, and per function a
//! `_func` whose second word is its name's offset in the name table.

/// `pcHeader.magic` of Go 1.18–1.19.
const MAGIC_118: u32 = 0xffff_fff0;
/// `pcHeader.magic` of Go 1.20 onwards.
const MAGIC_120: u32 = 0xffff_fff1;

/// One function: name and [entry, end) link-time addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcFunc {
    /// The symbol name, `main.computeE`.
    pub name: String,
    /// Entry address.
    pub entry: u64,
    /// One past the last instruction (the next function's entry).
    pub end: u64,
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PclntabError {
    /// The magic is not one gotel knows.
    #[error("unknown .gopclntab magic {0:#x} (Go before 1.18 or newer than gotel knows)")]
    Magic(u32),
    /// An offset points outside the section.
    #[error("truncated or inconsistent .gopclntab")]
    Truncated,
}

/// Reads every function of `tab` (the `.gopclntab` section's bytes).
/// `text` is the address of the text section, used when the header's
/// `textStart` is left for the dynamic loader to fill in (PIE).
pub fn functions(tab: &[u8], text: u64) -> Result<Vec<PcFunc>, PclntabError> {
    let t = Table::new(tab, text)?;
    let mut out = Vec::with_capacity(t.nfunc);
    for i in 0..t.nfunc {
        let (entry, func) = t.entry(i)?;
        let (end, _) = t.entry(i + 1)?;
        // _func { entryOff u32; nameOff i32; … }
        let name_off = t.u32_at(t.pcln + func + 4)? as usize;
        let names = tab
            .get(t.funcnames + name_off..)
            .ok_or(PclntabError::Truncated)?;
        let len = names
            .iter()
            .position(|&b| b == 0)
            .ok_or(PclntabError::Truncated)?;
        out.push(PcFunc {
            name: String::from_utf8_lossy(&names[..len]).into_owned(),
            entry,
            end,
        });
    }
    Ok(out)
}

/// Each function's argument frame, by entry address: the bytes its
/// receiver, arguments and results take when laid out in memory as the
/// stack ABI does (`_func.args`, the compiler's `ArgWidth`), whatever
/// registers the call really uses. Functions whose size the table does not
/// know (assembly declared without one) are left out.
pub fn arg_frames(tab: &[u8], text: u64) -> Result<Vec<(u64, u32)>, PclntabError> {
    let t = Table::new(tab, text)?;
    let mut out = Vec::with_capacity(t.nfunc);
    for i in 0..t.nfunc {
        let (entry, func) = t.entry(i)?;
        // _func { entryOff u32; nameOff i32; args i32; … }; the runtime's
        // ArgsSizeUnknown is negative.
        let args = t.u32_at(t.pcln + func + 8)? as i32;
        if let Ok(args) = u32::try_from(args) {
            out.push((entry, args));
        }
    }
    Ok(out)
}

/// For each of `pcs` (link-time addresses), how far below its entry
/// value the stack pointer of the function containing it is there (the
/// `pcsp` table: the runtime's `funcspdelta`), so that its CFA is
/// `SP + delta + 8`; None outside every function or past the table.
pub fn sp_deltas(tab: &[u8], text: u64, pcs: &[u64]) -> Result<Vec<Option<u32>>, PclntabError> {
    let t = Table::new(tab, text)?;
    // pcHeader's seventh word: where the pc-value tables start.
    let pctab = t.u64_at(8 + 8 * 6)? as usize;
    let mut out = Vec::with_capacity(pcs.len());
    for &pc in pcs {
        // The function whose [entry, next entry) holds pc (entries ascend).
        let (mut lo, mut hi) = (0, t.nfunc);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match t.entry(mid + 1)?.0 <= pc {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        let (entry, func) = t.entry(lo.min(t.nfunc.saturating_sub(1)))?;
        if lo >= t.nfunc || pc < entry {
            out.push(None);
            continue;
        }
        // _func { entryOff, nameOff, args, deferreturn, pcsp, … }
        let field = t
            .pcln
            .checked_add(func + 16)
            .ok_or(PclntabError::Truncated)?;
        let pcsp = t.u32_at(field)? as usize;
        // Offsets from the file: a corrupt one must not wrap.
        let at = pctab.checked_add(pcsp).ok_or(PclntabError::Truncated)?;
        let table = tab.get(at..).ok_or(PclntabError::Truncated)?;
        out.push(pc_value(table, entry, pc)?.and_then(|v| u32::try_from(v).ok()));
    }
    Ok(out)
}

/// The value a pc-value table (`runtime.pcvalue`) gives `pc` in a
/// function entered at `entry`: (value delta, pc delta) varint pairs from
/// value −1 at the entry, each value holding until the pc it steps to.
pub(super) fn pc_value(mut p: &[u8], entry: u64, pc: u64) -> Result<Option<i64>, PclntabError> {
    fn varint(p: &mut &[u8]) -> Result<u64, PclntabError> {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let (&b, rest) = p.split_first().ok_or(PclntabError::Truncated)?;
            *p = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(PclntabError::Truncated);
            }
        }
    }
    let (mut at, mut value, mut first) = (entry, -1i64, true);
    loop {
        let uv = varint(&mut p)?;
        if uv == 0 && !first {
            return Ok(None);
        }
        first = false;
        let delta = match uv & 1 {
            0 => (uv >> 1) as i64,
            _ => !((uv >> 1) as i64),
        };
        // x86's pc quantum is 1.
        at = at
            .checked_add(varint(&mut p)?)
            .ok_or(PclntabError::Truncated)?;
        value += delta;
        if pc < at {
            return Ok(Some(value));
        }
    }
}

/// The header fields both readers need.
pub(super) struct Table<'a> {
    pub(super) tab: &'a [u8],
    pub(super) nfunc: usize,
    text_start: u64,
    funcnames: usize,
    pub(super) pcln: usize,
}

impl<'a> Table<'a> {
    pub(super) fn new(tab: &'a [u8], text: u64) -> Result<Self, PclntabError> {
        let mut t = Table {
            tab,
            nfunc: 0,
            text_start: 0,
            funcnames: 0,
            pcln: 0,
        };
        let magic = t.u32_at(0)?;
        if magic != MAGIC_118 && magic != MAGIC_120 {
            return Err(PclntabError::Magic(magic));
        }
        if tab.get(7) != Some(&8) {
            return Err(PclntabError::Truncated);
        }
        let word = |i: usize| t.u64_at(8 + 8 * i).map(|v| v as usize);
        let nfunc = word(0)?;
        // nfunc comes from the file: bound it by what the table can hold.
        if nfunc > tab.len() / 8 {
            return Err(PclntabError::Truncated);
        }
        let text_start = match t.u64_at(8 + 8 * 2)? {
            0 => text,
            s => s,
        };
        let (funcnames, pcln) = (word(3)?, word(7)?);
        t.nfunc = nfunc;
        t.text_start = text_start;
        t.funcnames = funcnames;
        t.pcln = pcln;
        Ok(t)
    }

    pub(super) fn u32_at(&self, o: usize) -> Result<u32, PclntabError> {
        let end = o.checked_add(4).ok_or(PclntabError::Truncated)?;
        let b = self.tab.get(o..end).ok_or(PclntabError::Truncated)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub(super) fn u64_at(&self, o: usize) -> Result<u64, PclntabError> {
        let end = o.checked_add(8).ok_or(PclntabError::Truncated)?;
        let b = self.tab.get(o..end).ok_or(PclntabError::Truncated)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Function `i`'s entry address and its `_func`'s offset.
    pub(super) fn entry(&self, i: usize) -> Result<(u64, usize), PclntabError> {
        let at = (8 * i)
            .checked_add(self.pcln)
            .ok_or(PclntabError::Truncated)?;
        let e = self.u32_at(at)?;
        let f = self.u32_at(at + 4)?;
        let entry = self
            .text_start
            .checked_add(u64::from(e))
            .ok_or(PclntabError::Truncated)?;
        Ok((entry, f as usize))
    }
}

/// `runtime.g.goid`'s offset per Go minor release, for binaries without
/// DWARF to read it from (`stack` is always first: stack.hi at 8). Checked
/// against DWARF for every toolchain of the test matrix.
pub fn goid_offset(minor: u32) -> Option<u64> {
    match minor {
        19..=22 => Some(152),
        23 | 24 => Some(160),
        25..=27 => Some(152),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go 1.20 table of two functions: `a` (args 24) and `b` (args of
    /// unknown size), text at 0x1000 left to the loader (PIE).
    fn table() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(MAGIC_120.to_le_bytes());
        t.extend([0, 0, 1, 8]);
        let (funcnames, pcln) = (72u64, 80u64);
        // nfunc, nfiles, textStart, funcnames, cu, filetab, pctab, pcln.
        for w in [2, 0, 0, funcnames, 0, 0, 0, pcln] {
            t.extend(w.to_le_bytes());
        }
        t.extend(b"a\0b\0\0\0\0\0");
        // functab: (entry, _func offset) pairs, then the end of text.
        for (entry, func) in [(0u32, 24u32), (0x10, 36), (0x20, 0)] {
            t.extend(entry.to_le_bytes());
            t.extend(func.to_le_bytes());
        }
        // _func { entryOff, nameOff, args }.
        for (entry, name, args) in [(0u32, 0u32, 24i32), (0x10, 2, i32::MIN)] {
            t.extend(entry.to_le_bytes());
            t.extend(name.to_le_bytes());
            t.extend(args.to_le_bytes());
        }
        t
    }

    #[test]
    fn names_ranges_and_argument_frames() {
        let t = table();
        let names: Vec<(String, u64, u64)> = functions(&t, 0x1000)
            .unwrap()
            .into_iter()
            .map(|f| (f.name, f.entry, f.end))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".to_string(), 0x1000, 0x1010),
                ("b".to_string(), 0x1010, 0x1020)
            ]
        );
        // b's size is ArgsSizeUnknown: left out.
        assert_eq!(arg_frames(&t, 0x1000).unwrap(), vec![(0x1000, 24)]);
        assert!(matches!(
            arg_frames(&t[..100], 0x1000),
            Err(PclntabError::Truncated)
        ));
    }

    /// A function at 0x1000 whose SP is 0 bytes below its entry value
    /// until 0x1004, 24 until 0x100e, 0 until 0x1010, its `pcsp` table
    /// ending there.
    #[test]
    fn sp_deltas_follow_the_pcsp_table() {
        let mut t = Vec::new();
        t.extend(MAGIC_120.to_le_bytes());
        t.extend([0, 0, 1, 8]);
        let (funcnames, pcln, pctab) = (72u64, 80u64, 116u64);
        for w in [1, 0, 0, funcnames, 0, 0, pctab, pcln] {
            t.extend(w.to_le_bytes());
        }
        t.extend(b"a\0\0\0\0\0\0\0");
        for (entry, func) in [(0u32, 16u32), (0x20, 0)] {
            t.extend(entry.to_le_bytes());
            t.extend(func.to_le_bytes());
        }
        // _func { entryOff, nameOff, args, deferreturn, pcsp }.
        for w in [0u32, 0, 0, 0, 0] {
            t.extend(w.to_le_bytes());
        }
        assert_eq!(t.len() as u64, pctab);
        // (+1, 4), (+24, 10), (−24, 2): zig-zag value deltas, pc deltas.
        t.extend([0x02, 0x04, 0x30, 0x0a, 0x2f, 0x02, 0x00]);
        let pcs = [0x1000, 0x1005, 0x100e, 0x1010, 0x2000, 0xfff];
        assert_eq!(
            sp_deltas(&t, 0x1000, &pcs).unwrap(),
            vec![Some(0), Some(24), Some(0), None, None, None]
        );
    }
}
