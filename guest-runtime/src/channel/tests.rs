//! Host tests of the channel client, on channel regions in ordinary memory
//! where the test plays both the hypervisor (status page, ring resets) and
//! the peer (its producer and consumer, or garbage).

use super::*;
use channel_ring::{StatusPageWriter, STATUS_PAGE_SIZE};
use hypercall_abi::CHANNEL_NAME_MAX;
use std::alloc::{alloc_zeroed, dealloc, Layout};

/// Ring capacity of the test channels.
pub(crate) const CAPACITY: u64 = 16384;

/// A channel region in host memory, page-aligned and zeroed.
pub(crate) struct Region {
    base: *mut u8,
    layout: Layout,
    status: StatusPageWriter,
}

impl Region {
    /// A region with two rings of [`CAPACITY`] bytes and a fresh status page
    /// (down, epoch 0).
    pub(crate) fn new() -> Self {
        let size = STATUS_PAGE_SIZE + 2 * channel_ring::ring_size(CAPACITY as usize);
        let layout = Layout::from_size_align(size, 4096).unwrap();
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc_zeroed(layout) };
        assert!(!base.is_null());
        // SAFETY: the first page of the allocation, valid until `drop`.
        let status = unsafe { StatusPageWriter::new(base) }.unwrap();
        status.initialize();
        Self { base, layout, status }
    }

    /// What `CHANNEL_INFO` would say of this region to the end with `flags`.
    pub(crate) fn info(&self, flags: u32) -> ChannelInfo {
        let mut name = [0u8; CHANNEL_NAME_MAX];
        name[..9].copy_from_slice(b"app-netvm");
        ChannelInfo {
            id: 4,
            flags,
            address: self.base as u64,
            size: self.layout.size() as u64,
            ring_size: CAPACITY,
            doorbell: hypercall_abi::DOORBELL_INTERRUPT_BASE,
            peer: 3,
            name,
        }
    }

    /// Attaches a channel to this region as the end with `flags`.
    pub(crate) fn channel(&self, flags: u32) -> Channel {
        // SAFETY: the region outlives the channel in every test (declared
        // first, dropped last) and is laid out as a channel region.
        unsafe { Channel::new(0, self.info(flags)) }.unwrap()
    }

    /// Writes the status page as the hypervisor does.
    pub(crate) fn set_status(&self, up: bool, epoch: u32) {
        let state = if up { ChannelState::Up } else { ChannelState::Down };
        self.status.write(channel_ring::Status { state, epoch });
    }

    /// The ring end `sender` sends on.
    pub(crate) fn ring(&self, sender: u8) -> RingMemory {
        let offset = ring_offset(sender, CAPACITY) as usize;
        // SAFETY: the ring lies inside the allocation, valid until `drop`.
        unsafe { RingMemory::new(self.base.add(offset), CAPACITY as usize) }.unwrap()
    }

    /// Zeroes both rings' control pages and brings the channel up at
    /// `epoch`, as the hypervisor does when a VM starts.
    pub(crate) fn restart(&self, epoch: u32) {
        self.ring(0).reset();
        self.ring(1).reset();
        self.set_status(true, epoch);
    }

    /// The peer's producer on the ring end `sender` sends on, attached at `epoch`.
    pub(crate) fn peer_producer(&self, sender: u8, epoch: u32) -> Producer {
        Producer::new(self.ring(sender), NonZeroU32::new(epoch).unwrap())
    }

    /// The peer's consumer of the ring end `sender` sends on, attached at `epoch`.
    pub(crate) fn peer_consumer(&self, sender: u8, epoch: u32) -> Consumer {
        Consumer::new(self.ring(sender), NonZeroU32::new(epoch).unwrap())
    }

    /// Overwrites the 64-bit word at `offset` of the region, as a hostile
    /// peer writing its own pages would.
    pub(crate) fn scribble(&self, offset: u64, value: u64) {
        // SAFETY: every offset the tests use is inside the allocation and
        // 8-aligned; nothing else holds a reference to this memory.
        unsafe { (self.base.add(offset as usize) as *mut u64).write_volatile(value) };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.base, self.layout) };
    }
}

