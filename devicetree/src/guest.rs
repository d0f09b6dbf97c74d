//! The DTB a Linux guest boots with, built from a [`GuestDescription`].
//!
//! The tree follows what QEMU's `virt` machine generates for GICv3 (`hw/arm/virt.c`),
//! which is what arm64 Linux is used to:
//!
//! ```text
//! /                 #address-cells = 2, #size-cells = 2, compatible = "linux,dummy-virt",
//!                   model, interrupt-parent = <&intc>
//! /chosen           bootargs, stdout-path, linux,initrd-start, linux,initrd-end, rng-seed
//! /memory@BASE      device_type = "memory", reg
//! /cpus/cpu@N       device_type = "cpu", compatible, reg = <N>, enable-method = "psci"
//! /psci             "arm,psci-1.0", "arm,psci-0.2", "arm,psci", method = "smc"
//! /intc@GICD        "arm,gic-v3", reg = <GICD GICR>, maintenance interrupt PPI 9
//! /timer            "arm,armv8-timer", four PPIs, always-on
//! /apb-pclk         "fixed-clock", the UART's clock
//! /pl011@BASE       "arm,pl011", "arm,primecell"
//! /virtio_mmio@BASE "virtio,mmio", one per slot
//! ```
//!
//! Interrupts use the GICv3 binding's three cells: kind (0 for an SPI, 1 for a PPI), the
//! number within that kind, and trigger flags (1 edge rising, 4 level high).

use crate::writer::Writer;
use crate::{Error, Region};

/// The most vCPUs a guest may have.
pub const MAXIMUM_GUEST_CPUS: usize = 8;
/// The size of one GICv3 redistributor frame pair (RD_base and SGI_base): 128 KiB.
pub const REDISTRIBUTOR_FRAME_SIZE: u64 = 0x2_0000;
/// The highest SPI number: INTID 1019, the last SPI a GICv3 has, minus 32.
pub const MAXIMUM_SHARED_PERIPHERAL_INTERRUPT: u32 = 1019 - 32;
/// The number of PPIs a GICv3 has (INTIDs 16 to 31).
pub const PRIVATE_PERIPHERAL_INTERRUPT_COUNT: u32 = 16;
/// The PPI on which the GIC signals virtual-interface maintenance (as QEMU and most
/// boards wire it).
pub const MAINTENANCE_INTERRUPT: u32 = 9;
/// The phandle given to the interrupt controller node.
pub const INTERRUPT_CONTROLLER_PHANDLE: u32 = 1;
/// The phandle given to the UART's clock node.
pub const CLOCK_PHANDLE: u32 = 2;

/// First interrupt cell: a shared peripheral interrupt.
const SHARED_PERIPHERAL: u32 = 0;
/// First interrupt cell: a private peripheral interrupt.
const PRIVATE_PERIPHERAL: u32 = 1;
/// Third interrupt cell: edge-triggered, rising edge.
const EDGE_RISING: u32 = 1;
/// Third interrupt cell: level-triggered, active high.
const LEVEL_HIGH: u32 = 4;

/// A PL011 UART the guest may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uart {
    /// Its registers (guest-physical).
    pub region: Region,
    /// Its interrupt, as an SPI number (the INTID minus 32).
    pub spi: u32,
    /// The frequency of its reference clock, in hertz (QEMU: 24 MHz).
    pub clock_frequency: u32,
}

/// A virtio-mmio transport slot the guest may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioMmio {
    /// Its registers (guest-physical).
    pub region: Region,
    /// Its interrupt, as an SPI number (the INTID minus 32).
    pub spi: u32,
}

