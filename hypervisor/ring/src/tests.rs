//! Host tests of rings and status pages: the layout, every error, hostile
//! peers writing garbage, restarts racing with a peer of the old epoch, and a
//! producer and a consumer on two threads.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use crate::{
    ring_size, ChannelState, Consumer, CorruptReason, LayoutError, Producer, ReceiveError,
    RingMemory, SendError, Status, StatusError, StatusPage, StatusPageWriter, CONTROL_PAGE_SIZE,
    MAXIMUM_CAPACITY, STATUS_MAGIC, STATUS_PAGE_SIZE,
};

/// Words of guard pattern on each side of a test region.
const GUARD_WORDS: usize = 64;
/// What the guard words hold; any change means an access left the region.
const GUARD_PATTERN: u64 = 0x4755_4152_4457_4f52;
/// Words of one control page.
const PAGE_WORDS: usize = CONTROL_PAGE_SIZE / 8;
/// The word of a ring holding the consumer's `head`.
const HEAD_WORD: usize = 0;
/// The word of a ring holding the epoch the consumer attached at.
const CONSUMER_EPOCH_WORD: usize = 1;
/// The word of a ring holding the producer's `tail`.
const TAIL_WORD: usize = PAGE_WORDS;
/// The word of a ring holding the epoch the producer attached at.
const PRODUCER_EPOCH_WORD: usize = PAGE_WORDS + 1;
/// The channel epoch most tests attach at.
const EPOCH: NonZeroU32 = epoch(1);

/// Epoch `value`, which must not be 0.
const fn epoch(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).expect("epochs in tests are not 0")
}
/// The first word of a ring's data.
const DATA_WORD: usize = 2 * PAGE_WORDS;

/// Zeroed, 8-aligned memory with guard words before and after it, all reached
/// through one raw pointer so that the code under test and the test may both
/// use it.
struct Region {
    /// Owns the memory; never touched through a reference after creation.
    _storage: Vec<u64>,
    /// The first word inside the guards.
    start: *mut u64,
    /// Words inside the guards.
    words: usize,
}

impl Region {
    /// A region of `bytes` bytes (a multiple of 8), zeroed.
    fn new(bytes: usize) -> Self {
        let words = bytes / 8;
        let mut storage = vec![GUARD_PATTERN; words + 2 * GUARD_WORDS];
        let start = storage.as_mut_ptr().wrapping_add(GUARD_WORDS);
        let region = Self { _storage: storage, start, words };
        for word in 0..words {
            region.write(word, 0);
        }
        region
    }

    /// The address of the first byte inside the guards.
    fn base(&self) -> *mut u8 {
        self.start.cast()
    }

    /// Word `word` inside the guards.
    fn read(&self, word: usize) -> u64 {
        assert!(word < self.words, "test reads word {word} outside its region");
        // SAFETY: `word` is inside the storage, which lives as long as `self`.
        unsafe { self.start.add(word).read_volatile() }
    }

    /// Writes word `word` inside the guards.
    fn write(&self, word: usize, value: u64) {
        assert!(word < self.words, "test writes word {word} outside its region");
        // SAFETY: `word` is inside the storage, which lives as long as `self`.
        unsafe { self.start.add(word).write_volatile(value) }
    }

    /// Whether every guard word still holds the pattern.
    fn guards_intact(&self) -> bool {
        let before = (0..GUARD_WORDS).map(|word| self.start.wrapping_sub(word + 1));
        let after = (0..GUARD_WORDS).map(|word| self.start.wrapping_add(self.words + word));
        before.chain(after).all(|pointer| {
            // SAFETY: guard words lie inside the storage, which lives as long as `self`.
            unsafe { pointer.read_volatile() == GUARD_PATTERN }
        })
    }

    /// Copies of the words in `words`.
    fn snapshot(&self, words: core::ops::Range<usize>) -> Vec<u64> {
        words.map(|word| self.read(word)).collect()
    }
}

/// A ring in a [`Region`], with access to its raw words.
struct TestRing {
    /// The memory; dropped after everything that uses it.
    region: Region,
    /// The ring over it.
    memory: RingMemory,
}

impl TestRing {
    /// A freshly reset ring of `capacity` data bytes.
    fn new(capacity: usize) -> Self {
        let region = Region::new(ring_size(capacity));
        // SAFETY: the region has `ring_size(capacity)` bytes, 8-aligned, and
        // lives as long as the returned value, which outlives every user of
        // `memory` in these tests; only this crate and the test's own volatile
        // accesses (never concurrent with the crate's) touch it.
        let memory = unsafe { RingMemory::new(region.base(), capacity) }.expect("valid layout");
        memory.reset();
        Self { region, memory }
    }

    /// Words of data.
    fn data_words(&self) -> usize {
        self.memory.capacity() / 8
    }

    /// The consumer's `head` as stored.
    fn head(&self) -> u64 {
        self.region.read(HEAD_WORD)
    }

    /// Overwrites the consumer's `head`, as a hostile consumer would.
    fn set_head(&self, value: u64) {
        self.region.write(HEAD_WORD, value);
    }

    /// The producer's `tail` as stored.
    fn tail(&self) -> u64 {
        self.region.read(TAIL_WORD)
    }

    /// Overwrites the producer's `tail`, as a hostile producer would.
    fn set_tail(&self, value: u64) {
        self.region.write(TAIL_WORD, value);
    }

    /// The epoch word of the consumer control page.
    fn consumer_epoch(&self) -> u64 {
        self.region.read(CONSUMER_EPOCH_WORD)
    }

    /// Overwrites the epoch word of the consumer control page.
    fn set_consumer_epoch(&self, value: u64) {
        self.region.write(CONSUMER_EPOCH_WORD, value);
    }

    /// The epoch word of the producer control page.
    fn producer_epoch(&self) -> u64 {
        self.region.read(PRODUCER_EPOCH_WORD)
    }

    /// Overwrites the epoch word of the producer control page.
    fn set_producer_epoch(&self, value: u64) {
        self.region.write(PRODUCER_EPOCH_WORD, value);
    }

    /// Marks the producer control page as attached at [`EPOCH`], as a hostile
    /// producer does before it writes garbage that the consumer must check.
    fn attach_hostile_producer(&self) {
        self.set_producer_epoch(u64::from(EPOCH.get()));
    }

    /// Marks the consumer control page as attached at [`EPOCH`], as a hostile
    /// consumer does before it writes garbage that the producer must check.
    fn attach_hostile_consumer(&self) {
        self.set_consumer_epoch(u64::from(EPOCH.get()));
    }