/// Both directions, as the first end.
pub(crate) const FIRST_END: u32 = CHANNEL_MAY_SEND | CHANNEL_MAY_RECEIVE;
/// Both directions, as the second end.
const SECOND_END: u32 = CHANNEL_SECOND_END | CHANNEL_MAY_SEND | CHANNEL_MAY_RECEIVE;

fn receive_all(consumer: &mut Consumer) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 64];
    while let Some(length) = consumer.receive(&mut buffer).unwrap() {
        messages.push(buffer[..length].to_vec());
    }
    messages
}

#[test]
fn link_changes_are_reported_once() {
    let mut link = Link { up: false, epoch: 0 };
    assert_eq!(link.observe(Link { up: false, epoch: 0 }), None);
    assert_eq!(link.observe(Link { up: true, epoch: 1 }), Some(Change::Up { epoch: 1 }));
    assert_eq!(link.observe(Link { up: true, epoch: 1 }), None);
    assert_eq!(link.observe(Link { up: false, epoch: 2 }), Some(Change::Down));
    assert_eq!(link.observe(Link { up: false, epoch: 4 }), None);
    assert_eq!(link.observe(Link { up: true, epoch: 5 }), Some(Change::Up { epoch: 5 }));
    assert_eq!(link.observe(Link { up: true, epoch: 7 }), Some(Change::Restarted { epoch: 7 }));
    assert_eq!(link, Link { up: true, epoch: 7 });
}

#[test]
fn messages_travel_both_ways_on_the_right_rings() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    assert!(channel.is_up() && channel.may_send() && channel.may_receive());
    assert_eq!(channel.epoch(), 1);
    // The peer is the second end: it receives on ring 0 and sends on ring 1.
    let mut peer_consumer = region.peer_consumer(0, 1);
    let mut peer_producer = region.peer_producer(1, 1);

    channel.send(b"to the peer").unwrap();
    assert_eq!(receive_all(&mut peer_consumer), [b"to the peer".to_vec()]);
    peer_producer.send(b"from the peer").unwrap();
    let mut buffer = [0u8; 32];
    assert_eq!(channel.receive(&mut buffer), Ok(Some(13)));
    assert_eq!(&buffer[..13], b"from the peer");
    assert_eq!(channel.receive(&mut buffer), Ok(None));
}

#[test]
fn the_second_end_sends_on_ring_one() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(SECOND_END);
    let mut peer_consumer = region.peer_consumer(1, 1);
    let mut peer_producer = region.peer_producer(0, 1);
    channel.send(b"pong").unwrap();
    assert_eq!(receive_all(&mut peer_consumer), [b"pong".to_vec()]);
    peer_producer.send(b"ping").unwrap();
    let mut buffer = [0u8; 8];
    assert_eq!(channel.receive(&mut buffer), Ok(Some(4)));
}

#[test]
fn a_one_way_channel_allows_one_direction_only() {
    let region = Region::new();
    region.restart(1);
    let mut sender = region.channel(CHANNEL_MAY_SEND);
    let mut receiver = region.channel(CHANNEL_SECOND_END | CHANNEL_MAY_RECEIVE);
    let mut buffer = [0u8; 8];
    assert_eq!(sender.receive(&mut buffer), Err(ChannelError::NotPermitted));
    assert_eq!(receiver.send(b"x"), Err(ChannelError::NotPermitted));
    sender.send(b"one way").unwrap();
    assert_eq!(receiver.receive(&mut buffer), Ok(Some(7)));
    assert_eq!(&buffer[..7], b"one way");
}

