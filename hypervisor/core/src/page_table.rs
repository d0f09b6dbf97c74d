//! AArch64 stage-2 translation tables: 4 KiB granule, 39-bit guest-physical space.
//!
//! The layout follows the VMSAv8-64 translation table format of the Arm
//! Architecture Reference Manual (chapter D8 in recent editions): `VTCR_EL2.T0SZ`
//! is 25, so a guest-physical address has 39 bits, and `VTCR_EL2.SL0` is 1, so the
//! walk starts at level 1 in one 4 KiB root table of 512 entries. Level 1 entries
//! cover 1 GiB, level 2 entries 2 MiB and level 3 entries 4 KiB.
//!
//! Tables are reached through [`TableMemory`], so the same code builds tables in a
//! `Vec` on the host and in identity-mapped frames at EL2.
//!
//! This module only ever turns an invalid descriptor into a valid one ([`Stage2Table::map`])
//! or a valid one into an invalid one ([`Stage2Table::unmap`]); it never rewrites a
//! valid descriptor, so break-before-make never arises. The caller still owns the
//! barriers: a `DSB ISHST` before the hardware may walk new descriptors, and
//! `TLBI IPAS2E1IS` / `TLBI VMALLE12E1IS` with `DSB ISH` after an unmap.

use crate::address::{GuestPhysicalAddress, PhysicalAddress, PAGE_SIZE};

/// `VTCR_EL2.T0SZ` for this layout: the guest-physical space is `64 - 25 = 39` bits.
pub const VTCR_T0SZ: u64 = 25;
/// Bits in a guest-physical address under this layout.
pub const GUEST_PHYSICAL_ADDRESS_BITS: u32 = 64 - VTCR_T0SZ as u32;
/// Entries in one translation table.
pub const TABLE_ENTRIES: usize = 512;

/// Bits in an output (physical) address held in a descriptor.
const OUTPUT_ADDRESS_BITS: u32 = 48;
/// Descriptor bit 0: the entry is valid.
const VALID: u64 = 1 << 0;
/// Descriptor bit 1: a table (levels 1 and 2) or a page (level 3); clear for a block.
const TABLE_OR_PAGE: u64 = 1 << 1;
/// Descriptor bits \[47:12\]: the output address or the next-level table address.
const ADDRESS_MASK: u64 = ((1 << OUTPUT_ADDRESS_BITS) - 1) & !(PAGE_SIZE - 1);
/// Position of MemAttr\[3:0\], the stage-2 memory attribute.
const MEMORY_ATTRIBUTE_SHIFT: u32 = 2;
/// MemAttr for Normal memory, inner and outer write-back cacheable.
const MEMORY_ATTRIBUTE_NORMAL: u64 = 0b1111;
/// MemAttr for Device-nGnRE memory.
const MEMORY_ATTRIBUTE_DEVICE: u64 = 0b0001;
/// Position of S2AP\[1:0\], the stage-2 access permissions.
const ACCESS_PERMISSION_SHIFT: u32 = 6;
/// S2AP granting reads only.
const ACCESS_PERMISSION_READ_ONLY: u64 = 0b01;
/// S2AP granting reads and writes.
const ACCESS_PERMISSION_READ_WRITE: u64 = 0b11;
/// SH\[1:0\] = 0b11: inner shareable (used for Normal memory; Device memory ignores SH).
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// Descriptor bit 10: the access flag, always set so no access flag fault is taken.
const ACCESS_FLAG: u64 = 1 << 10;
/// Position of the stage-2 XN\[1:0\] field.
const EXECUTE_NEVER_SHIFT: u32 = 53;
/// XN = 0b10: execute-never at EL1 and EL0.
const EXECUTE_NEVER: u64 = 0b10;

/// The memory type of a stage-2 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Normal memory, inner and outer write-back cacheable, inner shareable.
    Normal,
    /// Device-nGnRE memory, for device registers.
    Device,
}

/// The access a guest has to a stage-2 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads and writes.
    ReadWrite,
    /// Reads only; a write takes a permission fault to EL2.
    ReadOnly,
}

/// The attributes of a stage-2 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Attributes {
    /// Memory type.
    pub memory: MemoryKind,
    /// Read and write permission.
    pub access: Access,
    /// Whether the guest may execute from the mapping at EL1 and EL0.
    pub executable: bool,
}

impl Stage2Attributes {
    /// Guest RAM: normal memory, read-write, executable.
    pub const RAM: Self =
        Self { memory: MemoryKind::Normal, access: Access::ReadWrite, executable: true };
    /// Device registers: device memory, read-write, execute-never.
    pub const DEVICE: Self =
        Self { memory: MemoryKind::Device, access: Access::ReadWrite, executable: false };

    /// The attribute bits of a block or page descriptor.
    const fn descriptor_bits(self) -> u64 {
        let memory = match self.memory {
            MemoryKind::Normal => {
                MEMORY_ATTRIBUTE_NORMAL << MEMORY_ATTRIBUTE_SHIFT | INNER_SHAREABLE
            }
            MemoryKind::Device => MEMORY_ATTRIBUTE_DEVICE << MEMORY_ATTRIBUTE_SHIFT,
        };
        let access = match self.access {
            Access::ReadWrite => ACCESS_PERMISSION_READ_WRITE,
            Access::ReadOnly => ACCESS_PERMISSION_READ_ONLY,
        } << ACCESS_PERMISSION_SHIFT;
        let execute = if self.executable { 0 } else { EXECUTE_NEVER << EXECUTE_NEVER_SHIFT };
        memory | access | ACCESS_FLAG | execute
    }

