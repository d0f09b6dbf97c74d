//! Tests of the virtio-mmio devices, driven by a small driver that sets a
//! device up and fills its queues the way Linux's `virtio_mmio` driver and
//! the device's own driver do. The transport is tested through the network
//! card (`net`); `vsock` tests what the socket device adds.

mod net;
mod vsock;

use super::*;
use std::cell::RefCell;
use std::ops::Range;

/// Guest-physical address of the fake guest memory.
const BASE: u64 = 0x4000_0000;
/// Size of the fake guest memory.
const MEMORY_SIZE: usize = 0x40_0000;
/// The first address past the fake guest memory.
const OUTSIDE: u64 = BASE + MEMORY_SIZE as u64;
const DESCRIPTOR_NEXT: u16 = 1;
const DESCRIPTOR_WRITE: u16 = 2;
const DESCRIPTOR_INDIRECT: u16 = 4;
/// Space for each buffer the driver posts: a socket packet of 4 KiB payload fits.
const BUFFER_STRIDE: u64 = 0x1100;

/// Guest memory as a vector at [`BASE`].
struct TestMemory {
    bytes: RefCell<Vec<u8>>,
}

impl TestMemory {
    fn new() -> Self {
        Self { bytes: RefCell::new(vec![0; MEMORY_SIZE]) }
    }

    fn range(address: u64, length: usize) -> Result<Range<usize>, MemoryError> {
        let start = address.checked_sub(BASE).ok_or(MemoryError::OutOfRange)? as usize;
        match start.checked_add(length) {
            Some(end) if end <= MEMORY_SIZE => Ok(start..end),
            _ => Err(MemoryError::OutOfRange),
        }
    }

    fn peek(&self, address: u64, length: usize) -> Vec<u8> {
        self.bytes.borrow()[Self::range(address, length).unwrap()].to_vec()
    }

    fn poke(&self, address: u64, bytes: &[u8]) {
        self.bytes.borrow_mut()[Self::range(address, bytes.len()).unwrap()].copy_from_slice(bytes);
    }

    fn peek_u16(&self, address: u64) -> u16 {
        u16::from_le_bytes(self.peek(address, 2).try_into().unwrap())
    }

    fn peek_u32(&self, address: u64) -> u32 {
        u32::from_le_bytes(self.peek(address, 4).try_into().unwrap())
    }
}

impl GuestMemory for TestMemory {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        buffer.copy_from_slice(&self.bytes.borrow()[Self::range(address, buffer.len())?]);
        Ok(())
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.bytes.borrow_mut()[Self::range(address, bytes.len())?].copy_from_slice(bytes);
        Ok(())
    }
}

/// The descriptor table, available ring and used ring of queue `queue`.
fn queue_areas(queue: usize) -> (u64, u64, u64) {
    let area = BASE + queue as u64 * 0x1_0000;
    (area, area + 0x1000, area + 0x2000)
}

/// Where the driver keeps the buffer of descriptor `index` of queue `queue`.
fn buffer_address(queue: usize, index: u16) -> u64 {
    BASE + 0x4_0000 + queue as u64 * 0x12_0000 + u64::from(index) * BUFFER_STRIDE
}

