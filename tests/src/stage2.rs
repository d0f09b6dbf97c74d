//! Reading a VM's stage-2 tables out of the running machine through the
//! gdbstub, so a test can list everything a VM can reach.

use std::collections::HashMap;

use hypervisor_core::address::PhysicalAddress;
use hypervisor_core::page_table::{Mapping, Stage2Table, TableMemory};

use crate::gdb::{GdbClient, GdbError};

/// Copies of the tables of one stage-2 tree, read from the machine's
/// physical memory.
struct TableCopies {
    tables: HashMap<u64, Box<[u64; 512]>>,
}

impl TableMemory for TableCopies {
    fn allocate_table(&mut self) -> Option<PhysicalAddress> {
        // The copies are read-only: nothing is ever mapped through them.
        None
    }

    fn table(&self, table: PhysicalAddress) -> &[u64; 512] {
        &self.tables[&table.as_u64()]
    }

    fn table_mut(&mut self, table: PhysicalAddress) -> &mut [u64; 512] {
        self.tables.get_mut(&table.as_u64()).expect("only tables that were read are reached")
    }
}

/// Output address bits of a descriptor.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

fn read_table(gdb: &mut GdbClient, address: u64) -> Result<Box<[u64; 512]>, GdbError> {
    let bytes = gdb.read_memory(address, 4096)?;
    let mut table = Box::new([0u64; 512]);
    for (entry, chunk) in table.iter_mut().zip(bytes.chunks_exact(8)) {
        *entry = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
    }
    Ok(table)
}

/// Every leaf mapping of the stage-2 tree whose VTTBR_EL2 value is `vttbr`,
/// read through `gdb` (which must address physical memory: the hypervisor's
/// identity map does, and so does QEMU's physical-memory mode).
pub fn mappings(gdb: &mut GdbClient, vttbr: u64) -> Result<Vec<Mapping>, GdbError> {
    let root = vttbr & ADDRESS_MASK;
    let mut copies = TableCopies { tables: HashMap::new() };
    // Levels 1 and 2 may point at further tables (bits 1:0 == 0b11).
    let mut pending = vec![(root, 1u8)];
    while let Some((address, level)) = pending.pop() {
        let table = read_table(gdb, address)?;
        if level < 3 {
            for &entry in table.iter() {
                if entry & 0b11 == 0b11 {
                    pending.push((entry & ADDRESS_MASK, level + 1));
                }
            }
        }
        copies.tables.insert(address, table);
    }
    let tree = Stage2Table::from_root(PhysicalAddress::new(root));
    Ok(tree.mappings(&copies).collect())
}
