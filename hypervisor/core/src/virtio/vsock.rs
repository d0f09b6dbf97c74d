//! The socket device (virtio 1.2 section 5.10), as Linux's
//! `vmw_vsock_virtio_transport` driver sees it.
//!
//! The device offers `VIRTIO_F_VERSION_1` and nothing else, so the driver
//! uses stream sockets only. Queue 0 is the receive queue, queue 1 the
//! transmit queue, queue 2 the event queue; the configuration space is
//! `guest_cid` (le64). The device moves packets and parses none: a packet is
//! the [`HEADER_SIZE`]-byte `virtio_vsock_hdr` followed by exactly `hdr.len`
//! bytes of payload, at most [`MAX_PAYLOAD`]. Only the lengths are checked:
//! a packet whose `len` disagrees with the bytes that carry it, or that is
//! longer, is dropped. The driver may lay a packet over its buffers in any
//! way: Linux posts a receive buffer as one descriptor of header and 4 KiB
//! of payload since 6.3, as a header descriptor and a payload descriptor
//! before, and queues a header descriptor and a payload descriptor to send.

use super::{
    AccessError, DropReason, Fault, GuestMemory, Notification, Received, Transmitted, Transport,
    FEATURE_VERSION_1,
};

/// `DeviceID` of a socket device.
pub const DEVICE_ID: u32 = 19;
/// Size of `struct virtio_vsock_hdr`.
pub const HEADER_SIZE: usize = 44;
/// The most payload bytes one packet carries: Linux's receive buffers hold
/// 4 KiB (`VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE`).
pub const MAX_PAYLOAD: usize = 4096;
/// The largest packet: header and payload.
pub const MAX_PACKET: usize = HEADER_SIZE + MAX_PAYLOAD;
/// `virtio_vsock_event.id` of a transport reset: the driver drops every
/// connection and reads `guest_cid` again.
pub const EVENT_TRANSPORT_RESET: u32 = 0;
/// Offset of `len` in the header.
const LENGTH_OFFSET: usize = 24;

/// Everything the device offers.
pub(super) const OFFERED_FEATURES: u64 = FEATURE_VERSION_1;
/// Size of `struct virtio_vsock_config`.
pub(super) const CONFIG_SIZE: usize = 8;
/// Index of the receive queue.
pub(super) const RECEIVE_QUEUE: usize = 0;
/// Index of the transmit queue.
pub(super) const TRANSMIT_QUEUE: usize = 1;
/// Index of the event queue.
pub(super) const EVENT_QUEUE: usize = 2;
/// Number of virtqueues.
pub(super) const QUEUE_COUNT: usize = 3;

/// The state of one emulated virtio-mmio socket device.
#[derive(Clone, Debug)]
pub struct VsockDevice {
    /// The registers and queues.
    pub transport: Transport<QUEUE_COUNT>,
    guest_cid: u64,
    /// A transport reset event waits for an event buffer.
    reset_pending: bool,
}

impl VsockDevice {
    /// A device giving the driver the address `guest_cid`, in its reset state.
    pub const fn new(guest_cid: u64) -> Self {
        Self {
            transport: Transport::new(DEVICE_ID, OFFERED_FEATURES),
            guest_cid,
            reset_pending: false,
        }
    }

    /// Whether the interrupt line is asserted: `InterruptStatus` is not zero.
    pub fn interrupt_asserted(&self) -> bool {
        self.transport.interrupt_asserted()
    }

    /// Whether the driver runs the device (see [`Transport::is_running`]).
    pub fn is_running(&self) -> bool {
        self.transport.is_running()
    }

    /// Why the device needs a reset, if it does.
    pub fn fault(&self) -> Option<Fault> {
        self.transport.fault()
    }

