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
//! | 0 | 4 KiB | the consumer | consumer control page: `head: u64`, `epoch: u64` |
//! | 4 KiB | 4 KiB | the producer | producer control page: `tail: u64`, `epoch: u64` |
//! | 8 KiB | capacity | the producer | data |
//!
//! Both control pages have the same layout, little-endian:
//!
//! | offset | field | content |
//! | --- | --- | --- |
//! | 0 | `head: u64` or `tail: u64` | the writer's index |
//! | 8 | `epoch: u64` | the channel epoch (status page) its writer attached at; 0: nobody attached since the page was zeroed |
//! | 16 | reserved | zero |
//!
//! `head` counts every byte consumed since the consumer attached and `tail`
//! every byte produced since the producer attached, both modulo 2^64;
//! `tail - head` (wrapping) is the number of bytes waiting, never more than
//! the capacity. The capacity is a power of two from [`MINIMUM_CAPACITY`] to
//! [`MAXIMUM_CAPACITY`] bytes. The status page's epoch is 32 bits wide; a
//! control page holds it zero-extended.
//!
//! The data holds frames one after the other. A frame that starts at byte
//! position `p` lies at `p % capacity` and continues from the start of the data
//! when it reaches the end. A frame is an 8-byte header, then the payload,
//! then zero padding up to a multiple of 8 bytes:
//!
//! | offset | field | content |
//! | --- | --- | --- |
//! | 0 | `length: u32` | bytes of payload, at most `capacity - 8` |
//! | 4 | `sequence: u32` | 0 for the first frame after the producer attaches, then one more per frame (wrapping) |
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
//! them.
//!
//! # Epochs
//!
//! Each side attaches for one epoch of the channel: the `epoch` of the status
//! page when it saw the channel come up. That is never 0: the hypervisor
//! brings a channel up at odd epochs only, the first time at epoch 1; nor is
//! it one that side of the ring attached at before. Attaching
//! ([`Producer::new`], [`Consumer::new`]) stores the side's index, 0, then its
//! `epoch` with release ordering. Before a side trusts the peer's index, it
//! loads the `epoch` of the peer's page with acquire ordering: only if it
//! equals its own does it load the index, which is then the 0 of the peer's
//! attachment or a later value. Otherwise the peer has not attached at this
//! epoch: the consumer finds the ring empty, and the producer counts nothing
//! more as consumed (the `head` it saw last stands, 0 right after attaching).
//!
//! This makes restarts safe. When a VM restarts, the hypervisor zeroes both
//! control pages of every ring of its channels ([`RingMemory::reset`]; the
//! data is left as it is), then brings the channels up with a new epoch. The
//! peer that kept running may still store the index of its old attachment
//! after that zeroing, before it notices the new epoch; it never stores its
//! `epoch` again, so that stale index sits in a page whose `epoch` is 0 and the
//! restarted VM ignores it. Once the peer notices the new epoch and attaches
//! at it, its index starts from 0 again and messages flow.
//!
//! # Corruption
//!
//! Once the peer has attached at its epoch, the consumer reports as corrupt:
//! a `tail` that is not a multiple of 8, that is behind `head`, more than the
//! capacity ahead of it, or behind a `tail` it saw before; a frame whose
//! `length` exceeds `capacity - 8` or the bytes published; and a `sequence`
//! other than the one expected. The producer reports as corrupt a `head` that
//! is not a multiple of 8, that is ahead of `tail`, or behind a `head` it saw
//! before. Either side then stays corrupt until it is attached afresh.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod consumer;
mod error;
mod memory;
mod producer;
mod status;
pub mod words;

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
