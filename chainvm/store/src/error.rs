//! What the store reports when it cannot do what was asked.

use core::fmt;

use crate::device::DeviceError;

/// The on-disk structure in which damage was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// A superblock: the one-sector root that names the current catalog.
    Superblock,
    /// The catalog: the list of keys and where their values lie.
    Catalog,
    /// A value: the bytes stored under one key.
    Value,
}

/// Why an operation of the store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The device failed a transfer.
    Device(DeviceError),
    /// The disk holds no store (its superblocks are zero): format it to use it.
    Blank,
    /// The disk holds something that is not a store (no superblock has the store's magic).
    Unrecognized,
    /// A structure failed its checksum or its checks; `sector` is where it lies.
    Corrupt {
        /// The structure that is damaged.
        what: Structure,
        /// The first sector of the damaged structure (or of its damaged part).
        sector: u64,
    },
    /// The disk was formatted by a newer version of the store, of this format version.
    UnsupportedVersion(u32),
    /// The device is smaller than a store needs, or than the store it holds.
    DeviceTooSmall,
    /// A key is longer than [`MAX_KEY_LENGTH`](crate::MAX_KEY_LENGTH) bytes.
    KeyTooLong,
    /// The disk has no room for the commit (values, plus two copies of the catalog);
    /// nothing was changed.
    Full,
    /// There is not enough memory to hold a value or the catalog.
    OutOfMemory,
    /// A commit failed while it wrote the superblocks, so whether it took effect is not
    /// known: this handle refuses further work; open the store again to learn the state.
    Poisoned,
}

impl From<DeviceError> for Error {
    fn from(error: DeviceError) -> Self {
        Error::Device(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Device(error) => write!(formatter, "the block device failed: {error:?}"),
            Error::Blank => write!(formatter, "the disk holds no store; format it"),
            Error::Unrecognized => write!(formatter, "the disk holds something other than a store"),
            Error::Corrupt { what, sector } => {
                write!(formatter, "damaged {what:?} at sector {sector}")
            }
            Error::UnsupportedVersion(version) => {
                write!(formatter, "the store's format version {version} is not supported")
            }
            Error::DeviceTooSmall => write!(formatter, "the device is too small"),
            Error::KeyTooLong => write!(formatter, "the key is longer than 255 bytes"),
            Error::Full => write!(formatter, "the disk has no room for this commit"),
            Error::OutOfMemory => write!(formatter, "not enough memory"),
            Error::Poisoned => {
                write!(formatter, "a commit failed half-way; open the store again")
            }
        }
    }
}