    /// Decodes the attributes of a block or page descriptor.
    ///
    /// MemAttr\[3:2\] = 0b00 is Device memory and anything else Normal memory, as the
    /// architecture reads it. Returns `None` when a read would fault: the access flag
    /// is clear or S2AP grants no read access (this module never writes either).
    const fn from_descriptor(descriptor: u64) -> Option<Self> {
        if descriptor & ACCESS_FLAG == 0 {
            return None;
        }
        let memory = if (descriptor >> MEMORY_ATTRIBUTE_SHIFT) & 0b1100 == 0 {
            MemoryKind::Device
        } else {
            MemoryKind::Normal
        };
        let access = match (descriptor >> ACCESS_PERMISSION_SHIFT) & 0b11 {
            ACCESS_PERMISSION_READ_WRITE => Access::ReadWrite,
            ACCESS_PERMISSION_READ_ONLY => Access::ReadOnly,
            _ => return None,
        };
        let executable = (descriptor >> EXECUTE_NEVER_SHIFT) & 0b11 == 0;
        Some(Self { memory, access, executable })
    }
}

/// Why a stage-2 table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or the size is not a multiple of 4 KiB.
    Unaligned,
    /// The size is zero, the range overflows, the guest-physical range reaches past
    /// 39 bits or the physical range past 48 bits.
    OutOfRange,
    /// Part of the guest-physical range is already mapped.
    AlreadyMapped,
    /// [`TableMemory::allocate_table`] returned `None`.
    OutOfMemory,
    /// Part of the range to unmap is not mapped.
    NotMapped,
    /// The range to unmap covers only part of a 2 MiB or 1 GiB block.
    BlockSplitNeeded,
}

/// The memory in which translation tables live.
pub trait TableMemory {
    /// Allocates one zeroed, 4 KiB-aligned table and returns its physical address.
    fn allocate_table(&mut self) -> Option<PhysicalAddress>;
    /// The 512 entries of the table at `table` (which `allocate_table` returned).
    fn table(&self, table: PhysicalAddress) -> &[u64; TABLE_ENTRIES];
    /// The 512 entries of the table at `table`, for writing.
    fn table_mut(&mut self, table: PhysicalAddress) -> &mut [u64; TABLE_ENTRIES];
}

/// The result of translating a guest-physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address the guest-physical address maps to (offset included).
    pub physical: PhysicalAddress,
    /// The attributes of the leaf descriptor.
    pub attributes: Stage2Attributes,
    /// The level of the leaf descriptor: 1 (1 GiB block), 2 (2 MiB block) or 3 (page).
    pub level: u8,
    /// The size in bytes of the block or page.
    pub block_size: u64,
}

/// One valid leaf descriptor: a block or page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First guest-physical address of the block or page.
    pub guest: GuestPhysicalAddress,
    /// First physical address of the block or page.
    pub physical: PhysicalAddress,
    /// Size in bytes of the block or page.
    pub size: u64,
    /// Attributes of the block or page.
    pub attributes: Stage2Attributes,
}

/// Size in bytes covered by one entry of a table at `level` (1 to 3).
const fn level_size(level: u8) -> u64 {
    1 << (12 + 9 * (3 - level as u32))
}

/// Index into the table at `level` for a guest-physical address.
const fn table_index(guest: u64, level: u8) -> usize {
    ((guest / level_size(level)) % TABLE_ENTRIES as u64) as usize
}

/// Whether `descriptor` at `level` points to a next-level table.
const fn is_table(descriptor: u64, level: u8) -> bool {
    level < 3 && descriptor & (VALID | TABLE_OR_PAGE) == VALID | TABLE_OR_PAGE
}

/// Decodes a block or page descriptor, or `None` if hardware would fault on a read.
fn leaf(descriptor: u64, level: u8) -> Option<(PhysicalAddress, Stage2Attributes)> {
    // A leaf is valid with bit 1 clear (block) at levels 1 and 2, set (page) at level 3.
    let page = level == 3;
    if descriptor & VALID == 0 || (descriptor & TABLE_OR_PAGE != 0) != page {
        return None;
    }
    let attributes = Stage2Attributes::from_descriptor(descriptor)?;
    let output = descriptor & ADDRESS_MASK & !(level_size(level) - 1);
    Some((PhysicalAddress::new(output), attributes))
}

/// The last entry a walk reads for one guest-physical address.
struct Entry {
    table: PhysicalAddress,
    index: usize,
    level: u8,
    descriptor: u64,
}

/// A stage-2 translation table tree, identified by its level-1 root table.
#[derive(Debug)]
pub struct Stage2Table {
    root: PhysicalAddress,
}

impl Stage2Table {
    /// Allocates an empty root table.
    pub fn new(memory: &mut impl TableMemory) -> Result<Self, MapError> {
        let root = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
        Ok(Self { root })
    }

