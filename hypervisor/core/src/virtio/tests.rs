//! Tests of the virtio-mmio network device, driven by a small driver that
//! sets the device up and fills its queues the way Linux's `virtio_mmio` and
//! `virtio_net` drivers do.

use super::*;
use std::cell::RefCell;
use std::ops::Range;

/// Guest-physical address of the fake guest memory.
const BASE: u64 = 0x4000_0000;
/// Size of the fake guest memory.
const MEMORY_SIZE: usize = 0x20_0000;
/// The first address past the fake guest memory.
const OUTSIDE: u64 = BASE + MEMORY_SIZE as u64;
const MAC: [u8; 6] = [0x02, 0x45, 0x4c, 0x4f, 0x53, 0x01];
const DESCRIPTOR_NEXT: u16 = 1;
const DESCRIPTOR_WRITE: u16 = 2;
const DESCRIPTOR_INDIRECT: u16 = 4;
/// Space for each buffer the driver posts.
const BUFFER_STRIDE: u64 = 0x800;

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
    BASE + 0x4_0000 + queue as u64 * 0x8_0000 + u64::from(index) * BUFFER_STRIDE
}

/// A frame of `length` bytes whose content depends on `seed`.
fn frame(length: usize, seed: u8) -> Vec<u8> {
    (0..length).map(|index| (index as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

/// A transmit header with `flags` and `gso_type`, the other fields zero.
fn header(flags: u8, gso_type: u8) -> [u8; HEADER_SIZE] {
    let mut header = [0; HEADER_SIZE];
    header[0] = flags;
    header[1] = gso_type;
    header
}

/// The driver's side of the device: its registers, rings and buffers.
struct Driver {
    device: NetDevice,
    memory: TestMemory,
    size: u16,
    next_descriptor: [u16; QUEUE_COUNT],
    available_index: [u16; QUEUE_COUNT],
    used_seen: [u16; QUEUE_COUNT],
}

impl Driver {
    fn new() -> Self {
        Self {
            device: NetDevice::new(MAC),
            memory: TestMemory::new(),
            size: 0,
            next_descriptor: [0; QUEUE_COUNT],
            available_index: [0; QUEUE_COUNT],
            used_seen: [0; QUEUE_COUNT],
        }
    }

    /// A driver that negotiated like Linux and set both queues up with `size` entries.
    fn start_with(size: u16) -> Self {
        let mut driver = Self::new();
        driver.restart(size);
        driver
    }

    fn start() -> Self {
        Self::start_with(256)
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
        assert_eq!(self.read(DEVICE_ID_REGISTER), DEVICE_ID);
        assert_eq!(self.write(STATUS, 0), Notification::Reset);
        self.add_status(STATUS_ACKNOWLEDGE);
        self.add_status(STATUS_DRIVER);
        self.write(DEVICE_FEATURES_SELECT, 1);
        let high = self.read(DEVICE_FEATURES);
        self.write(DEVICE_FEATURES_SELECT, 0);
        let low = self.read(DEVICE_FEATURES);
        assert_eq!(u64::from(high) << 32 | u64::from(low), OFFERED_FEATURES);
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
        for queue in 0..QUEUE_COUNT {
            let (descriptors, ..) = queue_areas(queue);
            self.memory.poke(descriptors, &[0; 0x3000]);
        }
        self.size = size;
        self.next_descriptor = [0; QUEUE_COUNT];
        self.available_index = [0; QUEUE_COUNT];
        self.used_seen = [0; QUEUE_COUNT];
        assert!(self.negotiate(FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS));
        self.setup_queue(RECEIVE_QUEUE, size);
        self.setup_queue(TRANSMIT_QUEUE, size);
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

    /// Frames the device hands to an accepting sink.
    fn transmit_all(&mut self) -> (Transmitted, Vec<Vec<u8>>) {
        let mut frames = Vec::new();
        let counts = self.device.transmit(&self.memory, |frame| {
            frames.push(frame.to_vec());
            true
        });
        (counts, frames)
    }

    fn receive(&mut self, frame: &[u8]) -> Received {
        self.device.receive(&self.memory, frame)
    }

    /// Acknowledges every pending interrupt, as Linux's `vm_interrupt` does.
    fn acknowledge(&mut self) -> u32 {
        let status = self.read(INTERRUPT_STATUS);
        self.write(INTERRUPT_ACKNOWLEDGE, status);
        status
    }
}

#[test]
fn identifies_as_a_modern_virtio_network_card() {
    let driver = Driver::new();
    assert_eq!(driver.read(MAGIC_VALUE), 0x7472_6976);
    assert_eq!(driver.read(VERSION_REGISTER), 2);
    assert_eq!(driver.read(DEVICE_ID_REGISTER), 1);
    assert_eq!(driver.read(VENDOR_ID_REGISTER), u32::from_le_bytes(*b"ELOS"));
    assert_eq!(driver.read(QUEUE_SIZE_MAX), 256);
    assert_eq!(driver.read(STATUS), 0);
    let mac: Vec<u8> =
        (0..6).map(|index| driver.device.read(CONFIG + index, 1).unwrap() as u8).collect();
    assert_eq!(mac, MAC);
    assert_eq!(driver.device.read(CONFIG + 6, 2), Ok(u64::from(LINK_UP)));
    assert_eq!(driver.device.read(CONFIG + 4, 4), Ok(0x0001_0153));
    assert_eq!(driver.device.read(CONFIG, 4), Ok(0x4f4c_4502));
}

#[test]
fn offers_exactly_version_1_mac_and_status() {
    let mut driver = Driver::new();
    driver.write(DEVICE_FEATURES_SELECT, 0);
    assert_eq!(driver.read(DEVICE_FEATURES), 1 << 5 | 1 << 16);
    driver.write(DEVICE_FEATURES_SELECT, 1);
    assert_eq!(driver.read(DEVICE_FEATURES), 1);
    driver.write(DEVICE_FEATURES_SELECT, 2);
    assert_eq!(driver.read(DEVICE_FEATURES), 0);
}

#[test]
fn negotiation_accepts_subsets_with_version_1_only() {
    let mut driver = Driver::new();
    assert!(driver.negotiate(FEATURE_VERSION_1));
    assert!(driver.negotiate(FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS));
    assert!(!driver.negotiate(FEATURE_MAC | FEATURE_STATUS), "VERSION_1 is required");
    assert!(!driver.negotiate(FEATURE_VERSION_1 | 1), "checksum offload is not offered");
    assert!(!driver.negotiate(FEATURE_VERSION_1 | 1 << 15), "merged buffers are not offered");
    assert!(!driver.negotiate(FEATURE_VERSION_1 | 1 << 28), "indirect descriptors neither");
    // A feature beyond bit 63 is refused too.
    assert!(driver.negotiate(FEATURE_VERSION_1));
    driver.write(STATUS, 0);
    driver.add_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    driver.write(DRIVER_FEATURES_SELECT, 1);
    driver.write(DRIVER_FEATURES, 1);
    driver.write(DRIVER_FEATURES_SELECT, 2);
    driver.write(DRIVER_FEATURES, 1);
    driver.add_status(STATUS_FEATURES_OK);
    assert_eq!(driver.read(STATUS), STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    // A refused driver sets DRIVER_OK anyway: the device does not run.
    driver.add_status(STATUS_DRIVER_OK);
    assert!(!driver.device.is_running());
}

#[test]
fn features_are_frozen_once_accepted() {
    let mut driver = Driver::start();
    driver.write(DRIVER_FEATURES_SELECT, 0);
    driver.write(DRIVER_FEATURES, 1);
    assert_eq!(driver.device.driver_features, FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS);
    assert!(driver.device.is_running());
}

#[test]
fn transmits_frames_intact_from_one_or_two_descriptors() {
    let mut driver = Driver::start();
    let first = frame(1514, 1);
    let second = frame(60, 2);
    let mut packet = header(0, 0).to_vec();
    packet.extend_from_slice(&first);
    let one = driver.queue_transmit(&[&packet]);
    let two = driver.queue_transmit(&[&header(0, 0), &second]);
    assert_eq!(driver.write(QUEUE_NOTIFY, 1), Notification::Transmit);
    let (counts, frames) = driver.transmit_all();
    assert_eq!(counts, Transmitted { sent: 2, dropped: 0 });
    assert_eq!(frames, [first, second]);
    assert_eq!(driver.used(TRANSMIT_QUEUE), [(u32::from(one), 0), (u32::from(two), 0)]);
    assert!(driver.device.interrupt_asserted());
    assert_eq!(driver.acknowledge(), INTERRUPT_USED_BUFFER);
    assert!(!driver.device.interrupt_asserted());
    assert_eq!(driver.transmit_all().0, Transmitted::default(), "nothing left");
    assert!(!driver.device.interrupt_asserted(), "no interrupt without used buffers");
}

#[test]
fn a_refused_frame_stays_for_the_next_call() {
    let mut driver = Driver::start();
    driver.queue_transmit(&[&header(0, 0), &frame(100, 3)]);
    driver.queue_transmit(&[&header(0, 0), &frame(200, 4)]);
    let mut accepted = 0;
    let counts = driver.device.transmit(&driver.memory, |_| {
        accepted += 1;
        accepted == 1
    });
    assert_eq!(counts.sent, 1);
    assert_eq!(driver.used(TRANSMIT_QUEUE).len(), 1);
    let (counts, frames) = driver.transmit_all();
    assert_eq!(counts.sent, 1);
    assert_eq!(frames, [frame(200, 4)]);
    assert_eq!(driver.used(TRANSMIT_QUEUE).len(), 1);
    assert!(driver.device.is_running());
}

#[test]
fn drops_offload_requests_and_runt_frames_but_returns_their_buffers() {
    let mut driver = Driver::start();
    driver.queue_transmit(&[&header(1, 0), &frame(100, 0)]);
    driver.queue_transmit(&[&header(0, 1), &frame(100, 0)]);
    driver.queue_transmit(&[&header(0, 0), &frame(13, 0)]);
    driver.queue_transmit(&[&header(0, 0)[..8]]);
    driver.queue_transmit(&[&header(0, 0), &frame(14, 9)]);
    let (counts, frames) = driver.transmit_all();
    assert_eq!(counts, Transmitted { sent: 1, dropped: 4 });
    assert_eq!(frames, [frame(14, 9)]);
    assert_eq!(driver.used(TRANSMIT_QUEUE).len(), 5);
    assert!(driver.device.is_running());
}

#[test]
fn receives_into_one_descriptor_and_into_header_plus_data() {
    let mut driver = Driver::start();
    let single = driver.post_receive(&[(HEADER_SIZE + 1514) as u32]);
    let split = driver.post_receive(&[HEADER_SIZE as u32, 1514]);
    assert_eq!(driver.write(QUEUE_NOTIFY, 0), Notification::Receive);
    let expected_header = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];

    let first = frame(1514, 5);
    assert_eq!(driver.receive(&first), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(single), (HEADER_SIZE + 1514) as u32)]);
    let address = buffer_address(RECEIVE_QUEUE, single);
    assert_eq!(driver.memory.peek(address, HEADER_SIZE), expected_header);
    assert_eq!(driver.memory.peek(address + HEADER_SIZE as u64, 1514), first);
    assert_eq!(driver.acknowledge(), INTERRUPT_USED_BUFFER);

    let second = frame(64, 6);
    assert_eq!(driver.receive(&second), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(split), (HEADER_SIZE + 64) as u32)]);
    assert_eq!(
        driver.memory.peek(buffer_address(RECEIVE_QUEUE, split), HEADER_SIZE),
        expected_header
    );
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, split + 1), 64), second);
    assert!(driver.device.interrupt_asserted());
}

