//! The Elastos guest runtime: the small EL1 kernel every Elastos VM (netvm,
//! chainvm, app VMs) is built on.
//!
//! A VM program is a `fn main() -> !` handed to [`entry!`]. The runtime boots
//! it ([`entry`]: stack, .bss, exception vectors), turns on an identity map
//! with caches ([`mmu`]), and gives it:
//!
//! - [`print!`] and [`println!`] for information, printed when the host asks
//!   for a verbose VM, and [`warn!`] for faults and warnings, always printed,
//!   on the hypervisor's console ([`console`]);
//! - the hypercalls as safe functions returning `Result<_, Status>`
//!   ([`hypercall`]);
//! - the interrupt controller and a deadline timer, for sleeping until a
//!   doorbell rings ([`gic`]) and a monotonic clock ([`time`]);
//! - the channels to other VMs ([`channel`]), and the skeleton VMs' ping/pong
//!   messages ([`message`]) with their serving loop ([`service`]).
//!
//! The host can pass it words through its parameter page ([`parameters`]).
//!
//! Fatal exceptions and panics are reported and stop the VM as failed, so
//! the hypervisor's restart policy applies ([`exception`]).
//!
//! Only one vCPU is used and interrupts are never taken as exceptions: the
//! program waits for them explicitly. The hardware parts build for the
//! bare-metal target only; everything else also builds on the host, where
//! `cargo test -p guest-runtime --lib` runs its tests (there, hypercalls
//! answer `NOT_SUPPORTED` and the console goes to standard error).
#![cfg_attr(target_os = "none", no_std)]

pub mod channel;
pub mod console;
pub mod entry;
pub mod exception;
pub mod gic;
pub mod heap;
pub mod hypercall;
pub mod identity;
pub mod message;
pub mod messaging;
pub mod mmu;
pub mod parameters;
pub mod service;
pub mod supervision;
pub mod time;

pub use hypercall_abi::Status;
