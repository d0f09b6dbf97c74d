//! A heap-free flattened-device-tree writer (Devicetree Specification v0.4, chapter 5).
//!
//! The structure block is written straight into the caller's buffer, after room for the
//! header and the memory reservation block; property names go into a fixed-size table
//! inside the [`Writer`], each name stored once. [`Writer::finish`] appends the END token
//! and the strings block and writes the header, so the result is a complete DTB:
//!
//! ```text
//! +--------+---------------------+-----------------+---------------+
//! | header | memory reservations | structure block | strings block |
//! | 40 B   | 16 B per entry + 16 | tokens          | names, NUL    |
//! +--------+---------------------+-----------------+---------------+
//! ```
//!
//! Nodes are begun and ended in order, and a node's properties come before its children,
//! as the format requires; the writer refuses anything else rather than emit a tree a
//! reader would misread.

use crate::{Error, Region};

/// The magic number at the start of every DTB.
pub const MAGIC: u32 = 0xd00d_feed;
/// The format version this writer produces.
pub const VERSION: u32 = 17;
/// The oldest format version a reader may know and still read what this writer produces.
pub const LAST_COMPATIBLE_VERSION: u32 = 16;
/// The size of the header: ten big-endian `u32` fields.
pub const HEADER_SIZE: usize = 40;
/// The size of one memory reservation entry: a big-endian `u64` address and size.
pub const RESERVATION_ENTRY_SIZE: usize = 16;
/// The number of bytes the writer keeps for property names.
pub const STRING_TABLE_SIZE: usize = 1024;
/// The longest node name (without its unit address) or property name the specification
/// allows.
pub const MAXIMUM_NAME_LENGTH: usize = 31;

/// Structure token: a node begins; its NUL-terminated name follows, padded to 4 bytes.
pub const TOKEN_BEGIN_NODE: u32 = 1;
/// Structure token: the current node ends.
pub const TOKEN_END_NODE: u32 = 2;
/// Structure token: a property; its length, name offset and padded value follow.
pub const TOKEN_PROPERTY: u32 = 3;
/// Structure token: nothing; readers skip it.
pub const TOKEN_NOP: u32 = 4;
/// Structure token: the end of the structure block.
pub const TOKEN_END: u32 = 9;

/// Builds one DTB in a caller-provided buffer.
///
/// ```
/// # use devicetree::Writer;
/// let mut buffer = [0u8; 256];
/// let mut writer = Writer::new(&mut buffer)?;
/// writer.begin_node("")?;
/// writer.property_u32("#address-cells", 2)?;
/// writer.begin_node("chosen")?;
/// writer.property_string("bootargs", "console=ttyAMA0")?;
/// writer.end_node()?;
/// writer.end_node()?;
/// let size = writer.finish()?;
/// assert_eq!(&buffer[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
/// # assert!(size <= 256);
/// # Ok::<(), devicetree::Error>(())
/// ```
pub struct Writer<'b> {
    /// The whole output: header, reservations, then the structure block as it grows.
    buffer: &'b mut [u8],
    /// Where the structure block starts in `buffer`.
    structure_offset: usize,
    /// How many bytes of the structure block have been written.
    structure_length: usize,
    /// The strings block, assembled here and copied after the structure block at the end.
    strings: [u8; STRING_TABLE_SIZE],
    /// How many bytes of `strings` are in use.
    strings_length: usize,
    /// How many nodes are open.
    depth: usize,
    /// Whether the root node has been begun.
    root_begun: bool,
    /// Whether the current node may still take properties (it has no children yet).
    properties_allowed: bool,
}

impl<'b> Writer<'b> {
    /// Starts a tree with an empty memory reservation block.
    ///
    /// Fails with [`Error::BufferFull`] if `buffer` cannot hold even the header and the
    /// reservation block.
    pub fn new(buffer: &'b mut [u8]) -> Result<Self, Error> {
        Self::with_reservations(buffer, &[])
    }

    /// Starts a tree whose memory reservation block lists `reservations`: memory the
    /// booted system must leave alone.
    pub fn with_reservations(buffer: &'b mut [u8], reservations: &[Region]) -> Result<Self, Error> {
        let structure_offset = reservations
            .len()
            .checked_add(1)
            .and_then(|entries| entries.checked_mul(RESERVATION_ENTRY_SIZE))
            .and_then(|size| size.checked_add(HEADER_SIZE))
            .ok_or(Error::BufferFull)?;
        if structure_offset > buffer.len() {
            return Err(Error::BufferFull);
        }
        let entries =
            buffer[HEADER_SIZE..structure_offset].chunks_exact_mut(RESERVATION_ENTRY_SIZE);
        // The last entry, past the end of `reservations`, gets zeros: the terminator.
        let mut reservations = reservations.iter();
        for entry in entries {
            let region = reservations.next().copied().unwrap_or_default();
            entry[..8].copy_from_slice(&region.base.to_be_bytes());
            entry[8..].copy_from_slice(&region.size.to_be_bytes());
        }
        Ok(Self {
            buffer,
            structure_offset,
            structure_length: 0,
            strings: [0; STRING_TABLE_SIZE],
            strings_length: 0,
            depth: 0,
            root_begun: false,
            properties_allowed: false,
        })
    }

