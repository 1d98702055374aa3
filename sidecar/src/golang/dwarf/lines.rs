//! Compile units without their line programs. gotel reads of `.debug_line`
//! only the file names of each unit's line program header (to tell
//! assembly functions, declared in `.s` files), never the line programs
//! that make most of the section: instead of decompressing the whole
//! section and keeping it through the analysis (2.7 MB of cmd/go's peak),
//! [`LineHeaders`] streams it and holds one unit's header at a time.

use std::io::Read;

use gimli::{AttributeValue, DebugLineOffset, EndianSlice, Endianity, RunTimeEndian};

use super::R;

/// A line program header as [`LineHeaders`] holds it.
pub(super) type Slice<'b> = EndianSlice<'b, RunTimeEndian>;

/// A compile unit as [`gimli::Dwarf::unit`] makes it, but without parsing
/// its line program (`Unit::line_program` stays None), with the offset of
/// that line program (`DW_AT_stmt_list`) for [`LineHeaders::program`].
pub(super) fn unit<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    header: gimli::UnitHeader<R<'a>>,
) -> gimli::Result<(gimli::Unit<R<'a>>, Option<DebugLineOffset>)> {
    let encoding = header.encoding();
    let mut unit = gimli::Unit {
        abbreviations: dwarf.abbreviations(&header)?,
        name: None,
        comp_dir: None,
        low_pc: 0,
        str_offsets_base: gimli::DebugStrOffsetsBase::default_for_encoding_and_file(
            encoding,
            dwarf.file_type,
        ),
        addr_base: gimli::DebugAddrBase(0),
        loclists_base: gimli::DebugLocListsBase::default_for_encoding_and_file(
            encoding,
            dwarf.file_type,
        ),
        rnglists_base: gimli::DebugRngListsBase::default_for_encoding_and_file(
            encoding,
            dwarf.file_type,
        ),
        line_program: None,
        dwo_id: match header.type_() {
            gimli::UnitType::Skeleton(id) | gimli::UnitType::SplitCompilation(id) => Some(id),
            _ => None,
        },
        header,
    };
    // The root DIE's attributes, read as gimli's `Unit::new` reads them.
    let (mut name, mut comp_dir, mut low_pc, mut stmt_list) = (None, None, None, None);
    {
        let mut cursor = unit.header.entries(&unit.abbreviations);
        cursor.next_dfs()?;
        let root = cursor.current().ok_or(gimli::Error::MissingUnitDie)?;
        let mut attrs = root.attrs();
        while let Some(attr) = attrs.next()? {
            match (attr.name(), attr.value()) {
                (gimli::DW_AT_name, v) => name = Some(v),
                (gimli::DW_AT_comp_dir, v) => comp_dir = Some(v),
                (gimli::DW_AT_low_pc, v) => low_pc = Some(v),
                (gimli::DW_AT_stmt_list, AttributeValue::DebugLineRef(o)) => stmt_list = Some(o),
                (gimli::DW_AT_str_offsets_base, AttributeValue::DebugStrOffsetsBase(b)) => {
                    unit.str_offsets_base = b
                }
                (
                    gimli::DW_AT_addr_base | gimli::DW_AT_GNU_addr_base,
                    AttributeValue::DebugAddrBase(b),
                ) => unit.addr_base = b,
                (gimli::DW_AT_loclists_base, AttributeValue::DebugLocListsBase(b)) => {
                    unit.loclists_base = b
                }
                (
                    gimli::DW_AT_rnglists_base | gimli::DW_AT_GNU_ranges_base,
                    AttributeValue::DebugRngListsBase(b),
                ) => unit.rnglists_base = b,
                (gimli::DW_AT_GNU_dwo_id, AttributeValue::DwoId(id)) if unit.dwo_id.is_none() => {
                    unit.dwo_id = Some(id)
                }
                _ => {}
            }
        }
    }
    unit.name = name.and_then(|v| dwarf.attr_string(&unit, v).ok());
    unit.comp_dir = comp_dir.and_then(|v| dwarf.attr_string(&unit, v).ok());
    if let Some(v) = low_pc {
        if let Some(a) = dwarf.attr_address(&unit, v)? {
            unit.low_pc = a;
        }
    }
    Ok((unit, stmt_list))
}

/// `.debug_line` (or `.zdebug_line`), read forward one line program
/// header at a time. Units list their line programs in section order, so
/// each header is reached by decoding on from the previous one; a unit
/// pointing back starts the decoding over.
pub(super) struct LineHeaders<'d> {
    data: object::CompressedData<'d>,
    endian: RunTimeEndian,
    /// Drops the mapped file's pages read so far (the compressed bytes).
    release: &'d dyn Fn(),
    reader: Option<Box<dyn Read + 'd>>,
    /// Bytes of the uncompressed section `reader` has consumed.
    pos: u64,
    /// The current header, its length field patched to end with it.
    buf: Vec<u8>,
}

