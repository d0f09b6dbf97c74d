//! The channel client: this VM's ends of its inter-VM channels.
//!
//! [`Channels::discover`] asks the hypervisor for every channel of the VM
//! (`CHANNEL_INFO`) and attaches to its region: the status page, the ring
//! this VM sends on (a [`Producer`], when it may send) and the ring it
//! receives on (a [`Consumer`], when it may receive). End `e` sends on the
//! ring at [`ring_offset(e)`](boards::ring_offset) and receives on the one at
//! `ring_offset(1 - e)`; a one-way channel has only ring 0, from the first
//! end to the second.
//!
//! The hypervisor writes the status page: the channel is up while both VMs
//! run, and its epoch changes at every transition. When either VM restarts,
//! the hypervisor zeroes the rings' control pages and brings the channel up
//! at a new epoch, so [`Channel::refresh`] recreates the producer and
//! consumer whenever it sees a new epoch, attached at that epoch, and
//! reports the transition as a [`Change`]. The ring's epoch handshake (see
//! `channel_ring`) makes whatever the peer still writes at its old epoch,
//! before it notices the new one, read as "not attached yet" rather than as
//! corruption.
//!
//! A peer that corrupts a ring must not bring this VM down: the ring reports
//! it, the channel logs it once and ignores the channel until its epoch
//! changes (the peer restarted, with fresh rings). Corruption seen while the
//! status page has already moved on is not the peer's doing but the
//! hypervisor's zeroing of a ring of the epoch gone by: it counts as the
//! channel being down, and the next refresh attaches afresh.

use crate::warn;
use boards::ring_offset;
use channel_ring::{
    ChannelState, Consumer, CorruptReason, LayoutError, Producer, ReceiveError, RingMemory,
    SendError, StatusPage,
};
use core::fmt;
use core::num::NonZeroU32;
use hypercall_abi::{
    ChannelInfo, Status, CHANNEL_MAY_RECEIVE, CHANNEL_MAY_SEND, CHANNEL_SECOND_END,
    MAX_CHANNELS_PER_MACHINE,
};

/// What the status page says, as far as this VM keeps track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The channel is up.
    pub up: bool,
    /// The epoch of that state.
    pub epoch: u32,
}

/// A transition of a channel that [`Channel::refresh`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The peer stopped.
    Down,
    /// The peer (re)started; the rings are fresh.
    Up {
        /// The new epoch.
        epoch: u32,
    },
    /// The peer went down and came back between two looks: the rings are
    /// fresh, as after [`Change::Down`] then [`Change::Up`].
    Restarted {
        /// The new epoch.
        epoch: u32,
    },
}

impl Link {
    /// Moves to `observed` and says what changed. A new epoch while up both
    /// times is a restart; one while down both times changes nothing this VM
    /// can use.
    pub fn observe(&mut self, observed: Link) -> Option<Change> {
        let previous = core::mem::replace(self, observed);
        if previous == observed {
            return None;
        }
        match (previous.up, observed.up) {
            (true, false) => Some(Change::Down),
            (false, true) => Some(Change::Up { epoch: observed.epoch }),
            (true, true) => Some(Change::Restarted { epoch: observed.epoch }),
            (false, false) => None,
        }
    }
}

/// Why a channel is being ignored until its epoch changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A ring holds something a faithful peer cannot have written.
    Corrupt(CorruptReason),
    /// The peer sent a message of `length` bytes, more than this VM accepts;
    /// it would block the ring.
    Oversized {
        /// Bytes of the message.
        length: usize,
        /// The most this VM accepts.
        limit: usize,
    },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Corrupt(reason) => reason.fmt(formatter),
            Self::Oversized { length, limit } => write!(
                formatter,
                "the peer sent a message of {length} bytes, more than the {limit} accepted"
            ),
        }
    }
}

/// Why a send or receive did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// The channel is down (or its state changed since the last refresh).
    Down,
    /// This VM may not send (or receive) on this channel.
    NotPermitted,
    /// The channel is ignored until the peer restarts (see [`IgnoreReason`]).
    Ignored,
    /// The send ring has no room now.
    Full,
    /// The message is larger than the ring can carry.
    TooLarge,
    /// The peer corrupted a ring just now; the channel is ignored until its
    /// epoch changes.
    Corrupt(CorruptReason),
    /// The next message needs a buffer of `needed` bytes; it stays in the ring.
    BufferTooSmall {
        /// Bytes of the next message.
        needed: usize,
    },
}

