//! Message rings in memory shared between two VMs: the layout of an Elastos channel.
//!
//! A channel is a region of memory mapped into two VMs. The hypervisor writes its
//! status page; each direction of travel has a ring written by its sender (the
//! producer) and read by its receiver (the consumer). The hypervisor maps every
//! page so that only its writer may write it, but either VM may be faulty or
//! hostile: it can put anything into its own pages at any time, even while the
//! other side is reading them. This crate turns that memory into a
//! [`Producer`] and a [`Consumer`] that never trust what the other side wrote:
//! every index and frame header is checked before it is used, no access ever
//! leaves the ring, and nothing panics whatever the memory holds. A side that
//! sees something a faithful peer cannot produce reports it as a
//! [`CorruptReason`] and stops until it is created afresh.
//!
//! # Channel region
//!
//! | offset | size | written by | content |
//! | --- | --- | --- | --- |
//! | 0 | 4 KiB | the hypervisor | status page ([`StatusPage`]) |
//! | 4 KiB | 8 KiB + capacity | the VMs | the ring of the first end's messages |
//! | 12 KiB + capacity | 8 KiB + capacity | the VMs | the ring of the second end's messages, when both ends send |
//!
//! # Status page
//!
//! All fields are little-endian.
//!
//! | offset | field | content |
//! | --- | --- | --- |
//! | 0 | `magic: u32` | [`STATUS_MAGIC`], `0x4e48_4345` (the bytes "ECHN") |
//! | 4 | `version: u32` | [`STATUS_VERSION`], 1 |
//! | 8 | `state: u32` | 0 when the channel is down, 1 when it is up ([`ChannelState`]) |
//! | 12 | `epoch: u32` | bumped by the hypervisor at every change of `state` (wrapping) |
//!
//! `state` and `epoch` share one aligned 64-bit word, written and read as a
//! whole, so a reader always sees a state together with its own epoch.
//!
//! # Ring
//!
//! | offset | size | written by | content |
//! | --- | --- | --- | --- |
//! | 0 | 4 KiB | the consumer | consumer control page: `head: u64` at offset 0 |
//! | 4 KiB | 4 KiB | the producer | producer control page: `tail: u64` at offset 0 |
//! | 8 KiB | capacity | the producer | data |
//!
//! `head` counts every byte ever consumed and `tail` every byte ever produced,
//! both modulo 2^64 and both little-endian; `tail - head` (wrapping) is the
//! number of bytes waiting, never more than the capacity. The capacity is a
//! power of two from [`MINIMUM_CAPACITY`] to [`MAXIMUM_CAPACITY`] bytes. The
//! rest of both control pages is reserved and left zero.
//!
//! The data holds frames one after the other. A frame that starts at byte
//! position `p` lies at `p % capacity` and continues from the start of the data
//! when it reaches the end. A frame is an 8-byte header, then the payload,
//! then zero padding up to a multiple of 8 bytes:
//!
//! | offset | field | content |
//! | --- | --- | --- |
//! | 0 | `length: u32` | bytes of payload, at most `capacity - 8` |
//! | 4 | `sequence: u32` | 0 for the first frame after a reset, then one more per frame (wrapping) |
//! | 8 | payload | `length` bytes, then padding to a multiple of 8 |
//!
//! Every frame thus starts on a multiple of 8 and its header never wraps.
//!
//! # Protocol
//!
//! The producer writes a whole frame, then publishes it by storing the new
//! `tail` with release ordering; the consumer loads `tail` with acquire
//! ordering before it reads the frame, copies the payload out, then stores the
//! new `head` with release ordering; the producer loads `head` with acquire
//! ordering before it reuses the space. Only plain atomic loads and stores are
//! used, never read-modify-write operations, so rings also work where exclusive
//! accesses do not (before the MMU and caches are on, for instance).
//!
//! Each side keeps its own copy of its own index: the producer never reads
//! `tail` back and the consumer never reads `head` back, so the peer cannot move
//! them. A ring starts from zeroed control pages ([`RingMemory::reset`], done by
//! the hypervisor when it resets the channel), and both sides attach with
//! [`Producer::new`] and [`Consumer::new`].
//!
//! The consumer reports as corrupt: a `tail` that is not a multiple of 8, that
//! is behind `head`, more than the capacity ahead of it, or behind a `tail` it
//! saw before; a frame whose `length` exceeds `capacity - 8` or the bytes
//! published; and a `sequence` other than the one expected. The producer
//! reports as corrupt a `head` that is not a multiple of 8, that is ahead of
//! `tail`, or behind a `head` it saw before.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod consumer;
mod error;
mod memory;
mod producer;
mod status;

#[cfg(test)]
mod tests;

pub use consumer::Consumer;
pub use error::{CorruptReason, LayoutError, ReceiveError, SendError, StatusError};
pub use memory::RingMemory;
pub use producer::Producer;
pub use status::{ChannelState, Status, StatusPage, StatusPageWriter};

/// Bytes of each control page of a ring.
pub const CONTROL_PAGE_SIZE: usize = 4096;
/// Bytes of a frame header: `length: u32`, then `sequence: u32`.
pub const FRAME_HEADER_SIZE: usize = 8;
/// Frames start on, and are padded to, multiples of this many bytes.
pub const FRAME_ALIGNMENT: usize = 8;
/// The smallest capacity of a ring's data, in bytes.
pub const MINIMUM_CAPACITY: usize = 4096;
/// The largest capacity of a ring's data, in bytes: its largest payload,
/// `capacity - 8`, must fit the 32-bit `length` of a frame header.
pub const MAXIMUM_CAPACITY: u64 = 1 << 32;
/// Bytes of a channel's status page.
pub const STATUS_PAGE_SIZE: usize = 4096;
/// The `magic` field of a status page: the bytes "ECHN" read as a little-endian `u32`.
pub const STATUS_MAGIC: u32 = 0x4e48_4345;
/// The `version` field of a status page this crate writes and understands.
pub const STATUS_VERSION: u32 = 1;

/// Bytes of a whole ring: both control pages and `capacity` bytes of data.
pub const fn ring_size(capacity: usize) -> usize {
    2 * CONTROL_PAGE_SIZE + capacity
}

/// Bytes of the frame that carries `length` bytes of payload: the header, the
/// payload and its padding. `length` is at most `u32::MAX`, so this cannot overflow.
pub(crate) const fn frame_size(length: u32) -> u64 {
    let padded = (length as u64 + (FRAME_ALIGNMENT as u64 - 1)) & !(FRAME_ALIGNMENT as u64 - 1);
    FRAME_HEADER_SIZE as u64 + padded
}
