//! The DMA page pool's bookkeeping: which pages of a fixed pool are in use.
//!
//! The virtio queues (descriptor tables, available and used rings) live in
//! pages the driver asks for through `Hal::dma_alloc`; they must be
//! physically contiguous, page-aligned and zeroed. The VM serves them from a
//! static pool inside its RAM (`hal`); this module only decides which pages,
//! first fit, and checks that what comes back was handed out.

/// Bytes of one page, as virtio-drivers counts them.
pub const PAGE_SIZE: usize = 4096;

/// Why pages could not be given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The range is not inside the pool.
    OutOfRange {
        /// The first page of the range.
        first: usize,
        /// Its length in pages.
        pages: usize,
    },
    /// A page of the range is not in use (freed twice, or never handed out).
    NotAllocated {
        /// The page.
        page: usize,
    },
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::OutOfRange { first, pages } => {
                write!(formatter, "pages {first}..{} are outside the DMA pool", first + pages)
            }
            Self::NotAllocated { page } => write!(formatter, "DMA page {page} is not in use"),
        }
    }
}

/// Which of `PAGES` pages are in use.
#[derive(Clone, Debug)]
pub struct PagePool<const PAGES: usize> {
    used: [bool; PAGES],
}

impl<const PAGES: usize> Default for PagePool<PAGES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGES: usize> PagePool<PAGES> {
    /// A pool with every page free.
    pub const fn new() -> Self {
        Self { used: [false; PAGES] }
    }

    /// Takes the first run of `pages` free pages; returns its first page, or
    /// `None` if no such run exists (or `pages` is 0).
    pub fn allocate(&mut self, pages: usize) -> Option<usize> {
        if pages == 0 || pages > PAGES {
            return None;
        }
        let mut first = 0;
        while first + pages <= PAGES {
            match self.used[first..first + pages].iter().rposition(|&used| used) {
                // Skip past the last page in use in the candidate run.
                Some(offset) => first += offset + 1,
                None => {
                    self.used[first..first + pages].fill(true);
                    return Some(first);
                }
            }
        }
        None
    }

    /// Gives back the `pages` pages from `first`, which must all be in use.
    /// Nothing changes on an error.
    pub fn free(&mut self, first: usize, pages: usize) -> Result<(), PoolError> {
        let range = first
            .checked_add(pages)
            .filter(|&end| end <= PAGES && pages > 0)
            .map(|end| first..end)
            .ok_or(PoolError::OutOfRange { first, pages })?;
        if let Some(page) = range.clone().find(|&page| !self.used[page]) {
            return Err(PoolError::NotAllocated { page });
        }
        self.used[range].fill(false);
        Ok(())
    }

    /// The number of pages in use.
    pub fn used_pages(&self) -> usize {
        self.used.iter().filter(|&&used| used).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_handed_out_first_fit_and_contiguous() {
        let mut pool = PagePool::<8>::new();
        assert_eq!(pool.allocate(3), Some(0));
        assert_eq!(pool.allocate(2), Some(3));
        assert_eq!(pool.allocate(3), Some(5));
        assert_eq!(pool.allocate(1), None, "the pool is full");
        assert_eq!(pool.used_pages(), 8);
    }

    #[test]
    fn freed_pages_are_reused_and_holes_too_small_are_skipped() {
        let mut pool = PagePool::<8>::new();
        assert_eq!(pool.allocate(2), Some(0));
        assert_eq!(pool.allocate(1), Some(2));
        assert_eq!(pool.allocate(2), Some(3));
        pool.free(0, 2).unwrap();
        // Two pages free at 0, three at 5: a run of three goes to 5.
        assert_eq!(pool.allocate(3), Some(5));
        assert_eq!(pool.allocate(2), Some(0));
        assert_eq!(pool.allocate(1), None);
        pool.free(2, 1).unwrap();
        assert_eq!(pool.allocate(1), Some(2));
    }

    #[test]
    fn impossible_requests_get_nothing() {
        let mut pool = PagePool::<4>::new();
        assert_eq!(pool.allocate(0), None);
        assert_eq!(pool.allocate(5), None);
        assert_eq!(pool.used_pages(), 0);
        assert_eq!(pool.allocate(4), Some(0));
    }

    #[test]
    fn only_pages_in_use_can_be_freed() {
        let mut pool = PagePool::<8>::new();
        assert_eq!(pool.allocate(2), Some(0));
        assert_eq!(pool.free(1, 2), Err(PoolError::NotAllocated { page: 2 }));
        assert_eq!(pool.used_pages(), 2, "a refused free changes nothing");
        assert_eq!(pool.free(7, 2), Err(PoolError::OutOfRange { first: 7, pages: 2 }));
        assert_eq!(
            pool.free(usize::MAX, 2),
            Err(PoolError::OutOfRange { first: usize::MAX, pages: 2 })
        );
        assert_eq!(pool.free(0, 0), Err(PoolError::OutOfRange { first: 0, pages: 0 }));
        pool.free(0, 2).unwrap();
        assert_eq!(pool.free(0, 2), Err(PoolError::NotAllocated { page: 0 }), "a double free");
    }

    #[test]
    fn errors_say_what_went_wrong() {
        assert_eq!(
            PoolError::OutOfRange { first: 62, pages: 4 }.to_string(),
            "pages 62..66 are outside the DMA pool"
        );
        assert_eq!(PoolError::NotAllocated { page: 3 }.to_string(), "DMA page 3 is not in use");
    }
}
