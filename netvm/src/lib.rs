//! The network VM's library: everything netvm is made of but its entry.
//!
//! netvm owns the NIC. It finds its virtio devices by probing the
//! virtio-mmio slots of the device window the manifest gives it
//! (`guest_devices::virtio`), drives the network card with virtio-drivers'
//! `VirtIONet` ([`nic`]) and the entropy device with its `VirtIORng`
//! (`guest_devices::entropy`), and runs smoltcp on the
//! card ([`stack`]): DHCP or a static address ([`config`]), answers to ICMP
//! echo, and a check that the gateway answers a ping ([`ping`]). Its heap
//! (`guest_runtime::heap`) holds the driver's buffers and the sockets.
//!
//! Linux's network goes through netvm: the [`bridge`] joins the card, the
//! `linux-net` channel (one Ethernet frame per ring record) and the stack,
//! whose port is a pair of frame queues ([`local`]), and the traffic
//! [`policy`] limits what the network may send Linux.
//!
//! The pure parts build on the host too, where `cargo test -p netvm` runs
//! their tests (the stack against a simulated gateway among them); the
//! hardware parts exist on the VM only.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod bridge;
pub mod clock;
pub mod config;
pub mod identity;
pub mod local;
pub mod logger;
pub mod nic;
pub mod node;
pub mod ping;
pub mod policy;
pub mod settings;
pub mod stack;
#[cfg(test)]
mod testing;
