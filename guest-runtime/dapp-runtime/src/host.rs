//! The host functions as wasmi sees them.
//!
//! Each host function records its arguments as a [`Call`]. Calls that need
//! not wait (the clocks, `random`, `log`, `verify`, and any call without
//! its capability) are answered in place from what the dapp's state holds
//! for the slice ([`serve::serve_in_place`]): no suspension, a few hundred
//! instructions. Any other call (and one of those when the state lacks
//! what it needs) is returned as a host error: wasmi suspends the dapp
//! there (a resumable call), and [`crate::Dapp::run`], which holds the
//! linear memory, the dapp's state and the app VM's [`crate::Services`],
//! serves it: it resumes the dapp with the result at once, or returns to
//! the app VM's loop while the call blocks (storage, identity, signing,
//! waiting for events). Both paths are plain Rust that tests can drive.

use crate::{serve, state::State};
use core::fmt;
use elastos_host_api::{function, Capability, MODULE};
use wasmi::{errors::HostError, AsContextMut, Caller, Error, Linker};

/// A pointer and a length, as the dapp passed them.
pub(crate) type Span = (i32, i32);

/// One host call and its raw arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Log { level: i32, text: Span },
    ClockMonotonic,
    ClockWall,
    Random { buffer: Span },
    MessageSend { peer: Span, app: Span, body: Span },
    EventWait { buffer: Span, timeout_milliseconds: i64 },
    StorageGet { key: Span, buffer: Span },
    StoragePut { key: Span, value: Span },
    StorageDelete { key: Span },
    StorageList { prefix: Span, buffer: Span },
    Identity { buffer: Span },
    Sign { key_kind: i32, kind: Span, payload: Span, signature: Span },
    Verify { identity: Span, kind: Span, payload: Span, signature: Span },
    Exit { code: i32 },
}

impl Call {
    /// The import name of the function called.
    pub(crate) const fn function(&self) -> &'static str {
        match self {
            Call::Log { .. } => function::LOG,
            Call::ClockMonotonic => function::CLOCK_MONOTONIC,
            Call::ClockWall => function::CLOCK_WALL,
            Call::Random { .. } => function::RANDOM,
            Call::MessageSend { .. } => function::MESSAGE_SEND,
            Call::EventWait { .. } => function::EVENT_WAIT,
            Call::StorageGet { .. } => function::STORAGE_GET,
            Call::StoragePut { .. } => function::STORAGE_PUT,
            Call::StorageDelete { .. } => function::STORAGE_DELETE,
            Call::StorageList { .. } => function::STORAGE_LIST,
            Call::Identity { .. } => function::IDENTITY,
            Call::Sign { .. } => function::SIGN,
            Call::Verify { .. } => function::VERIFY,
            Call::Exit { .. } => function::EXIT,
        }
    }

    /// Whether the function's result is an `i64` (otherwise `i32`, or none
    /// for `exit`).
    pub(crate) const fn returns_i64(&self) -> bool {
        matches!(
            self,
            Call::ClockMonotonic
                | Call::ClockWall
                | Call::MessageSend { .. }
                | Call::StorageGet { .. }
        )
    }
}

impl Call {
    /// The capability the function needs, as the host API's table says.
    pub(crate) const fn capability(&self) -> Option<Capability> {
        match self {
            Call::Log { .. } => Some(Capability::Log),
            Call::ClockMonotonic | Call::ClockWall => Some(Capability::Clock),
            Call::Random { .. } => Some(Capability::Random),
            Call::MessageSend { .. } => Some(Capability::Message),
            Call::StorageGet { .. }
            | Call::StoragePut { .. }
            | Call::StorageDelete { .. }
            | Call::StorageList { .. } => Some(Capability::Storage),
            Call::Identity { .. } | Call::Verify { .. } => Some(Capability::Identity),
            Call::Sign { .. } => Some(Capability::Sign),
            Call::EventWait { .. } | Call::Exit { .. } => None,
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "host call {}", self.function())
    }
}

impl HostError for Call {}

/// Suspends the dapp with `call`.
fn suspend<R>(call: Call) -> Result<R, Error> {
    Err(Error::host(call))
}

/// Answers `call` in place ([`serve::serve_in_place`]), or suspends the
/// dapp with it.
fn answer(caller: &mut Caller<'_, State>, call: Call) -> Result<i64, Error> {
    // The clocks read no memory: spare them the lookup.
    let memory = match call {
        Call::ClockMonotonic | Call::ClockWall => None,
        _ => caller.data().memory,
    };
    let (memory, state) = match memory {
        Some(memory) => memory.data_and_store_mut(caller.as_context_mut()),
        None => (&mut [][..], caller.data_mut()),
    };
    match serve::serve_in_place(call, memory, state) {
        Some(result) => Ok(result),
        None => suspend(call),
    }
}

/// [`answer`] for a function whose result is an `i32` (every result fits).
fn answer_i32(caller: &mut Caller<'_, State>, call: Call) -> Result<i32, Error> {
    answer(caller, call).map(|result| result as i32)
}

