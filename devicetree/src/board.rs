//! Reading the board's DTB: the one QEMU or the firmware passes to the hypervisor.
//!
//! [`total_size`] checks a blob's header, so the hypervisor can tell how many bytes it
//! found before trusting any of them. [`read_board`] then checks the whole blob (every
//! block, token, name and property length) and only afterwards hands it to the `fdt`
//! crate, whose accessors index and `expect` freely and would panic on a corrupted blob.
//! The checks accept exactly the layout `fdt` reads safely:
//!
//! - version 17 (or later, compatible with 16 or 17), every block inside `totalsize`, a
//!   terminated memory reservation block;
//! - one root node with an empty name, other nodes with non-empty UTF-8 names, nesting
//!   at most [`MAXIMUM_DEPTH`] deep, each node's properties before its children;
//! - property values inside the structure block, names inside the strings block, UTF-8,
//!   without `/`, and `#address-cells`, `#size-cells`, `#interrupt-cells` one cell long;
//! - no `FDT_NOP` tokens (`fdt` 0.1.5 mishandles them between properties and nodes;
//!   QEMU and libfdt's usual edits never produce them).
//!
//! Addresses are read from `reg` as written: the nodes used here sit at the root of
//! QEMU's tree, so no `ranges` translation is needed.

use fdt::node::{FdtNode, RawReg};
use fdt::Fdt;

use crate::guest::{MAXIMUM_SHARED_PERIPHERAL_INTERRUPT, PRIVATE_PERIPHERAL_INTERRUPT_COUNT};
use crate::writer::{
    HEADER_SIZE, MAGIC, RESERVATION_ENTRY_SIZE, TOKEN_BEGIN_NODE, TOKEN_END, TOKEN_END_NODE,
    TOKEN_PROPERTY, VERSION,
};
use crate::{Error, Region, Uart, VirtioMmio};

/// The deepest node nesting [`read_board`] accepts (the root is at depth 1).
pub const MAXIMUM_DEPTH: usize = 32;
/// The most virtio-mmio slots [`BoardFacts`] records.
pub const MAXIMUM_VIRTIO_MMIO: usize = 32;
/// The most CPU affinities [`BoardFacts`] records.
pub const MAXIMUM_BOARD_CPUS: usize = 16;

/// The board parts [`read_board`] looks for, named in [`Error::Missing`] and
/// [`Error::InvalidProperty`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// A node with `device_type = "memory"`.
    Memory,
    /// `/cpus` and its `cpu@N` nodes.
    Cpus,
    /// The GICv3 (`compatible = "arm,gic-v3"`).
    InterruptController,
    /// The generic timer (`compatible = "arm,armv8-timer"`).
    Timer,
    /// A PL011 UART (`compatible = "arm,pl011"`) and its clock.
    Uart,
    /// A virtio-mmio slot (`compatible = "virtio,mmio"`).
    VirtioMmio,
}

/// What the hypervisor needs to know about the board, read from its DTB.
///
/// Only nodes whose `status` is absent, `"okay"` or `"ok"` count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardFacts<'a> {
    /// The first RAM region of the first memory node.
    pub memory: Region,
    /// How many RAM regions all memory nodes list together.
    pub memory_region_count: usize,
    /// The GICv3 distributor's registers.
    pub gic_distributor: Region,
    /// The first GICv3 redistributor region.
    pub gic_redistributors: Region,
    /// PPI numbers of the secure physical, non-secure physical, virtual and hypervisor
    /// timers (QEMU: 13, 14, 11, 10).
    pub timer_interrupts: [u32; 4],
    /// The console UART: the PL011 that `/chosen/stdout-path` names, else the first
    /// PL011; `None` if the board has none.
    pub uart: Option<Uart>,
    /// The first CPU's first `compatible` string, such as `"arm,cortex-a53"`.
    pub cpu_compatible: &'a str,
    /// How many `cpu` nodes `/cpus` holds.
    pub cpu_count: usize,
    /// The random bytes of `/chosen/rng-seed`, which firmware (QEMU among
    /// it) leaves for the operating system to seed its random number
    /// generator with; `None` if the tree has none.
    pub rng_seed: Option<&'a [u8]>,
    /// The MPIDR affinities (`reg`) of the first [`MAXIMUM_BOARD_CPUS`] CPUs.
    cpu_affinities: [u64; MAXIMUM_BOARD_CPUS],
    /// The virtio-mmio slots with the lowest addresses, in ascending order.
    virtio_mmio: [VirtioMmio; MAXIMUM_VIRTIO_MMIO],
    /// How many entries of `virtio_mmio` are in use.
    virtio_mmio_count: usize,
}