    /// Data word `word` (modulo the data size).
    fn data_word(&self, word: usize) -> u64 {
        self.region.read(DATA_WORD + word % self.data_words())
    }

    /// Overwrites data word `word` (modulo the data size).
    fn set_data_word(&self, word: usize, value: u64) {
        self.region.write(DATA_WORD + word % self.data_words(), value);
    }

    /// `length` data bytes from byte `offset`, wrapping at the end of the data.
    fn data_bytes(&self, offset: usize, length: usize) -> Vec<u8> {
        (offset..offset + length)
            .map(|byte| {
                let position = byte % self.memory.capacity();
                self.data_word(position / 8).to_le_bytes()[position % 8]
            })
            .collect()
    }

    /// Copies of the consumer control page.
    fn consumer_page(&self) -> Vec<u64> {
        self.region.snapshot(0..PAGE_WORDS)
    }

    /// Copies of the producer control page and the data.
    fn producer_pages(&self) -> Vec<u64> {
        self.region.snapshot(PAGE_WORDS..self.region.words)
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
struct Random(u64);

impl Random {
    /// A generator from a non-zero seed.
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (not zero).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The contents of message number `index` of `length` bytes: recognizable and
/// different for every message.
fn message(index: u64, length: usize) -> Vec<u8> {
    let seed = index.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
    (0..length).map(|byte| seed[byte % 8].wrapping_add((byte / 8) as u8)).collect()
}

/// Receives one message that must be there.
fn receive_one(consumer: &mut Consumer) -> Vec<u8> {
    let mut buffer = vec![0; 1 << 16];
    let length = consumer.receive(&mut buffer).expect("no error").expect("a message");
    buffer.truncate(length);
    buffer
}

#[test]
fn messages_round_trip_in_order() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    for round in 0..50u64 {
        let lengths = [0, 1, 7, 8, 9, 15, 16, 100];
        for (index, length) in lengths.iter().enumerate() {
            producer.send(&message(round * 8 + index as u64, *length)).expect("room");
        }
        for (index, length) in lengths.iter().enumerate() {
            assert_eq!(receive_one(&mut consumer), message(round * 8 + index as u64, *length));
        }
        assert_eq!(consumer.is_empty(), Ok(true));
    }
    assert!(ring.region.guards_intact());
}

#[test]
fn frames_follow_the_documented_layout() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(b"hello").expect("room");
    producer.send(b"").expect("room");
    producer.send(b"eight by").expect("room");

    // "hello": header (length 5, sequence 0), payload, 3 bytes of padding.
    assert_eq!(ring.data_bytes(0, 16), b"\x05\0\0\0\0\0\0\0hello\0\0\0");
    // The empty message: a header alone, sequence 1.
    assert_eq!(ring.data_bytes(16, 8), b"\0\0\0\0\x01\0\0\0");
    // Eight bytes need no padding; sequence 2.
    assert_eq!(ring.data_bytes(24, 16), b"\x08\0\0\0\x02\0\0\0eight by");
    assert_eq!(ring.tail(), 40);
    assert_eq!(ring.head(), 0);

    assert_eq!(receive_one(&mut consumer), b"hello");
    assert_eq!(ring.head(), 16);
    assert_eq!(receive_one(&mut consumer), b"");
    assert_eq!(receive_one(&mut consumer), b"eight by");
    assert_eq!(ring.head(), 40);
    // Each control page holds the epoch its writer attached at at offset 8;
    // the rest stays zero.
    assert_eq!(ring.consumer_page()[1], 1);
    assert_eq!(ring.producer_pages()[1], 1);
    assert!(ring.consumer_page()[2..].iter().all(|word| *word == 0));
    assert!(ring.producer_pages()[2..PAGE_WORDS].iter().all(|word| *word == 0));
}

#[test]
fn frames_wrap_around_the_end_of_the_data() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    // A first frame of 8 + 4000 bytes leaves the tail at 4008.
    producer.send(&message(0, 4000)).expect("room");
    assert_eq!(receive_one(&mut consumer), message(0, 4000));
    // The next header sits at 4008..4016; its 200-byte payload runs from 4016
    // to the end (80 bytes) and on from the start (120 bytes).
    let wrapped = message(1, 200);
    producer.send(&wrapped).expect("room");
    assert_eq!(ring.data_bytes(4008, 8), b"\xc8\0\0\0\x01\0\0\0");
    assert_eq!(ring.data_bytes(4016, 80), &wrapped[..80]);
    assert_eq!(ring.data_bytes(0, 120), &wrapped[80..]);
    assert_eq!(receive_one(&mut consumer), wrapped);
    assert_eq!(ring.tail(), 4008 + 208);
    assert_eq!(ring.head(), 4008 + 208);

    // Many odd-sized messages go round the ring many times.
    for index in 2..2000u64 {
        let contents = message(index, (index as usize * 37) % 700);
        producer.send(&contents).expect("room");
        assert_eq!(receive_one(&mut consumer), contents);
    }
    assert!(ring.region.guards_intact());
}

#[test]
fn a_full_ring_refuses_then_recovers() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    // Four frames of 1008 bytes take 4032 of 4096 bytes.
    for index in 0..4 {
        producer.send(&message(index, 1000)).expect("room");
    }
    assert_eq!(producer.send(&message(4, 1000)), Err(SendError::Full));
    assert_eq!(producer.free_space(), Ok(56));
    // A refused message writes nothing.
    assert_eq!(ring.tail(), 4032);
    producer.send(&message(4, 56)).expect("exactly the free space");
    assert_eq!(producer.free_space(), Ok(0));
    assert_eq!(producer.send(b""), Err(SendError::Full));

    assert_eq!(receive_one(&mut consumer), message(0, 1000));
    assert_eq!(producer.free_space(), Ok(1000));
    producer.send(&message(5, 1000)).expect("room again");
    assert_eq!(producer.send(b""), Err(SendError::Full));
    for (index, length) in [(1, 1000), (2, 1000), (3, 1000), (4, 56), (5, 1000)] {
        assert_eq!(receive_one(&mut consumer), message(index, length));
    }
    assert_eq!(consumer.is_empty(), Ok(true));
    assert_eq!(producer.free_space(), Ok(4088));
}

#[test]
fn an_empty_ring_has_nothing_to_receive() {
    let ring = TestRing::new(8192);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    let mut buffer = [0; 16];
    assert_eq!(consumer.is_empty(), Ok(true));
    assert_eq!(consumer.receive(&mut buffer), Ok(None));
    assert_eq!(consumer.receive(&mut []), Ok(None));
    producer.send(b"x").expect("room");
    assert_eq!(consumer.is_empty(), Ok(false));
    assert_eq!(consumer.receive(&mut buffer), Ok(Some(1)));
    assert_eq!(buffer[0], b'x');
    assert_eq!(consumer.is_empty(), Ok(true));
    assert_eq!(consumer.receive(&mut buffer), Ok(None));
    assert_eq!(producer.free_space(), Ok(8192 - 8));
}

