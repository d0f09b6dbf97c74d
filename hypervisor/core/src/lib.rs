//! The pure, host-testable logic of the Elastos hypervisor.
//!
//! Nothing here touches hardware: this crate computes values and the hypervisor
//! (`hypervisor/src`) writes them to system registers and memory. That split lets
//! `cargo test -p hypervisor-core` check the parts that decide isolation on the
//! development machine, and keeps `unsafe` out of this crate entirely.
//!
//! - [`address`]: distinct newtypes for physical, guest-physical and virtual
//!   addresses, so one can never be passed where another is meant.
//! - [`page_table`]: AArch64 stage-2 translation tables (4 KiB granule, 39-bit
//!   guest-physical space starting at level 1), reached through the
//!   [`page_table::TableMemory`] trait so the same code runs over a `Vec` in tests
//!   and over identity-mapped frames at EL2; also the `VTCR_EL2` and `VTTBR_EL2`
//!   values for that layout.
//! - [`frame_allocator`]: a heap-free bitmap allocator of 4 KiB physical frames.
//! - [`exception`]: decoding of `ESR_EL2` syndromes (data aborts, trapped system
//!   register accesses, WFI/WFE, HVC/SMC) and of the faulting guest-physical address.
//! - [`vgic`]: a virtual GICv3 (distributor, redistributors, list-register protocol).
//! - [`uart`]: an emulated PL011 UART.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

pub mod address;
pub mod exception;
pub mod frame_allocator;
pub mod page_table;
pub mod uart;
pub mod vgic;
pub mod virtio;
