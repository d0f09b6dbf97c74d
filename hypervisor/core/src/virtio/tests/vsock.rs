//! Tests of the socket device: what it adds to the transport the network
//! card's tests cover.

use super::*;
use crate::virtio::vsock::{EVENT_QUEUE, HEADER_SIZE, MAX_PACKET, MAX_PAYLOAD, QUEUE_COUNT};

/// The address the device gives the driver.
const GUEST_CID: u64 = 3;

/// A packet header with `len` = `length` and recognisable other fields.
fn header(length: u32) -> [u8; HEADER_SIZE] {
    let mut header = [0; HEADER_SIZE];
    header[..8].copy_from_slice(&GUEST_CID.to_le_bytes());
    header[8..16].copy_from_slice(&2u64.to_le_bytes());
    header[16..20].copy_from_slice(&1234u32.to_le_bytes());
    header[20..24].copy_from_slice(&9999u32.to_le_bytes());
    header[24..28].copy_from_slice(&length.to_le_bytes());
    header[28..30].copy_from_slice(&1u16.to_le_bytes()); // VIRTIO_VSOCK_TYPE_STREAM
    header[30..32].copy_from_slice(&5u16.to_le_bytes()); // VIRTIO_VSOCK_OP_RW
    header[36..40].copy_from_slice(&0x4_0000u32.to_le_bytes());
    header
}

/// A whole packet: a header and `length` bytes of payload.
fn packet(length: usize, seed: u8) -> Vec<u8> {
    let mut packet = header(length as u32).to_vec();
    packet.extend(frame(length, seed));
    packet
}

impl Driver<VsockDevice> {
    fn start() -> Self {
        Self::started(VsockDevice::new(GUEST_CID), 64)
    }

    /// Packets the device hands to an accepting sink.
    fn transmit_all(&mut self) -> (Transmitted, Vec<Vec<u8>>) {
        let mut packets = Vec::new();
        let counts = self.device.transmit(&self.memory, |packet| {
            packets.push(packet.to_vec());
            true
        });
        (counts, packets)
    }

    fn receive(&mut self, packet: &[u8]) -> Received {
        self.device.receive(&self.memory, packet)
    }

    /// Posts one event buffer of `length` bytes, as `virtio_vsock_event_fill`.
    fn post_event(&mut self, length: u32) -> u16 {
        let indices = self.allocate(EVENT_QUEUE, 1);
        self.chain(EVENT_QUEUE, &indices, &[length], DESCRIPTOR_WRITE);
        self.publish(EVENT_QUEUE, indices[0]);
        indices[0]
    }
}

#[test]
fn identifies_as_a_socket_device_with_its_cid() {
    let mut driver = Driver::with(VsockDevice::new(GUEST_CID));
    assert_eq!(driver.read(DEVICE_ID_REGISTER), 19);
    assert_eq!(driver.read(VENDOR_ID_REGISTER), VENDOR_ID);
    // Linux reads the le64 `guest_cid` as two 32-bit halves.
    assert_eq!(driver.device.read(CONFIG, 4), Ok(GUEST_CID));
    assert_eq!(driver.device.read(CONFIG + 4, 4), Ok(0));
    assert_eq!(driver.device.read(CONFIG, 1), Ok(GUEST_CID));
    assert_eq!(driver.device.read(CONFIG + 8, 4), Err(AccessError::UnknownRegister));
    assert_eq!(driver.device.write(CONFIG, 4, 7), Err(AccessError::WrongDirection));
    assert_eq!(driver.device.read(CONFIG, 4), Ok(GUEST_CID), "the CID is read-only");
    driver.write(DEVICE_FEATURES_SELECT, 0);
    assert_eq!(driver.read(DEVICE_FEATURES), 0, "no stream or seqpacket feature bits");
    driver.write(DEVICE_FEATURES_SELECT, 1);
    assert_eq!(driver.read(DEVICE_FEATURES), 1);
}

#[test]
fn negotiation_takes_version_1_and_nothing_else() {
    let mut driver = Driver::with(VsockDevice::new(GUEST_CID));
    assert!(!driver.negotiate(0), "VERSION_1 is required");
    assert!(!driver.negotiate(FEATURE_VERSION_1 | 1 << 1), "seqpacket is not offered");
    assert!(!driver.negotiate(FEATURE_VERSION_1 | 1), "no implied stream is not offered");
    assert!(driver.negotiate(FEATURE_VERSION_1));
    assert_eq!(driver.device.transport.driver_features(), FEATURE_VERSION_1);
}

