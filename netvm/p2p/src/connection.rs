//! One libp2p connection over a byte stream (TCP), without I/O.
//!
//! A connection goes through the stages libp2p's TCP transport upgrade
//! takes: multistream-select agrees on `/noise`, the Noise XX handshake
//! authenticates the remote PeerId, multistream-select agrees on
//! `/yamux/1.0.0` inside the encrypted channel, and yamux carries streams.
//! On each stream multistream-select agrees on one of the protocols this
//! node speaks: ping, identify (and identify push) and Elastos messages.
//!
//! Once open, a connection asks the remote for its identify record, pings
//! it every [`Settings::ping_interval`], answers its pings and identify
//! requests, sends the messages it is given and hands over the messages and
//! receipts that arrive, as [`Event`]s. Every stage and stream has a limit
//! and a deadline ([`Connection::poll_timeouts`]); breaking one is a
//! [`ConnectionError`], after which the connection must be closed.
//!
//! Times are in any unit of any monotonic clock the caller likes (netvm
//! uses microseconds), the same for [`Settings`] and every `now`.

use crate::identify::Info;
use crate::identity::{Keypair, PeerId, PublicKey};
use crate::message::{self, Receipt, Request};
use crate::multiaddr::Multiaddr;
use crate::multistream::{Dialer, Listener, NegotiationError};
use crate::noise::{Credentials, Handshake, NoiseError, Progress, Role, Transport};
use crate::yamux::{self, Mode, Session, StreamId, YamuxError};
use crate::{ping, varint};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The security protocol.
pub const NOISE: &str = "/noise";
/// The stream multiplexer.
pub const YAMUX: &str = "/yamux/1.0.0";
/// Identify: the listener of the stream sends its record.
pub const IDENTIFY: &str = "/ipfs/id/1.0.0";
/// Identify push: the opener of the stream sends its record.
pub const IDENTIFY_PUSH: &str = "/ipfs/id/push/1.0.0";
/// The largest identify record accepted, as rust-libp2p allows.
pub const IDENTIFY_MAX: usize = 4096;
/// The protocols a remote may open streams for.
pub const PROTOCOLS: [&str; 4] = [ping::PROTOCOL, IDENTIFY, IDENTIFY_PUSH, message::PROTOCOL];

/// Bytes of handshake input held at most before the connection is open: a
/// Noise handshake message is under 64 KiB.
const HANDSHAKE_INPUT_MAX: usize = 1 << 17;
/// Pings in a row that may go unanswered before the connection is taken
/// for dead.
const PING_FAILURES_MAX: u32 = 3;
/// Bytes of echoes a ping stream may owe the remote: a pinger waits for
/// each echo, so only a flood gets near it.
const PING_BACKLOG_MAX: usize = 16 * ping::PAYLOAD;
/// Bytes waiting to be sent beyond which the connection takes no more
/// input, so a peer that does not read cannot make it hold more.
const OUTPUT_HELD_MAX: usize = 1 << 18;
/// Bytes of decrypted input waiting for yamux at most: one frame of the
/// largest window this node announces, and room for the next header.
const PLAINTEXT_INPUT_MAX: usize = (1 << 19) + 64;

/// How a connection behaves; the same for all of a node's connections.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Identify's protocol version.
    pub protocol_version: String,
    /// Identify's agent version.
    pub agent_version: String,
    /// The addresses this node listens on, for identify.
    pub listen_addrs: Vec<Multiaddr>,
    /// yamux's limits.
    pub yamux: yamux::Config,
    /// The longest a connection may take to open.
    pub handshake_timeout: u64,
    /// Time between two pings.
    pub ping_interval: u64,
    /// The longest a ping may wait for its echo.
    pub ping_timeout: u64,
    /// The longest a sent message waits for its receipt.
    pub receipt_timeout: u64,
    /// The longest an arrived message waits for this node's answer before
    /// it is answered unavailable.
    pub delivery_timeout: u64,
    /// Messages arrived and not yet answered, at most; more are answered
    /// busy.
    pub deliveries_max: usize,
    /// Messages sent and waiting for their receipts, at most.
    pub sends_max: usize,
}

/// Which end opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// This node dialed.
    Dialer,
    /// The remote dialed.
    Listener,
}

/// A message that arrived, to be answered with [`Connection::answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Delivery(StreamId);

/// Why a sent message got no receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The remote does not speak the message protocol.
    NotSupported,
    /// The remote closed or reset the stream without a receipt.
    NoReceipt,
    /// The receipt was malformed.
    BadReceipt,
    /// No receipt within [`Settings::receipt_timeout`].
    Timeout,
    /// The connection is not open, or too many messages wait already.
    NotSent,
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(match self {
            Self::NotSupported => "the peer does not speak the message protocol",
            Self::NoReceipt => "the stream ended without a receipt",
            Self::BadReceipt => "malformed receipt",
            Self::Timeout => "no receipt in time",
            Self::NotSent => "not sent",
        })
    }
}

