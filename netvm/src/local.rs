//! netvm's own stack as one port of the bridge: a smoltcp `phy::Device`
//! made of two queues of frames, filled and emptied by the bridge.
//!
//! The bridge puts the frames meant for netvm (its own MAC address,
//! broadcast and multicast) into [`LocalPort::inbound`], wherever they came
//! from (the NIC or Linux); smoltcp takes them from there and writes what it
//! sends into [`LocalPort::outbound`], from where the bridge hands each frame
//! to the NIC, to Linux or both, by its destination.
//!
//! smoltcp gets a frame only while the outbound queue has room for an
//! answer, and room to send only while it is not full: when the bridge
//! falls behind, the stack waits instead of losing frames.

use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest frame a queue holds: an Ethernet frame with a VLAN tag,
/// without its checksum, as on the `linux-net` channel.
pub const MAXIMUM_FRAME: usize = 1518;
/// The largest frame smoltcp sends: an untagged Ethernet frame of 1500
/// bytes of payload.
pub const STACK_FRAME: usize = 1514;
/// Frames each of the local port's queues holds.
pub const QUEUE_FRAMES: usize = 64;

/// A first-in first-out queue of up to a fixed number of frames, each in
/// a slot of [`MAXIMUM_FRAME`] bytes allocated once.
pub struct FrameQueue {
    storage: Vec<u8>,
    lengths: Vec<usize>,
    /// The slot of the oldest frame.
    head: usize,
    /// Frames queued.
    count: usize,
}

impl FrameQueue {
    /// An empty queue with room for `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Self {
            storage: vec![0; capacity * MAXIMUM_FRAME],
            lengths: vec![0; capacity],
            head: 0,
            count: 0,
        }
    }

    /// Frames queued.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no frame is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the queue has no room for another frame.
    pub fn is_full(&self) -> bool {
        self.count == self.lengths.len()
    }

    /// Queues a copy of `frame`; returns whether it fit (the queue had
    /// room, and the frame is at most [`MAXIMUM_FRAME`] bytes).
    pub fn push(&mut self, frame: &[u8]) -> bool {
        self.push_with(frame.len(), |slot| slot.copy_from_slice(frame)).is_some()
    }

    /// Queues a frame of `length` bytes that `fill` writes; `None`, without
    /// calling `fill`, if it does not fit.
    pub fn push_with<R>(&mut self, length: usize, fill: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if self.is_full() || length > MAXIMUM_FRAME {
            return None;
        }
        let slot = (self.head + self.count) % self.lengths.len();
        self.lengths[slot] = length;
        self.count += 1;
        let start = slot * MAXIMUM_FRAME;
        Some(fill(&mut self.storage[start..start + length]))
    }

    /// The oldest frame.
    pub fn front(&self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        let start = self.head * MAXIMUM_FRAME;
        Some(&self.storage[start..start + self.lengths[self.head]])
    }

    /// Drops the oldest frame.
    pub fn pop(&mut self) {
        if !self.is_empty() {
            self.head = (self.head + 1) % self.lengths.len();
            self.count -= 1;
        }
    }
}

/// netvm's stack's side of the bridge.
pub struct LocalPort {
    /// Frames for the stack.
    pub inbound: FrameQueue,
    /// Frames from the stack.
    pub outbound: FrameQueue,
}

impl Default for LocalPort {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalPort {
    /// Empty queues of [`QUEUE_FRAMES`] frames each.
    pub fn new() -> Self {
        Self { inbound: FrameQueue::new(QUEUE_FRAMES), outbound: FrameQueue::new(QUEUE_FRAMES) }
    }
}

impl phy::Device for LocalPort {
    type RxToken<'a> = ReceiveToken<'a>;
    type TxToken<'a> = TransmitToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(ReceiveToken<'_>, TransmitToken<'_>)> {
        if self.inbound.is_empty() || self.outbound.is_full() {
            return None;
        }
        Some((
            ReceiveToken { queue: &mut self.inbound },
            TransmitToken { queue: &mut self.outbound },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TransmitToken<'_>> {
        (!self.outbound.is_full()).then_some(TransmitToken { queue: &mut self.outbound })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = STACK_FRAME;
        capabilities
    }
}

/// The oldest frame for the stack, taken off the queue when consumed.
pub struct ReceiveToken<'a> {
    queue: &'a mut FrameQueue,
}

impl phy::RxToken for ReceiveToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // The token exists only for a queue with a frame in it.
        let result = f(self.queue.front().unwrap_or_default());
        self.queue.pop();
        result
    }
}

