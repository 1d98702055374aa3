//! The executable's bytes, mapped read-only instead of read into the heap:
//! an analysis reads a few MB of a 20–40 MB file (its DWARF, symbols, type
//! data, the code of probed functions), and the pages it is done with go
//! back to the page cache (which the traced process shares) instead of
//! staying in gotel's memory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A private read-only mapping of a whole file.
pub(super) struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; nothing mutates it, so
// sharing the bytes across threads is as safe as sharing a `&[u8]`.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the file at `path`. An empty file maps to no bytes.
    pub(super) fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::FileTooLarge))?;
        if len == 0 {
            return Ok(Mapping {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh mapping of `len` bytes of an open file; the kernel
        // keeps the file referenced until munmap. Executables are not
        // rewritten in place while they run (ETXTBSY); a file replaced on
        // disk is a new inode, which leaves this mapping as it was.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }

    /// The file's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// Drops the pages read so far from this process's memory; they stay in
    /// the page cache and the next read of them faults them back in, with
    /// the same contents (a private mapping never written to).
    pub(super) fn release(&self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: advice over exactly our own mapping; MADV_DONTNEED on a
        // read-only private file mapping only discards clean page-table
        // entries. A failure leaves the pages resident, which is harmless.
        unsafe { libc::madvise(self.ptr, self.len, libc::MADV_DONTNEED) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmapping our own mapping once; no borrow of `bytes`
            // outlives `self`.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapping({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_reads_the_file_and_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let m = Mapping::open(&path).unwrap();
        assert_eq!(m.bytes(), &content[..]);
        m.release();
        assert_eq!(m.bytes(), &content[..]);
        drop(m);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(Mapping::open(&path).unwrap().bytes(), b"");
        assert_eq!(
            Mapping::open(&dir.path().join("missing"))
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