/// Everything [`build_guest`] needs to know about one Linux guest. Addresses are
/// guest-physical.
#[derive(Clone, Copy, Debug)]
pub struct GuestDescription<'a> {
    /// The machine's name for `/model`, such as `"Elastos guest (QEMU virt)"`.
    pub model: &'a str,
    /// The guest's RAM.
    pub memory: Region,
    /// The CPU compatible string, such as `"arm,cortex-a53"`.
    pub cpu_compatible: &'a str,
    /// The number of vCPUs, 1 to [`MAXIMUM_GUEST_CPUS`]; vCPU N has MPIDR affinity N.
    pub cpu_count: usize,
    /// The GICv3 distributor's registers.
    pub gic_distributor: Region,
    /// One region holding a redistributor frame pair of [`REDISTRIBUTOR_FRAME_SIZE`] per
    /// vCPU.
    pub gic_redistributors: Region,
    /// PPI numbers (not INTIDs) of the secure physical, non-secure physical, virtual and
    /// hypervisor timers; QEMU uses 13, 14, 11 and 10.
    pub timer_interrupts: [u32; 4],
    /// The console UART, if the guest has one; `/chosen/stdout-path` then points at it.
    pub uart: Option<Uart>,
    /// virtio-mmio slots, in the order the guest should see them (may be empty).
    pub virtio_mmio: &'a [VirtioMmio],
    /// The kernel command line.
    pub bootargs: &'a str,
    /// Where the initial RAM disk was loaded, if there is one; it must lie in `memory`.
    pub initrd: Option<Region>,
    /// Random bytes for `/chosen/rng-seed`, if any: Linux seeds its random
    /// number generator with them at boot, as it does on a board whose
    /// firmware provides them.
    pub rng_seed: Option<&'a [u8]>,
}

/// Why a [`GuestDescription`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptionProblem {
    /// `cpu_count` is 0 or above [`MAXIMUM_GUEST_CPUS`].
    CpuCount,
    /// A region (memory, GIC, UART, virtio-mmio, initrd) has size 0.
    EmptyRegion,
    /// A region runs past the end of the 64-bit address space.
    RegionWraps,
    /// Two of memory, GIC distributor, GIC redistributors, UART and virtio-mmio regions
    /// overlap.
    OverlappingRegions,
    /// The redistributor region has room for fewer frames than there are vCPUs.
    RedistributorsTooSmall,
    /// A timer interrupt is not a PPI number (0 to 15), two timers share one, or one is
    /// the GIC maintenance interrupt.
    TimerInterrupt,
    /// A device's SPI number is above [`MAXIMUM_SHARED_PERIPHERAL_INTERRUPT`].
    SharedPeripheralInterrupt,
    /// Two devices share an SPI.
    SharedInterruptReused,
    /// The UART's clock frequency is 0.
    ClockFrequency,
    /// The initrd does not lie inside the guest's memory.
    InitrdOutsideMemory,
    /// `model` or `cpu_compatible` is empty, or a string contains a NUL byte.
    InvalidString,
}

/// Writes the DTB for `description` into `buffer` and returns its size.
///
/// Fails with [`Error::InvalidDescription`] if the description is unsound (nothing is
/// written then), and with [`Error::BufferFull`] if `buffer` is too small.
pub fn build_guest(description: &GuestDescription, buffer: &mut [u8]) -> Result<usize, Error> {
    validate(description).map_err(Error::InvalidDescription)?;
    let mut writer = Writer::new(buffer)?;
    writer.begin_node("")?;
    writer.property_u32("interrupt-parent", INTERRUPT_CONTROLLER_PHANDLE)?;
    writer.property_string("model", description.model)?;
    writer.property_u32("#size-cells", 2)?;
    writer.property_u32("#address-cells", 2)?;
    writer.property_string("compatible", "linux,dummy-virt")?;
    write_chosen(&mut writer, description)?;
    write_memory(&mut writer, description.memory)?;
    write_cpus(&mut writer, description)?;
    write_psci(&mut writer)?;
    write_interrupt_controller(&mut writer, description)?;
    write_timer(&mut writer, description.timer_interrupts)?;
    if let Some(uart) = description.uart {
        write_uart(&mut writer, &uart)?;
    }
    for device in description.virtio_mmio {
        write_virtio_mmio(&mut writer, device)?;
    }
    writer.end_node()?;
    writer.finish()
}

