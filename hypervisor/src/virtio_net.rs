//! Linux's network devices: a virtio-net device per channel of a Linux VM,
//! whose backend is the VM at the channel's other end (netvm).
//!
//! Linux's `virtio_mmio` driver finds the devices in its device tree: the
//! channel number `k` of the VM is virtio-mmio slot `k` (`0x0a00_0000 +
//! 0x200 * k`, SPI `16 + k`). Its accesses trap and are replayed through
//! `hypervisor_core::virtio::NetDevice`. The hypervisor moves the frames:
//! what Linux transmits goes, one Ethernet frame per message, into the
//! channel's ring towards the peer, and the peer's messages go into Linux's
//! receive buffers. Linux never maps the peer's memory, and the peer never
//! maps Linux's; every access to Linux's memory goes through its own stage-2
//! tables. The link is up while the channel is.

use crate::system::SYSTEM;
use crate::vm::Machine;
use crate::{channel, interrupts};
use boards::system::ring_offset;
use boards::{qemu_virt, Region, VirtualMachineKind};
use channel_ring::{ChannelState, Consumer, Producer, ReceiveError, RingMemory, StatusPage};
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::address::GuestPhysicalAddress;
use hypervisor_core::virtio::{self, GuestMemory, MemoryError, NetDevice, Notification, Received};

/// The most virtio-net devices one VM gets.
pub const MAX_DEVICES: usize = 4;
/// The first device's interrupt (SPI 16, as QEMU's first virtio-mmio slot).
pub const FIRST_INTERRUPT: u32 = 48;
/// The virtio-mmio `InterruptACK` register.
const INTERRUPT_ACK: u64 = 0x064;

/// Frames Linux sent and the peer was given.
#[no_mangle]
pub static LINUX_FRAMES_SENT: AtomicU64 = AtomicU64::new(0);
/// Frames the peer sent and Linux was given.
#[no_mangle]
pub static LINUX_FRAMES_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// The virtio-net devices `machine` has: one per channel of a Linux VM.
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

/// Room for one frame, starting at a word boundary as the ring's frames do,
/// so that copies in and out move whole aligned words.
#[repr(C, align(8))]
struct FrameBuffer([u8; virtio::MAX_FRAME]);

/// One virtio-net device and its end of the channel.
pub struct Frontend {
    device: NetDevice,
    /// The channel (index into the system's channels).
    channel: usize,
    /// Which end of it the VM is.
    end: u8,
    /// The epoch the rings are attached at (0: not attached).
    epoch: u32,
    producer: Option<Producer>,
    consumer: Option<Consumer>,
    /// A frame taken from the ring that Linux had no buffer for yet.
    pending: FrameBuffer,
    pending_length: Option<usize>,
    /// The interrupt line as the vGIC last saw it.
    line: bool,
}

impl Frontend {
    /// The device for `machine`'s channel number `index`, link down until the
    /// channel is up.
    pub fn new(machine: &boards::VirtualMachine, index: usize) -> Self {
        let end = machine.channels[index];
        let vm = SYSTEM.machine_index(machine.name).unwrap_or(0) as u8;
        // Locally administered, unicast: 02:45:4c:xx:vm:index.
        let mut device = NetDevice::new([0x02, 0x45, 0x4c, 0x53, vm, index as u8]);
        device.set_link(false);
        Self {
            device,
            channel: end.channel,
            end: end.end,
            epoch: 0,
            producer: None,
            consumer: None,
            pending: FrameBuffer([0; virtio::MAX_FRAME]),
            pending_length: None,
            line: false,
        }
    }

    /// Follows the channel's status page: attaches fresh rings at a new
    /// epoch, detaches when the channel goes down, and sets the link.
    fn follow_channel(&mut self) {
        let channel = &SYSTEM.channels[self.channel];
        // SAFETY: the status page is the first page of the channel's region,
        // RAM the identity map covers; the VMs map it read-only and this
        // crate only loads from it.
        let Ok(page) = (unsafe { StatusPage::new(channel.memory.base as *const u8) }) else {
            return;
        };
        let Ok(status) = page.read() else { return };
        match status.state {
            ChannelState::Up if status.epoch != self.epoch => {
                let Some(epoch) = NonZeroU32::new(status.epoch) else { return };
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
                self.pending_length = None;
                self.epoch = status.epoch;
                self.device.set_link(true);
            }
            ChannelState::Down if self.producer.is_some() || self.consumer.is_some() => {
                self.producer = None;
                self.consumer = None;
                self.pending_length = None;
                self.epoch = status.epoch;
                self.device.set_link(false);
            }
            _ => {}
        }
    }

