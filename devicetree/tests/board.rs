//! Host tests of reading a board's DTB: QEMU 7.2's own `virt` tree (GICv3, 4 Cortex-A53,
//! 2 GiB; see `tests/data/README.md`), and truncated or corrupted copies of it, which
//! must come back as errors, never as panics.

use devicetree::board::MAXIMUM_VIRTIO_MMIO;
use devicetree::{read_board, total_size, Device, Error, Region, Uart, VirtioMmio, Writer};

/// `qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a53 -smp 4
/// -m 2G`, dumped with `dumpdtb` and packed.
const QEMU_VIRT: &[u8] = include_bytes!("data/qemu-virt-gicv3.dtb");

/// Offsets of header fields.
const TOTAL_SIZE_FIELD: usize = 4;
const VERSION_FIELD: usize = 20;
const LAST_COMPATIBLE_VERSION_FIELD: usize = 24;

fn set_u32(blob: &mut [u8], offset: usize, value: u32) {
    blob[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn qemu_virt_facts_are_read() {
    let facts = read_board(QEMU_VIRT).unwrap();
    assert_eq!(facts.memory, Region { base: 0x4000_0000, size: 0x8000_0000 });
    assert_eq!(facts.memory_region_count, 1);
    assert_eq!(facts.gic_distributor, Region { base: 0x800_0000, size: 0x1_0000 });
    assert_eq!(facts.gic_redistributors, Region { base: 0x80a_0000, size: 0xf6_0000 });
    assert_eq!(facts.timer_interrupts, [13, 14, 11, 10]);
    assert_eq!(
        facts.uart,
        Some(Uart {
            region: Region { base: 0x900_0000, size: 0x1000 },
            spi: 1,
            clock_frequency: 24_000_000,
        })
    );
    assert_eq!(facts.cpu_compatible, "arm,cortex-a53");
    assert_eq!(facts.cpu_count, 4);
    assert_eq!(facts.cpu_affinities(), [0, 1, 2, 3]);
    // QEMU leaves 32 random bytes for the operating system.
    assert_eq!(facts.rng_seed.map(<[u8]>::len), Some(32));
    // QEMU lists the slots from the highest address down; they come back sorted.
    let expected: Vec<VirtioMmio> = (0..32)
        .map(|index| VirtioMmio {
            region: Region { base: 0xa00_0000 + index * 0x200, size: 0x200 },
            spi: 16 + index as u32,
        })
        .collect();
    assert_eq!(facts.virtio_mmio(), expected.as_slice());
    // The cpu compatible string is borrowed from the blob.
    let start = QEMU_VIRT.as_ptr() as usize;
    let address = facts.cpu_compatible.as_ptr() as usize;
    assert!(address > start && address < start + QEMU_VIRT.len());
}

#[test]
fn total_size_checks_the_header() {
    assert_eq!(total_size(QEMU_VIRT), Ok(QEMU_VIRT.len()));
    // A window of memory longer than the blob.
    let mut window = QEMU_VIRT.to_vec();
    window.resize(QEMU_VIRT.len() + 4096, 0xff);
    assert_eq!(total_size(&window), Ok(QEMU_VIRT.len()));
    assert!(read_board(&window).is_ok());

    assert_eq!(total_size(&[]), Err(Error::Truncated));
    assert_eq!(total_size(&QEMU_VIRT[..39]), Err(Error::Truncated));
    assert_eq!(total_size(&QEMU_VIRT[..QEMU_VIRT.len() - 1]), Err(Error::Truncated));

    let mut blob = QEMU_VIRT.to_vec();
    blob[0] = 0xd1;
    assert_eq!(total_size(&blob), Err(Error::BadMagic));

    let mut blob = QEMU_VIRT.to_vec();
    set_u32(&mut blob, VERSION_FIELD, 16);
    assert_eq!(total_size(&blob), Err(Error::UnsupportedVersion));
    let mut blob = QEMU_VIRT.to_vec();
    set_u32(&mut blob, LAST_COMPATIBLE_VERSION_FIELD, 18);
    assert_eq!(total_size(&blob), Err(Error::UnsupportedVersion));

    let mut blob = QEMU_VIRT.to_vec();
    set_u32(&mut blob, TOTAL_SIZE_FIELD, 12);
    assert_eq!(total_size(&blob), Err(Error::Malformed));
    // The strings block would end past `totalsize`.
    let mut blob = QEMU_VIRT.to_vec();
    set_u32(&mut blob, TOTAL_SIZE_FIELD, QEMU_VIRT.len() as u32 - 1);
    assert_eq!(total_size(&blob), Err(Error::Malformed));
}

#[test]
fn every_truncation_is_an_error() {
    for length in 0..QEMU_VIRT.len() {
        let blob = &QEMU_VIRT[..length];
        assert!(total_size(blob).is_err(), "{length} bytes");
        assert!(read_board(blob).is_err(), "{length} bytes");
    }
}

#[test]
fn every_shortened_declared_size_is_an_error() {
    // Shrinking `totalsize` together with the block it cuts into passes the header checks
    // and exercises the structure checks: a structure block without its end, or a
    // strings block without the last name's NUL.
    let field =
        |offset: usize| u32::from_be_bytes(QEMU_VIRT[offset..offset + 4].try_into().unwrap());
    let structure_offset = field(8) as usize;
    let strings_offset = field(12) as usize;
    let structure_size = field(36) as usize;
    assert_eq!(structure_offset + structure_size, strings_offset, "blocks in order");
    for length in structure_offset..QEMU_VIRT.len() {
        let mut blob = QEMU_VIRT[..length].to_vec();
        set_u32(&mut blob, TOTAL_SIZE_FIELD, length as u32);
        let cut_structure_size = (length - structure_offset).min(structure_size);
        set_u32(&mut blob, 36, cut_structure_size as u32);
        let cut_strings_size = length.saturating_sub(strings_offset);
        set_u32(&mut blob, 32, cut_strings_size as u32);
        if length < strings_offset {
            set_u32(&mut blob, 12, length as u32);
        }
        assert!(total_size(&blob).is_ok(), "{length} bytes");
        let result = read_board(&blob);
        assert_eq!(result, Err(Error::Malformed), "{length} bytes");
    }
}

#[test]
fn byte_flips_never_panic() {
    let mut accepted = 0;
    for position in 0..QEMU_VIRT.len() {
        let mut blob = QEMU_VIRT.to_vec();
        blob[position] ^= [0x01, 0x80, 0xff][position % 3];
        let _ = total_size(&blob);
        if read_board(&blob).is_ok() {
            accepted += 1;
        }
    }
    // Flips inside values such as `rng-seed` leave a readable tree; flips in tokens,
    // lengths and offsets do not.
    assert!(accepted > 0 && accepted < QEMU_VIRT.len());
}

/// Overwrites a few random bytes of the QEMU tree, `iterations` times, and reads each
/// result. A fixed xorshift generator keeps runs repeatable.
fn corrupt_randomly(iterations: usize, seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..iterations {
        let mut blob = QEMU_VIRT.to_vec();
        for _ in 0..1 + next() % 8 {
            let position = (next() % blob.len() as u64) as usize;
            // Favour small values, which make plausible tokens, lengths and offsets.
            blob[position] = match next() % 4 {
                0 => 0,
                1 => (next() % 10) as u8,
                _ => next() as u8,
            };
        }
        let _ = total_size(&blob);
        let _ = read_board(&blob);
    }
}

#[test]
fn random_corruption_never_panics() {
    corrupt_randomly(3000, 0x9e37_79b9_7f4a_7c15);
}

/// Builds a tree in a fresh buffer.
fn tree(build: impl FnOnce(&mut Writer) -> Result<(), Error>) -> Vec<u8> {
    let mut buffer = vec![0; 16384];
    let mut writer = Writer::new(&mut buffer).unwrap();
    build(&mut writer).unwrap();
    let size = writer.finish().unwrap();
    buffer.truncate(size);
    buffer
}

/// A minimal board (two memory regions, one Cortex-A72, GICv3, timer) without `skip`,
/// with the nodes `extra` writes added at the end of the root.
fn board(skip: Option<Device>, extra: impl FnOnce(&mut Writer) -> Result<(), Error>) -> Vec<u8> {
    tree(|writer| {
        writer.begin_node("")?;
        writer.property_u32("#address-cells", 2)?;
        writer.property_u32("#size-cells", 2)?;
        if skip != Some(Device::Memory) {
            writer.begin_node("memory@40000000")?;
            writer.property_string("device_type", "memory")?;
            writer.property_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000, 1, 0, 0, 0x1000])?;
            writer.end_node()?;
        }
        if skip != Some(Device::Cpus) {
            writer.begin_node("cpus")?;
            writer.property_u32("#address-cells", 1)?;
            writer.property_u32("#size-cells", 0)?;
            writer.begin_node("cpu@100")?;
            writer.property_string("device_type", "cpu")?;
            writer.property_strings("compatible", &["arm,cortex-a72", "arm,armv8"])?;
            writer.property_u32("reg", 0x100)?;
            writer.end_node()?;
            writer.end_node()?;
        }
        if skip != Some(Device::InterruptController) {
            writer.begin_node("interrupt-controller@2f000000")?;
            writer.property_string("compatible", "arm,gic-v3")?;
            writer.property_u32("#interrupt-cells", 3)?;
            writer.property_cells(
                "reg",
                &[0, 0x2f00_0000, 0, 0x1_0000, 0, 0x2f10_0000, 0, 0x4_0000],
            )?;
            writer.end_node()?;
        }
        if skip != Some(Device::Timer) {
            writer.begin_node("timer")?;
            writer.property_string("compatible", "arm,armv8-timer")?;
            writer.property_cells("interrupts", &[1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8])?;
            writer.end_node()?;
        }
        extra(writer)?;
        writer.end_node()
    })
}