/// What the connection tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection is open with this authenticated peer.
    Established(PeerId),
    /// The peer's identify record arrived.
    Identified(Info),
    /// A ping's echo came back after `rtt`.
    Pong {
        /// The round trip.
        rtt: u64,
    },
    /// A ping failed (no echo in time, or a wrong one); the connection
    /// stays.
    PingFailed,
    /// A message arrived; answer it with [`Connection::answer`].
    Message {
        /// The handle to answer it by.
        delivery: Delivery,
        /// The message.
        request: Request,
    },
    /// What became of message `id` sent with [`Connection::send`].
    Receipt {
        /// The message's id.
        id: u64,
        /// Its receipt's status, or why there is none.
        outcome: Result<message::Status, Failure>,
    },
    /// The remote broke a stream's protocol; the stream was reset.
    StreamRefused(StreamError),
}

/// What went wrong on one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// Protocol negotiation failed.
    Negotiation(NegotiationError),
    /// More streams than [`yamux::Config::max_streams`] allows.
    TooMany,
    /// A malformed or oversized identify record.
    Identify,
    /// A malformed message.
    Message(message::MessageError),
    /// A ping stream carried something else.
    Ping,
}

impl fmt::Display for StreamError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Negotiation(error) => write!(formatter, "stream negotiation: {error}"),
            Self::TooMany => write!(formatter, "too many streams"),
            Self::Identify => write!(formatter, "malformed identify record"),
            Self::Message(error) => write!(formatter, "{error}"),
            Self::Ping => write!(formatter, "malformed ping"),
        }
    }
}

/// Why a connection must close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// Negotiating the security protocol failed.
    Security(NegotiationError),
    /// The Noise handshake or an encrypted frame failed.
    Noise(NoiseError),
    /// Negotiating the multiplexer failed.
    Multiplexer(NegotiationError),
    /// The remote broke the yamux protocol.
    Yamux(YamuxError),
    /// The connection did not open within [`Settings::handshake_timeout`].
    HandshakeTimeout,
    /// The remote is not the peer that was dialed.
    WrongPeer,
    /// The remote sent more than the stage allows without it being read.
    InputOverflow,
    /// The remote said it goes away (code 0: a normal close).
    GoAway(u32),
    /// The remote answered none of several pings in a row.
    PingTimeout,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Security(error) => write!(formatter, "security negotiation: {error}"),
            Self::Noise(error) => write!(formatter, "noise: {error}"),
            Self::Multiplexer(error) => write!(formatter, "multiplexer negotiation: {error}"),
            Self::Yamux(error) => write!(formatter, "yamux: {error}"),
            Self::HandshakeTimeout => write!(formatter, "the handshake took too long"),
            Self::WrongPeer => write!(formatter, "the remote is not the peer dialed"),
            Self::InputOverflow => write!(formatter, "the remote sent too much at once"),
            Self::GoAway(code) => write!(formatter, "the remote went away (code {code})"),
            Self::PingTimeout => write!(formatter, "the remote answers no pings"),
        }
    }
}

impl From<NoiseError> for ConnectionError {
    fn from(error: NoiseError) -> Self {
        Self::Noise(error)
    }
}

impl From<YamuxError> for ConnectionError {
    fn from(error: YamuxError) -> Self {
        Self::Yamux(error)
    }
}

/// A protocol negotiation at either end.
enum Negotiation {
    Dialer(Dialer),
    Listener(Listener),
}

impl Negotiation {
    fn receive(
        &mut self,
        input: &mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> Result<Option<usize>, NegotiationError> {
        match self {
            Self::Dialer(dialer) => dialer.receive(input, output),
            Self::Listener(listener) => listener.receive(input, output),
        }
    }
}

/// Where the connection is.
enum Stage {
    /// Agreeing on `/noise`; the handshake, made with the identity at the
    /// start, begins once it is agreed.
    Security(Negotiation, Box<Handshake>),
    /// The Noise handshake.
    Handshake(Box<Handshake>),
    /// Agreeing on yamux inside the encrypted channel.
    Multiplexer(Box<Transport>, Negotiation),
    /// Open.
    Open(Box<Transport>, Session),
    /// Failed; nothing more happens.
    Failed,
}

/// What a stream this node opened is for.
enum Purpose {
    Identify,
    Ping,
    Message(u64, Vec<u8>),
}

/// What a stream is doing.
enum StreamState {
    /// A remote's stream, agreeing on a protocol.
    Negotiating(Listener),
    /// This node's stream, agreeing on a protocol.
    Proposing(Dialer, Purpose),
    /// Echoing the remote's pings.
    PingResponder(ping::Responder),
    /// Pinging the remote; the time the ping in flight went out.
    Pinging(ping::Pinger, Option<u64>),
    /// Sent this node's identify record; waiting for the remote to close.
    IdentifyServing,
    /// Reading the remote's identify record.
    IdentifyReading,
    /// Reading a message.
    MessageReading,
    /// A message was handed over; waiting for this node's answer.
    MessageWaiting {
        /// The message's id, for the receipt.
        id: u64,
        /// When it is answered unavailable.
        deadline: u64,
    },
    /// Sent a message; reading its receipt.
    ReceiptReading {
        /// The message's id.
        id: u64,
        /// When it fails for want of a receipt.
        deadline: u64,
    },
    /// Done; waiting for the remote to close.
    Done,
}

/// A stream's bookkeeping.
struct Stream {
    state: StreamState,
    /// Received and not yet used.
    input: Vec<u8>,
    /// To be written as the window allows.
    output: Vec<u8>,
    /// Close this side once `output` is written.
    close_after: bool,
    /// This side is closed.
    closed: bool,
    /// The remote closed its side.
    finished: bool,
    /// For a stream this node opened for a message or a ping: when it
    /// fails for want of an answer while its protocol is still proposed,
    /// counted from the stream's opening.
    deadline: Option<u64>,
}

impl Stream {
    fn new(state: StreamState) -> Self {
        Self {
            state,
            input: Vec::new(),
            output: Vec::new(),
            close_after: false,
            closed: false,
            finished: false,
            deadline: None,
        }
    }

