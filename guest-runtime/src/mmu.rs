//! The EL1 MMU: an identity map, so that guest-physical addresses (what
//! hypercalls take) and pointers are the same, and so that RAM is normal
//! cacheable memory on which atomics and unaligned accesses work.
//!
//! The map, in 2 MiB blocks with the 4 KiB granule and a 4 GiB address space
//! (`TCR_EL1.T0SZ` = 32, walks start at level 1):
//!
//! | range                       | memory                                       |
//! |-----------------------------|----------------------------------------------|
//! | `0x0000_0000..0x2000_0000`  | device (nGnRE), never executable             |
//! | `0x2000_0000..0x3000_0000`  | channel window: normal write-back, inner shareable, never executable; the peer VM maps it the same way |
//! | `0x3000_0000..0x4000_0000`  | device (nGnRE), never executable             |
//! | `0x4000_0000..` RAM size    | RAM: normal write-back, inner shareable      |
//! | everything else             | not mapped                                   |
//!
//! The tables are built with the MMU off (as the VM is entered), then the MMU
//! and the caches are turned on in one step; see [`enable`].

/// Guest-physical base of every Elastos VM's RAM, where its image is loaded.
pub const RAM_BASE: u64 = 0x4000_0000;
/// RAM of most Elastos VMs (netvm has more).
pub const DEFAULT_MEMORY_SIZE: u64 = 16 << 20;
/// First address of the window where a VM's channels appear.
pub const CHANNEL_WINDOW_START: u64 = boards::CHANNEL_WINDOW_BASE;
/// One past the last address of the channel window.
pub const CHANNEL_WINDOW_END: u64 = 0x3000_0000;

/// Bytes one level-2 block maps.
const BLOCK_SIZE: u64 = 0x20_0000;
/// Bytes one level-1 entry covers.
const GIGABYTE: u64 = 1 << 30;
/// Entries of a translation table with the 4 KiB granule.
#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
const ENTRIES: usize = 512;

/// Descriptor bits (Arm ARM D8.3, VMSAv8-64 translation table format).
#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
mod descriptor {
    /// Valid block descriptor at level 1 or 2.
    pub const BLOCK: u64 = 0b01;
    /// Valid table descriptor.
    pub const TABLE: u64 = 0b11;
    /// `AttrIndx[2:0]`, bits 4:2: the `MAIR_EL1` attribute of the block.
    pub const fn attribute_index(index: u64) -> u64 {
        index << 2
    }
    /// `SH[1:0]` = 0b11: inner shareable.
    pub const INNER_SHAREABLE: u64 = 0b11 << 8;
    /// The access flag, set so that first accesses do not fault.
    pub const ACCESS_FLAG: u64 = 1 << 10;
    /// Privileged execute-never.
    pub const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
    /// Unprivileged execute-never.
    pub const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
    /// Bits 47:12 of an output or next-table address.
    pub const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;
}

/// `MAIR_EL1` attribute index of device memory (Device-nGnRE).
const ATTRIBUTE_DEVICE: u64 = 0;
/// `MAIR_EL1` attribute index of normal memory (write-back, read- and
/// write-allocate, inner and outer).
const ATTRIBUTE_NORMAL: u64 = 1;

/// What a block of the identity map is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// Device memory: MMIO, never executable.
    Device,
    /// The channel window: cacheable memory shared with other VMs, never
    /// executable.
    Shared,
    /// The VM's RAM.
    Ram,
}

/// The RAM the map covers for a VM with `memory_size` bytes: rounded up to
/// whole blocks and at most the gigabyte above [`RAM_BASE`].
pub const fn mapped_memory_size(memory_size: u64) -> u64 {
    if memory_size >= GIGABYTE {
        GIGABYTE
    } else {
        memory_size.div_ceil(BLOCK_SIZE) * BLOCK_SIZE
    }
}

/// How the identity map treats `address` in a VM with `memory_size` bytes of
/// RAM; `None` where nothing is mapped.
pub const fn memory_type(address: u64, memory_size: u64) -> Option<MemoryType> {
    if address < CHANNEL_WINDOW_START {
        Some(MemoryType::Device)
    } else if address < CHANNEL_WINDOW_END {
        Some(MemoryType::Shared)
    } else if address < RAM_BASE {
        Some(MemoryType::Device)
    } else if address < RAM_BASE + mapped_memory_size(memory_size) {
        Some(MemoryType::Ram)
    } else {
        None
    }
}

/// The level-2 block descriptor mapping the 2 MiB at `address` onto itself.
pub const fn block_descriptor(address: u64, memory_type: MemoryType) -> u64 {
    use descriptor::*;
    let common = BLOCK | ACCESS_FLAG | (address & ADDRESS_MASK);
    let never_execute = PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER;
    match memory_type {
        MemoryType::Device => common | attribute_index(ATTRIBUTE_DEVICE) | never_execute,
        MemoryType::Shared => {
            common | attribute_index(ATTRIBUTE_NORMAL) | INNER_SHAREABLE | never_execute
        }
        // The runtime has no EL0: nothing may run there.
        MemoryType::Ram => {
            common
                | attribute_index(ATTRIBUTE_NORMAL)
                | INNER_SHAREABLE
                | UNPRIVILEGED_EXECUTE_NEVER
        }
    }
}

