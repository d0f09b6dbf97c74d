//! Verification of chain data, signatures and DIDs, without I/O: shared by
//! chainvm (no_std, with `alloc`) and `cargo xtask chain check` on the host.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod calendar;
pub mod cometbft;
pub mod did_key;
pub mod elastos_did;
pub mod encoding;
pub mod evm;
pub mod json;
pub mod signature;
