//! The receiving side of a ring.

use core::num::NonZeroU32;
use core::sync::atomic::Ordering;

use crate::{frame_size, CorruptReason, ReceiveError, RingMemory, FRAME_ALIGNMENT};

/// Bytes of a data word.
const WORD_SIZE: usize = core::mem::size_of::<u64>();

/// The receiving side of a ring: reads frames from the data and releases
/// their space through the consumer control page.
#[derive(Debug)]
pub struct Consumer {
    /// The ring.
    memory: RingMemory,
    /// The channel epoch this consumer attached at; the producer's `tail`
    /// counts only once the producer control page carries the same epoch.
    epoch: NonZeroU32,
    /// Bytes consumed so far; the shared `head` is only ever written from this.
    head: u64,
    /// The producer's `tail` as last seen and checked.
    tail: u64,
    /// The sequence number the next frame must carry.
    sequence: u32,
    /// What the producer did wrong, once seen; the consumer then reads nothing more.
    corruption: Option<CorruptReason>,
}

/// The next frame's payload length, checked against the ring and the bytes published.
enum Next {
    /// No frame is waiting.
    Empty,
    /// A frame of this many payload bytes is waiting, whole.
    Frame(u32),
}

impl Consumer {
    /// Attaches to a ring for the channel epoch `epoch`, the one the status
    /// page gave when the channel came up: writes `head` = 0, then `epoch`
    /// (release), to the consumer control page, and expects sequence 0 next.
    ///
    /// No earlier consumer of this ring may have attached at `epoch`: the
    /// hypervisor bumps the epoch at every transition of the channel.
    /// While the producer control page carries another epoch, the producer
    /// counts as not attached: the ring is empty, whatever its `tail` says.
    pub fn new(memory: RingMemory, epoch: NonZeroU32) -> Self {
        Self::resume(memory, epoch, 0, 0)
    }

    /// Attaches as if `head` bytes and `sequence` frames had been received,
    /// with nothing waiting: lets tests reach the wrapping of both counters.
    pub(crate) fn resume(memory: RingMemory, epoch: NonZeroU32, head: u64, sequence: u32) -> Self {
        memory.head().store(head.to_le(), Ordering::Release);
        // Released after the head: a producer that sees this epoch sees this
        // head or a later one, never one stored before this attachment.
        memory.consumer_epoch().store(u64::from(epoch.get()).to_le(), Ordering::Release);
        Self { memory, epoch, head, tail: head, sequence, corruption: None }
    }

    /// The channel epoch this consumer attached at.
    pub fn epoch(&self) -> NonZeroU32 {
        self.epoch
    }

    /// Copies the next message into `buffer`.
    ///
    /// Returns `Ok(Some(length))` with the message in `buffer[..length]`,
    /// `Ok(None)` when the ring is empty (as it is while the producer has not
    /// attached at this consumer's epoch), [`ReceiveError::BufferTooSmall`]
    /// (leaving the message in place) when `buffer` is shorter than the
    /// message, and [`ReceiveError::Corrupt`] for anything a faithful producer
    /// cannot produce: a `tail` behind `head` or more than the capacity ahead,
    /// a length larger than the bytes available or the maximum, a wrong
    /// sequence number. After `Corrupt` the consumer stays put: every later call
    /// reports `Corrupt` again until it is created afresh.
    ///
    /// If the producer rewrites a frame while it is being copied, `buffer`
    /// receives whatever the memory held; only the length is read once and
    /// checked.
    pub fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, ReceiveError> {
        if let Some(reason) = self.corruption {
            return Err(ReceiveError::Corrupt(reason));
        }
        let length = match self.next_frame() {
            Ok((_, Next::Empty)) => return Ok(None),
            Ok((tail, Next::Frame(length))) => {
                self.tail = tail;
                length
            }
            Err(reason) => {
                self.corruption = Some(reason);
                return Err(ReceiveError::Corrupt(reason));
            }
        };
        // The length is at most the capacity less 8, which fits a `usize`.
        let size = length as usize;
        let Some(destination) = buffer.get_mut(..size) else {
            return Err(ReceiveError::BufferTooSmall { needed: size });
        };

        let mut word = self.head / WORD_SIZE as u64;
        crate::words::write_words(destination, || {
            word = word.wrapping_add(1);
            self.memory.read_word(word)
        });

        self.head = self.head.wrapping_add(frame_size(length));
        self.memory.head().store(self.head.to_le(), Ordering::Release);
        self.sequence = self.sequence.wrapping_add(1);
        Ok(Some(size))
    }

    /// Whether no message is waiting (none is while the producer has not
    /// attached at this consumer's epoch).
    ///
    /// Returns the [`CorruptReason`] when the producer's `tail` is impossible
    /// or something impossible was found before. A waiting frame's header is
    /// checked by [`Consumer::receive`], not here.
    pub fn is_empty(&self) -> Result<bool, CorruptReason> {
        if let Some(reason) = self.corruption {
            return Err(reason);
        }
        Ok(self.check_tail()? == self.head)
    }

    /// Finds the next frame: returns the checked `tail` and what waits before it.
    fn next_frame(&self) -> Result<(u64, Next), CorruptReason> {
        let tail = self.check_tail()?;
        let available = tail.wrapping_sub(self.head);
        if available == 0 {
            return Ok((tail, Next::Empty));
        }
        // `head` and `tail` are multiples of 8, so a whole header is published.
        let header = self.memory.read_word(self.head / WORD_SIZE as u64);
        let length = header as u32;
        let sequence = (header >> 32) as u32;
        if sequence != self.sequence {
            return Err(CorruptReason::WrongSequence { expected: self.sequence, found: sequence });
        }
        if length as u64 > self.memory.max_message_size() as u64 {
            return Err(CorruptReason::LengthTooLarge { length });
        }
        if frame_size(length) > available {
            return Err(CorruptReason::LengthBeyondTail { length });
        }
        Ok((tail, Next::Frame(length)))
    }

    /// Loads the producer's `tail` and checks that a faithful producer could
    /// have written it: a multiple of 8, no earlier than the `tail` seen
    /// before and at most the capacity ahead of `head`.
    ///
    /// While the producer control page carries an epoch other than this
    /// consumer's, the producer has not attached at this epoch and has
    /// published nothing for it: the result is `head` (nothing waiting),
    /// whatever the page's `tail` holds. That value may be an old one that a
    /// producer of an earlier epoch stored after the hypervisor zeroed the page.
    fn check_tail(&self) -> Result<u64, CorruptReason> {
        // Acquire: once the epoch matches, the `tail` loaded below is the 0
        // the producer stored when it attached, or one it stored later.
        let epoch = u64::from_le(self.memory.producer_epoch().load(Ordering::Acquire));
        if epoch != u64::from(self.epoch.get()) {
            return Ok(self.head);
        }
        let tail = u64::from_le(self.memory.tail().load(Ordering::Acquire));
        if !tail.is_multiple_of(FRAME_ALIGNMENT as u64) {
            return Err(CorruptReason::TailMisaligned);
        }
        // Measured from `head`, a valid tail lies between the tail seen before
        // and the capacity; one behind `head` wraps around to a huge distance.
        let available = tail.wrapping_sub(self.head);
        if available > self.memory.capacity() as u64
            || available < self.tail.wrapping_sub(self.head)
        {
            return Err(CorruptReason::TailOutOfRange);
        }
        Ok(tail)
    }
}
