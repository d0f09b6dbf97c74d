//! The VM's heap: a linked-list allocator over the RAM the runtime does not
//! use, from the end of the image, its .bss and stacks up to the parameter
//! page at the top of RAM.
//!
//! [`init`] must run before anything allocates; an allocation before it, or
//! one the heap cannot hold, is an allocation failure, which panics (and so
//! stops the VM as failed, for its restart policy). A VM that owns a device
//! must reset it before calling [`init`]: a device its previous life left
//! running may still write where that life's buffers were.

#![allow(unsafe_code, reason = "the global allocator is handed its arena as a raw pointer")]

#[cfg(target_os = "none")]
use linked_list_allocator::LockedHeap;

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

#[cfg(target_os = "none")]
/// The heap's bounds once [`init`] ran: start and size in bytes.
static ARENA: spin::Once<(usize, usize)> = spin::Once::new();

/// The arena between the end of the runtime's image and the parameter page,
/// in a VM of `memory_size` bytes whose runtime ends at `runtime_end`.
pub fn arena(runtime_end: u64, memory_size: u64) -> Option<(u64, u64)> {
    let start = runtime_end.checked_next_multiple_of(4096)?;
    let end =
        crate::mmu::RAM_BASE.checked_add(memory_size)?.checked_sub(crate::parameters::PAGE_SIZE)?;
    (end > start).then(|| (start, end - start))
}

#[cfg(target_os = "none")]
/// Hands the free RAM to the allocator; later calls do nothing. Returns the
/// heap's size in bytes.
pub fn init() -> usize {
    ARENA
        .call_once(|| {
            let Some((start, size)) =
                arena(crate::entry::runtime_end(), crate::parameters::memory_size())
            else {
                return (0, 0);
            };
            // SAFETY: the arena is RAM of this VM that the identity map
            // covers as normal memory and that nothing else uses: it starts
            // above the image, .bss and both stacks (`runtime_end`) and ends
            // below the parameter page. `call_once` hands it over once.
            unsafe { ALLOCATOR.lock().init(start as *mut u8, size as usize) };
            (start as usize, size as usize)
        })
        .1
}

#[cfg(target_os = "none")]
/// Bytes of the heap in use and free.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.lock();
    (heap.used(), heap.free())
}

/// Bytes of the heap in use and free: nothing on the host, where the
/// program allocates from the host's allocator.
#[cfg(not(target_os = "none"))]
pub fn usage() -> (usize, usize) {
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_lies_between_the_runtime_and_the_parameter_page() {
        let base = crate::mmu::RAM_BASE;
        assert_eq!(arena(base + 0x12345, 16 << 20), Some((base + 0x13000, (16 << 20) - 0x14000)));
        assert_eq!(arena(base + (16 << 20), 16 << 20), None);
    }
}