impl fmt::Display for ChannelError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Down => write!(formatter, "the channel is down"),
            Self::NotPermitted => write!(formatter, "this direction is not allowed on the channel"),
            Self::Ignored => write!(formatter, "the channel is ignored until its peer restarts"),
            Self::Full => write!(formatter, "the ring is full"),
            Self::TooLarge => write!(formatter, "the message is larger than the ring can carry"),
            Self::Corrupt(reason) => reason.fmt(formatter),
            Self::BufferTooSmall { needed } => {
                write!(formatter, "the next message needs a buffer of {needed} bytes")
            }
        }
    }
}

/// Why a channel could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// `CHANNEL_INFO` failed.
    Info(Status),
    /// The region lies outside the channel window of the identity map.
    OutsideWindow,
    /// The region is too small for its rings.
    RegionTooSmall,
    /// The ring size or address is not one a ring can have.
    Layout(LayoutError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Info(status) => write!(formatter, "CHANNEL_INFO failed: {status:?}"),
            Self::OutsideWindow => write!(formatter, "the region is outside the channel window"),
            Self::RegionTooSmall => write!(formatter, "the region is too small for its rings"),
            Self::Layout(error) => error.fmt(formatter),
        }
    }
}

/// One end of a channel, attached.
pub struct Channel {
    index: usize,
    info: ChannelInfo,
    status_page: StatusPage,
    send_ring: Option<RingMemory>,
    receive_ring: Option<RingMemory>,
    link: Link,
    producer: Option<Producer>,
    consumer: Option<Consumer>,
    ignored: bool,
    status_error_reported: bool,
    notify_error_reported: bool,
}

impl Channel {
    /// Attaches to the channel `info` describes, this VM's channel number
    /// `index`, and reads its status (creating the producer and consumer if
    /// it is up).
    ///
    /// # Safety
    ///
    /// `info.address` must be the start of `info.size` bytes of memory laid
    /// out as a channel region (`boards::system`), valid for the life of the
    /// program and accessed by this program only through this `Channel`: the
    /// status page readable, this end's rings readable and writable.
    pub(crate) unsafe fn new(index: usize, info: ChannelInfo) -> Result<Self, SetupError> {
        let end = u8::from(info.flags & CHANNEL_SECOND_END != 0);
        let capacity = usize::try_from(info.ring_size)
            .map_err(|_| SetupError::Layout(LayoutError::CapacityTooLarge))?;
        let ring_at = |sender: u8| -> Result<RingMemory, SetupError> {
            let offset = ring_offset(sender, info.ring_size);
            let end_of_ring = offset
                .checked_add(channel_ring::ring_size(capacity) as u64)
                .ok_or(SetupError::RegionTooSmall)?;
            if end_of_ring > info.size {
                return Err(SetupError::RegionTooSmall);
            }
            let base = (info.address + offset) as *mut u8;
            // SAFETY: the ring lies inside the region (checked just above),
            // which the caller guarantees is valid and reached only through
            // this channel, which makes one producer or one consumer of it.
            unsafe { RingMemory::new(base, capacity) }.map_err(SetupError::Layout)
        };
        let send_ring = if info.flags & CHANNEL_MAY_SEND != 0 { Some(ring_at(end)?) } else { None };
        let receive_ring =
            if info.flags & CHANNEL_MAY_RECEIVE != 0 { Some(ring_at(1 - end)?) } else { None };
        if info.size < channel_ring::STATUS_PAGE_SIZE as u64 {
            return Err(SetupError::RegionTooSmall);
        }
        // SAFETY: the status page is the first page of the region, which the
        // caller guarantees is valid for reads; only the hypervisor writes it.
        let status_page =
            unsafe { StatusPage::new(info.address as *const u8) }.map_err(SetupError::Layout)?;
        let mut channel = Self {
            index,
            info,
            status_page,
            send_ring,
            receive_ring,
            link: Link { up: false, epoch: 0 },
            producer: None,
            consumer: None,
            ignored: false,
            status_error_reported: false,
            notify_error_reported: false,
        };
        let link = channel.read_link();
        channel.link = link;
        if link.up {
            channel.attach();
        }
        Ok(channel)
    }

