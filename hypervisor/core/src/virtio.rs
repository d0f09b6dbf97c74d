//! Emulated virtio-mmio devices, as the Linux guest sees them through trapped
//! MMIO: the transport and virtqueues shared by every device, and the devices.
//!
//! Modelled on the virtio 1.2 specification: the virtio-mmio transport,
//! version 2 (section 4.2), and split virtqueues (section 2.7). Linux's
//! `virtio_mmio` driver is the client. [`Transport`] holds what every device
//! has (status, feature negotiation, the virtqueues, the interrupt status);
//! each device adds its configuration space and its packets:
//!
//! - [`net::NetDevice`]: a network card (section 5.1), driven by `virtio_net`.
//! - [`vsock::VsockDevice`]: a socket device (section 5.10), driven by
//!   `vmw_vsock_virtio_transport`.
//!
//! The hypervisor replays the guest's accesses to the [`WINDOW_SIZE`]-byte
//! window through the device's `read` and `write`, moves packets with its own
//! methods, and drives a level interrupt with `interrupt_asserted`. Guest
//! memory is reached only through [`GuestMemory`], so the hypervisor checks
//! every access against the VM's stage-2 tables. A driver that hands a device
//! something invalid (see [`Fault`]) puts it into `DEVICE_NEEDS_RESET`: the
//! device stops until the driver resets it, and no input from the guest makes
//! it panic.

pub mod net;
mod queue;
#[cfg(test)]
mod tests;
pub mod vsock;

pub use net::{NetDevice, HEADER_SIZE, MAX_FRAME, MIN_FRAME};
use queue::Queue;
pub use vsock::VsockDevice;

/// Size of the MMIO window: the registers and the configuration space.
pub const WINDOW_SIZE: u64 = 0x200;
/// `VendorID`: "ELOS" in little-endian byte order.
pub const VENDOR_ID: u32 = 0x534f_4c45;

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

/// Feature bit `VIRTIO_F_VERSION_1` (section 6), which every device offers
/// and every driver must accept.
pub const FEATURE_VERSION_1: u64 = 1 << 32;

/// `InterruptStatus` bit: a used buffer notification.
const INTERRUPT_USED_BUFFER: u32 = 1;
/// `InterruptStatus` bit: a configuration change notification.
const INTERRUPT_CONFIG_CHANGE: u32 = 2;

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
    /// The driver notified the queue of this index (one the device has):
    /// new buffers to take or to fill.
    Queue(usize),
    /// The driver reset the device: anything queued for it is stale.
    Reset,
}

/// What one `transmit` call of a device did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transmitted {
    /// Packets handed to the sink.
    pub sent: u32,
    /// Chains returned to the driver without a packet being sent, because
    /// the device takes no such packet: for the network card a header
    /// shorter than 12 bytes, a header asking for checksum or segmentation
    /// offload (not negotiated), or a frame shorter than [`MIN_FRAME`]; for
    /// the socket device a packet shorter than its header, longer than
    /// [`vsock::MAX_PAYLOAD`] bytes of payload, or whose `len` disagrees
    /// with what the driver queued.
    pub dropped: u32,
}

/// What became of a packet offered to a device's `receive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The packet is in a receive buffer of the driver.
    Delivered,
    /// No receive buffer is posted: the packet was not taken; offer it again
    /// after the driver notifies the receive queue.
    NoBuffer,
    /// The packet is gone.
    Dropped(DropReason),
}

/// Why a device dropped a packet offered to its `receive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Longer than the device carries.
    TooLarge,
    /// Shorter than the device carries.
    TooShort,
    /// Its header gives another length than it has (the socket device).
    LengthMismatch,
    /// The driver is not running or the queue is not ready.
    NotRunning,
    /// The receive buffer is smaller than the packet; it was returned to the
    /// driver with length zero.
    BufferTooSmall,
    /// The receive buffer was invalid; the device now needs a reset.
    DeviceFault,
}

