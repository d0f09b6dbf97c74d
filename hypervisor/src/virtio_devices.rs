//! Linux's virtio-mmio devices: one per channel of a Linux VM, whose backend
//! is the VM at the channel's other end.
//!
//! Linux's `virtio_mmio` driver finds the devices in its device tree: the
//! channel number `k` of the VM is virtio-mmio slot `k` (`0x0a00_0000 +
//! 0x200 * k`, SPI `16 + k`). The manifest's `linux-device` says what the
//! slot holds: a network card (`virtio_net.rs`, netvm's side) or a socket
//! device (`virtio_vsock.rs`, chainvm's side). Linux's accesses trap and are
//! replayed through the `hypervisor_core::virtio` models; the hypervisor
//! moves one packet per ring message between Linux's virtqueues and the
//! channel. Linux never maps the peer's memory, and the peer never maps
//! Linux's; every access to Linux's memory goes through its own stage-2
//! tables.

use crate::system::SYSTEM;
use crate::vm::Machine;
use crate::{channel, interrupts, virtio_net, virtio_vsock};
use boards::system::ring_offset;
use boards::{qemu_virt, LinuxDevice, Region, VirtualMachineKind};
use channel_ring::{ChannelState, Consumer, Producer, ReceiveError, RingMemory, StatusPage};
use core::num::NonZeroU32;
use hypervisor_core::address::GuestPhysicalAddress;
use hypervisor_core::virtio::{
    self, AccessError, GuestMemory, MemoryError, Notification, Received,
};

/// The most devices one VM gets.
pub const MAX_DEVICES: usize = 4;
/// The first device's interrupt (SPI 16, as QEMU's first virtio-mmio slot).
pub const FIRST_INTERRUPT: u32 = 48;
/// The virtio-mmio `InterruptACK` register.
const INTERRUPT_ACK: u64 = 0x064;

/// The devices `machine` has: one per channel of a Linux VM.
pub fn device_count(machine: &boards::VirtualMachine) -> usize {
    if machine.kind == VirtualMachineKind::Linux {
        machine.channels.len().min(MAX_DEVICES)
    } else {
        0
    }
}

/// The MMIO window of device `index`.
pub fn window(index: usize) -> Region {
    Region {
        base: qemu_virt::VIRTIO_MMIO.base + virtio::WINDOW_SIZE * index as u64,
        size: virtio::WINDOW_SIZE,
    }
}

/// How a channel changed since [`ChannelLink::follow`] last looked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// No change.
    None,
    /// Up at a new epoch, with fresh rings; `again` when the link had been
    /// up or seen down before (the peer restarted).
    Up {
        /// Whether this is not the first time.
        again: bool,
    },
    /// Down: the rings are gone.
    Down,
}

/// A Linux VM's end of a channel: the rings it is attached to.
pub struct ChannelLink {
    /// The channel (index into the system's channels).
    pub channel: usize,
    /// Which end of it the VM is.
    pub end: u8,
    /// The epoch the rings are attached at, or that the channel was last
    /// seen down at.
    epoch: u32,
    /// Whether the channel has been seen up or down before.
    seen: bool,
    /// The ring towards the peer, while up.
    pub producer: Option<Producer>,
    /// The ring from the peer, while up.
    pub consumer: Option<Consumer>,
}

impl ChannelLink {
    /// `machine`'s end of its channel number `index`, not attached yet.
    fn new(machine: &boards::VirtualMachine, index: usize) -> Self {
        let end = machine.channels[index];
        Self {
            channel: end.channel,
            end: end.end,
            epoch: 0,
            seen: false,
            producer: None,
            consumer: None,
        }
    }

    /// Whether the rings are attached.
    pub fn is_up(&self) -> bool {
        self.producer.is_some() || self.consumer.is_some()
    }