/// No extra nodes.
fn nothing(_: &mut Writer) -> Result<(), Error> {
    Ok(())
}

#[test]
fn minimal_board_is_read_and_missing_parts_are_named() {
    let blob = board(None, nothing);
    let facts = read_board(&blob).unwrap();
    assert_eq!(facts.memory, Region { base: 0x4000_0000, size: 0x1000_0000 });
    assert_eq!(facts.memory_region_count, 2);
    assert_eq!(facts.cpu_compatible, "arm,cortex-a72");
    assert_eq!(facts.cpu_count, 1);
    assert_eq!(facts.cpu_affinities(), [0x100]);
    assert_eq!(facts.gic_distributor, Region { base: 0x2f00_0000, size: 0x1_0000 });
    assert_eq!(facts.gic_redistributors, Region { base: 0x2f10_0000, size: 0x4_0000 });
    assert_eq!(facts.timer_interrupts, [13, 14, 11, 10]);
    assert_eq!(facts.uart, None);
    assert!(facts.virtio_mmio().is_empty());

    for device in [Device::Memory, Device::Cpus, Device::InterruptController, Device::Timer] {
        assert_eq!(read_board(&board(Some(device), nothing)), Err(Error::Missing(device)));
    }
}

#[test]
fn disabled_nodes_do_not_count() {
    let blob = board(Some(Device::Memory), |writer| {
        writer.begin_node("memory@0")?;
        writer.property_string("device_type", "memory")?;
        writer.property_string("status", "disabled")?;
        writer.property_cells("reg", &[0, 0, 0, 0x1000])?;
        writer.end_node()?;
        writer.begin_node("pl011@9000000")?;
        writer.property_string("compatible", "arm,pl011")?;
        writer.property_string("status", "fail")?;
        writer.end_node()
    });
    assert_eq!(read_board(&blob), Err(Error::Missing(Device::Memory)));
}