    /// Answers the message on this stream with a receipt for message `id`
    /// and closes this side once it is written.
    fn answer_with_receipt(&mut self, id: u64, status: message::Status) {
        Receipt { id, status }.encode(&mut self.output);
        self.finish();
    }

    /// Done: this side closes once its output is written.
    fn finish(&mut self) {
        self.close_after = true;
        self.state = StreamState::Done;
    }
}

/// One connection.
pub struct Connection {
    direction: Direction,
    settings: Settings,
    local_key: PublicKey,
    stage: Stage,
    /// The peer this node meant to dial, checked after the handshake.
    expected: Option<PeerId>,
    remote: Option<PeerId>,
    /// The remote's address as this node sees it, for identify.
    observed: Option<Multiaddr>,
    started: u64,
    raw_input: Vec<u8>,
    raw_output: Vec<u8>,
    plain_input: Vec<u8>,
    plain_output: Vec<u8>,
    events: VecDeque<Event>,
    streams: BTreeMap<StreamId, Stream>,
    /// The stream pings go on, once opened.
    ping_stream: Option<StreamId>,
    next_ping: u64,
    /// State of the generator of ping payloads.
    ping_state: u64,
    /// Messages handed over and not answered yet.
    deliveries: usize,
    /// Messages sent and without receipts yet.
    sends: usize,
    /// Streams the remote opened beyond the limit.
    refused_streams: u64,
    /// Pings in a row that went unanswered.
    ping_failures: u32,
}

impl Connection {
    /// A connection at `now` in `direction`, with this node's `identity`.
    /// `secrets` are 64 fresh random bytes: the Noise static and ephemeral
    /// X25519 secrets. `expected` is the peer dialed, if known; `observed`
    /// is the remote's address.
    pub fn new(
        direction: Direction,
        identity: &Keypair,
        secrets: [u8; 64],
        settings: Settings,
        expected: Option<PeerId>,
        observed: Option<Multiaddr>,
        now: u64,
    ) -> Self {
        let mut static_secret = [0u8; 32];
        static_secret.copy_from_slice(&secrets[..32]);
        let credentials = Credentials::sign_with(identity, static_secret);
        Self::with_credentials(direction, &credentials, secrets, settings, expected, observed, now)
    }

    /// A connection at `now` in `direction`, proving this node's identity
    /// with `credentials` (signed where the identity's secret is kept).
    /// `secrets` are 64 fresh random bytes: the second half is the Noise
    /// ephemeral X25519 secret. `expected` is the peer dialed, if known;
    /// `observed` is the remote's address.
    pub fn with_credentials(
        direction: Direction,
        credentials: &Credentials,
        secrets: [u8; 64],
        settings: Settings,
        expected: Option<PeerId>,
        observed: Option<Multiaddr>,
        now: u64,
    ) -> Self {
        let mut ephemeral_secret = [0u8; 32];
        ephemeral_secret.copy_from_slice(&secrets[32..]);
        let mut raw_output = Vec::new();
        let role = match direction {
            Direction::Dialer => Role::Initiator,
            Direction::Listener => Role::Responder,
        };
        let handshake = Box::new(Handshake::with_credentials(role, credentials, ephemeral_secret));
        let stage = match direction {
            Direction::Dialer => Stage::Security(
                Negotiation::Dialer(Dialer::new(&[NOISE], &mut raw_output)),
                handshake,
            ),
            Direction::Listener => {
                Stage::Security(Negotiation::Listener(Listener::new(&[NOISE])), handshake)
            }
        };
        let ping_state = u64::from_le_bytes([
            secrets[0] ^ secrets[32],
            secrets[1],
            secrets[2],
            secrets[3],
            secrets[4],
            secrets[5],
            secrets[6],
            secrets[7] | 1,
        ]);
        Self {
            direction,
            next_ping: now + settings.ping_interval,
            settings,
            local_key: credentials.identity(),
            stage,
            expected,
            remote: None,
            observed,
            started: now,
            raw_input: Vec::new(),
            raw_output,
            plain_input: Vec::new(),
            plain_output: Vec::new(),
            events: VecDeque::new(),
            streams: BTreeMap::new(),
            ping_stream: None,
            ping_state,
            deliveries: 0,
            sends: 0,
            refused_streams: 0,
            ping_failures: 0,
        }
    }

