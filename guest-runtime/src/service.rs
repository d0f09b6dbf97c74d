//! The serving loop of the skeleton VMs: follow every channel's state,
//! answer every ping with a pong, hand pongs to the program, and sleep until
//! a doorbell rings or a deadline passes.
//!
//! [`run`] is the whole program of netvm and chainvm; the app VM adds its own
//! [`Handler`] that sends pings. [`Server::serve`] is one pass over the
//! channels, kept apart from the waiting so that it can be tested on the host.

use crate::channel::{Change, Channel, ChannelError, Channels, IgnoreReason};
use crate::message::{DecodeError, Message, MESSAGE_MAX};
use crate::messaging::Record;
use crate::time::Instant;
use crate::{println, warn};
use core::time::Duration;
use hypercall_abi::MAX_CHANNELS_PER_MACHINE;

/// The most messages taken from one channel in one pass, so that a peer that
/// floods its ring cannot starve the other channels.
pub const RECEIVE_BATCH: usize = 64;
/// The longest the loop sleeps without a doorbell or a deadline.
pub const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What a program adds to the serving loop. Every method has a default that
/// does nothing.
pub trait Handler {
    /// Channel `channel` changed state (already printed).
    fn channel_changed(&mut self, channel: &Channel, change: Change) {
        let _ = (channel, change);
    }

    /// Whether the program serves `channel` itself. The loop still follows a
    /// claimed channel's state (printing it and calling
    /// [`Handler::channel_changed`]) and wakes for its doorbell, but leaves its
    /// messages to the program, which takes them in [`Handler::tick`].
    fn claims(&self, channel: &Channel) -> bool {
        let _ = channel;
        false
    }

    /// A pong arrived on `channel`.
    fn pong_received(&mut self, channel: &mut Channel, payload: &[u8]) {
        let _ = (channel, payload);
    }

    /// A messaging record ([`crate::messaging`]) arrived on `channel`.
    /// Returns whether the program understood it; one it did not is counted
    /// and reported like any other bad message.
    fn record_received(&mut self, channel: &mut Channel, record: &[u8]) -> bool {
        let _ = (channel, record);
        false
    }

    /// Called after every pass over the channels, at `now`. Returns when the
    /// handler next wants to be called, if before the loop's own wait ends.
    fn tick(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
        let _ = (channels, now);
        None
    }

    /// The shared peripheral interrupts of devices the program drives, which
    /// `run` enables beside the doorbells when it starts. Each wakes the
    /// loop like a doorbell (the loop ends it at the GIC) and is followed by
    /// a pass and a [`Handler::tick`], where the handler serves its device.
    fn device_interrupts(&self) -> &[u32] {
        &[]
    }
}

/// A handler that only answers pings: netvm's and chainvm's.
pub struct AnswerPings;

impl Handler for AnswerPings {}

/// What the server remembers of one channel, for the current epoch.
#[derive(Clone, Copy, Debug, Default)]
struct PeerRecord {
    /// A message that is neither ping nor pong was reported.
    bad_message_reported: bool,
    /// A pong that did not fit the ring was reported.
    dropped_pong_reported: bool,
}

/// The serving loop's state and counters.
pub struct Server {
    peers: [PeerRecord; MAX_CHANNELS_PER_MACHINE],
    /// Pings answered with a pong.
    pub pings_answered: u64,
    /// Pongs not sent because the ring was full (or the channel went away).
    pub pongs_dropped: u64,
    /// Received records that were not messages.
    pub bad_messages: u64,
    /// Data messages taken (and dropped).
    pub data_received: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A server with nothing counted yet.
    pub const fn new() -> Self {
        Self {
            peers: [PeerRecord { bad_message_reported: false, dropped_pong_reported: false };
                MAX_CHANNELS_PER_MACHINE],
            pings_answered: 0,
            pongs_dropped: 0,
            bad_messages: 0,
            data_received: 0,
        }
    }

    /// One pass over every channel: follows state changes (printing them and
    /// telling `handler`), then takes up to [`RECEIVE_BATCH`] messages from
    /// each channel `handler` does not claim, answering pings and handing
    /// pongs to `handler`, and rings the doorbell of each peer that got an
    /// answer. Returns whether messages were left waiting.
    pub fn serve(&mut self, channels: &mut Channels, handler: &mut impl Handler) -> bool {
        let mut more_waiting = false;
        for channel in channels.iter_mut() {
            if let Some(change) = channel.refresh() {
                report(channel, change);
                self.peers[channel.index()] = PeerRecord::default();
                handler.channel_changed(channel, change);
            }
            if !handler.claims(channel) {
                more_waiting |= self.drain(channel, handler);
            }
        }
        more_waiting
    }