#[test]
fn a_message_may_fill_the_whole_ring() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    assert_eq!(ring.memory.max_message_size(), 4088);
    assert_eq!(producer.free_space(), Ok(4088));
    producer.send(&message(0, 4088)).expect("fits exactly");
    assert_eq!(producer.free_space(), Ok(0));
    assert_eq!(producer.send(b""), Err(SendError::Full));
    assert_eq!(receive_one(&mut consumer), message(0, 4088));

    // Again from the middle of the data, so that the frame wraps.
    producer.send(&message(1, 1234)).expect("room");
    assert_eq!(receive_one(&mut consumer), message(1, 1234));
    producer.send(&message(2, 4088)).expect("fits exactly");
    assert_eq!(receive_one(&mut consumer), message(2, 4088));
    assert!(ring.region.guards_intact());
}

#[test]
fn an_oversized_message_is_refused() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    assert_eq!(producer.send(&[0; 4089]), Err(SendError::TooLarge));
    assert_eq!(producer.send(&[0; 100_000]), Err(SendError::TooLarge));
    assert_eq!(ring.tail(), 0);
    // The refusal does not use up a sequence number.
    producer.send(b"next").expect("room");
    assert_eq!(ring.data_word(0) >> 32, 0);
}

#[test]
fn a_short_buffer_leaves_the_message_in_place() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(&message(0, 100)).expect("room");
    producer.send(&message(1, 3)).expect("room");
    let mut small = [0; 99];
    assert_eq!(consumer.receive(&mut small), Err(ReceiveError::BufferTooSmall { needed: 100 }));
    assert_eq!(consumer.receive(&mut []), Err(ReceiveError::BufferTooSmall { needed: 100 }));
    assert_eq!(ring.head(), 0);
    assert_eq!(consumer.is_empty(), Ok(false));
    assert_eq!(receive_one(&mut consumer), message(0, 100));
    let mut exact = [0; 3];
    assert_eq!(consumer.receive(&mut exact), Ok(Some(3)));
    assert_eq!(exact.as_slice(), message(1, 3));
}

#[test]
fn sequence_numbers_count_frames() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    for index in 0..1000u64 {
        let header_word = (ring.tail() / 8) as usize;
        producer.send(&message(index, 16)).expect("room");
        assert_eq!(ring.data_word(header_word), 16 | (index << 32));
        receive_one(&mut consumer);
    }
}

#[test]
fn indices_and_sequence_numbers_wrap() {
    let ring = TestRing::new(4096);
    // Just short of 2^64 bytes and 2^32 frames.
    let start = u64::MAX - 15;
    let mut producer = Producer::resume(ring.memory, EPOCH, start, u32::MAX - 1);
    let mut consumer = Consumer::resume(ring.memory, EPOCH, start, u32::MAX - 1);
    assert_eq!(producer.free_space(), Ok(4088));
    // The first header sits at (2^64 - 16) % 4096 = 4080.
    producer.send(&message(0, 20)).expect("room");
    assert_eq!(ring.data_word(4080 / 8), 20 | (u64::from(u32::MAX - 1) << 32));
    assert_eq!(ring.tail(), start.wrapping_add(32));
    producer.send(&message(1, 20)).expect("room");
    assert_eq!(ring.data_word(16 / 8), 20 | (u64::from(u32::MAX) << 32));
    producer.send(&message(2, 20)).expect("room");
    assert_eq!(ring.data_word(48 / 8), 20);
    for index in 0..3 {
        assert_eq!(receive_one(&mut consumer), message(index, 20));
    }
    assert_eq!(ring.head(), 80);
    for index in 3..1000 {
        producer.send(&message(index, 500)).expect("room");
        assert_eq!(receive_one(&mut consumer), message(index, 500));
    }
}

#[test]
fn a_tail_out_of_range_is_corrupt_and_stays_so() {
    let capacity = 4096u64;
    for bad_tail in [u64::MAX - 7, capacity + 8, 1 << 40] {
        let ring = TestRing::new(4096);
        let mut consumer = Consumer::new(ring.memory, EPOCH);
        ring.attach_hostile_producer();
        ring.set_tail(bad_tail);
        let corrupt = ReceiveError::Corrupt(CorruptReason::TailOutOfRange);
        assert_eq!(consumer.receive(&mut [0; 64]), Err(corrupt));
        // Putting the tail back does not help: the consumer stays put.
        ring.set_tail(0);
        assert_eq!(consumer.receive(&mut [0; 64]), Err(corrupt));
        assert_eq!(consumer.is_empty(), Err(CorruptReason::TailOutOfRange));
        assert_eq!(ring.head(), 0);
    }
    // The whole capacity ahead is still a possible tail.
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(&message(0, 4088)).expect("room");
    assert_eq!(ring.tail(), capacity);
    assert_eq!(consumer.is_empty(), Ok(false));
}

#[test]
fn a_misaligned_tail_is_corrupt() {
    let ring = TestRing::new(4096);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    ring.attach_hostile_producer();
    ring.set_tail(12);
    assert_eq!(consumer.is_empty(), Err(CorruptReason::TailMisaligned));
    assert_eq!(
        consumer.receive(&mut [0; 64]),
        Err(ReceiveError::Corrupt(CorruptReason::TailMisaligned))
    );
}

#[test]
fn a_tail_moving_backwards_is_corrupt() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(&message(0, 8)).expect("room");
    producer.send(&message(1, 8)).expect("room");
    assert_eq!(receive_one(&mut consumer), message(0, 8));
    // The tail was 32; moving it back to 24 is impossible though still ahead of the head.
    ring.set_tail(24);
    assert_eq!(
        consumer.receive(&mut [0; 64]),
        Err(ReceiveError::Corrupt(CorruptReason::TailOutOfRange))
    );
}