    /// The channel's index among this VM's channels (its doorbell is SPI
    /// `DOORBELL_INTERRUPT_BASE + index`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// What `CHANNEL_INFO` said about the channel.
    pub fn info(&self) -> &ChannelInfo {
        &self.info
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// The VM index of the other end.
    pub fn peer(&self) -> u32 {
        self.info.peer
    }

    /// Whether this VM may send on the channel.
    pub fn may_send(&self) -> bool {
        self.send_ring.is_some()
    }

    /// Whether this VM may receive on the channel.
    pub fn may_receive(&self) -> bool {
        self.receive_ring.is_some()
    }

    /// Whether the channel was up when last refreshed.
    pub fn is_up(&self) -> bool {
        self.link.up
    }

    /// The epoch seen when last refreshed.
    pub fn epoch(&self) -> u32 {
        self.link.epoch
    }

    /// Whether the channel is ignored until its epoch changes.
    pub fn is_ignored(&self) -> bool {
        self.ignored
    }

    /// Reads the status page and follows any change: on a new epoch, the
    /// producer and consumer are created afresh (if up) and an ignored
    /// channel is taken back. Returns the transition, if there was one.
    pub fn refresh(&mut self) -> Option<Change> {
        let observed = self.read_link();
        if observed == self.link {
            return None;
        }
        let change = self.link.observe(observed);
        self.producer = None;
        self.consumer = None;
        self.ignored = false;
        self.notify_error_reported = false;
        if observed.up {
            self.attach();
        }
        change
    }

    /// Sends `message` as one ring record. Does not ring the peer's doorbell;
    /// call [`Channel::notify`] after a batch of sends.
    ///
    /// Refuses with [`ChannelError::Down`] when the status page has moved on
    /// since the last [`Channel::refresh`]: the producer is attached at an
    /// epoch gone by, whose frames the peer will never read.
    pub fn send(&mut self, message: &[u8]) -> Result<(), ChannelError> {
        if !self.may_send() {
            return Err(ChannelError::NotPermitted);
        }
        if self.ignored {
            return Err(ChannelError::Ignored);
        }
        if self.read_link() != self.link {
            return Err(ChannelError::Down);
        }
        let producer = self.producer.as_mut().ok_or(ChannelError::Down)?;
        match producer.send(message) {
            Ok(()) => Ok(()),
            Err(SendError::Full) => Err(ChannelError::Full),
            Err(SendError::TooLarge) => Err(ChannelError::TooLarge),
            Err(SendError::Corrupt(reason)) => Err(self.corrupt(reason)),
        }
    }

    /// Copies the next message into `buffer`: `Ok(Some(length))`, or
    /// `Ok(None)` when none is waiting (as after a new epoch, until the peer
    /// has attached at it).
    pub fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        if !self.may_receive() {
            return Err(ChannelError::NotPermitted);
        }
        if self.ignored {
            return Err(ChannelError::Ignored);
        }
        let consumer = self.consumer.as_mut().ok_or(ChannelError::Down)?;
        match consumer.receive(buffer) {
            Ok(length) => Ok(length),
            Err(ReceiveError::BufferTooSmall { needed }) => {
                Err(ChannelError::BufferTooSmall { needed })
            }
            Err(ReceiveError::Corrupt(reason)) => Err(self.corrupt(reason)),
        }
    }

    /// Handles a ring that reported `reason`. If the status page still says
    /// what it said at the last refresh, the peer wrote it: the channel is
    /// ignored until the epoch changes. If it has moved on, the hypervisor
    /// may have zeroed the ring while it was being read: the channel counts
    /// as down, and the next refresh attaches afresh.
    fn corrupt(&mut self, reason: CorruptReason) -> ChannelError {
        if self.read_link() != self.link {
            return ChannelError::Down;
        }
        self.ignore(IgnoreReason::Corrupt(reason));
        ChannelError::Corrupt(reason)
    }

    /// Rings the peer's doorbell (`CHANNEL_NOTIFY`). A peer that is not
    /// running ([`Status::Unavailable`]) is expected now and then; any other
    /// failure is logged, once per epoch.
    pub fn notify(&mut self) -> Result<(), Status> {
        let result = crate::hypercall::channel_notify(self.info.id);
        if let Err(status) = result {
            if status != Status::Unavailable && !self.notify_error_reported {
                self.notify_error_reported = true;
                warn!("channel {}: CHANNEL_NOTIFY failed: {status:?}", self.name());
            }
        }
        result
    }

