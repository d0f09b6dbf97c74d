//! `MemoryDisk`: a block device in memory for tests, that can lose power and flip bits.
//!
//! It keeps two images: what reads see, and what would survive a power cut (the state at
//! the last flush). Writes since the last flush are kept in order as one-sector writes.
//! [`MemoryDisk::cut_power_at`] makes the device fail at a chosen write or flush: a write
//! cut there reaches the disk only in part (a random subset of its sectors), and the device
//! answers nothing more. [`MemoryDisk::power_cycle`] then decides which unflushed sector
//! writes survived, and applies those in any order: the device model of
//! [`BlockDevice`].

use alloc::vec;
use alloc::vec::Vec;

use crate::device::{check_transfer, BlockDevice, DeviceError, SECTOR_SIZE};

/// Which unflushed sector writes survive a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Survivors {
    /// Every one, in the order written.
    All,
    /// None: the disk holds what it held at the last flush.
    None,
    /// Each one with even odds, applied in an order shuffled by this seed.
    Random(u64),
}

/// A block device in memory. See the module overview.
#[derive(Clone, Debug)]
pub struct MemoryDisk {
    /// What the disk holds at the last flush.
    durable: Vec<u8>,
    /// What reads return.
    current: Vec<u8>,
    /// Unflushed sector writes, in order: their sectors, and their bytes one after another.
    pending_sectors: Vec<u64>,
    pending_bytes: Vec<u8>,
    events: u64,
    cut: Option<(u64, u64)>,
    offline: bool,
    sector_writes: u64,
}

/// SplitMix64: a small deterministic generator, enough to choose torn sectors.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }
}

impl MemoryDisk {
    /// A disk of `sectors` zeroed sectors.
    pub fn new(sectors: u64) -> Self {
        let bytes = sectors as usize * SECTOR_SIZE;
        MemoryDisk {
            durable: vec![0; bytes],
            current: vec![0; bytes],
            pending_sectors: Vec::new(),
            pending_bytes: Vec::new(),
            events: 0,
            cut: None,
            offline: false,
            sector_writes: 0,
        }
    }

    /// The number of writes and flushes so far: the events [`MemoryDisk::cut_power_at`]
    /// counts.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The number of sectors written so far.
    pub fn sector_writes(&self) -> u64 {
        self.sector_writes
    }

    /// Cuts the power at event number `event` (counted as [`MemoryDisk::events`] counts):
    /// a write there reaches the disk in part (sectors chosen with `seed`), a flush there
    /// does not happen, and the device then fails every request until
    /// [`MemoryDisk::power_cycle`].
    pub fn cut_power_at(&mut self, event: u64, seed: u64) {
        self.cut = Some((event, seed));
    }

    /// True once the power was cut.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Restores power: the disk holds what was flushed, plus the unflushed sector writes
    /// that `survivors` keeps.
    pub fn power_cycle(&mut self, survivors: Survivors) {
        let count = self.pending_sectors.len();
        let mut order: Vec<usize> = (0..count).collect();
        if let Survivors::Random(seed) = survivors {
            let mut random = Random(seed);
            order.retain(|_| random.next() & 1 == 1);
            for index in (1..order.len()).rev() {
                let other = (random.next() % (index as u64 + 1)) as usize;
                order.swap(index, other);
            }
        } else if survivors == Survivors::None {
            order.clear();
        }
        for write in order {
            let sector = self.pending_sectors[write] as usize;
            let bytes = &self.pending_bytes[write * SECTOR_SIZE..(write + 1) * SECTOR_SIZE];
            self.durable[sector * SECTOR_SIZE..(sector + 1) * SECTOR_SIZE].copy_from_slice(bytes);
        }
        self.pending_sectors.clear();
        self.pending_bytes.clear();
        self.current.clone_from(&self.durable);
        self.cut = None;
        self.offline = false;
    }

    /// Flips bit `bit` (0 to 4095) of `sector`, in what reads see and what survives.
    pub fn flip_bit(&mut self, sector: u64, bit: usize) {
        let byte = sector as usize * SECTOR_SIZE + bit / 8;
        self.durable[byte] ^= 1 << (bit % 8);
        self.current[byte] ^= 1 << (bit % 8);
    }

    /// Replaces `sector` with `bytes` (512 of them) at once and durably, bypassing the
    /// event count: damage, not a write.
    pub fn overwrite(&mut self, sector: u64, bytes: &[u8]) {
        let start = sector as usize * SECTOR_SIZE;
        self.durable[start..start + SECTOR_SIZE].copy_from_slice(bytes);
        self.current[start..start + SECTOR_SIZE].copy_from_slice(bytes);
    }

    /// The bytes of `sector`, as reads see them.
    pub fn sector(&self, sector: u64) -> &[u8] {
        let start = sector as usize * SECTOR_SIZE;
        &self.current[start..start + SECTOR_SIZE]
    }