    /// A guest read of `size` bytes at `offset` in the window.
    pub fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        self.transport.read(offset, size, &self.guest_cid.to_le_bytes())
    }

    /// A guest write of `value` (`size` bytes) at `offset` in the window. A
    /// reset forgets a transport reset event not yet delivered: the driver
    /// starts afresh anyway.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
    ) -> Result<Notification, AccessError> {
        let notification = self.transport.write(offset, size, value, CONFIG_SIZE)?;
        if notification == Notification::Reset {
            self.reset_pending = false;
        }
        Ok(notification)
    }

    /// Moves packets from the transmit queue to `sink`, each whole (header
    /// and payload), while `sink` accepts them. A packet `sink` refuses
    /// (returns false: no room now) stays in the queue for the next call;
    /// a packet whose header's `len` disagrees with the bytes queued, or
    /// that is longer than the maximum, is dropped and counted. Raises the
    /// used-buffer interrupt unless the driver suppressed it.
    pub fn transmit(
        &mut self,
        memory: &impl GuestMemory,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Transmitted {
        let mut counts = Transmitted::default();
        // Each chain overwrites the bytes it uses, so one buffer serves all.
        let mut packet = [0; MAX_PACKET];
        self.transport.take_chains(memory, TRANSMIT_QUEUE, &mut packet, |packet| {
            match packet.filter(|packet| check(packet).is_ok()) {
                None => counts.dropped += 1,
                Some(packet) if sink(packet) => counts.sent += 1,
                Some(_) => return Ok(false),
            }
            Ok(true)
        });
        counts
    }

    /// Puts `packet` (header and payload) into the next receive buffer, and
    /// raises the used-buffer interrupt unless the driver suppressed it. A
    /// packet whose header's `len` disagrees with its length, or that is
    /// longer than the maximum, is dropped.
    pub fn receive(&mut self, memory: &impl GuestMemory, packet: &[u8]) -> Received {
        if let Err(reason) = check(packet) {
            return Received::Dropped(reason);
        }
        self.transport.fill_chain(memory, RECEIVE_QUEUE, &[packet]).into()
    }

    /// The connections the driver knows are gone: a
    /// `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET` is due, delivered by
    /// [`VsockDevice::deliver_events`] once the driver has an event buffer.
    pub fn transport_reset(&mut self) {
        self.reset_pending = true;
    }

    /// Whether a transport reset event waits to be delivered.
    pub fn reset_pending(&self) -> bool {
        self.reset_pending
    }

    /// Delivers a waiting transport reset event into the next event buffer,
    /// if the driver has one, and raises the used-buffer interrupt unless the
    /// driver suppressed it. [`Received::Delivered`] when the event went
    /// out; [`Received::NoBuffer`] while it waits, or when none waits.
    pub fn deliver_events(&mut self, memory: &impl GuestMemory) -> Received {
        if !self.reset_pending {
            return Received::NoBuffer;
        }
        let event = EVENT_TRANSPORT_RESET.to_le_bytes();
        let result: Received = self.transport.fill_chain(memory, EVENT_QUEUE, &[&event]).into();
        match result {
            // Waiting for the driver to start, or to post a buffer.
            Received::NoBuffer | Received::Dropped(DropReason::NotRunning) => Received::NoBuffer,
            // Delivered, or a buffer too small (returned empty, which Linux
            // ignores) or invalid (the device needs a reset, which drops
            // every connection anyway): either way it is done.
            done => {
                self.reset_pending = false;
                done
            }
        }
    }
}

/// Whether `packet` is a header and exactly `len` bytes of payload, at most
/// [`MAX_PAYLOAD`].
fn check(packet: &[u8]) -> Result<(), DropReason> {
    let Some(length) = packet.get(LENGTH_OFFSET..LENGTH_OFFSET + 4) else {
        return Err(DropReason::TooShort);
    };
    if packet.len() < HEADER_SIZE {
        return Err(DropReason::TooShort);
    }
    let mut bytes = [0; 4];
    bytes.copy_from_slice(length);
    let length = u32::from_le_bytes(bytes) as usize;
    if length > MAX_PAYLOAD || packet.len() > MAX_PACKET {
        return Err(DropReason::TooLarge);
    }
    if packet.len() - HEADER_SIZE != length {
        return Err(DropReason::LengthMismatch);
    }
    Ok(())
}