/// Bytes of `length` whose content depends on `seed`.
fn frame(length: usize, seed: u8) -> Vec<u8> {
    (0..length).map(|index| (index as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

/// Index of the receive queue of both devices.
const RECEIVE_QUEUE: usize = 0;
/// Index of the transmit queue of both devices.
const TRANSMIT_QUEUE: usize = 1;

/// A device as its driver reaches it.
trait Model {
    /// Its `DeviceID`.
    const DEVICE_ID: u32;
    /// The features it offers.
    const OFFERED: u64;
    /// The features Linux's driver accepts of them.
    const ACCEPTED: u64;
    /// Its number of queues.
    const QUEUES: usize;
    fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError>;
    fn write(&mut self, offset: u64, size: u8, value: u64) -> Result<Notification, AccessError>;
    fn is_running(&self) -> bool;
}

impl Model for NetDevice {
    const DEVICE_ID: u32 = crate::virtio::net::DEVICE_ID;
    const OFFERED: u64 = crate::virtio::net::OFFERED_FEATURES;
    const ACCEPTED: u64 = crate::virtio::net::OFFERED_FEATURES;
    const QUEUES: usize = crate::virtio::net::QUEUE_COUNT;
    fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        NetDevice::read(self, offset, size)
    }
    fn write(&mut self, offset: u64, size: u8, value: u64) -> Result<Notification, AccessError> {
        NetDevice::write(self, offset, size, value)
    }
    fn is_running(&self) -> bool {
        NetDevice::is_running(self)
    }
}

impl Model for VsockDevice {
    const DEVICE_ID: u32 = crate::virtio::vsock::DEVICE_ID;
    const OFFERED: u64 = crate::virtio::vsock::OFFERED_FEATURES;
    const ACCEPTED: u64 = crate::virtio::vsock::OFFERED_FEATURES;
    const QUEUES: usize = crate::virtio::vsock::QUEUE_COUNT;
    fn read(&self, offset: u64, size: u8) -> Result<u64, AccessError> {
        VsockDevice::read(self, offset, size)
    }
    fn write(&mut self, offset: u64, size: u8, value: u64) -> Result<Notification, AccessError> {
        VsockDevice::write(self, offset, size, value)
    }
    fn is_running(&self) -> bool {
        VsockDevice::is_running(self)
    }
}

/// The driver's side of a device: its registers, rings and buffers.
struct Driver<D: Model> {
    device: D,
    memory: TestMemory,
    size: u16,
    next_descriptor: Vec<u16>,
    available_index: Vec<u16>,
    used_seen: Vec<u16>,
}

impl<D: Model> Driver<D> {
    fn with(device: D) -> Self {
        Self {
            device,
            memory: TestMemory::new(),
            size: 0,
            next_descriptor: vec![0; D::QUEUES],
            available_index: vec![0; D::QUEUES],
            used_seen: vec![0; D::QUEUES],
        }
    }

    /// A driver for `device` that negotiated like Linux and set every queue
    /// up with `size` entries.
    fn started(device: D, size: u16) -> Self {
        let mut driver = Self::with(device);
        driver.restart(size);
        driver
    }

    fn write(&mut self, offset: u64, value: u32) -> Notification {
        self.device.write(offset, 4, u64::from(value)).expect("register write")
    }

    fn read(&self, offset: u64) -> u32 {
        self.device.read(offset, 4).expect("register read") as u32
    }

    fn add_status(&mut self, bits: u32) {
        let status = self.read(STATUS);
        self.write(STATUS, status | bits);
    }

    /// Linux's probe up to `FEATURES_OK`: whether the device accepted `features`.
    fn negotiate(&mut self, features: u64) -> bool {
        assert_eq!(self.read(MAGIC_VALUE), MAGIC);
        assert_eq!(self.read(VERSION_REGISTER), 2);
        assert_eq!(self.read(DEVICE_ID_REGISTER), D::DEVICE_ID);
        assert_eq!(self.write(STATUS, 0), Notification::Reset);
        self.add_status(STATUS_ACKNOWLEDGE);
        self.add_status(STATUS_DRIVER);
        self.write(DEVICE_FEATURES_SELECT, 1);
        let high = self.read(DEVICE_FEATURES);
        self.write(DEVICE_FEATURES_SELECT, 0);
        let low = self.read(DEVICE_FEATURES);
        assert_eq!(u64::from(high) << 32 | u64::from(low), D::OFFERED);
        self.write(DRIVER_FEATURES_SELECT, 1);
        self.write(DRIVER_FEATURES, (features >> 32) as u32);
        self.write(DRIVER_FEATURES_SELECT, 0);
        self.write(DRIVER_FEATURES, features as u32);
        self.add_status(STATUS_FEATURES_OK);
        self.read(STATUS) & STATUS_FEATURES_OK != 0
    }

    /// Linux's `vm_setup_vq`.
    fn setup_queue(&mut self, queue: usize, size: u16) {
        let (descriptors, available, used) = queue_areas(queue);
        self.write(QUEUE_SELECT, queue as u32);
        assert_eq!(self.read(QUEUE_READY), 0);
        assert_eq!(self.read(QUEUE_SIZE_MAX), 256);
        self.write(QUEUE_SIZE, u32::from(size));
        for (low, address) in [
            (QUEUE_DESCRIPTOR_LOW, descriptors),
            (QUEUE_DRIVER_LOW, available),
            (QUEUE_DEVICE_LOW, used),
        ] {
            self.write(low, address as u32);
            self.write(low + 4, (address >> 32) as u32);
        }
        self.write(QUEUE_READY, 1);
    }

    /// Resets the device, clears the rings and sets everything up again.
    fn restart(&mut self, size: u16) {
        for queue in 0..D::QUEUES {
            let (descriptors, ..) = queue_areas(queue);
            self.memory.poke(descriptors, &[0; 0x3000]);
        }
        self.size = size;
        self.next_descriptor = vec![0; D::QUEUES];
        self.available_index = vec![0; D::QUEUES];
        self.used_seen = vec![0; D::QUEUES];
        assert!(self.negotiate(D::ACCEPTED));
        for queue in 0..D::QUEUES {
            self.setup_queue(queue, size);
        }
        self.add_status(STATUS_DRIVER_OK);
        assert!(self.device.is_running());
    }

    fn descriptor(
        &self,
        queue: usize,
        index: u16,
        address: u64,
        length: u32,
        flags: u16,
        next: u16,
    ) {
        let mut raw = Vec::with_capacity(16);
        raw.extend_from_slice(&address.to_le_bytes());
        raw.extend_from_slice(&length.to_le_bytes());
        raw.extend_from_slice(&flags.to_le_bytes());
        raw.extend_from_slice(&next.to_le_bytes());
        self.memory.poke(queue_areas(queue).0 + u64::from(index) * 16, &raw);
    }

    /// Puts chain `head` into the available ring.
    fn publish(&mut self, queue: usize, head: u16) {
        let (_, available, _) = queue_areas(queue);
        let slot = u64::from(self.available_index[queue] % self.size);
        self.memory.poke(available + 4 + 2 * slot, &head.to_le_bytes());
        self.available_index[queue] = self.available_index[queue].wrapping_add(1);
        self.memory.poke(available + 2, &self.available_index[queue].to_le_bytes());
    }

    /// Publishes a chain of the single descriptor 0 of `queue`.
    fn publish_single(&mut self, queue: usize, address: u64, length: u32, flags: u16) {
        self.descriptor(queue, 0, address, length, flags, 0);
        self.publish(queue, 0);
    }

    fn allocate(&mut self, queue: usize, count: usize) -> Vec<u16> {
        (0..count)
            .map(|_| {
                let index = self.next_descriptor[queue] % self.size;
                self.next_descriptor[queue] = self.next_descriptor[queue].wrapping_add(1);
                index
            })
            .collect()
    }

    /// Writes a chain of descriptors over the buffers of `indices`.
    fn chain(&self, queue: usize, indices: &[u16], lengths: &[u32], flags: u16) {
        for (position, (&index, &length)) in indices.iter().zip(lengths).enumerate() {
            let next = indices.get(position + 1);
            let flags = flags | if next.is_some() { DESCRIPTOR_NEXT } else { 0 };
            let address = buffer_address(queue, index);
            self.descriptor(queue, index, address, length, flags, next.copied().unwrap_or(0));
        }
    }

    /// Posts one receive buffer made of writable descriptors of `lengths` bytes.
    fn post_receive(&mut self, lengths: &[u32]) -> u16 {
        let indices = self.allocate(RECEIVE_QUEUE, lengths.len());
        self.chain(RECEIVE_QUEUE, &indices, lengths, DESCRIPTOR_WRITE);
        self.publish(RECEIVE_QUEUE, indices[0]);
        indices[0]
    }

    /// Queues one packet made of readable descriptors holding `parts`.
    fn queue_transmit(&mut self, parts: &[&[u8]]) -> u16 {
        let indices = self.allocate(TRANSMIT_QUEUE, parts.len());
        for (&index, part) in indices.iter().zip(parts) {
            self.memory.poke(buffer_address(TRANSMIT_QUEUE, index), part);
        }
        let lengths: Vec<u32> = parts.iter().map(|part| part.len() as u32).collect();
        self.chain(TRANSMIT_QUEUE, &indices, &lengths, 0);
        self.publish(TRANSMIT_QUEUE, indices[0]);
        indices[0]
    }

    /// Used ring entries (`id`, `len`) not seen before.
    fn used(&mut self, queue: usize) -> Vec<(u32, u32)> {
        let (_, _, used) = queue_areas(queue);
        let index = self.memory.peek_u16(used + 2);
        let mut entries = Vec::new();
        while self.used_seen[queue] != index {
            let element = used + 4 + 8 * u64::from(self.used_seen[queue] % self.size);
            entries.push((self.memory.peek_u32(element), self.memory.peek_u32(element + 4)));
            self.used_seen[queue] = self.used_seen[queue].wrapping_add(1);
        }
        entries
    }

    fn set_no_interrupt(&self, queue: usize, suppressed: bool) {
        self.memory.poke(queue_areas(queue).1, &u16::from(suppressed).to_le_bytes());
    }

    /// Acknowledges every pending interrupt, as Linux's `vm_interrupt` does.
    fn acknowledge(&mut self) -> u32 {
        let status = self.read(INTERRUPT_STATUS);
        self.write(INTERRUPT_ACKNOWLEDGE, status);
        status
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, limit: u64) -> u64 {
        self.next() % limit
    }
}

/// A value a register write might carry: often small, often near guest memory.
fn random_value(random: &mut Random) -> u64 {
    match random.below(4) {
        0 => random.below(4),
        1 => random.below(512),
        2 => BASE + random.below(MEMORY_SIZE as u64 + 0x1000),
        _ => random.next(),
    }
}
