//! The network device (virtio 1.2 section 5.1), as Linux's `virtio_net`
//! driver sees it.
//!
//! The device offers `VIRTIO_F_VERSION_1`, `VIRTIO_NET_F_MAC` and
//! `VIRTIO_NET_F_STATUS` and nothing else, so every packet carries the
//! 12-byte `virtio_net_hdr` with all fields zero, and every frame fits one
//! buffer (at most [`MAX_FRAME`] bytes, a VLAN-tagged Ethernet frame without
//! FCS). Queue 0 is the receive queue, queue 1 the transmit queue.

use super::{
    AccessError, DropReason, Fault, GuestMemory, Notification, Received, Transmitted, Transport,
    FEATURE_VERSION_1,
};

/// `DeviceID` of a network card.
pub const DEVICE_ID: u32 = 1;
/// The largest Ethernet frame carried (1514 bytes plus a VLAN tag).
pub const MAX_FRAME: usize = 1518;
/// The smallest frame carried: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Size of `struct virtio_net_hdr` with `VIRTIO_F_VERSION_1` (`num_buffers` included).
pub const HEADER_SIZE: usize = 12;

/// Feature bit `VIRTIO_NET_F_MAC`.
pub(super) const FEATURE_MAC: u64 = 1 << 5;
/// Feature bit `VIRTIO_NET_F_STATUS`.
pub(super) const FEATURE_STATUS: u64 = 1 << 16;
/// Everything the device offers.
pub(super) const OFFERED_FEATURES: u64 = FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS;

/// Size of `struct virtio_net_config` up to `status`, the fields offered.
pub(super) const CONFIG_SIZE: usize = 8;
/// `virtio_net_config.status` bit: the link is up.
pub(super) const LINK_UP: u16 = 1;

/// Index of the receive queue.
pub(super) const RECEIVE_QUEUE: usize = 0;
/// Index of the transmit queue.
pub(super) const TRANSMIT_QUEUE: usize = 1;
/// Number of virtqueues.
pub(super) const QUEUE_COUNT: usize = 2;
/// The largest packet: header and frame.
const PACKET_LIMIT: usize = HEADER_SIZE + MAX_FRAME;

/// The state of one emulated virtio-mmio network device.
#[derive(Clone, Debug)]
pub struct NetDevice {
    /// The registers and queues.
    pub transport: Transport<QUEUE_COUNT>,
    mac: [u8; 6],
    link_up: bool,
}

impl NetDevice {
    /// A device with MAC address `mac`, in its reset state, link up.
    pub const fn new(mac: [u8; 6]) -> Self {
        Self { transport: Transport::new(DEVICE_ID, OFFERED_FEATURES), mac, link_up: true }
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

    /// Sets the link state in the configuration space; a change bumps
    /// `ConfigGeneration` and, once the driver is up, raises a configuration
    /// change interrupt.
    pub fn set_link(&mut self, up: bool) {
        if self.link_up != up {
            self.link_up = up;
            self.transport.config_changed();
        }
    }

    /// A guest read of `size` bytes at `offset` in the window.
    pub fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        let mut config = [0; CONFIG_SIZE];
        config[..6].copy_from_slice(&self.mac);
        let status = if self.link_up { LINK_UP } else { 0 };
        config[6..].copy_from_slice(&status.to_le_bytes());
        self.transport.read(offset, size, &config)
    }

    /// A guest write of `value` (`size` bytes) at `offset` in the window. The
    /// MAC address and the link state belong to the device and survive a
    /// reset.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
    ) -> Result<Notification, AccessError> {
        self.transport.write(offset, size, value, CONFIG_SIZE)
    }

    /// Moves frames from the transmit queue to `sink`, header stripped, while
    /// `sink` accepts them. A frame `sink` refuses (returns false: no room
    /// now) stays in the queue for the next call. Raises the used-buffer
    /// interrupt unless the driver suppressed it.
    pub fn transmit(
        &mut self,
        memory: &impl GuestMemory,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Transmitted {
        let mut counts = Transmitted::default();
        // Each chain overwrites the bytes it uses, so one buffer serves all.
        let mut packet = [0; PACKET_LIMIT];
        self.transport.take_chains(memory, TRANSMIT_QUEUE, &mut packet, |packet| {
            let packet = packet.ok_or(Fault::FrameTooLarge)?;
            let (header, frame) = packet.split_at(packet.len().min(HEADER_SIZE));
            // flags (checksum offload) and gso_type must be zero: neither is negotiated.
            if header.len() < HEADER_SIZE
                || header[0] != 0
                || header[1] != 0
                || frame.len() < MIN_FRAME
            {
                counts.dropped += 1;
            } else if sink(frame) {
                counts.sent += 1;
            } else {
                return Ok(false);
            }
            Ok(true)
        });
        counts
    }

    /// Puts `frame` into the next receive buffer, behind a header with all
    /// fields zero but `num_buffers` (one), and raises the used-buffer
    /// interrupt unless the driver suppressed it.
    pub fn receive(&mut self, memory: &impl GuestMemory, frame: &[u8]) -> Received {
        if frame.len() > MAX_FRAME {
            return Received::Dropped(DropReason::TooLarge);
        }
        if frame.len() < MIN_FRAME {
            return Received::Dropped(DropReason::TooShort);
        }
        let mut header = [0; HEADER_SIZE];
        header[HEADER_SIZE - 2..].copy_from_slice(&1u16.to_le_bytes());
        self.transport.fill_chain(memory, RECEIVE_QUEUE, &[&header, frame]).into()
    }
}