    /// The tree whose root table is at `root`, to read tables built elsewhere
    /// (the integration tests walk the running hypervisor's tables with it).
    pub const fn from_root(root: PhysicalAddress) -> Self {
        Self { root }
    }

    /// The physical address of the root table, for [`vttbr_el2`].
    pub fn root(&self) -> PhysicalAddress {
        self.root
    }

    /// Maps `size` bytes from `guest` to `physical` with `attributes`.
    ///
    /// Uses 1 GiB and 2 MiB blocks where both addresses are aligned to the block
    /// size and enough of the range remains, and 4 KiB pages elsewhere. Where a
    /// table already exists (say, one emptied by [`Self::unmap`]) smaller entries
    /// are placed inside it instead of a block.
    ///
    /// Checks alignment, range and overlap before writing anything, so on
    /// `Unaligned`, `OutOfRange` or `AlreadyMapped` the tables are unchanged. On
    /// `OutOfMemory` the part of the range mapped before the allocation failed stays
    /// mapped and is not rolled back; the caller may [`Self::unmap`] it or give up
    /// the whole table tree.
    pub fn map<M: TableMemory>(
        &mut self,
        memory: &mut M,
        guest: GuestPhysicalAddress,
        physical: PhysicalAddress,
        size: u64,
        attributes: Stage2Attributes,
    ) -> Result<(), MapError> {
        let guest_end = checked_range(guest.as_u64(), size, GUEST_PHYSICAL_ADDRESS_BITS)?;
        checked_range(physical.as_u64(), size, OUTPUT_ADDRESS_BITS)?;
        // Refuse any overlap before changing anything: skip over each invalid entry's
        // whole span, stop at the first valid leaf.
        let mut address = guest.as_u64();
        while address < guest_end {
            let entry = self.walk(memory, address);
            if entry.descriptor & VALID != 0 {
                return Err(MapError::AlreadyMapped);
            }
            address = (address & !(level_size(entry.level) - 1)) + level_size(entry.level);
        }
        let mut done = 0;
        while done < size {
            done += self.map_one(
                memory,
                guest.as_u64() + done,
                physical.as_u64() + done,
                size - done,
                attributes,
            )?;
        }
        Ok(())
    }

    /// Writes the largest leaf that fits at `guest` and returns its size.
    fn map_one<M: TableMemory>(
        &mut self,
        memory: &mut M,
        guest: u64,
        physical: u64,
        remaining: u64,
        attributes: Stage2Attributes,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        let mut level = 1;
        loop {
            let index = table_index(guest, level);
            let descriptor = memory.table(table)[index];
            if is_table(descriptor, level) {
                table = PhysicalAddress::new(descriptor & ADDRESS_MASK);
                level += 1;
                continue;
            }
            if descriptor & VALID != 0 {
                return Err(MapError::AlreadyMapped);
            }
            let size = level_size(level);
            if level == 3
                || (guest.is_multiple_of(size)
                    && physical.is_multiple_of(size)
                    && remaining >= size)
            {
                let kind = if level == 3 { VALID | TABLE_OR_PAGE } else { VALID };
                memory.table_mut(table)[index] = physical | attributes.descriptor_bits() | kind;
                return Ok(size);
            }
            let next = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
            memory.table_mut(table)[index] = next.as_u64() | VALID | TABLE_OR_PAGE;
            table = next;
            level += 1;
        }
    }

    /// Unmaps `size` bytes from `guest`.
    ///
    /// Every page of the range must be mapped, and the range must cover whole
    /// blocks: blocks are never split. Everything is checked before anything is
    /// cleared, so on error the tables are unchanged. Tables emptied by an unmap stay
    /// allocated and are reused by later maps. The caller must invalidate the TLBs.
    pub fn unmap<M: TableMemory>(
        &mut self,
        memory: &mut M,
        guest: GuestPhysicalAddress,
        size: u64,
    ) -> Result<(), MapError> {
        let end = checked_range(guest.as_u64(), size, GUEST_PHYSICAL_ADDRESS_BITS)?;
        for clear in [false, true] {
            let mut address = guest.as_u64();
            while address < end {
                let entry = self.walk(memory, address);
                if entry.descriptor & VALID == 0 || is_table(entry.descriptor, entry.level) {
                    return Err(MapError::NotMapped);
                }
                let leaf_size = level_size(entry.level);
                if !address.is_multiple_of(leaf_size) || end - address < leaf_size {
                    return Err(MapError::BlockSplitNeeded);
                }
                if clear {
                    memory.table_mut(entry.table)[entry.index] = 0;
                }
                address += leaf_size;
            }
        }
        Ok(())
    }

    /// Translates a guest-physical address as the hardware walk would for a read.
    ///
    /// Returns `None` where the guest would take a stage-2 fault on a read.
    pub fn translate<M: TableMemory>(
        &self,
        memory: &M,
        guest: GuestPhysicalAddress,
    ) -> Option<Translation> {
        if guest.as_u64() >> GUEST_PHYSICAL_ADDRESS_BITS != 0 {
            return None;
        }
        let entry = self.walk(memory, guest.as_u64());
        let (base, attributes) = leaf(entry.descriptor, entry.level)?;
        let block_size = level_size(entry.level);
        Some(Translation {
            physical: PhysicalAddress::new(base.as_u64() | (guest.as_u64() & (block_size - 1))),
            attributes,
            level: entry.level,
            block_size,
        })
    }

