//! The dapp's state inside the wasmi store: its grants and limits, the
//! memory limiter, the events waiting for it, its rate windows and its
//! statistics.

use crate::{
    outcome::Statistics,
    policy::{Grants, Limits, RateWindow},
};
use alloc::{collections::VecDeque, string::String, vec::Vec};
use elastos_host_api::{event::MessageStatus, peer::PeerText};
use wasmi::ResourceLimiter;
use wasmi_core::LimiterError;

/// The bytes in a WebAssembly page.
pub(crate) const PAGE_SIZE: usize = 65536;
/// The most elements a table may grow to.
pub(crate) const TABLE_ELEMENTS_MAX: usize = 65536;

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
        }
    }
}