    /// Which end opened the connection.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The authenticated remote, once the handshake is done.
    pub fn remote(&self) -> Option<&PeerId> {
        self.remote.as_ref()
    }

    /// Whether the connection is open (streams may be used).
    pub fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open(..))
    }

    /// Streams the remote opened beyond the limit, so far.
    pub fn refused_streams(&self) -> u64 {
        self.refused_streams
    }

    /// Whether the connection takes more input now: it holds back while
    /// what it has to send piles up unsent.
    pub fn wants_input(&self) -> bool {
        self.raw_output.len() < OUTPUT_HELD_MAX
    }

    /// Bytes to send to the remote.
    pub fn output(&self) -> &[u8] {
        &self.raw_output
    }

    /// `count` bytes of [`Connection::output`] were sent.
    pub fn consume_output(&mut self, count: usize) {
        let count = count.min(self.raw_output.len());
        self.raw_output.drain(..count);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes `bytes` that arrived at `now` and does all they allow.
    pub fn receive(&mut self, bytes: &[u8], now: u64) -> Result<(), ConnectionError> {
        self.raw_input.extend_from_slice(bytes);
        let result = self.advance(now);
        if result.is_err() {
            self.fail();
        }
        result
    }

    /// Sends `request` on a new stream; its receipt comes as an
    /// [`Event::Receipt`]. Refused (as a receipt event with
    /// [`Failure::NotSent`]) when the connection is not open or too many
    /// messages wait for receipts.
    pub fn send(&mut self, request: &Request, now: u64) {
        let mut encoded = Vec::new();
        let id = request.id;
        if request.encode(&mut encoded).is_err() {
            self.events.push_back(Event::Receipt { id, outcome: Ok(message::Status::TooLarge) });
            return;
        }
        if self.sends >= self.settings.sends_max {
            self.events.push_back(Event::Receipt { id, outcome: Ok(message::Status::Busy) });
            return;
        }
        match self.open_stream(message::PROTOCOL, Purpose::Message(id, encoded)) {
            Some(stream) => {
                self.sends += 1;
                if let Some(stream) = self.streams.get_mut(&stream) {
                    stream.deadline = Some(now + self.settings.receipt_timeout);
                }
            }
            None => self.events.push_back(Event::Receipt { id, outcome: Err(Failure::NotSent) }),
        }
        self.flush();
    }

    /// Answers the message handed over as `delivery` with `status`.
    pub fn answer(&mut self, delivery: Delivery, status: message::Status) {
        let Some(stream) = self.streams.get_mut(&delivery.0) else { return };
        let StreamState::MessageWaiting { id, .. } = stream.state else { return };
        stream.answer_with_receipt(id, status);
        self.deliveries = self.deliveries.saturating_sub(1);
        self.flush();
    }

    /// Pings the remote now, whatever the interval says.
    pub fn ping(&mut self, now: u64) {
        self.next_ping = now;
        self.poll_timeouts(now).ok();
    }

    /// Does what is due at `now`: the handshake's deadline, pings, and the
    /// deadlines of messages. Returns the time it is next due.
    pub fn poll_timeouts(&mut self, now: u64) -> Result<u64, ConnectionError> {
        if !self.is_open() {
            if matches!(self.stage, Stage::Failed) {
                return Ok(u64::MAX);
            }
            let deadline = self.started + self.settings.handshake_timeout;
            if now >= deadline {
                self.fail();
                return Err(ConnectionError::HandshakeTimeout);
            }
            return Ok(deadline);
        }
        let mut next = u64::MAX;
        let mut expired = Vec::new();
        for (&id, stream) in &self.streams {
            let deadline = match stream.state {
                StreamState::MessageWaiting { deadline, .. }
                | StreamState::ReceiptReading { deadline, .. } => deadline,
                StreamState::Pinging(_, Some(sent)) => sent + self.settings.ping_timeout,
                // Only message and ping streams have one while proposing.
                StreamState::Proposing(..) => match stream.deadline {
                    Some(deadline) => deadline,
                    None => continue,
                },
                _ => continue,
            };
            if now >= deadline {
                expired.push(id);
            } else {
                next = next.min(deadline);
            }
        }
        for id in expired {
            self.expire(id);
        }
        if self.ping_failures >= PING_FAILURES_MAX {
            self.fail();
            return Err(ConnectionError::PingTimeout);
        }
        if now >= self.next_ping {
            self.next_ping = now + self.settings.ping_interval;
            self.send_ping(now);
        }
        next = next.min(self.next_ping);
        self.flush();
        Ok(next)
    }

    /// Says goodbye: a yamux GoAway, if the connection is open.
    pub fn close(&mut self) {
        if let Stage::Open(_, session) = &mut self.stage {
            session.go_away(0);
        }
        self.flush();
    }

    /// A stream's deadline passed.
    fn expire(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        match stream.state {
            StreamState::MessageWaiting { id: message_id, .. } => {
                stream.answer_with_receipt(message_id, message::Status::Unavailable);
                self.deliveries = self.deliveries.saturating_sub(1);
            }
            StreamState::ReceiptReading { id: message_id, .. }
            | StreamState::Proposing(_, Purpose::Message(message_id, _)) => {
                // Settled here, not again when the stream is forgotten.
                stream.state = StreamState::Done;
                self.events
                    .push_back(Event::Receipt { id: message_id, outcome: Err(Failure::Timeout) });
                self.sends = self.sends.saturating_sub(1);
                self.reset(id);
            }
            StreamState::Pinging(..) | StreamState::Proposing(_, Purpose::Ping) => {
                stream.state = StreamState::Done;
                self.ping_failures += 1;
                self.events.push_back(Event::PingFailed);
                self.reset(id);
            }
            _ => {}
        }
    }

    /// Sends a ping on the ping stream, opening it if need be.
    fn send_ping(&mut self, now: u64) {
        let payload = self.ping_payload();
        match self.ping_stream.and_then(|id| self.streams.get_mut(&id)) {
            Some(stream) => {
                if let StreamState::Pinging(pinger, sent @ None) = &mut stream.state {
                    pinger.send(payload, &mut stream.output);
                    *sent = Some(now);
                }
            }
            None => {
                self.ping_stream = self.open_stream(ping::PROTOCOL, Purpose::Ping);
                let deadline = now + self.settings.ping_timeout;
                if let Some(stream) = self.ping_stream.and_then(|id| self.streams.get_mut(&id)) {
                    stream.deadline = Some(deadline);
                }
            }
        }
    }

    /// 32 bytes for a ping (xorshift: pings need to differ, not be secret).
    fn ping_payload(&mut self) -> [u8; ping::PAYLOAD] {
        let mut payload = [0u8; ping::PAYLOAD];
        for chunk in payload.chunks_mut(8) {
            let mut state = self.ping_state;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            self.ping_state = state;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        payload
    }

    /// Opens a stream and proposes `protocol` on it.
    fn open_stream(&mut self, protocol: &'static str, purpose: Purpose) -> Option<StreamId> {
        let Stage::Open(_, session) = &mut self.stage else { return None };
        let id = session.open().ok()?;
        let mut output = Vec::new();
        let dialer = Dialer::new(&[protocol], &mut output);
        let mut stream = Stream::new(StreamState::Proposing(dialer, purpose));
        stream.output = output;
        self.streams.insert(id, stream);
        Some(id)
    }

    /// Resets stream `id` and forgets it.
    fn reset(&mut self, id: StreamId) {
        if let Stage::Open(_, session) = &mut self.stage {
            session.reset(id);
        }
        self.forget(id);
    }

    /// Forgets stream `id`, settling what it owed.
    fn forget(&mut self, id: StreamId) {
        if self.ping_stream == Some(id) {
            self.ping_stream = None;
        }
        let Some(stream) = self.streams.remove(&id) else { return };
        match stream.state {
            StreamState::MessageWaiting { .. } => {
                self.deliveries = self.deliveries.saturating_sub(1);
            }
            StreamState::ReceiptReading { id, .. }
            | StreamState::Proposing(_, Purpose::Message(id, _)) => {
                self.sends = self.sends.saturating_sub(1);
                self.events.push_back(Event::Receipt { id, outcome: Err(Failure::NoReceipt) });
            }
            _ => {}
        }
    }

    /// Marks the connection failed and drops what it held.
    fn fail(&mut self) {
        self.stage = Stage::Failed;
        self.streams.clear();
        self.raw_input.clear();
        self.plain_input.clear();
    }

    /// Runs the stages as far as the input goes.
    fn advance(&mut self, now: u64) -> Result<(), ConnectionError> {
        loop {
            match &mut self.stage {
                Stage::Failed => return Ok(()),
                Stage::Security(negotiation, _) => {
                    if self.raw_input.len() > HANDSHAKE_INPUT_MAX {
                        return Err(ConnectionError::InputOverflow);
                    }
                    let agreed = negotiation
                        .receive(&mut self.raw_input, &mut self.raw_output)
                        .map_err(ConnectionError::Security)?;
                    if agreed.is_none() {
                        return Ok(());
                    }
                    let Stage::Security(_, mut handshake) =
                        core::mem::replace(&mut self.stage, Stage::Failed)
                    else {
                        return Ok(());
                    };
                    handshake.start(&mut self.raw_output);
                    self.stage = Stage::Handshake(handshake);
                }
                Stage::Handshake(handshake) => {
                    if self.raw_input.len() > HANDSHAKE_INPUT_MAX {
                        return Err(ConnectionError::InputOverflow);
                    }
                    match handshake.receive(&mut self.raw_input, &mut self.raw_output)? {
                        Progress::Pending => return Ok(()),
                        Progress::Done => {}
                    }
                    let Stage::Handshake(handshake) =
                        core::mem::replace(&mut self.stage, Stage::Failed)
                    else {
                        return Ok(());
                    };
                    let (transport, remote_key) = handshake.finish()?;
                    let remote = remote_key.peer_id();
                    if self.expected.as_ref().is_some_and(|expected| *expected != remote) {
                        return Err(ConnectionError::WrongPeer);
                    }
                    self.remote = Some(remote);
                    let negotiation = match self.direction {
                        Direction::Dialer => {
                            Negotiation::Dialer(Dialer::new(&[YAMUX], &mut self.plain_output))
                        }
                        Direction::Listener => Negotiation::Listener(Listener::new(&[YAMUX])),
                    };
                    let mut transport = Box::new(transport);
                    encrypt(&mut transport, &mut self.plain_output, &mut self.raw_output)?;
                    self.stage = Stage::Multiplexer(transport, negotiation);
                }
                Stage::Multiplexer(transport, negotiation) => {
                    transport.decrypt(&mut self.raw_input, &mut self.plain_input)?;
                    if self.plain_input.len() > HANDSHAKE_INPUT_MAX {
                        return Err(ConnectionError::InputOverflow);
                    }
                    let agreed = negotiation
                        .receive(&mut self.plain_input, &mut self.plain_output)
                        .map_err(ConnectionError::Multiplexer)?;
                    encrypt(transport, &mut self.plain_output, &mut self.raw_output)?;
                    if agreed.is_none() {
                        return Ok(());
                    }
                    let Stage::Multiplexer(transport, _) =
                        core::mem::replace(&mut self.stage, Stage::Failed)
                    else {
                        return Ok(());
                    };
                    let mode = match self.direction {
                        Direction::Dialer => Mode::Client,
                        Direction::Listener => Mode::Server,
                    };
                    self.stage = Stage::Open(transport, Session::new(mode, self.settings.yamux));
                    if let Some(remote) = self.remote.clone() {
                        self.events.push_back(Event::Established(remote));
                    }
                    self.open_stream(IDENTIFY, Purpose::Identify);
                    self.next_ping = now;
                    self.poll_timeouts(now)?;
                }
                Stage::Open(transport, session) => {
                    transport.decrypt(&mut self.raw_input, &mut self.plain_input)?;
                    if self.plain_input.len() > PLAINTEXT_INPUT_MAX {
                        return Err(ConnectionError::InputOverflow);
                    }
                    if let Err(error) = session.receive(&mut self.plain_input) {
                        session.transmit(&mut self.plain_output);
                        let _ = encrypt(transport, &mut self.plain_output, &mut self.raw_output);
                        return Err(error.into());
                    }
                    // Streams yamux refused for the limit, since the last time.
                    let refused = session.refused_streams();
                    for _ in self.refused_streams..refused {
                        self.events.push_back(Event::StreamRefused(StreamError::TooMany));
                    }
                    self.refused_streams = refused;
                    self.serve_streams(now)?;
                    self.flush();
                    return Ok(());
                }
            }
        }
    }

    /// Takes the multiplexer's events and serves every stream that moved.
    fn serve_streams(&mut self, now: u64) -> Result<(), ConnectionError> {
        loop {
            let Stage::Open(_, session) = &mut self.stage else { return Ok(()) };
            let Some(event) = session.poll_event() else { return Ok(()) };
            match event {
                yamux::Event::Opened(id) => {
                    // yamux itself refuses streams beyond its limit.
                    let listener = Listener::new(&PROTOCOLS);
                    self.streams.insert(id, Stream::new(StreamState::Negotiating(listener)));
                    self.serve_stream(id, now);
                }
                yamux::Event::Data(id) => self.serve_stream(id, now),
                yamux::Event::Finished(id) => {
                    if let Some(stream) = self.streams.get_mut(&id) {
                        stream.finished = true;
                    }
                    self.serve_stream(id, now);
                }
                yamux::Event::Reset(id) => self.forget(id),
                yamux::Event::GoAway(code) => return Err(ConnectionError::GoAway(code)),
                yamux::Event::Pong(_) => {}
            }
        }
    }

    /// Serves stream `id`: reads what arrived and acts on it.
    fn serve_stream(&mut self, id: StreamId, now: u64) {
        let Stage::Open(_, session) = &mut self.stage else { return };
        let Some(stream) = self.streams.get_mut(&id) else {
            // A stream this node forgot: drain it.
            let mut discard = Vec::new();
            session.read(id, &mut discard, usize::MAX);
            return;
        };
        session.read(id, &mut stream.input, usize::MAX);
        let outcome = step(stream, &self.settings, now);
        match outcome {
            Step::Nothing => {}
            Step::Identify => {
                let info = self.identify_info();
                if let Some(stream) = self.streams.get_mut(&id) {
                    varint::encode_frame(&info.encode(), &mut stream.output);
                    stream.close_after = true;
                    stream.state = StreamState::IdentifyServing;
                }
            }
            Step::Event(event) => {
                if matches!(event, Event::Pong { .. }) {
                    self.ping_failures = 0;
                }
                self.events.push_back(event);
            }
            Step::Delivery(request) => {
                if self.deliveries >= self.settings.deliveries_max {
                    if let Some(stream) = self.streams.get_mut(&id) {
                        stream.answer_with_receipt(request.id, message::Status::Busy);
                    }
                } else {
                    self.deliveries += 1;
                    if let Some(stream) = self.streams.get_mut(&id) {
                        stream.state = StreamState::MessageWaiting {
                            id: request.id,
                            deadline: now + self.settings.delivery_timeout,
                        };
                    }
                    self.events.push_back(Event::Message { delivery: Delivery(id), request });
                }
            }
            Step::Receipt(message_id, outcome) => {
                self.sends = self.sends.saturating_sub(1);
                self.events.push_back(Event::Receipt { id: message_id, outcome });
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.finish();
                }
            }
            Step::Refuse(error) => {
                if let Some(stream) = self.streams.get_mut(&id) {
                    if let StreamState::Proposing(_, Purpose::Message(message_id, _)) = stream.state
                    {
                        // Settled here, not as a missing receipt.
                        stream.state = StreamState::Done;
                        self.sends = self.sends.saturating_sub(1);
                        let outcome = Err(match error {
                            StreamError::Negotiation(_) => Failure::NotSupported,
                            _ => Failure::BadReceipt,
                        });
                        self.events.push_back(Event::Receipt { id: message_id, outcome });
                    } else if !matches!(stream.state, StreamState::Proposing(..)) {
                        self.events.push_back(Event::StreamRefused(error));
                    }
                }
                self.reset(id);
                return;
            }
        }
        // A stream both sides have closed is done with.
        if let Some(stream) = self.streams.get(&id) {
            if stream.finished && stream.closed {
                self.forget(id);
            }
        }
    }

    /// This node's identify record for this connection.
    fn identify_info(&self) -> Info {
        Info {
            protocol_version: self.settings.protocol_version.clone(),
            agent_version: self.settings.agent_version.clone(),
            public_key: Some(self.local_key),
            listen_addrs: self.settings.listen_addrs.clone(),
            observed_addr: self.observed.clone(),
            protocols: PROTOCOLS.iter().map(|&protocol| String::from(protocol)).collect(),
        }
    }

    /// Writes what the streams have for the window, closes those that are
    /// done, and encrypts what yamux has to send.
    fn flush(&mut self) {
        let Stage::Open(transport, session) = &mut self.stage else { return };
        let mut gone = Vec::new();
        for (&id, stream) in self.streams.iter_mut() {
            if !stream.output.is_empty() {
                match session.write(id, &stream.output) {
                    Ok(written) => {
                        stream.output.drain(..written);
                    }
                    Err(_) => {
                        gone.push(id);
                        continue;
                    }
                }
            }
            if stream.output.is_empty() && stream.close_after && !stream.closed {
                session.close(id);
                stream.closed = true;
                stream.close_after = false;
            }
            if stream.closed && stream.finished {
                gone.push(id);
            }
        }
        session.transmit(&mut self.plain_output);
        // An encryption failure (nonce exhaustion) shows at the next receive.
        let _ = encrypt(transport, &mut self.plain_output, &mut self.raw_output);
        for id in gone {
            self.forget(id);
        }
    }
}

