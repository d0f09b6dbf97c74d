//! A ring's memory, and the only code of the crate that touches it.
//!
//! Everything else reaches the ring through the few safe accessors here: the
//! two indices and the two attachment epochs as atomics, and the data as 64-bit words at an index that is
//! reduced modulo the capacity, so no access can leave the ring whatever index
//! the caller computes from what the peer wrote.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::{
    LayoutError, CONTROL_PAGE_SIZE, FRAME_ALIGNMENT, FRAME_HEADER_SIZE, MAXIMUM_CAPACITY,
    MINIMUM_CAPACITY,
};

/// Bytes of a data word, the unit in which data is copied.
const WORD_SIZE: usize = core::mem::size_of::<u64>();
/// The control word holding `head`: the first of the consumer control page.
const HEAD_WORD: usize = 0;
/// The control word holding `tail`: the first of the producer control page.
const TAIL_WORD: usize = CONTROL_PAGE_SIZE / WORD_SIZE;

/// A ring's memory: the consumer control page, the producer control page, then
/// `capacity` data bytes.
#[derive(Clone, Copy, Debug)]
pub struct RingMemory {
    /// The start of the consumer control page.
    base: NonNull<u8>,
    /// Bytes of data: a power of two from `MINIMUM_CAPACITY` to `MAXIMUM_CAPACITY`.
    capacity: usize,
}

// SAFETY: a `RingMemory` names memory that is shared with another VM by design.
// Every access made through it is an atomic load or store on a control page or a
// volatile word access to the data, ordered by the index protocol, and the
// contract of `RingMemory::new` keeps the memory valid for as long as any copy
// is used. Which thread holds a copy changes none of that.
unsafe impl Send for RingMemory {}
// SAFETY: as for `Send`: shared access is the purpose of the type, and it offers
// no access that is not atomic or volatile.
unsafe impl Sync for RingMemory {}

impl RingMemory {
    /// Describes the ring at `base` with `capacity` bytes of data.
    ///
    /// Checks, without touching the memory, that `base` is non-null and a
    /// multiple of 8, and that `capacity` is a power of two from
    /// [`MINIMUM_CAPACITY`] to [`MAXIMUM_CAPACITY`]; returns a [`LayoutError`]
    /// otherwise.
    ///
    /// # Safety
    ///
    /// When the checks pass, `base` must point to
    /// [`ring_size(capacity)`](crate::ring_size) bytes (8192 + `capacity`),
    /// page aligned in practice, that stay valid for reads and writes for as
    /// long as the returned value or any copy of it, or any [`Producer`] or
    /// [`Consumer`] made from it, is used. Within this program, the memory must
    /// be accessed only through this crate, by at most one [`Producer`] and one
    /// [`Consumer`] at a time; the peer VM and the hypervisor may write their
    /// pages at any moment.
    ///
    /// [`Producer`]: crate::Producer
    /// [`Consumer`]: crate::Consumer
    pub unsafe fn new(base: *mut u8, capacity: usize) -> Result<Self, LayoutError> {
        let base = NonNull::new(base).ok_or(LayoutError::NullBase)?;
        if !(base.as_ptr() as usize).is_multiple_of(FRAME_ALIGNMENT) {
            return Err(LayoutError::Misaligned);
        }
        if !capacity.is_power_of_two() {
            return Err(LayoutError::CapacityNotPowerOfTwo);
        }
        if capacity < MINIMUM_CAPACITY {
            return Err(LayoutError::CapacityTooSmall);
        }
        if capacity as u64 > MAXIMUM_CAPACITY {
            return Err(LayoutError::CapacityTooLarge);
        }
        capacity
            .checked_add(2 * CONTROL_PAGE_SIZE)
            .and_then(|size| (base.as_ptr() as usize).checked_add(size))
            .ok_or(LayoutError::RegionOverflows)?;
        Ok(Self { base, capacity })
    }

    /// Bytes of data in the ring.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest payload one frame of this ring can carry: `capacity - 8` bytes.
    pub fn max_message_size(&self) -> usize {
        self.capacity - FRAME_HEADER_SIZE
    }

