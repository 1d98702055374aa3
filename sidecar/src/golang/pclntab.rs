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
    let u32_at = |o: usize| -> Result<u32, PclntabError> {
        let b = tab.get(o..o + 4).ok_or(PclntabError::Truncated)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |o: usize| -> Result<u64, PclntabError> {
        let b = tab.get(o..o + 8).ok_or(PclntabError::Truncated)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let magic = u32_at(0)?;
    if magic != MAGIC_118 && magic != MAGIC_120 {
        return Err(PclntabError::Magic(magic));
    }
    if tab.get(7) != Some(&8) {
        return Err(PclntabError::Truncated);
    }
    let word = |i: usize| u64_at(8 + 8 * i).map(|v| v as usize);
    let nfunc = word(0)?;
    let text_start = match u64_at(8 + 8 * 2)? {
        0 => text,
        t => t,
    };
    let funcnames = word(3)?;
    let pcln = word(7)?;
    let functab = tab.get(pcln..).ok_or(PclntabError::Truncated)?;
    let entry = |i: usize| -> Result<(u64, usize), PclntabError> {
        let b = functab
            .get(8 * i..8 * i + 8)
            .ok_or(PclntabError::Truncated)?;
        let e = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let f = u32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
        Ok((text_start + u64::from(e), f as usize))
    };
    let mut out = Vec::with_capacity(nfunc);
    for i in 0..nfunc {
        let (start, func) = entry(i)?;
        let (end, _) = entry(i + 1)?;
        // _func { entryOff u32; nameOff i32; … }
        let name_off = u32_at(pcln + func + 4)? as usize;
        let names = tab
            .get(funcnames + name_off..)
            .ok_or(PclntabError::Truncated)?;
        let len = names
            .iter()
            .position(|&b| b == 0)
            .ok_or(PclntabError::Truncated)?;
        out.push(PcFunc {
            name: String::from_utf8_lossy(&names[..len]).into_owned(),
            entry: start,
            end,
        });
    }
    Ok(out)
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