impl BoardFacts<'_> {
    /// The MPIDR affinities of the CPUs, in tree order (at most [`MAXIMUM_BOARD_CPUS`]),
    /// for starting them with PSCI `CPU_ON`.
    pub fn cpu_affinities(&self) -> &[u64] {
        &self.cpu_affinities[..self.cpu_count.min(MAXIMUM_BOARD_CPUS)]
    }

    /// The virtio-mmio slots, in ascending address order; if the board has more than
    /// [`MAXIMUM_VIRTIO_MMIO`], the ones at the lowest addresses.
    pub fn virtio_mmio(&self) -> &[VirtioMmio] {
        &self.virtio_mmio[..self.virtio_mmio_count]
    }
}

/// Checks a blob's header and returns its total size in bytes.
///
/// `bytes` may run past the end of the blob (a window of memory where a DTB was found).
/// Checks the magic number, the version, that `totalsize` lies within `bytes`, and that
/// the reservation, structure and strings blocks lie within `totalsize`.
pub fn total_size(bytes: &[u8]) -> Result<usize, Error> {
    Ok(Header::read(bytes)?.total_size)
}

/// Checks the whole blob and reads the [`BoardFacts`] from it.
///
/// Needs a memory node, `/cpus` with at least one CPU, a GICv3 and a generic timer;
/// a UART and virtio-mmio slots are optional.
pub fn read_board(bytes: &[u8]) -> Result<BoardFacts<'_>, Error> {
    let header = Header::read(bytes)?;
    let bytes = &bytes[..header.total_size];
    check_structure(bytes, &header)?;
    let tree = Fdt::new(bytes).map_err(|_| Error::Malformed)?;

    let (memory, memory_region_count) = read_memory(&tree)?;
    let (gic_distributor, gic_redistributors) = read_interrupt_controller(&tree)?;
    let timer_interrupts = read_timer(&tree)?;
    let uart = read_uart(&tree)?;
    let mut facts = BoardFacts {
        memory,
        memory_region_count,
        gic_distributor,
        gic_redistributors,
        timer_interrupts,
        uart,
        cpu_compatible: "",
        cpu_count: 0,
        rng_seed: tree
            .find_node("/chosen")
            .and_then(|chosen| chosen.property("rng-seed"))
            .map(|property| property.value)
            .filter(|seed| !seed.is_empty()),
        cpu_affinities: [0; MAXIMUM_BOARD_CPUS],
        virtio_mmio: [VirtioMmio::default(); MAXIMUM_VIRTIO_MMIO],
        virtio_mmio_count: 0,
    };
    read_cpus(&tree, &mut facts)?;
    read_virtio_mmio(&tree, &mut facts)?;
    Ok(facts)
}

/// The header fields [`read_board`] uses, checked.
struct Header {
    /// `totalsize`: the blob's size in bytes.
    total_size: usize,
    /// `off_dt_struct`.
    structure_offset: usize,
    /// `size_dt_struct`.
    structure_size: usize,
    /// `off_dt_strings`.
    strings_offset: usize,
    /// `size_dt_strings`.
    strings_size: usize,
    /// `off_mem_rsvmap`.
    reservations_offset: usize,
}

impl Header {
    /// Reads and checks the header at the start of `bytes`.
    fn read(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < HEADER_SIZE {
            return Err(Error::Truncated);
        }
        let field = |index: usize| read_u32(bytes, index * 4).unwrap_or(0) as usize;
        if field(0) != MAGIC as usize {
            return Err(Error::BadMagic);
        }
        if field(5) < VERSION as usize || field(6) > VERSION as usize {
            return Err(Error::UnsupportedVersion);
        }
        let header = Self {
            total_size: field(1),
            structure_offset: field(2),
            strings_offset: field(3),
            reservations_offset: field(4),
            strings_size: field(8),
            structure_size: field(9),
        };
        if header.total_size < HEADER_SIZE {
            return Err(Error::Malformed);
        }
        if header.total_size > bytes.len() {
            return Err(Error::Truncated);
        }
        let inside = |offset: usize, size: usize, alignment: usize| {
            offset >= HEADER_SIZE
                && offset.is_multiple_of(alignment)
                && offset.checked_add(size).is_some_and(|end| end <= header.total_size)
        };
        if !inside(header.reservations_offset, RESERVATION_ENTRY_SIZE, 8)
            || !inside(header.structure_offset, header.structure_size, 4)
            || !inside(header.strings_offset, header.strings_size, 1)
        {
            return Err(Error::Malformed);
        }
        Ok(header)
    }
}