/// Room for one frame from the stack.
pub struct TransmitToken<'a> {
    queue: &'a mut FrameQueue,
}

impl phy::TxToken for TransmitToken<'_> {
    fn consume<R, F>(self, length: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // The token exists only for a queue with room, and smoltcp keeps to
        // the capabilities' frame size; a frame that still does not fit is
        // written to a scratch buffer and lost.
        let mut f = Some(f);
        if let Some(result) = self.queue.push_with(length, |slot| (f.take().unwrap())(slot)) {
            return result;
        }
        let mut scratch = vec![0; length];
        // `f` is still here: `push_with` did not call `fill`.
        (f.take().unwrap())(&mut scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{Device, RxToken, TxToken};

    const NOW: Instant = Instant::from_millis_const(0);

    #[test]
    fn frames_come_out_in_order_and_the_slots_are_reused() {
        let mut queue = FrameQueue::new(3);
        for round in 0..5u8 {
            assert!(queue.push(&[round; 60]));
            assert!(queue.push(&[round + 100; MAXIMUM_FRAME]));
            assert_eq!(queue.len(), 2);
            assert_eq!(queue.front(), Some(&[round; 60][..]));
            queue.pop();
            assert_eq!(queue.front(), Some(&[round + 100; MAXIMUM_FRAME][..]));
            queue.pop();
            assert!(queue.is_empty());
            assert_eq!(queue.front(), None);
        }
    }

    #[test]
    fn a_full_queue_and_an_oversized_frame_are_refused() {
        let mut queue = FrameQueue::new(2);
        assert!(!queue.push(&[0; MAXIMUM_FRAME + 1]));
        assert!(queue.push(&[1; 20]));
        assert!(queue.push(&[2; 20]));
        assert!(queue.is_full());
        assert!(!queue.push(&[3; 20]));
        let mut called = false;
        assert_eq!(queue.push_with(20, |_| called = true), None);
        assert!(!called);
        queue.pop();
        queue.pop();
        queue.pop();
        assert!(queue.is_empty());
        assert!(queue.push(&[4; 20]));
        assert_eq!(queue.front(), Some(&[4; 20][..]));
    }

    #[test]
    fn the_stack_reads_the_inbound_queue_and_writes_the_outbound_one() {
        let mut port = LocalPort::new();
        assert!(port.receive(NOW).is_none());
        port.inbound.push(&[7; 64]);
        let (receive, transmit) = port.receive(NOW).unwrap();
        assert_eq!(receive.consume(|frame| frame.to_vec()), [7; 64]);
        transmit.consume(42, |buffer| buffer.fill(9));
        assert!(port.inbound.is_empty());
        assert_eq!(port.outbound.front(), Some(&[9; 42][..]));
        assert_eq!(port.capabilities().max_transmission_unit, STACK_FRAME);
    }

    #[test]
    fn the_stack_waits_while_the_outbound_queue_is_full() {
        let mut port = LocalPort::new();
        port.inbound.push(&[1; 60]);
        for _ in 0..QUEUE_FRAMES {
            port.transmit(NOW).unwrap().consume(60, |buffer| buffer.fill(2));
        }
        assert!(port.transmit(NOW).is_none());
        assert!(port.receive(NOW).is_none(), "no frame without room for an answer");
        port.outbound.pop();
        assert!(port.receive(NOW).is_some());
    }
}