#[test]
fn three_queues_are_set_up_and_a_fourth_does_not_exist() {
    let mut driver = Driver::start();
    assert!(driver.device.is_running());
    for queue in 0..QUEUE_COUNT {
        driver.write(QUEUE_SELECT, queue as u32);
        assert_eq!(driver.read(QUEUE_READY), 1, "queue {queue}");
        assert_eq!(driver.write(QUEUE_NOTIFY, queue as u32), Notification::Queue(queue));
    }
    driver.write(QUEUE_SELECT, 3);
    assert_eq!(driver.read(QUEUE_SIZE_MAX), 0);
    driver.write(QUEUE_READY, 1);
    assert_eq!(driver.read(QUEUE_READY), 0);
    assert_eq!(driver.write(QUEUE_NOTIFY, 3), Notification::None);
    assert_eq!(driver.device.fault(), None);
}

#[test]
fn a_transmitted_packet_becomes_one_record_of_header_and_payload() {
    let mut driver = Driver::start();
    // Linux's layout: the header, then the payload, in two descriptors.
    let full = packet(MAX_PAYLOAD, 1);
    let two = driver.queue_transmit(&[&full[..HEADER_SIZE], &full[HEADER_SIZE..]]);
    // One descriptor holding both, and a header without payload.
    let small = packet(100, 2);
    let one = driver.queue_transmit(&[&small]);
    let bare = header(0);
    let alone = driver.queue_transmit(&[&bare]);
    let (counts, records) = driver.transmit_all();
    assert_eq!(counts, Transmitted { sent: 3, dropped: 0 });
    assert_eq!(records, [full, small, bare.to_vec()]);
    let expected = [(two, 0), (one, 0), (alone, 0)].map(|(head, length)| (u32::from(head), length));
    assert_eq!(driver.used(TRANSMIT_QUEUE), expected);
    assert_eq!(driver.acknowledge(), INTERRUPT_USED_BUFFER);
}

#[test]
fn a_refused_record_stays_for_the_next_call() {
    let mut driver = Driver::start();
    driver.queue_transmit(&[&packet(10, 1)]);
    driver.queue_transmit(&[&packet(20, 2)]);
    let counts = driver.device.transmit(&driver.memory, |_| false);
    assert_eq!(counts, Transmitted::default());
    assert!(driver.used(TRANSMIT_QUEUE).is_empty());
    let (counts, records) = driver.transmit_all();
    assert_eq!(counts.sent, 2);
    assert_eq!(records, [packet(10, 1), packet(20, 2)]);
}

#[test]
fn short_lying_and_oversized_packets_are_dropped_and_counted() {
    let mut driver = Driver::start();
    let mut lying = packet(20, 3);
    lying[24..28].copy_from_slice(&10u32.to_le_bytes());
    let mut understated = packet(10, 4);
    understated[24..28].copy_from_slice(&11u32.to_le_bytes());
    let heads = [
        driver.queue_transmit(&[&header(0)[..HEADER_SIZE - 1]]),
        driver.queue_transmit(&[&lying[..HEADER_SIZE], &lying[HEADER_SIZE..]]),
        driver.queue_transmit(&[&understated]),
        // One byte over the maximum, with an honest header.
        driver.queue_transmit(&[&packet(MAX_PAYLOAD + 1, 5)]),
        // What Linux sends a peer granting more credit: 64 KiB in one packet.
        driver.queue_transmit(&[&header(0x1_0000), &frame(0x1_0000, 6)]),
        driver.queue_transmit(&[&packet(30, 7)]),
    ];
    let (counts, records) = driver.transmit_all();
    assert_eq!(counts, Transmitted { sent: 1, dropped: 5 });
    assert_eq!(records, [packet(30, 7)]);
    // Every chain went back to the driver, and the device still runs.
    assert_eq!(driver.used(TRANSMIT_QUEUE), heads.map(|head| (u32::from(head), 0)));
    assert!(driver.device.is_running());
    assert_eq!(driver.device.fault(), None);
}

#[test]
fn received_packets_fill_one_descriptor_or_header_and_payload_buffers() {
    let mut driver = Driver::start();
    // Linux since 6.3: one descriptor of header and 4 KiB.
    let single = driver.post_receive(&[(HEADER_SIZE + MAX_PAYLOAD) as u32]);
    let full = packet(MAX_PAYLOAD, 8);
    assert_eq!(driver.receive(&full), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(single), MAX_PACKET as u32)]);
    assert_eq!(driver.memory.peek(buffer_address(RECEIVE_QUEUE, single), MAX_PACKET), full);

    // Older kernels: a header descriptor, then a 4 KiB payload descriptor.
    let split = driver.post_receive(&[HEADER_SIZE as u32, MAX_PAYLOAD as u32]);
    let small = packet(300, 9);
    assert_eq!(driver.receive(&small), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(split), small.len() as u32)]);
    let header_buffer = driver.memory.peek(buffer_address(RECEIVE_QUEUE, split), HEADER_SIZE);
    assert_eq!(header_buffer, small[..HEADER_SIZE]);
    let payload = driver.memory.peek(buffer_address(RECEIVE_QUEUE, split + 1), 300);
    assert_eq!(payload, small[HEADER_SIZE..]);

    // A header-only packet (a connection request) into the split layout.
    let split = driver.post_receive(&[HEADER_SIZE as u32, MAX_PAYLOAD as u32]);
    assert_eq!(driver.receive(&header(0)), Received::Delivered);
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(split), HEADER_SIZE as u32)]);
    assert_eq!(driver.acknowledge(), INTERRUPT_USED_BUFFER);

    assert_eq!(driver.receive(&header(0)), Received::NoBuffer, "no buffer left");
}