impl From<Filled> for Received {
    fn from(filled: Filled) -> Self {
        match filled {
            Filled::Delivered => Self::Delivered,
            Filled::NoBuffer => Self::NoBuffer,
            Filled::NotRunning => Self::Dropped(DropReason::NotRunning),
            Filled::TooSmall => Self::Dropped(DropReason::BufferTooSmall),
            Filled::Fault => Self::Dropped(DropReason::DeviceFault),
        }
    }
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
    /// A device-writable buffer in a chain the device must read.
    WritableDescriptor,
    /// A network transmit chain longer than the header and [`MAX_FRAME`] bytes.
    FrameTooLarge,
    /// A ring or buffer outside the memory [`GuestMemory`] allows.
    MemoryAccess,
}

/// The virtio-mmio transport of a device with `QUEUES` virtqueues: its
/// registers but the configuration space, which the device supplies.
#[derive(Clone, Debug)]
pub struct Transport<const QUEUES: usize> {
    device_id: u32,
    offered_features: u64,
    status: u32,
    device_features_select: u32,
    driver_features_select: u32,
    driver_features: u64,
    /// The driver accepted a feature beyond bit 63, none of which is offered.
    driver_features_beyond: bool,
    queue_select: u32,
    queues: [Queue; QUEUES],
    interrupt_status: u32,
    config_generation: u32,
    fault: Option<Fault>,
}