    /// Stops using the channel until its epoch changes, and says why (once:
    /// an ignored channel is not ignored again).
    pub fn ignore(&mut self, reason: IgnoreReason) {
        if !self.ignored {
            self.ignored = true;
            warn!("channel {}: {reason}; ignoring it until its peer restarts", self.name());
        }
    }

    /// Creates the producer and consumer of freshly reset rings, attached at
    /// the epoch of the last refresh. The hypervisor brings channels up at
    /// odd epochs only, never 0, at which a ring cannot be attached; a status
    /// page saying otherwise is logged and the channel left without
    /// producer and consumer (sends and receives report down) until its
    /// epoch changes.
    fn attach(&mut self) {
        let Some(epoch) = NonZeroU32::new(self.link.epoch) else {
            warn!("channel {}: up at epoch 0, where rings cannot be attached", self.name());
            return;
        };
        self.producer = self.send_ring.map(|ring| Producer::new(ring, epoch));
        self.consumer = self.receive_ring.map(|ring| Consumer::new(ring, epoch));
    }

    /// Reads the status page. A page that cannot be read counts as down (at
    /// the last epoch) and is logged once until it reads again.
    fn read_link(&mut self) -> Link {
        match self.status_page.read() {
            Ok(status) => {
                self.status_error_reported = false;
                Link { up: status.state == ChannelState::Up, epoch: status.epoch }
            }
            Err(error) => {
                if !self.status_error_reported {
                    self.status_error_reported = true;
                    warn!("channel {}: {error}; taking it as down", self.name());
                }
                Link { up: false, epoch: self.link.epoch }
            }
        }
    }
}

impl fmt::Display for Channel {
    /// `app-netvm: peer vm 3, ring 16384 bytes, up`.
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "{}: peer vm {}, ring {} bytes, {}",
            self.name(),
            self.peer(),
            self.info.ring_size,
            if self.is_up() { "up" } else { "down" }
        )
    }
}

/// Every channel of this VM.
pub struct Channels {
    channels: [Option<Channel>; MAX_CHANNELS_PER_MACHINE],
}

impl Channels {
    /// No channels.
    pub const fn new() -> Self {
        Self { channels: [const { None }; MAX_CHANNELS_PER_MACHINE] }
    }

    /// Attaches to each of this VM's `count` channels (`VM_INFO` gives the
    /// count). A channel that cannot be set up is reported and left out; the
    /// others keep their indices.
    pub fn discover(count: usize) -> Self {
        let mut channels = Self::new();
        if count > MAX_CHANNELS_PER_MACHINE {
            warn!("{count} channels announced; using the first {MAX_CHANNELS_PER_MACHINE}");
        }
        for index in 0..count.min(MAX_CHANNELS_PER_MACHINE) {
            match discover_one(index) {
                Ok(channel) => channels.channels[index] = Some(channel),
                Err(error) => warn!("channel {index}: cannot be used: {error}"),
            }
        }
        channels
    }

    /// Puts `channel` in its slot, replacing what was there.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, channel: Channel) {
        let index = channel.index();
        self.channels[index] = Some(channel);
    }

    /// The channels, by index.
    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.channels.iter().flatten()
    }

    /// The channels, by index, to use.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Channel> {
        self.channels.iter_mut().flatten()
    }

    /// The channel with index `index`, if it was set up.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Channel> {
        self.channels.get_mut(index)?.as_mut()
    }

    /// The number of channels set up.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no channel was set up.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Channels {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks for channel `index` and attaches to it.
fn discover_one(index: usize) -> Result<Channel, SetupError> {
    let info = crate::hypercall::channel_info(index).map_err(SetupError::Info)?;
    let window = crate::mmu::CHANNEL_WINDOW_START..=crate::mmu::CHANNEL_WINDOW_END;
    let end = info.address.checked_add(info.size).ok_or(SetupError::OutsideWindow)?;
    if !window.contains(&info.address) || !window.contains(&end) {
        return Err(SetupError::OutsideWindow);
    }
    // SAFETY: the hypervisor maps the channel's region at `info.address`
    // for `info.size` bytes, the status page read-only and this end's ring
    // pages as the ring needs them, for as long as the VM runs; the identity
    // map covers it as normal cacheable memory (inside the channel window,
    // checked above); and this is the only `Channel` made for it.
    unsafe { Channel::new(index, info) }
}

#[cfg(test)]
pub(crate) mod tests;