    /// Follows the channel's status page: attaches fresh rings at a new
    /// epoch, detaches when the channel goes down.
    fn follow(&mut self) -> LinkChange {
        let channel = &SYSTEM.channels[self.channel];
        // SAFETY: the status page is the first page of the channel's region,
        // RAM the identity map covers; the VMs map it read-only and this
        // crate only loads from it.
        let Ok(page) = (unsafe { StatusPage::new(channel.memory.base as *const u8) }) else {
            return LinkChange::None;
        };
        let Ok(status) = page.read() else { return LinkChange::None };
        match status.state {
            ChannelState::Up if status.epoch != self.epoch => {
                let Some(epoch) = NonZeroU32::new(status.epoch) else { return LinkChange::None };
                let ring = |sender: u8| {
                    let base = channel.memory.base + ring_offset(sender, channel.ring_size);
                    // SAFETY: the ring lies inside the channel's region (the
                    // manifest sizes it with `channel_region_size`), RAM the
                    // identity map covers and no Rust object of the
                    // hypervisor uses; the peer writes its own pages of it
                    // at any time, which the ring format tolerates.
                    unsafe { RingMemory::new(base as *mut u8, channel.ring_size as usize) }.ok()
                };
                self.producer = ring(self.end).map(|memory| Producer::new(memory, epoch));
                self.consumer = ring(1 - self.end).map(|memory| Consumer::new(memory, epoch));
                let again = self.seen;
                self.seen = true;
                self.epoch = status.epoch;
                LinkChange::Up { again }
            }
            ChannelState::Down if self.is_up() || !self.seen => {
                self.producer = None;
                self.consumer = None;
                self.seen = true;
                self.epoch = status.epoch;
                LinkChange::Down
            }
            _ => LinkChange::None,
        }
    }
}

/// Room for one message of at most `N` bytes taken from the peer's ring,
/// starting at a word boundary as the ring's messages do, so that copies in
/// and out move whole aligned words; it holds a message Linux had no buffer
/// for yet.
#[repr(C, align(8))]
pub struct Inbox<const N: usize> {
    bytes: [u8; N],
    length: Option<usize>,
}

impl<const N: usize> Inbox<N> {
    /// An empty inbox.
    pub const fn new() -> Self {
        Self { bytes: [0; N], length: None }
    }

    /// Forgets a message kept for Linux (the rings changed).
    pub fn clear(&mut self) {
        self.length = None;
    }

    /// Offers the peer's messages to `offer` (which puts one into Linux's
    /// buffers) until the ring is empty or `offer` answers
    /// [`Received::NoBuffer`]: that message is kept for the next call.
    /// Returns whether any message left the ring. A message longer than `N`
    /// or a corrupt ring stops the consumer until the next epoch (the ring
    /// cannot move past it), after `oversized` is called for it.
    pub fn drain(
        &mut self,
        link: &mut ChannelLink,
        mut offer: impl FnMut(&[u8]) -> Received,
        oversized: impl FnOnce(),
    ) -> bool {
        let mut took = false;
        loop {
            let length = match self.length.take() {
                Some(length) => length,
                None => {
                    let Some(consumer) = link.consumer.as_mut() else { return took };
                    match consumer.receive(&mut self.bytes) {
                        Ok(Some(length)) => {
                            took = true;
                            length
                        }
                        Ok(None) => return took,
                        Err(error) => {
                            if let ReceiveError::BufferTooSmall { .. } = error {
                                oversized();
                            }
                            link.consumer = None;
                            return took;
                        }
                    }
                }
            };
            if offer(&self.bytes[..length]) == Received::NoBuffer {
                self.length = Some(length);
                return took;
            }
        }
    }
}

/// What a slot holds.
#[allow(
    clippy::large_enum_variant,
    reason = "nothing is allocated at EL2: a slot holds its device in place"
)]
enum Device {
    /// A network card.
    Net(virtio_net::Network),
    /// A socket device.
    Vsock(virtio_vsock::Socket),
}

/// One device of a Linux VM and its end of the channel.
pub struct Frontend {
    device: Device,
    link: ChannelLink,
    /// The interrupt line as the vGIC last saw it.
    line: bool,
}

impl Frontend {
    /// The device for `machine`'s channel number `index`, as the manifest's
    /// `linux-device` for the channel says; detached until the channel is up.
    pub fn new(machine: &boards::VirtualMachine, index: usize) -> Self {
        let link = ChannelLink::new(machine, index);
        let device = match SYSTEM.channels[link.channel].linux_device {
            LinuxDevice::Net => Device::Net(virtio_net::Network::new(machine, index)),
            LinuxDevice::Vsock => Device::Vsock(virtio_vsock::Socket::new()),
        };
        Self { device, link, line: false }
    }

    fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        match &self.device {
            Device::Net(network) => network.device.read(offset, size),
            Device::Vsock(socket) => socket.device.read(offset, size),
        }
    }

    fn write(&mut self, offset: u64, size: u8, value: u64) -> Result<Notification, AccessError> {
        match &mut self.device {
            Device::Net(network) => network.device.write(offset, size, value),
            Device::Vsock(socket) => socket.device.write(offset, size, value),
        }
    }

    fn interrupt_asserted(&self) -> bool {
        match &self.device {
            Device::Net(network) => network.device.interrupt_asserted(),
            Device::Vsock(socket) => socket.device.interrupt_asserted(),
        }
    }

    /// Follows the channel and moves packets both ways; returns whether the
    /// peer got anything or room for more.
    fn pump(&mut self, memory: &LinuxMemory) -> bool {
        let change = self.link.follow();
        match &mut self.device {
            Device::Net(network) => network.pump(&mut self.link, change, memory),
            Device::Vsock(socket) => socket.pump(&mut self.link, change, memory),
        }
    }
}

/// Linux's memory as a virtio device reaches it: through the VM's own
/// stage-2 tables, so only its RAM.
pub struct LinuxMemory<'a>(&'a Machine);

impl GuestMemory for LinuxMemory<'_> {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.0
            .read_guest(GuestPhysicalAddress::new(address), buffer)
            .map_err(|_| MemoryError::OutOfRange)
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.0
            .write_guest(GuestPhysicalAddress::new(address), bytes)
            .map_err(|_| MemoryError::OutOfRange)
    }
}

/// Brings device `index` of `machine` up to date: follows the channel,
/// moves packets, and sets its interrupt line; rings the peer if it got
/// packets or room for more.
fn pump(machine: &Machine, index: usize) {
    let memory = LinuxMemory(machine);
    let Some(slot) = machine.network.get(index) else { return };
    let (ring_peer, kick, channel, peer) = {
        let mut slot = slot.lock();
        let Some(frontend) = slot.as_mut() else { return };
        let ring_peer = frontend.pump(&memory);
        let asserted = frontend.interrupt_asserted();
        let changed = asserted != frontend.line;
        frontend.line = asserted;
        let channel = frontend.link.channel;
        let peer = SYSTEM.channels[channel].ends[1 - frontend.link.end as usize];
        // The vGIC's lock only for the line itself (lock order: a device's,
        // then the vGIC's).
        let kick = if changed {
            machine.devices.lock().gic.set_level(FIRST_INTERRUPT + index as u32, 0, asserted)
        } else {
            hypervisor_core::vgic::Kick::NONE
        };
        (ring_peer, kick, channel, peer)
    };
    interrupts::kick(machine, kick);
    if ring_peer {
        channel::ring(channel, peer);
    }
}

/// A trapped read of device `index`'s window.
pub fn read(machine: &Machine, index: usize, offset: u64, size: u8) -> Option<u64> {
    machine.network.get(index)?.lock().as_ref()?.read(offset, size).ok()
}

/// A trapped write to device `index`'s window. `None` if the access is not a
/// register write the device takes.
pub fn write(machine: &Machine, index: usize, offset: u64, size: u8, value: u64) -> Option<()> {
    let kick = {
        let mut slot = machine.network.get(index)?.lock();
        let frontend = slot.as_mut()?;
        // Whatever the write (a notification, an acknowledged interrupt, a
        // reset), the pump below brings the device up to date.
        let _: Notification = frontend.write(offset, size, value).ok()?;
        // Linux's device tree makes the interrupt edge-triggered: an
        // acknowledgement that clears the status lowers the line at once, so
        // the pump's next event raises a new edge; one that leaves bits set
        // (an event arrived between Linux's read and its acknowledgement)
        // raises another edge for them.
        let asserted = frontend.interrupt_asserted();
        let intid = FIRST_INTERRUPT + index as u32;
        if frontend.line && !asserted {
            frontend.line = false;
            machine.devices.lock().gic.set_level(intid, 0, false)
        } else if frontend.line && offset == INTERRUPT_ACK {
            machine.devices.lock().gic.raise_edge(intid, 0)
        } else {
            hypervisor_core::vgic::Kick::NONE
        }
    };
    interrupts::kick(machine, kick);
    pump(machine, index);
    Some(())
}

/// The peer rang the doorbell of `machine`'s channel number `index` (it sent
/// packets, took some, or the channel changed state).
pub fn peer_rang(machine: &Machine, index: usize) {
    pump(machine, index);
}