#[test]
fn a_down_channel_refuses_traffic_and_comes_back_with_fresh_rings() {
    let region = Region::new();
    let mut channel = region.channel(FIRST_END);
    assert!(!channel.is_up());
    assert_eq!(channel.send(b"early"), Err(ChannelError::Down));
    assert_eq!(channel.refresh(), None);

    region.restart(1);
    assert_eq!(channel.refresh(), Some(Change::Up { epoch: 1 }));
    channel.send(b"first life").unwrap();

    // The peer stops: down. Then it starts again: the rings are zeroed.
    region.set_status(false, 2);
    assert_eq!(channel.refresh(), Some(Change::Down));
    assert_eq!(channel.send(b"nobody there"), Err(ChannelError::Down));
    region.restart(3);
    assert_eq!(channel.refresh(), Some(Change::Up { epoch: 3 }));
    // A fresh consumer on the peer's side reads from sequence 0: the
    // channel's producer must have started afresh too.
    let mut peer_consumer = region.peer_consumer(0, 3);
    channel.send(b"second life").unwrap();
    assert_eq!(receive_all(&mut peer_consumer), [b"second life".to_vec()]);
}

#[test]
fn nothing_is_sent_on_rings_of_an_epoch_gone_by() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    // The peer restarts; this VM has not looked yet.
    region.set_status(false, 2);
    region.restart(3);
    let mut peer_consumer = region.peer_consumer(0, 3);
    assert_eq!(channel.send(b"stale"), Err(ChannelError::Down));
    assert_eq!(peer_consumer.receive(&mut [0u8; 16]), Ok(None));
    assert_eq!(channel.refresh(), Some(Change::Restarted { epoch: 3 }));
    channel.send(b"fresh").unwrap();
    assert_eq!(receive_all(&mut peer_consumer), [b"fresh".to_vec()]);
}

#[test]
fn a_restart_between_two_looks_is_reported_and_followed() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    channel.send(b"old").unwrap();
    region.set_status(false, 2);
    region.restart(3);
    assert_eq!(channel.refresh(), Some(Change::Restarted { epoch: 3 }));
    let mut peer_consumer = region.peer_consumer(0, 3);
    channel.send(b"new").unwrap();
    assert_eq!(receive_all(&mut peer_consumer), [b"new".to_vec()]);
}

#[test]
fn a_corrupted_receive_ring_is_ignored_until_the_epoch_changes() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    // The peer's producer control page of ring 1, attached at epoch 1: a
    // misaligned tail.
    let tail = ring_offset(1, CAPACITY) + channel_ring::CONTROL_PAGE_SIZE as u64;
    region.scribble(tail + 8, 1);
    region.scribble(tail, 3);
    let mut buffer = [0u8; 16];
    assert_eq!(
        channel.receive(&mut buffer),
        Err(ChannelError::Corrupt(CorruptReason::TailMisaligned))
    );
    assert!(channel.is_ignored());
    assert_eq!(channel.receive(&mut buffer), Err(ChannelError::Ignored));
    assert_eq!(channel.send(b"x"), Err(ChannelError::Ignored));
    // Nothing changed on the status page: still ignored.
    assert_eq!(channel.refresh(), None);
    assert!(channel.is_ignored());

    region.restart(3);
    assert_eq!(channel.refresh(), Some(Change::Restarted { epoch: 3 }));
    assert!(!channel.is_ignored());
    let mut peer_producer = region.peer_producer(1, 3);
    peer_producer.send(b"sane again").unwrap();
    assert_eq!(channel.receive(&mut buffer), Ok(Some(10)));
}

#[test]
fn a_corrupted_send_ring_is_ignored_too() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    // The peer's consumer control page of ring 0, attached at epoch 1: a
    // head ahead of the tail.
    region.scribble(ring_offset(0, CAPACITY) + 8, 1);
    region.scribble(ring_offset(0, CAPACITY), 64);
    assert_eq!(channel.send(b"x"), Err(ChannelError::Corrupt(CorruptReason::HeadOutOfRange)));
    assert_eq!(channel.send(b"x"), Err(ChannelError::Ignored));
}