    /// Takes up to [`RECEIVE_BATCH`] messages from `channel`; returns whether
    /// more are waiting.
    fn drain(&mut self, channel: &mut Channel, handler: &mut impl Handler) -> bool {
        if !channel.may_receive() || !channel.is_up() || channel.is_ignored() {
            return false;
        }
        let mut buffer = [0u8; MESSAGE_MAX];
        let mut answered = false;
        let mut more_waiting = true;
        for _ in 0..RECEIVE_BATCH {
            match channel.receive(&mut buffer) {
                Ok(Some(length)) => match Message::decode(&buffer[..length]) {
                    Ok(Message::Ping(payload)) => answered |= self.answer(channel, payload),
                    Ok(Message::Pong(payload)) => handler.pong_received(channel, payload),
                    Ok(Message::Data(_)) => {
                        self.data_received += 1;
                        // Ring the sender after the batch: it may be waiting
                        // for room in the ring.
                        answered = true;
                    }
                    Err(DecodeError::UnknownKind(kind))
                        if Record::is_messaging_kind(kind)
                            && handler.record_received(channel, &buffer[..length]) => {}
                    Err(error) => {
                        self.bad_messages += 1;
                        let record = &mut self.peers[channel.index()];
                        if !record.bad_message_reported {
                            record.bad_message_reported = true;
                            warn!("channel {}: {error} ignored", channel.name());
                        }
                    }
                },
                Ok(None) => {
                    more_waiting = false;
                    break;
                }
                Err(ChannelError::BufferTooSmall { needed }) => {
                    channel.ignore(IgnoreReason::Oversized { length: needed, limit: MESSAGE_MAX });
                    more_waiting = false;
                    break;
                }
                // Down, ignored or just found corrupt (the channel said so).
                Err(_) => {
                    more_waiting = false;
                    break;
                }
            }
        }
        if answered {
            // The channel logs a failure other than a peer that just stopped;
            // the pongs wait in the ring either way.
            let _ = channel.notify();
        }
        more_waiting
    }

    /// Sends the pong for a ping carrying `payload`; returns whether it went.
    fn answer(&mut self, channel: &mut Channel, payload: &[u8]) -> bool {
        let mut reply = [0u8; MESSAGE_MAX];
        // The ping fit a buffer of MESSAGE_MAX bytes, so its pong, one kind
        // byte and the same payload, fits one too.
        let Ok(length) = Message::Pong(payload).encode(&mut reply) else {
            return false;
        };
        match channel.send(&reply[..length]) {
            Ok(()) => {
                self.pings_answered += 1;
                true
            }
            Err(error) => {
                self.pongs_dropped += 1;
                let record = &mut self.peers[channel.index()];
                if !record.dropped_pong_reported && matches!(error, ChannelError::Full) {
                    record.dropped_pong_reported = true;
                    warn!("channel {}: ring full, pong dropped", channel.name());
                }
                false
            }
        }
    }
}

/// Prints a channel's change of state.
fn report(channel: &Channel, change: Change) {
    match change {
        Change::Down => println!("channel {} down", channel.name()),
        Change::Up { epoch } => println!("channel {} up (epoch {epoch})", channel.name()),
        Change::Restarted { epoch } => {
            println!("channel {} down", channel.name());
            println!("channel {} up (epoch {epoch})", channel.name());
        }
    }
}