#[test]
fn a_header_split_across_buffers_is_fine_too() {
    let mut driver = Driver::start();
    let head = driver.post_receive(&[5, 7, 100]);
    let received = frame(100, 8);
    assert_eq!(driver.receive(&received), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(head), (HEADER_SIZE + 100) as u32)]);
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, head + 1), 7)[5..], [1, 0]);
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, head + 2), 100), received);
}

#[test]
fn a_buffer_may_end_inside_the_frame() {
    let mut driver = Driver::start();
    // The header and 8 bytes of the frame, then 40 more, then the rest.
    let head = driver.post_receive(&[20, 40, 100]);
    let received = frame(90, 3);
    assert_eq!(driver.receive(&received), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(head), (HEADER_SIZE + 90) as u32)]);
    let first = driver.memory.peek(buffer_address(RECEIVE_QUEUE, head), 20);
    assert_eq!(first[HEADER_SIZE - 2..HEADER_SIZE], [1, 0]);
    assert_eq!(first[HEADER_SIZE..], received[..8]);
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, head + 1), 40), received[8..48]);
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, head + 2), 42), received[48..]);
}

#[test]
fn receive_without_buffers_leaves_the_frame_with_the_caller() {
    let mut driver = Driver::new();
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::NotRunning));
    driver.restart(256);
    assert_eq!(driver.receive(&frame(60, 0)), Received::NoBuffer);
    assert_eq!(driver.receive(&frame(1519, 0)), Received::Dropped(DropReason::TooLarge));
    assert_eq!(driver.receive(&frame(13, 0)), Received::Dropped(DropReason::TooShort));
    assert!(!driver.device.interrupt_asserted());
    driver.post_receive(&[(HEADER_SIZE + MAX_FRAME) as u32]);
    assert_eq!(driver.receive(&frame(1518, 0)), Received::Delivered, "a VLAN-tagged frame fits");
}