    /// Begins a node. The first node is the root and must be named `""`; every other
    /// node is named `name` or `name@unit-address`.
    pub fn begin_node(&mut self, name: &str) -> Result<(), Error> {
        if self.depth == 0 {
            if self.root_begun {
                return Err(Error::Unbalanced);
            }
            if !name.is_empty() {
                return Err(Error::InvalidName);
            }
        } else if !is_node_name(name) {
            return Err(Error::InvalidName);
        }
        let offset = self.reserve(4 + padded(name.len() + 1))?;
        let output = &mut self.buffer[offset..];
        output[..4].copy_from_slice(&TOKEN_BEGIN_NODE.to_be_bytes());
        output[4..4 + name.len()].copy_from_slice(name.as_bytes());
        output[4 + name.len()..4 + padded(name.len() + 1)].fill(0);
        self.depth += 1;
        self.root_begun = true;
        self.properties_allowed = true;
        Ok(())
    }

    /// Ends the node most recently begun and still open.
    pub fn end_node(&mut self) -> Result<(), Error> {
        if self.depth == 0 {
            return Err(Error::Unbalanced);
        }
        let offset = self.reserve(4)?;
        self.buffer[offset..offset + 4].copy_from_slice(&TOKEN_END_NODE.to_be_bytes());
        self.depth -= 1;
        // The parent now has a child, so its properties are closed.
        self.properties_allowed = false;
        Ok(())
    }

    /// Adds a property with a raw value to the current node.
    pub fn property(&mut self, name: &str, value: &[u8]) -> Result<(), Error> {
        self.write_property(name, value.len(), |output| output.copy_from_slice(value))
    }

    /// Adds a property with no value, such as `interrupt-controller` or `dma-coherent`.
    pub fn property_empty(&mut self, name: &str) -> Result<(), Error> {
        self.property(name, &[])
    }

    /// Adds a property holding one big-endian `u32` cell.
    pub fn property_u32(&mut self, name: &str, value: u32) -> Result<(), Error> {
        self.property(name, &value.to_be_bytes())
    }

    /// Adds a property holding one big-endian `u64` (two cells, most significant first).
    pub fn property_u64(&mut self, name: &str, value: u64) -> Result<(), Error> {
        self.property(name, &value.to_be_bytes())
    }

    /// Adds a property holding a list of big-endian `u32` cells, such as `reg` or
    /// `interrupts`.
    pub fn property_cells(&mut self, name: &str, cells: &[u32]) -> Result<(), Error> {
        let length = cells.len().checked_mul(4).ok_or(Error::BufferFull)?;
        self.write_property(name, length, |output| {
            for (chunk, cell) in output.chunks_exact_mut(4).zip(cells) {
                chunk.copy_from_slice(&cell.to_be_bytes());
            }
        })
    }

    /// Adds a property holding one NUL-terminated string.
    pub fn property_string(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.property_strings(name, &[value])
    }

    /// Adds a property holding a list of strings, each NUL-terminated, one after the
    /// other (as `compatible` does).
    pub fn property_strings(&mut self, name: &str, values: &[&str]) -> Result<(), Error> {
        let mut length: usize = 0;
        for value in values {
            if value.as_bytes().contains(&0) {
                return Err(Error::InvalidValue);
            }
            length = length.checked_add(value.len() + 1).ok_or(Error::BufferFull)?;
        }
        self.write_property(name, length, |output| {
            let mut position = 0;
            for value in values {
                output[position..position + value.len()].copy_from_slice(value.as_bytes());
                output[position + value.len()] = 0;
                position += value.len() + 1;
            }
        })
    }

    /// Completes the tree: writes the END token, the strings block and the header, and
    /// returns the DTB's total size (the first that many bytes of the buffer).
    ///
    /// Fails with [`Error::Unbalanced`] if no root node was written or nodes are still
    /// open, and with [`Error::BufferFull`] if the strings do not fit.
    pub fn finish(mut self) -> Result<usize, Error> {
        if self.depth != 0 || !self.root_begun {
            return Err(Error::Unbalanced);
        }
        let end_offset = self.reserve(4)?;
        let strings_offset = end_offset + 4;
        let total_size = strings_offset
            .checked_add(self.strings_length)
            .filter(|&total| total <= self.buffer.len())
            .ok_or(Error::BufferFull)?;
        let header_total_size = u32::try_from(total_size).map_err(|_| Error::BufferFull)?;
        // `reserve` has already counted the END token in `structure_length`.
        self.buffer[end_offset..strings_offset].copy_from_slice(&TOKEN_END.to_be_bytes());
        self.buffer[strings_offset..total_size]
            .copy_from_slice(&self.strings[..self.strings_length]);
        // Every offset and size below is at most `total_size`, which fits in a u32.
        let header = [
            MAGIC,
            header_total_size,
            self.structure_offset as u32,
            strings_offset as u32,
            HEADER_SIZE as u32,
            VERSION,
            LAST_COMPATIBLE_VERSION,
            0, // boot_cpuid_phys: the boot CPU is the one with MPIDR affinity 0.
            self.strings_length as u32,
            self.structure_length as u32,
        ];
        for (chunk, field) in self.buffer[..HEADER_SIZE].chunks_exact_mut(4).zip(header) {
            chunk.copy_from_slice(&field.to_be_bytes());
        }
        Ok(total_size)
    }

