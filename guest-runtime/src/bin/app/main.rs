//! The app VM, as a skeleton: serves its channels like netvm and chainvm,
//! and once a second pings every channel it may send on that is up.
//!
//! The ping's payload is a counter (8 bytes, little-endian) that goes up by
//! one every second. The first pong that comes back with a counter this VM
//! sent on that channel since it last came up prints `round trip on <channel>
//! ok`; every tenth second prints `alive, N pongs`. A peer that sends garbage,
//! corrupts its ring or restarts over and over costs a log line, never the VM.
//! With word 0 of its parameter page set to 1, it measures its channels
//! instead (`benchmark`). Messages from peers on the network arrive through
//! netvm and are answered ([`messages`]). WebAssembly dapps and their host API come later.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(target_os = "none"),
    allow(dead_code, reason = "on the host the program is built only for its unit tests")
)]

use core::time::Duration;
use guest_runtime::channel::{Change, Channel, Channels};
use guest_runtime::message::Message;
use guest_runtime::println;
use guest_runtime::service::Handler;
use guest_runtime::time::Instant;
use hypercall_abi::MAX_CHANNELS_PER_MACHINE;

#[cfg(target_os = "none")]
guest_runtime::entry!(main);

/// Time between two rounds of pings.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// `alive` is printed every this many seconds.
const ALIVE_EVERY: u64 = 10;

#[cfg(target_os = "none")]
mod benchmark;
mod messages;

#[cfg(target_os = "none")]
fn main() -> ! {
    if guest_runtime::parameters::word(0) == benchmark::BENCHMARK {
        benchmark::run()
    }
    guest_runtime::service::run(&mut App::new())
}

/// Host stand-in: the app VM runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("app is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat");
    std::process::exit(2);
}

/// What a pong means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// The first round trip since the channel came up.
    FirstRoundTrip,
    /// Another round trip.
    RoundTrip,
    /// Not the answer to a ping sent since the channel came up; `report`
    /// is set the first time.
    Unexpected {
        /// Whether to say so (only once per epoch).
        report: bool,
    },
}

/// The pings sent on one channel since it came up.
#[derive(Clone, Copy, Debug, Default)]
struct RoundTrips {
    /// The counter of the first ping and of the last.
    sent: Option<(u64, u64)>,
    /// A round trip has been seen.
    confirmed: bool,
    /// An unexpected pong has been reported.
    unexpected_reported: bool,
}

impl RoundTrips {
    /// A ping with `counter` went out.
    fn ping_sent(&mut self, counter: u64) {
        let first = self.sent.map_or(counter, |(first, _)| first);
        self.sent = Some((first, counter));
    }

    /// Judges a pong carrying `payload`.
    fn pong(&mut self, payload: &[u8]) -> Verdict {
        let counter = <[u8; 8]>::try_from(payload).ok().map(u64::from_le_bytes);
        let expected = match (counter, self.sent) {
            (Some(counter), Some((first, last))) => (first..=last).contains(&counter),
            _ => false,
        };
        if !expected {
            let report = !self.unexpected_reported;
            self.unexpected_reported = true;
            return Verdict::Unexpected { report };
        }
        if self.confirmed {
            Verdict::RoundTrip
        } else {
            self.confirmed = true;
            Verdict::FirstRoundTrip
        }
    }
}

/// The app VM's additions to the serving loop.
struct App {
    /// The counter of the last round of pings.
    counter: u64,
    /// Seconds (ping rounds) so far.
    seconds: u64,
    /// When the next round is due; set at the first tick.
    next_round: Option<Instant>,
    /// Round trips completed, over all channels and epochs.
    pongs: u64,
    /// Per channel, by index.
    round_trips: [RoundTrips; MAX_CHANNELS_PER_MACHINE],
    /// Messages to and from peers on the network, through netvm.
    messages: messages::Messages,
}

impl App {
    fn new() -> Self {
        Self {
            counter: 0,
            seconds: 0,
            next_round: None,
            pongs: 0,
            round_trips: [RoundTrips::default(); MAX_CHANNELS_PER_MACHINE],
            messages: messages::Messages::default(),
        }
    }

    /// Sends ping `counter` on every channel this VM may send on that is up.
    fn ping_everyone(&mut self, channels: &mut Channels) {
        let payload = self.counter.to_le_bytes();
        let mut record = [0u8; 9];
        // Nine bytes hold the kind byte and the eight of the counter.
        let Ok(length) = Message::Ping(&payload).encode(&mut record) else {
            return;
        };
        for channel in channels.iter_mut() {
            if !channel.may_send() || !channel.is_up() || channel.is_ignored() {
                continue;
            }
            // A full ring means the peer is not reading; the next round tries
            // again. Corruption is logged by the channel.
            if channel.send(&record[..length]).is_ok() {
                self.round_trips[channel.index()].ping_sent(self.counter);
                // The channel logs a failure other than a peer that just stopped.
                let _ = channel.notify();
            }
        }
    }
}