#[test]
fn a_buffer_too_small_is_returned_empty() {
    let mut driver = Driver::start();
    let head = driver.post_receive(&[100]);
    assert_eq!(driver.receive(&frame(200, 0)), Received::Dropped(DropReason::BufferTooSmall));
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(head), 0)]);
    assert!(driver.device.is_running());
    assert_eq!(driver.receive(&frame(200, 0)), Received::NoBuffer);
}

#[test]
fn no_interrupt_flag_suppresses_used_buffer_interrupts() {
    let mut driver = Driver::start();
    driver.set_no_interrupt(TRANSMIT_QUEUE, true);
    driver.set_no_interrupt(RECEIVE_QUEUE, true);
    driver.queue_transmit(&[&header(0, 0), &frame(60, 0)]);
    driver.post_receive(&[1526]);
    assert_eq!(driver.transmit_all().0.sent, 1);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Delivered);
    assert!(!driver.device.interrupt_asserted());
    assert_eq!(driver.used(TRANSMIT_QUEUE).len() + driver.used(RECEIVE_QUEUE).len(), 2);

    driver.set_no_interrupt(RECEIVE_QUEUE, false);
    driver.post_receive(&[1526]);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Delivered);
    assert_eq!(driver.read(INTERRUPT_STATUS), INTERRUPT_USED_BUFFER);
}

