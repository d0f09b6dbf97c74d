//! Host tests of `build_guest`: the tree is parsed back with the `fdt` crate and every
//! node and property Linux relies on is checked; bad descriptions and small buffers are
//! refused without a panic.

use devicetree::guest::{CLOCK_PHANDLE, INTERRUPT_CONTROLLER_PHANDLE};
use devicetree::{
    build_guest, read_board, DescriptionProblem, Error, GuestDescription, Region, Uart, VirtioMmio,
};

const VIRTIO_MMIO: [VirtioMmio; 2] = [
    VirtioMmio { region: Region { base: 0xa00_0000, size: 0x200 }, spi: 16 },
    VirtioMmio { region: Region { base: 0xa00_0200, size: 0x200 }, spi: 17 },
];

/// A guest laid out like QEMU's `virt` machine, with 2 GiB of RAM and an initrd.
fn qemu_like_guest() -> GuestDescription<'static> {
    GuestDescription {
        model: "Elastos guest (QEMU virt)",
        memory: Region { base: 0x4000_0000, size: 0x8000_0000 },
        cpu_compatible: "arm,cortex-a53",
        cpu_count: 4,
        gic_distributor: Region { base: 0x800_0000, size: 0x1_0000 },
        gic_redistributors: Region { base: 0x80a_0000, size: 0xf6_0000 },
        timer_interrupts: [13, 14, 11, 10],
        uart: Some(Uart {
            region: Region { base: 0x900_0000, size: 0x1000 },
            spi: 1,
            clock_frequency: 24_000_000,
        }),
        virtio_mmio: &VIRTIO_MMIO,
        bootargs: "console=ttyAMA0 earlycon rdinit=/init",
        initrd: Some(Region { base: 0x4800_0000, size: 0x20_0000 }),
        rng_seed: Some(&[7; 32]),
    }
}

fn build(description: &GuestDescription) -> Vec<u8> {
    let mut buffer = vec![0; 8192];
    let size = build_guest(description, &mut buffer).unwrap();
    buffer.truncate(size);
    buffer
}

/// The value of a property that must exist.
fn value<'a>(tree: &fdt::Fdt<'a>, path: &str, name: &str) -> &'a [u8] {
    let node = tree.find_node(path).unwrap_or_else(|| panic!("no node {path}"));
    node.property(name).unwrap_or_else(|| panic!("no property {path}:{name}")).value
}

/// Big-endian cells as bytes.
fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_be_bytes()).collect()
}

/// A NUL-separated string list as bytes.
fn strings(values: &[&str]) -> Vec<u8> {
    values.iter().flat_map(|value| value.bytes().chain([0])).collect()
}

