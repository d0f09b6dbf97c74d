//! The host API dapps import: function names, signatures, status codes and capabilities, shared by the runtime and the SDK
//!
//! A dapp is a WebAssembly module that imports its functions from the module
//! [`MODULE`] (`"elastos"`) and exports an entry function (by default
//! [`ENTRY_DEFAULT`], `elastos_main`, no parameters, no results). The entry runs
//! once; the dapp waits for events with the blocking [`function::EVENT_WAIT`].
//! Every function, its signature and the capability it needs are listed in
//! [`FUNCTIONS`]; `docs/host-api.md` describes each one.
//!
//! Conventions:
//!
//! - Pointers and lengths are `i32` offsets into the dapp's linear memory. A
//!   pointer or length that is negative, or a range that leaves memory, is a
//!   host-API violation: the runtime stops the dapp.
//! - Results are `i32` or `i64`; a negative result is a [`Status`].
//! - A call whose capability was not granted returns [`Status::Denied`] and
//!   the dapp goes on.
//! - A call that fills a buffer and finds it too small returns
//!   [`Status::BufferTooSmall`] and, when the buffer has room for 4 bytes,
//!   writes the length it needs there as a little-endian `u32`.
//!
//! Besides the table, the crate holds the byte formats a dapp reads: events
//! ([`event`]), storage key lists ([`keys`]), and PeerIds in their base58
//! text form ([`peer`]).
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

pub mod event;
pub mod keys;
pub mod peer;

/// The import module every host function lives in.
pub const MODULE: &str = "elastos";
/// The entry export a dapp has unless its manifest names another.
pub const ENTRY_DEFAULT: &str = "elastos_main";

/// The longest message body, as netvm's `/elastos/msg/1.0.0` carries it.
pub const BODY_MAX: usize = 4000;
/// The longest application (dapp) name.
pub const NAME_MAX: usize = 32;
/// The longest binary PeerId (an identity multihash of up to 42 bytes of key).
pub const PEER_MAX: usize = 44;
/// The longest PeerId in its base58 text form: `PEER_MAX` bytes in base58.
pub const PEER_TEXT_MAX: usize = PEER_MAX * 138 / 100 + 1;
/// The longest storage key.
pub const KEY_MAX: usize = 128;
/// The longest storage value: a key and a value travel to chainvm in one
/// channel message of 4097 bytes.
pub const VALUE_MAX: usize = 3840;
/// The longest log line; a longer one is refused with [`Status::TooLarge`].
pub const LOG_MAX: usize = 1024;
/// The longest random request; a longer one is refused with [`Status::TooLarge`].
pub const RANDOM_MAX: usize = 4096;
/// The longest node identity (a DID in text).
pub const IDENTITY_MAX: usize = 256;
/// The longest signature kind (the domain a signature is made for).
pub const SIGNATURE_KIND_MAX: usize = 64;
/// The longest payload `sign` and `verify` take.
pub const SIGNATURE_PAYLOAD_MAX: usize = 2048;
/// The longest signature.
pub const SIGNATURE_MAX: usize = 128;