#[test]
fn reset_clears_everything_but_the_device_identity() {
    let mut driver = Driver::start();
    driver.queue_transmit(&[&header(0, 0), &frame(60, 0)]);
    driver.transmit_all();
    driver.device.set_link(false);
    assert_eq!(driver.read(INTERRUPT_STATUS), INTERRUPT_USED_BUFFER | INTERRUPT_CONFIG_CHANGE);
    driver.write(QUEUE_SELECT, 1);

    assert_eq!(driver.write(STATUS, 0), Notification::Reset);
    assert_eq!(driver.read(STATUS), 0);
    assert_eq!(driver.read(INTERRUPT_STATUS), 0);
    assert!(!driver.device.interrupt_asserted());
    assert!(!driver.device.is_running());
    for queue in 0..QUEUE_COUNT {
        driver.write(QUEUE_SELECT, queue as u32);
        assert_eq!(driver.read(QUEUE_READY), 0);
    }
    assert_eq!(driver.device.driver_features, 0);
    assert_eq!(driver.read(CONFIG_GENERATION), 1);
    assert_eq!(driver.device.read(CONFIG + 6, 2), Ok(0), "the link state is the device's");
    assert_eq!(driver.device.read(CONFIG, 1), Ok(u64::from(MAC[0])));
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::NotRunning));

    // A fresh start on fresh rings works from index zero again.
    driver.restart(256);
    driver.queue_transmit(&[&header(0, 0), &frame(60, 1)]);
    assert_eq!(driver.transmit_all().1, [frame(60, 1)]);
    assert_eq!(driver.used(TRANSMIT_QUEUE).len(), 1);
}