/// A table descriptor pointing at the table at `address`.
#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
const fn table_descriptor(address: u64) -> u64 {
    descriptor::TABLE | (address & descriptor::ADDRESS_MASK)
}

/// One translation table.
#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

/// The tables of the identity map.
#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
#[repr(C)]
struct Tables {
    /// Level 1: one entry per gigabyte.
    level1: Table,
    /// Level 2 of the first gigabyte: devices and the channel window.
    low: Table,
    /// Level 2 of the second gigabyte: RAM.
    ram: Table,
}

#[cfg_attr(
    not(target_os = "none"),
    allow(
        dead_code,
        reason = "only the bare-metal MMU setup builds tables; host tests check them"
    )
)]
impl Tables {
    /// Empty tables.
    const fn new() -> Self {
        Self { level1: Table([0; ENTRIES]), low: Table([0; ENTRIES]), ram: Table([0; ENTRIES]) }
    }

    /// Fills the tables with the identity map of a VM with `memory_size`
    /// bytes of RAM. Writes every entry, so the tables need not start empty.
    fn fill(&mut self, memory_size: u64) {
        for (index, entry) in self.low.0.iter_mut().enumerate() {
            let address = index as u64 * BLOCK_SIZE;
            *entry = match memory_type(address, memory_size) {
                Some(memory_type) => block_descriptor(address, memory_type),
                None => 0,
            };
        }
        for (index, entry) in self.ram.0.iter_mut().enumerate() {
            let address = RAM_BASE + index as u64 * BLOCK_SIZE;
            *entry = match memory_type(address, memory_size) {
                Some(memory_type) => block_descriptor(address, memory_type),
                None => 0,
            };
        }
        let low = self.low.0.as_ptr() as u64;
        let ram = self.ram.0.as_ptr() as u64;
        for (index, entry) in self.level1.0.iter_mut().enumerate() {
            *entry = match index {
                0 => table_descriptor(low),
                1 => table_descriptor(ram),
                _ => 0,
            };
        }
    }
}

#[cfg(target_os = "none")]
pub(crate) use hardware::enable;

#[cfg(target_os = "none")]
mod hardware {
    use super::{Tables, ATTRIBUTE_DEVICE, ATTRIBUTE_NORMAL};
    use aarch64_cpu::asm::barrier;
    use aarch64_cpu::registers::{
        ReadWriteable, Writeable, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1,
    };
    use core::cell::UnsafeCell;

    /// The tables, in .bss. Written only by [`enable`].
    struct TableCell(UnsafeCell<Tables>);

    // SAFETY: the tables are written once, by `enable` on the only vCPU before
    // the MMU is on, and only the translation hardware reads them afterwards.
    unsafe impl Sync for TableCell {}

    static TABLES: TableCell = TableCell(UnsafeCell::new(Tables::new()));

    const _: () = assert!(ATTRIBUTE_DEVICE == 0 && ATTRIBUTE_NORMAL == 1);

    /// Builds the identity map and turns the MMU and the caches on.
    ///
    /// # Safety
    ///
    /// Call once, with the MMU off, from the boot path of the only vCPU, before
    /// anything else reads or writes memory that the map makes cacheable
    /// through another alias. The image, stack and .bss must lie inside the
    /// first `memory_size` bytes of RAM.
    pub(crate) unsafe fn enable(memory_size: u64) {
        // SAFETY: the caller guarantees this is the only use of the tables and
        // that nothing else runs; the hardware does not walk them yet.
        let tables = unsafe { &mut *TABLES.0.get() };
        tables.fill(memory_size);
        let start = tables as *const Tables as u64;
        let end = start + core::mem::size_of::<Tables>() as u64;
        // The tables were written with the MMU off, straight to memory. Drop
        // any stale cached copy of those lines so that table walks, which are
        // cacheable, see what was written (the same step Linux takes).
        let line = data_cache_line_size();
        let mut address = start & !(line - 1);
        barrier::dsb(barrier::SY);
        while address < end {
            // SAFETY: invalidating lines of the tables, which hold nothing the
            // cache may have newer than memory: they were written uncached.
            unsafe { core::arch::asm!("dc ivac, {}", in(reg) address, options(nostack)) };
            address += line;
        }
        barrier::dsb(barrier::SY);

        MAIR_EL1.write(
            MAIR_EL1::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
                + MAIR_EL1::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc
                + MAIR_EL1::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc,
        );
        TTBR0_EL1.set_baddr(start);
        TCR_EL1.write(
            TCR_EL1::IPS::Bits_32
                + TCR_EL1::TG0::KiB_4
                + TCR_EL1::SH0::Inner
                + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
                + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
                + TCR_EL1::EPD0::EnableTTBR0Walks
                + TCR_EL1::EPD1::DisableTTBR1Walks
                + TCR_EL1::T0SZ.val(32),
        );
        barrier::isb(barrier::SY);
        // SAFETY: invalidating this VM's EL1 TLB entries and its instruction
        // cache has no effect but making later translations and fetches use
        // the new tables and memory.
        unsafe {
            core::arch::asm!(
                "tlbi vmalle1",
                "dsb nsh",
                "ic iallu",
                "dsb nsh",
                "isb",
                options(nostack)
            )
        };
        // The code runs from RAM, which the new map keeps at the same address,
        // so execution continues at the next instruction with the MMU on.
        SCTLR_EL1.modify(
            SCTLR_EL1::M::Enable
                + SCTLR_EL1::C::Cacheable
                + SCTLR_EL1::I::Cacheable
                + SCTLR_EL1::A::Disable
                + SCTLR_EL1::SA::Enable
                + SCTLR_EL1::WXN::Disable,
        );
        barrier::isb(barrier::SY);
    }