    /// Visits every valid block and page, in guest-physical order.
    ///
    /// Each leaf is reported on its own; adjacent leaves are not merged.
    pub fn mappings<'memory, M: TableMemory>(&self, memory: &'memory M) -> Mappings<'memory, M> {
        Mappings { memory, tables: [self.root; 3], indices: [0; 3], depth: 0 }
    }

    /// Follows table descriptors from the root down to the entry that decides
    /// `guest`: a leaf, an invalid entry, or a level-3 entry.
    fn walk<M: TableMemory>(&self, memory: &M, guest: u64) -> Entry {
        let mut table = self.root;
        let mut level = 1;
        loop {
            let index = table_index(guest, level);
            let descriptor = memory.table(table)[index];
            if !is_table(descriptor, level) {
                return Entry { table, index, level, descriptor };
            }
            table = PhysicalAddress::new(descriptor & ADDRESS_MASK);
            level += 1;
        }
    }
}

/// Checks that `[start, start + size)` is page-aligned, non-empty and fits in
/// `bits` bits, and returns its end.
fn checked_range(start: u64, size: u64, bits: u32) -> Result<u64, MapError> {
    if !start.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Unaligned);
    }
    match start.checked_add(size) {
        Some(end) if size != 0 && end <= 1 << bits => Ok(end),
        _ => Err(MapError::OutOfRange),
    }
}

/// Iterator over the valid leaves of a [`Stage2Table`], from [`Stage2Table::mappings`].
pub struct Mappings<'memory, M: TableMemory> {
    memory: &'memory M,
    /// The table being read at each depth (depth 0 is level 1).
    tables: [PhysicalAddress; 3],
    /// The next entry to read at each depth.
    indices: [usize; 3],
    depth: usize,
}

impl<M: TableMemory> Iterator for Mappings<'_, M> {
    type Item = Mapping;

    fn next(&mut self) -> Option<Mapping> {
        loop {
            if self.indices[self.depth] == TABLE_ENTRIES {
                if self.depth == 0 {
                    return None;
                }
                self.depth -= 1;
                self.indices[self.depth] += 1;
                continue;
            }
            let level = self.depth as u8 + 1;
            let descriptor = self.memory.table(self.tables[self.depth])[self.indices[self.depth]];
            if is_table(descriptor, level) {
                self.depth += 1;
                self.tables[self.depth] = PhysicalAddress::new(descriptor & ADDRESS_MASK);
                self.indices[self.depth] = 0;
                continue;
            }
            let guest = (0..=self.depth)
                .map(|depth| self.indices[depth] as u64 * level_size(depth as u8 + 1))
                .sum();
            self.indices[self.depth] += 1;
            if let Some((physical, attributes)) = leaf(descriptor, level) {
                return Some(Mapping {
                    guest: GuestPhysicalAddress::new(guest),
                    physical,
                    size: level_size(level),
                    attributes,
                });
            }
        }
    }
}

/// Builds `VTCR_EL2` for this layout.
///
/// T0SZ = 25 (39-bit guest-physical space), SL0 = 0b01 (walk starts at level 1),
/// IRGN0 = ORGN0 = 0b01 (write-back, write-allocate walks), SH0 = 0b11 (inner
/// shareable), TG0 = 0b00 (4 KiB granule), VS = 0 (8-bit VMIDs), bit 31 RES1, and
/// PS from `physical_address_size_bits` (32, 36, 40, 42, 44 or 48, as
/// `ID_AA64MMFR0_EL1.PARange` reports). A size between those is rounded down to the
/// next smaller one, one below 32 gives 32, and one above 48 gives 48, the widest
/// output address that these descriptors hold.
///
/// The 39-bit guest-physical space should not be wider than the physical address
/// size the CPU implements, so this layout expects at least 40 bits (Cortex-A53,
/// Cortex-A72 and QEMU's `virt` CPUs all have 40 or more).
pub const fn vtcr_el2(physical_address_size_bits: u8) -> u64 {
    let physical_size = match physical_address_size_bits {
        0..=35 => 0b000,
        36..=39 => 0b001,
        40..=41 => 0b010,
        42..=43 => 0b011,
        44..=47 => 0b100,
        _ => 0b101,
    };
    // TG0, bits [15:14], stays 0b00 for the 4 KiB granule.
    VTCR_T0SZ
        | 0b01 << 6 // SL0: start at level 1
        | 0b01 << 8 // IRGN0: inner write-back, write-allocate
        | 0b01 << 10 // ORGN0: outer write-back, write-allocate
        | 0b11 << 12 // SH0: inner shareable
        | physical_size << 16 // PS
        | 1 << 31 // RES1
}