#[test]
fn link_changes_bump_the_generation_and_interrupt_a_running_driver() {
    let mut driver = Driver::new();
    driver.device.set_link(true);
    assert_eq!(driver.read(CONFIG_GENERATION), 0, "no change, no new generation");
    driver.device.set_link(false);
    assert_eq!(driver.read(CONFIG_GENERATION), 1);
    assert!(!driver.device.interrupt_asserted(), "no driver to tell yet");
    driver.restart(256);
    driver.device.set_link(true);
    assert_eq!(driver.read(CONFIG_GENERATION), 2);
    assert_eq!(driver.device.read(CONFIG + 6, 2), Ok(1));
    assert_eq!(driver.acknowledge(), INTERRUPT_CONFIG_CHANGE);
    assert!(!driver.device.interrupt_asserted());
}

#[test]
fn acknowledge_clears_only_the_bits_written() {
    let mut driver = Driver::start();
    driver.queue_transmit(&[&header(0, 0), &frame(60, 0)]);
    driver.transmit_all();
    driver.device.set_link(false);
    driver.write(INTERRUPT_ACKNOWLEDGE, INTERRUPT_USED_BUFFER);
    assert_eq!(driver.read(INTERRUPT_STATUS), INTERRUPT_CONFIG_CHANGE);
    assert!(driver.device.interrupt_asserted());
    driver.write(INTERRUPT_ACKNOWLEDGE, INTERRUPT_CONFIG_CHANGE);
    assert!(!driver.device.interrupt_asserted());
}

#[test]
fn register_accesses_are_checked() {
    let mut device = NetDevice::new(MAC);
    assert_eq!(device.read(MAGIC_VALUE, 2), Err(AccessError::BadSize));
    assert_eq!(device.read(MAGIC_VALUE + 2, 4), Err(AccessError::BadSize));
    assert_eq!(device.read(0x018, 4), Err(AccessError::UnknownRegister));
    assert_eq!(device.read(WINDOW_SIZE, 4), Err(AccessError::UnknownRegister));
    assert_eq!(device.read(QUEUE_SIZE, 4), Err(AccessError::WrongDirection));
    assert_eq!(device.write(MAGIC_VALUE, 4, 0), Err(AccessError::WrongDirection));
    assert_eq!(device.write(STATUS, 1, 1), Err(AccessError::BadSize));
    assert_eq!(device.read(CONFIG + 1, 2), Err(AccessError::BadSize));
    assert_eq!(device.read(CONFIG + 8, 1), Err(AccessError::UnknownRegister));
    assert_eq!(device.read(CONFIG, 8), Err(AccessError::BadSize));
    assert_eq!(device.write(CONFIG, 1, 0), Err(AccessError::WrongDirection));
    assert_eq!(device.read(CONFIG, 1), Ok(u64::from(MAC[0])), "the MAC is read-only");
    assert_eq!(device.read(STATUS, 4), Ok(0), "refused accesses change nothing");
}

#[test]
fn queues_beyond_the_second_do_not_exist() {
    let mut driver = Driver::new();
    driver.write(QUEUE_SELECT, 2);
    assert_eq!(driver.read(QUEUE_SIZE_MAX), 0);
    driver.write(QUEUE_SIZE, 4);
    driver.write(QUEUE_READY, 1);
    assert_eq!(driver.read(QUEUE_READY), 0);
    assert_eq!(driver.write(QUEUE_NOTIFY, 2), Notification::None);
    assert_eq!(driver.device.fault(), None);
}

