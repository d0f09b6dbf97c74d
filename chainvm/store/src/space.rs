//! The space map: one bit a sector, set where a sector is in use.
//!
//! It is never written to the disk: `open` builds it from the catalog (every extent of every
//! value, both copies of the catalog, and the reserved sectors), so it cannot disagree with
//! what a crash left behind.

use alloc::vec;
use alloc::vec::Vec;

use crate::layout::{Entry, Run, DATA_START, MAX_EXTENT_SECTORS};

/// Which sectors are in use.
#[derive(Clone, Debug)]
pub(crate) struct SpaceMap {
    words: Vec<u64>,
    sector_count: u64,
    used: u64,
}

/// A range of sectors that is already in use or past the end of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overlap {
    pub(crate) sector: u64,
}

impl SpaceMap {
    /// A map of a device of `sector_count` sectors with only the reserved sectors in use.
    pub(crate) fn new(sector_count: u64) -> Self {
        let word_count = sector_count.div_ceil(64) as usize;
        let mut map = SpaceMap { words: vec![0; word_count], sector_count, used: 0 };
        // Bits past the last sector read as used, so no search ever returns them.
        let tail = sector_count % 64;
        if tail != 0 {
            map.words[word_count - 1] = !0u64 << tail;
        }
        // The reserved sectors lie inside every device the store accepts.
        map.mark(0, DATA_START.min(sector_count)).expect("reserved sectors are free in a new map");
        map
    }

    /// The map of a store whose values are `entries` and whose catalog copies are `copies`.
    pub(crate) fn build<'a>(
        sector_count: u64,
        entries: impl Iterator<Item = &'a Entry>,
        copies: &[Vec<Run>; 2],
    ) -> Result<Self, Overlap> {
        let mut map = SpaceMap::new(sector_count);
        for run in copies.iter().flatten() {
            map.mark(run.start, run.sectors)?;
        }
        for entry in entries {
            for extent in &entry.extents {
                map.mark(extent.start, extent.sectors())?;
            }
        }
        Ok(map)
    }

    fn is_used(&self, sector: u64) -> bool {
        self.words[(sector / 64) as usize] & (1 << (sector % 64)) != 0
    }

    /// Marks `count` sectors from `start` in use; fails if one of them already is.
    pub(crate) fn mark(&mut self, start: u64, count: u64) -> Result<(), Overlap> {
        let end = start.checked_add(count).filter(|&end| end <= self.sector_count);
        let Some(end) = end else {
            return Err(Overlap { sector: start });
        };
        if let Some(sector) = (start..end).find(|&sector| self.is_used(sector)) {
            return Err(Overlap { sector });
        }
        for sector in start..end {
            self.words[(sector / 64) as usize] |= 1 << (sector % 64);
        }
        self.used += count;
        Ok(())
    }

    /// The number of free sectors.
    pub(crate) fn free_sectors(&self) -> u64 {
        self.sector_count - self.used
    }

    /// The first sector at or after `from` that is free (`free == true`) or used, or the
    /// sector count if there is none.
    fn find(&self, from: u64, free: bool) -> u64 {
        let mut sector = from;
        while sector < self.sector_count {
            let word_index = (sector / 64) as usize;
            let mut word = self.words[word_index];
            if free {
                word = !word;
            }
            word &= !0u64 << (sector % 64);
            if word != 0 {
                let found = word_index as u64 * 64 + u64::from(word.trailing_zeros());
                return found.min(self.sector_count);
            }
            sector = (word_index as u64 + 1) * 64;
        }
        self.sector_count
    }

    /// Every free run of sectors, in disk order.
    fn free_runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut sector = self.find(0, true);
        while sector < self.sector_count {
            let end = self.find(sector, false);
            runs.push(Run { start: sector, sectors: end - sector });
            sector = self.find(end, true);
        }
        runs
    }

    /// Takes `sectors` free sectors in at most `max_runs` runs and marks them in use: the
    /// first free run that is large enough, else the largest runs first. No run is longer
    /// than an extent may be. `None` if there is no room.
    pub(crate) fn allocate(&mut self, sectors: u64, max_runs: usize) -> Option<Vec<Run>> {
        if sectors == 0 {
            return Some(Vec::new());
        }
        if sectors > self.free_sectors() {
            return None;
        }
        let mut runs = self.free_runs();
        let chosen = match runs.iter().find(|run| run.sectors >= sectors) {
            Some(run) => vec![Run { start: run.start, sectors }],
            None => {
                runs.sort_by_key(|run| core::cmp::Reverse(run.sectors));
                let mut chosen = Vec::new();
                let mut needed = sectors;
                for run in runs {
                    if needed == 0 {
                        break;
                    }
                    let take = run.sectors.min(needed);
                    chosen.push(Run { start: run.start, sectors: take });
                    needed -= take;
                }
                chosen
            }
        };
        let mut split = Vec::with_capacity(chosen.len());
        for run in chosen {
            let mut start = run.start;
            let end = run.start + run.sectors;
            while start < end {
                let length = (end - start).min(MAX_EXTENT_SECTORS);
                split.push(Run { start, sectors: length });
                start += length;
            }
        }
        if split.len() > max_runs {
            return None;
        }
        for run in &split {
            // The runs were free in this map and are disjoint.
            self.mark(run.start, run.sectors).expect("allocated runs are free");
        }
        Some(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_first_fit_then_largest_runs() {
        let mut map = SpaceMap::new(200);
        assert_eq!(map.free_sectors(), 200 - DATA_START);
        assert_eq!(map.allocate(10, 1), Some(vec![Run { start: 8, sectors: 10 }]));
        map.mark(30, 100).unwrap();
        // Free now: 18..30 (12 sectors) and 130..200 (70 sectors).
        assert_eq!(map.allocate(20, 4), Some(vec![Run { start: 130, sectors: 20 }]));
        // 12 + 50 left: 60 needs both runs, largest first.
        assert_eq!(map.allocate(60, 1), None);
        assert_eq!(
            map.allocate(60, 2),
            Some(vec![Run { start: 150, sectors: 50 }, Run { start: 18, sectors: 10 }])
        );
        assert_eq!(map.free_sectors(), 2);
        assert_eq!(map.allocate(3, 4), None);
        assert_eq!(map.mark(29, 1), Ok(()));
        assert_eq!(map.mark(29, 1), Err(Overlap { sector: 29 }));
        assert_eq!(map.mark(199, 2), Err(Overlap { sector: 199 }));
    }

    #[test]
    fn never_hands_out_sectors_past_the_end() {
        let mut map = SpaceMap::new(70);
        assert_eq!(map.allocate(62, 1), Some(vec![Run { start: 8, sectors: 62 }]));
        assert_eq!(map.free_sectors(), 0);
        assert_eq!(map.allocate(1, 1), None);
    }
}
