//! What the checks know about a board: its CPUs, RAM, device space and the
//! parts of them the hypervisor keeps for itself.

use std::fmt;
use std::ops::RangeInclusive;

/// A range of physical memory or of MMIO space.
///
/// The same shape as `boards::Region`, so a board's memory map can be read by
/// both crates (`boards/src/qemu_virt/memory_map.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// First address of the range.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// The address one past the end of the range (saturating, so a range a
    /// manifest gets wrong cannot overflow).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }

    /// Whether `other` lies wholly inside this range.
    pub const fn encloses(&self, other: &Region) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:#x}..{:#x}", self.base, self.end())
    }
}

/// A region with the name the error messages give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedRegion {
    /// What the region is, such as "the hypervisor" or "the UART".
    pub name: &'static str,
    /// Where it is.
    pub region: Region,
}

/// An interrupt the hypervisor keeps, with the name the error messages give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedInterrupt {
    /// What raises it, such as "the UART".
    pub name: &'static str,
    /// Its INTID.
    pub interrupt: u32,
}

/// A board, as far as the manifest checks need to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// The board's name, as its manifest folder has it (`boards/<name>/`).
    pub name: &'static str,
    /// Physical CPUs, numbered from 0.
    pub cpu_count: usize,
    /// All of the board's RAM.
    pub ram: Region,
    /// Parts of RAM no VM may have: the firmware's device tree, the
    /// hypervisor, the staging region of boot images.
    pub reserved_memory: &'static [NamedRegion],
    /// The MMIO space in which a VM's devices must lie.
    pub device_space: Region,
    /// Devices the hypervisor owns: the UART, the interrupt controller.
    pub hypervisor_devices: &'static [NamedRegion],
    /// Interrupts the hypervisor owns (the UART's).
    pub reserved_interrupts: &'static [NamedInterrupt],
    /// The interrupts (INTIDs) a VM's devices may use: shared peripheral
    /// interrupts below the channel doorbells.
    pub device_interrupts: RangeInclusive<u32>,
}
