//! What can go wrong with a ring or a status page, as small values.

use core::fmt;

/// Why memory cannot hold a ring or a status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The base address is null.
    NullBase,
    /// The base address is not a multiple of 8.
    Misaligned,
    /// The capacity is not a power of two.
    CapacityNotPowerOfTwo,
    /// The capacity is below [`MINIMUM_CAPACITY`](crate::MINIMUM_CAPACITY).
    CapacityTooSmall,
    /// The capacity is above [`MAXIMUM_CAPACITY`](crate::MAXIMUM_CAPACITY).
    CapacityTooLarge,
    /// The region would run past the end of the address space.
    RegionOverflows,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::NullBase => "ring memory: the base address is null",
            Self::Misaligned => "ring memory: the base address is not a multiple of 8",
            Self::CapacityNotPowerOfTwo => "ring memory: the capacity is not a power of two",
            Self::CapacityTooSmall => "ring memory: the capacity is below 4096 bytes",
            Self::CapacityTooLarge => "ring memory: the capacity is above 4 GiB",
            Self::RegionOverflows => {
                "ring memory: the region runs past the end of the address space"
            }
        })
    }
}

impl core::error::Error for LayoutError {}

/// What the peer wrote that a faithful peer cannot have written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The producer's `tail` is behind the consumer's `head`, more than the
    /// capacity ahead of it, or behind a `tail` seen before.
    TailOutOfRange,
    /// The producer's `tail` is not a multiple of 8.
    TailMisaligned,
    /// The consumer's `head` is ahead of the producer's `tail` or behind a
    /// `head` seen before.
    HeadOutOfRange,
    /// The consumer's `head` is not a multiple of 8.
    HeadMisaligned,
    /// A frame header gives a length above the largest payload, `capacity - 8`.
    LengthTooLarge {
        /// The length in the header.
        length: u32,
    },
    /// A frame header gives a length that runs past the bytes the producer published.
    LengthBeyondTail {
        /// The length in the header.
        length: u32,
    },
    /// A frame header carries a sequence number other than the next one.
    WrongSequence {
        /// The sequence number the frame should carry.
        expected: u32,
        /// The sequence number it carries.
        found: u32,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TailOutOfRange => formatter.write_str(
                "corrupt ring: the producer's tail is behind the head, beyond the capacity, \
                 or moved backwards",
            ),
            Self::TailMisaligned => {
                formatter.write_str("corrupt ring: the producer's tail is not a multiple of 8")
            }
            Self::HeadOutOfRange => formatter.write_str(
                "corrupt ring: the consumer's head is ahead of the tail or moved backwards",
            ),
            Self::HeadMisaligned => {
                formatter.write_str("corrupt ring: the consumer's head is not a multiple of 8")
            }
            Self::LengthTooLarge { length } => write!(
                formatter,
                "corrupt ring: a frame of {length} bytes is larger than the ring allows"
            ),
            Self::LengthBeyondTail { length } => write!(
                formatter,
                "corrupt ring: a frame of {length} bytes runs past the bytes published"
            ),
            Self::WrongSequence { expected, found } => write!(
                formatter,
                "corrupt ring: frame sequence number {found} where {expected} was expected"
            ),
        }
    }
}

impl core::error::Error for CorruptReason {}

/// Why [`Producer::send`](crate::Producer::send) did not send a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The ring has no room for the message now; try again once the consumer has read.
    Full,
    /// The message is longer than any frame of this ring can carry (`capacity - 8` bytes).
    TooLarge,
    /// The consumer's index is impossible; the ring must be reset.
    Corrupt(CorruptReason),
}

impl fmt::Display for SendError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => formatter.write_str("the ring is full; try again after the peer reads"),
            Self::TooLarge => formatter.write_str("the message is larger than the ring can carry"),
            Self::Corrupt(reason) => reason.fmt(formatter),
        }
    }
}

impl core::error::Error for SendError {}

/// Why [`Consumer::receive`](crate::Consumer::receive) did not deliver a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// The next message needs a buffer of `needed` bytes; it stays in the ring.
    BufferTooSmall {
        /// Bytes of the next message.
        needed: usize,
    },
    /// The producer wrote something impossible; the ring must be reset.
    Corrupt(CorruptReason),
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(formatter, "the next message needs a buffer of {needed} bytes")
            }
            Self::Corrupt(reason) => reason.fmt(formatter),
        }
    }
}

impl core::error::Error for ReceiveError {}

/// Why a status page cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusError {
    /// The `magic` field is not [`STATUS_MAGIC`](crate::STATUS_MAGIC).
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// The `version` field is not [`STATUS_VERSION`](crate::STATUS_VERSION).
    UnsupportedVersion {
        /// The value found.
        found: u32,
    },
    /// The `state` field is neither down (0) nor up (1).
    UnknownState {
        /// The value found.
        found: u32,
    },
}

impl fmt::Display for StatusError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic { found } => {
                write!(formatter, "channel status page: bad magic {found:#010x}")
            }
            Self::UnsupportedVersion { found } => {
                write!(formatter, "channel status page: unsupported version {found}")
            }
            Self::UnknownState { found } => {
                write!(formatter, "channel status page: unknown state {found}")
            }
        }
    }
}

impl core::error::Error for StatusError {}