#[test]
fn malformed_records_are_dropped_before_any_buffer_is_used() {
    let mut driver = Driver::start();
    driver.post_receive(&[MAX_PACKET as u32]);
    let mut lying = packet(20, 1);
    lying[24..28].copy_from_slice(&21u32.to_le_bytes());
    let mut oversized = packet(MAX_PAYLOAD + 4, 2);
    oversized[24..28].copy_from_slice(&(MAX_PAYLOAD as u32 + 4).to_le_bytes());
    let mut huge_length = header(0);
    huge_length[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    for (record, reason) in [
        (&header(0)[..HEADER_SIZE - 1], DropReason::TooShort),
        (&[][..], DropReason::TooShort),
        (&lying[..], DropReason::LengthMismatch),
        (&oversized[..], DropReason::TooLarge),
        (&huge_length[..], DropReason::TooLarge),
    ] {
        assert_eq!(driver.receive(record), Received::Dropped(reason), "{} bytes", record.len());
    }
    assert!(driver.used(RECEIVE_QUEUE).is_empty());
    assert!(!driver.device.interrupt_asserted());
    assert_eq!(driver.receive(&packet(20, 1)), Received::Delivered);
}

#[test]
fn a_buffer_too_small_is_returned_empty() {
    let mut driver = Driver::start();
    let head = driver.post_receive(&[HEADER_SIZE as u32, 10]);
    assert_eq!(driver.receive(&packet(11, 0)), Received::Dropped(DropReason::BufferTooSmall));
    assert_eq!(driver.used(RECEIVE_QUEUE), [(u32::from(head), 0)]);
    assert!(driver.device.is_running());
}

#[test]
fn a_transport_reset_waits_for_an_event_buffer() {
    let mut driver = Driver::with(VsockDevice::new(GUEST_CID));
    // Before the driver runs, the event waits.
    assert!(driver.negotiate(FEATURE_VERSION_1));
    driver.device.transport_reset();
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::NoBuffer);
    assert!(driver.device.reset_pending());
    driver.size = 64;
    for queue in 0..QUEUE_COUNT {
        driver.setup_queue(queue, 64);
    }
    driver.add_status(STATUS_DRIVER_OK);
    assert!(driver.device.is_running());
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::NoBuffer);
    assert!(driver.device.reset_pending(), "no event buffer yet");

    driver.memory.poke(buffer_address(EVENT_QUEUE, 0), &[0xff; 4]);
    let head = driver.post_event(4);
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::Delivered);
    assert!(!driver.device.reset_pending());
    assert_eq!(driver.used(EVENT_QUEUE), [(u32::from(head), 4)]);
    let event = driver.memory.peek_u32(buffer_address(EVENT_QUEUE, head));
    assert_eq!(event, crate::virtio::vsock::EVENT_TRANSPORT_RESET);
    assert_eq!(driver.acknowledge(), INTERRUPT_USED_BUFFER);

    // Nothing more is due: the next buffer stays with the device.
    driver.post_event(4);
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::NoBuffer);
    assert!(driver.used(EVENT_QUEUE).is_empty());
    driver.device.transport_reset();
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::Delivered);
    assert_eq!(driver.used(EVENT_QUEUE).len(), 1);
}

#[test]
fn a_device_reset_forgets_a_reset_event_not_yet_delivered() {
    let mut driver = Driver::start();
    driver.device.transport_reset();
    assert_eq!(driver.write(STATUS, 0), Notification::Reset);
    assert!(!driver.device.reset_pending());
    driver.restart(64);
    driver.post_event(4);
    assert_eq!(driver.device.deliver_events(&driver.memory), Received::NoBuffer);
}

