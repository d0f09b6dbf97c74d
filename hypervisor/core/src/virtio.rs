//! An emulated virtio-mmio network device, as the Linux guest sees it through
//! trapped MMIO.
//!
//! Modelled on the virtio 1.2 specification: the virtio-mmio transport,
//! version 2 (section 4.2), split virtqueues (section 2.7) and the network
//! device (section 5.1). Linux's `virtio_mmio` and `virtio_net` drivers are the
//! clients. The device offers `VIRTIO_F_VERSION_1`, `VIRTIO_NET_F_MAC` and
//! `VIRTIO_NET_F_STATUS` and nothing else, so every packet carries the 12-byte
//! `virtio_net_hdr` with all fields zero, and every frame fits one buffer
//! (at most [`MAX_FRAME`] bytes, a VLAN-tagged Ethernet frame without FCS).
//! Queue 0 is the receive queue, queue 1 the transmit queue.
//!
//! The hypervisor replays the guest's accesses to the [`WINDOW_SIZE`]-byte
//! window through [`NetDevice::read`] and [`NetDevice::write`], moves frames
//! with [`NetDevice::transmit`] and [`NetDevice::receive`], and drives a level
//! interrupt with [`NetDevice::interrupt_asserted`]. Guest memory is reached
//! only through [`GuestMemory`], so the hypervisor checks every access against
//! the VM's stage-2 tables. A driver that hands the device something invalid
//! (see [`Fault`]) puts it into `DEVICE_NEEDS_RESET`: the device stops until
//! the driver resets it, and no input from the guest makes it panic.

mod queue;
#[cfg(test)]
mod tests;

use queue::Queue;

/// Size of the MMIO window: the registers and the configuration space.
pub const WINDOW_SIZE: u64 = 0x200;
/// `DeviceID` of a network card.
pub const DEVICE_ID: u32 = 1;
/// `VendorID`: "ELOS" in little-endian byte order.
pub const VENDOR_ID: u32 = 0x534f_4c45;
/// The largest Ethernet frame carried (1514 bytes plus a VLAN tag).
pub const MAX_FRAME: usize = 1518;
/// The smallest frame carried: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Size of `struct virtio_net_hdr` with `VIRTIO_F_VERSION_1` (`num_buffers` included).
pub const HEADER_SIZE: usize = 12;

/// Magic value "virt".
const MAGIC: u32 = 0x7472_6976;
/// The virtio-mmio version implemented (the modern layout).
const VERSION: u32 = 2;

// Register offsets (section 4.2.2).
const MAGIC_VALUE: u64 = 0x000;
const VERSION_REGISTER: u64 = 0x004;
const DEVICE_ID_REGISTER: u64 = 0x008;
const VENDOR_ID_REGISTER: u64 = 0x00c;
const DEVICE_FEATURES: u64 = 0x010;
const DEVICE_FEATURES_SELECT: u64 = 0x014;
const DRIVER_FEATURES: u64 = 0x020;
const DRIVER_FEATURES_SELECT: u64 = 0x024;
const QUEUE_SELECT: u64 = 0x030;
const QUEUE_SIZE_MAX: u64 = 0x034;
const QUEUE_SIZE: u64 = 0x038;
const QUEUE_READY: u64 = 0x044;
const QUEUE_NOTIFY: u64 = 0x050;
const INTERRUPT_STATUS: u64 = 0x060;
const INTERRUPT_ACKNOWLEDGE: u64 = 0x064;
const STATUS: u64 = 0x070;
const QUEUE_DESCRIPTOR_LOW: u64 = 0x080;
const QUEUE_DESCRIPTOR_HIGH: u64 = 0x084;
const QUEUE_DRIVER_LOW: u64 = 0x090;
const QUEUE_DRIVER_HIGH: u64 = 0x094;
const QUEUE_DEVICE_LOW: u64 = 0x0a0;
const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
const CONFIG_GENERATION: u64 = 0x0fc;
/// Start of the device-specific configuration space.
const CONFIG: u64 = 0x100;
/// Size of `struct virtio_net_config` up to `status`, the fields offered.
const CONFIG_SIZE: u64 = 8;

