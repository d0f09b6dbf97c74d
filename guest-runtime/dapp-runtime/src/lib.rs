//! Runs one WebAssembly dapp with wasmi under its manifest's limits and capabilities
//!
//! An app VM runs exactly one dapp. Its loop (in the app VM binary) owns
//! the channels to netvm and chainvm; this crate is the rest, pure logic
//! that is tested on the host:
//!
//! - [`Dapp::load`] validates a module, refuses imports other than the host
//!   API's (naming the import), caps its memory at memory-pages through
//!   wasmi's store limiter, and finds its entry.
//! - [`Dapp::run`] runs it for one slice of fuel and returns an [`Outcome`]:
//!   `Yielded` (call again soon), `Blocked(Request)` (send the request to
//!   chainvm, then [`Dapp::answer`] and `run`), `Waiting { until }` (call
//!   [`Dapp::push_event`] and `run` when an event arrives, or `run` at the
//!   deadline), `Finished`, or `Stopped(StopReason)`.
//! - [`Services`] is what the loop lends each `run`: time, randomness, log
//!   output and message sending. The calls that need not wait (the clocks,
//!   `random`, `log`, `verify`) are answered inside the host function from
//!   what each slice is lent (the time at its start carried on by the
//!   services' [`Counter`], an entropy pool, a log queue written when the
//!   slice ends), without suspending the dapp; the others suspend it.
//!
//! Host calls are capability-checked ([`Grants`]), their pointers and
//! lengths range-checked (a wild one stops the dapp, not the VM), and
//! messages and storage writes rate-limited per minute ([`Limits`],
//! [`policy`]). The host API itself is the `elastos-host-api` crate and
//! `docs/host-api.md`; [`benchmark`] builds modules that time its calls.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod benchmark;
mod dapp;
pub mod guest_memory;
mod host;
pub mod outcome;
pub mod policy;
mod serve;
pub mod services;
pub mod signature;
mod state;

pub use dapp::{Dapp, EVENT_QUEUE_MAX};
pub use elastos_host_api as host_api;
pub use outcome::{LoadError, Outcome, Statistics, StopReason, TrapKind};
pub use policy::{Grants, Limits};
pub use services::{Answer, AnswerError, Counter, Event, PushError, Request, Services};