    /// Moves what Linux queued for transmission into the ring; returns
    /// whether the peer got anything.
    fn transmit(&mut self, memory: &LinuxMemory) -> bool {
        let Some(producer) = self.producer.as_mut() else { return false };
        let sent = self.device.transmit(memory, |frame| producer.send(frame).is_ok()).sent;
        LINUX_FRAMES_SENT.fetch_add(sent as u64, Ordering::Relaxed);
        sent > 0
    }

    /// Moves the peer's frames into Linux's receive buffers while it has
    /// some; returns whether any message left the ring.
    fn receive(&mut self, memory: &LinuxMemory) -> bool {
        let mut took = false;
        loop {
            let length = match self.pending_length.take() {
                Some(length) => length,
                None => {
                    let Some(consumer) = self.consumer.as_mut() else { return took };
                    match consumer.receive(&mut self.pending.0) {
                        Ok(Some(length)) => {
                            took = true;
                            length
                        }
                        Ok(None) => return took,
                        // A message no Ethernet frame can be: drop it. The
                        // ring stays usable only if it moves on, which the
                        // consumer does not; stop until the next epoch.
                        Err(ReceiveError::BufferTooSmall { .. })
                        | Err(ReceiveError::Corrupt(_)) => {
                            self.consumer = None;
                            return took;
                        }
                    }
                }
            };
            match self.device.receive(memory, &self.pending.0[..length]) {
                Received::Delivered => {
                    LINUX_FRAMES_RECEIVED.fetch_add(1, Ordering::Relaxed);
                }
                Received::NoBuffer => {
                    self.pending_length = Some(length);
                    return took;
                }
                Received::Dropped(_) => {}
            }
        }
    }
}

/// Linux's memory as a virtio device reaches it: through the VM's own
/// stage-2 tables, so only its RAM.
struct LinuxMemory<'a>(&'a Machine);

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
/// transmits, receives, and sets its interrupt line; rings the peer if it
/// got frames or room for more.
fn pump(machine: &Machine, index: usize) {
    let memory = LinuxMemory(machine);
    let Some(slot) = machine.network.get(index) else { return };
    let (ring_peer, kick, channel, peer) = {
        let mut slot = slot.lock();
        let Some(frontend) = slot.as_mut() else { return };
        frontend.follow_channel();
        let mut ring_peer = frontend.transmit(&memory);
        ring_peer |= frontend.receive(&memory);
        let asserted = frontend.device.interrupt_asserted();
        let changed = asserted != frontend.line;
        frontend.line = asserted;
        let channel = frontend.channel;
        let peer = SYSTEM.channels[channel].ends[1 - frontend.end as usize];
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
    machine.network.get(index)?.lock().as_ref()?.device.read(offset, size).ok()
}

/// A trapped write to device `index`'s window. `None` if the access is not a
/// register write the device takes.
pub fn write(machine: &Machine, index: usize, offset: u64, size: u8, value: u64) -> Option<()> {
    let kick = {
        let mut slot = machine.network.get(index)?.lock();
        let frontend = slot.as_mut()?;
        // Whatever the write (a notification, an acknowledged interrupt, a
        // reset), the pump below brings the device up to date.
        let _: Notification = frontend.device.write(offset, size, value).ok()?;
        // Linux's device tree makes the interrupt edge-triggered: an
        // acknowledgement that clears the status lowers the line at once, so
        // the pump's next event raises a new edge; one that leaves bits set
        // (an event arrived between Linux's read and its acknowledgement)
        // raises another edge for them.
        let asserted = frontend.device.interrupt_asserted();
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
/// frames, took some, or the channel changed state).
pub fn peer_rang(machine: &Machine, index: usize) {
    pump(machine, index);
}