#[test]
fn queue_layout_is_frozen_while_ready_and_released_by_clearing_ready() {
    let mut driver = Driver::start_with(8);
    driver.write(QUEUE_SELECT, 0);
    driver.write(QUEUE_SIZE, 16);
    assert_eq!(driver.device.queues[0].size, 8);
    driver.write(QUEUE_READY, 0);
    assert_eq!(driver.read(QUEUE_READY), 0);
    driver.write(QUEUE_SIZE, 16);
    assert_eq!(driver.device.queues[0].size, 16);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::NotRunning));
}

/// A way to corrupt the driver's rings, named, and the fault it must cause.
type Corruption = (&'static str, fn(&mut Driver), Fault);

/// Checks that `fault` put the running device into `DEVICE_NEEDS_RESET`, that
/// it then stops, and that a reset recovers it.
fn assert_needs_reset(driver: &mut Driver, fault: Fault) {
    assert_eq!(driver.device.fault(), Some(fault));
    assert_ne!(driver.read(STATUS) & STATUS_NEEDS_RESET, 0);
    assert!(!driver.device.is_running());
    assert_ne!(driver.read(INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE, 0);
    driver.post_receive(&[1526]);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::NotRunning));
    driver.queue_transmit(&[&header(0, 0), &frame(60, 0)]);
    assert_eq!(driver.transmit_all().0, Transmitted::default());
    // The driver may not clear the bit itself.
    driver.write(STATUS, driver.read(STATUS) & !STATUS_NEEDS_RESET);
    assert!(!driver.device.is_running());
    driver.restart(driver.size);
    assert_eq!(driver.device.fault(), None);
    driver.post_receive(&[1526]);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Delivered);
}

/// Applies each of `cases` to a freshly started device, lets `use_queue`
/// make the device meet the corruption, and checks the fault it causes.
fn assert_corruptions_need_a_reset(cases: &[Corruption], use_queue: impl Fn(&mut Driver)) {
    for &(name, corrupt, fault) in cases {
        let mut driver = Driver::start_with(8);
        corrupt(&mut driver);
        use_queue(&mut driver);
        assert_eq!(driver.device.fault(), Some(fault), "{name}");
        assert_needs_reset(&mut driver, fault);
    }
}

#[test]
fn invalid_transmit_chains_need_a_reset() {
    let cases: [Corruption; 7] = [
        (
            "buffer outside memory",
            |driver| driver.publish_single(TRANSMIT_QUEUE, OUTSIDE - 8, 80, 0),
            Fault::MemoryAccess,
        ),
        (
            "loop",
            |driver| {
                driver.descriptor(TRANSMIT_QUEUE, 0, BASE, 10, DESCRIPTOR_NEXT, 1);
                driver.descriptor(TRANSMIT_QUEUE, 1, BASE, 10, DESCRIPTOR_NEXT, 0);
                driver.publish(TRANSMIT_QUEUE, 0);
            },
            Fault::ChainTooLong,
        ),
        (
            "self loop",
            |driver| {
                driver.descriptor(TRANSMIT_QUEUE, 3, BASE, 0, DESCRIPTOR_NEXT, 3);
                driver.publish(TRANSMIT_QUEUE, 3);
            },
            Fault::ChainTooLong,
        ),
        (
            "next beyond the table",
            |driver| {
                driver.descriptor(TRANSMIT_QUEUE, 0, BASE, 10, DESCRIPTOR_NEXT, 8);
                driver.publish(TRANSMIT_QUEUE, 0);
            },
            Fault::DescriptorIndex,
        ),
        (
            "frame too large",
            |driver| {
                driver.queue_transmit(&[&header(0, 0), &frame(1519, 0)]);
            },
            Fault::FrameTooLarge,
        ),
        (
            "writable buffer",
            |driver| driver.publish_single(TRANSMIT_QUEUE, BASE, 80, DESCRIPTOR_WRITE),
            Fault::WritableDescriptor,
        ),
        (
            "indirect table",
            |driver| driver.publish_single(TRANSMIT_QUEUE, BASE, 32, DESCRIPTOR_INDIRECT),
            Fault::IndirectDescriptor,
        ),
    ];
    assert_corruptions_need_a_reset(&cases, |driver| {
        driver.transmit_all();
    });
}

