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
    /// `VM_INFO()`: returns `SUCCESS` in `x0`, the caller's VM index in `x1`,
    /// how many times it has been started (1 on its first boot) in `x2`, and the
    /// number of channels it has in `x3`.
    pub const VM_INFO: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0004);
    /// `CHANNEL_INFO(index, address)`: writes the [`ChannelInfo`](super::ChannelInfo)
    /// of the caller's channel number `index` (0 to the count `VM_INFO` gives)
    /// as [`CHANNEL_INFO_SIZE`](super::CHANNEL_INFO_SIZE) bytes to the
    /// guest-physical `address`. Returns `SUCCESS`, or `INVALID_PARAMETER` for
    /// an index it does not have or an address outside its RAM.
    pub const CHANNEL_INFO: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0005);
    /// `CHANNEL_NOTIFY(channel)`: rings the doorbell of the other end of
    /// channel `channel` (its id, as `CHANNEL_INFO` gives it): the peer gets
    /// the channel's doorbell interrupt. Returns `SUCCESS`, `DENIED` if the
    /// caller is not an end of that channel, `INVALID_PARAMETER` if no such
    /// channel exists, or `UNAVAILABLE` if the peer is not running.
    pub const CHANNEL_NOTIFY: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0006);
    /// `MEMORY_INFO()`: for a VM that owns a device able to do DMA, where its
    /// RAM is: `SUCCESS` in `x0`, the guest-physical base in `x1`, the
    /// physical base (what the device must be given) in `x2`, the size in
    /// `x3`. `DENIED` for a VM without devices: physical addresses are of no
    /// use to it and tell it about the machine.
    pub const MEMORY_INFO: u32 = function_id(true, OWNER_VENDOR_HYPERVISOR, 0x0007);

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
    /// The other party of the call is not running.
    Unavailable = -5,
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
            -5 => Some(Self::Unavailable),
            _ => None,
        }
    }
}

/// Bytes of the record `CHANNEL_INFO` writes.
pub const CHANNEL_INFO_SIZE: usize = 56;
/// The longest channel name.
pub const CHANNEL_NAME_MAX: usize = 16;
/// The doorbell of a VM's channel number `n` is SPI `DOORBELL_INTERRUPT_BASE + n`
/// of its virtual GIC.
pub const DOORBELL_INTERRUPT_BASE: u32 = 96;
/// The most channels one VM may have (the doorbells fit below INTID 128).
pub const MAX_CHANNELS_PER_MACHINE: usize = 32;

/// `ChannelInfo::flags`: set when the caller is the channel's second end.
pub const CHANNEL_SECOND_END: u32 = 1 << 0;
/// `ChannelInfo::flags`: the caller may send on the channel.
pub const CHANNEL_MAY_SEND: u32 = 1 << 1;
/// `ChannelInfo::flags`: the caller may receive on the channel.
pub const CHANNEL_MAY_RECEIVE: u32 = 1 << 2;

/// What `CHANNEL_INFO` tells a VM about one of its channels. Travels as
/// [`CHANNEL_INFO_SIZE`] little-endian bytes: `id: u32`, `flags: u32`,
/// `address: u64`, `size: u64`, `ring_size: u64`, `doorbell: u32`,
/// `peer: u32`, `name: [u8; 16]` (zero-padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel's id, for `CHANNEL_NOTIFY`.
    pub id: u32,
    /// `CHANNEL_SECOND_END`, `CHANNEL_MAY_SEND`, `CHANNEL_MAY_RECEIVE`.
    pub flags: u32,
    /// Guest-physical address of the channel's region.
    pub address: u64,
    /// Bytes of the region.
    pub size: u64,
    /// Bytes of message data in each ring of the region.
    pub ring_size: u64,
    /// The INTID of the doorbell interrupt the caller gets for this channel.
    pub doorbell: u32,
    /// The VM index of the other end.
    pub peer: u32,
    /// The channel's name, zero-padded.
    pub name: [u8; CHANNEL_NAME_MAX],
}

impl ChannelInfo {
    /// The record as it is written to guest memory.
    pub fn to_bytes(&self) -> [u8; CHANNEL_INFO_SIZE] {
        let mut bytes = [0u8; CHANNEL_INFO_SIZE];
        bytes[0..4].copy_from_slice(&self.id.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.flags.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.address.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.size.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.ring_size.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.doorbell.to_le_bytes());
        bytes[36..40].copy_from_slice(&self.peer.to_le_bytes());
        bytes[40..56].copy_from_slice(&self.name);
        bytes
    }

    /// Reads a record written by `CHANNEL_INFO`.
    pub fn from_bytes(bytes: &[u8; CHANNEL_INFO_SIZE]) -> Self {
        let word = |range: core::ops::Range<usize>| {
            let mut buffer = [0u8; 8];
            buffer[..range.len()].copy_from_slice(&bytes[range]);
            u64::from_le_bytes(buffer)
        };
        let mut name = [0u8; CHANNEL_NAME_MAX];
        name.copy_from_slice(&bytes[40..56]);
        Self {
            id: word(0..4) as u32,
            flags: word(4..8) as u32,
            address: word(8..16),
            size: word(16..24),
            ring_size: word(24..32),
            doorbell: word(32..36) as u32,
            peer: word(36..40) as u32,
            name,
        }
    }

    /// The name without its padding (empty if it is not UTF-8).
    pub fn name(&self) -> &str {
        let length = self.name.iter().position(|&byte| byte == 0).unwrap_or(CHANNEL_NAME_MAX);
        core::str::from_utf8(&self.name[..length]).unwrap_or("")
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
    fn channel_info_round_trips_through_bytes() {
        let mut name = [0u8; CHANNEL_NAME_MAX];
        name[..9].copy_from_slice(b"app-netvm");
        let info = ChannelInfo {
            id: 3,
            flags: CHANNEL_MAY_SEND | CHANNEL_SECOND_END,
            address: 0x2020_0000,
            size: 0x7000,
            ring_size: 0x2000,
            doorbell: DOORBELL_INTERRUPT_BASE + 1,
            peer: 2,
            name,
        };
        let bytes = info.to_bytes();
        assert_eq!(&bytes[0..4], &[3, 0, 0, 0]);
        assert_eq!(&bytes[40..49], b"app-netvm");
        assert_eq!(ChannelInfo::from_bytes(&bytes), info);
        assert_eq!(info.name(), "app-netvm");
    }

    #[test]
    fn status_round_trips_through_a_register() {
        for status in [
            Status::Success,
            Status::NotSupported,
            Status::NotRequired,
            Status::InvalidParameter,
            Status::Denied,
            Status::Unavailable,
        ] {
            assert_eq!(Status::from_register(status.as_register()), Some(status));
        }
        assert_eq!(Status::NotSupported.as_register(), u64::MAX);
        assert_eq!(Status::from_register(7), None);
    }
}
