//! The app VM's side of messaging (`guest_runtime::messaging`): it takes
//! every message netvm delivers, prints it, accepts it, and answers it with
//! a message back to its sender whose body is `reply: ` and the original
//! (a message that is itself a reply gets none, so two such VMs do not
//! answer each other forever). It prints the receipts of what it sent.
//!
//! A message whose body is `benchmark COUNT LENGTH` starts a burst instead,
//! in two timed phases on the channel the message came through. First the
//! baseline: COUNT data records of LENGTH bytes streamed to netvm over the
//! channel as fast as its ring takes them, closed by a ping whose pong shows
//! netvm took them all. Then COUNT messages of LENGTH bytes to the sender,
//! at most [`WINDOW`] waiting for their receipts at a time, timed from the
//! first send to the last receipt. Both are printed as `benchmark
//! p2p-messages ...`.

use core::fmt;
use guest_runtime::channel::Channel;
use guest_runtime::message::Message;
use guest_runtime::messaging::{
    PeerText, Record, Status, BODY_MAX, NAME_MAX, PEER_MAX, RECORD_MAX,
};
use guest_runtime::println;
use guest_runtime::time::{self, Instant};

/// Messages of a burst waiting for their receipts at most.
pub const WINDOW: u64 = 16;
/// The prefix of a reply's body.
const REPLY: &[u8] = b"reply: ";
/// The body that starts a burst.
const BENCHMARK: &str = "benchmark ";
/// The most bytes of a body printed.
const SHOWN: usize = 96;
/// The payload of the ping that closes a burst's channel phase.
pub const BURST_PING: &[u8] = b"burst";

/// Where a burst is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Streaming data records to netvm: how many went, and whether the
    /// closing ping did.
    Channel { sent: u64, pinged: bool },
    /// Sending messages to the peer.
    Network,
}

/// A burst of messages to one peer.
#[derive(Clone, Copy)]
struct Burst {
    /// The channel to netvm it goes through.
    channel: usize,
    peer: [u8; PEER_MAX],
    peer_length: usize,
    recipient: [u8; NAME_MAX],
    recipient_length: usize,
    /// Messages to send in all.
    count: u64,
    /// Bytes of each body.
    length: usize,
    /// Messages sent so far (their ids are `first_id..first_id + sent`).
    sent: u64,
    /// Receipts received so far, and how many said delivered.
    receipts: u64,
    delivered: u64,
    first_id: u64,
    started: Option<Instant>,
    phase: Phase,
    /// Ticks the channel phase took.
    channel_ticks: u64,
}

/// What the app VM remembers of its messages.
#[derive(Default)]
pub struct Messages {
    /// The id of the next message sent.
    next_id: u64,
    /// Messages delivered to this VM.
    pub received: u64,
    burst: Option<Burst>,
}

impl Messages {
    /// Handles a messaging record from `channel`; returns whether it was one
    /// the app VM takes (receipts and deliveries).
    pub fn record(&mut self, channel: &mut Channel, record: &[u8]) -> bool {
        match Record::decode(record) {
            Ok(Record::Deliver { delivery, peer, sender, body }) => {
                self.delivered(channel, delivery, peer, sender, body);
                true
            }
            Ok(Record::Receipt { id, status }) => {
                self.receipt(id, status);
                true
            }
            Ok(_) => false,
            Err(error) => {
                println!("channel {}: {error}", channel.name());
                true
            }
        }
    }

    fn delivered(
        &mut self,
        channel: &mut Channel,
        delivery: u64,
        peer: &[u8],
        sender: &[u8],
        body: &[u8],
    ) {
        self.received += 1;
        let mut accept = [0u8; 16];
        if let Ok(length) =
            (Record::Accept { delivery, status: Status::Delivered }).encode(&mut accept)
        {
            // A full ring or a stopped netvm: netvm answers the peer itself
            // when no accept comes.
            let _ = channel.send(&accept[..length]);
        }
        if let Some((count, length)) = burst_request(body) {
            println!(
                "message from {} ({}): a burst of {count} messages of {length} bytes",
                PeerText(peer),
                Text(sender)
            );
            self.start_burst(channel.index(), peer, sender, count, length);
        } else if self.burst.is_none() {
            println!("message from {} ({}): {}", PeerText(peer), Text(sender), Text(body));
            if !body.starts_with(REPLY) {
                self.reply(channel, peer, sender, body);
            }
        }
        let _ = channel.notify();
    }