#[test]
fn invalid_receive_chains_need_a_reset() {
    let cases: [Corruption; 5] = [
        (
            "buffer outside memory",
            |driver| driver.publish_single(RECEIVE_QUEUE, OUTSIDE, 1526, DESCRIPTOR_WRITE),
            Fault::MemoryAccess,
        ),
        (
            "address wrapping around",
            |driver| driver.publish_single(RECEIVE_QUEUE, u64::MAX - 4, 1526, DESCRIPTOR_WRITE),
            Fault::MemoryAccess,
        ),
        (
            "readable buffer",
            |driver| {
                driver.descriptor(RECEIVE_QUEUE, 0, BASE, HEADER_SIZE as u32, DESCRIPTOR_NEXT, 1);
                driver.descriptor(RECEIVE_QUEUE, 1, BASE + 0x100, 1514, DESCRIPTOR_WRITE, 0);
                driver.publish(RECEIVE_QUEUE, 0);
            },
            Fault::ReadableDescriptor,
        ),
        (
            "head beyond the table",
            |driver| driver.publish(RECEIVE_QUEUE, 8),
            Fault::DescriptorIndex,
        ),
        (
            "available index too far ahead",
            |driver| driver.memory.poke(queue_areas(RECEIVE_QUEUE).1 + 2, &9u16.to_le_bytes()),
            Fault::AvailableIndex,
        ),
    ];
    assert_corruptions_need_a_reset(&cases, |driver| {
        assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::DeviceFault));
    });
}

#[test]
fn rings_outside_memory_need_a_reset() {
    let mut driver = Driver::start();
    driver.write(QUEUE_SELECT, TRANSMIT_QUEUE as u32);
    driver.write(QUEUE_READY, 0);
    driver.write(QUEUE_DRIVER_HIGH, 0x10);
    driver.write(QUEUE_READY, 1);
    assert_eq!(driver.transmit_all().0, Transmitted::default());
    assert_needs_reset(&mut driver, Fault::MemoryAccess);

    // A used ring the device cannot write.
    driver.write(QUEUE_SELECT, RECEIVE_QUEUE as u32);
    driver.write(QUEUE_READY, 0);
    driver.write(QUEUE_DEVICE_LOW, (OUTSIDE - 8) as u32);
    driver.write(QUEUE_READY, 1);
    driver.post_receive(&[1526]);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::DeviceFault));
    assert_needs_reset(&mut driver, Fault::MemoryAccess);
}

#[test]
fn bad_queue_layouts_need_a_reset() {
    for (size, descriptor_offset) in [(3, 0), (0, 0), (512, 0), (8, 8)] {
        let mut driver = Driver::new();
        assert!(driver.negotiate(FEATURE_VERSION_1));
        driver.write(QUEUE_SELECT, 0);
        driver.write(QUEUE_SIZE, size);
        driver.write(QUEUE_DESCRIPTOR_LOW, (BASE + descriptor_offset) as u32);
        driver.write(QUEUE_DRIVER_LOW, BASE as u32 + 0x1000);
        driver.write(QUEUE_DEVICE_LOW, BASE as u32 + 0x2000);
        driver.write(QUEUE_READY, 1);
        assert_eq!(driver.read(QUEUE_READY), 0, "size {size}");
        assert_eq!(driver.device.fault(), Some(Fault::QueueLayout));
        assert_ne!(driver.read(STATUS) & STATUS_NEEDS_RESET, 0);
        assert!(!driver.device.interrupt_asserted(), "DRIVER_OK is not set yet");
        driver.add_status(STATUS_DRIVER_OK);
        assert!(!driver.device.is_running());
        assert_eq!(driver.read(INTERRUPT_STATUS), INTERRUPT_CONFIG_CHANGE, "told once up");
    }
}

