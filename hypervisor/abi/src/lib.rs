//! The Elastos hypercall ABI: function identifiers and status codes.
//!
//! Hypercalls follow the Arm SMC Calling Convention (SMCCC, DEN0028). They are
//! issued with `HVC #0`; the function identifier goes in `w0`, arguments in
//! `x1`..`x6`, and results come back in `x0`..`x3`. Elastos calls sit in the
//! vendor-specific hypervisor service range (owning entity number 6), so a
//! guest that probes with a standard SMCCC query sees a well-formed answer.
//!
//! This crate is `no_std` and shared by the hypervisor and every guest; its
//! numbers are documented in `docs/hypercalls.md`.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

/// Bit 31 of a function identifier: set for fast calls.
pub const FAST_CALL: u32 = 1 << 31;
/// Bit 30 of a function identifier: set for the SMC64/HVC64 calling convention.
pub const CONVENTION_64: u32 = 1 << 30;
/// Owning entity number of the vendor-specific hypervisor service range.
pub const OWNER_VENDOR_HYPERVISOR: u32 = 6;
/// Owning entity number of the standard secure service range (PSCI lives here).
pub const OWNER_STANDARD_SECURE: u32 = 4;
/// Owning entity number of the Arm architecture calls (SMCCC_VERSION and friends).
pub const OWNER_ARCHITECTURE: u32 = 0;

/// Builds a fast-call function identifier from its convention, owner and number.
pub const fn function_id(convention_64: bool, owner: u32, number: u16) -> u32 {
    FAST_CALL | if convention_64 { CONVENTION_64 } else { 0 } | (owner << 24) | number as u32
}

/// Returns the owning entity number (bits 29:24) of a function identifier.
pub const fn owner_of(function: u32) -> u32 {
    (function >> 24) & 0x3f
}

/// Function identifiers of the Elastos hypercalls.
pub mod call {
    use super::{function_id, OWNER_VENDOR_HYPERVISOR};

    /// `VERSION()`: returns the ABI version in `x0` as `major << 16 | minor`.
    pub const VERSION: u32 = function_id(false, OWNER_VENDOR_HYPERVISOR, 0x0000);
    /// `CONSOLE_WRITE(address, length)`: writes `length` bytes (at most
    /// [`CONSOLE_WRITE_MAX`](super::CONSOLE_WRITE_MAX)) found at the guest-physical
    /// `address` to the console, tagged with the VM's name. Returns the number of
    /// bytes written.
    pub const CONSOLE_WRITE: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0001);
    /// `VM_STOP(code)`: stops the calling VM (all its vCPUs). `code` is reported on
    /// the console. Does not return.
    pub const VM_STOP: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0002);
    /// `NULL()`: does nothing and returns `SUCCESS`; the hypercall round-trip
    /// benchmark uses it.
    pub const NULL: u32 = function_id(false, OWNER_VENDOR_HYPERVISOR, 0x0003);

    /// SMCCC standard query: the number of calls (deprecated by SMCCC, answered
    /// for completeness).
    pub const CALL_COUNT: u32 = function_id(false, OWNER_VENDOR_HYPERVISOR, 0xff00);
    /// SMCCC standard query: the service's UID in `w0`..`w3`.
    pub const CALL_UID: u32 = function_id(false, OWNER_VENDOR_HYPERVISOR, 0xff01);
    /// SMCCC standard query: the service's revision in `w0` (major), `w1` (minor).
    pub const REVISION: u32 = function_id(false, OWNER_VENDOR_HYPERVISOR, 0xff03);
}

/// Major version of this ABI.
pub const VERSION_MAJOR: u16 = 0;
/// Minor version of this ABI.
pub const VERSION_MINOR: u16 = 1;
/// Largest number of bytes one `CONSOLE_WRITE` accepts.
pub const CONSOLE_WRITE_MAX: u64 = 256;
/// The UID the service answers `CALL_UID` with, as four 32-bit words
/// (`e1a5f05e-0001-4a8c-9b7d-65a2c3d4e5f6`).
pub const SERVICE_UID: [u32; 4] = [0xe1a5_f05e, 0x4a8c_0001, 0x659b_7d9b, 0xf6e5_d4c3];

/// Status codes returned in `x0`. Negative values are errors, as in SMCCC.
#[repr(i64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The call succeeded.
    Success = 0,
    /// The function identifier is unknown (SMCCC `NOT_SUPPORTED`).
    NotSupported = -1,
    /// The call is not required on this system (SMCCC `NOT_REQUIRED`).
    NotRequired = -2,
    /// An argument is out of range or points outside the caller's memory
    /// (SMCCC `INVALID_PARAMETER`).
    InvalidParameter = -3,
    /// The caller is not allowed to make this call.
    Denied = -4,
}

impl Status {
    /// The value as it travels in `x0`.
    pub const fn as_register(self) -> u64 {
        self as i64 as u64
    }

    /// Decodes `x0` as a status, if it is one.
    pub const fn from_register(value: u64) -> Option<Self> {
        match value as i64 {
            0 => Some(Self::Success),
            -1 => Some(Self::NotSupported),
            -2 => Some(Self::NotRequired),
            -3 => Some(Self::InvalidParameter),
            -4 => Some(Self::Denied),
            _ => None,
        }
    }
}

/// Reasons a VM stopped, as `VM_STOP` takes and the console reports them.
pub mod stop_code {
    /// The guest finished its work.
    pub const DONE: u64 = 0;
    /// The guest found something wrong (a failed self-check).
    pub const FAILED: u64 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_smccc_layout() {
        assert_eq!(call::VERSION, 0x8600_0000);
        assert_eq!(call::CONSOLE_WRITE, 0xc600_0001);
        assert_eq!(call::VM_STOP, 0xc600_0002);
        assert_eq!(call::CALL_UID, 0x8600_ff01);
        assert_eq!(owner_of(call::CONSOLE_WRITE), OWNER_VENDOR_HYPERVISOR);
        assert_eq!(owner_of(0x8400_0000), OWNER_STANDARD_SECURE);
    }

    #[test]
    fn status_round_trips_through_a_register() {
        for status in [
            Status::Success,
            Status::NotSupported,
            Status::NotRequired,
            Status::InvalidParameter,
            Status::Denied,
        ] {
            assert_eq!(Status::from_register(status.as_register()), Some(status));
        }
        assert_eq!(Status::NotSupported.as_register(), u64::MAX);
        assert_eq!(Status::from_register(7), None);
    }
}
