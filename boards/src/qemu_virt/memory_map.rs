//! QEMU virt's physical memory map, CPUs and fixed interrupts.
//!
//! Only `Region { base, size }` literals and integer constants: the `boards`
//! library reads this file with its own `Region`, and `boards/build.rs` reads
//! it with the manifest checker's, so the checks and the hypervisor use the
//! same numbers.

use crate::Region;

/// Number of physical CPUs the system is started with (`-smp`).
pub const CPU_COUNT: usize = 4;
/// RAM the system is started with (`-m`).
pub const RAM: Region = Region { base: 0x4000_0000, size: 2 << 30 };
/// MMIO space below RAM: devices are mapped from here with device attributes.
pub const DEVICE_SPACE: Region = Region { base: 0, size: 0x4000_0000 };
/// The PL011 UART that the hypervisor owns.
pub const UART: Region = Region { base: 0x0900_0000, size: 0x1000 };
/// The GICv3 distributor.
pub const GIC_DISTRIBUTOR: Region = Region { base: 0x0800_0000, size: 0x1_0000 };
/// The GICv3 redistributors (two 64 KiB frames per CPU).
pub const GIC_REDISTRIBUTORS: Region = Region { base: 0x080a_0000, size: 0xf6_0000 };
/// The virtio-mmio transports (32 slots of 512 bytes).
pub const VIRTIO_MMIO: Region = Region { base: 0x0a00_0000, size: 0x4000 };
/// Where QEMU places its device tree when it boots an ELF image.
pub const FIRMWARE_DEVICE_TREE: Region = Region { base: 0x4000_0000, size: 0x20_0000 };
/// The hypervisor's own memory: its image, stacks and frame pool.
pub const HYPERVISOR: Region = Region { base: 0x4020_0000, size: 0x3e0_0000 };
/// Where the loader places the boot-image index and the VMs' images
/// (`boot_image`). Mapped into no VM.
pub const STAGING: Region = Region { base: 0x4400_0000, size: 0x0c00_0000 };
/// The physical UART's interrupt (SPI 1).
pub const UART_INTERRUPT: u32 = 33;
/// The counter frequency QEMU gives the generic timer (CNTFRQ_EL0).
pub const COUNTER_FREQUENCY: u64 = 62_500_000;