#[test]
fn a_restarted_vm_ignores_what_the_peer_still_writes_at_the_old_epoch() {
    let region = Region::new();
    region.restart(1);
    // This VM's first life, and the peer's ends at epoch 1.
    let mut first_life = region.channel(FIRST_END);
    let mut old_peer_consumer = region.peer_consumer(0, 1);
    let mut old_peer_producer = region.peer_producer(1, 1);
    let mut buffer = [0u8; 64];
    for round in 0..20u8 {
        first_life.send(&[round; 40]).unwrap();
        assert_eq!(receive_all(&mut old_peer_consumer), [vec![round; 40]]);
        old_peer_producer.send(&[round; 30]).unwrap();
        assert_eq!(first_life.receive(&mut buffer), Ok(Some(30)));
    }
    let head_offset = ring_offset(0, CAPACITY);
    let stale_head = 20 * 48;

    // This VM stops and starts again: down, then zeroed control pages and up.
    region.set_status(false, 2);
    region.restart(3);
    let mut channel = region.channel(FIRST_END);
    assert!(channel.is_up());
    assert_eq!(channel.epoch(), 3);
    // The peer has not noticed: a head store of its old consumer lands in the
    // zeroed page, and its old producer goes on sending (stale tails).
    region.scribble(head_offset, stale_head);
    for round in 0..5u8 {
        old_peer_producer.send(&[round; 30]).unwrap();
        assert_eq!(old_peer_consumer.receive(&mut buffer), Ok(None));
    }
    // Nothing of it is a message, nor corruption.
    assert_eq!(channel.receive(&mut buffer), Ok(None));
    channel.send(b"hello again").unwrap();
    assert_eq!(channel.receive(&mut buffer), Ok(None));
    assert!(!channel.is_ignored());
    assert_eq!(channel.refresh(), None);

    // The peer notices the new epoch and attaches at it: messages flow both ways.
    let mut peer_consumer = region.peer_consumer(0, 3);
    let mut peer_producer = region.peer_producer(1, 3);
    assert_eq!(receive_all(&mut peer_consumer), [b"hello again".to_vec()]);
    peer_producer.send(b"welcome back").unwrap();
    assert_eq!(channel.receive(&mut buffer), Ok(Some(12)));
    assert_eq!(&buffer[..12], b"welcome back");
    for round in 0..200u8 {
        channel.send(&[round; 50]).unwrap();
        assert_eq!(receive_all(&mut peer_consumer), [vec![round; 50]]);
        peer_producer.send(&[round; 60]).unwrap();
        assert_eq!(channel.receive(&mut buffer), Ok(Some(60)));
        assert_eq!(buffer[..60], [round; 60]);
    }
    assert!(!channel.is_ignored());
}

#[test]
fn corruption_seen_after_the_status_page_moved_on_counts_as_down() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    let mut peer_producer = region.peer_producer(1, 1);
    let mut buffer = [0u8; 64];
    for round in 0..3u8 {
        peer_producer.send(&[round; 20]).unwrap();
        assert_eq!(channel.receive(&mut buffer), Ok(Some(20)));
    }
    // The peer stops, and starts again: the hypervisor is zeroing the ring
    // and has reached the tail but not yet the epoch when this VM reads it.
    region.set_status(false, 2);
    let tail = ring_offset(1, CAPACITY) + channel_ring::CONTROL_PAGE_SIZE as u64;
    region.scribble(tail, 0);
    assert_eq!(channel.receive(&mut buffer), Err(ChannelError::Down));
    assert!(!channel.is_ignored());
    assert_eq!(channel.receive(&mut buffer), Err(ChannelError::Down));

    region.restart(3);
    assert_eq!(channel.refresh(), Some(Change::Restarted { epoch: 3 }));
    let mut peer_producer = region.peer_producer(1, 3);
    peer_producer.send(b"back").unwrap();
    assert_eq!(channel.receive(&mut buffer), Ok(Some(4)));
}