    /// The smallest data cache line, from `CTR_EL0.DminLine`.
    fn data_cache_line_size() -> u64 {
        let cache_type: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, ctr_el0", out(reg) cache_type, options(nomem, nostack))
        };
        4 << ((cache_type >> 16) & 0xf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEBIBYTE: u64 = 1 << 20;

    #[test]
    fn the_address_space_is_split_as_documented() {
        let size = DEFAULT_MEMORY_SIZE;
        assert_eq!(memory_type(0, size), Some(MemoryType::Device));
        assert_eq!(memory_type(0x0800_0000, size), Some(MemoryType::Device));
        assert_eq!(memory_type(0x1fff_ffff, size), Some(MemoryType::Device));
        assert_eq!(memory_type(0x2000_0000, size), Some(MemoryType::Shared));
        assert_eq!(memory_type(0x2fff_ffff, size), Some(MemoryType::Shared));
        assert_eq!(memory_type(0x3000_0000, size), Some(MemoryType::Device));
        assert_eq!(memory_type(RAM_BASE, size), Some(MemoryType::Ram));
        assert_eq!(memory_type(RAM_BASE + size - 1, size), Some(MemoryType::Ram));
        assert_eq!(memory_type(RAM_BASE + size, size), None);
        assert_eq!(memory_type(RAM_BASE + 32 * MEBIBYTE - 1, 32 * MEBIBYTE), Some(MemoryType::Ram));
        assert_eq!(memory_type(0x8000_0000, u64::MAX), None);
    }

    #[test]
    fn memory_is_mapped_in_whole_blocks_up_to_a_gigabyte() {
        assert_eq!(mapped_memory_size(16 * MEBIBYTE), 16 * MEBIBYTE);
        assert_eq!(mapped_memory_size(16 * MEBIBYTE + 1), 18 * MEBIBYTE);
        assert_eq!(mapped_memory_size(0), 0);
        assert_eq!(mapped_memory_size(4 * GIGABYTE), GIGABYTE);
    }

    #[test]
    fn descriptors_carry_the_documented_attributes() {
        // Device: AttrIndx 0, not shareable, access flag, PXN and UXN.
        assert_eq!(block_descriptor(0x0800_0000, MemoryType::Device), 0x0060_0000_0800_0401);
        // Channel window: AttrIndx 1, inner shareable, PXN and UXN.
        assert_eq!(block_descriptor(0x2000_0000, MemoryType::Shared), 0x0060_0000_2000_0705);
        // RAM: AttrIndx 1, inner shareable, executable at EL1 only.
        assert_eq!(block_descriptor(RAM_BASE, MemoryType::Ram), 0x0040_0000_4000_0705);
        assert_eq!(table_descriptor(0x4001_2000), 0x4001_2003);
    }

    #[test]
    fn the_tables_map_each_block_onto_itself() {
        let mut tables = Box::new(Tables::new());
        tables.fill(32 * MEBIBYTE);
        let low = tables.low.0.as_ptr() as u64;
        let ram = tables.ram.0.as_ptr() as u64;
        assert_eq!(tables.level1.0[0], table_descriptor(low));
        assert_eq!(tables.level1.0[1], table_descriptor(ram));
        assert!(tables.level1.0[2..].iter().all(|&entry| entry == 0));
        for (index, &entry) in tables.low.0.iter().enumerate() {
            let address = index as u64 * BLOCK_SIZE;
            assert_eq!(entry & descriptor::ADDRESS_MASK, address);
            let shared = (CHANNEL_WINDOW_START..CHANNEL_WINDOW_END).contains(&address);
            assert_eq!((entry >> 2) & 0b111 == ATTRIBUTE_NORMAL, shared, "block {address:#x}");
        }
        let mapped: Vec<usize> = (0..ENTRIES).filter(|&index| tables.ram.0[index] != 0).collect();
        assert_eq!(mapped, (0..16).collect::<Vec<_>>());
        assert_eq!(tables.ram.0[15] & descriptor::ADDRESS_MASK, RAM_BASE + 15 * BLOCK_SIZE);
    }
}
