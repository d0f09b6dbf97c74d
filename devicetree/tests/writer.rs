//! Host tests of the flattened-device-tree writer: byte-exact output for a tiny tree,
//! round trips through the `fdt` crate, and every error it reports.

use devicetree::writer::STRING_TABLE_SIZE;
use devicetree::{Error, Region, Writer};

/// Writes `/ { #address-cells = <2>; chosen { bootargs = "a"; }; };`.
fn write_tiny_tree(buffer: &mut [u8]) -> Result<usize, Error> {
    let mut writer = Writer::new(buffer)?;
    writer.begin_node("")?;
    writer.property_u32("#address-cells", 2)?;
    writer.begin_node("chosen")?;
    writer.property_string("bootargs", "a")?;
    writer.end_node()?;
    writer.end_node()?;
    writer.finish()
}

#[test]
fn tiny_tree_matches_hand_computed_bytes() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        // Header: magic, totalsize 144, off_dt_struct 56, off_dt_strings 120,
        // off_mem_rsvmap 40, version 17, last_comp_version 16, boot_cpuid_phys 0,
        // size_dt_strings 24, size_dt_struct 64.
        0xd0, 0x0d, 0xfe, 0xed,  0, 0, 0, 144,  0, 0, 0, 56,  0, 0, 0, 120,
        0, 0, 0, 40,  0, 0, 0, 17,  0, 0, 0, 16,  0, 0, 0, 0,
        0, 0, 0, 24,  0, 0, 0, 64,
        // Memory reservation block: only the terminating empty entry.
        0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,
        // FDT_BEGIN_NODE "" (the NUL padded to 4).
        0, 0, 0, 1,  0, 0, 0, 0,
        // FDT_PROP len 4, nameoff 0 ("#address-cells"), <2>.
        0, 0, 0, 3,  0, 0, 0, 4,  0, 0, 0, 0,  0, 0, 0, 2,
        // FDT_BEGIN_NODE "chosen\0" padded to 8.
        0, 0, 0, 1,  b'c', b'h', b'o', b's', b'e', b'n', 0, 0,
        // FDT_PROP len 2, nameoff 15 ("bootargs"), "a\0" padded to 4.
        0, 0, 0, 3,  0, 0, 0, 2,  0, 0, 0, 15,  b'a', 0, 0, 0,
        // FDT_END_NODE, FDT_END_NODE, FDT_END.
        0, 0, 0, 2,  0, 0, 0, 2,  0, 0, 0, 9,
        // Strings block.
        b'#', b'a', b'd', b'd', b'r', b'e', b's', b's', b'-', b'c', b'e', b'l', b'l', b's', 0,
        b'b', b'o', b'o', b't', b'a', b'r', b'g', b's', 0,
    ];
    let mut buffer = [0xaa; 256];
    let size = write_tiny_tree(&mut buffer).unwrap();
    assert_eq!(size, 144);
    assert_eq!(&buffer[..size], expected);
    // Nothing past the tree is touched.
    assert!(buffer[size..].iter().all(|&byte| byte == 0xaa));
}