/// Defines every host function in `linker`.
pub(crate) fn define(linker: &mut Linker<State>) -> Result<(), wasmi::errors::LinkerError> {
    type Here<'a> = Caller<'a, State>;
    linker.func_wrap(
        MODULE,
        function::LOG,
        |mut caller: Here, level: i32, pointer: i32, length: i32| {
            answer_i32(&mut caller, Call::Log { level, text: (pointer, length) })
        },
    )?;
    linker.func_wrap(MODULE, function::CLOCK_MONOTONIC, |mut caller: Here| {
        answer(&mut caller, Call::ClockMonotonic)
    })?;
    linker.func_wrap(MODULE, function::CLOCK_WALL, |mut caller: Here| {
        answer(&mut caller, Call::ClockWall)
    })?;
    linker.func_wrap(MODULE, function::RANDOM, |mut caller: Here, pointer: i32, length: i32| {
        answer_i32(&mut caller, Call::Random { buffer: (pointer, length) })
    })?;
    linker.func_wrap(
        MODULE,
        function::MESSAGE_SEND,
        |_: Here,
         peer: i32,
         peer_length: i32,
         app: i32,
         app_length: i32,
         body: i32,
         body_length: i32| {
            suspend::<i64>(Call::MessageSend {
                peer: (peer, peer_length),
                app: (app, app_length),
                body: (body, body_length),
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        function::EVENT_WAIT,
        |_: Here, pointer: i32, capacity: i32, timeout_milliseconds: i64| {
            suspend::<i32>(Call::EventWait { buffer: (pointer, capacity), timeout_milliseconds })
        },
    )?;
    linker.func_wrap(
        MODULE,
        function::STORAGE_GET,
        |_: Here, key: i32, key_length: i32, buffer: i32, capacity: i32| {
            suspend::<i64>(Call::StorageGet { key: (key, key_length), buffer: (buffer, capacity) })
        },
    )?;
    linker.func_wrap(
        MODULE,
        function::STORAGE_PUT,
        |_: Here, key: i32, key_length: i32, value: i32, value_length: i32| {
            suspend::<i32>(Call::StoragePut {
                key: (key, key_length),
                value: (value, value_length),
            })
        },
    )?;
    linker.func_wrap(MODULE, function::STORAGE_DELETE, |_: Here, key: i32, key_length: i32| {
        suspend::<i32>(Call::StorageDelete { key: (key, key_length) })
    })?;
    linker.func_wrap(
        MODULE,
        function::STORAGE_LIST,
        |_: Here, prefix: i32, prefix_length: i32, buffer: i32, capacity: i32| {
            suspend::<i32>(Call::StorageList {
                prefix: (prefix, prefix_length),
                buffer: (buffer, capacity),
            })
        },
    )?;
    linker.func_wrap(MODULE, function::IDENTITY, |_: Here, buffer: i32, capacity: i32| {
        suspend::<i32>(Call::Identity { buffer: (buffer, capacity) })
    })?;
    linker.func_wrap(
        MODULE,
        function::SIGN,
        |_: Here,
         key_kind: i32,
         kind: i32,
         kind_length: i32,
         payload: i32,
         payload_length: i32,
         signature: i32,
         signature_capacity: i32| {
            suspend::<i32>(Call::Sign {
                key_kind,
                kind: (kind, kind_length),
                payload: (payload, payload_length),
                signature: (signature, signature_capacity),
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        function::VERIFY,
        |mut caller: Here,
         identity: i32,
         identity_length: i32,
         kind: i32,
         kind_length: i32,
         payload: i32,
         payload_length: i32,
         signature: i32,
         signature_length: i32| {
            let call = Call::Verify {
                identity: (identity, identity_length),
                kind: (kind, kind_length),
                payload: (payload, payload_length),
                signature: (signature, signature_length),
            };
            answer_i32(&mut caller, call)
        },
    )?;
    linker.func_wrap(MODULE, function::EXIT, |_: Here, code: i32| {
        suspend::<()>(Call::Exit { code })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_needs_the_capability_of_the_host_api_table() {
        let span = (0, 0);
        let calls = [
            Call::Log { level: 0, text: span },
            Call::ClockMonotonic,
            Call::ClockWall,
            Call::Random { buffer: span },
            Call::MessageSend { peer: span, app: span, body: span },
            Call::EventWait { buffer: span, timeout_milliseconds: 0 },
            Call::StorageGet { key: span, buffer: span },
            Call::StoragePut { key: span, value: span },
            Call::StorageDelete { key: span },
            Call::StorageList { prefix: span, buffer: span },
            Call::Identity { buffer: span },
            Call::Sign { key_kind: 0, kind: span, payload: span, signature: span },
            Call::Verify { identity: span, kind: span, payload: span, signature: span },
            Call::Exit { code: 0 },
        ];
        assert_eq!(calls.len(), elastos_host_api::FUNCTIONS.len());
        for call in calls {
            let function = elastos_host_api::find(call.function()).expect("a host API function");
            assert_eq!(call.capability(), function.capability, "{call}");
        }
    }
}
