//! The sending side of a ring.

use core::num::NonZeroU32;
use core::sync::atomic::Ordering;

use crate::{frame_size, CorruptReason, RingMemory, SendError, FRAME_ALIGNMENT, FRAME_HEADER_SIZE};

/// Bytes of a data word.
const WORD_SIZE: usize = core::mem::size_of::<u64>();

/// The sending side of a ring: writes frames into the data and publishes them
/// through the producer control page.
#[derive(Debug)]
pub struct Producer {
    /// The ring.
    memory: RingMemory,
    /// The channel epoch this producer attached at; the consumer's `head`
    /// counts only once the consumer control page carries the same epoch.
    epoch: NonZeroU32,
    /// Bytes produced so far; the shared `tail` is only ever written from this.
    tail: u64,
    /// The consumer's `head` as last seen and checked (0 until the consumer
    /// has attached at this epoch).
    head: u64,
    /// The sequence number of the next frame.
    sequence: u32,
    /// What the consumer did wrong, once seen; the producer then sends nothing more.
    corruption: Option<CorruptReason>,
}

impl Producer {
    /// Attaches to a ring for the channel epoch `epoch`, the one the status
    /// page gave when the channel came up: writes `tail` = 0, then `epoch`
    /// (release), to the producer control page, and starts at sequence 0.
    ///
    /// No earlier producer of this ring may have attached at `epoch`: the
    /// hypervisor bumps the epoch at every transition of the channel.
    /// While the consumer control page carries another epoch, the consumer
    /// counts as not attached: nothing more counts as consumed, whatever its
    /// `head` says.
    pub fn new(memory: RingMemory, epoch: NonZeroU32) -> Self {
        Self::resume(memory, epoch, 0, 0)
    }

    /// Attaches as if `tail` bytes and `sequence` frames had been sent, with
    /// everything consumed: lets tests reach the wrapping of both counters.
    pub(crate) fn resume(memory: RingMemory, epoch: NonZeroU32, tail: u64, sequence: u32) -> Self {
        memory.tail().store(tail.to_le(), Ordering::Release);
        // Released after the tail: a consumer that sees this epoch sees this
        // tail or a later one, never one stored before this attachment.
        memory.producer_epoch().store(u64::from(epoch.get()).to_le(), Ordering::Release);
        Self { memory, epoch, tail, head: tail, sequence, corruption: None }
    }

    /// The channel epoch this producer attached at.
    pub fn epoch(&self) -> NonZeroU32 {
        self.epoch
    }

    /// Sends `message` as one frame.
    ///
    /// Returns [`SendError::Full`] when the ring has no room for it now (nothing
    /// is written; try again once the consumer has read),
    /// [`SendError::TooLarge`] when it is longer than
    /// [`RingMemory::max_message_size`], and [`SendError::Corrupt`] when the
    /// consumer's `head` is impossible; from then on every call reports that
    /// again until the producer is created afresh.
    pub fn send(&mut self, message: &[u8]) -> Result<(), SendError> {
        if let Some(reason) = self.corruption {
            return Err(SendError::Corrupt(reason));
        }
        if message.len() > self.memory.max_message_size() {
            return Err(SendError::TooLarge);
        }
        // The capacity is at most 2^32, so the largest payload fits a `u32`.
        let length = message.len() as u32;
        let head = match self.check_head() {
            Ok(head) => head,
            Err(reason) => {
                self.corruption = Some(reason);
                return Err(SendError::Corrupt(reason));
            }
        };
        self.head = head;
        let frame = frame_size(length);
        if frame > self.free_bytes(head) {
            return Err(SendError::Full);
        }

        let first_word = self.tail / WORD_SIZE as u64;
        let header = u64::from(length) | (u64::from(self.sequence) << 32);
        self.memory.write_word(first_word, header);
        let mut word = first_word;
        crate::words::read_words(message, |value| {
            word = word.wrapping_add(1);
            self.memory.write_word(word, value);
        });

        self.tail = self.tail.wrapping_add(frame);
        self.memory.tail().store(self.tail.to_le(), Ordering::Release);
        self.sequence = self.sequence.wrapping_add(1);
        Ok(())
    }

    /// Bytes of payload the next frame could carry now (0 if full).
    ///
    /// Returns the [`CorruptReason`] when the consumer's `head` is impossible
    /// or was found impossible before.
    pub fn free_space(&self) -> Result<usize, CorruptReason> {
        if let Some(reason) = self.corruption {
            return Err(reason);
        }
        let free = self.free_bytes(self.check_head()?);
        // `free` is at most the capacity, which fits a `usize`.
        Ok((free as usize).saturating_sub(FRAME_HEADER_SIZE))
    }

    /// Bytes of data free when the consumer's `head` is `head` (already checked).
    fn free_bytes(&self, head: u64) -> u64 {
        let used = self.tail.wrapping_sub(head);
        (self.memory.capacity() as u64).saturating_sub(used)
    }

    /// Loads the consumer's `head` and checks that a faithful consumer could
    /// have written it: a multiple of 8, no earlier than the `head` seen
    /// before and no later than `tail`.
    ///
    /// While the consumer control page carries an epoch other than this
    /// producer's, the consumer has not attached at this epoch and has
    /// consumed nothing since: the `head` seen before (0 right after
    /// attaching) stands, whatever the page's `head` holds. That value may be
    /// an old one that a consumer of an earlier epoch stored after the
    /// hypervisor zeroed the page.
    fn check_head(&self) -> Result<u64, CorruptReason> {
        // Acquire: once the epoch matches, the `head` loaded below is the 0
        // the consumer stored when it attached, or one it stored later.
        let epoch = u64::from_le(self.memory.consumer_epoch().load(Ordering::Acquire));
        if epoch != u64::from(self.epoch.get()) {
            return Ok(self.head);
        }
        let head = u64::from_le(self.memory.head().load(Ordering::Acquire));
        if !head.is_multiple_of(FRAME_ALIGNMENT as u64) {
            return Err(CorruptReason::HeadMisaligned);
        }
        // Measured from the last head seen, a valid head lies between it and
        // `tail`; one that moved backwards wraps around to a huge distance.
        if head.wrapping_sub(self.head) > self.tail.wrapping_sub(self.head) {
            return Err(CorruptReason::HeadOutOfRange);
        }
        Ok(head)
    }
}
