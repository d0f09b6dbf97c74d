//! The glue virtio-drivers needs on the VM: DMA memory and the physical
//! addresses the devices must be given.
//!
//! DMA pages come from a static, page-aligned pool in the VM's RAM
//! ([`POOL_PAGES`] pages, handed out by [`PagePool`]); any other buffer the
//! driver passes to a device (receive buffers and packets on the heap,
//! stack buffers for entropy) is shared by translating its address. Both use
//! the [`MemoryMap`] that `MEMORY_INFO` gives, read once by [`init`].
//!
//! There is no IOMMU: the device reaches memory by physical address, and it
//! could reach any of it. See the README for what that means for trust.

#![allow(unsafe_code, reason = "DMA memory is handed to the driver as raw pointers")]

use crate::dma::{PagePool, PAGE_SIZE};
use crate::memory::{GuestPhysicalAddress, MemoryError, MemoryMap, PhysicalAddress};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use hypercall_abi::{call, Status};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Pages in the DMA pool: 256 KiB, room for the queues of several devices
/// (each queue of 16 entries takes two pages).
pub const POOL_PAGES: usize = 64;

/// Why the DMA glue could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalError {
    /// `MEMORY_INFO` failed.
    MemoryInfo(Status),
    /// Its answer does not describe the RAM the VM runs in.
    Memory(MemoryError),
}

impl core::fmt::Display for HalError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::MemoryInfo(status) => write!(formatter, "MEMORY_INFO failed: {status:?}"),
            Self::Memory(error) => write!(formatter, "MEMORY_INFO: {error}"),
        }
    }
}

/// The pool's memory, in .bss.
#[repr(C, align(4096))]
struct PoolMemory(UnsafeCell<[u8; POOL_PAGES * PAGE_SIZE]>);

// SAFETY: the pool's pages are only reached through pointers handed out by
// `dma_alloc`, each page to one owner at a time (the `PagePool` under a lock
// decides), and the VM runs on one vCPU.
unsafe impl Sync for PoolMemory {}

static POOL_MEMORY: PoolMemory = PoolMemory(UnsafeCell::new([0; POOL_PAGES * PAGE_SIZE]));
static POOL: spin::Mutex<PagePool<POOL_PAGES>> = spin::Mutex::new(PagePool::new());
static MEMORY: spin::Once<MemoryMap> = spin::Once::new();

/// Asks the hypervisor where the VM's RAM is, once, and checks that the DMA
/// pool lies in it. Later calls return the first answer.
pub fn init() -> Result<MemoryMap, HalError> {
    if let Some(map) = MEMORY.get() {
        return Ok(*map);
    }
    let map = memory_info()?;
    map.to_physical(pool_start(), (POOL_PAGES * PAGE_SIZE) as u64).map_err(HalError::Memory)?;
    Ok(*MEMORY.call_once(|| map))
}

/// `MEMORY_INFO()`: the guest-physical base, physical base and size of
/// the VM's RAM.
fn memory_info() -> Result<MemoryMap, HalError> {
    let (status, guest_base, physical_base, size): (u64, u64, u64, u64);
    // SAFETY: HVC #0 traps to the hypervisor, which follows SMCCC: it changes
    // only x0 to x3 (declared as outputs). MEMORY_INFO writes no memory.
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") u64::from(call::MEMORY_INFO) => status,
            inout("x1") 0u64 => guest_base,
            inout("x2") 0u64 => physical_base,
            inout("x3") 0u64 => size,
            options(nomem, nostack),
        );
    }
    if (status as i64) < 0 {
        return Err(HalError::MemoryInfo(
            Status::from_register(status).unwrap_or(Status::NotSupported),
        ));
    }
    MemoryMap::new(GuestPhysicalAddress::new(guest_base), PhysicalAddress::new(physical_base), size)
        .map_err(HalError::Memory)
}

/// The first byte of the pool.
fn pool_start() -> GuestPhysicalAddress {
    GuestPhysicalAddress::new(POOL_MEMORY.0.get() as u64)
}

/// The physical address of `length` bytes at `address`; panics if they are
/// not in the VM's RAM, which no buffer of the VM's can be (its stacks, heap,
/// pool and statics all are), or before [`init`].
fn physical(address: u64, length: usize) -> PhysAddr {
    let map = MEMORY.get().expect("hal::init runs before any device is set up");
    match map.to_physical(GuestPhysicalAddress::new(address), length as u64) {
        Ok(physical) => physical.as_u64(),
        Err(error) => panic!("a buffer for a device: {error}"),
    }
}

/// virtio-drivers' view of the VM's memory.
pub struct DmaHal;

// SAFETY: `dma_alloc` hands out zeroed, page-aligned pages of the static pool
// that the `PagePool` gives to nobody else until `dma_dealloc` returns them;
// the physical addresses are those of the same bytes (one offset, from
// MEMORY_INFO, over physically contiguous RAM).
unsafe impl Hal for DmaHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // A zero physical address tells the driver that the allocation failed.
        let failed = (0, NonNull::dangling());
        if MEMORY.get().is_none() {
            return failed;
        }
        let Some(first) = POOL.lock().allocate(pages) else {
            return failed;
        };
        let start = POOL_MEMORY.0.get().cast::<u8>().wrapping_add(first * PAGE_SIZE);
        // SAFETY: pages `first..first + pages` lie inside the pool (the
        // PagePool only hands out pages it has) and are now this caller's
        // alone; nothing else reads or writes them meanwhile.
        unsafe { core::ptr::write_bytes(start, 0, pages * PAGE_SIZE) };
        let Some(pointer) = NonNull::new(start) else {
            return failed;
        };
        (physical(start as u64, pages * PAGE_SIZE), pointer)
    }

    unsafe fn dma_dealloc(_physical: PhysAddr, pointer: NonNull<u8>, pages: usize) -> i32 {
        // A pointer below the pool wraps to a huge offset, which the pool
        // refuses as out of range.
        let offset = (pointer.as_ptr() as usize).wrapping_sub(POOL_MEMORY.0.get() as usize);
        if !offset.is_multiple_of(PAGE_SIZE) {
            return -1;
        }
        match POOL.lock().free(offset / PAGE_SIZE, pages) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(physical: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport asks, for its BARs; device windows are
        // mapped at the same guest-physical address.
        NonNull::new(physical as *mut u8).expect("an MMIO region is not at address 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        // Memory is coherent on QEMU, so sharing is only translation. On real
        // hardware with a device that does not snoop the caches, sharing must
        // clean the buffer's lines to the point of coherency (DC CVAC) before
        // the device reads it, and invalidate them (DC IVAC) before the
        // driver reads what the device wrote; with an IOMMU it would map the
        // buffer for the device instead.
        physical(buffer.as_ptr().cast::<u8>() as u64, buffer.len())
    }

    unsafe fn unshare(_physical: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Nothing to undo: see `share`.
    }
}