// Device status bits (section 2.1).
const STATUS_ACKNOWLEDGE: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FEATURES_OK: u32 = 8;
const STATUS_NEEDS_RESET: u32 = 64;
const STATUS_FAILED: u32 = 128;
/// The status bits a driver may set.
const STATUS_DRIVER_BITS: u32 =
    STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK | STATUS_FAILED;

// Feature bits (sections 5.1.3 and 6).
const FEATURE_MAC: u64 = 1 << 5;
const FEATURE_STATUS: u64 = 1 << 16;
const FEATURE_VERSION_1: u64 = 1 << 32;
/// Everything the device offers.
const OFFERED_FEATURES: u64 = FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS;

/// `InterruptStatus` bit: a used buffer notification.
const INTERRUPT_USED_BUFFER: u32 = 1;
/// `InterruptStatus` bit: a configuration change notification.
const INTERRUPT_CONFIG_CHANGE: u32 = 2;

/// `virtio_net_config.status` bit: the link is up.
const LINK_UP: u16 = 1;

/// Index of the receive queue.
const RECEIVE_QUEUE: usize = 0;
/// Index of the transmit queue.
const TRANSMIT_QUEUE: usize = 1;
/// Number of virtqueues.
const QUEUE_COUNT: usize = 2;
/// The largest packet: header and frame.
const PACKET_LIMIT: usize = HEADER_SIZE + MAX_FRAME;

/// Guest memory as the device reaches it. The hypervisor's implementation
/// checks every range against the VM's stage-2 tables.
pub trait GuestMemory {
    /// Fills `buffer` from guest-physical `address` onwards.
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError>;
    /// Writes `bytes` to guest-physical `address` onwards.
    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), MemoryError>;
}

/// A guest memory access that [`GuestMemory`] refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// Part of the range is not memory the VM may hand to a device.
    OutOfRange,
}

/// An MMIO access the device refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// No register or configuration field at this offset.
    UnknownRegister,
    /// A width or alignment the register does not accept: registers take
    /// aligned 32-bit accesses, the configuration space aligned 8-, 16- and
    /// 32-bit ones.
    BadSize,
    /// A read of a write-only register or a write to a read-only one.
    WrongDirection,
}

/// What a register write asks of the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notification {
    /// Nothing beyond the register access.
    None,
    /// The driver notified the receive queue: new receive buffers, so frames
    /// waiting for room may be retried with [`NetDevice::receive`].
    Receive,
    /// The driver notified the transmit queue: call [`NetDevice::transmit`].
    Transmit,
    /// The driver reset the device: anything queued for it is stale.
    Reset,
}

/// What one [`NetDevice::transmit`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transmitted {
    /// Frames handed to the sink.
    pub sent: u32,
    /// Chains returned to the driver without a frame being sent: a header
    /// shorter than 12 bytes, a header asking for checksum or segmentation
    /// offload (not negotiated), or a frame shorter than [`MIN_FRAME`].
    pub dropped: u32,
}

/// What became of a frame offered to [`NetDevice::receive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The frame is in a receive buffer of the driver.
    Delivered,
    /// No receive buffer is posted: the frame was not taken; offer it again
    /// after a [`Notification::Receive`].
    NoBuffer,
    /// The frame is gone.
    Dropped(DropReason),
}

/// Why [`NetDevice::receive`] dropped a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Longer than [`MAX_FRAME`].
    TooLarge,
    /// Shorter than [`MIN_FRAME`].
    TooShort,
    /// The driver is not running or the receive queue is not ready.
    NotRunning,
    /// The receive buffer is smaller than the header and the frame; it was
    /// returned to the driver with length zero.
    BufferTooSmall,
    /// The receive buffer was invalid; the device now needs a reset.
    DeviceFault,
}