/// What a host call answers when it does not succeed, as its (negative)
/// result. Shared by the runtime, which returns them, and the SDK, which
/// turns them back into this enum.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The dapp was not granted the capability the call needs.
    Denied = -1,
    /// An argument is malformed: an unknown log level or key kind, a peer
    /// that is not a base58 PeerId, text that is not UTF-8, an empty or
    /// too-long name or key.
    InvalidArgument = -2,
    /// The buffer cannot hold the answer; its first 4 bytes hold the length
    /// needed (when it has 4 bytes).
    BufferTooSmall = -3,
    /// The message, value, line or request is over its limit.
    TooLarge = -4,
    /// Over the dapp's messages-per-minute or storage-writes-per-minute.
    RateLimited = -5,
    /// The write would take the dapp's storage past its quota.
    QuotaExceeded = -6,
    /// No value under that key.
    NotFound = -7,
    /// The service is not there (yet): no wall clock, no identity, no
    /// signing, or the VM serving it is down.
    Unavailable = -8,
    /// Too much in flight; try again later.
    Busy = -9,
    /// The service failed.
    Failed = -10,
    /// `verify`: the signature does not match.
    InvalidSignature = -11,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 11] = [
        Status::Denied,
        Status::InvalidArgument,
        Status::BufferTooSmall,
        Status::TooLarge,
        Status::RateLimited,
        Status::QuotaExceeded,
        Status::NotFound,
        Status::Unavailable,
        Status::Busy,
        Status::Failed,
        Status::InvalidSignature,
    ];

    /// The status's (negative) code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status whose code is `code`.
    pub const fn from_code(code: i64) -> Option<Status> {
        Some(match code {
            -1 => Status::Denied,
            -2 => Status::InvalidArgument,
            -3 => Status::BufferTooSmall,
            -4 => Status::TooLarge,
            -5 => Status::RateLimited,
            -6 => Status::QuotaExceeded,
            -7 => Status::NotFound,
            -8 => Status::Unavailable,
            -9 => Status::Busy,
            -10 => Status::Failed,
            -11 => Status::InvalidSignature,
            _ => return None,
        })
    }

    /// Reads a call's result: a value (zero or more) or a status. A negative
    /// result that is no status reads as [`Status::Failed`].
    pub const fn check(result: i64) -> Result<u64, Status> {
        if result >= 0 {
            Ok(result as u64)
        } else {
            match Status::from_code(result) {
                Some(status) => Err(status),
                None => Err(Status::Failed),
            }
        }
    }

    /// The status's name, as logs print it.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Denied => "denied",
            Status::InvalidArgument => "invalid-argument",
            Status::BufferTooSmall => "buffer-too-small",
            Status::TooLarge => "too-large",
            Status::RateLimited => "rate-limited",
            Status::QuotaExceeded => "quota-exceeded",
            Status::NotFound => "not-found",
            Status::Unavailable => "unavailable",
            Status::Busy => "busy",
            Status::Failed => "failed",
            Status::InvalidSignature => "invalid-signature",
        }
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What a dapp may be granted; each host function needs at most one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `log`.
    Log,
    /// `clock_monotonic`, `clock_wall`.
    Clock,
    /// `random`.
    Random,
    /// `message_send`, and messages and receipts among the events.
    Message,
    /// `storage_get`, `storage_put`, `storage_delete`, `storage_list`.
    Storage,
    /// `identity`, `verify`.
    Identity,
    /// `sign`.
    Sign,
}

impl Capability {
    /// The capability's name, as manifests spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock",
            Capability::Random => "random",
            Capability::Message => "message",
            Capability::Storage => "storage",
            Capability::Identity => "identity",
            Capability::Sign => "sign",
        }
    }
}

/// The level of a log line, the first argument of `log`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something failed.
    Error = 0,
    /// Something is wrong but the dapp goes on.
    Warn = 1,
    /// What the dapp is doing.
    Info = 2,
    /// Details for whoever debugs the dapp.
    Debug = 3,
}

impl LogLevel {
    /// The level numbered `code`.
    pub const fn from_code(code: i32) -> Option<LogLevel> {
        Some(match code {
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            3 => LogLevel::Debug,
            _ => return None,
        })
    }

    /// The level's name, as consoles print it.
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// The key a dapp asks `sign` to sign with, its first argument.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The node's identity key (ed25519), the key behind its DID.
    Node = 0,
    /// The key chainvm derives for the calling dapp alone (ed25519).
    Dapp = 1,
}

impl KeyKind {
    /// The key kind numbered `code`.
    pub const fn from_code(code: i32) -> Option<KeyKind> {
        match code {
            0 => Some(KeyKind::Node),
            1 => Some(KeyKind::Dapp),
            _ => None,
        }
    }
}

/// A WebAssembly value type in a host function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

/// A host function: its name, signature and the capability it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// The import name, in module [`MODULE`].
    pub name: &'static str,
    /// Parameter types, in order.
    pub parameters: &'static [ValueType],
    /// Result types (none or one).
    pub results: &'static [ValueType],
    /// The capability a call needs, if any.
    pub capability: Option<Capability>,
}

/// The import names of the host functions.
pub mod function {
    /// `log(level: i32, text_ptr: i32, text_len: i32) -> i32`.
    pub const LOG: &str = "log";
    /// `clock_monotonic() -> i64`.
    pub const CLOCK_MONOTONIC: &str = "clock_monotonic";
    /// `clock_wall() -> i64`.
    pub const CLOCK_WALL: &str = "clock_wall";
    /// `random(buffer_ptr: i32, buffer_len: i32) -> i32`.
    pub const RANDOM: &str = "random";
    /// `message_send(peer_ptr, peer_len, app_ptr, app_len, body_ptr, body_len) -> i64`.
    pub const MESSAGE_SEND: &str = "message_send";
    /// `event_wait(buffer_ptr: i32, buffer_cap: i32, timeout_ms: i64) -> i32`.
    pub const EVENT_WAIT: &str = "event_wait";
    /// `storage_get(key_ptr, key_len, buffer_ptr, buffer_cap) -> i64`.
    pub const STORAGE_GET: &str = "storage_get";
    /// `storage_put(key_ptr, key_len, value_ptr, value_len) -> i32`.
    pub const STORAGE_PUT: &str = "storage_put";
    /// `storage_delete(key_ptr, key_len) -> i32`.
    pub const STORAGE_DELETE: &str = "storage_delete";
    /// `storage_list(prefix_ptr, prefix_len, buffer_ptr, buffer_cap) -> i32`.
    pub const STORAGE_LIST: &str = "storage_list";
    /// `identity(buffer_ptr, buffer_cap) -> i32`.
    pub const IDENTITY: &str = "identity";
    /// `sign(key_kind, kind_ptr, kind_len, payload_ptr, payload_len, signature_ptr, signature_cap) -> i32`.
    pub const SIGN: &str = "sign";
    /// `verify(identity_ptr, identity_len, kind_ptr, kind_len, payload_ptr, payload_len, signature_ptr, signature_len) -> i32`.
    pub const VERIFY: &str = "verify";
    /// `exit(code: i32)`.
    pub const EXIT: &str = "exit";
}