/// Checks everything the `fdt` crate would otherwise trust (see the module overview).
/// `bytes` is exactly the blob, `totalsize` long.
fn check_structure(bytes: &[u8], header: &Header) -> Result<(), Error> {
    // The memory reservation block ends with an all-zero entry inside the blob.
    let mut entry_offset = header.reservations_offset;
    loop {
        let entry = bytes
            .get(entry_offset..entry_offset + RESERVATION_ENTRY_SIZE)
            .ok_or(Error::Malformed)?;
        if entry.iter().all(|byte| *byte == 0) {
            break;
        }
        entry_offset += RESERVATION_ENTRY_SIZE;
    }

    let structure =
        &bytes[header.structure_offset..header.structure_offset + header.structure_size];
    let strings = &bytes[header.strings_offset..header.strings_offset + header.strings_size];
    let mut position = 0;
    let mut depth = 0;
    let mut root_seen = false;
    let mut properties_allowed = false;
    loop {
        let token = read_u32(structure, position).ok_or(Error::Malformed)?;
        position += 4;
        match token {
            TOKEN_BEGIN_NODE => {
                let name = read_string(&structure[position..]).ok_or(Error::Malformed)?;
                if depth == 0 {
                    if root_seen || !name.is_empty() {
                        return Err(Error::Malformed);
                    }
                    root_seen = true;
                } else if name.is_empty() {
                    return Err(Error::Malformed);
                }
                depth += 1;
                if depth > MAXIMUM_DEPTH {
                    return Err(Error::Malformed);
                }
                position = padded(position + name.len() + 1);
                properties_allowed = true;
            }
            TOKEN_END_NODE => {
                if depth == 0 {
                    return Err(Error::Malformed);
                }
                depth -= 1;
                properties_allowed = false;
            }
            TOKEN_PROPERTY => {
                if depth == 0 || !properties_allowed {
                    return Err(Error::Malformed);
                }
                let length = read_u32(structure, position).ok_or(Error::Malformed)? as usize;
                let name_offset =
                    read_u32(structure, position + 4).ok_or(Error::Malformed)? as usize;
                let value_end = (position + 8)
                    .checked_add(length)
                    .filter(|&end| end <= structure.len())
                    .ok_or(Error::Malformed)?;
                let name = strings
                    .get(name_offset..)
                    .and_then(read_string)
                    .filter(|name| !name.is_empty() && !name.contains('/'))
                    .ok_or(Error::Malformed)?;
                let is_cell_count =
                    matches!(name, "#address-cells" | "#size-cells" | "#interrupt-cells");
                if is_cell_count && length != 4 {
                    return Err(Error::Malformed);
                }
                position = padded(value_end);
            }
            TOKEN_END if depth == 0 && root_seen => return Ok(()),
            // FDT_NOP, FDT_END too early and unknown tokens.
            _ => return Err(Error::Malformed),
        }
    }
}

/// The first RAM region and how many regions all memory nodes list.
fn read_memory(tree: &Fdt) -> Result<(Region, usize), Error> {
    let mut first = None;
    let mut count = 0;
    let memory_nodes = tree.all_nodes().filter(|node| {
        is_enabled(*node) && string_property(*node, "device_type") == Some("memory")
    });
    for node in memory_nodes {
        let entries = node.raw_reg().ok_or(Error::InvalidProperty(Device::Memory))?;
        // Each entry either fails (ending the loop) or consumes at least 8 bytes of the
        // `reg` value, so this loop ends.
        for entry in entries {
            let region = read_region(entry, Device::Memory)?;
            first.get_or_insert(region);
            count += 1;
        }
    }
    let first = first.ok_or(Error::Missing(Device::Memory))?;
    Ok((first, count))
}