#[test]
fn tree_round_trips_through_the_fdt_crate() {
    let mut buffer = [0; 1024];
    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    writer.property_u32("#address-cells", 2).unwrap();
    writer.property_u32("#size-cells", 2).unwrap();
    writer.property_strings("compatible", &["vendor,board", "generic"]).unwrap();
    writer.property_string("model", "Test board").unwrap();
    writer.begin_node("chosen").unwrap();
    writer.property_string("bootargs", "console=ttyAMA0 earlycon").unwrap();
    writer.property_u64("linux,initrd-start", 0x4800_0000).unwrap();
    writer.end_node().unwrap();
    writer.begin_node("device@9000000").unwrap();
    writer.property_cells("reg", &[0, 0x900_0000, 0, 0x1000]).unwrap();
    writer.property_empty("dma-coherent").unwrap();
    writer.property("raw", &[1, 2, 3, 4, 5]).unwrap();
    writer.begin_node("child").unwrap();
    writer.property_u32("value", 7).unwrap();
    writer.end_node().unwrap();
    writer.end_node().unwrap();
    writer.end_node().unwrap();
    let size = writer.finish().unwrap();

    let tree = fdt::Fdt::new(&buffer[..size]).unwrap();
    assert_eq!(tree.total_size(), size);
    assert_eq!(tree.root().model(), "Test board");
    let compatible: Vec<&str> = tree.root().compatible().all().collect();
    assert_eq!(compatible, ["vendor,board", "generic"]);
    assert_eq!(tree.chosen().bootargs(), Some("console=ttyAMA0 earlycon"));
    let initrd_start = tree.find_node("/chosen").unwrap().property("linux,initrd-start").unwrap();
    assert_eq!(initrd_start.value, 0x4800_0000u64.to_be_bytes());

    let device = tree.find_node("/device@9000000").unwrap();
    let region = device.reg().unwrap().next().unwrap();
    assert_eq!(region.starting_address as usize, 0x900_0000);
    assert_eq!(region.size, Some(0x1000));
    assert_eq!(device.property("dma-coherent").unwrap().value, &[] as &[u8]);
    assert_eq!(device.property("raw").unwrap().value, &[1, 2, 3, 4, 5]);
    let child = tree.find_node("/device@9000000/child").unwrap();
    assert_eq!(child.property("value").unwrap().as_usize(), Some(7));

    let names: Vec<&str> = tree.all_nodes().map(|node| node.name).collect();
    assert_eq!(names, ["/", "chosen", "device@9000000", "child"]);
    // The reader of this crate accepts the writer's output too.
    assert_eq!(devicetree::total_size(&buffer), Ok(size));
}

#[test]
fn property_names_are_stored_once() {
    let mut buffer = [0; 512];
    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    writer.property_u32("#size-cells", 1).unwrap();
    for index in 0..3 {
        let name = ["a", "b", "c"][index];
        writer.begin_node(name).unwrap();
        writer.property_u32("reg", 1).unwrap();
        writer.property_u32("size-cells", 1).unwrap();
        writer.end_node().unwrap();
    }
    writer.end_node().unwrap();
    let size = writer.finish().unwrap();

    let tree = fdt::Fdt::new(&buffer[..size]).unwrap();
    let strings: Vec<&str> = tree.strings().collect();
    // "size-cells" reuses the tail of "#size-cells", as libfdt does.
    assert_eq!(strings, ["#size-cells", "reg"]);
    for node in ["/a", "/b", "/c"] {
        let node = tree.find_node(node).unwrap();
        assert_eq!(node.property("reg").unwrap().as_usize(), Some(1));
        assert_eq!(node.property("size-cells").unwrap().as_usize(), Some(1));
    }
}

#[test]
fn memory_reservations_are_written_before_the_structure() {
    let mut buffer = [0; 256];
    let reservations =
        [Region { base: 0x4000_0000, size: 0x1000 }, Region { base: 0x8000_0000, size: 0x20 }];
    let mut writer = Writer::with_reservations(&mut buffer, &reservations).unwrap();
    writer.begin_node("").unwrap();
    writer.end_node().unwrap();
    let size = writer.finish().unwrap();

    let tree = fdt::Fdt::new(&buffer[..size]).unwrap();
    let found: Vec<(usize, usize)> = tree
        .memory_reservations()
        .map(|reservation| (reservation.address() as usize, reservation.size()))
        .collect();
    assert_eq!(found, [(0x4000_0000, 0x1000), (0x8000_0000, 0x20)]);
    // Header, three reservation entries (one the terminator), then the structure block.
    assert_eq!(&buffer[8..12], &(40u32 + 48).to_be_bytes());
}

#[test]
fn unbalanced_nodes_are_refused() {
    let mut buffer = [0; 256];

    let mut writer = Writer::new(&mut buffer).unwrap();
    assert_eq!(writer.end_node(), Err(Error::Unbalanced));

    let writer = Writer::new(&mut buffer).unwrap();
    assert_eq!(writer.finish(), Err(Error::Unbalanced), "no root node");

    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    writer.begin_node("open").unwrap();
    writer.end_node().unwrap();
    assert_eq!(writer.finish(), Err(Error::Unbalanced), "root still open");

    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    writer.end_node().unwrap();
    assert_eq!(writer.begin_node(""), Err(Error::Unbalanced), "second root");
    assert_eq!(writer.end_node(), Err(Error::Unbalanced));
    assert!(writer.finish().is_ok());
}