#[test]
fn the_stdout_uart_is_preferred() {
    let blob = board(None, |writer| {
        writer.begin_node("aliases")?;
        writer.property_string("serial1", "/pl011@9040000")?;
        writer.end_node()?;
        writer.begin_node("chosen")?;
        writer.property_string("stdout-path", "serial1:115200n8")?;
        writer.end_node()?;
        writer.begin_node("clock")?;
        writer.property_u32("phandle", 7)?;
        writer.property_u32("clock-frequency", 24_000_000)?;
        writer.end_node()?;
        for (base, spi) in [(0x900_0000, 1), (0x904_0000, 8)] {
            writer.begin_node(&format!("pl011@{base:x}"))?;
            writer.property_strings("compatible", &["arm,pl011", "arm,primecell"])?;
            writer.property_cells("reg", &[0, base, 0, 0x1000])?;
            writer.property_cells("interrupts", &[0, spi, 4])?;
            writer.property_cells("clocks", &[7, 7])?;
            writer.end_node()?;
        }
        Ok(())
    });
    let facts = read_board(&blob).unwrap();
    assert_eq!(facts.rng_seed, None, "a /chosen without rng-seed gives no seed");
    let uart = facts.uart.unwrap();
    assert_eq!(uart.region, Region { base: 0x904_0000, size: 0x1000 });
    assert_eq!(uart.spi, 8);
    assert_eq!(uart.clock_frequency, 24_000_000);
}