#[test]
fn ring_indices_wrap_around_sixteen_bits() {
    const FRAMES: u32 = 70_000;
    let mut driver = Driver::start_with(4);
    for count in 0..FRAMES {
        let seed = count as u8;
        driver.queue_transmit(&[&header(0, 0), &frame(20, seed)]);
        let (counts, frames) = driver.transmit_all();
        assert_eq!(counts.sent, 1);
        assert_eq!(frames, [frame(20, seed)]);
        let head = driver.post_receive(&[HEADER_SIZE as u32 + 20]);
        assert_eq!(driver.receive(&frame(20, seed)), Received::Delivered);
        assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(head), HEADER_SIZE as u32 + 20)]);
        assert_eq!(driver.used(TRANSMIT_QUEUE).len(), 1);
    }
    let used_index = driver.memory.peek_u16(queue_areas(TRANSMIT_QUEUE).2 + 2);
    assert_eq!(used_index, FRAMES as u16);
    assert!(driver.device.is_running());
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

#[test]
fn random_registers_and_rings_never_panic() {
    let registers = [
        DEVICE_FEATURES_SELECT,
        DRIVER_FEATURES,
        DRIVER_FEATURES_SELECT,
        QUEUE_SELECT,
        QUEUE_SIZE,
        QUEUE_READY,
        QUEUE_NOTIFY,
        INTERRUPT_ACKNOWLEDGE,
        STATUS,
        QUEUE_DESCRIPTOR_LOW,
        QUEUE_DESCRIPTOR_HIGH,
        QUEUE_DRIVER_LOW,
        QUEUE_DRIVER_HIGH,
        QUEUE_DEVICE_LOW,
        QUEUE_DEVICE_HIGH,
    ];
    let mut random = Random(0x5eed_0fe1_a570_55aa);
    let mut faults = 0;
    let mut delivered = 0;
    for _ in 0..60 {
        let mut driver = Driver::start_with(1 << random.below(9));
        for _ in 0..2_000 {
            match random.below(8) {
                0 => {
                    let offset = registers[random.below(registers.len() as u64) as usize];
                    let _ = driver.device.write(offset, 4, random_value(&mut random));
                }
                1 => {
                    let offset = random.below(WINDOW_SIZE + 8);
                    let size = [1, 2, 4, 8][random.below(4) as usize];
                    let _ = driver.device.write(offset, size, random_value(&mut random));
                    let _ = driver.device.read(offset, size);
                }
                2 | 3 => {
                    // Garbage in a descriptor table or an available ring.
                    let queue = random.below(2) as usize;
                    let address = queue_areas(queue).0 + random.below(0x1200) / 2 * 2;
                    let value = [random_value(&mut random) as u16, random.next() as u16];
                    driver.memory.poke(address, &value[random.below(2) as usize].to_le_bytes());
                }
                4 => {
                    let counts = driver.device.transmit(&driver.memory, |frame| {
                        assert!((MIN_FRAME..=MAX_FRAME).contains(&frame.len()));
                        random.below(4) != 0
                    });
                    assert!(counts.sent + counts.dropped <= 256);
                }
                5 => {
                    let length = random.below(1600) as usize;
                    if driver.receive(&frame(length, 0)) == Received::Delivered {
                        delivered += 1;
                    }
                }
                6 => driver.device.set_link(random.below(2) == 0),
                _ => {
                    if random.below(2) == 0 {
                        driver.post_receive(&[random.below(1600) as u32]);
                    } else {
                        driver.queue_transmit(&[&header(0, 0), &frame(60, 0)]);
                    }
                }
            }
            let device = &driver.device;
            assert_eq!(device.interrupt_asserted(), device.read(INTERRUPT_STATUS, 4) != Ok(0));
            if device.fault().is_some() {
                assert!(!device.is_running());
                assert_ne!(device.read(STATUS, 4).unwrap() as u32 & STATUS_NEEDS_RESET, 0);
            }
        }
        faults += usize::from(driver.device.fault().is_some());
    }
    // The generator must reach both the faults and the working paths.
    assert!(faults > 0, "no round faulted");
    assert!(delivered > 0, "no frame was delivered");
}
