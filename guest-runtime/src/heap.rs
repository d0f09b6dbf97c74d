//! netvm's heap, for the NIC driver's buffers and the stack's sockets: a
//! linked-list allocator over a static arena of [`HEAP_SIZE`] bytes.
//!
//! [`init`] must run before anything allocates; an allocation before it, or
//! one the arena cannot hold, is an allocation failure, which panics (and
//! so stops netvm as failed, to be restarted).

#![allow(unsafe_code, reason = "the global allocator is handed its arena as a raw pointer")]

use core::cell::UnsafeCell;
use linked_list_allocator::LockedHeap;

/// Bytes of the heap.
pub const HEAP_SIZE: usize = 12 << 20;

/// The arena, in .bss.
#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: only the allocator reaches the arena, through the pointer `init`
// gives it once; the allocator serializes its own accesses with its lock.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; HEAP_SIZE]));

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Set once the allocator has its arena.
static READY: spin::Once<()> = spin::Once::new();

/// Hands the arena to the allocator; later calls do nothing.
pub fn init() {
    READY.call_once(|| {
        // SAFETY: the arena is a static of HEAP_SIZE bytes that nothing but
        // the allocator uses, and `call_once` gives it to the allocator once.
        unsafe { ALLOCATOR.lock().init(ARENA.0.get().cast::<u8>(), HEAP_SIZE) }
    });
}