#[test]
fn impossible_lengths_are_corrupt() {
    // A length above the largest payload.
    let ring = TestRing::new(4096);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    ring.attach_hostile_producer();
    ring.set_data_word(0, 4089);
    ring.set_tail(4096);
    assert_eq!(
        consumer.receive(&mut [0; 8192]),
        Err(ReceiveError::Corrupt(CorruptReason::LengthTooLarge { length: 4089 }))
    );
    assert_eq!(ring.head(), 0);

    // A length running past the published tail, even by padding alone.
    for (length, tail) in [(100, 16), (9, 16), (u32::MAX, 4096)] {
        let ring = TestRing::new(4096);
        let mut consumer = Consumer::new(ring.memory, EPOCH);
        ring.attach_hostile_producer();
        ring.set_data_word(0, u64::from(length));
        ring.set_tail(tail);
        let expected = if length > 4088 {
            CorruptReason::LengthTooLarge { length }
        } else {
            CorruptReason::LengthBeyondTail { length }
        };
        assert_eq!(consumer.receive(&mut [0; 8192]), Err(ReceiveError::Corrupt(expected)));
        assert_eq!(consumer.receive(&mut [0; 8192]), Err(ReceiveError::Corrupt(expected)));
        assert_eq!(ring.head(), 0);
    }
}

#[test]
fn a_wrong_sequence_number_is_corrupt() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(b"first").expect("room");
    producer.send(b"second").expect("room");
    assert_eq!(receive_one(&mut consumer), b"first");
    // The second header (at byte 16) claims sequence 7 instead of 1.
    ring.set_data_word(2, 6 | (7 << 32));
    assert_eq!(
        consumer.receive(&mut [0; 64]),
        Err(ReceiveError::Corrupt(CorruptReason::WrongSequence { expected: 1, found: 7 }))
    );
    // Repairing the frame does not help.
    ring.set_data_word(2, 6 | (1 << 32));
    assert!(matches!(consumer.receive(&mut [0; 64]), Err(ReceiveError::Corrupt(_))));
}

#[test]
fn an_impossible_head_is_corrupt_for_the_producer() {
    // Ahead of the tail.
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    ring.attach_hostile_consumer();
    producer.send(&message(0, 100)).expect("room");
    ring.set_head(200);
    assert_eq!(producer.free_space(), Err(CorruptReason::HeadOutOfRange));
    assert_eq!(producer.send(b"x"), Err(SendError::Corrupt(CorruptReason::HeadOutOfRange)));
    // Repairing the head does not help: the producer stays put.
    ring.set_head(0);
    assert_eq!(producer.send(b"x"), Err(SendError::Corrupt(CorruptReason::HeadOutOfRange)));
    assert_eq!(producer.free_space(), Err(CorruptReason::HeadOutOfRange));
    assert_eq!(ring.tail(), 112);

    // Behind a head seen before.
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    producer.send(&message(0, 100)).expect("room");
    receive_one(&mut consumer);
    producer.send(&message(1, 100)).expect("room");
    ring.set_head(0);
    assert_eq!(producer.send(b"x"), Err(SendError::Corrupt(CorruptReason::HeadOutOfRange)));

    // More than the capacity behind the tail.
    let ring = TestRing::new(4096);
    let producer = Producer::new(ring.memory, EPOCH);
    ring.attach_hostile_consumer();
    ring.set_head(u64::MAX - 4095);
    assert_eq!(producer.free_space(), Err(CorruptReason::HeadOutOfRange));

    // Not a multiple of 8.
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    ring.attach_hostile_consumer();
    producer.send(&message(0, 100)).expect("room");
    ring.set_head(4);
    assert_eq!(producer.send(b"x"), Err(SendError::Corrupt(CorruptReason::HeadMisaligned)));
}

#[test]
fn reset_zeroes_the_control_pages_for_a_fresh_start() {
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    for index in 0..10 {
        producer.send(&message(index, 300)).expect("room");
        receive_one(&mut consumer);
    }
    producer.send(&message(10, 300)).expect("room");
    // Garbage all over both control pages.
    for word in 0..2 * PAGE_WORDS {
        ring.region.write(word, 0x0123_4567_89ab_cdef ^ word as u64);
    }
    ring.memory.reset();
    assert!(ring.region.snapshot(0..2 * PAGE_WORDS).iter().all(|word| *word == 0));

    let mut producer = Producer::new(ring.memory, epoch(3));
    let mut consumer = Consumer::new(ring.memory, epoch(3));
    assert_eq!((producer.epoch(), consumer.epoch()), (epoch(3), epoch(3)));
    assert_eq!((ring.producer_epoch(), ring.consumer_epoch()), (3, 3));
    assert_eq!(consumer.is_empty(), Ok(true));
    producer.send(b"fresh").expect("room");
    assert_eq!(ring.data_word(0), 5);
    assert_eq!(receive_one(&mut consumer), b"fresh");
}

#[test]
fn a_peer_page_of_another_epoch_counts_as_not_attached() {
    // Garbage in a producer page of another epoch is no message and no corruption.
    let ring = TestRing::new(4096);
    let mut consumer = Consumer::new(ring.memory, EPOCH);
    assert_eq!(ring.producer_epoch(), 0, "nobody attached since the reset");
    ring.set_tail(12);
    ring.set_data_word(0, 4089);
    for other in [0, 2, u64::MAX, (1 << 32) | 1] {
        ring.set_producer_epoch(other);
        assert_eq!(consumer.is_empty(), Ok(true), "producer epoch {other:#x}");
        assert_eq!(consumer.receive(&mut [0; 64]), Ok(None), "producer epoch {other:#x}");
    }
    assert_eq!(ring.head(), 0);
    // With the consumer's epoch, the same page is checked, and found corrupt for good.
    ring.attach_hostile_producer();
    let corrupt = ReceiveError::Corrupt(CorruptReason::TailMisaligned);
    assert_eq!(consumer.is_empty(), Err(CorruptReason::TailMisaligned));
    assert_eq!(consumer.receive(&mut [0; 64]), Err(corrupt));
    ring.set_producer_epoch(0);
    assert_eq!(consumer.receive(&mut [0; 64]), Err(corrupt));
    assert_eq!(consumer.is_empty(), Err(CorruptReason::TailMisaligned));

    // A consumer page of another epoch has consumed nothing, whatever its head says.
    let ring = TestRing::new(4096);
    let mut producer = Producer::new(ring.memory, EPOCH);
    ring.set_head(4);
    assert_eq!(producer.free_space(), Ok(4088));
    producer.send(&message(0, 1000)).expect("room");
    ring.set_consumer_epoch(2);
    ring.set_head(1008);
    assert_eq!(producer.free_space(), Ok(4096 - 1008 - 8), "nothing was consumed");
    // With the producer's epoch, the same head is checked: 1008 is possible.
    ring.attach_hostile_consumer();
    assert_eq!(producer.free_space(), Ok(4088));
    producer.send(&message(1, 100)).expect("room");
    // Back to another epoch: the head seen last (by that send) stands.
    ring.set_consumer_epoch(0);
    ring.set_head(0);
    assert_eq!(producer.free_space(), Ok(4096 - 112 - 8));
    // Moving backwards with the producer's epoch is corrupt, for good.
    ring.attach_hostile_consumer();
    assert_eq!(producer.send(b"x"), Err(SendError::Corrupt(CorruptReason::HeadOutOfRange)));
    ring.set_consumer_epoch(0);
    assert_eq!(producer.free_space(), Err(CorruptReason::HeadOutOfRange));
}

