//! Heap-free reading and writing of flattened device trees (DTBs).
//!
//! The hypervisor learns the machine from the DTB that QEMU or the firmware hands it, and
//! boots each Linux guest with a DTB of its own that describes only what that guest may
//! see. Both directions live here, without a heap, so the crate runs at EL2 and is tested
//! on the development machine with `cargo test -p devicetree`.
//!
//! - [`writer`]: a flattened-device-tree writer (Devicetree Specification v0.4, chapter 5)
//!   that fills a caller-provided byte buffer, keeping property names in a fixed-size,
//!   deduplicated table.
//! - [`guest`]: [`build_guest`] turns a [`GuestDescription`] (memory, vCPUs, GICv3, timer,
//!   PL011, virtio-mmio slots, command line, initrd) into the DTB an arm64 Linux expects,
//!   modelled on what QEMU's `virt` machine generates.
//! - [`board`]: [`total_size`] checks a blob found in memory before anything trusts it,
//!   and [`read_board`] extracts the [`BoardFacts`] the hypervisor needs (memory, GICv3,
//!   timer interrupts, UART, CPUs, virtio-mmio slots) with the `fdt` crate.
//!
//! The `fdt` crate panics on some malformed input, so [`read_board`] first walks the
//! whole blob with its own checker and hands `fdt` only blobs that are well formed;
//! truncated or corrupted blobs come back as an [`Error`], never as a panic.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

pub mod board;
pub mod guest;
pub mod writer;

pub use board::{read_board, total_size, BoardFacts, Device};
pub use guest::{build_guest, DescriptionProblem, GuestDescription, Uart, VirtioMmio};
pub use writer::Writer;

/// A range of physical (or guest-physical) addresses: where a memory bank or a device's
/// registers start, and how many bytes they span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// The first address of the region.
    pub base: u64,
    /// The number of bytes in the region.
    pub size: u64,
}

impl Region {
    /// The first address after the region, or `None` if the region runs past the end of
    /// the 64-bit address space.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }

    /// Whether `other` lies entirely inside this region.
    pub fn contains(&self, other: &Region) -> bool {
        match (self.end(), other.end()) {
            (Some(end), Some(other_end)) => self.base <= other.base && other_end <= end,
            _ => false,
        }
    }

    /// Whether the two regions share at least one byte. Empty regions overlap nothing.
    pub fn overlaps(&self, other: &Region) -> bool {
        if self.size == 0 || other.size == 0 {
            return false;
        }
        // A region that wraps around the address space is treated as ending at the top.
        let end = self.end().unwrap_or(u64::MAX);
        let other_end = other.end().unwrap_or(u64::MAX);
        self.base < other_end && other.base < end
    }
}

/// What went wrong while writing, building or reading a device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The output buffer has no room for what was asked (or the tree would exceed the
    /// 4 GiB a DTB header can describe).
    BufferFull,
    /// The writer's table of property names is full.
    StringTableFull,
    /// A node was ended that was never begun, a second root node was begun, or the tree
    /// was finished with nodes still open (or with no root node at all).
    Unbalanced,
    /// A property was written outside any node, or after a child node of the current
    /// node (the format requires a node's properties before its children).
    Misplaced,
    /// A node or property name is empty, too long or contains characters the
    /// Devicetree Specification does not allow.
    InvalidName,
    /// A string value contains a NUL byte, which would cut it short.
    InvalidValue,
    /// [`build_guest`] was given a description it cannot turn into a sound tree.
    InvalidDescription(DescriptionProblem),
    /// The blob is shorter than its header, or than the size its header declares.
    Truncated,
    /// The blob does not start with the magic number 0xd00dfeed.
    BadMagic,
    /// The blob's format version is not one this crate reads (it needs version 17, or a
    /// later one compatible with 16 or 17).
    UnsupportedVersion,
    /// The blob's blocks or structure tokens are inconsistent: a block outside the blob,
    /// a name without its NUL, a property running past its block, unbalanced nodes,
    /// nesting deeper than [`board::MAXIMUM_DEPTH`], or an `FDT_NOP` token.
    Malformed,
    /// The board's tree lacks a node the hypervisor needs.
    Missing(Device),
    /// A node the hypervisor needs has a property it cannot use (a missing or short
    /// `reg`, an interrupt of the wrong kind, an empty region).
    InvalidProperty(Device),
}