/// Builds `VTTBR_EL2`: the 8-bit `vmid` in bits \[55:48\], the root table address in
/// BADDR below it, and CnP clear.
pub const fn vttbr_el2(vmid: u8, root: PhysicalAddress) -> u64 {
    (vmid as u64) << 48 | (root.as_u64() & ADDRESS_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB_4: u64 = 4 << 10;
    const MIB_2: u64 = 2 << 20;
    const GIB_1: u64 = 1 << 30;
    const RAM: Stage2Attributes = Stage2Attributes::RAM;
    const DEVICE: Stage2Attributes = Stage2Attributes::DEVICE;
    /// Where the test tables pretend to live: table `n` is at `TEST_BASE + n * 4096`.
    const TEST_BASE: u64 = 0x8000_0000;

    /// Tables in boxed arrays, at most `limit` of them.
    struct TestMemory {
        tables: Vec<Box<[u64; TABLE_ENTRIES]>>,
        limit: usize,
    }

    impl TestMemory {
        fn slot(table: PhysicalAddress) -> usize {
            assert!(table.is_aligned(PAGE_SIZE), "unaligned table {table}");
            ((table.as_u64() - TEST_BASE) / PAGE_SIZE) as usize
        }
    }

    impl TableMemory for TestMemory {
        fn allocate_table(&mut self) -> Option<PhysicalAddress> {
            if self.tables.len() == self.limit {
                return None;
            }
            let address = TEST_BASE + self.tables.len() as u64 * PAGE_SIZE;
            self.tables.push(Box::new([0; TABLE_ENTRIES]));
            Some(PhysicalAddress::new(address))
        }

        fn table(&self, table: PhysicalAddress) -> &[u64; TABLE_ENTRIES] {
            &self.tables[Self::slot(table)]
        }

        fn table_mut(&mut self, table: PhysicalAddress) -> &mut [u64; TABLE_ENTRIES] {
            &mut self.tables[Self::slot(table)]
        }
    }

    /// A table tree and its memory, with calls taking raw numbers.
    struct Fixture {
        memory: TestMemory,
        table: Stage2Table,
    }

    impl Fixture {
        fn new() -> Self {
            Self::with_limit(usize::MAX).unwrap()
        }

        fn with_limit(limit: usize) -> Result<Self, MapError> {
            let mut memory = TestMemory { tables: Vec::new(), limit };
            let table = Stage2Table::new(&mut memory)?;
            Ok(Self { memory, table })
        }

        fn map(
            &mut self,
            start: u64,
            output: u64,
            size: u64,
            attributes: Stage2Attributes,
        ) -> Result<(), MapError> {
            let (guest, physical) =
                (GuestPhysicalAddress::new(start), PhysicalAddress::new(output));
            self.table.map(&mut self.memory, guest, physical, size, attributes)
        }

        fn unmap(&mut self, start: u64, size: u64) -> Result<(), MapError> {
            self.table.unmap(&mut self.memory, GuestPhysicalAddress::new(start), size)
        }

        fn translate(&self, address: u64) -> Option<Translation> {
            self.table.translate(&self.memory, GuestPhysicalAddress::new(address))
        }

        /// The physical address `address` translates to, if any.
        fn physical(&self, address: u64) -> Option<u64> {
            self.translate(address).map(|translation| translation.physical.as_u64())
        }

        /// The leaf (or invalid) descriptor that decides `address`.
        fn descriptor(&self, address: u64) -> u64 {
            self.table.walk(&self.memory, address).descriptor
        }

        /// Overwrites the descriptor that decides `address`.
        fn corrupt(&mut self, address: u64, change: impl FnOnce(u64) -> u64) {
            let entry = self.table.walk(&self.memory, address);
            self.memory.table_mut(entry.table)[entry.index] = change(entry.descriptor);
        }

        fn mappings(&self) -> Vec<Mapping> {
            self.table.mappings(&self.memory).collect()
        }
    }

    #[test]
    fn page_descriptor_bits() {
        let mut fixture = Fixture::new();
        fixture.map(0x4000_0000, 0x5000_0000, KIB_4, RAM).unwrap();
        // valid | page | MemAttr 0b1111 | S2AP 0b11 | SH 0b11 | AF, executable.
        assert_eq!(fixture.descriptor(0x4000_0000), 0x0000_0000_5000_07ff);
        // Levels 1 and 2 hold table descriptors to freshly allocated tables.
        assert_eq!(fixture.memory.tables[0][1], 0x8000_1003);
        assert_eq!(fixture.memory.tables[1][0], 0x8000_2003);
        assert_eq!(fixture.memory.tables.len(), 3);

        fixture.map(0x0900_0000, 0x0900_0000, KIB_4, DEVICE).unwrap();
        // valid | page | MemAttr 0b0001 | S2AP 0b11 | AF | XN 0b10.
        assert_eq!(fixture.descriptor(0x0900_0000), 0x0040_0000_0900_04c7);

        let read_only = Stage2Attributes { access: Access::ReadOnly, ..RAM };
        fixture.map(0x4000_1000, 0x6000_0000, KIB_4, read_only).unwrap();
        // As RAM, with S2AP 0b01.
        assert_eq!(fixture.descriptor(0x4000_1000), 0x0000_0000_6000_077f);
        assert_eq!(fixture.translate(0x4000_1000).unwrap().attributes, read_only);
    }

    #[test]
    fn block_descriptor_bits() {
        let mut fixture = Fixture::new();
        fixture.map(0x4020_0000, 0x8020_0000, MIB_2, RAM).unwrap();
        // As a RAM page, with bit 1 clear for a block.
        assert_eq!(fixture.descriptor(0x4020_0000), 0x0000_0000_8020_07fd);
        fixture.map(GIB_1 * 3, GIB_1, GIB_1, RAM).unwrap();
        assert_eq!(fixture.memory.tables[0][3], 0x0000_0000_4000_07fd);
    }

    #[test]
    fn chooses_blocks_and_pages() {
        let mut fixture = Fixture::new();
        // 4 KiB + 2 MiB + 1 GiB + 2 MiB + 4 KiB, with the middle parts aligned.
        let start = GIB_1 - MIB_2 - KIB_4;
        let size = KIB_4 + MIB_2 + GIB_1 + MIB_2 + KIB_4;
        fixture.map(start, start + 0x40_0000_0000, size, RAM).unwrap();
        let sizes: Vec<u64> = fixture.mappings().iter().map(|mapping| mapping.size).collect();
        assert_eq!(sizes, [KIB_4, MIB_2, GIB_1, MIB_2, KIB_4]);
        for mapping in fixture.mappings() {
            assert_eq!(mapping.physical.as_u64() - mapping.guest.as_u64(), 0x40_0000_0000);
        }

        // Guest and physical one page apart: pages only.
        let mut fixture = Fixture::new();
        fixture.map(0, KIB_4, MIB_2 * 2, RAM).unwrap();
        assert_eq!(fixture.mappings().len(), 1024);
        assert!(fixture.mappings().iter().all(|mapping| mapping.size == KIB_4));
    }

    #[test]
    fn translate_every_kind() {
        let mut fixture = Fixture::new();
        fixture.map(0, 0x40_0000_0000, GIB_1, RAM).unwrap();
        fixture.map(0x4000_0000, 0x5000_0000, MIB_2, RAM).unwrap();
        fixture.map(0x8900_0000, 0x0900_0000, KIB_4, DEVICE).unwrap();

        let block1 = fixture.translate(0x1234_5678).unwrap();
        assert_eq!(block1.physical, PhysicalAddress::new(0x40_1234_5678));
        assert_eq!((block1.level, block1.block_size), (1, GIB_1));
        assert_eq!(block1.attributes, RAM);

        let block2 = fixture.translate(0x401f_fffc).unwrap();
        assert_eq!(block2.physical, PhysicalAddress::new(0x501f_fffc));
        assert_eq!((block2.level, block2.block_size), (2, MIB_2));

        let page = fixture.translate(0x8900_0abc).unwrap();
        assert_eq!(page.physical, PhysicalAddress::new(0x0900_0abc));
        assert_eq!((page.level, page.block_size), (3, KIB_4));
        assert_eq!(page.attributes, DEVICE);

        for unmapped in [0x4020_0000, 0x8900_1000, 0x88ff_ffff, 1 << 39, u64::MAX] {
            assert_eq!(fixture.translate(unmapped), None, "{unmapped:#x}");
        }
    }

    #[test]
    fn translate_rejects_what_hardware_would_fault_on() {
        let mut fixture = Fixture::new();
        fixture.map(0, 0x1000, KIB_4, RAM).unwrap();
        fixture.map(0x20_0000, 0x20_0000, MIB_2, RAM).unwrap();
        fixture.map(0x40_0000, 0x40_0000, MIB_2, RAM).unwrap();
        // A level-3 entry with bit 1 clear is reserved; a clear access flag and
        // S2AP 0b00 fault on reads.
        fixture.corrupt(0, |descriptor| descriptor & !TABLE_OR_PAGE);
        fixture.corrupt(0x20_0000, |descriptor| descriptor & !ACCESS_FLAG);
        fixture.corrupt(0x40_0000, |descriptor| descriptor & !(0b11 << ACCESS_PERMISSION_SHIFT));
        assert_eq!(fixture.translate(0), None);
        assert_eq!(fixture.translate(0x20_0000), None);
        assert_eq!(fixture.translate(0x40_0000), None);
        assert_eq!(fixture.mappings(), []);
    }

    #[test]
    fn refuses_overlap_and_leaves_tables_unchanged() {
        let mut fixture = Fixture::new();
        fixture.map(0x4000_0000, 0, MIB_2, RAM).unwrap();
        fixture.map(0x4040_0000, 0, KIB_4, RAM).unwrap();
        let before = fixture.mappings();
        let tables_before = fixture.memory.tables.len();
        let attempts = [
            (0x4000_0000, KIB_4),         // first page of a block: would split it
            (0x401f_f000, KIB_4 * 2),     // last page of the block and the next one
            (0x3fff_f000, KIB_4 * 2),     // page before the block and its first page
            (0x4040_0000, KIB_4),         // exactly the existing page
            (0x4020_0000, MIB_2 + KIB_4), // ends on the existing page
            (0x4000_0000, GIB_1),         // a 1 GiB block over everything
            (0, GIB_1 * 2),               // starts far below, runs over everything
        ];
        for (start, size) in attempts {
            let result = fixture.map(start, 0, size, RAM);
            assert_eq!(result, Err(MapError::AlreadyMapped), "{start:#x} + {size:#x}");
        }
        assert_eq!(fixture.mappings(), before);
        assert_eq!(fixture.memory.tables.len(), tables_before);
        // The gaps around are still free.
        fixture.map(0x4020_0000, 0, MIB_2, RAM).unwrap();
        fixture.map(0x3fe0_0000, 0, MIB_2, RAM).unwrap();
    }

    #[test]
    fn refuses_unaligned_and_out_of_range() {
        let mut fixture = Fixture::new();
        let mut map = |start, output, size| fixture.map(start, output, size, RAM);
        assert_eq!(map(0x800, 0, KIB_4), Err(MapError::Unaligned));
        assert_eq!(map(0, 0x800, KIB_4), Err(MapError::Unaligned));
        assert_eq!(map(0, 0, 0x800), Err(MapError::Unaligned));
        assert_eq!(map(0, 0, 0), Err(MapError::OutOfRange));
        assert_eq!(map(1 << 39, 0, KIB_4), Err(MapError::OutOfRange));
        assert_eq!(map((1 << 39) - KIB_4, 0, KIB_4 * 2), Err(MapError::OutOfRange));
        assert_eq!(map(0, 1 << 48, KIB_4), Err(MapError::OutOfRange));
        assert_eq!(map(0, (1 << 48) - KIB_4, KIB_4 * 2), Err(MapError::OutOfRange));
        assert_eq!(map(0, 0, u64::MAX - 0xfff), Err(MapError::OutOfRange));
        assert_eq!(map(u64::MAX - 0xfff, 0, KIB_4), Err(MapError::OutOfRange));
        // The very tops of both spaces are fine.
        assert_eq!(map((1 << 39) - KIB_4, (1 << 48) - KIB_4, KIB_4), Ok(()));
        assert_eq!(map((1 << 39) - GIB_1 * 2, (1 << 48) - GIB_1, GIB_1), Ok(()));
        assert_eq!(fixture.memory.tables.len(), 3);
    }

    #[test]
    fn out_of_memory() {
        assert_eq!(Fixture::with_limit(0).err(), Some(MapError::OutOfMemory));

        // With only the root, a 1 GiB block needs no table but a page does.
        let mut fixture = Fixture::with_limit(1).unwrap();
        fixture.map(0, 0, GIB_1, RAM).unwrap();
        assert_eq!(fixture.map(GIB_1, 0, KIB_4, RAM), Err(MapError::OutOfMemory));

        // Running out halfway leaves the part mapped before the failure in place.
        let mut fixture = Fixture::with_limit(3).unwrap();
        let result = fixture.map(GIB_1 - MIB_2, 0, MIB_2 + KIB_4, RAM);
        assert_eq!(result, Err(MapError::OutOfMemory));
        let mapped: Vec<(u64, u64)> = fixture
            .mappings()
            .iter()
            .map(|mapping| (mapping.guest.as_u64(), mapping.size))
            .collect();
        assert_eq!(mapped, [(GIB_1 - MIB_2, MIB_2)]);
    }

    #[test]
    fn unmap() {
        let mut fixture = Fixture::new();
        fixture.map(0x4000_0000, 0x4000_0000, MIB_2 + KIB_4 * 4, RAM).unwrap();
        let refusals = [
            (0x4000_0000, KIB_4, MapError::BlockSplitNeeded),
            (0x401f_f000, KIB_4 * 2, MapError::BlockSplitNeeded),
            (0x4020_0000, KIB_4 * 5, MapError::NotMapped),
            (0, KIB_4, MapError::NotMapped),
            (0x800, KIB_4, MapError::Unaligned),
            (1 << 39, KIB_4, MapError::OutOfRange),
        ];
        for (start, size, error) in refusals {
            assert_eq!(fixture.unmap(start, size), Err(error), "{start:#x} + {size:#x}");
        }
        assert_eq!(fixture.mappings().len(), 5, "failed unmaps change nothing");

        fixture.unmap(0x4020_1000, KIB_4 * 2).unwrap();
        assert_eq!(fixture.translate(0x4020_1000), None);
        assert_eq!(fixture.translate(0x4020_2fff), None);
        assert_eq!(fixture.physical(0x4020_0000), Some(0x4020_0000));
        assert_eq!(fixture.physical(0x4020_3000), Some(0x4020_3000));
        fixture.unmap(0x4000_0000, MIB_2 + KIB_4).unwrap();
        fixture.unmap(0x4020_3000, KIB_4).unwrap();
        assert_eq!(fixture.mappings(), []);

        // The emptied level-3 table is reused: a 2 MiB map over it gets pages.
        let tables = fixture.memory.tables.len();
        fixture.map(0x4020_0000, 0, MIB_2, RAM).unwrap();
        assert_eq!(fixture.memory.tables.len(), tables);
        assert_eq!(fixture.mappings().len(), 512);
        // Where the 2 MiB block was, the level-2 entry takes a block again.
        fixture.map(0x4000_0000, 0, MIB_2, RAM).unwrap();
        assert_eq!(fixture.translate(0x4000_0000).unwrap().level, 2);
        fixture.unmap(0x4000_0000, MIB_2 * 2).unwrap();
        assert_eq!(fixture.mappings(), []);
    }

    #[test]
    fn register_values() {
        // T0SZ 25, SL0 1, IRGN0 1, ORGN0 1, SH0 3, TG0 0, RES1 bit 31; PS in bits [18:16].
        assert_eq!(vtcr_el2(32), 0x8000_3559);
        assert_eq!(vtcr_el2(36), 0x8001_3559);
        assert_eq!(vtcr_el2(40), 0x8002_3559);
        assert_eq!(vtcr_el2(42), 0x8003_3559);
        assert_eq!(vtcr_el2(44), 0x8004_3559);
        assert_eq!(vtcr_el2(48), 0x8005_3559);
        assert_eq!(vtcr_el2(52), vtcr_el2(48));
        assert_eq!(vtcr_el2(39), vtcr_el2(36));
        assert_eq!(vtcr_el2(20), vtcr_el2(32));
        let root = PhysicalAddress::new(0x8765_4000);
        assert_eq!(vttbr_el2(0xa5, root), 0x00a5_0000_8765_4000);
        let root = PhysicalAddress::new(0xffff_ffff_f000);
        assert_eq!(vttbr_el2(0, root), 0x0000_ffff_ffff_f000);
    }

    /// A 64-bit linear congruential generator (Knuth's MMIX constants).
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) % bound
        }

        fn coin(&mut self) -> bool {
            self.below(2) == 0
        }
    }

    #[test]
    fn random_maps_translate_back_and_nothing_else_does() {
        // How many leaves of each level (1 GiB, 2 MiB, 4 KiB) the maps produced.
        let mut leaves = [0; 3];
        for seed in 0..32 {
            let mut random = Random(seed);
            let mut fixture = Fixture::new();
            // (guest start, physical start, size) of accepted maps.
            let mut regions: Vec<(u64, u64, u64)> = Vec::new();
            for _ in 0..60 {
                let align = [KIB_4, MIB_2, GIB_1][random.below(3) as usize];
                // A 1 GiB size only where blocks can be used, to keep the test quick.
                let size = match random.below(if align == KIB_4 { 2 } else { 3 }) {
                    0 => KIB_4 * (1 + random.below(40)),
                    1 => MIB_2 * (1 + random.below(3)) + KIB_4 * random.below(3),
                    _ => GIB_1 + MIB_2 * random.below(2),
                };
                let start = random.below(((1 << 39) - size) / align) * align;
                let output = random.below(((1 << 48) - size) / align) * align;
                let memory = if random.coin() { MemoryKind::Normal } else { MemoryKind::Device };
                let access = if random.coin() { Access::ReadWrite } else { Access::ReadOnly };
                let attributes = Stage2Attributes { memory, access, executable: random.coin() };
                let overlaps = regions.iter().any(|&(other, _, other_size)| {
                    start < other + other_size && other < start + size
                });
                let result = fixture.map(start, output, size, attributes);
                if overlaps {
                    assert_eq!(result, Err(MapError::AlreadyMapped));
                    continue;
                }
                assert_eq!(result, Ok(()));
                regions.push((start, output, size));
                for offset in [0, size - 1, random.below(size)] {
                    let translation = fixture.translate(start + offset).unwrap();
                    assert_eq!(translation.physical.as_u64(), output + offset);
                    assert_eq!(translation.attributes, attributes);
                }
            }
            assert!(regions.len() > 10, "seed {seed} accepted too few maps");

            // Where `address` should translate to, from the list of regions.
            let expected = |address: u64| {
                regions
                    .iter()
                    .find(|&&(start, _, size)| start <= address && address < start + size)
                    .map(|&(start, output, _)| output + address - start)
            };
            // Each region's edges, and the bytes just outside them.
            for &(start, _, size) in &regions {
                for address in [start, start + size - 1, start.wrapping_sub(1), start + size] {
                    assert_eq!(fixture.physical(address), expected(address), "{address:#x}");
                }
            }
            // Random addresses translate exactly when some region holds them.
            for _ in 0..2000 {
                let address = random.below(1 << 39);
                assert_eq!(fixture.physical(address), expected(address), "{address:#x}");
            }
            // The leaves cover exactly the regions, each leaf consistently with its region.
            let mut covered = 0;
            for mapping in fixture.mappings() {
                let (guest, size) = (mapping.guest.as_u64(), mapping.size);
                assert_eq!(Some(mapping.physical.as_u64()), expected(guest));
                assert_eq!(expected(guest + size - 1), Some(mapping.physical.as_u64() + size - 1));
                covered += size;
                leaves[[GIB_1, MIB_2, KIB_4].iter().position(|&leaf| leaf == size).unwrap()] += 1;
            }
            assert_eq!(covered, regions.iter().map(|&(_, _, size)| size).sum::<u64>());

            // Unmapping everything leaves nothing.
            for &(start, _, size) in &regions {
                fixture.unmap(start, size).unwrap();
            }
            assert_eq!(fixture.mappings(), []);
        }
        assert!(leaves.iter().all(|&count| count > 20), "leaves per level: {leaves:?}");
    }
}