#[test]
fn a_restarted_consumer_ignores_the_stale_tails_of_the_old_producer() {
    let ring = TestRing::new(4096);
    let (old, new) = (epoch(5), epoch(7));
    let mut old_producer = Producer::new(ring.memory, old);
    let mut old_consumer = Consumer::new(ring.memory, old);
    for index in 0..10 {
        old_producer.send(&message(index, 300)).expect("room");
        assert_eq!(receive_one(&mut old_consumer), message(index, 300));
    }
    old_producer.send(&message(10, 300)).expect("room");
    let old_tail = ring.tail();

    // The consumer's VM stops (its old consumer is used no more) and starts
    // again: the hypervisor zeroes both control pages and brings the channel
    // up at the next epoch but one.
    ring.memory.reset();
    // The producer has not noticed yet. It stores its old tail again (as a
    // store that was under way would land) and goes on sending at the old
    // epoch: stale tails in the zeroed page.
    ring.set_tail(old_tail);
    assert_eq!(ring.producer_epoch(), 0);
    let mut consumer = Consumer::new(ring.memory, new);
    assert_eq!(consumer.is_empty(), Ok(true));
    assert_eq!(consumer.receive(&mut [0; 4096]), Ok(None));
    let mut stale = 0;
    loop {
        match old_producer.send(&message(100 + stale, 200)) {
            Ok(()) => stale += 1,
            Err(SendError::Full) => break,
            Err(error) => panic!("the old producer found the new consumer's page corrupt: {error}"),
        }
        assert_ne!(ring.tail(), 0);
        assert_eq!(consumer.is_empty(), Ok(true));
        assert_eq!(consumer.receive(&mut [0; 4096]), Ok(None));
    }
    assert!(stale > 0, "the old producer published nothing after the reset");
    // Tails no faithful producer could have published are ignored just as well.
    for tail in [12, 4096 + 8, 1 << 40, u64::MAX - 7] {
        ring.set_tail(tail);
        assert_eq!(consumer.receive(&mut [0; 4096]), Ok(None));
    }
    assert_eq!(ring.head(), 0);

    // The producer notices the new epoch and attaches at it: messages flow,
    // from sequence 0, over the old data, round the ring many times.
    let mut producer = Producer::new(ring.memory, new);
    for index in 0..500 {
        let contents = message(index, (index as usize * 53) % 900);
        producer.send(&contents).expect("room");
        assert_eq!(receive_one(&mut consumer), contents);
    }
    assert_eq!(consumer.is_empty(), Ok(true));
    assert!(ring.region.guards_intact());
}

#[test]
fn a_restarted_producer_ignores_the_stale_heads_of_the_old_consumer() {
    let ring = TestRing::new(4096);
    let (old, new) = (epoch(5), epoch(7));
    let mut old_producer = Producer::new(ring.memory, old);
    let mut old_consumer = Consumer::new(ring.memory, old);
    for index in 0..10 {
        old_producer.send(&message(index, 300)).expect("room");
        assert_eq!(receive_one(&mut old_consumer), message(index, 300));
    }
    let old_head = ring.head();
    assert_eq!(old_head, 10 * 312);

    // The producer's VM stops (its old producer is used no more) and starts again.
    ring.memory.reset();
    // The consumer has not noticed yet: its old head lands in the zeroed
    // page, and it finds nothing more to read (its producer has gone).
    ring.set_head(old_head);
    assert_eq!(old_consumer.receive(&mut [0; 4096]), Ok(None));
    assert_eq!(old_consumer.is_empty(), Ok(true));
    let mut producer = Producer::new(ring.memory, new);
    assert_eq!(producer.free_space(), Ok(4088));
    // Nor does it read what the restarted producer sends at the new epoch.
    producer.send(&message(0, 100)).expect("room");
    assert_eq!(old_consumer.receive(&mut [0; 4096]), Ok(None));
    assert_eq!(ring.head(), old_head, "the old consumer stored no head");
    // Heads no faithful consumer could have stored are ignored just as well:
    // the restarted producer counts nothing as consumed.
    let mut sent = 1;
    for head in [old_head, 4, 1 << 40, u64::MAX - 7, 0] {
        ring.set_head(head);
        // Each message of 100 bytes takes a frame of 112.
        assert_eq!(producer.free_space(), Ok(4096 - 112 * sent - 8));
        producer.send(&message(sent as u64, 100)).expect("room");
        sent += 1;
    }
    while producer.send(&message(sent as u64, 100)).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 36, "a full ring of 112-byte frames");
    assert_eq!(producer.free_space(), Ok(4096 - 36 * 112 - 8));

    // The consumer notices the new epoch and attaches at it: it reads every
    // message the restarted producer sent, from sequence 0, and the space
    // comes back.
    let mut consumer = Consumer::new(ring.memory, new);
    for index in 0..sent {
        assert_eq!(receive_one(&mut consumer), message(index as u64, 100));
    }
    assert_eq!(consumer.is_empty(), Ok(true));
    assert_eq!(producer.free_space(), Ok(4088));
    for index in 0..500 {
        let contents = message(1000 + index, (index as usize * 71) % 1000);
        producer.send(&contents).expect("room");
        assert_eq!(receive_one(&mut consumer), contents);
    }
    assert!(ring.region.guards_intact());
}

