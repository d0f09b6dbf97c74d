//! QEMU's `virt` machine (`-M virt,virtualization=on,gic-version=3`, 4 CPUs, 2 GiB).
//!
//! Addresses are those of QEMU 7.2's `hw/arm/virt.c` memory map.

use crate::{Region, VirtualMachine, VirtualMachineKind};

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

/// Memory each test VM gets.
const TEST_VM_MEMORY: u64 = 16 << 20;

/// The virtual machines of the system.
pub const VIRTUAL_MACHINES: &[VirtualMachine] = &[
    VirtualMachine {
        name: "linux",
        kind: VirtualMachineKind::Linux,
        cpus: &[0, 1],
        memory: Region { base: 0x8000_0000, size: 1 << 30 },
        guest_memory_base: 0x4000_0000,
    },
    VirtualMachine {
        name: "alpha",
        kind: VirtualMachineKind::Test,
        cpus: &[2],
        memory: Region { base: 0x5000_0000, size: TEST_VM_MEMORY },
        guest_memory_base: 0x4000_0000,
    },
    VirtualMachine {
        name: "beta",
        kind: VirtualMachineKind::Test,
        cpus: &[3],
        memory: Region { base: 0x5100_0000, size: TEST_VM_MEMORY },
        guest_memory_base: 0x4000_0000,
    },
];

/// The index of the VM called `name` in [`VIRTUAL_MACHINES`].
pub fn machine_index(name: &str) -> Option<usize> {
    VIRTUAL_MACHINES.iter().position(|machine| machine.name.as_bytes() == name.as_bytes())
}

/// What the Linux VM boots, for [`staging_image`].
#[cfg(not(target_os = "none"))]
pub struct LinuxImages<'a> {
    /// An arm64 Linux `Image`.
    pub kernel: &'a [u8],
    /// The initramfs, if any.
    pub initramfs: Option<&'a [u8]>,
    /// The kernel command line.
    pub command_line: &'a str,
}

/// The staging image of this board: the boot-image index, the test guest
/// with its scenario (from `scenario_of`, by VM name) for every test VM, and
/// Linux's images if given. Used by `cargo xtask` and the integration tests.
#[cfg(not(target_os = "none"))]
pub fn staging_image(
    test_guest: &[u8],
    scenario_of: impl Fn(&str) -> crate::test_guest::Scenario,
    linux: Option<&LinuxImages>,
) -> Result<Vec<u8>, crate::boot_image::IndexError> {
    use crate::boot_image::ImageKind;
    let mut images: Vec<(ImageKind, u32, Vec<u8>)> = Vec::new();
    for (index, machine) in VIRTUAL_MACHINES.iter().enumerate() {
        let index = index as u32;
        match machine.kind {
            VirtualMachineKind::Test => {
                let scenario = scenario_of(machine.name) as u64;
                images.push((ImageKind::FlatBinary, index, test_guest.to_vec()));
                images.push((ImageKind::Parameters, index, scenario.to_le_bytes().to_vec()));
            }
            VirtualMachineKind::Linux => {
                if let Some(linux) = linux {
                    images.push((ImageKind::LinuxKernel, index, linux.kernel.to_vec()));
                    if let Some(initramfs) = linux.initramfs {
                        images.push((ImageKind::Initramfs, index, initramfs.to_vec()));
                    }
                    let command_line = linux.command_line.as_bytes().to_vec();
                    images.push((ImageKind::CommandLine, index, command_line));
                }
            }
        }
    }
    let borrowed: Vec<_> =
        images.iter().map(|(kind, machine, bytes)| (*kind, *machine, bytes.as_slice())).collect();
    crate::boot_image::builder::compose(&borrowed, STAGING.size)
}

/// The CPU index of the core whose MPIDR_EL1 is `mpidr`, if it is one of ours.
/// QEMU numbers the cores of one cluster in affinity level 0.
pub const fn cpu_index(mpidr: u64) -> Option<usize> {
    let affinity = mpidr & 0xff_00ff_ffff;
    if affinity < CPU_COUNT as u64 {
        Some(affinity as usize)
    } else {
        None
    }
}

/// The MPIDR affinity value that PSCI `CPU_ON` takes for CPU `index`.
pub const fn cpu_affinity(index: usize) -> u64 {
    index as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_machines_fit_ram_and_do_not_overlap() {
        for (index, machine) in VIRTUAL_MACHINES.iter().enumerate() {
            assert!(machine.memory.base >= RAM.base && machine.memory.end() <= RAM.end());
            assert!(!machine.memory.overlaps(&HYPERVISOR));
            assert!(!machine.memory.overlaps(&FIRMWARE_DEVICE_TREE));
            assert!(!machine.memory.overlaps(&STAGING));
            assert!(machine.cpus.iter().all(|&cpu| cpu < CPU_COUNT));
            for other in &VIRTUAL_MACHINES[index + 1..] {
                assert!(
                    !machine.memory.overlaps(&other.memory),
                    "{} and {}",
                    machine.name,
                    other.name
                );
            }
        }
    }

    #[test]
    fn cpu_numbering_round_trips() {
        for index in 0..CPU_COUNT {
            assert_eq!(cpu_index(0x8000_0000 | cpu_affinity(index)), Some(index));
        }
        assert_eq!(cpu_index(0x8000_0004), None);
        assert_eq!(cpu_index(0x8000_0100), None);
    }
}