#[test]
fn unusable_properties_are_reported() {
    // The parent says addresses and sizes take no cells: `fdt` would yield empty `reg`
    // entries forever.
    let zero_cells = tree(|writer| {
        writer.begin_node("")?;
        writer.property_u32("#address-cells", 0)?;
        writer.property_u32("#size-cells", 0)?;
        writer.begin_node("memory@0")?;
        writer.property_string("device_type", "memory")?;
        writer.property_cells("reg", &[0, 0x1000])?;
        writer.end_node()?;
        writer.end_node()
    });
    assert_eq!(read_board(&zero_cells), Err(Error::InvalidProperty(Device::Memory)));

    // A GIC with two-cell interrupt specifiers.
    let blob = board(Some(Device::InterruptController), |writer| {
        writer.begin_node("intc")?;
        writer.property_string("compatible", "arm,gic-v3")?;
        writer.property_u32("#interrupt-cells", 2)?;
        writer.property_cells("reg", &[0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0x2_0000])?;
        writer.end_node()
    });
    assert_eq!(read_board(&blob), Err(Error::InvalidProperty(Device::InterruptController)));

    // A timer with an SPI among its interrupts, and one with only three.
    for interrupts in
        [&[1, 13, 4, 0, 14, 4, 1, 11, 4, 1, 10, 4][..], &[1, 13, 4, 1, 14, 4, 1, 11, 4]]
    {
        let blob = board(Some(Device::Timer), |writer| {
            writer.begin_node("timer")?;
            writer.property_string("compatible", "arm,armv8-timer")?;
            writer.property_cells("interrupts", interrupts)?;
            writer.end_node()
        });
        assert_eq!(read_board(&blob), Err(Error::InvalidProperty(Device::Timer)));
    }

    // A PPI where the UART's SPI should be; a UART whose clock cannot be found; a UART
    // with an empty region.
    for (interrupts, clock, size) in
        [([1, 1, 4], 7, 0x1000), ([0, 1, 4], 8, 0x1000), ([0, 1, 4], 7, 0)]
    {
        let blob = board(None, |writer| {
            writer.begin_node("clock")?;
            writer.property_u32("phandle", 7)?;
            writer.property_u32("clock-frequency", 24_000_000)?;
            writer.end_node()?;
            writer.begin_node("serial@9000000")?;
            writer.property_strings("compatible", &["arm,pl011", "arm,primecell"])?;
            writer.property_cells("reg", &[0, 0x900_0000, 0, size])?;
            writer.property_cells("interrupts", &interrupts)?;
            writer.property_cells("clocks", &[clock])?;
            writer.end_node()
        });
        assert_eq!(read_board(&blob), Err(Error::InvalidProperty(Device::Uart)));
    }

    // A virtio-mmio slot without interrupts.
    let blob = board(None, |writer| {
        writer.begin_node("virtio_mmio@a000000")?;
        writer.property_string("compatible", "virtio,mmio")?;
        writer.property_cells("reg", &[0, 0xa00_0000, 0, 0x200])?;
        writer.end_node()
    });
    assert_eq!(read_board(&blob), Err(Error::InvalidProperty(Device::VirtioMmio)));
}

#[test]
fn nop_tokens_and_deep_nesting_are_refused() {
    let good = board(None, nothing);
    assert!(read_board(&good).is_ok());
    let structure_offset = u32::from_be_bytes(good[8..12].try_into().unwrap()) as usize;

    // Turn the root's first property (12 bytes of header and 4 of value) into NOPs.
    let mut with_nops = good.clone();
    for word in 0..4 {
        set_u32(&mut with_nops, structure_offset + 8 + word * 4, 4);
    }
    assert_eq!(read_board(&with_nops), Err(Error::Malformed));

    // 33 nested nodes, one more than `MAXIMUM_DEPTH`; 32 are fine as far as the
    // structure goes (the board then lacks its devices).
    for (levels, expected) in [(31, Error::Missing(Device::Memory)), (32, Error::Malformed)] {
        let deep = tree(|writer| {
            writer.begin_node("")?;
            for _ in 0..levels {
                writer.begin_node("n")?;
            }
            for _ in 0..=levels {
                writer.end_node()?;
            }
            Ok(())
        });
        assert_eq!(read_board(&deep), Err(expected), "{levels} levels below the root");
    }
}

#[test]
fn more_virtio_slots_than_recorded_keep_the_lowest() {
    let blob = board(None, |writer| {
        for index in (0..40u32).rev() {
            let base = 0xa00_0000 + index * 0x200;
            writer.begin_node(&format!("virtio_mmio@{base:x}"))?;
            writer.property_string("compatible", "virtio,mmio")?;
            writer.property_cells("reg", &[0, base, 0, 0x200])?;
            writer.property_cells("interrupts", &[0, 16 + index, 1])?;
            writer.end_node()?;
        }
        Ok(())
    });
    let facts = read_board(&blob).unwrap();
    let bases: Vec<u64> = facts.virtio_mmio().iter().map(|slot| slot.region.base).collect();
    let expected: Vec<u64> =
        (0..MAXIMUM_VIRTIO_MMIO as u64).map(|index| 0xa00_0000 + index * 0x200).collect();
    assert_eq!(bases, expected);
}
