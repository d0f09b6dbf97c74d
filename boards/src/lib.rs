//! Board support: the physical memory map, devices and systems of each board.
//!
//! A board is a module of constants. The hypervisor, the guests and the host tools
//! (`cargo xtask`, the integration tests) all read the same constants, so the QEMU
//! command line, the hypervisor's partitions and the tests cannot disagree.
//!
//! A board's systems (its VMs, their devices and the channels between them) are
//! declared in TOML manifests, `boards/<board>/*.toml`; the build checks them with
//! the `system-manifest` crate and turns them into [`System`] constants
//! (`docs/manifest.md`).
//!
//! Only QEMU's `virt` machine exists so far; the Raspberry Pi 3 follows.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

pub mod boot_image;
pub mod multiaddr;
pub mod qemu_virt;
#[cfg(not(target_os = "none"))]
pub mod staging;
pub mod system;
pub mod test_guest;

pub use system::{
    channel_region_size, ring_offset, Channel, ChannelEnd, Device, Direction, LinuxDevice,
    P2pSettings, RestartPolicy, System, VirtualMachine, VirtualMachineKind, CHANNEL_NAME_MAX,
    CHANNEL_STATUS_SIZE, CHANNEL_WINDOW_ALIGNMENT, CHANNEL_WINDOW_BASE, RING_CONTROL_SIZE,
};

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
