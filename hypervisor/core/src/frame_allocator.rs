//! A bitmap allocator of 4 KiB physical frames over one contiguous region, with no heap.
//!
//! The allocator hands out addresses only; it never reads or writes the frames.
//! Zeroing a frame before use (for example before it becomes a translation table
//! or guest memory) is the caller's job.

use crate::address::{PhysicalAddress, PAGE_SIZE};

/// The largest region the allocator manages: 16384 frames, 64 MiB.
pub const MAX_FRAMES: usize = 16384;
/// Frames tracked by one bitmap word.
const FRAMES_PER_WORD: usize = u64::BITS as usize;

/// Why a region was refused by [`FrameAllocator::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// The start address is not a multiple of 4 KiB.
    Unaligned,
    /// The region has no frames or more than [`MAX_FRAMES`].
    BadSize,
    /// The region runs past the end of the 64-bit address space.
    Overflow,
}

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not a multiple of 4 KiB.
    Unaligned,
    /// The address lies outside the allocator's region.
    OutOfRange,
    /// The frame is already free: a double free.
    NotAllocated,
}

/// A physical frame allocator; bit `n` of the bitmap is set while frame `n` is in use.
#[derive(Clone)]
pub struct FrameAllocator {
    start: PhysicalAddress,
    frames: usize,
    free: usize,
    /// Bits past `frames` stay set, so searches never hand them out.
    used: [u64; MAX_FRAMES / FRAMES_PER_WORD],
}

impl FrameAllocator {
    /// Manages `frames` free frames starting at `start`.
    pub fn new(start: PhysicalAddress, frames: usize) -> Result<Self, RegionError> {
        if !start.is_aligned(PAGE_SIZE) {
            return Err(RegionError::Unaligned);
        }
        if frames == 0 || frames > MAX_FRAMES {
            return Err(RegionError::BadSize);
        }
        start.offset(frames as u64 * PAGE_SIZE).ok_or(RegionError::Overflow)?;
        let mut used = [u64::MAX; MAX_FRAMES / FRAMES_PER_WORD];
        for frame in 0..frames {
            used[frame / FRAMES_PER_WORD] &= !(1 << (frame % FRAMES_PER_WORD));
        }
        Ok(Self { start, frames, free: frames, used })
    }

    /// Allocates one frame, the lowest free one.
    pub fn allocate(&mut self) -> Option<PhysicalAddress> {
        let word = self.used.iter().position(|&word| word != u64::MAX)?;
        let frame = word * FRAMES_PER_WORD + self.used[word].trailing_ones() as usize;
        self.mark(frame, 1);
        Some(self.address(frame))
    }

    /// Allocates `count` consecutive frames whose first physical address is a
    /// multiple of `align_frames` frames (for example 512 for 2 MiB), and returns
    /// that address. Returns `None` if `count` or `align_frames` is zero or no such
    /// run is free.
    pub fn allocate_contiguous(
        &mut self,
        count: usize,
        align_frames: usize,
    ) -> Option<PhysicalAddress> {
        if count == 0 || align_frames == 0 {
            return None;
        }
        let align = align_frames as u64;
        let start_frame = self.start.as_u64() / PAGE_SIZE;
        // First frame index whose physical frame number is a multiple of `align`.
        let aligned_from = |frame: usize| {
            let number = start_frame + frame as u64;
            frame + ((align - number % align) % align) as usize
        };
        let mut candidate = aligned_from(0);
        while candidate + count <= self.frames {
            match (candidate..candidate + count).find(|&frame| self.is_used(frame)) {
                Some(used) => candidate = aligned_from(used + 1),
                None => {
                    self.mark(candidate, count);
                    return Some(self.address(candidate));
                }
            }
        }
        None
    }

    /// Returns one frame that `allocate` or `allocate_contiguous` handed out.
    pub fn free(&mut self, frame: PhysicalAddress) -> Result<(), FreeError> {
        if !frame.is_aligned(PAGE_SIZE) {
            return Err(FreeError::Unaligned);
        }
        let index = frame.as_u64().wrapping_sub(self.start.as_u64()) / PAGE_SIZE;
        if frame < self.start || index >= self.frames as u64 {
            return Err(FreeError::OutOfRange);
        }
        let index = index as usize;
        if !self.is_used(index) {
            return Err(FreeError::NotAllocated);
        }
        self.used[index / FRAMES_PER_WORD] &= !(1 << (index % FRAMES_PER_WORD));
        self.free += 1;
        Ok(())
    }

    /// The number of free frames.
    pub fn free_count(&self) -> usize {
        self.free
    }

    fn is_used(&self, frame: usize) -> bool {
        self.used[frame / FRAMES_PER_WORD] & (1 << (frame % FRAMES_PER_WORD)) != 0
    }