/// The GICv3 distributor and first redistributor region.
fn read_interrupt_controller(tree: &Fdt) -> Result<(Region, Region), Error> {
    const DEVICE: Device = Device::InterruptController;
    let node = find_enabled_compatible(tree, "arm,gic-v3").ok_or(Error::Missing(DEVICE))?;
    // Every interrupt read below is a three-cell GICv3 specifier.
    if node.interrupt_cells() != Some(3) {
        return Err(Error::InvalidProperty(DEVICE));
    }
    Ok((nth_region(node, 0, DEVICE)?, nth_region(node, 1, DEVICE)?))
}

/// The generic timer's four PPI numbers.
fn read_timer(tree: &Fdt) -> Result<[u32; 4], Error> {
    const DEVICE: Device = Device::Timer;
    let node = find_enabled_compatible(tree, "arm,armv8-timer").ok_or(Error::Missing(DEVICE))?;
    let interrupts = node.property("interrupts").ok_or(Error::InvalidProperty(DEVICE))?.value;
    let mut numbers = [0; 4];
    for (index, number) in numbers.iter_mut().enumerate() {
        let kind = read_cell(interrupts, index * 3);
        *number = read_cell(interrupts, index * 3 + 1)
            .filter(|&number| kind == Some(1) && number < PRIVATE_PERIPHERAL_INTERRUPT_COUNT)
            .ok_or(Error::InvalidProperty(DEVICE))?;
    }
    Ok(numbers)
}

/// The console PL011, its SPI and its clock's frequency.
fn read_uart(tree: &Fdt) -> Result<Option<Uart>, Error> {
    const DEVICE: Device = Device::Uart;
    let is_pl011 = |node: &FdtNode| is_compatible(*node, "arm,pl011") && is_enabled(*node);
    let node = stdout_node(tree).filter(is_pl011).or_else(|| tree.all_nodes().find(is_pl011));
    let Some(node) = node else {
        return Ok(None);
    };
    let clock_phandle = node
        .property("clocks")
        .and_then(|clocks| read_cell(clocks.value, 0))
        .ok_or(Error::InvalidProperty(DEVICE))?;
    let clock_frequency = tree
        .find_phandle(clock_phandle)
        .and_then(|clock| clock.property("clock-frequency"))
        .and_then(|frequency| read_cells_value(frequency.value))
        .and_then(|frequency| u32::try_from(frequency).ok())
        .ok_or(Error::InvalidProperty(DEVICE))?;
    Ok(Some(Uart {
        region: nth_region(node, 0, DEVICE)?,
        spi: shared_interrupt(node, DEVICE)?,
        clock_frequency,
    }))
}

/// The node `/chosen/stdout-path` names (directly or through `/aliases`), if any.
fn stdout_node<'b, 'a>(tree: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    let chosen = tree.find_node("/chosen")?;
    let path = chosen.property("stdout-path")?.as_str()?;
    // Options such as ":115200n8" follow the path.
    let path = path.split(':').next()?;
    let path = if path.starts_with('/') { path } else { tree.aliases()?.resolve(path)? };
    // `find_node` falls back to resolving its argument as an alias, which could loop on a
    // crafted blob; a path starting with `/` never names an alias (property names never
    // contain `/`, as `check_structure` made sure).
    if !path.starts_with('/') {
        return None;
    }
    tree.find_node(path)
}

/// The CPU count, first compatible string and affinities.
fn read_cpus<'a>(tree: &Fdt<'a>, facts: &mut BoardFacts<'a>) -> Result<(), Error> {
    const DEVICE: Device = Device::Cpus;
    let cpus = tree.find_node("/cpus").ok_or(Error::Missing(DEVICE))?;
    let cpu_nodes =
        cpus.children().filter(|node| string_property(*node, "device_type") == Some("cpu"));
    for node in cpu_nodes {
        if facts.cpu_count == 0 {
            facts.cpu_compatible = node
                .compatible()
                .and_then(|compatible| compatible.all().next())
                .ok_or(Error::InvalidProperty(DEVICE))?;
        }
        let affinity = node
            .raw_reg()
            .and_then(|mut entries| entries.next())
            .and_then(|entry| read_cells_value(entry.address))
            .ok_or(Error::InvalidProperty(DEVICE))?;
        if let Some(slot) = facts.cpu_affinities.get_mut(facts.cpu_count) {
            *slot = affinity;
        }
        facts.cpu_count += 1;
    }
    if facts.cpu_count == 0 {
        return Err(Error::Missing(DEVICE));
    }
    Ok(())
}