#[test]
fn misplaced_properties_are_refused() {
    let mut buffer = [0; 256];
    let mut writer = Writer::new(&mut buffer).unwrap();
    assert_eq!(writer.property_u32("reg", 0), Err(Error::Misplaced), "outside any node");
    writer.begin_node("").unwrap();
    writer.property_u32("reg", 0).unwrap();
    writer.begin_node("child").unwrap();
    writer.property_u32("reg", 0).unwrap();
    writer.end_node().unwrap();
    assert_eq!(writer.property_u32("late", 0), Err(Error::Misplaced), "after a child node");
    writer.end_node().unwrap();
    assert_eq!(writer.property_u32("reg", 0), Err(Error::Misplaced), "after the root");
}

#[test]
fn invalid_names_are_refused() {
    let mut buffer = [0; 512];
    let mut writer = Writer::new(&mut buffer).unwrap();
    assert_eq!(writer.begin_node("root"), Err(Error::InvalidName), "the root has no name");
    writer.begin_node("").unwrap();
    let long_name = "n".repeat(32);
    for name in ["", "a b", "node@", "@10", "a@b@c", "/", "caf\u{e9}", long_name.as_str()] {
        assert_eq!(writer.begin_node(name), Err(Error::InvalidName), "node name {name:?}");
    }
    for name in ["", "a b", "a/b", "a@b", "caf\u{e9}", long_name.as_str()] {
        assert_eq!(writer.property_empty(name), Err(Error::InvalidName), "property {name:?}");
    }
    let longest = "n".repeat(31);
    for name in ["cpu@0", "virtio_mmio@a000000", "a,b.c_d+e-f@1,2", longest.as_str()] {
        writer.begin_node(name).unwrap();
        writer.end_node().unwrap();
    }
    writer.end_node().unwrap();
    writer.finish().unwrap();
}

#[test]
fn strings_with_nul_bytes_are_refused() {
    let mut buffer = [0; 256];
    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    assert_eq!(writer.property_string("model", "a\0b"), Err(Error::InvalidValue));
    assert_eq!(writer.property_strings("compatible", &["a", "b\0"]), Err(Error::InvalidValue));
    writer.property_strings("empty-list", &[]).unwrap();
}

#[test]
fn a_full_string_table_is_reported() {
    let mut buffer = vec![0; 64 * 1024];
    let mut writer = Writer::new(&mut buffer).unwrap();
    writer.begin_node("").unwrap();
    let mut used = 0;
    let mut index = 0;
    let result = loop {
        let name = format!("property-{index:04}");
        match writer.property_empty(&name) {
            Ok(()) => used += name.len() + 1,
            Err(error) => break error,
        }
        index += 1;
    };
    assert_eq!(result, Error::StringTableFull);
    assert!(used <= STRING_TABLE_SIZE && used + 14 > STRING_TABLE_SIZE);
    // Names already in the table still work, and the tree stays consistent.
    writer.property_empty("property-0000").unwrap();
    writer.end_node().unwrap();
    let size = writer.finish().unwrap();
    let tree = fdt::Fdt::new(&buffer[..size]).unwrap();
    assert_eq!(tree.root().properties().count(), index + 1);
}

#[test]
fn every_too_small_buffer_gives_buffer_full() {
    let mut reference = [0; 256];
    let needed = write_tiny_tree(&mut reference).unwrap();
    for length in 0..needed {
        let mut buffer = vec![0; length];
        assert_eq!(write_tiny_tree(&mut buffer), Err(Error::BufferFull), "{length} bytes");
    }
    let mut buffer = vec![0; needed];
    assert_eq!(write_tiny_tree(&mut buffer), Ok(needed));
    assert_eq!(buffer, reference[..needed]);
}