/// `/chosen`: the command line, the console and the initrd.
fn write_chosen(writer: &mut Writer, description: &GuestDescription) -> Result<(), Error> {
    writer.begin_node("chosen")?;
    writer.property_string("bootargs", description.bootargs)?;
    if let Some(uart) = description.uart {
        let path = NodeName::new("/pl011", uart.region.base);
        writer.property_string("stdout-path", path.as_str()?)?;
    }
    if let Some(initrd) = description.initrd {
        writer.property_u64("linux,initrd-start", initrd.base)?;
        // Validation made sure the end does not overflow.
        writer.property_u64("linux,initrd-end", initrd.base + initrd.size)?;
    }
    if let Some(seed) = description.rng_seed {
        writer.property("rng-seed", seed)?;
    }
    writer.end_node()
}

/// `/memory@BASE`: the guest's RAM.
fn write_memory(writer: &mut Writer, memory: Region) -> Result<(), Error> {
    writer.begin_node(NodeName::new("memory", memory.base).as_str()?)?;
    writer.property_cells("reg", &region_cells(memory))?;
    writer.property_string("device_type", "memory")?;
    writer.end_node()
}

/// `/cpus`: one `cpu@N` node per vCPU, started through PSCI.
fn write_cpus(writer: &mut Writer, description: &GuestDescription) -> Result<(), Error> {
    writer.begin_node("cpus")?;
    writer.property_u32("#size-cells", 0)?;
    writer.property_u32("#address-cells", 1)?;
    // Validation bounds the count by MAXIMUM_GUEST_CPUS, so each index fits in a u32.
    for index in 0..description.cpu_count as u32 {
        writer.begin_node(NodeName::new("cpu", u64::from(index)).as_str()?)?;
        writer.property_u32("reg", index)?;
        writer.property_string("enable-method", "psci")?;
        writer.property_string("compatible", description.cpu_compatible)?;
        writer.property_string("device_type", "cpu")?;
        writer.end_node()?;
    }
    writer.end_node()
}

