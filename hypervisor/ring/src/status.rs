//! A channel's status page: written by the hypervisor, read by both VMs.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::{LayoutError, StatusError, FRAME_ALIGNMENT, STATUS_MAGIC, STATUS_VERSION};

/// Offset of the word holding `magic` (low half) and `version` (high half).
const IDENTITY_OFFSET: usize = 0;
/// Offset of the word holding `state` (low half) and `epoch` (high half).
const STATE_OFFSET: usize = 8;

/// Whether a channel can carry messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ChannelState {
    /// The channel is down: a VM at one end is stopped or the rings are being reset.
    Down = 0,
    /// The channel is up: both ends may use the rings.
    Up = 1,
}

impl ChannelState {
    /// The state with the number `raw` of the `state` field, if there is one.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Down),
            1 => Some(Self::Up),
            _ => None,
        }
    }

    /// The number of the `state` field for this state.
    pub const fn raw(self) -> u32 {
        self as u32
    }
}

/// What a status page says: a state and the epoch it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Whether the channel is up.
    pub state: ChannelState,
    /// How many times the state has changed since the page was initialized (wrapping).
    pub epoch: u32,
}

/// Two little-endian `u32` fields that share one 64-bit word, the first at the lower address.
const fn pair(low: u32, high: u32) -> u64 {
    low as u64 | (high as u64) << 32
}

/// A read-only view of a channel's status page, as the VMs have it.
#[derive(Clone, Copy, Debug)]
pub struct StatusPage {
    /// The start of the page.
    base: NonNull<u8>,
}

// SAFETY: a `StatusPage` names memory that the hypervisor shares with VMs by
// design, and offers only atomic loads of it; the contract of `StatusPage::new`
// keeps it valid while any copy is used, whichever thread holds it.
unsafe impl Send for StatusPage {}
// SAFETY: as for `Send`: every access is an atomic load.
unsafe impl Sync for StatusPage {}

impl StatusPage {
    /// Describes the status page at `base`.
    ///
    /// Checks, without touching the memory, that `base` is non-null and a
    /// multiple of 8; returns a [`LayoutError`] otherwise.
    ///
    /// # Safety
    ///
    /// When the checks pass, `base` must point to
    /// [`STATUS_PAGE_SIZE`](crate::STATUS_PAGE_SIZE) bytes that stay valid for
    /// reads for as long as the returned value or any copy of it is used; the
    /// hypervisor may write them at any moment. Within this program they must be
    /// written only through a [`StatusPageWriter`].
    pub unsafe fn new(base: *const u8) -> Result<Self, LayoutError> {
        let base = NonNull::new(base.cast_mut()).ok_or(LayoutError::NullBase)?;
        if !(base.as_ptr() as usize).is_multiple_of(FRAME_ALIGNMENT) {
            return Err(LayoutError::Misaligned);
        }
        Ok(Self { base })
    }

    /// Reads the page: checks its magic and version, then returns the state
    /// and epoch, which are read together so that they always match.
    pub fn read(&self) -> Result<Status, StatusError> {
        let identity = u64::from_le(self.word(IDENTITY_OFFSET).load(Ordering::Acquire));
        let magic = identity as u32;
        let version = (identity >> 32) as u32;
        if magic != STATUS_MAGIC {
            return Err(StatusError::BadMagic { found: magic });
        }
        if version != STATUS_VERSION {
            return Err(StatusError::UnsupportedVersion { found: version });
        }
        let (raw_state, epoch) = self.raw_state();
        let state = ChannelState::from_raw(raw_state)
            .ok_or(StatusError::UnknownState { found: raw_state })?;
        Ok(Status { state, epoch })
    }

    /// The `state` and `epoch` fields, unchecked.
    fn raw_state(&self) -> (u32, u32) {
        let word = u64::from_le(self.word(STATE_OFFSET).load(Ordering::Acquire));
        (word as u32, (word >> 32) as u32)
    }

    /// The little-endian 64-bit word at `offset` (0 or 8) of the page.
    fn word(&self, offset: usize) -> &AtomicU64 {
        let offset = offset & STATE_OFFSET;
        // SAFETY: by the contract of `new`, `base` points to a whole page valid
        // for reads while `self` is, and it is 8-aligned (checked by `new`);
        // `offset` is reduced to 0 or 8, so the word is inside the page and
        // aligned. The hypervisor may write it at any moment; `AtomicU64` has
        // interior mutability, so a shared reference to it is allowed, and every
        // access in this program is atomic, which keeps the races defined. A
        // `StatusPage` only loads, so memory mapped read-only is fine.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }
}

/// The hypervisor's view of a channel's status page: writes it.
#[derive(Clone, Copy, Debug)]
pub struct StatusPageWriter {
    /// The same page, for reading.
    page: StatusPage,
}

impl StatusPageWriter {
    /// Describes the status page at `base`, for writing.
    ///
    /// Checks, without touching the memory, that `base` is non-null and a
    /// multiple of 8; returns a [`LayoutError`] otherwise.
    ///
    /// # Safety
    ///
    /// When the checks pass, `base` must point to
    /// [`STATUS_PAGE_SIZE`](crate::STATUS_PAGE_SIZE) bytes that stay valid for
    /// reads and writes for as long as the returned value or any copy of it is
    /// used. Within this program they must be accessed only through this crate.
    pub unsafe fn new(base: *mut u8) -> Result<Self, LayoutError> {
        // SAFETY: the caller's contract includes the one of `StatusPage::new`.
        let page = unsafe { StatusPage::new(base) }?;
        Ok(Self { page })
    }

    /// Writes a fresh page: the magic and version, state down, epoch 0.
    pub fn initialize(&self) {
        self.page
            .word(IDENTITY_OFFSET)
            .store(pair(STATUS_MAGIC, STATUS_VERSION).to_le(), Ordering::Release);
        self.write(Status { state: ChannelState::Down, epoch: 0 });
    }

    /// Writes `status`, state and epoch at once.
    pub fn write(&self, status: Status) {
        self.page
            .word(STATE_OFFSET)
            .store(pair(status.state.raw(), status.epoch).to_le(), Ordering::Release);
    }

    /// Sets the state to `state`, bumping the epoch if it changes, and
    /// returns what the page now says. Only the hypervisor writes the page, so
    /// the state and epoch it holds are the ones last written; on a page
    /// holding no valid state the epoch is bumped too.
    pub fn set_state(&self, state: ChannelState) -> Status {
        let (raw_state, epoch) = self.page.raw_state();
        let status = if raw_state == state.raw() {
            Status { state, epoch }
        } else {
            Status { state, epoch: epoch.wrapping_add(1) }
        };
        self.write(status);
        status
    }

    /// The page, for reading.
    pub fn page(&self) -> &StatusPage {
        &self.page
    }
}
