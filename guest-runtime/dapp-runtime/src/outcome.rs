//! What loading and running a dapp can come to: [`LoadError`], [`Outcome`],
//! [`StopReason`], and the [`Statistics`] kept per dapp.

use crate::{guest_memory::Violation, services::Request};
use core::fmt;

/// A name from a module (an import, an export), held inline and cut to
/// [`Name::CAPACITY`] bytes, so errors need no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; Name::CAPACITY],
    length: u8,
}

impl Name {
    /// The most bytes kept.
    pub const CAPACITY: usize = 64;

    /// `parts` joined with `.`, cut at a character boundary to fit.
    pub fn new(parts: &[&str]) -> Name {
        let mut name = Name { bytes: [0; Name::CAPACITY], length: 0 };
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                name.push(".");
            }
            name.push(part);
        }
        name
    }

    fn push(&mut self, text: &str) {
        for character in text.chars() {
            let mut encoded = [0u8; 4];
            let encoded = character.encode_utf8(&mut encoded).as_bytes();
            let start = usize::from(self.length);
            let Some(slot) = self.bytes.get_mut(start..start + encoded.len()) else {
                return;
            };
            slot.copy_from_slice(encoded);
            self.length += encoded.len() as u8;
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        core::str::from_utf8(&self.bytes[..usize::from(self.length)]).unwrap_or("")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{:?}", self.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a module was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not a valid WebAssembly module (it fails to parse or to validate, or
    /// is over the engine's limits, or has a start function).
    Invalid,
    /// It imports something the host API does not offer (`module.name`).
    ForeignImport(Name),
    /// It imports a host function with the wrong signature.
    ImportSignature(Name),
    /// It has no function export of the entry's name.
    NoEntry(Name),
    /// Its entry takes parameters or returns results.
    EntrySignature(Name),
    /// Its memory starts larger than the dapp's memory-pages.
    MemoryTooLarge,
    /// Instantiating it failed (a data segment outside memory...).
    Instantiation,
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LoadError::Invalid => write!(formatter, "not a valid WebAssembly module"),
            LoadError::ForeignImport(name) => {
                write!(formatter, "imports {name}, which the host API does not offer")
            }
            LoadError::ImportSignature(name) => {
                write!(formatter, "imports {name} with the wrong signature")
            }
            LoadError::NoEntry(name) => write!(formatter, "has no entry function {name}"),
            LoadError::EntrySignature(name) => {
                write!(formatter, "entry {name} must take no parameters and return nothing")
            }
            LoadError::MemoryTooLarge => write!(formatter, "memory starts over its memory-pages"),
            LoadError::Instantiation => write!(formatter, "instantiation failed"),
        }
    }
}

/// What a WebAssembly trap was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// `unreachable` executed (a Rust panic or abort).
    Unreachable,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A table access outside its table.
    TableOutOfBounds,
    /// `call_indirect` to an empty table slot.
    IndirectCallToNull,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow (`i32::MIN / -1`).
    IntegerOverflow,
    /// A float converted to an integer it does not fit.
    BadConversionToInteger,
    /// The call stack ran over its limit.
    StackOverflow,
    /// `call_indirect` with the wrong signature.
    BadSignature,
    /// Any other trap.
    Other,
}

/// Why the runtime stopped a dapp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// It trapped.
    Trap(TrapKind),
    /// It trapped after the memory limit refused it more memory.
    OutOfMemory,
    /// It used more than its cpu-budget of fuel since it last waited.
    CpuBudget,
    /// It handed a host call a wild pointer or length.
    HostApiViolation {
        /// The host function called.
        function: &'static str,
        /// What was wrong.
        violation: Violation,
    },
    /// It kept sending far over its messages-per-minute
    /// (see [`crate::policy::FLOOD_FACTOR`]).
    MessageFlood,
    /// It kept writing to storage far over its storage-writes-per-minute.
    StorageFlood,
}

impl fmt::Display for StopReason {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            StopReason::Trap(kind) => write!(formatter, "trap: {kind:?}"),
            StopReason::OutOfMemory => write!(formatter, "out of memory"),
            StopReason::CpuBudget => write!(formatter, "cpu budget exhausted"),
            StopReason::HostApiViolation { function, violation } => {
                write!(formatter, "host API violation in {function}: {violation:?}")
            }
            StopReason::MessageFlood => write!(formatter, "message flood"),
            StopReason::StorageFlood => write!(formatter, "storage write flood"),
        }
    }
}

/// What one [`crate::Dapp::run`] came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It used its slice of fuel: call `run` again soon.
    Yielded,
    /// It waits for chainvm: send the request, then
    /// [`crate::Dapp::answer`] and `run`.
    Blocked(Request),
    /// It waits for an event until `until` (monotonic nanoseconds; `None`
    /// for ever): [`crate::Dapp::push_event`] and `run` when one comes, or
    /// `run` at the deadline.
    Waiting {
        /// The deadline.
        until: Option<u64>,
    },
    /// It returned from its entry (code 0) or called `exit(code)`.
    Finished {
        /// The exit code.
        code: i32,
    },
    /// The runtime stopped it.
    Stopped(StopReason),
}

/// What a dapp has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Fuel used in all.
    pub fuel_used: u64,
    /// Slices run (calls of `run` that executed WebAssembly).
    pub slices: u64,
    /// Host calls made.
    pub host_calls: u64,
    /// Host calls answered `DENIED`.
    pub denied_calls: u64,
    /// Host calls answered `RATE_LIMITED`.
    pub rate_limited_calls: u64,
    /// Messages handed to netvm.
    pub messages_sent: u64,
    /// Messages handed to the dapp.
    pub messages_received: u64,
    /// Receipts handed to the dapp.
    pub receipts_received: u64,
    /// Storage requests sent to chainvm.
    pub storage_requests: u64,
    /// Lines logged.
    pub lines_logged: u64,
}