    /// Zeroes both control pages (the hypervisor does this when it resets a
    /// channel), leaving both attachment epochs at 0: nobody attached.
    ///
    /// Afterwards both sides attach anew, at the channel's new epoch, with
    /// [`Producer::new`](crate::Producer::new) and
    /// [`Consumer::new`](crate::Consumer::new). A side still attached at an
    /// older epoch may go on writing its index meanwhile; the side attached
    /// at the new epoch ignores that index until its peer has attached at the
    /// new epoch too (see the crate's documentation).
    pub fn reset(&self) {
        for word in 0..2 * CONTROL_PAGE_SIZE / WORD_SIZE {
            self.control_word(word).store(0, Ordering::Release);
        }
    }

    /// The consumer's `head`, at offset 0 of the consumer control page.
    pub(crate) fn head(&self) -> &AtomicU64 {
        self.control_word(HEAD_WORD)
    }

    /// The epoch the consumer attached at, at offset 8 of the consumer control page.
    pub(crate) fn consumer_epoch(&self) -> &AtomicU64 {
        self.control_word(HEAD_WORD + 1)
    }

    /// The producer's `tail`, at offset 0 of the producer control page.
    pub(crate) fn tail(&self) -> &AtomicU64 {
        self.control_word(TAIL_WORD)
    }

    /// The epoch the producer attached at, at offset 8 of the producer control page.
    pub(crate) fn producer_epoch(&self) -> &AtomicU64 {
        self.control_word(TAIL_WORD + 1)
    }

    /// Word `word` of the two control pages, counted from the start of the
    /// consumer control page; taken modulo the words of both pages.
    fn control_word(&self, word: usize) -> &AtomicU64 {
        let word = word % (2 * CONTROL_PAGE_SIZE / WORD_SIZE);
        // SAFETY: by the contract of `new`, `base` points to two control pages
        // and the data, valid while `self` is, and it is 8-aligned (checked by
        // `new`). `word` is reduced to the words of the two control pages, so
        // the pointer is inside them and 8-aligned, as `AtomicU64` needs. That
        // memory is shared: the peer may write it at any time. `AtomicU64` has
        // interior mutability, so a shared reference to memory that changes is
        // allowed, and this side only ever accesses it through atomic loads and
        // stores, which keep such races defined. No non-atomic access to it
        // exists in this program.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(word * WORD_SIZE).cast::<u64>()) }
    }

    /// The start of the data, as words.
    fn data(&self) -> *mut u64 {
        self.base.as_ptr().wrapping_add(2 * CONTROL_PAGE_SIZE).cast::<u64>()
    }

    /// The word of the data that byte position `8 * word` maps to.
    fn data_index(&self, word: u64) -> usize {
        // The capacity is a power of two, so this is `word % (capacity / 8)`;
        // truncating `word` first keeps the low bits that matter.
        (word as usize) & (self.capacity / WORD_SIZE - 1)
    }

    /// Reads word `word` of the data (modulo its size) as a little-endian `u64`.
    pub(crate) fn read_word(&self, word: u64) -> u64 {
        let index = self.data_index(word);
        // SAFETY: `index` is below `capacity / 8`, so the word lies inside the
        // data, which by the contract of `new` is valid for reads while `self`
        // is; `base` is 8-aligned and the data starts 8 KiB after it, so the
        // word is aligned. The producer (the peer, or the `Producer` of this
        // program, whose writes the index protocol orders before this read) may
        // change it; a volatile read of an aligned word returns some value, and
        // every bit pattern is a valid `u64` that the caller checks before use.
        u64::from_le(unsafe { self.data().add(index).read_volatile() })
    }

    /// Writes word `word` of the data (modulo its size) as a little-endian `u64`.
    pub(crate) fn write_word(&self, word: u64, value: u64) {
        let index = self.data_index(word);
        // SAFETY: `index` is below `capacity / 8`, so the word lies inside the
        // data, which by the contract of `new` is valid for writes while `self`
        // is, and it is 8-aligned (see `read_word`). Only the producer writes
        // the data, and only into space the consumer has released through
        // `head`, which the producer loads with acquire ordering first.
        unsafe { self.data().add(index).write_volatile(value.to_le()) }
    }
}