#[test]
fn garbage_indices_need_a_reset() {
    type Corruption = (&'static str, fn(&mut Driver<VsockDevice>) -> Received, Fault);
    let cases: [Corruption; 5] = [
        (
            "transmit index far ahead",
            |driver| {
                driver.memory.poke(queue_areas(TRANSMIT_QUEUE).1 + 2, &200u16.to_le_bytes());
                driver.transmit_all();
                driver.receive(&packet(1, 0))
            },
            Fault::AvailableIndex,
        ),
        (
            "transmit head beyond the table",
            |driver| {
                driver.publish(TRANSMIT_QUEUE, 64);
                driver.transmit_all();
                driver.receive(&packet(1, 0))
            },
            Fault::DescriptorIndex,
        ),
        (
            "receive chain looping",
            |driver| {
                let buffer = buffer_address(RECEIVE_QUEUE, 0);
                let flags = DESCRIPTOR_NEXT | DESCRIPTOR_WRITE;
                driver.descriptor(RECEIVE_QUEUE, 0, buffer, 8, flags, 1);
                driver.descriptor(RECEIVE_QUEUE, 1, buffer, 8, flags, 0);
                driver.publish(RECEIVE_QUEUE, 0);
                driver.receive(&packet(100, 0))
            },
            Fault::ChainTooLong,
        ),
        (
            "readable event buffer",
            |driver| {
                driver.publish_single(EVENT_QUEUE, BASE, 4, 0);
                driver.device.transport_reset();
                driver.device.deliver_events(&driver.memory)
            },
            Fault::ReadableDescriptor,
        ),
        (
            "event ring outside memory",
            |driver| {
                driver.memory.poke(queue_areas(EVENT_QUEUE).1 + 2, &1u16.to_le_bytes());
                driver.memory.poke(queue_areas(EVENT_QUEUE).1 + 4, &0u16.to_le_bytes());
                driver.descriptor(EVENT_QUEUE, 0, OUTSIDE, 4, DESCRIPTOR_WRITE, 0);
                driver.device.transport_reset();
                driver.device.deliver_events(&driver.memory)
            },
            Fault::MemoryAccess,
        ),
    ];
    for (name, corrupt, fault) in cases {
        let mut driver = Driver::start();
        let received = corrupt(&mut driver);
        assert_eq!(driver.device.fault(), Some(fault), "{name}");
        assert!(matches!(received, Received::Dropped(_)), "{name}: {received:?}");
        assert_ne!(driver.read(STATUS) & STATUS_NEEDS_RESET, 0, "{name}");
        assert_ne!(driver.read(INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE, 0, "{name}");
        assert!(!driver.device.is_running(), "{name}");
        // A reset recovers it.
        driver.restart(64);
        driver.post_receive(&[MAX_PACKET as u32]);
        assert_eq!(driver.receive(&packet(5, 0)), Received::Delivered, "{name}");
    }
}

#[test]
fn random_registers_and_rings_never_panic() {
    let mut random = Random(0x0b5e_55ed_c0de_f00d);
    let mut faults = 0;
    let mut delivered = 0;
    for _ in 0..40 {
        let mut driver = Driver::started(VsockDevice::new(GUEST_CID), 1 << random.below(9));
        for _ in 0..1_500 {
            match random.below(8) {
                0 => {
                    let offset = random.below(WINDOW_SIZE + 8) / 4 * 4;
                    let _ = driver.device.write(offset, 4, random_value(&mut random));
                }
                1 | 2 => {
                    // Garbage in a descriptor table or an available ring.
                    let queue = random.below(QUEUE_COUNT as u64) as usize;
                    let address = queue_areas(queue).0 + random.below(0x1200) / 2 * 2;
                    let value = [random_value(&mut random) as u16, random.next() as u16];
                    driver.memory.poke(address, &value[random.below(2) as usize].to_le_bytes());
                }
                3 => {
                    let counts = driver.device.transmit(&driver.memory, |record| {
                        assert!((HEADER_SIZE..=MAX_PACKET).contains(&record.len()));
                        random.below(4) != 0
                    });
                    assert!(counts.sent + counts.dropped <= 256);
                }
                4 => {
                    let length = random.below(MAX_PAYLOAD as u64 + 2) as usize;
                    if driver.receive(&packet(length, 0)) == Received::Delivered {
                        delivered += 1;
                    }
                }
                5 => {
                    driver.device.transport_reset();
                    let _ = driver.device.deliver_events(&driver.memory);
                }
                6 => {
                    driver.post_event(random.below(8) as u32);
                }
                _ => {
                    if random.below(2) == 0 {
                        driver.post_receive(&[random.below(MAX_PACKET as u64 + 64) as u32]);
                    } else {
                        let length = random.below(64) as usize;
                        driver
                            .queue_transmit(&[&header(random.below(80) as u32), &frame(length, 0)]);
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
    assert!(faults > 0, "no round faulted");
    assert!(delivered > 0, "no packet was delivered");
}