    /// Counts an event; true if the power is cut at it.
    fn cut_now(&mut self) -> Option<u64> {
        let event = self.events;
        self.events += 1;
        match self.cut {
            Some((at, seed)) if at == event => {
                self.offline = true;
                Some(seed)
            }
            _ => None,
        }
    }

    fn record(&mut self, sector: u64, bytes: &[u8]) {
        self.pending_sectors.push(sector);
        self.pending_bytes.extend_from_slice(bytes);
        self.sector_writes += 1;
    }
}

impl BlockDevice for MemoryDisk {
    fn sector_count(&self) -> u64 {
        (self.current.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        if self.offline {
            return Err(DeviceError::Offline);
        }
        check_transfer(self.sector_count(), sector, buffer.len())?;
        let start = sector as usize * SECTOR_SIZE;
        buffer.copy_from_slice(&self.current[start..start + buffer.len()]);
        Ok(())
    }

    fn write(&mut self, sector: u64, buffer: &[u8]) -> Result<(), DeviceError> {
        if self.offline {
            return Err(DeviceError::Offline);
        }
        check_transfer(self.sector_count(), sector, buffer.len())?;
        if let Some(seed) = self.cut_now() {
            // The write in progress when the power went: some of its sectors got out.
            let mut random = Random(seed);
            for (index, bytes) in buffer.chunks_exact(SECTOR_SIZE).enumerate() {
                if random.next() & 1 == 1 {
                    self.record(sector + index as u64, bytes);
                }
            }
            return Err(DeviceError::Offline);
        }
        for (index, bytes) in buffer.chunks_exact(SECTOR_SIZE).enumerate() {
            self.record(sector + index as u64, bytes);
        }
        let start = sector as usize * SECTOR_SIZE;
        self.current[start..start + buffer.len()].copy_from_slice(buffer);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.offline {
            return Err(DeviceError::Offline);
        }
        if self.cut_now().is_some() {
            return Err(DeviceError::Offline);
        }
        for (write, &sector) in self.pending_sectors.iter().enumerate() {
            let sector = sector as usize;
            let bytes = &self.pending_bytes[write * SECTOR_SIZE..(write + 1) * SECTOR_SIZE];
            self.durable[sector * SECTOR_SIZE..(sector + 1) * SECTOR_SIZE].copy_from_slice(bytes);
        }
        self.pending_sectors.clear();
        self.pending_bytes.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_writes_are_lost_and_flushed_ones_kept() {
        let mut disk = MemoryDisk::new(16);
        disk.write(1, &[1; SECTOR_SIZE]).unwrap();
        disk.flush().unwrap();
        disk.write(2, &[2; 2 * SECTOR_SIZE]).unwrap();
        assert_eq!(disk.sector(2), &[2; SECTOR_SIZE][..]);
        disk.power_cycle(Survivors::None);
        assert_eq!(disk.sector(1), &[1; SECTOR_SIZE][..]);
        assert_eq!(disk.sector(2), &[0; SECTOR_SIZE][..]);
        assert_eq!(disk.events(), 3);
    }

    #[test]
    fn a_cut_write_tears_and_the_device_goes_offline() {
        let mut disk = MemoryDisk::new(200);
        disk.cut_power_at(0, 5);
        assert_eq!(disk.write(0, &[7; 128 * SECTOR_SIZE]), Err(DeviceError::Offline));
        assert_eq!(disk.flush(), Err(DeviceError::Offline));
        assert_eq!(disk.read(0, &mut [0; SECTOR_SIZE]), Err(DeviceError::Offline));
        disk.power_cycle(Survivors::All);
        let written = (0..128).filter(|&sector| disk.sector(sector)[0] == 7).count();
        // With 128 sectors at even odds, a torn write that kept all or none would be a bug.
        assert!(written > 0 && written < 128, "{written}");
    }

    #[test]
    fn random_survivors_keep_some_writes() {
        let mut disk = MemoryDisk::new(100);
        for sector in 0..64 {
            disk.write(sector, &[sector as u8 + 1; SECTOR_SIZE]).unwrap();
        }
        disk.power_cycle(Survivors::Random(9));
        let kept = (0..64).filter(|&sector| disk.sector(sector)[0] != 0).count();
        assert!(kept > 0 && kept < 64, "{kept}");
    }

    #[test]
    fn rejects_bad_transfers() {
        let mut disk = MemoryDisk::new(4);
        assert_eq!(disk.read(3, &mut [0; 2 * SECTOR_SIZE]), Err(DeviceError::OutOfRange));
        assert_eq!(disk.write(0, &[0; 100]), Err(DeviceError::BufferLength));
        assert_eq!(disk.write(0, &[]), Err(DeviceError::BufferLength));
    }
}
