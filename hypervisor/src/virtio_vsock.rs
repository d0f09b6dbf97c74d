//! Linux's socket device: a virtio-vsock device on a channel whose
//! `linux-device` is `vsock`, with the VM at the other end (chainvm) as
//! backend.
//!
//! The hypervisor moves packets and implements no sockets. One ring message
//! is one virtio-vsock packet: the 44-byte `virtio_vsock_hdr`, then exactly
//! `hdr.len` bytes of payload, at most 4096. Only lengths are checked: a
//! packet of Linux's or a message of the backend whose `len` disagrees with
//! its size, or that is longer, is dropped and counted. CIDs are not
//! rewritten: Linux's `guest_cid` is [`GUEST_CID`], and the backend treats
//! everything on the channel as from it. While the channel is down, what
//! Linux sends is dropped, as a reset transport would; when it comes back up
//! (the backend restarted), Linux gets a `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET`
//! and drops its stale connections.

use crate::virtio_devices::{ChannelLink, Inbox, LinkChange, LinuxMemory};
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::virtio::vsock::MAX_PACKET;
use hypervisor_core::virtio::{DropReason, Received, VsockDevice};

/// The address Linux gets (`guest_cid`); the backend's is the host's, 2.
pub const GUEST_CID: u64 = 3;

/// Packets Linux sent and the backend was given.
#[no_mangle]
pub static LINUX_VSOCK_SENT: AtomicU64 = AtomicU64::new(0);
/// Packets the backend sent and Linux was given.
#[no_mangle]
pub static LINUX_VSOCK_RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Packets of Linux's dropped for their lengths (short, `len` disagreeing
/// with what Linux queued, or over the maximum).
#[no_mangle]
pub static LINUX_VSOCK_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Packets Linux queued while the channel was down, dropped.
#[no_mangle]
pub static LINUX_VSOCK_DROPPED_DOWN: AtomicU64 = AtomicU64::new(0);
/// Messages of the backend's dropped for their lengths; one over the
/// maximum also stops the ring from the backend until the channel restarts.
#[no_mangle]
pub static LINUX_VSOCK_BACKEND_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Transport reset events delivered to Linux.
#[no_mangle]
pub static LINUX_VSOCK_RESETS: AtomicU64 = AtomicU64::new(0);

/// One virtio-vsock device.
pub struct Socket {
    /// The device model.
    pub device: VsockDevice,
    /// A packet taken from the ring that Linux had no buffer for yet.
    inbox: Inbox<MAX_PACKET>,
}

impl Socket {
    /// A device with Linux's address, detached until the channel is up.
    pub const fn new() -> Self {
        Self { device: VsockDevice::new(GUEST_CID), inbox: Inbox::new() }
    }

    /// Follows `change` of the channel, moves packets both ways and delivers
    /// a due reset event; returns whether the backend got packets or room
    /// for more.
    pub fn pump(
        &mut self,
        link: &mut ChannelLink,
        change: LinkChange,
        memory: &LinuxMemory,
    ) -> bool {
        match change {
            LinkChange::Up { again } => {
                self.inbox.clear();
                if again {
                    self.device.transport_reset();
                }
            }
            LinkChange::Down => self.inbox.clear(),
            LinkChange::None => {}
        }
        if self.device.deliver_events(memory) == Received::Delivered {
            LINUX_VSOCK_RESETS.fetch_add(1, Ordering::Relaxed);
        }
        let sent = self.transmit(link, memory);
        self.receive(link, memory) | sent
    }

    /// Moves what Linux queued into the ring (or drops it while the channel
    /// is down); returns whether the backend got anything.
    fn transmit(&mut self, link: &mut ChannelLink, memory: &LinuxMemory) -> bool {
        let counts = match link.producer.as_mut() {
            Some(producer) => {
                let counts = self.device.transmit(memory, |packet| producer.send(packet).is_ok());
                LINUX_VSOCK_SENT.fetch_add(u64::from(counts.sent), Ordering::Relaxed);
                counts
            }
            None => {
                let counts = self.device.transmit(memory, |_| true);
                LINUX_VSOCK_DROPPED_DOWN.fetch_add(u64::from(counts.sent), Ordering::Relaxed);
                return false;
            }
        };
        LINUX_VSOCK_DROPPED.fetch_add(u64::from(counts.dropped), Ordering::Relaxed);
        counts.sent > 0
    }

    /// Moves the backend's packets into Linux's receive buffers while it has
    /// some; returns whether any message left the ring.
    fn receive(&mut self, link: &mut ChannelLink, memory: &LinuxMemory) -> bool {
        let device = &mut self.device;
        let offer = |packet: &[u8]| {
            let received = device.receive(memory, packet);
            let counter = match received {
                Received::Delivered => Some(&LINUX_VSOCK_RECEIVED),
                Received::Dropped(
                    DropReason::TooShort | DropReason::TooLarge | DropReason::LengthMismatch,
                ) => Some(&LINUX_VSOCK_BACKEND_DROPPED),
                // No driver yet, or a buffer the driver got wrong.
                Received::NoBuffer | Received::Dropped(_) => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            received
        };
        let oversized = || {
            LINUX_VSOCK_BACKEND_DROPPED.fetch_add(1, Ordering::Relaxed);
        };
        self.inbox.drain(link, offer, oversized)
    }
}