#[test]
fn ring_layouts_are_checked() {
    let region = Region::new(ring_size(8192));
    let base = region.base();
    let result = |pointer: *mut u8, capacity: usize| {
        // SAFETY: `RingMemory::new` checks its arguments before anything else
        // and touches no memory itself; the one call below whose checks pass
        // describes `region`, which holds `ring_size(8192)` bytes and outlives
        // the result.
        unsafe { RingMemory::new(pointer, capacity) }
    };
    assert_eq!(result(core::ptr::null_mut(), 4096).err(), Some(LayoutError::NullBase));
    assert_eq!(result(base.wrapping_add(4), 4096).err(), Some(LayoutError::Misaligned));
    assert_eq!(result(base, 6000).err(), Some(LayoutError::CapacityNotPowerOfTwo));
    assert_eq!(result(base, 0).err(), Some(LayoutError::CapacityNotPowerOfTwo));
    assert_eq!(result(base, 2048).err(), Some(LayoutError::CapacityTooSmall));
    assert_eq!(
        result(base, (MAXIMUM_CAPACITY * 2) as usize).err(),
        Some(LayoutError::CapacityTooLarge)
    );
    assert_eq!(
        result(usize::MAX as *mut u8, 4096).err(),
        Some(LayoutError::Misaligned),
        "the highest address is odd"
    );
    assert_eq!(
        result((usize::MAX - 4095) as *mut u8, 4096).err(),
        Some(LayoutError::RegionOverflows)
    );
    let memory = result(base, 8192).expect("valid");
    assert_eq!(memory.capacity(), 8192);
    assert_eq!(memory.max_message_size(), 8184);
    assert_eq!(ring_size(4096), 12288);
}

