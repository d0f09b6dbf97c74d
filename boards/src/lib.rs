//! Board support: the physical memory map, devices and virtual machines of each board.
//!
//! A board is a module of constants. The hypervisor, the guests and the host tools
//! (`cargo xtask`, the integration tests) all read the same constants, so the QEMU
//! command line, the hypervisor's partitions and the tests cannot disagree.
//!
//! Only QEMU's `virt` machine exists so far; the Raspberry Pi 3 follows.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

pub mod boot_image;
pub mod qemu_virt;
pub mod test_guest;

/// A range of physical memory or of MMIO space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address of the range.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// The address one past the end of the range.
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }

    /// Whether `address` falls inside the range.
    pub const fn contains(&self, address: u64) -> bool {
        address >= self.base && address < self.end()
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// What kind of software a virtual machine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtualMachineKind {
    /// A Linux kernel with an initramfs, booted with a generated device tree.
    Linux,
    /// The small EL1 test guest (`tests/test-guest`).
    Test,
}

/// One virtual machine of the system, as the hypervisor builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualMachine {
    /// Name used on the console and in reports.
    pub name: &'static str,
    /// What it runs.
    pub kind: VirtualMachineKind,
    /// Physical CPUs its vCPUs are pinned to: vCPU `n` runs on `cpus[n]`.
    pub cpus: &'static [usize],
    /// Physical memory backing the VM's RAM.
    pub memory: Region,
    /// Guest-physical address at which the VM sees its RAM.
    pub guest_memory_base: u64,
}

impl VirtualMachine {
    /// The guest-physical range of the VM's RAM.
    pub const fn guest_memory(&self) -> Region {
        Region { base: self.guest_memory_base, size: self.memory.size }
    }
}
