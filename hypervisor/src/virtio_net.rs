//! Linux's network cards: a virtio-net device on a channel whose
//! `linux-device` is `net`, with the VM at the other end (netvm) as backend.
//!
//! What Linux transmits goes, one Ethernet frame per message, into the
//! channel's ring towards the peer, and the peer's messages go into Linux's
//! receive buffers (`virtio_devices.rs` dispatches the slot and follows the
//! channel). The link is up while the channel is.

use crate::system::SYSTEM;
use crate::virtio_devices::{ChannelLink, Inbox, LinkChange, LinuxMemory};
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::virtio::{self, NetDevice, Received};

/// Frames Linux sent and the peer was given.
#[no_mangle]
pub static LINUX_FRAMES_SENT: AtomicU64 = AtomicU64::new(0);
/// Frames the peer sent and Linux was given.
#[no_mangle]
pub static LINUX_FRAMES_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// One virtio-net device.
pub struct Network {
    /// The device model.
    pub device: NetDevice,
    /// A frame taken from the ring that Linux had no buffer for yet.
    inbox: Inbox<{ virtio::MAX_FRAME }>,
}

impl Network {
    /// The card for `machine`'s channel number `index`, link down until the
    /// channel is up.
    pub fn new(machine: &boards::VirtualMachine, index: usize) -> Self {
        let vm = SYSTEM.machine_index(machine.name).unwrap_or(0) as u8;
        // Locally administered, unicast: 02:45:4c:xx:vm:index.
        let mut device = NetDevice::new([0x02, 0x45, 0x4c, 0x53, vm, index as u8]);
        device.set_link(false);
        Self { device, inbox: Inbox::new() }
    }

    /// Follows `change` of the channel with the link, transmits and
    /// receives; returns whether the peer got frames or room for more.
    pub fn pump(
        &mut self,
        link: &mut ChannelLink,
        change: LinkChange,
        memory: &LinuxMemory,
    ) -> bool {
        match change {
            LinkChange::Up { .. } => {
                self.inbox.clear();
                self.device.set_link(true);
            }
            LinkChange::Down => {
                self.inbox.clear();
                self.device.set_link(false);
            }
            LinkChange::None => {}
        }
        let sent = self.transmit(link, memory);
        self.receive(link, memory) | sent
    }

    /// Moves what Linux queued for transmission into the ring; returns
    /// whether the peer got anything.
    fn transmit(&mut self, link: &mut ChannelLink, memory: &LinuxMemory) -> bool {
        let Some(producer) = link.producer.as_mut() else { return false };
        let sent = self.device.transmit(memory, |frame| producer.send(frame).is_ok()).sent;
        LINUX_FRAMES_SENT.fetch_add(sent as u64, Ordering::Relaxed);
        sent > 0
    }

    /// Moves the peer's frames into Linux's receive buffers while it has
    /// some; returns whether any message left the ring. A message no
    /// Ethernet frame can be stops the ring until the next epoch.
    fn receive(&mut self, link: &mut ChannelLink, memory: &LinuxMemory) -> bool {
        let device = &mut self.device;
        let offer = |frame: &[u8]| {
            let received = device.receive(memory, frame);
            if received == Received::Delivered {
                LINUX_FRAMES_RECEIVED.fetch_add(1, Ordering::Relaxed);
            }
            received
        };
        self.inbox.drain(link, offer, || {})
    }
}