/// The virtio-mmio slots with the lowest addresses, sorted by address.
fn read_virtio_mmio(tree: &Fdt, facts: &mut BoardFacts) -> Result<(), Error> {
    const DEVICE: Device = Device::VirtioMmio;
    let nodes =
        tree.all_nodes().filter(|node| is_compatible(*node, "virtio,mmio") && is_enabled(*node));
    for node in nodes {
        let device = VirtioMmio {
            region: nth_region(node, 0, DEVICE)?,
            spi: shared_interrupt(node, DEVICE)?,
        };
        let count = facts.virtio_mmio_count;
        let position = facts.virtio_mmio[..count]
            .iter()
            .position(|other| other.region.base > device.region.base)
            .unwrap_or(count);
        if position == MAXIMUM_VIRTIO_MMIO {
            // The list is full of slots at lower addresses.
            continue;
        }
        // When the list is full, the slot at the highest address falls off the end.
        let kept = count.min(MAXIMUM_VIRTIO_MMIO - 1);
        facts.virtio_mmio.copy_within(position..kept, position + 1);
        facts.virtio_mmio[position] = device;
        facts.virtio_mmio_count = (count + 1).min(MAXIMUM_VIRTIO_MMIO);
    }
    Ok(())
}

/// The first enabled node that is compatible with `compatible`.
fn find_enabled_compatible<'b, 'a>(tree: &'b Fdt<'a>, compatible: &str) -> Option<FdtNode<'b, 'a>> {
    tree.all_nodes().find(|node| is_compatible(*node, compatible) && is_enabled(*node))
}

/// Whether any of the node's `compatible` strings is `compatible`.
fn is_compatible(node: FdtNode, compatible: &str) -> bool {
    node.compatible().is_some_and(|list| list.all().any(|entry| entry == compatible))
}

/// Whether the node's `status` is absent, `"okay"` or `"ok"`.
fn is_enabled(node: FdtNode) -> bool {
    match node.property("status") {
        None => true,
        Some(status) => matches!(status.as_str(), Some("okay" | "ok")),
    }
}

/// A string property's value without its NUL, if it is present and UTF-8.
fn string_property<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    node.property(name)?.as_str()
}

/// The node's first SPI number (an interrupt specifier `<0 number flags>`).
fn shared_interrupt(node: FdtNode, device: Device) -> Result<u32, Error> {
    let interrupts = node.property("interrupts").ok_or(Error::InvalidProperty(device))?.value;
    let kind = read_cell(interrupts, 0);
    read_cell(interrupts, 1)
        .filter(|&number| kind == Some(0) && number <= MAXIMUM_SHARED_PERIPHERAL_INTERRUPT)
        .ok_or(Error::InvalidProperty(device))
}

/// Entry `index` of the node's `reg` as a non-empty region.
fn nth_region(node: FdtNode, index: usize, device: Device) -> Result<Region, Error> {
    // With zero-cell addresses and sizes, `raw_reg` yields empty entries forever; `nth`
    // still stops after `index` of them and `read_region` refuses the empty entry.
    let entry = node
        .raw_reg()
        .and_then(|mut entries| entries.nth(index))
        .ok_or(Error::InvalidProperty(device))?;
    read_region(entry, device)
}

/// A `reg` entry as a non-empty region; addresses and sizes must be one or two cells.
fn read_region(entry: RawReg, device: Device) -> Result<Region, Error> {
    let base = read_cells_value(entry.address);
    let size = read_cells_value(entry.size);
    match (base, size) {
        (Some(base), Some(size)) if size != 0 => Ok(Region { base, size }),
        _ => Err(Error::InvalidProperty(device)),
    }
}

/// A one- or two-cell big-endian value.
fn read_cells_value(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => read_u32(bytes, 0).map(u64::from),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// Cell `index` of a property value.
fn read_cell(value: &[u8], index: usize) -> Option<u32> {
    read_u32(value, index.checked_mul(4)?)
}

/// The big-endian `u32` at `offset`, if all four bytes are there.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

/// The NUL-terminated UTF-8 string at the start of `bytes`, without its NUL.
fn read_string(bytes: &[u8]) -> Option<&str> {
    let length = bytes.iter().position(|byte| *byte == 0)?;
    core::str::from_utf8(&bytes[..length]).ok()
}

/// Rounds `length` up to a multiple of 4.
fn padded(length: usize) -> usize {
    (length + 3) & !3
}
