//! The devices an Elastos VM may own, on virtio-mmio: probing the slots of
//! its device window ([`virtio`]), the DMA glue virtio-drivers needs, with
//! physical addresses from `MEMORY_INFO` ([`hal`], [`dma`], [`memory`]),
//! the entropy device ([`entropy`]), the block device ([`block`]) and the
//! real-time clock ([`clock`]).
//!
//! netvm owns the NIC and an entropy device; chainvm owns the disk and an
//! entropy device. The pure parts build on the host too, where `cargo test
//! -p guest-devices` runs their tests; the hardware parts exist on the VM
//! only.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

pub mod block;
pub mod clock;
pub mod dma;
pub mod entropy;
#[cfg(target_os = "none")]
pub mod hal;
pub mod memory;
pub mod virtio;