/// Why the device set `DEVICE_NEEDS_RESET`: the driver handed it something
/// invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `QueueReady` was set with a queue size that is not a power of two no
    /// larger than 256, or a misaligned ring.
    QueueLayout,
    /// The available index moved more than the queue size past the device.
    AvailableIndex,
    /// A head or `next` descriptor index beyond the queue size.
    DescriptorIndex,
    /// A chain longer than the queue size, which is how a loop shows.
    ChainTooLong,
    /// An indirect descriptor (`VIRTIO_F_INDIRECT_DESC` is not offered).
    IndirectDescriptor,
    /// A device-readable buffer where a device-writable one is needed.
    ReadableDescriptor,
    /// A device-writable buffer in a transmit chain.
    WritableDescriptor,
    /// A transmit chain longer than the header and [`MAX_FRAME`] bytes.
    FrameTooLarge,
    /// A ring or buffer outside the memory [`GuestMemory`] allows.
    MemoryAccess,
}

/// The state of one emulated virtio-mmio network device.
#[derive(Clone, Debug)]
pub struct NetDevice {
    mac: [u8; 6],
    link_up: bool,
    status: u32,
    device_features_select: u32,
    driver_features_select: u32,
    driver_features: u64,
    /// The driver accepted a feature beyond bit 63, none of which is offered.
    driver_features_beyond: bool,
    queue_select: u32,
    queues: [Queue; QUEUE_COUNT],
    interrupt_status: u32,
    config_generation: u32,
    fault: Option<Fault>,
}

impl NetDevice {
    /// A device with MAC address `mac`, in its reset state, link up.
    pub const fn new(mac: [u8; 6]) -> Self {
        Self {
            mac,
            link_up: true,
            status: 0,
            device_features_select: 0,
            driver_features_select: 0,
            driver_features: 0,
            driver_features_beyond: false,
            queue_select: 0,
            queues: [Queue::new(), Queue::new()],
            interrupt_status: 0,
            config_generation: 0,
            fault: None,
        }
    }

    /// Whether the interrupt line is asserted: `InterruptStatus` is not zero.
    pub fn interrupt_asserted(&self) -> bool {
        self.interrupt_status != 0
    }

    /// Whether the driver has set `DRIVER_OK` after `FEATURES_OK` was
    /// accepted, and neither `DEVICE_NEEDS_RESET` nor `FAILED` is set.
    pub fn is_running(&self) -> bool {
        let wanted = STATUS_DRIVER_OK | STATUS_FEATURES_OK;
        self.status & (wanted | STATUS_NEEDS_RESET | STATUS_FAILED) == wanted
    }

    /// Why the device needs a reset, if it does.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// Sets the link state in the configuration space; a change bumps
    /// `ConfigGeneration` and, once the driver is up, raises a configuration
    /// change interrupt.
    pub fn set_link(&mut self, up: bool) {
        if self.link_up != up {
            self.link_up = up;
            self.config_generation = self.config_generation.wrapping_add(1);
            if self.status & STATUS_DRIVER_OK != 0 {
                self.interrupt_status |= INTERRUPT_CONFIG_CHANGE;
            }
        }
    }