use ValueType::{I32, I64};

/// Every host function, in the order `docs/host-api.md` describes them.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: function::LOG,
        parameters: &[I32, I32, I32],
        results: &[I32],
        capability: Some(Capability::Log),
    },
    Function {
        name: function::CLOCK_MONOTONIC,
        parameters: &[],
        results: &[I64],
        capability: Some(Capability::Clock),
    },
    Function {
        name: function::CLOCK_WALL,
        parameters: &[],
        results: &[I64],
        capability: Some(Capability::Clock),
    },
    Function {
        name: function::RANDOM,
        parameters: &[I32, I32],
        results: &[I32],
        capability: Some(Capability::Random),
    },
    Function {
        name: function::MESSAGE_SEND,
        parameters: &[I32, I32, I32, I32, I32, I32],
        results: &[I64],
        capability: Some(Capability::Message),
    },
    Function {
        name: function::EVENT_WAIT,
        parameters: &[I32, I32, I64],
        results: &[I32],
        capability: None,
    },
    Function {
        name: function::STORAGE_GET,
        parameters: &[I32, I32, I32, I32],
        results: &[I64],
        capability: Some(Capability::Storage),
    },
    Function {
        name: function::STORAGE_PUT,
        parameters: &[I32, I32, I32, I32],
        results: &[I32],
        capability: Some(Capability::Storage),
    },
    Function {
        name: function::STORAGE_DELETE,
        parameters: &[I32, I32],
        results: &[I32],
        capability: Some(Capability::Storage),
    },
    Function {
        name: function::STORAGE_LIST,
        parameters: &[I32, I32, I32, I32],
        results: &[I32],
        capability: Some(Capability::Storage),
    },
    Function {
        name: function::IDENTITY,
        parameters: &[I32, I32],
        results: &[I32],
        capability: Some(Capability::Identity),
    },
    Function {
        name: function::SIGN,
        parameters: &[I32, I32, I32, I32, I32, I32, I32],
        results: &[I32],
        capability: Some(Capability::Sign),
    },
    Function {
        name: function::VERIFY,
        parameters: &[I32, I32, I32, I32, I32, I32, I32, I32],
        results: &[I32],
        capability: Some(Capability::Identity),
    },
    Function { name: function::EXIT, parameters: &[I32], results: &[], capability: None },
];

/// The host function named `name`.
pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|function| function.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_are_negative() {
        for status in Status::ALL {
            assert!(status.code() < 0);
            assert_eq!(Status::from_code(i64::from(status.code())), Some(status));
            assert_eq!(Status::check(i64::from(status.code())), Err(status));
        }
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Status::from_code(-12), None);
        assert_eq!(Status::check(0), Ok(0));
        assert_eq!(Status::check(i64::MAX), Ok(i64::MAX as u64));
        assert_eq!(Status::check(-1000), Err(Status::Failed));
    }

    #[test]
    fn every_function_is_found_once() {
        for function in FUNCTIONS {
            assert_eq!(find(function.name), Some(function));
            assert!(function.results.len() <= 1);
            assert_eq!(FUNCTIONS.iter().filter(|other| other.name == function.name).count(), 1);
        }
        assert_eq!(find("socket"), None);
    }

    #[test]
    fn levels_and_key_kinds_have_codes() {
        for code in 0..4 {
            assert_eq!(LogLevel::from_code(code).map(|level| level as i32), Some(code));
        }
        assert_eq!(LogLevel::from_code(4), None);
        assert_eq!(LogLevel::from_code(-1), None);
        assert_eq!(KeyKind::from_code(0), Some(KeyKind::Node));
        assert_eq!(KeyKind::from_code(1), Some(KeyKind::Dapp));
        assert_eq!(KeyKind::from_code(2), None);
    }

    #[test]
    fn the_longest_peer_text_fits() {
        // 58^61 > 256^44: 61 base58 digits hold any 44-byte PeerId.
        assert_eq!(PEER_TEXT_MAX, 61);
    }
}
