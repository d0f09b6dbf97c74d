//! Physical memory owned by the hypervisor: the frame pool, and page tables
//! reached through the identity map.

use crate::arch::Mutex;
use hypervisor_core::address::{PhysicalAddress, PAGE_SIZE};
use hypervisor_core::frame_allocator::FrameAllocator;
use hypervisor_core::page_table::TableMemory;

extern "C" {
    static __frame_pool_start: u8;
    static __frame_pool_end: u8;
}

static FRAMES: Mutex<Option<FrameAllocator>> = Mutex::new(None);

/// Hands the frame pool (from the end of the image to the end of the
/// hypervisor's region) to the allocator.
pub fn init() -> usize {
    let start = core::ptr::addr_of!(__frame_pool_start) as u64;
    let end = core::ptr::addr_of!(__frame_pool_end) as u64;
    let frames = ((end - start) / PAGE_SIZE) as usize;
    let allocator = FrameAllocator::new(PhysicalAddress::new(start), frames)
        .expect("the linker script's frame pool fits the allocator");
    let free = allocator.free_count();
    *FRAMES.lock() = Some(allocator);
    free
}

/// Allocates one zeroed frame.
pub fn allocate_zeroed_frame() -> Option<PhysicalAddress> {
    let frame = FRAMES.lock().as_mut()?.allocate()?;
    // SAFETY: the frame comes from the pool, which lies in the hypervisor's
    // identity-mapped RAM, belongs to nobody else until we hand it out, and is
    // PAGE_SIZE bytes long and page aligned.
    unsafe { core::ptr::write_bytes(frame.as_u64() as *mut u8, 0, PAGE_SIZE as usize) };
    Some(frame)
}

/// Page tables kept in frames of the pool, reached through the identity map.
pub struct PoolTables;

impl TableMemory for PoolTables {
    fn allocate_table(&mut self) -> Option<PhysicalAddress> {
        allocate_zeroed_frame()
    }

    fn table(&self, table: PhysicalAddress) -> &[u64; 512] {
        assert!(is_pool_frame(table), "page table outside the frame pool");
        // SAFETY: `table` is a page-aligned frame of the pool (checked above)
        // that `allocate_table` handed out for a table; the identity map makes
        // its physical address usable as a pointer.
        unsafe { &*(table.as_u64() as *const [u64; 512]) }
    }

    fn table_mut(&mut self, table: PhysicalAddress) -> &mut [u64; 512] {
        assert!(is_pool_frame(table), "page table outside the frame pool");
        // SAFETY: as in `table`; the page-table code holds `&mut self`, and each
        // VM's tables are changed only while that VM's lock is held, so no
        // other reference to this table is live.
        unsafe { &mut *(table.as_u64() as *mut [u64; 512]) }
    }
}

fn is_pool_frame(address: PhysicalAddress) -> bool {
    let start = core::ptr::addr_of!(__frame_pool_start) as u64;
    let end = core::ptr::addr_of!(__frame_pool_end) as u64;
    address.as_u64() >= start && address.as_u64() < end && address.is_aligned(PAGE_SIZE)
}