#[test]
fn status_pages_follow_the_documented_layout() {
    let region = Region::new(STATUS_PAGE_SIZE);
    // SAFETY: the region holds a whole page, 8-aligned, and outlives both views;
    // the test reads it only between their calls.
    let writer = unsafe { StatusPageWriter::new(region.base()) }.expect("valid");
    // SAFETY: as above.
    let reader = unsafe { StatusPage::new(region.base()) }.expect("valid");
    assert_eq!(reader.read(), Err(StatusError::BadMagic { found: 0 }));

    writer.initialize();
    assert_eq!(region.read(0).to_le_bytes(), *b"ECHN\x01\0\0\0");
    assert_eq!(region.read(1), 0);
    assert_eq!(reader.read(), Ok(Status { state: ChannelState::Down, epoch: 0 }));

    assert_eq!(writer.set_state(ChannelState::Up), Status { state: ChannelState::Up, epoch: 1 });
    assert_eq!(region.read(1).to_le_bytes(), [1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(reader.read(), Ok(Status { state: ChannelState::Up, epoch: 1 }));
    // Setting the same state again is no transition.
    assert_eq!(writer.set_state(ChannelState::Up).epoch, 1);
    assert_eq!(
        writer.set_state(ChannelState::Down),
        Status { state: ChannelState::Down, epoch: 2 }
    );
    assert_eq!(writer.page().read(), Ok(Status { state: ChannelState::Down, epoch: 2 }));

    writer.write(Status { state: ChannelState::Up, epoch: u32::MAX });
    assert_eq!(writer.set_state(ChannelState::Down).epoch, 0, "the epoch wraps");

    region.write(1, 7);
    assert_eq!(reader.read(), Err(StatusError::UnknownState { found: 7 }));
    region.write(0, u64::from(STATUS_MAGIC) | (2 << 32));
    assert_eq!(reader.read(), Err(StatusError::UnsupportedVersion { found: 2 }));
    assert!(region.guards_intact());

    // SAFETY: `StatusPage::new` checks before touching memory, and touches none.
    let misaligned = unsafe { StatusPage::new(region.base().wrapping_add(4)) };
    assert_eq!(misaligned.err(), Some(LayoutError::Misaligned));
    // SAFETY: as above.
    let null = unsafe { StatusPageWriter::new(core::ptr::null_mut()) };
    assert_eq!(null.err(), Some(LayoutError::NullBase));
    assert_eq!(ChannelState::from_raw(1), Some(ChannelState::Up));
    assert_eq!(ChannelState::from_raw(2), None);
}

#[test]
fn errors_explain_themselves() {
    let texts = [
        SendError::Full.to_string(),
        SendError::TooLarge.to_string(),
        SendError::Corrupt(CorruptReason::HeadMisaligned).to_string(),
        ReceiveError::BufferTooSmall { needed: 42 }.to_string(),
        ReceiveError::Corrupt(CorruptReason::WrongSequence { expected: 3, found: 9 }).to_string(),
        LayoutError::CapacityTooSmall.to_string(),
        StatusError::BadMagic { found: 0x1234 }.to_string(),
    ];
    assert_eq!(texts[0], "the ring is full; try again after the peer reads");
    assert!(texts[2].contains("head is not a multiple of 8"));
    assert!(texts[3].contains("42 bytes"));
    assert!(texts[4].contains("sequence number 9 where 3 was expected"));
    assert!(texts[6].contains("0x00001234"));
    assert!(texts.iter().all(|text| !text.is_empty()));
}

/// Overwrites the producer's pages with something chosen to get past some
/// checks and fail later ones; `sequence` is the one the consumer expects next.
fn tamper_as_producer(ring: &TestRing, random: &mut Random, sequence: u64) {
    let capacity = ring.memory.capacity();
    let head = ring.head();
    match random.below(7) {
        0 => ring.set_tail(random.next()),
        1 => ring.set_tail(head.wrapping_add(8 * random.below(capacity / 8 + 3) as u64)),
        2 => ring.set_tail(head.wrapping_sub(8 * random.below(4) as u64)),
        3 => ring.set_data_word(random.below(capacity / 8), random.next()),
        4 => {
            // A header at the head with a plausible length and maybe the right sequence.
            let length = if random.below(2) == 0 {
                random.below(capacity + 64) as u64
            } else {
                random.next() >> 32
            };
            let sequence = if random.below(2) == 0 { sequence } else { random.next() };
            ring.set_data_word((head / 8) as usize, length | (sequence << 32));
        }
        5 => {
            // Another epoch (the ring then reads as empty), or the right one back.
            let epoch = match random.below(3) {
                0 => random.next(),
                1 => u64::from(EPOCH.get()) + 1,
                _ => u64::from(EPOCH.get()),
            };
            ring.set_producer_epoch(epoch);
        }
        _ => {
            for word in 0..capacity / 8 {
                ring.set_data_word(word, random.next());
            }
        }
    }
}

#[test]
fn a_hostile_producer_cannot_harm_the_consumer() {
    let mut random = Random::new(0x5eed_0001);
    let mut seen = std::collections::HashSet::new();
    let mut checked = 0;
    let mut unattached = 0;
    for _ in 0..300 {
        let ring = TestRing::new(4096);
        let mut producer = Producer::new(ring.memory, EPOCH);
        let mut consumer = Consumer::new(ring.memory, EPOCH);
        let mut waiting = VecDeque::new();
        let mut sent = 0u64;
        let mut received = 0u64;
        let mut tampered = false;
        let mut corruption = None;
        // Some faithful traffic first, to check deliveries before any tampering.
        let quiet_steps = random.below(150);
        for step in 0..150 {
            match random.below(10) {
                0..=3 => {
                    let contents = message(sent, random.below(700));
                    match producer.send(&contents) {
                        Ok(()) => {
                            waiting.push_back(contents);
                            sent += 1;
                        }
                        Err(SendError::Full) => {}
                        // A consumer misled by a forged tail may release more
                        // than was produced, which its producer then finds corrupt.
                        Err(SendError::Corrupt(_)) if tampered => {}
                        Err(error) => panic!("nothing was tampered with, yet: {error}"),
                    }
                }
                4 | 5 if step >= quiet_steps => {
                    tamper_as_producer(&ring, &mut random, received);
                    tampered = true;
                }
                _ => {
                    let mut buffer = vec![0; random.below(800)];
                    let before = ring.producer_pages();
                    let result = consumer.receive(&mut buffer);
                    assert_eq!(
                        ring.producer_pages(),
                        before,
                        "the consumer wrote the producer's pages"
                    );
                    assert_eq!(ring.head() % 8, 0);
                    if corruption.is_none() && ring.producer_epoch() != u64::from(EPOCH.get()) {
                        // A producer page of another epoch holds nothing to read.
                        assert_eq!(result, Ok(None));
                        unattached += 1;
                    }
                    match result {
                        Ok(Some(length)) => {
                            assert!(length <= buffer.len() && length <= 4088);
                            received = (received + 1) % (1 << 32);
                            if !tampered {
                                assert_eq!(Some(&buffer[..length]), waiting.pop_front().as_deref());
                                checked += 1;
                            }
                        }
                        Ok(None) => assert!(tampered || waiting.is_empty()),
                        Err(ReceiveError::BufferTooSmall { needed }) => {
                            assert!(needed > buffer.len() && needed <= 4088);
                            if !tampered {
                                assert_eq!(Some(needed), waiting.front().map(Vec::len));
                            }
                        }
                        Err(ReceiveError::Corrupt(reason)) => {
                            assert!(tampered, "a faithful producer reported corrupt: {reason}");
                            assert!(corruption.is_none_or(|first| first == reason));
                            corruption = Some(reason);
                            seen.insert(core::mem::discriminant(&reason));
                            assert_eq!(consumer.is_empty(), Err(reason));
                        }
                    }
                }
            }
            assert!(ring.region.guards_intact(), "an access left the ring");
        }
    }
    // Every check on the consumer side was reached, and faithful traffic was checked.
    assert_eq!(seen.len(), 5, "reasons seen: {seen:?}");
    assert!(checked > 1000, "only {checked} faithful messages were checked");
    assert!(unattached > 100, "only {unattached} reads of a producer page of another epoch");
}

#[test]
fn a_hostile_consumer_cannot_harm_the_producer() {
    let mut random = Random::new(0x5eed_0002);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..300 {
        let ring = TestRing::new(4096);
        let mut producer = Producer::new(ring.memory, EPOCH);
        let mut consumer = Consumer::new(ring.memory, EPOCH);
        let mut waiting = VecDeque::new();
        let mut sent = 0u64;
        let mut tampered = false;
        let mut corruption = None;
        for _ in 0..150 {
            match random.below(10) {
                0..=3 => {
                    let length = if random.below(10) == 0 {
                        4000 + random.below(200)
                    } else {
                        random.below(700)
                    };
                    let contents = message(sent, length);
                    let tail = ring.tail();
                    let before = ring.consumer_page();
                    let result = producer.send(&contents);
                    assert_eq!(
                        ring.consumer_page(),
                        before,
                        "the producer wrote the consumer's page"
                    );
                    match result {
                        Ok(()) => {
                            assert!(length <= 4088);
                            assert_eq!(ring.tail(), tail + 8 + length.next_multiple_of(8) as u64);
                            waiting.push_back(contents);
                            sent += 1;
                        }
                        Err(SendError::Full) => assert_eq!(ring.tail(), tail),
                        Err(SendError::TooLarge) => assert!(length > 4088),
                        Err(SendError::Corrupt(reason)) => {
                            assert!(tampered, "a faithful consumer reported corrupt: {reason}");
                            assert!(corruption.is_none_or(|first| first == reason));
                            corruption = Some(reason);
                            seen.insert(core::mem::discriminant(&reason));
                            assert_eq!(producer.free_space(), Err(reason));
                        }
                    }
                }
                4 => {
                    let tail = ring.tail();
                    let head = match random.below(4) {
                        0 => random.next(),
                        1 => tail.wrapping_sub(8 * random.below(600) as u64),
                        2 => tail.wrapping_add(8 * random.below(4) as u64),
                        _ => ring.head().wrapping_sub(8 * random.below(4) as u64),
                    };
                    ring.set_head(head);
                    if random.below(4) == 0 {
                        ring.region
                            .write(HEAD_WORD + 2 + random.below(PAGE_WORDS - 2), random.next());
                    }
                    if random.below(6) == 0 {
                        // Another epoch (nothing then counts as consumed), or the right one back.
                        let epoch = match random.below(3) {
                            0 => random.next(),
                            1 => 0,
                            _ => u64::from(EPOCH.get()),
                        };
                        ring.set_consumer_epoch(epoch);
                    }
                    tampered = true;
                }
                5 => match producer.free_space() {
                    Ok(free) => assert!(free <= 4088),
                    Err(reason) => {
                        assert!(tampered, "a faithful consumer reported corrupt: {reason}");
                        assert!(
                            corruption.is_some() || ring.consumer_epoch() == u64::from(EPOCH.get()),
                            "a consumer page of another epoch was found corrupt: {reason}"
                        );
                    }
                },
                _ => match consumer.receive(&mut [0; 4096]) {
                    // A faithful producer misled by a forged head may overwrite
                    // frames not yet read, which its consumer then finds corrupt.
                    Ok(Some(_)) | Ok(None) | Err(ReceiveError::Corrupt(_)) if tampered => {}
                    Ok(Some(length)) => {
                        assert_eq!(Some(length), waiting.front().map(Vec::len));
                        waiting.pop_front();
                    }
                    Ok(None) => assert!(waiting.is_empty()),
                    Err(error) => panic!("nothing was tampered with, yet: {error}"),
                },
            }
            assert!(ring.region.guards_intact(), "an access left the ring");
        }
    }
    assert!(seen.len() >= 2, "the hostile consumer was never caught: {seen:?}");
}

#[test]
fn two_threads_exchange_a_hundred_thousand_messages() {
    const MESSAGES: u64 = 100_000;
    /// Length of message `index`: varied, from 0 to 1500 bytes.
    fn length_of(index: u64) -> usize {
        (index.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize % 1501
    }
    let ring = TestRing::new(4096);
    let memory = ring.memory;
    let mut producer = Producer::new(memory, EPOCH);
    let mut consumer = Consumer::new(memory, EPOCH);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for index in 0..MESSAGES {
                let contents = message(index, length_of(index));
                loop {
                    match producer.send(&contents) {
                        Ok(()) => break,
                        Err(SendError::Full) => std::thread::yield_now(),
                        Err(error) => panic!("message {index}: {error}"),
                    }
                }
            }
        });
        scope.spawn(move || {
            let mut buffer = vec![0; 4096];
            for index in 0..MESSAGES {
                let length = loop {
                    match consumer.receive(&mut buffer) {
                        Ok(Some(length)) => break length,
                        Ok(None) => std::thread::yield_now(),
                        Err(error) => panic!("message {index}: {error}"),
                    }
                };
                assert_eq!(buffer[..length], message(index, length_of(index)), "message {index}");
            }
            assert_eq!(consumer.receive(&mut buffer), Ok(None));
        });
    });
    assert!(ring.region.guards_intact());
}