    /// A guest read of `size` bytes at `offset` in the window.
    pub fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        if offset >= CONFIG {
            let bytes = Self::config_range(offset, size)?;
            let mut config = [0; CONFIG_SIZE as usize];
            config[..6].copy_from_slice(&self.mac);
            let status = if self.link_up { LINK_UP } else { 0 };
            config[6..].copy_from_slice(&status.to_le_bytes());
            let value =
                config[bytes].iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte));
            return Ok(value);
        }
        Self::check_register(offset, size)?;
        let queue = self.queues.get(self.queue_select as usize);
        let value = match offset {
            MAGIC_VALUE => MAGIC,
            VERSION_REGISTER => VERSION,
            DEVICE_ID_REGISTER => DEVICE_ID,
            VENDOR_ID_REGISTER => VENDOR_ID,
            DEVICE_FEATURES => match self.device_features_select {
                0 => OFFERED_FEATURES as u32,
                1 => (OFFERED_FEATURES >> 32) as u32,
                _ => 0,
            },
            QUEUE_SIZE_MAX => queue.map_or(0, |_| u32::from(queue::MAX_SIZE)),
            QUEUE_READY => queue.map_or(0, |queue| u32::from(queue.ready)),
            INTERRUPT_STATUS => self.interrupt_status,
            STATUS => self.status,
            CONFIG_GENERATION => self.config_generation,
            DEVICE_FEATURES_SELECT
            | DRIVER_FEATURES
            | DRIVER_FEATURES_SELECT
            | QUEUE_SELECT
            | QUEUE_SIZE
            | QUEUE_NOTIFY
            | INTERRUPT_ACKNOWLEDGE
            | QUEUE_DESCRIPTOR_LOW
            | QUEUE_DESCRIPTOR_HIGH
            | QUEUE_DRIVER_LOW
            | QUEUE_DRIVER_HIGH
            | QUEUE_DEVICE_LOW
            | QUEUE_DEVICE_HIGH => return Err(AccessError::WrongDirection),
            _ => return Err(AccessError::UnknownRegister),
        };
        Ok(u64::from(value))
    }

    /// A guest write of `value` (`size` bytes) at `offset` in the window.
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
    ) -> Result<Notification, AccessError> {
        if offset >= CONFIG {
            // Every field offered is read-only for the driver.
            Self::config_range(offset, size)?;
            return Err(AccessError::WrongDirection);
        }
        Self::check_register(offset, size)?;
        let value = value as u32;
        let features_open = self.status & STATUS_FEATURES_OK == 0;
        match offset {
            DEVICE_FEATURES_SELECT => self.device_features_select = value,
            DRIVER_FEATURES_SELECT => self.driver_features_select = value,
            DRIVER_FEATURES if features_open => match self.driver_features_select {
                0 => self.driver_features = self.driver_features & !0xffff_ffff | u64::from(value),
                1 => {
                    self.driver_features =
                        self.driver_features & 0xffff_ffff | u64::from(value) << 32;
                }
                _ => self.driver_features_beyond |= value != 0,
            },
            DRIVER_FEATURES => {}
            QUEUE_SELECT => self.queue_select = value,
            QUEUE_SIZE
            | QUEUE_READY
            | QUEUE_DESCRIPTOR_LOW
            | QUEUE_DESCRIPTOR_HIGH
            | QUEUE_DRIVER_LOW
            | QUEUE_DRIVER_HIGH
            | QUEUE_DEVICE_LOW
            | QUEUE_DEVICE_HIGH => {
                self.write_queue(offset, value);
            }
            QUEUE_NOTIFY => {
                return Ok(match value as usize {
                    RECEIVE_QUEUE => Notification::Receive,
                    TRANSMIT_QUEUE => Notification::Transmit,
                    _ => Notification::None,
                });
            }
            INTERRUPT_ACKNOWLEDGE => self.interrupt_status &= !value,
            STATUS if value == 0 => {
                self.reset();
                return Ok(Notification::Reset);
            }
            STATUS => self.write_status(value),
            MAGIC_VALUE | VERSION_REGISTER | DEVICE_ID_REGISTER | VENDOR_ID_REGISTER
            | DEVICE_FEATURES | QUEUE_SIZE_MAX | INTERRUPT_STATUS | CONFIG_GENERATION => {
                return Err(AccessError::WrongDirection);
            }
            _ => return Err(AccessError::UnknownRegister),
        }
        Ok(Notification::None)
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
        if !self.queue_running(TRANSMIT_QUEUE) {
            return counts;
        }
        match self.transmit_chains(memory, &mut sink, &mut counts) {
            Ok(()) if counts.sent + counts.dropped > 0 => self.signal_used(memory, TRANSMIT_QUEUE),
            Ok(()) => {}
            Err(fault) => self.fail(fault),
        }
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
        if !self.queue_running(RECEIVE_QUEUE) {
            return Received::Dropped(DropReason::NotRunning);
        }
        let mut header = [0; HEADER_SIZE];
        header[HEADER_SIZE - 2..].copy_from_slice(&1u16.to_le_bytes());
        match self.receive_packet(memory, &header, frame) {
            Ok(None) => Received::NoBuffer,
            Ok(Some(fitted)) => {
                self.signal_used(memory, RECEIVE_QUEUE);
                match (fitted, self.fault) {
                    (_, Some(_)) => Received::Dropped(DropReason::DeviceFault),
                    (true, None) => Received::Delivered,
                    (false, None) => Received::Dropped(DropReason::BufferTooSmall),
                }
            }
            Err(fault) => {
                self.fail(fault);
                Received::Dropped(DropReason::DeviceFault)
            }
        }
    }

    /// Takes transmit chains until the queue is empty or `sink` refuses one.
    fn transmit_chains(
        &mut self,
        memory: &impl GuestMemory,
        sink: &mut impl FnMut(&[u8]) -> bool,
        counts: &mut Transmitted,
    ) -> Result<(), Fault> {
        let queue = &mut self.queues[TRANSMIT_QUEUE];
        // Each chain overwrites the bytes it uses, so one buffer serves all.
        let mut packet = [0; PACKET_LIMIT];
        while let Some(head) = queue.peek(memory)? {
            let mut length = 0;
            queue.for_each_buffer(memory, head, |buffer| {
                if buffer.writable {
                    return Err(Fault::WritableDescriptor);
                }
                let end = length + buffer.length as usize;
                let part = packet.get_mut(length..end).ok_or(Fault::FrameTooLarge)?;
                if !part.is_empty() {
                    memory.read(buffer.address, part).map_err(|_| Fault::MemoryAccess)?;
                }
                length = end;
                Ok(())
            })?;
            let (header, frame) = packet[..length].split_at(length.min(HEADER_SIZE));
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
                break;
            }
            queue.complete(memory, head, 0)?;
        }
        Ok(())
    }

    /// Scatters the packet `header` then `frame` over the next receive chain,
    /// straight from both (no copy of the packet is made first). `None` when
    /// no chain is available, otherwise whether the packet fitted; a chain too
    /// small is returned to the driver with length zero.
    fn receive_packet(
        &mut self,
        memory: &impl GuestMemory,
        header: &[u8],
        frame: &[u8],
    ) -> Result<Option<bool>, Fault> {
        let queue = &mut self.queues[RECEIVE_QUEUE];
        let Some(head) = queue.peek(memory)? else {
            return Ok(None);
        };
        let length = header.len() + frame.len();
        let mut written = 0;
        queue.for_each_buffer(memory, head, |buffer| {
            if !buffer.writable {
                return Err(Fault::ReadableDescriptor);
            }
            let mut address = buffer.address;
            let mut room = buffer.length as usize;
            // The part of the header, then of the frame, that this buffer takes.
            for (part, start) in [(header, 0), (frame, header.len())] {
                let rest = part.get(written.max(start) - start..).unwrap_or_default();
                let piece = &rest[..rest.len().min(room)];
                if !piece.is_empty() {
                    memory.write(address, piece).map_err(|_| Fault::MemoryAccess)?;
                    address = address.wrapping_add(piece.len() as u64);
                    room -= piece.len();
                    written += piece.len();
                }
            }
            Ok(())
        })?;
        let fitted = written == length;
        queue.complete(memory, head, if fitted { written as u32 } else { 0 })?;
        Ok(Some(fitted))
    }

    /// Raises the used-buffer interrupt unless queue `index`'s driver
    /// suppressed it.
    fn signal_used(&mut self, memory: &impl GuestMemory, index: usize) {
        match self.queues[index].wants_interrupt(memory) {
            Ok(true) => self.interrupt_status |= INTERRUPT_USED_BUFFER,
            Ok(false) => {}
            Err(fault) => self.fail(fault),
        }
    }

    /// Enters `DEVICE_NEEDS_RESET` and tells a running driver so (section 2.1.2).
    fn fail(&mut self, fault: Fault) {
        self.fault.get_or_insert(fault);
        self.status |= STATUS_NEEDS_RESET;
        if self.status & STATUS_DRIVER_OK != 0 {
            self.interrupt_status |= INTERRUPT_CONFIG_CHANGE;
        }
    }

    /// Back to the reset state; the MAC address, the link state and the
    /// configuration generation belong to the device and stay.
    fn reset(&mut self) {
        *self = Self {
            link_up: self.link_up,
            config_generation: self.config_generation,
            ..Self::new(self.mac)
        };
    }

    /// Whether the device runs and queue `index` is enabled.
    fn queue_running(&self, index: usize) -> bool {
        self.is_running() && self.queues[index].ready
    }

    /// A status write other than zero: the driver sets bits, never clears
    /// them; `FEATURES_OK` stays clear unless the accepted features are a
    /// subset of those offered and include `VIRTIO_F_VERSION_1`.
    fn write_status(&mut self, value: u32) {
        let old = self.status;
        let mut new = old | value & STATUS_DRIVER_BITS;
        let features_acceptable = self.driver_features & !OFFERED_FEATURES == 0
            && self.driver_features & FEATURE_VERSION_1 != 0
            && !self.driver_features_beyond;
        if old & STATUS_FEATURES_OK == 0 && !features_acceptable {
            new &= !STATUS_FEATURES_OK;
        }
        self.status = new;
        // A fault found before the driver was up is announced once it is.
        if old & STATUS_DRIVER_OK == 0 && new & STATUS_DRIVER_OK != 0 && self.fault.is_some() {
            self.interrupt_status |= INTERRUPT_CONFIG_CHANGE;
        }
    }

    /// A write to one of the selected queue's registers. Writes to a queue
    /// that does not exist, and layout writes while the queue is ready (which
    /// the driver must not make), are ignored.
    fn write_queue(&mut self, offset: u64, value: u32) {
        let Some(queue) = self.queues.get_mut(self.queue_select as usize) else {
            return;
        };
        if offset == QUEUE_READY {
            if value == 0 {
                queue.ready = false;
            } else if queue.layout_valid() {
                queue.enable();
            } else {
                self.fail(Fault::QueueLayout);
            }
            return;
        }
        if queue.ready {
            return;
        }
        let low = |field: &mut u64| *field = *field & !0xffff_ffff | u64::from(value);
        let high = |field: &mut u64| *field = *field & 0xffff_ffff | u64::from(value) << 32;
        match offset {
            QUEUE_SIZE => queue.size = value.min(u32::from(u16::MAX)) as u16,
            QUEUE_DESCRIPTOR_LOW => low(&mut queue.descriptor_table),
            QUEUE_DESCRIPTOR_HIGH => high(&mut queue.descriptor_table),
            QUEUE_DRIVER_LOW => low(&mut queue.driver_area),
            QUEUE_DRIVER_HIGH => high(&mut queue.driver_area),
            QUEUE_DEVICE_LOW => low(&mut queue.device_area),
            _ => high(&mut queue.device_area),
        }
    }

    /// Registers take aligned 32-bit accesses only.
    fn check_register(offset: u64, size: u8) -> Result<(), AccessError> {
        if size == 4 && offset.is_multiple_of(4) {
            Ok(())
        } else {
            Err(AccessError::BadSize)
        }
    }

    /// The configuration bytes an aligned 8-, 16- or 32-bit access at
    /// `offset` (at or past [`CONFIG`]) covers.
    fn config_range(offset: u64, size: u8) -> Result<core::ops::Range<usize>, AccessError> {
        if offset >= WINDOW_SIZE {
            return Err(AccessError::UnknownRegister);
        }
        if !matches!(size, 1 | 2 | 4) || !offset.is_multiple_of(u64::from(size)) {
            return Err(AccessError::BadSize);
        }
        let start = offset - CONFIG;
        if start + u64::from(size) > CONFIG_SIZE {
            return Err(AccessError::UnknownRegister);
        }
        Ok(start as usize..(start + u64::from(size)) as usize)
    }
}
