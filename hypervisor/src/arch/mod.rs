//! Architecture support. Only AArch64 exists; the generic code above calls
//! what this module re-exports.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(not(target_arch = "aarch64"))]
compile_error!("the Elastos hypervisor runs on AArch64 only");