    fn reply(&mut self, channel: &mut Channel, peer: &[u8], sender: &[u8], body: &[u8]) {
        let mut reply = [0u8; BODY_MAX];
        let kept = body.len().min(BODY_MAX - REPLY.len());
        reply[..REPLY.len()].copy_from_slice(REPLY);
        reply[REPLY.len()..REPLY.len() + kept].copy_from_slice(&body[..kept]);
        let id = self.next_id;
        self.next_id += 1;
        let send = Record::Send { id, peer, recipient: sender, body: &reply[..REPLY.len() + kept] };
        let mut record = [0u8; RECORD_MAX];
        match send.encode(&mut record).map(|length| channel.send(&record[..length])) {
            Ok(Ok(())) => println!("sent message {id} to {} ({})", PeerText(peer), Text(sender)),
            Ok(Err(error)) => println!("message {id} not sent: {error:?}"),
            Err(error) => println!("message {id} not sent: {error}"),
        }
    }

    fn receipt(&mut self, id: u64, status: Status) {
        if let Some(burst) = self.burst.as_mut() {
            if (burst.first_id..burst.first_id + burst.sent).contains(&id) {
                burst.receipts += 1;
                burst.delivered += u64::from(status == Status::Delivered);
                if burst.receipts == burst.count {
                    let ticks = burst.started.map_or(0, |started| {
                        Instant::now().ticks().saturating_sub(started.ticks())
                    });
                    println!(
                        "benchmark p2p-messages count={} length={} delivered={} ticks={ticks} \
                         channel_ticks={} frequency={}",
                        burst.count,
                        burst.length,
                        burst.delivered,
                        burst.channel_ticks,
                        time::frequency()
                    );
                    self.burst = None;
                }
                return;
            }
        }
        println!("receipt for message {id}: {status}");
    }

    fn start_burst(
        &mut self,
        channel: usize,
        peer: &[u8],
        recipient: &[u8],
        count: u64,
        length: usize,
    ) {
        let mut burst = Burst {
            channel,
            peer: [0; PEER_MAX],
            peer_length: peer.len().min(PEER_MAX),
            recipient: [0; NAME_MAX],
            recipient_length: recipient.len().min(NAME_MAX),
            count,
            length,
            sent: 0,
            receipts: 0,
            delivered: 0,
            first_id: self.next_id,
            started: None,
            phase: Phase::Channel { sent: 0, pinged: false },
            channel_ticks: 0,
        };
        burst.peer[..burst.peer_length].copy_from_slice(&peer[..burst.peer_length]);
        burst.recipient[..burst.recipient_length]
            .copy_from_slice(&recipient[..burst.recipient_length]);
        self.next_id += count;
        self.burst = Some(burst);
    }

    /// Sends what the burst's window allows on `channel` (if it is the
    /// burst's); returns whether the burst is still going.
    pub fn pump(&mut self, channel: &mut Channel) -> bool {
        let Some(burst) = self.burst.as_mut() else { return false };
        if burst.channel != channel.index() {
            return true;
        }
        if let Phase::Channel { sent, pinged } = &mut burst.phase {
            stream_data(channel, burst.length, burst.count, sent, pinged, &mut burst.started);
            return true;
        }
        let body = [b'm'; BODY_MAX];
        let mut record = [0u8; RECORD_MAX];
        let mut sent_any = false;
        while burst.sent < burst.count && burst.sent - burst.receipts < WINDOW {
            let send = Record::Send {
                id: burst.first_id + burst.sent,
                peer: &burst.peer[..burst.peer_length],
                recipient: &burst.recipient[..burst.recipient_length],
                body: &body[..burst.length],
            };
            let Ok(length) = send.encode(&mut record) else { break };
            if channel.send(&record[..length]).is_err() {
                break;
            }
            burst.started.get_or_insert_with(Instant::now);
            burst.sent += 1;
            sent_any = true;
        }
        if sent_any {
            let _ = channel.notify();
        }
        true
    }

