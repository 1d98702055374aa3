//! DWARF sections read forward as they are decompressed, for the passes
//! that need only a piece at a time: `.debug_line`'s headers ([`super::lines`])
//! and `.debug_info`'s units ([`Units`]), instead of the whole section
//! decompressed in memory.

use std::io::Read;

use gimli::{DebugInfoOffset, Endianity, RunTimeEndian};

use crate::golang::AnalysisError;

/// A reader of the uncompressed bytes of `data`, from its start.
pub(super) fn decompressing<'d>(
    data: &object::CompressedData<'d>,
) -> std::io::Result<Box<dyn Read + 'd>> {
    Ok(match data.format {
        object::CompressionFormat::None => Box::new(data.data),
        object::CompressionFormat::Zlib => Box::new(flate2::read::ZlibDecoder::new(data.data)),
        // Not what Go writes: decompressed whole, as gimli would have it.
        _ => Box::new(std::io::Cursor::new(
            data.decompress()
                .map_err(std::io::Error::other)?
                .into_owned(),
        )),
    })
}

/// The section `name` (`.debug_info`…) of `file`, or its compressed `.z`
/// variant (`.zdebug_info`).
pub(super) fn section<'d, 'f>(
    file: &'f object::File<'d>,
    name: &str,
) -> Option<object::Section<'d, 'f>> {
    use object::Object;
    file.section_by_name(name)
        .or_else(|| file.section_by_name(&format!(".z{}", name.strip_prefix('.')?)))
}

/// Reads `n` more bytes of `reader` onto `buf`; where they start.
pub(super) fn read_more(
    reader: &mut dyn Read,
    buf: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<usize> {
    let at = buf.len();
    buf.resize(at + n, 0);
    reader.read_exact(&mut buf[at..])?;
    Ok(at)
}

/// Reads a DWARF `unit_length` onto `buf` (4 bytes, or 0xffffffff then 8
/// for 64-bit DWARF) and returns it; `buf`'s length is then 4 or 12.
pub(super) fn unit_length(
    reader: &mut dyn Read,
    buf: &mut Vec<u8>,
    endian: RunTimeEndian,
) -> std::io::Result<u64> {
    let at = read_more(reader, buf, 4)?;
    Ok(match endian.read_u32(&buf[at..]) {
        0xffff_ffff => {
            let at = read_more(reader, buf, 8)?;
            endian.read_u64(&buf[at..])
        }
        n => u64::from(n),
    })
}

/// `.debug_info` (or `.zdebug_info`), one unit at a time in section order:
/// what a pass that never looks back at an earlier unit's bytes holds is
/// the largest unit, not the section (6 MB of cmd/go's).
pub(super) struct Units<'d> {
    reader: Box<dyn Read + 'd>,
    endian: RunTimeEndian,
    /// Drops the mapped file's pages read so far (the compressed bytes).
    release: &'d dyn Fn(),
    /// Uncompressed size of the section, and how much of it is read.
    size: u64,
    pos: u64,
    /// The current unit, header included.
    buf: Vec<u8>,
}

impl<'d> Units<'d> {
    /// The units of `file`; None without `.debug_info`.
    pub(super) fn of(
        file: &object::File<'d>,
        endian: RunTimeEndian,
        release: &'d dyn Fn(),
    ) -> Result<Option<Self>, AnalysisError> {
        use object::ObjectSection;
        let Some(section) = section(file, ".debug_info") else {
            return Ok(None);
        };
        let fail = |e: &dyn std::fmt::Display| AnalysisError::Dwarf(format!(".debug_info: {e}"));
        let data = section.compressed_data().map_err(|e| fail(&e))?;
        Ok(Some(Units {
            reader: decompressing(&data).map_err(|e| fail(&e))?,
            endian,
            release,
            size: data.uncompressed_size,
            pos: 0,
            buf: Vec::new(),
        }))
    }

    /// The next unit: its offset in the section and its bytes (a
    /// `.debug_info` of that one unit); None after the last.
    pub(super) fn next(&mut self) -> std::io::Result<Option<(DebugInfoOffset, &[u8])>> {
        if self.pos >= self.size {
            return Ok(None);
        }
        let start = self.pos;
        let buf = &mut self.buf;
        buf.clear();
        let reader = &mut *self.reader;
        let length = unit_length(reader, buf, self.endian)?;
        // As gimli: a unit running past the section is malformed (and is
        // not read into memory first).
        let end = (start + buf.len() as u64).saturating_add(length);
        if end > self.size {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        read_more(
            reader,
            buf,
            usize::try_from(length).map_err(std::io::Error::other)?,
        )?;
        self.pos = end;
        (self.release)();
        let start = usize::try_from(start).map_err(std::io::Error::other)?;
        Ok(Some((DebugInfoOffset(start), &self.buf)))
    }
}

/// A section read forward through a window of it: the bytes from
/// [`Window::start`] on, as far as read so far. For `.debug_loc` and
/// `.debug_loclists`, whose lists Go writes unit after unit: each unit's
/// lists are read in a window that starts where the first of them does,
/// instead of the whole section decompressed (3.4 MB of cmd/go's).
pub(super) struct Window<'d> {
    data: object::CompressedData<'d>,
    reader: Box<dyn Read + 'd>,
    /// Drops the mapped file's pages read so far (the compressed bytes).
    release: &'d dyn Fn(),
    /// Section offset of `buf[0]`, and of the first byte not yet read.
    start: u64,
    end: u64,
    buf: Vec<u8>,
}

/// Bytes a window grows by when a list runs past it.
const GROW: usize = 64 * 1024;

impl<'d> Window<'d> {
    /// A window on the section `name` (or its `.z` variant) of `file`,
    /// at its start; None when there is no such section.
    pub(super) fn of(
        file: &object::File<'d>,
        name: &str,
        release: &'d dyn Fn(),
    ) -> Result<Option<Self>, AnalysisError> {
        use object::ObjectSection;
        let Some(section) = section(file, name) else {
            return Ok(None);
        };
        let fail = |e: &dyn std::fmt::Display| AnalysisError::Dwarf(format!("{name}: {e}"));
        let data = section.compressed_data().map_err(|e| fail(&e))?;
        Ok(Some(Window {
            reader: decompressing(&data).map_err(|e| fail(&e))?,
            data,
            release,
            start: 0,
            end: 0,
            buf: Vec::new(),
        }))
    }

    /// Section offset of the window's first byte.
    pub(super) fn start(&self) -> u64 {
        self.start
    }

    /// The window's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Moves the window's start to `offset`, forgetting the bytes before
    /// it; back before the start, the section is read again from its own.
    pub(super) fn seek(&mut self, offset: u64) -> std::io::Result<()> {
        if offset < self.start {
            self.reader = decompressing(&self.data)?;
            (self.start, self.end) = (0, 0);
            self.buf.clear();
        }
        if offset <= self.end {
            self.buf.drain(..(offset - self.start) as usize);
        } else {
            let skip = offset - self.end;
            if std::io::copy(&mut self.reader.by_ref().take(skip), &mut std::io::sink())? != skip {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.clear();
            self.end = offset;
        }
        self.start = offset;
        Ok(())
    }

    /// Reads more of the section into the window; false at its end.
    pub(super) fn grow(&mut self) -> std::io::Result<bool> {
        let at = self.buf.len();
        self.buf.resize(at + GROW, 0);
        let mut n = 0;
        while n < GROW {
            match self.reader.read(&mut self.buf[at + n..])? {
                0 => break,
                k => n += k,
            }
        }
        self.buf.truncate(at + n);
        self.end += n as u64;
        (self.release)();
        Ok(n > 0)
    }
}
