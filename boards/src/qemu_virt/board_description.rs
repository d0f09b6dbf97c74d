//! QEMU virt as the manifest checks see it, built from `memory_map.rs`.
//!
//! Compiled by `boards/build.rs` and by the `system-manifest` tests, next to
//! `memory_map.rs` and with the `system_manifest` crate; the `boards` library
//! itself does not compile it.

use super::memory_map::{
    CPU_COUNT, DEVICE_SPACE, FIRMWARE_DEVICE_TREE, GIC_DISTRIBUTOR, GIC_REDISTRIBUTORS, HYPERVISOR,
    RAM, STAGING, UART, UART_INTERRUPT,
};
use system_manifest::{Board, NamedInterrupt, NamedRegion, DOORBELL_INTERRUPT_BASE};

/// The first shared peripheral interrupt (SPI 0).
const FIRST_SHARED_INTERRUPT: u32 = 32;

/// QEMU virt: its CPUs, RAM and what of them the hypervisor keeps.
pub const BOARD: Board = Board {
    name: "qemu-virt",
    cpu_count: CPU_COUNT,
    ram: RAM,
    reserved_memory: &[
        NamedRegion { name: "the firmware's device tree", region: FIRMWARE_DEVICE_TREE },
        NamedRegion { name: "the hypervisor", region: HYPERVISOR },
        NamedRegion { name: "the staging region", region: STAGING },
    ],
    device_space: DEVICE_SPACE,
    hypervisor_devices: &[
        NamedRegion { name: "the UART", region: UART },
        NamedRegion { name: "the GIC distributor", region: GIC_DISTRIBUTOR },
        NamedRegion { name: "the GIC redistributors", region: GIC_REDISTRIBUTORS },
    ],
    reserved_interrupts: &[NamedInterrupt { name: "the UART", interrupt: UART_INTERRUPT }],
    // Devices stay below the channel doorbells of the VMs' virtual GICs.
    device_interrupts: FIRST_SHARED_INTERRUPT..=DOORBELL_INTERRUPT_BASE - 1,
};