/// Encrypts and empties `plain` into `raw`.
fn encrypt(
    transport: &mut Transport,
    plain: &mut Vec<u8>,
    raw: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    if plain.is_empty() {
        return Ok(());
    }
    let result = transport.encrypt(plain, raw);
    plain.clear();
    result
}

/// What serving a stream came to.
enum Step {
    Nothing,
    /// Send this node's identify record.
    Identify,
    Event(Event),
    /// A message arrived.
    Delivery(Request),
    /// A receipt arrived.
    Receipt(u64, Result<message::Status, Failure>),
    /// Reset the stream.
    Refuse(StreamError),
}

/// Serves one stream with what arrived.
fn step(stream: &mut Stream, settings: &Settings, now: u64) -> Step {
    loop {
        match &mut stream.state {
            StreamState::Negotiating(listener) => {
                match listener.receive(&mut stream.input, &mut stream.output) {
                    Err(error) => return Step::Refuse(StreamError::Negotiation(error)),
                    Ok(None) => return Step::Nothing,
                    Ok(Some(index)) => match PROTOCOLS.get(index).copied() {
                        Some(ping::PROTOCOL) => {
                            stream.state = StreamState::PingResponder(ping::Responder::new())
                        }
                        Some(IDENTIFY) => return Step::Identify,
                        Some(IDENTIFY_PUSH) => stream.state = StreamState::IdentifyReading,
                        _ => stream.state = StreamState::MessageReading,
                    },
                }
            }
            StreamState::Proposing(dialer, purpose) => {
                match dialer.receive(&mut stream.input, &mut stream.output) {
                    Err(error) => return Step::Refuse(StreamError::Negotiation(error)),
                    Ok(None) => return Step::Nothing,
                    Ok(Some(_)) => {}
                }
                stream.state = match core::mem::replace(purpose, Purpose::Ping) {
                    Purpose::Identify => StreamState::IdentifyReading,
                    Purpose::Ping => {
                        let mut pinger = ping::Pinger::new();
                        let payload = first_payload(now);
                        pinger.send(payload, &mut stream.output);
                        StreamState::Pinging(pinger, Some(now))
                    }
                    Purpose::Message(id, encoded) => {
                        stream.output.extend_from_slice(&encoded);
                        stream.close_after = true;
                        StreamState::ReceiptReading {
                            id,
                            // Counted from the stream's opening, as promised.
                            deadline: stream.deadline.unwrap_or(now + settings.receipt_timeout),
                        }
                    }
                };
            }
            StreamState::PingResponder(responder) => {
                responder.receive(&mut stream.input, &mut stream.output);
                if stream.output.len() > PING_BACKLOG_MAX {
                    return Step::Refuse(StreamError::Ping);
                }
                if stream.finished {
                    stream.close_after = true;
                }
                return Step::Nothing;
            }
            StreamState::Pinging(pinger, sent) => {
                return match pinger.receive(&mut stream.input) {
                    Ok(Some(())) => {
                        let rtt = sent.take().map_or(0, |sent| now.saturating_sub(sent));
                        Step::Event(Event::Pong { rtt })
                    }
                    Ok(None) => Step::Nothing,
                    Err(_) => Step::Refuse(StreamError::Ping),
                };
            }
            StreamState::IdentifyReading => {
                return match varint::decode_frame(&stream.input, IDENTIFY_MAX) {
                    Err(_) => Step::Refuse(StreamError::Identify),
                    Ok(None) if stream.finished => Step::Refuse(StreamError::Identify),
                    Ok(None) => Step::Nothing,
                    Ok(Some((body, _))) => match Info::decode(body) {
                        Ok(info) => {
                            stream.input.clear();
                            stream.finish();
                            Step::Event(Event::Identified(info))
                        }
                        Err(_) => Step::Refuse(StreamError::Identify),
                    },
                };
            }
            StreamState::MessageReading => {
                return match Request::decode(&stream.input) {
                    Ok(Some((request, _))) => {
                        stream.input.clear();
                        Step::Delivery(request)
                    }
                    Ok(None) if stream.finished => {
                        Step::Refuse(StreamError::Message(message::MessageError::Malformed))
                    }
                    Ok(None) => Step::Nothing,
                    Err(
                        message::MessageError::TooLarge
                        | message::MessageError::Frame(varint::FrameError::TooLong { .. }),
                    ) => {
                        stream.input.clear();
                        stream.answer_with_receipt(0, message::Status::TooLarge);
                        Step::Nothing
                    }
                    Err(error) => Step::Refuse(StreamError::Message(error)),
                };
            }
            StreamState::ReceiptReading { id, .. } => {
                let id = *id;
                return match Receipt::decode(&stream.input) {
                    Ok(Some((receipt, _))) => {
                        stream.input.clear();
                        Step::Receipt(id, Ok(receipt.status))
                    }
                    Ok(None) if stream.finished => Step::Receipt(id, Err(Failure::NoReceipt)),
                    Ok(None) => Step::Nothing,
                    Err(_) => Step::Receipt(id, Err(Failure::BadReceipt)),
                };
            }
            StreamState::IdentifyServing
            | StreamState::MessageWaiting { .. }
            | StreamState::Done => {
                stream.input.clear();
                return Step::Nothing;
            }
        }
    }
}

/// The first ping's payload on a new stream (later ones come from the
/// connection's generator).
fn first_payload(now: u64) -> [u8; ping::PAYLOAD] {
    let mut payload = [0u8; ping::PAYLOAD];
    for (index, chunk) in payload.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &(now ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
        );
    }
    payload
}

#[cfg(test)]
mod tests;
