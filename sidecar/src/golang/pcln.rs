//! Source file and line of a code address, from `.gopclntab`'s pc-value
//! tables (`runtime/symtab.go`: `pcvalue`, `step`): what Go's own
//! tracebacks print, for caller stacks' frames. Read once per binary, on
//! its first stack.

use object::{Object, ObjectSection};

use super::pclntab::Table;

/// A binary's `.gopclntab` and its text address.
pub struct LineTable {
    tab: Vec<u8>,
    text: u64,
}

impl std::fmt::Debug for LineTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LineTable({} bytes)", self.tab.len())
    }
}

impl LineTable {
    /// The table of the executable whose bytes are `data` (copied out of
    /// them); None when it has none.
    pub fn read(data: &[u8]) -> Option<LineTable> {
        let file = object::File::parse(data).ok()?;
        // PIE builds of Go < 1.21 keep it among the relocated read-only data.
        let tab = file
            .section_by_name(".gopclntab")
            .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))?;
        let text = file.section_by_name(".text").map_or(0, |s| s.address());
        Some(LineTable {
            tab: tab.data().ok()?.to_vec(),
            text,
        })
    }

    /// The file and line of link-time address `pc`; None when no function
    /// holds it or the tables do not say.
    pub fn file_line(&self, pc: u64) -> Option<(String, u32)> {
        let t = Table::new(&self.tab, self.text).ok()?;
        // The functab is sorted by entry: the last entry at or below pc.
        let (mut lo, mut hi) = (0usize, t.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match t.entry(mid).ok()?.0 <= pc {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        let i = lo.checked_sub(1)?;
        let (entry, func) = t.entry(i).ok()?;
        if pc >= t.entry(i + 1).ok()?.0 {
            return None;
        }
        // _func { entryOff, nameOff, args, deferreturn, pcsp, pcfile,
        // pcln, npcdata, cuOffset, … } (Go 1.18 onwards).
        let f = t.pcln.checked_add(func)?;
        let field = |o: usize| t.u32_at(f + o).ok().map(|v| v as usize);
        let (pcfile, pcln, cu) = (field(20)?, field(24)?, field(32)?);
        // pcHeader words: cuOffset, filetabOffset, pctabOffset.
        let word = |i: usize| t.u64_at(8 + 8 * i).ok().map(|v| v as usize);
        let (cutab, filetab, pctab) = (word(4)?, word(5)?, word(6)?);
        let line = pcvalue(&self.tab, pctab.checked_add(pcln)?, entry, pc)?;
        let fileno =
            usize::try_from(pcvalue(&self.tab, pctab.checked_add(pcfile)?, entry, pc)?).ok()?;
        let fileoff = t
            .u32_at(cutab.checked_add(4 * cu.checked_add(fileno)?)?)
            .ok()? as usize;
        let name = self.tab.get(filetab.checked_add(fileoff)?..)?;
        let len = name.iter().position(|&b| b == 0)?;
        let file = String::from_utf8_lossy(&name[..len]).into_owned();
        Some((file, u32::try_from(line).ok()?))
    }
}

/// The value table at `off` gives at `target`, for a function at `entry`
/// (`pclntab::pc_value`, the one decoder of these tables).
fn pcvalue(tab: &[u8], off: usize, entry: u64, target: u64) -> Option<i32> {
    let v = super::pclntab::pc_value(tab.get(off..)?, entry, target).ok()??;
    i32::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_step_through_zig_zag_deltas() {
        // From -1: +11 → 10 for 4 bytes, then -3 → 7 for 2 bytes, end.
        let tab = [22, 4, 5, 2, 0];
        assert_eq!(pcvalue(&tab, 0, 0x100, 0x100), Some(10));
        assert_eq!(pcvalue(&tab, 0, 0x100, 0x103), Some(10));
        assert_eq!(pcvalue(&tab, 0, 0x100, 0x104), Some(7));
        assert_eq!(pcvalue(&tab, 0, 0x100, 0x106), None);
    }
}