#[test]
fn guest_tree_has_every_node_linux_needs() {
    let blob = build(&qemu_like_guest());
    let tree = fdt::Fdt::new(&blob).unwrap();

    // Root.
    assert_eq!(value(&tree, "/", "#address-cells"), cells(&[2]));
    assert_eq!(value(&tree, "/", "#size-cells"), cells(&[2]));
    assert_eq!(value(&tree, "/", "compatible"), strings(&["linux,dummy-virt"]));
    assert_eq!(tree.root().model(), "Elastos guest (QEMU virt)");
    assert_eq!(value(&tree, "/", "interrupt-parent"), cells(&[INTERRUPT_CONTROLLER_PHANDLE]));

    // Chosen.
    assert_eq!(tree.chosen().bootargs(), Some("console=ttyAMA0 earlycon rdinit=/init"));
    assert_eq!(value(&tree, "/chosen", "stdout-path"), strings(&["/pl011@9000000"]));
    assert_eq!(tree.chosen().stdout().unwrap().name, "pl011@9000000");
    assert_eq!(value(&tree, "/chosen", "linux,initrd-start"), 0x4800_0000u64.to_be_bytes());
    assert_eq!(value(&tree, "/chosen", "linux,initrd-end"), 0x4820_0000u64.to_be_bytes());
    assert_eq!(value(&tree, "/chosen", "rng-seed"), [7; 32]);

    // Memory.
    assert!(tree.find_node("/memory@40000000").is_some());
    assert_eq!(value(&tree, "/memory@40000000", "device_type"), strings(&["memory"]));
    assert_eq!(value(&tree, "/memory@40000000", "reg"), cells(&[0, 0x4000_0000, 0, 0x8000_0000]));
    let memory = tree.memory().regions().next().unwrap();
    assert_eq!(memory.starting_address as usize, 0x4000_0000);
    assert_eq!(memory.size, Some(0x8000_0000));

    // CPUs.
    assert_eq!(value(&tree, "/cpus", "#address-cells"), cells(&[1]));
    assert_eq!(value(&tree, "/cpus", "#size-cells"), cells(&[0]));
    let cpu_names: Vec<&str> =
        tree.find_node("/cpus").unwrap().children().map(|node| node.name).collect();
    assert_eq!(cpu_names, ["cpu@0", "cpu@1", "cpu@2", "cpu@3"]);
    for index in 0..4u32 {
        let path = format!("/cpus/cpu@{index}");
        assert_eq!(value(&tree, &path, "device_type"), strings(&["cpu"]));
        assert_eq!(value(&tree, &path, "compatible"), strings(&["arm,cortex-a53"]));
        assert_eq!(value(&tree, &path, "reg"), cells(&[index]));
        assert_eq!(value(&tree, &path, "enable-method"), strings(&["psci"]));
    }
    let cpu_ids: Vec<usize> = tree.cpus().map(|cpu| cpu.ids().first()).collect();
    assert_eq!(cpu_ids, [0, 1, 2, 3]);

    // PSCI.
    assert_eq!(
        value(&tree, "/psci", "compatible"),
        strings(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
    );
    assert_eq!(value(&tree, "/psci", "method"), strings(&["smc"]));

    // GICv3.
    let gic = "/intc@8000000";
    assert_eq!(value(&tree, gic, "compatible"), strings(&["arm,gic-v3"]));
    assert_eq!(value(&tree, gic, "#interrupt-cells"), cells(&[3]));
    assert_eq!(value(&tree, gic, "#address-cells"), cells(&[2]));
    assert_eq!(value(&tree, gic, "#size-cells"), cells(&[2]));
    assert_eq!(value(&tree, gic, "ranges"), b"");
    assert_eq!(value(&tree, gic, "interrupt-controller"), b"");
    assert_eq!(
        value(&tree, gic, "reg"),
        cells(&[0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0xf6_0000])
    );
    assert_eq!(value(&tree, gic, "#redistributor-regions"), cells(&[1]));
    assert_eq!(value(&tree, gic, "interrupts"), cells(&[1, 9, 4]));
    assert_eq!(value(&tree, gic, "phandle"), cells(&[INTERRUPT_CONTROLLER_PHANDLE]));
    assert_eq!(tree.find_phandle(INTERRUPT_CONTROLLER_PHANDLE).unwrap().name, "intc@8000000");

    // Timer.
    assert_eq!(value(&tree, "/timer", "compatible"), strings(&["arm,armv8-timer"]));
    assert_eq!(
        value(&tree, "/timer", "interrupts"),
        cells(&[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])
    );
    assert_eq!(value(&tree, "/timer", "always-on"), b"");

    // The UART's clock.
    assert_eq!(value(&tree, "/apb-pclk", "compatible"), strings(&["fixed-clock"]));
    assert_eq!(value(&tree, "/apb-pclk", "#clock-cells"), cells(&[0]));
    assert_eq!(value(&tree, "/apb-pclk", "clock-frequency"), cells(&[24_000_000]));
    assert_eq!(value(&tree, "/apb-pclk", "clock-output-names"), strings(&["clk24mhz"]));
    assert_eq!(value(&tree, "/apb-pclk", "phandle"), cells(&[CLOCK_PHANDLE]));

    // The UART.
    let uart = "/pl011@9000000";
    assert_eq!(value(&tree, uart, "compatible"), strings(&["arm,pl011", "arm,primecell"]));
    assert_eq!(value(&tree, uart, "reg"), cells(&[0, 0x900_0000, 0, 0x1000]));
    assert_eq!(value(&tree, uart, "interrupts"), cells(&[0, 1, 4]));
    assert_eq!(value(&tree, uart, "clocks"), cells(&[CLOCK_PHANDLE, CLOCK_PHANDLE]));
    assert_eq!(value(&tree, uart, "clock-names"), strings(&["uartclk", "apb_pclk"]));

    // virtio-mmio slots, in the order given.
    for (index, base) in [0xa00_0000u32, 0xa00_0200].into_iter().enumerate() {
        let path = format!("/virtio_mmio@{base:x}");
        assert_eq!(value(&tree, &path, "compatible"), strings(&["virtio,mmio"]));
        assert_eq!(value(&tree, &path, "reg"), cells(&[0, base, 0, 0x200]));
        assert_eq!(value(&tree, &path, "interrupts"), cells(&[0, 16 + index as u32, 1]));
        assert_eq!(value(&tree, &path, "dma-coherent"), b"");
    }

    let top_level: Vec<&str> =
        tree.find_node("/").unwrap().children().map(|node| node.name).collect();
    assert_eq!(
        top_level,
        [
            "chosen",
            "memory@40000000",
            "cpus",
            "psci",
            "intc@8000000",
            "timer",
            "apb-pclk",
            "pl011@9000000",
            "virtio_mmio@a000000",
            "virtio_mmio@a000200",
        ]
    );
}

#[test]
fn optional_parts_can_be_left_out() {
    let description = GuestDescription {
        uart: None,
        virtio_mmio: &[],
        initrd: None,
        bootargs: "",
        cpu_count: 1,
        rng_seed: None,
        ..qemu_like_guest()
    };
    let blob = build(&description);
    let tree = fdt::Fdt::new(&blob).unwrap();
    let chosen = tree.find_node("/chosen").unwrap();
    assert!(chosen.property("stdout-path").is_none());
    assert!(chosen.property("linux,initrd-start").is_none());
    assert!(chosen.property("linux,initrd-end").is_none());
    assert!(chosen.property("rng-seed").is_none());
    assert_eq!(chosen.property("bootargs").unwrap().value, b"\0");
    assert!(tree.find_node("/apb-pclk").is_none());
    assert!(tree.find_node("/pl011").is_none());
    assert!(tree.find_node("/virtio_mmio").is_none());
    assert_eq!(tree.cpus().count(), 1);
}

#[test]
fn guest_tree_reads_back_as_a_board() {
    let description = qemu_like_guest();
    let blob = build(&description);
    let facts = read_board(&blob).unwrap();
    assert_eq!(facts.memory, description.memory);
    assert_eq!(facts.memory_region_count, 1);
    assert_eq!(facts.gic_distributor, description.gic_distributor);
    assert_eq!(facts.gic_redistributors, description.gic_redistributors);
    assert_eq!(facts.timer_interrupts, description.timer_interrupts);
    assert_eq!(facts.uart, description.uart);
    assert_eq!(facts.cpu_compatible, description.cpu_compatible);
    assert_eq!(facts.cpu_count, description.cpu_count);
    assert_eq!(facts.cpu_affinities(), [0, 1, 2, 3]);
    assert_eq!(facts.virtio_mmio(), description.virtio_mmio);
}

#[test]
fn bad_descriptions_are_refused() {
    let good = qemu_like_guest();
    let overlapping_virtio = [VIRTIO_MMIO[0], VirtioMmio { spi: 30, ..VIRTIO_MMIO[0] }];
    let shared_spi = [VIRTIO_MMIO[0], VirtioMmio { spi: 16, ..VIRTIO_MMIO[1] }];
    let uart_spi_reused = [VirtioMmio { spi: 1, ..VIRTIO_MMIO[0] }];
    let empty_virtio = [VirtioMmio { region: Region { base: 0xa00_0000, size: 0 }, spi: 16 }];
    let high_spi = [VirtioMmio { spi: 988, ..VIRTIO_MMIO[0] }];
    let uart = good.uart.unwrap();
    use DescriptionProblem::*;
    let cases: Vec<(GuestDescription, DescriptionProblem)> = vec![
        (GuestDescription { cpu_count: 0, ..good }, CpuCount),
        (GuestDescription { cpu_count: 9, ..good }, CpuCount),
        (GuestDescription { model: "", ..good }, InvalidString),
        (GuestDescription { cpu_compatible: "", ..good }, InvalidString),
        (GuestDescription { bootargs: "a\0b", ..good }, InvalidString),
        (GuestDescription { memory: Region { base: 0x4000_0000, size: 0 }, ..good }, EmptyRegion),
        (
            GuestDescription { gic_distributor: Region { base: 0x800_0000, size: 0 }, ..good },
            EmptyRegion,
        ),
        (GuestDescription { memory: Region { base: u64::MAX, size: 2 }, ..good }, RegionWraps),
        (
            GuestDescription { memory: Region { base: 0x900_0000, size: 0x8000_0000 }, ..good },
            OverlappingRegions,
        ),
        (
            GuestDescription {
                gic_redistributors: Region { base: 0x800_8000, size: 0x1_0000 },
                ..good
            },
            OverlappingRegions,
        ),
        (GuestDescription { virtio_mmio: &overlapping_virtio, ..good }, OverlappingRegions),
        (GuestDescription { virtio_mmio: &empty_virtio, ..good }, EmptyRegion),
        (
            GuestDescription {
                gic_redistributors: Region { base: 0x80a_0000, size: 0x6_0000 },
                ..good
            },
            RedistributorsTooSmall,
        ),
        (GuestDescription { timer_interrupts: [13, 14, 11, 16], ..good }, TimerInterrupt),
        (GuestDescription { timer_interrupts: [13, 14, 11, 9], ..good }, TimerInterrupt),
        (GuestDescription { timer_interrupts: [13, 14, 13, 10], ..good }, TimerInterrupt),
        (GuestDescription { virtio_mmio: &high_spi, ..good }, SharedPeripheralInterrupt),
        (
            GuestDescription { uart: Some(Uart { spi: 1000, ..uart }), ..good },
            SharedPeripheralInterrupt,
        ),
        (GuestDescription { virtio_mmio: &shared_spi, ..good }, SharedInterruptReused),
        (GuestDescription { virtio_mmio: &uart_spi_reused, ..good }, SharedInterruptReused),
        (
            GuestDescription { uart: Some(Uart { clock_frequency: 0, ..uart }), ..good },
            ClockFrequency,
        ),
        (
            GuestDescription { initrd: Some(Region { base: 0x3fff_f000, size: 0x2000 }), ..good },
            InitrdOutsideMemory,
        ),
        (
            GuestDescription { initrd: Some(Region { base: 0xbfff_f000, size: 0x2000 }), ..good },
            InitrdOutsideMemory,
        ),
        (
            GuestDescription { initrd: Some(Region { base: 0x4800_0000, size: 0 }), ..good },
            EmptyRegion,
        ),
    ];
    for (description, problem) in cases {
        let mut buffer = [0xaa; 8192];
        assert_eq!(
            build_guest(&description, &mut buffer),
            Err(Error::InvalidDescription(problem)),
            "{description:?}"
        );
        assert!(buffer.iter().all(|&byte| byte == 0xaa), "nothing is written");
    }
    // The limits themselves are fine.
    let limits = GuestDescription {
        cpu_count: 8,
        gic_redistributors: Region { base: 0x80a_0000, size: 8 * 0x2_0000 },
        initrd: Some(good.memory),
        ..good
    };
    build(&limits);
}

#[test]
fn every_too_small_buffer_gives_buffer_full() {
    let description = qemu_like_guest();
    let needed = build(&description).len();
    for length in 0..needed {
        let mut buffer = vec![0; length];
        assert_eq!(build_guest(&description, &mut buffer), Err(Error::BufferFull), "{length}");
    }
    let mut buffer = vec![0; needed];
    assert_eq!(build_guest(&description, &mut buffer), Ok(needed));
}