    /// Writes a property of `length` value bytes, which `fill` writes into the slice it
    /// is given; pads the value to 4 bytes. Writes nothing if any check fails.
    fn write_property(
        &mut self,
        name: &str,
        length: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), Error> {
        if self.depth == 0 || !self.properties_allowed {
            return Err(Error::Misplaced);
        }
        if !is_property_name(name) {
            return Err(Error::InvalidName);
        }
        let value_length = u32::try_from(length).map_err(|_| Error::BufferFull)?;
        let total = length.checked_add(3).ok_or(Error::BufferFull)? & !3;
        let offset = self.check_room(12 + total)?;
        let name_offset = self.string_offset(name)?;
        self.structure_length += 12 + total;
        let output = &mut self.buffer[offset..offset + 12 + total];
        output[..4].copy_from_slice(&TOKEN_PROPERTY.to_be_bytes());
        output[4..8].copy_from_slice(&value_length.to_be_bytes());
        output[8..12].copy_from_slice(&name_offset.to_be_bytes());
        fill(&mut output[12..12 + length]);
        output[12 + length..].fill(0);
        Ok(())
    }

    /// Returns where `length` more structure bytes would go, if they fit.
    fn check_room(&self, length: usize) -> Result<usize, Error> {
        let offset = self.structure_offset + self.structure_length;
        match offset.checked_add(length) {
            Some(end) if end <= self.buffer.len() => Ok(offset),
            _ => Err(Error::BufferFull),
        }
    }

    /// Claims `length` more structure bytes and returns where they start.
    fn reserve(&mut self, length: usize) -> Result<usize, Error> {
        let offset = self.check_room(length)?;
        self.structure_length += length;
        Ok(offset)
    }

    /// Returns the offset of `name` in the strings block, adding it if it is not there.
    ///
    /// As libfdt does, a name that ends another name reuses that name's tail.
    fn string_offset(&mut self, name: &str) -> Result<u32, Error> {
        let name = name.as_bytes();
        let used = &self.strings[..self.strings_length];
        let existing = used
            .windows(name.len() + 1)
            .position(|window| window[..name.len()] == *name && window[name.len()] == 0);
        let offset = match existing {
            Some(offset) => offset,
            None => {
                let offset = self.strings_length;
                let end = offset + name.len() + 1;
                if end > STRING_TABLE_SIZE {
                    return Err(Error::StringTableFull);
                }
                self.strings[offset..offset + name.len()].copy_from_slice(name);
                self.strings[offset + name.len()] = 0;
                self.strings_length = end;
                offset
            }
        };
        // The table is far smaller than 4 GiB.
        Ok(offset as u32)
    }
}

/// Rounds `length` up to a multiple of 4.
fn padded(length: usize) -> usize {
    (length + 3) & !3
}

/// Whether `name` is a valid non-root node name: `node-name` or `node-name@unit-address`,
/// the node name 1 to 31 characters, both parts from the specification's node-name
/// characters (Devicetree Specification v0.4, table 2.1).
pub fn is_node_name(name: &str) -> bool {
    let is_node_character = |byte: &u8| {
        byte.is_ascii_alphanumeric() || matches!(byte, b',' | b'.' | b'_' | b'+' | b'-')
    };
    let (node_name, unit_address) = match name.split_once('@') {
        Some((node_name, unit_address)) => (node_name, Some(unit_address)),
        None => (name, None),
    };
    let node_name_valid = !node_name.is_empty()
        && node_name.len() <= MAXIMUM_NAME_LENGTH
        && node_name.as_bytes().iter().all(is_node_character);
    let unit_address_valid = match unit_address {
        Some(address) => !address.is_empty() && address.as_bytes().iter().all(is_node_character),
        None => true,
    };
    node_name_valid && unit_address_valid
}

/// Whether `name` is a valid property name: 1 to 31 characters from the specification's
/// property-name characters (Devicetree Specification v0.4, table 2.2).
pub fn is_property_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAXIMUM_NAME_LENGTH
        && name.as_bytes().iter().all(|byte| {
            byte.is_ascii_alphanumeric()
                || matches!(byte, b',' | b'.' | b'_' | b'+' | b'?' | b'#' | b'-')
        })
}
