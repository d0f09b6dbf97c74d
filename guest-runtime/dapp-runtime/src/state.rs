//! The dapp's state inside the wasmi store: its grants and limits, the
//! memory limiter, the events waiting for it, its rate windows, its
//! statistics, and what the host functions need to answer without
//! suspending the dapp ([`Lent`]).

use crate::services::Counter;
use crate::{
    outcome::Statistics,
    policy::{Grants, Limits, RateWindow},
};
use alloc::{collections::VecDeque, string::String, vec::Vec};
use elastos_host_api::{event::MessageStatus, peer::PeerText, LogLevel};
use wasmi::{Memory, ResourceLimiter};
use wasmi_core::LimiterError;

/// The bytes in a WebAssembly page.
pub(crate) const PAGE_SIZE: usize = 65536;
/// The most elements a table may grow to.
pub(crate) const TABLE_ELEMENTS_MAX: usize = 65536;

/// The random bytes kept for `random` calls served in place; a call asking
/// more than is left suspends and is served by the loop's services.
pub(crate) const ENTROPY_POOL: usize = 256;
/// The most log lines kept before the loop writes them; one more suspends
/// the dapp, and the loop writes them all.
pub(crate) const LOG_QUEUE_MAX: usize = 16;

/// The time read when a slice starts, and the counter that carries it on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceClock {
    pub(crate) counter: Counter,
    /// The counter's value when `now` was read.
    pub(crate) start: u64,
    /// Monotonic nanoseconds at `start`.
    pub(crate) now: u64,
    /// Wall-clock nanoseconds at `start`, if known.
    pub(crate) wall: Option<u64>,
}

impl SliceClock {
    /// Nanoseconds since `start`.
    pub(crate) fn elapsed(&self) -> u64 {
        let ticks = (self.counter.read)().saturating_sub(self.start);
        let frequency = self.counter.frequency.max(1);
        // The remainder is below the frequency (under 2^32 on any counter
        // the architecture allows), so the product cannot overflow.
        (ticks / frequency)
            .saturating_mul(1_000_000_000)
            .saturating_add((ticks % frequency).saturating_mul(1_000_000_000) / frequency)
    }
}

/// What the loop's services lend the host functions for a slice, so that
/// calls that need not wait are answered where they are made.
#[derive(Debug)]
pub(crate) struct Lent {
    /// The clock, when the services offer a counter.
    pub(crate) clock: Option<SliceClock>,
    /// The last monotonic time handed out: time never goes back, however
    /// the slice clock and the services round.
    pub(crate) last_now: u64,
    /// Random bytes; those from `entropy_used` on are unused.
    pub(crate) entropy: [u8; ENTROPY_POOL],
    pub(crate) entropy_used: usize,
    /// Lines logged and not yet written.
    pub(crate) logs: Vec<(LogLevel, String)>,
}

/// An event waiting for the dapp, its peer already in text.
#[derive(Clone, Debug)]
pub(crate) enum QueuedEvent {
    Message { delivery: u64, peer: PeerText, app: String, body: Vec<u8> },
    Receipt { id: u64, status: MessageStatus },
}

/// Holds a dapp to its memory-pages, and remembers refusing it.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    /// The most bytes its linear memory may have.
    pub(crate) memory_bytes: usize,
    /// Whether a memory was refused growth (or a size at creation).
    pub(crate) refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let allowed = desired <= self.memory_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= TABLE_ELEMENTS_MAX)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Everything a dapp's host calls read and change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) grants: Grants,
    pub(crate) limits: Limits,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) events: VecDeque<QueuedEvent>,
    /// The loop asked the dapp to stop: every `event_wait` answers `stop`.
    pub(crate) stop_requested: bool,
    pub(crate) message_rate: RateWindow,
    pub(crate) storage_rate: RateWindow,
    pub(crate) statistics: Statistics,
    /// An event was handed over or a wait began: the cpu-budget count
    /// starts again from here.
    pub(crate) waited: bool,
    /// The dapp's exported memory, for host functions that read or write it.
    pub(crate) memory: Option<Memory>,
    pub(crate) lent: Lent,
}

impl State {
    pub(crate) fn new(grants: Grants, limits: Limits) -> State {
        State {
            grants,
            limits,
            limiter: MemoryLimiter {
                memory_bytes: (limits.memory_pages as usize).saturating_mul(PAGE_SIZE),
                refused: false,
            },
            events: VecDeque::new(),
            stop_requested: false,
            message_rate: RateWindow::new(limits.messages_per_minute),
            storage_rate: RateWindow::new(limits.storage_writes_per_minute),
            statistics: Statistics::default(),
            waited: false,
            memory: None,
            lent: Lent {
                clock: None,
                last_now: 0,
                entropy: [0; ENTROPY_POOL],
                entropy_used: ENTROPY_POOL,
                logs: Vec::new(),
            },
        }
    }
}