impl Handler for App {
    fn channel_changed(&mut self, channel: &Channel, _change: Change) {
        self.round_trips[channel.index()] = RoundTrips::default();
    }

    fn pong_received(&mut self, channel: &mut Channel, payload: &[u8]) {
        if self.messages.pong(channel, payload) {
            return;
        }
        match self.round_trips[channel.index()].pong(payload) {
            Verdict::FirstRoundTrip => {
                self.pongs += 1;
                println!("round trip on {} ok", channel.name());
            }
            Verdict::RoundTrip => self.pongs += 1,
            Verdict::Unexpected { report: true } => {
                println!("channel {}: a pong for no ping of this epoch ignored", channel.name());
            }
            Verdict::Unexpected { report: false } => {}
        }
    }

    fn record_received(&mut self, channel: &mut Channel, record: &[u8]) -> bool {
        self.messages.record(channel, record)
    }

    fn tick(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
        if self.messages.bursting() {
            for channel in channels.iter_mut() {
                self.messages.pump(channel);
            }
        }
        let due = *self.next_round.get_or_insert(now + PING_INTERVAL);
        if now < due {
            return Some(due);
        }
        // After a long stall, carry on from now rather than catching up.
        let next = due + PING_INTERVAL;
        self.next_round = Some(if next > now { next } else { now + PING_INTERVAL });
        self.seconds += 1;
        self.counter += 1;
        self.ping_everyone(channels);
        if self.seconds.is_multiple_of(ALIVE_EVERY) {
            println!("alive, {} pongs", self.pongs);
        }
        self.next_round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_pong_is_the_round_trip() {
        let mut trips = RoundTrips::default();
        trips.ping_sent(5);
        trips.ping_sent(6);
        assert_eq!(trips.pong(&5u64.to_le_bytes()), Verdict::FirstRoundTrip);
        assert_eq!(trips.pong(&6u64.to_le_bytes()), Verdict::RoundTrip);
    }

    #[test]
    fn pongs_for_pings_never_sent_are_unexpected() {
        let mut trips = RoundTrips::default();
        assert_eq!(trips.pong(&1u64.to_le_bytes()), Verdict::Unexpected { report: true });
        trips.ping_sent(10);
        assert_eq!(trips.pong(&9u64.to_le_bytes()), Verdict::Unexpected { report: false });
        assert_eq!(trips.pong(&11u64.to_le_bytes()), Verdict::Unexpected { report: false });
        assert_eq!(trips.pong(b"garbage"), Verdict::Unexpected { report: false });
        assert_eq!(trips.pong(&10u64.to_le_bytes()), Verdict::FirstRoundTrip);
    }

    #[test]
    fn a_new_epoch_needs_a_new_round_trip() {
        let mut app = App::new();
        app.round_trips[2].ping_sent(1);
        assert_eq!(app.round_trips[2].pong(&1u64.to_le_bytes()), Verdict::FirstRoundTrip);
        // What `channel_changed` does for channel 2.
        app.round_trips[2] = RoundTrips::default();
        // A late pong of the old epoch does not count.
        assert_eq!(
            app.round_trips[2].pong(&1u64.to_le_bytes()),
            Verdict::Unexpected { report: true }
        );
        app.round_trips[2].ping_sent(4);
        assert_eq!(app.round_trips[2].pong(&4u64.to_le_bytes()), Verdict::FirstRoundTrip);
    }

    #[test]
    fn rounds_come_once_a_second_without_bursts() {
        let mut app = App::new();
        let mut channels = Channels::new();
        let start = Instant::from_ticks(1_000);
        assert_eq!(app.tick(&mut channels, start), Some(start + PING_INTERVAL));
        assert_eq!(app.seconds, 0);
        assert_eq!(app.tick(&mut channels, start + PING_INTERVAL), Some(start + 2 * PING_INTERVAL));
        assert_eq!(app.seconds, 1);
        // Ten seconds late: one round, and the next a second from now.
        let late = start + 12 * PING_INTERVAL;
        assert_eq!(app.tick(&mut channels, late), Some(late + PING_INTERVAL));
        assert_eq!(app.seconds, 2);
        assert_eq!(app.counter, 2);
    }
}