#[test]
fn a_channel_up_at_epoch_zero_carries_nothing_until_the_epoch_changes() {
    let region = Region::new();
    region.set_status(true, 0);
    let mut channel = region.channel(FIRST_END);
    assert!(channel.is_up());
    assert_eq!(channel.send(b"x"), Err(ChannelError::Down));
    assert_eq!(channel.receive(&mut [0u8; 8]), Err(ChannelError::Down));
    region.restart(1);
    assert_eq!(channel.refresh(), Some(Change::Restarted { epoch: 1 }));
    channel.send(b"x").unwrap();
    assert_eq!(receive_all(&mut region.peer_consumer(0, 1)), [b"x".to_vec()]);
}

#[test]
fn an_oversized_message_stays_until_the_channel_is_ignored() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    let mut peer_producer = region.peer_producer(1, 1);
    peer_producer.send(&[7; 100]).unwrap();
    let mut small = [0u8; 10];
    assert_eq!(channel.receive(&mut small), Err(ChannelError::BufferTooSmall { needed: 100 }));
    assert_eq!(channel.receive(&mut small), Err(ChannelError::BufferTooSmall { needed: 100 }));
    channel.ignore(IgnoreReason::Oversized { length: 100, limit: 10 });
    assert_eq!(channel.receive(&mut small), Err(ChannelError::Ignored));
}

#[test]
fn an_unreadable_status_page_counts_as_down() {
    let region = Region::new();
    region.restart(1);
    let mut channel = region.channel(FIRST_END);
    region.scribble(0, 0xdead_beef);
    assert_eq!(channel.refresh(), Some(Change::Down));
    assert_eq!(channel.send(b"x"), Err(ChannelError::Down));
}

#[test]
fn a_thousand_restarts_leave_the_channel_working() {
    let region = Region::new();
    let mut channel = region.channel(FIRST_END);
    let mut epoch = 0;
    let mut saw_last_down = true;
    for round in 0..1000u32 {
        epoch += 1;
        region.restart(epoch);
        let expected =
            if saw_last_down { Change::Up { epoch } } else { Change::Restarted { epoch } };
        assert_eq!(channel.refresh(), Some(expected));
        let mut peer_consumer = region.peer_consumer(0, epoch);
        channel.send(&round.to_le_bytes()).unwrap();
        assert_eq!(receive_all(&mut peer_consumer), [round.to_le_bytes().to_vec()]);
        epoch += 1;
        region.set_status(false, epoch);
        // Every other time the VM looks before the peer comes back.
        saw_last_down = round % 2 == 0;
        if saw_last_down {
            assert_eq!(channel.refresh(), Some(Change::Down));
        }
    }
}

#[test]
fn a_channel_describes_itself_in_one_line() {
    let region = Region::new();
    let channel = region.channel(FIRST_END);
    assert_eq!(channel.to_string(), "app-netvm: peer vm 3, ring 16384 bytes, down");
    region.restart(1);
    let channel = region.channel(FIRST_END);
    assert_eq!(channel.to_string(), "app-netvm: peer vm 3, ring 16384 bytes, up");
}

#[test]
fn a_region_too_small_for_its_rings_is_refused() {
    let region = Region::new();
    let mut info = region.info(FIRST_END);
    info.size = ring_offset(1, CAPACITY);
    // SAFETY: the region is valid; the info claims less of it than there is.
    assert_eq!(unsafe { Channel::new(0, info) }.err(), Some(SetupError::RegionTooSmall));
    let mut info = region.info(FIRST_END);
    info.ring_size = 3000;
    // SAFETY: as above.
    assert!(matches!(unsafe { Channel::new(0, info) }, Err(SetupError::Layout(_))));
}

#[test]
fn channels_keep_their_indices() {
    let region = Region::new();
    let mut channels = Channels::new();
    assert!(channels.is_empty());
    // SAFETY: as in `Region::channel`.
    channels.insert(unsafe { Channel::new(5, region.info(FIRST_END)) }.unwrap());
    assert_eq!(channels.len(), 1);
    assert_eq!(channels.iter().map(Channel::index).collect::<Vec<_>>(), [5]);
    assert!(channels.get_mut(5).is_some());
    assert!(channels.get_mut(0).is_none());
    assert!(channels.get_mut(99).is_none());
}