impl<'d> LineHeaders<'d> {
    /// The line section of `file`; None without one.
    pub(super) fn of(
        file: &object::File<'d>,
        endian: RunTimeEndian,
        release: &'d dyn Fn(),
    ) -> Result<Option<Self>, object::Error> {
        use object::ObjectSection;
        let Some(section) = super::stream::section(file, ".debug_line") else {
            return Ok(None);
        };
        Ok(Some(LineHeaders {
            data: section.compressed_data()?,
            endian,
            release,
            reader: None,
            pos: 0,
            buf: Vec::new(),
        }))
    }

    /// The line program header at `offset`, as `Dwarf::unit` would have
    /// parsed it for `unit` (its program left out).
    pub(super) fn program<'b, 'u: 'b>(
        &'b mut self,
        offset: DebugLineOffset,
        unit: &gimli::Unit<R<'u>>,
    ) -> gimli::Result<gimli::IncompleteLineProgram<Slice<'b>>> {
        self.read_header(offset).map_err(|_| gimli::Error::Io)?;
        (self.release)();
        let section = gimli::DebugLine::new(&self.buf, self.endian);
        section.program(
            DebugLineOffset(0),
            unit.header.address_size(),
            unit.comp_dir,
            unit.name,
        )
    }

    fn read_header(&mut self, offset: DebugLineOffset<usize>) -> std::io::Result<()> {
        let offset = offset.0 as u64;
        if self.reader.is_none() || offset < self.pos {
            self.reader = Some(super::stream::decompressing(&self.data)?);
            self.pos = 0;
        }
        let reader = &mut **self.reader.as_mut().expect("set above");
        let skip = offset - self.pos;
        if std::io::copy(&mut (&mut *reader).take(skip), &mut std::io::sink())? != skip {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.pos = offset;
        let endian = self.endian;
        let buf = &mut self.buf;
        buf.clear();
        // unit_length, version, address and segment selector sizes
        // (DWARF 5), header_length.
        let unit_length = super::stream::unit_length(reader, buf, endian)?;
        let mut more = |buf: &mut Vec<u8>, n| super::stream::read_more(reader, buf, n);
        let (length_size, offset_size) = match buf.len() {
            12 => (12, 8),
            _ => (4, 4),
        };
        let at = more(buf, 2)?;
        if endian.read_u16(&buf[at..]) >= 5 {
            more(buf, 2)?;
        }
        let at = more(buf, offset_size)?;
        let header_length = match offset_size {
            8 => endian.read_u64(&buf[at..]),
            _ => u64::from(endian.read_u32(&buf[at..])),
        };
        // As gimli: a header running past its unit, or the section, is
        // malformed (and is not read into memory first).
        let end = ((buf.len() - length_size) as u64).saturating_add(header_length);
        let section_end = (offset + buf.len() as u64).saturating_add(header_length);
        if end > unit_length || section_end > self.data.uncompressed_size {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        more(
            buf,
            usize::try_from(header_length).map_err(std::io::Error::other)?,
        )?;
        self.pos += buf.len() as u64;
        match length_size {
            12 => endian.write_u64(&mut buf[4..12], end),
            _ => endian.write_u32(&mut buf[..4], end as u32),
        }
        Ok(())
    }
}

/// True when a file name of a line program header (read by
/// [`LineHeaders::program`]) is a `.s` file: the name resolved as
/// [`gimli::Dwarf::attr_string`] resolves it.
pub(super) fn is_assembly(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    path_name: AttributeValue<Slice<'_>>,
) -> gimli::Result<bool> {
    // Only an inline string borrows from the header; the other forms are
    // offsets into the sections `dwarf` holds.
    let value = match path_name {
        AttributeValue::String(s) => return Ok(s.slice().ends_with(b".s")),
        AttributeValue::DebugStrRef(o) => AttributeValue::DebugStrRef(o),
        AttributeValue::DebugStrRefSup(o) => AttributeValue::DebugStrRefSup(o),
        AttributeValue::DebugLineStrRef(o) => AttributeValue::DebugLineStrRef(o),
        AttributeValue::DebugStrOffsetsIndex(i) => AttributeValue::DebugStrOffsetsIndex(i),
        _ => return Err(gimli::Error::ExpectedStringAttributeValue),
    };
    Ok(dwarf.attr_string(unit, value)?.slice().ends_with(b".s"))
}