/// `/psci`: firmware calls by SMC, which the hypervisor traps and answers.
fn write_psci(writer: &mut Writer) -> Result<(), Error> {
    writer.begin_node("psci")?;
    writer.property_string("method", "smc")?;
    writer.property_strings("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])?;
    writer.end_node()
}

/// `/intc@GICD`: the GICv3 distributor and redistributors.
fn write_interrupt_controller(
    writer: &mut Writer,
    description: &GuestDescription,
) -> Result<(), Error> {
    let distributor = region_cells(description.gic_distributor);
    let redistributors = region_cells(description.gic_redistributors);
    writer.begin_node(NodeName::new("intc", description.gic_distributor.base).as_str()?)?;
    writer.property_u32("phandle", INTERRUPT_CONTROLLER_PHANDLE)?;
    writer
        .property_cells("interrupts", &[PRIVATE_PERIPHERAL, MAINTENANCE_INTERRUPT, LEVEL_HIGH])?;
    writer.property_cells(
        "reg",
        &[
            distributor[0],
            distributor[1],
            distributor[2],
            distributor[3],
            redistributors[0],
            redistributors[1],
            redistributors[2],
            redistributors[3],
        ],
    )?;
    writer.property_u32("#redistributor-regions", 1)?;
    writer.property_string("compatible", "arm,gic-v3")?;
    writer.property_empty("ranges")?;
    writer.property_u32("#size-cells", 2)?;
    writer.property_u32("#address-cells", 2)?;
    writer.property_empty("interrupt-controller")?;
    writer.property_u32("#interrupt-cells", 3)?;
    writer.end_node()
}

/// `/timer`: the generic timer's four PPIs (GICv3 has no CPU mask in the flags).
fn write_timer(writer: &mut Writer, interrupts: [u32; 4]) -> Result<(), Error> {
    let mut cells = [0; 12];
    for (triple, interrupt) in cells.chunks_exact_mut(3).zip(interrupts) {
        triple.copy_from_slice(&[PRIVATE_PERIPHERAL, interrupt, LEVEL_HIGH]);
    }
    writer.begin_node("timer")?;
    writer.property_cells("interrupts", &cells)?;
    writer.property_empty("always-on")?;
    writer.property_string("compatible", "arm,armv8-timer")?;
    writer.end_node()
}

/// `/apb-pclk` and `/pl011@BASE`: the console UART and its fixed clock.
fn write_uart(writer: &mut Writer, uart: &Uart) -> Result<(), Error> {
    writer.begin_node("apb-pclk")?;
    writer.property_u32("phandle", CLOCK_PHANDLE)?;
    writer.property_string("clock-output-names", "clk24mhz")?;
    writer.property_u32("clock-frequency", uart.clock_frequency)?;
    writer.property_u32("#clock-cells", 0)?;
    writer.property_string("compatible", "fixed-clock")?;
    writer.end_node()?;

    writer.begin_node(NodeName::new("pl011", uart.region.base).as_str()?)?;
    writer.property_strings("clock-names", &["uartclk", "apb_pclk"])?;
    writer.property_cells("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    writer.property_cells("interrupts", &[SHARED_PERIPHERAL, uart.spi, LEVEL_HIGH])?;
    writer.property_cells("reg", &region_cells(uart.region))?;
    writer.property_strings("compatible", &["arm,pl011", "arm,primecell"])?;
    writer.end_node()
}

/// `/virtio_mmio@BASE`: one virtio-mmio transport, edge-triggered as QEMU wires it.
fn write_virtio_mmio(writer: &mut Writer, device: &VirtioMmio) -> Result<(), Error> {
    writer.begin_node(NodeName::new("virtio_mmio", device.region.base).as_str()?)?;
    writer.property_empty("dma-coherent")?;
    writer.property_cells("interrupts", &[SHARED_PERIPHERAL, device.spi, EDGE_RISING])?;
    writer.property_cells("reg", &region_cells(device.region))?;
    writer.property_string("compatible", "virtio,mmio")?;
    writer.end_node()
}

/// A region as `reg` cells with `#address-cells = 2` and `#size-cells = 2`.
fn region_cells(region: Region) -> [u32; 4] {
    [(region.base >> 32) as u32, region.base as u32, (region.size >> 32) as u32, region.size as u32]
}

/// Checks everything [`build_guest`] relies on.
fn validate(description: &GuestDescription) -> Result<(), DescriptionProblem> {
    if description.cpu_count == 0 || description.cpu_count > MAXIMUM_GUEST_CPUS {
        return Err(DescriptionProblem::CpuCount);
    }
    let strings_valid = !description.model.is_empty()
        && !description.cpu_compatible.is_empty()
        && [description.model, description.cpu_compatible, description.bootargs]
            .iter()
            .all(|string| !string.as_bytes().contains(&0));
    if !strings_valid {
        return Err(DescriptionProblem::InvalidString);
    }

    let regions = || {
        [description.memory, description.gic_distributor, description.gic_redistributors]
            .into_iter()
            .chain(description.uart.map(|uart| uart.region))
            .chain(description.virtio_mmio.iter().map(|device| device.region))
    };
    for (index, region) in regions().enumerate() {
        check_region(&region)?;
        if regions().skip(index + 1).any(|other| other.overlaps(&region)) {
            return Err(DescriptionProblem::OverlappingRegions);
        }
    }
    let frames_needed = description.cpu_count as u64 * REDISTRIBUTOR_FRAME_SIZE;
    if description.gic_redistributors.size < frames_needed {
        return Err(DescriptionProblem::RedistributorsTooSmall);
    }

    let timers = description.timer_interrupts;
    for (index, interrupt) in timers.iter().enumerate() {
        if *interrupt >= PRIVATE_PERIPHERAL_INTERRUPT_COUNT
            || *interrupt == MAINTENANCE_INTERRUPT
            || timers[index + 1..].contains(interrupt)
        {
            return Err(DescriptionProblem::TimerInterrupt);
        }
    }

    let shared_interrupts = || {
        description
            .uart
            .map(|uart| uart.spi)
            .into_iter()
            .chain(description.virtio_mmio.iter().map(|device| device.spi))
    };
    for (index, interrupt) in shared_interrupts().enumerate() {
        if interrupt > MAXIMUM_SHARED_PERIPHERAL_INTERRUPT {
            return Err(DescriptionProblem::SharedPeripheralInterrupt);
        }
        if shared_interrupts().skip(index + 1).any(|other| other == interrupt) {
            return Err(DescriptionProblem::SharedInterruptReused);
        }
    }
    if description.uart.is_some_and(|uart| uart.clock_frequency == 0) {
        return Err(DescriptionProblem::ClockFrequency);
    }

    if let Some(initrd) = description.initrd {
        check_region(&initrd)?;
        if !description.memory.contains(&initrd) {
            return Err(DescriptionProblem::InitrdOutsideMemory);
        }
    }
    Ok(())
}

/// Checks that a region is non-empty and does not wrap around the address space.
fn check_region(region: &Region) -> Result<(), DescriptionProblem> {
    if region.size == 0 {
        return Err(DescriptionProblem::EmptyRegion);
    }
    if region.end().is_none() {
        return Err(DescriptionProblem::RegionWraps);
    }
    Ok(())
}

/// A node name or path such as `memory@40000000`, built without a heap: a prefix, `@`,
/// and an address in lower-case hexadecimal without leading zeros.
struct NodeName {
    /// The name's bytes; the longest prefix used here plus `@` and 16 digits fit.
    bytes: [u8; 32],
    /// How many of `bytes` are in use.
    length: usize,
}

impl NodeName {
    /// Builds `prefix@address`. `prefix` is one of this module's short, ASCII names.
    fn new(prefix: &str, address: u64) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut name = Self { bytes: [0; 32], length: 0 };
        let prefix = &prefix.as_bytes()[..prefix.len().min(32 - 17)];
        name.bytes[..prefix.len()].copy_from_slice(prefix);
        name.bytes[prefix.len()] = b'@';
        name.length = prefix.len() + 1;
        let digit_count = (64 - address.leading_zeros()).div_ceil(4).max(1);
        for position in (0..digit_count).rev() {
            name.bytes[name.length] = DIGITS[((address >> (position * 4)) & 0xf) as usize];
            name.length += 1;
        }
        name
    }

    /// The name as a string slice.
    fn as_str(&self) -> Result<&str, Error> {
        // Only ASCII is ever stored, so this cannot fail; an error here would be a bug
        // in `new`, reported as a bad name rather than a panic.
        core::str::from_utf8(&self.bytes[..self.length]).map_err(|_| Error::InvalidName)
    }
}

#[cfg(test)]
mod tests {
    use super::NodeName;

    #[test]
    fn node_names_use_lower_case_hex_without_leading_zeros() {
        assert_eq!(NodeName::new("memory", 0x4000_0000).as_str(), Ok("memory@40000000"));
        assert_eq!(NodeName::new("cpu", 0).as_str(), Ok("cpu@0"));
        assert_eq!(NodeName::new("cpu", 7).as_str(), Ok("cpu@7"));
        assert_eq!(NodeName::new("virtio_mmio", 0xa00_3e00).as_str(), Ok("virtio_mmio@a003e00"));
        assert_eq!(NodeName::new("/pl011", 0x900_0000).as_str(), Ok("/pl011@9000000"));
        assert_eq!(
            NodeName::new("virtio_mmio", u64::MAX).as_str(),
            Ok("virtio_mmio@ffffffffffffffff")
        );
    }
}