impl<const QUEUES: usize> Transport<QUEUES> {
    /// The transport of a device of type `device_id` offering
    /// `offered_features` (which must include [`FEATURE_VERSION_1`]), in its
    /// reset state.
    pub const fn new(device_id: u32, offered_features: u64) -> Self {
        Self {
            device_id,
            offered_features,
            status: 0,
            device_features_select: 0,
            driver_features_select: 0,
            driver_features: 0,
            driver_features_beyond: false,
            queue_select: 0,
            queues: [const { Queue::new() }; QUEUES],
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

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The configuration space changed: bumps `ConfigGeneration` and, once
    /// the driver is up, raises a configuration change interrupt.
    pub fn config_changed(&mut self) {
        self.config_generation = self.config_generation.wrapping_add(1);
        if self.status & STATUS_DRIVER_OK != 0 {
            self.interrupt_status |= INTERRUPT_CONFIG_CHANGE;
        }
    }

    /// A guest read of `size` bytes at `offset` in the window; `config` is
    /// the device's configuration space.
    pub fn read(&self, offset: u64, size: u8, config: &[u8]) -> Result<u64, AccessError> {
        if offset >= CONFIG {
            let bytes = config_range(offset, size, config.len())?;
            let value =
                config[bytes].iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte));
            return Ok(value);
        }
        check_register(offset, size)?;
        let queue = self.queues.get(self.queue_select as usize);
        let value = match offset {
            MAGIC_VALUE => MAGIC,
            VERSION_REGISTER => VERSION,
            DEVICE_ID_REGISTER => self.device_id,
            VENDOR_ID_REGISTER => VENDOR_ID,
            DEVICE_FEATURES => match self.device_features_select {
                0 => self.offered_features as u32,
                1 => (self.offered_features >> 32) as u32,
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

    /// A guest write of `value` (`size` bytes) at `offset` in the window. The
    /// configuration space (`config_size` bytes) is read-only. A write of
    /// zero to `Status` resets the transport; the device resets its own
    /// state on [`Notification::Reset`].
    pub fn write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
        config_size: usize,
    ) -> Result<Notification, AccessError> {
        if offset >= CONFIG {
            config_range(offset, size, config_size)?;
            return Err(AccessError::WrongDirection);
        }
        check_register(offset, size)?;
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
                let index = value as usize;
                return Ok(if index < QUEUES {
                    Notification::Queue(index)
                } else {
                    Notification::None
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

    /// Whether the device runs and queue `index` is enabled.
    fn queue_running(&self, index: usize) -> bool {
        self.is_running() && self.queues.get(index).is_some_and(|queue| queue.ready)
    }

    /// Takes the device-readable chains of queue `index` while there are
    /// some: copies each into `packet` and calls `take` with its bytes
    /// (`None` when the chain holds more than `packet`). `take` answers
    /// whether the chain is done; one that is not stays in the queue for the
    /// next call, which ends this one. Returns how many chains were done and
    /// raises the used-buffer interrupt for them unless the driver
    /// suppressed it.
    fn take_chains(
        &mut self,
        memory: &impl GuestMemory,
        index: usize,
        packet: &mut [u8],
        mut take: impl FnMut(Option<&[u8]>) -> Result<bool, Fault>,
    ) -> u32 {
        if !self.queue_running(index) {
            return 0;
        }
        let mut done = 0;
        let result = (|| {
            let queue = &mut self.queues[index];
            while let Some(head) = queue.peek(memory)? {
                let length = queue.gather(memory, head, packet)?;
                if !take(length.map(|length| &packet[..length]))? {
                    break;
                }
                queue.complete(memory, head, 0)?;
                done += 1;
            }
            Ok(())
        })();
        match result {
            Ok(()) if done > 0 => self.signal_used(memory, index),
            Ok(()) => {}
            Err(fault) => self.fail(fault),
        }
        done
    }

    /// Puts `parts`, one after the other, into the next device-writable
    /// chain of queue `index`, straight from them (no copy of the packet is
    /// made first).
    fn fill_chain(&mut self, memory: &impl GuestMemory, index: usize, parts: &[&[u8]]) -> Filled {
        if !self.queue_running(index) {
            return Filled::NotRunning;
        }
        let queue = &mut self.queues[index];
        let result = (|| {
            let Some(head) = queue.peek(memory)? else { return Ok(None) };
            let length: usize = parts.iter().map(|part| part.len()).sum();
            let written = queue.scatter(memory, head, parts)?;
            let fitted = written == length;
            queue.complete(memory, head, if fitted { written as u32 } else { 0 })?;
            Ok(Some(fitted))
        })();
        match result {
            Ok(None) => Filled::NoBuffer,
            Ok(Some(fitted)) => {
                self.signal_used(memory, index);
                match (fitted, self.fault) {
                    (_, Some(_)) => Filled::Fault,
                    (true, None) => Filled::Delivered,
                    (false, None) => Filled::TooSmall,
                }
            }
            Err(fault) => {
                self.fail(fault);
                Filled::Fault
            }
        }
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

    /// Back to the reset state; the device's identity and the configuration
    /// generation stay.
    fn reset(&mut self) {
        *self = Self {
            config_generation: self.config_generation,
            ..Self::new(self.device_id, self.offered_features)
        };
    }

    /// A status write other than zero: the driver sets bits, never clears
    /// them; `FEATURES_OK` stays clear unless the accepted features are a
    /// subset of those offered and include `VIRTIO_F_VERSION_1`.
    fn write_status(&mut self, value: u32) {
        let old = self.status;
        let mut new = old | value & STATUS_DRIVER_BITS;
        let features_acceptable = self.driver_features & !self.offered_features == 0
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
}

/// What became of a packet [`Transport::fill_chain`] was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filled {
    /// It is in a buffer of the driver.
    Delivered,
    /// The driver has posted no buffer; nothing was done.
    NoBuffer,
    /// The device is not running or the queue is not ready.
    NotRunning,
    /// The buffer was too small; it went back to the driver with length zero.
    TooSmall,
    /// The buffer was invalid; the device now needs a reset.
    Fault,
}

/// Registers take aligned 32-bit accesses only.
fn check_register(offset: u64, size: u8) -> Result<(), AccessError> {
    if size == 4 && offset.is_multiple_of(4) {
        Ok(())
    } else {
        Err(AccessError::BadSize)
    }
}

/// The configuration bytes an aligned 8-, 16- or 32-bit access at `offset`
/// (at or past [`CONFIG`]) covers, in a space of `config_size` bytes.
fn config_range(
    offset: u64,
    size: u8,
    config_size: usize,
) -> Result<core::ops::Range<usize>, AccessError> {
    if offset >= WINDOW_SIZE {
        return Err(AccessError::UnknownRegister);
    }
    if !matches!(size, 1 | 2 | 4) || !offset.is_multiple_of(u64::from(size)) {
        return Err(AccessError::BadSize);
    }
    let start = offset - CONFIG;
    if start + u64::from(size) > config_size as u64 {
        return Err(AccessError::UnknownRegister);
    }
    Ok(start as usize..(start + u64::from(size)) as usize)
}