/// Set when a side of a two-thread test fails, so that the other side stops
/// waiting for it and the test fails instead of hanging.
struct GiveUpOnPanic<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for GiveUpOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

#[test]
fn restarts_racing_with_the_old_peer_on_two_threads_lose_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const ROUNDS: u32 = 200;
    const MESSAGES: u64 = 300;
    /// Length of message `index`: varied, from 0 to 600 bytes.
    fn length_of(index: u64) -> usize {
        (index.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize % 601
    }
    /// Waits a little for the other side, unless it failed.
    fn wait(gave_up: &AtomicBool) {
        assert!(!gave_up.load(Ordering::Acquire), "the other side failed");
        std::thread::yield_now();
    }
    /// Sends message `index` at once or after the consumer made room.
    fn send_eventually(producer: &mut Producer, index: u64, gave_up: &AtomicBool) {
        let contents = message(index, length_of(index));
        loop {
            match producer.send(&contents) {
                Ok(()) => return,
                Err(SendError::Full) => wait(gave_up),
                Err(error) => panic!("message {index} at the new epoch: {error}"),
            }
        }
    }
    /// Receives messages `0..MESSAGES` in order, waiting for each.
    fn receive_in_order(consumer: &mut Consumer, gave_up: &AtomicBool) {
        let mut buffer = vec![0; 4096];
        for index in 0..MESSAGES {
            let length = loop {
                match consumer.receive(&mut buffer) {
                    Ok(Some(length)) => break length,
                    Ok(None) => wait(gave_up),
                    Err(error) => panic!("message {index} at the new epoch: {error}"),
                }
            };
            assert_eq!(buffer[..length], message(index, length_of(index)), "message {index}");
        }
        assert_eq!(consumer.receive(&mut buffer), Ok(None));
    }

    for round in 0..ROUNDS {
        let ring = TestRing::new(4096);
        let memory = ring.memory;
        let (old, new) = (epoch(2 * round + 1), epoch(2 * round + 3));
        let mut old_producer = Producer::new(memory, old);
        let mut old_consumer = Consumer::new(memory, old);
        // A first life: three frames of 512 bytes sent, one received.
        for index in 0..3 {
            old_producer.send(&message(index, 504)).expect("room");
        }
        assert_eq!(receive_one(&mut old_consumer), message(0, 504));
        // Set once the surviving side is to notice the new epoch.
        let noticed = &AtomicBool::new(false);
        let gave_up = &AtomicBool::new(false);
        if round % 2 == 0 {
            // The consumer's VM restarts; the producer's keeps running and,
            // until it notices, sends at the old epoch and stores old tails.
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    let _guard = GiveUpOnPanic(gave_up);
                    let mut published = 3 * 512u64;
                    let mut index = 0;
                    while !noticed.load(Ordering::Acquire) {
                        match old_producer.send(&message(10_000 + index, 40)) {
                            Ok(()) => {
                                published += 48;
                                index += 1;
                            }
                            // Full, or misled by the zeroing of the page it
                            // was reading: either way, store the old tail again.
                            Err(_) => memory.tail().store(published.to_le(), Ordering::Release),
                        }
                        assert!(!gave_up.load(Ordering::Acquire), "the restarted side failed");
                    }
                    let mut producer = Producer::new(memory, new);
                    for index in 0..MESSAGES {
                        send_eventually(&mut producer, index, gave_up);
                    }
                });
                let _guard = GiveUpOnPanic(gave_up);
                // The hypervisor zeroes the control pages; the restarted VM attaches.
                memory.reset();
                let mut consumer = Consumer::new(memory, new);
                let mut buffer = vec![0; 4096];
                for _ in 0..200 {
                    assert_eq!(consumer.receive(&mut buffer), Ok(None));
                    assert_eq!(consumer.is_empty(), Ok(true));
                }
                noticed.store(true, Ordering::Release);
                receive_in_order(&mut consumer, gave_up);
            });
        } else {
            // The producer's VM restarts; the consumer's keeps running and,
            // until it notices, receives at the old epoch and stores old heads.
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    let _guard = GiveUpOnPanic(gave_up);
                    let mut buffer = vec![0; 4096];
                    let mut consumed = 512u64;
                    while !noticed.load(Ordering::Acquire) {
                        match old_consumer.receive(&mut buffer) {
                            Ok(Some(length)) => consumed += crate::frame_size(length as u32),
                            // Nothing more, or misled by the zeroing of the
                            // page it was reading: store the old head again.
                            Ok(None) | Err(_) => {
                                memory.head().store(consumed.to_le(), Ordering::Release)
                            }
                        }
                        assert!(!gave_up.load(Ordering::Acquire), "the restarted side failed");
                    }
                    let mut consumer = Consumer::new(memory, new);
                    receive_in_order(&mut consumer, gave_up);
                });
                let _guard = GiveUpOnPanic(gave_up);
                // The hypervisor zeroes the control pages; the restarted VM
                // attaches and sends until the ring is full.
                memory.reset();
                let mut producer = Producer::new(memory, new);
                let mut sent = 0;
                loop {
                    let contents = message(sent, length_of(sent));
                    match producer.send(&contents) {
                        Ok(()) => sent += 1,
                        Err(SendError::Full) => break,
                        Err(error) => panic!("message {sent} before the peer noticed: {error}"),
                    }
                }
                assert!(sent > 0);
                noticed.store(true, Ordering::Release);
                for index in sent..MESSAGES {
                    send_eventually(&mut producer, index, gave_up);
                }
            });
        }
        assert!(ring.region.guards_intact());
    }
}
