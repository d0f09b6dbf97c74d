//! The block device under the store: 512-byte sectors, read, write and flush.

/// The size of one sector, the unit of every transfer, in bytes.
pub const SECTOR_SIZE: usize = 512;

/// The most sectors the store passes to one `read` or `write` call (64 KiB).
pub const MAX_SECTORS_PER_TRANSFER: usize = 128;

/// What a block device reports when a transfer fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The device reported a failed transfer.
    Io,
    /// The request reaches past the device's last sector.
    OutOfRange,
    /// The buffer is empty or its length is not a multiple of [`SECTOR_SIZE`].
    BufferLength,
    /// The device no longer answers (in tests: its power was cut).
    Offline,
}

/// A disk of 512-byte sectors.
///
/// The store assumes this model of a device, and is correct under it:
/// - a write of one sector is atomic: afterwards the sector holds the old or the new bytes;
/// - a write of several sectors is several one-sector writes, done in any order: a power cut
///   may leave any subset of them on the disk;
/// - writes that returned before a `flush` returned are durable;
/// - writes not followed by a completed `flush` may be lost, or reach the disk in part and
///   in any order;
/// - reads return what was last written (durable or not).
pub trait BlockDevice {
    /// The number of sectors on the device.
    fn sector_count(&self) -> u64;

    /// Reads `buffer.len() / 512` sectors from `sector` on. The length of `buffer` is a
    /// non-zero multiple of [`SECTOR_SIZE`].
    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DeviceError>;

    /// Writes `buffer.len() / 512` sectors from `sector` on. The length of `buffer` is a
    /// non-zero multiple of [`SECTOR_SIZE`].
    fn write(&mut self, sector: u64, buffer: &[u8]) -> Result<(), DeviceError>;

    /// Returns once every earlier write is durable.
    fn flush(&mut self) -> Result<(), DeviceError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn sector_count(&self) -> u64 {
        (**self).sector_count()
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        (**self).read(sector, buffer)
    }

    fn write(&mut self, sector: u64, buffer: &[u8]) -> Result<(), DeviceError> {
        (**self).write(sector, buffer)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        (**self).flush()
    }
}

/// Checks a transfer of `length` bytes at `sector` on a device of `sector_count` sectors and
/// returns the number of sectors it covers. Device implementations may use it.
pub fn check_transfer(sector_count: u64, sector: u64, length: usize) -> Result<u64, DeviceError> {
    if length == 0 || !length.is_multiple_of(SECTOR_SIZE) {
        return Err(DeviceError::BufferLength);
    }
    let sectors = (length / SECTOR_SIZE) as u64;
    match sector.checked_add(sectors) {
        Some(end) if end <= sector_count => Ok(sectors),
        _ => Err(DeviceError::OutOfRange),
    }
}