    /// Whether a burst is under way.
    pub fn bursting(&self) -> bool {
        self.burst.is_some()
    }

    /// A pong with `payload` came on `channel`; returns whether it was the
    /// one closing a burst's channel phase.
    pub fn pong(&mut self, channel: &Channel, payload: &[u8]) -> bool {
        let Some(burst) = self.burst.as_mut() else { return false };
        if payload != BURST_PING
            || burst.channel != channel.index()
            || burst.phase != (Phase::Channel { sent: burst.count, pinged: true })
        {
            return false;
        }
        burst.channel_ticks = burst
            .started
            .map_or(0, |started| Instant::now().ticks().saturating_sub(started.ticks()));
        burst.started = None;
        burst.phase = Phase::Network;
        true
    }
}

/// Streams data records of `length` bytes on `channel` until `count` went
/// or the ring is full, then the closing ping; notes the start.
fn stream_data(
    channel: &mut Channel,
    length: usize,
    count: u64,
    sent: &mut u64,
    pinged: &mut bool,
    started: &mut Option<Instant>,
) {
    let payload = [b'd'; BODY_MAX];
    let mut record = [0u8; BODY_MAX + 1];
    let mut any = false;
    while *sent < count {
        let Ok(size) = Message::Data(&payload[..length]).encode(&mut record) else { return };
        started.get_or_insert_with(Instant::now);
        if channel.send(&record[..size]).is_err() {
            break;
        }
        *sent += 1;
        any = true;
    }
    if *sent == count && !*pinged {
        let mut ping = [0u8; 8];
        if let Ok(size) = Message::Ping(BURST_PING).encode(&mut ping) {
            if channel.send(&ping[..size]).is_ok() {
                *pinged = true;
                any = true;
            }
        }
    }
    if any {
        let _ = channel.notify();
    }
}

/// `benchmark COUNT LENGTH` as numbers, if `body` is one (LENGTH at most
/// [`BODY_MAX`], COUNT at least 1).
fn burst_request(body: &[u8]) -> Option<(u64, usize)> {
    let text = core::str::from_utf8(body).ok()?.strip_prefix(BENCHMARK)?;
    let mut words = text.split_whitespace();
    let count: u64 = words.next()?.parse().ok()?;
    let length: usize = words.next()?.parse().ok()?;
    (words.next().is_none() && count > 0 && length <= BODY_MAX).then_some((count, length))
}

/// Bytes shown as text: printable ASCII as is, anything else as `\xNN`, cut
/// at [`SHOWN`] bytes.
struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        for &byte in self.0.iter().take(SHOWN) {
            if byte.is_ascii_graphic() || byte == b' ' {
                write!(formatter, "{}", byte as char)?;
            } else {
                write!(formatter, "\\x{byte:02x}")?;
            }
        }
        if self.0.len() > SHOWN {
            write!(formatter, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_requests_are_read_strictly() {
        assert_eq!(burst_request(b"benchmark 100 1024"), Some((100, 1024)));
        assert_eq!(burst_request(b"benchmark 0 10"), None);
        assert_eq!(burst_request(b"benchmark 1 4001"), None);
        assert_eq!(burst_request(b"benchmark 1 2 3"), None);
        assert_eq!(burst_request(b"benchmark x 2"), None);
        assert_eq!(burst_request(b"hello"), None);
    }

    #[test]
    fn text_shows_unprintable_bytes_escaped() {
        assert_eq!(std::format!("{}", Text(b"a\x01")), "a\\x01");
    }
}