/// The whole life of a skeleton VM: prints `started (boot N)`, discovers
/// and lists its channels, enables their doorbells, then serves forever with
/// `handler`, sleeping until a doorbell, the handler's deadline or
/// [`IDLE_WAIT`].
#[cfg(target_os = "none")]
pub fn run(handler: &mut impl Handler) -> ! {
    use crate::gic::Gic;
    use crate::hypercall;

    let machine = match hypercall::machine_info() {
        Ok(machine) => machine,
        Err(status) => {
            warn!("VM_INFO failed: {status:?}");
            hypercall::stop_failed()
        }
    };
    println!("started (boot {})", machine.start_count);
    let mut channels = Channels::discover(machine.channel_count);
    for channel in channels.iter() {
        println!("channel {channel}");
    }
    let Some(mut gic) = Gic::take() else {
        warn!("the GIC is already in use: the serving loop runs only once");
        hypercall::stop_failed()
    };
    for channel in channels.iter() {
        if let Err(error) = gic.enable_shared_interrupt(channel.info().doorbell) {
            warn!("channel {}: doorbell not enabled: {error}", channel.name());
        }
    }
    for &intid in handler.device_interrupts() {
        if let Err(error) = gic.enable_shared_interrupt(intid) {
            warn!("device interrupt not enabled: {error}");
        }
    }
    let mut server = Server::new();
    loop {
        let more_waiting = server.serve(&mut channels, handler);
        let now = Instant::now();
        let wanted = handler.tick(&mut channels, now);
        if more_waiting {
            continue;
        }
        let idle = now + IDLE_WAIT;
        let deadline = wanted.map_or(idle, |wanted| wanted.min(idle));
        gic.wait_for_interrupt(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::tests::{Region, FIRST_END};
    use crate::message::{KIND_PING, KIND_PONG};
    use channel_ring::{Consumer, Producer};

    /// Records what the server tells it.
    #[derive(Default)]
    struct Recorder {
        changes: Vec<Change>,
        pongs: Vec<Vec<u8>>,
    }

    impl Handler for Recorder {
        fn channel_changed(&mut self, _channel: &Channel, change: Change) {
            self.changes.push(change);
        }

        fn pong_received(&mut self, _channel: &mut Channel, payload: &[u8]) {
            self.pongs.push(payload.to_vec());
        }
    }

    /// A channel up at epoch 1 in `region`, with the peer's ends.
    fn setup(region: &Region) -> (Channels, Producer, Consumer) {
        region.restart(1);
        let mut channels = Channels::new();
        channels.insert(region.channel(FIRST_END));
        (channels, region.peer_producer(1, 1), region.peer_consumer(0, 1))
    }

    fn received(consumer: &mut Consumer) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        let mut buffer = [0u8; MESSAGE_MAX];
        while let Some(length) = consumer.receive(&mut buffer).unwrap() {
            messages.push(buffer[..length].to_vec());
        }
        messages
    }

    #[test]
    fn pings_are_answered_with_their_payload() {
        let region = Region::new();
        let (mut channels, mut peer_producer, mut peer_consumer) = setup(&region);
        let mut server = Server::new();
        peer_producer.send(&[KIND_PING, 1, 2, 3]).unwrap();
        peer_producer.send(&[KIND_PING]).unwrap();
        assert!(!server.serve(&mut channels, &mut AnswerPings));
        assert_eq!(received(&mut peer_consumer), [vec![KIND_PONG, 1, 2, 3], vec![KIND_PONG]]);
        assert_eq!(server.pings_answered, 2);
    }

    #[test]
    fn garbage_is_counted_and_skipped() {
        let region = Region::new();
        let (mut channels, mut peer_producer, mut peer_consumer) = setup(&region);
        let mut server = Server::new();
        peer_producer.send(&[]).unwrap();
        peer_producer.send(&[9, 9]).unwrap();
        peer_producer.send(&[KIND_PING, 7]).unwrap();
        server.serve(&mut channels, &mut AnswerPings);
        assert_eq!(server.bad_messages, 2);
        assert_eq!(received(&mut peer_consumer), [vec![KIND_PONG, 7]]);
    }

    #[test]
    fn pongs_go_to_the_handler() {
        let region = Region::new();
        let (mut channels, mut peer_producer, _) = setup(&region);
        let mut recorder = Recorder::default();
        peer_producer.send(&[KIND_PONG, 4, 2]).unwrap();
        Server::new().serve(&mut channels, &mut recorder);
        assert_eq!(recorder.pongs, [vec![4, 2]]);
    }

    /// Takes receipts, refuses anything else.
    #[derive(Default)]
    struct ReceiptTaker {
        receipts: Vec<Vec<u8>>,
    }

    impl Handler for ReceiptTaker {
        fn record_received(&mut self, _channel: &mut Channel, record: &[u8]) -> bool {
            let taken = record.first() == Some(&crate::messaging::KIND_RECEIPT);
            if taken {
                self.receipts.push(record.to_vec());
            }
            taken
        }
    }

    #[test]
    fn messaging_records_go_to_the_handler() {
        let region = Region::new();
        let (mut channels, mut peer_producer, _) = setup(&region);
        let mut server = Server::new();
        let mut taker = ReceiptTaker::default();
        let receipt = [crate::messaging::KIND_RECEIPT, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        peer_producer.send(&receipt).unwrap();
        peer_producer.send(&[crate::messaging::KIND_ACCEPT, 1]).unwrap();
        server.serve(&mut channels, &mut taker);
        assert_eq!(taker.receipts, [receipt.to_vec()]);
        // The one the handler did not understand counts as bad; with the
        // default handler, so do all of them.
        assert_eq!(server.bad_messages, 1);
        peer_producer.send(&receipt).unwrap();
        server.serve(&mut channels, &mut AnswerPings);
        assert_eq!(server.bad_messages, 2);
    }

    #[test]
    fn state_changes_reach_the_handler() {
        let region = Region::new();
        let (mut channels, ..) = setup(&region);
        let mut server = Server::new();
        let mut recorder = Recorder::default();
        server.serve(&mut channels, &mut recorder);
        assert!(recorder.changes.is_empty());
        region.set_status(false, 2);
        server.serve(&mut channels, &mut recorder);
        region.restart(3);
        server.serve(&mut channels, &mut recorder);
        region.set_status(false, 4);
        region.restart(5);
        server.serve(&mut channels, &mut recorder);
        assert_eq!(
            recorder.changes,
            [Change::Down, Change::Up { epoch: 3 }, Change::Restarted { epoch: 5 }]
        );
    }

    #[test]
    fn a_flood_is_taken_in_batches() {
        let region = Region::new();
        let (mut channels, mut peer_producer, mut peer_consumer) = setup(&region);
        let mut server = Server::new();
        for index in 0..100u8 {
            peer_producer.send(&[KIND_PING, index]).unwrap();
        }
        assert!(server.serve(&mut channels, &mut AnswerPings));
        assert_eq!(received(&mut peer_consumer).len(), RECEIVE_BATCH);
        assert!(!server.serve(&mut channels, &mut AnswerPings));
        assert_eq!(received(&mut peer_consumer).len(), 100 - RECEIVE_BATCH);
    }

    #[test]
    fn pongs_that_do_not_fit_are_dropped() {
        let region = Region::new();
        let (mut channels, mut peer_producer, _) = setup(&region);
        let mut server = Server::new();
        // The peer never reads its pongs: each pong of 1000 bytes takes a
        // 1008-byte frame, so the 16 KiB ring holds 16 of them.
        let ping = [KIND_PING; 1000];
        let mut sent = 0;
        for _ in 0..4 {
            for _ in 0..10 {
                peer_producer.send(&ping).unwrap();
                sent += 1;
            }
            server.serve(&mut channels, &mut AnswerPings);
        }
        assert_eq!(server.pings_answered, 16);
        assert_eq!(server.pongs_dropped, sent - 16);
    }

    #[test]
    fn data_is_counted_and_not_answered() {
        let region = Region::new();
        let (mut channels, mut peer_producer, mut peer_consumer) = setup(&region);
        let mut server = Server::new();
        let mut data = [0u8; MESSAGE_MAX];
        data[0] = crate::message::KIND_DATA;
        for _ in 0..3 {
            peer_producer.send(&data).unwrap();
        }
        assert!(!server.serve(&mut channels, &mut AnswerPings));
        assert_eq!(server.data_received, 3);
        assert!(received(&mut peer_consumer).is_empty(), "data is not answered");
    }

    /// Claims every channel and counts the changes it is told of.
    #[derive(Default)]
    struct Claimer {
        changes: usize,
    }

    impl Handler for Claimer {
        fn claims(&self, _channel: &Channel) -> bool {
            true
        }

        fn channel_changed(&mut self, _channel: &Channel, _change: Change) {
            self.changes += 1;
        }
    }

    #[test]
    fn claimed_channels_are_left_to_the_handler() {
        let region = Region::new();
        let (mut channels, mut peer_producer, mut peer_consumer) = setup(&region);
        let mut server = Server::new();
        let mut claimer = Claimer::default();
        // Not a message at all: a frame without a kind byte.
        peer_producer.send(&[0xff; 60]).unwrap();
        peer_producer.send(&[KIND_PING, 1]).unwrap();
        assert!(!server.serve(&mut channels, &mut claimer));
        assert_eq!((server.bad_messages, server.pings_answered), (0, 0));
        assert!(received(&mut peer_consumer).is_empty(), "no pong for a claimed channel");
        // Both records wait for the handler.
        let mut buffer = [0u8; MESSAGE_MAX];
        let channel = channels.get_mut(0).unwrap();
        assert_eq!(channel.receive(&mut buffer), Ok(Some(60)));
        assert_eq!(channel.receive(&mut buffer), Ok(Some(2)));
        // Its state is still followed.
        region.set_status(false, 2);
        server.serve(&mut channels, &mut claimer);
        assert_eq!(claimer.changes, 1);
    }

    #[test]
    fn an_oversized_message_gets_the_channel_ignored() {
        let region = Region::new();
        let (mut channels, mut peer_producer, _) = setup(&region);
        let mut server = Server::new();
        peer_producer.send(&[KIND_PING; MESSAGE_MAX + 1]).unwrap();
        assert!(!server.serve(&mut channels, &mut AnswerPings));
        assert!(channels.get_mut(0).unwrap().is_ignored());
        // A fresh epoch takes the channel back.
        region.restart(3);
        let mut peer_producer = region.peer_producer(1, 3);
        let mut peer_consumer = region.peer_consumer(0, 3);
        peer_producer.send(&[KIND_PING, 1]).unwrap();
        server.serve(&mut channels, &mut AnswerPings);
        assert_eq!(received(&mut peer_consumer), [vec![KIND_PONG, 1]]);
    }
}