    /// Marks `count` free frames from `first` as used.
    fn mark(&mut self, first: usize, count: usize) {
        for frame in first..first + count {
            self.used[frame / FRAMES_PER_WORD] |= 1 << (frame % FRAMES_PER_WORD);
        }
        self.free -= count;
    }

    fn address(&self, frame: usize) -> PhysicalAddress {
        PhysicalAddress::new(self.start.as_u64() + frame as u64 * PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(value: u64) -> PhysicalAddress {
        PhysicalAddress::new(value)
    }

    #[test]
    fn refuses_bad_regions() {
        let new = |start, frames| FrameAllocator::new(address(start), frames).err();
        assert_eq!(new(0x4000_0800, 1), Some(RegionError::Unaligned));
        assert_eq!(new(0x4000_0000, 0), Some(RegionError::BadSize));
        assert_eq!(new(0x4000_0000, MAX_FRAMES + 1), Some(RegionError::BadSize));
        assert_eq!(new(u64::MAX - 0xfff, 2), Some(RegionError::Overflow));
        assert_eq!(new(0x4000_0000, MAX_FRAMES), None);
    }

    #[test]
    fn allocates_every_frame_once_then_runs_out() {
        let mut allocator = FrameAllocator::new(address(0x4000_0000), 100).unwrap();
        for frame in 0..100 {
            assert_eq!(allocator.allocate(), Some(address(0x4000_0000 + frame * 4096)));
        }
        assert_eq!(allocator.free_count(), 0);
        assert_eq!(allocator.allocate(), None);
        assert_eq!(allocator.allocate_contiguous(1, 1), None);
        allocator.free(address(0x4002_0000)).unwrap();
        assert_eq!(allocator.free_count(), 1);
        assert_eq!(allocator.allocate(), Some(address(0x4002_0000)));
    }

    #[test]
    fn full_size_region() {
        let mut allocator = FrameAllocator::new(address(0), MAX_FRAMES).unwrap();
        for _ in 0..MAX_FRAMES {
            assert!(allocator.allocate().is_some());
        }
        assert_eq!(allocator.allocate(), None);
    }

    #[test]
    fn detects_bad_frees() {
        let mut allocator = FrameAllocator::new(address(0x4000_0000), 10).unwrap();
        let frame = allocator.allocate().unwrap();
        assert_eq!(allocator.free(frame.offset(0x10).unwrap()), Err(FreeError::Unaligned));
        assert_eq!(allocator.free(address(0x3fff_f000)), Err(FreeError::OutOfRange));
        assert_eq!(allocator.free(address(0x4000_a000)), Err(FreeError::OutOfRange));
        assert_eq!(allocator.free(address(0)), Err(FreeError::OutOfRange));
        assert_eq!(allocator.free(address(0x4000_1000)), Err(FreeError::NotAllocated));
        assert_eq!(allocator.free(frame), Ok(()));
        assert_eq!(allocator.free(frame), Err(FreeError::NotAllocated));
        assert_eq!(allocator.free_count(), 10);
    }

    #[test]
    fn contiguous_runs_respect_physical_alignment() {
        // The region starts 3 frames past a 16-frame boundary.
        let mut allocator = FrameAllocator::new(address(0x1_0000 + 3 * 4096), 64).unwrap();
        let run = allocator.allocate_contiguous(4, 16).unwrap();
        assert_eq!(run, address(0x2_0000));
        assert_eq!(allocator.free_count(), 60);
        // The frames before the run are still free and handed out first.
        assert_eq!(allocator.allocate(), Some(address(0x1_3000)));
        // Busy frame inside the next aligned window pushes the run further.
        let blocker = address(0x3_0000 + 2 * 4096);
        while allocator.allocate().unwrap() != blocker {}
        assert_eq!(allocator.allocate_contiguous(16, 16), Some(address(0x4_0000)));
        assert_eq!(allocator.allocate_contiguous(16, 16), None, "0x5_0000 runs past the end");
        assert_eq!(allocator.allocate_contiguous(3, 1), Some(address(0x3_3000)));
        assert_eq!(allocator.allocate_contiguous(0, 1), None);
        assert_eq!(allocator.allocate_contiguous(1, 0), None);
        // Freeing the run makes it available again.
        for frame in 0..16 {
            allocator.free(address(0x4_0000 + frame * 4096)).unwrap();
        }
        assert_eq!(allocator.allocate_contiguous(16, 16), Some(address(0x4_0000)));
    }

    #[test]
    fn contiguous_run_of_whole_region() {
        let mut allocator = FrameAllocator::new(address(0x8000_0000), 512).unwrap();
        assert_eq!(allocator.allocate_contiguous(512, 512), Some(address(0x8000_0000)));
        assert_eq!(allocator.free_count(), 0);
        assert_eq!(allocator.allocate(), None);
    }
}
