//! Tests of the network card, and through it of the transport and the queues.

use super::*;
use crate::virtio::net::{FEATURE_MAC, FEATURE_STATUS, LINK_UP, QUEUE_COUNT};

const MAC: [u8; 6] = [0x02, 0x45, 0x4c, 0x4f, 0x53, 0x01];

/// A transmit header with `flags` and `gso_type`, the other fields zero.
fn header(flags: u8, gso_type: u8) -> [u8; HEADER_SIZE] {
    let mut header = [0; HEADER_SIZE];
    header[0] = flags;
    header[1] = gso_type;
    header
}

impl Driver<NetDevice> {
    fn new() -> Self {
        Self::with(NetDevice::new(MAC))
    }

    /// A driver that negotiated like Linux and set both queues up with `size` entries.
    fn start_with(size: u16) -> Self {
        Self::started(NetDevice::new(MAC), size)
    }

    fn start() -> Self {
        Self::start_with(256)
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
    assert_eq!(
        driver.device.transport.driver_features,
        FEATURE_VERSION_1 | FEATURE_MAC | FEATURE_STATUS
    );
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
    assert_eq!(driver.write(QUEUE_NOTIFY, 1), Notification::Queue(TRANSMIT_QUEUE));
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
    assert_eq!(driver.write(QUEUE_NOTIFY, 0), Notification::Queue(RECEIVE_QUEUE));
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
    assert_eq!(driver.device.transport.driver_features, 0);
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
    assert_eq!(driver.device.transport.queues[0].size, 8);
    driver.write(QUEUE_READY, 0);
    assert_eq!(driver.read(QUEUE_READY), 0);
    driver.write(QUEUE_SIZE, 16);
    assert_eq!(driver.device.transport.queues[0].size, 16);
    assert_eq!(driver.receive(&frame(60, 0)), Received::Dropped(DropReason::NotRunning));
}

/// A way to corrupt the driver's rings, named, and the fault it must cause.
type Corruption = (&'static str, fn(&mut Driver<NetDevice>), Fault);

/// Checks that `fault` put the running device into `DEVICE_NEEDS_RESET`, that
/// it then stops, and that a reset recovers it.
fn assert_needs_reset(driver: &mut Driver<NetDevice>, fault: Fault) {
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
fn assert_corruptions_need_a_reset(
    cases: &[Corruption],
    use_queue: impl Fn(&mut Driver<NetDevice>),
) {
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
