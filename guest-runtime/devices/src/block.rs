//! A disk: the virtio block device (virtio-blk, which QEMU serves from an
//! image file), in 512-byte sectors.
//!
//! Each request waits for the device's answer on the used ring (the device
//! is the VM's alone and answers in microseconds), so the calls are
//! synchronous. Buffers may be anywhere in the VM's RAM: they are shared
//! with the device by translating their addresses ([`crate::hal`]).

/// Bytes of one sector.
pub const SECTOR_SIZE: usize = 512;

/// Why a disk request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The device could not be set up.
    Setup,
    /// The device answered the request with an error (an I/O error, or a
    /// sector past the end).
    Device,
    /// The buffer is not a whole number of sectors.
    Unaligned,
    /// The range is past the end of the disk.
    OutOfRange,
    /// The disk is read-only.
    ReadOnly,
}

impl core::fmt::Display for DiskError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Setup => write!(formatter, "the block device could not be set up"),
            Self::Device => write!(formatter, "the block device reported an I/O error"),
            Self::Unaligned => write!(formatter, "a disk buffer is not a whole number of sectors"),
            Self::OutOfRange => write!(formatter, "a disk request is past the end of the disk"),
            Self::ReadOnly => write!(formatter, "the disk is read-only"),
        }
    }
}

/// Checks that `length` bytes from `sector` are whole sectors inside a disk of
/// `capacity` sectors.
pub fn check_range(capacity: u64, sector: u64, length: usize) -> Result<(), DiskError> {
    if !length.is_multiple_of(SECTOR_SIZE) {
        return Err(DiskError::Unaligned);
    }
    let sectors = (length / SECTOR_SIZE) as u64;
    match sector.checked_add(sectors) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(DiskError::OutOfRange),
    }
}

#[cfg(target_os = "none")]
pub use device::Disk;

/// The virtio-blk driver, on the VM.
#[cfg(target_os = "none")]
mod device {
    use super::{check_range, DiskError};
    use crate::hal::DmaHal;
    use crate::virtio::Transport;
    use virtio_drivers::device::blk::VirtIOBlk;

    /// The VM's disk.
    pub struct Disk {
        device: VirtIOBlk<DmaHal, Transport>,
        capacity: u64,
    }

    impl Disk {
        /// Sets up the device behind `transport`.
        pub fn new(transport: Transport) -> Result<Self, DiskError> {
            let device = VirtIOBlk::new(transport).map_err(|_| DiskError::Setup)?;
            let capacity = device.capacity();
            Ok(Self { device, capacity })
        }

        /// The disk's size in sectors.
        pub fn capacity(&self) -> u64 {
            self.capacity
        }

        /// Fills `buffer` (whole sectors) from `sector` onwards.
        pub fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DiskError> {
            check_range(self.capacity, sector, buffer.len())?;
            if buffer.is_empty() {
                return Ok(());
            }
            let result = self.device.read_blocks(sector as usize, buffer);
            self.device.ack_interrupt();
            result.map_err(|_| DiskError::Device)
        }

        /// Writes `bytes` (whole sectors) from `sector` onwards.
        pub fn write(&mut self, sector: u64, bytes: &[u8]) -> Result<(), DiskError> {
            check_range(self.capacity, sector, bytes.len())?;
            if self.device.readonly() {
                return Err(DiskError::ReadOnly);
            }
            if bytes.is_empty() {
                return Ok(());
            }
            let result = self.device.write_blocks(sector as usize, bytes);
            self.device.ack_interrupt();
            result.map_err(|_| DiskError::Device)
        }

        /// Makes every completed write durable.
        pub fn flush(&mut self) -> Result<(), DiskError> {
            let result = self.device.flush();
            self.device.ack_interrupt();
            result.map_err(|_| DiskError::Device)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_whole_sectors_inside_the_disk() {
        assert_eq!(check_range(8, 0, 4096), Ok(()));
        assert_eq!(check_range(8, 7, 512), Ok(()));
        assert_eq!(check_range(8, 7, 1024), Err(DiskError::OutOfRange));
        assert_eq!(check_range(8, 0, 100), Err(DiskError::Unaligned));
        assert_eq!(check_range(8, u64::MAX, 512), Err(DiskError::OutOfRange));
        assert_eq!(check_range(8, 8, 0), Ok(()));
    }
}
