//! The libp2p node: its swarm, the loop that turns swarm events into output lines, and the
//! commands from standard input.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{ConnectionError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::arguments::Arguments;
use crate::command::{parse_command, Command, MAXIMUM_WINDOW};
use crate::fields::{bytes_value, list, word};
use crate::message::{MessageCodec, Receipt, Request, RequestFrame, Status, PROTOCOL};

/// The protocol version identify sends.
pub const PROTOCOL_VERSION: &str = "/elastos/1.0.0";

/// How long a connection with no streams open stays up.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a request may wait for its receipt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The key seed did not make an ed25519 key.
    #[error("cannot make an ed25519 key from the seed: {0}")]
    Key(#[from] identity::DecodingError),
    /// The TCP, Noise or yamux transport could not be set up.
    #[error("cannot set up the transport: {0}")]
    Transport(#[from] noise::Error),
    /// A `--listen` address could not be listened on.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: Multiaddr,
        /// Why not.
        reason: String,
    },
    /// Standard output or standard input failed.
    #[error("standard input or output failed: {0}")]
    Io(#[from] io::Error),
}

/// The behaviours of the node, combined.
#[derive(NetworkBehaviour)]
struct Behaviour {
    /// `/ipfs/id/1.0.0`.
    identify: identify::Behaviour,
    /// `/ipfs/ping/1.0.0`.
    ping: ping::Behaviour,
    /// `/elastos/msg/1.0.0`.
    messages: request_response::Behaviour<MessageCodec>,
}

/// The ed25519 key from `seed`, written as 32 little-endian bytes, or a random key.
pub fn keypair(seed: Option<u64>) -> Result<identity::Keypair, identity::DecodingError> {
    match seed {
        Some(seed) => {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&seed.to_le_bytes());
            identity::Keypair::ed25519_from_bytes(secret)
        }
        None => Ok(identity::Keypair::generate_ed25519()),
    }
}

/// Writes output lines to standard output, each flushed at once.
struct Output {
    /// Standard output.
    stdout: io::Stdout,
}

impl Output {
    /// Writes `line` and a newline, and flushes.
    fn line(&self, line: &str) -> io::Result<()> {
        let mut stdout = self.stdout.lock();
        stdout.write_all(line.as_bytes())?;
        stdout.write_all(b"\n")?;
        stdout.flush()
    }
}

/// A message sent and awaiting its receipt.
#[derive(Clone, Copy, Debug)]
struct PendingRequest {
    /// The id the message carries.
    message_id: u64,
    /// The `send-many` batch it belongs to, if any.
    batch: Option<u64>,
}

/// The state of one `send-many` command.
struct Batch {
    /// The peer sent to.
    peer: PeerId,
    /// The application addressed.
    recipient: String,
    /// The body of every message.
    body: Vec<u8>,
    /// Messages in all.
    count: u64,
    /// Messages not sent yet.
    unsent: u64,
    /// Messages sent and awaiting receipts.
    awaiting: usize,
    /// The most messages awaiting receipts at once.
    window: usize,
    /// Receipts that said delivered.
    delivered: u64,
    /// When the first message went out.
    started: Instant,
}

/// The running node.
struct Node {
    /// The libp2p swarm.
    swarm: Swarm<Behaviour>,
    /// The recipient name this node answers to, and sends as.
    name: String,
    /// Standard output.
    output: Output,
    /// The id of the next message sent.
    next_message_id: u64,
    /// Messages awaiting receipts.
    pending: HashMap<OutboundRequestId, PendingRequest>,
    /// `send-many` commands not finished, by number.
    batches: HashMap<u64, Batch>,
    /// The number of the next `send-many` command.
    next_batch: u64,
}

/// A connection error as one word.
fn connection_cause(cause: Option<&ConnectionError>) -> String {
    match cause {
        None => "graceful".into(),
        Some(ConnectionError::KeepAliveTimeout) => "keep-alive-timeout".into(),
        Some(ConnectionError::IO(error)) => format!("io:{}", word(&error.to_string())),
    }
}

/// An outbound request failure as one word.
fn outbound_failure(error: &OutboundFailure) -> String {
    match error {
        OutboundFailure::DialFailure => "dial-failure".into(),
        OutboundFailure::Timeout => "timeout".into(),
        OutboundFailure::ConnectionClosed => "connection-closed".into(),
        OutboundFailure::UnsupportedProtocols => "unsupported-protocols".into(),
        OutboundFailure::Io(error) => format!("io:{}", word(&error.to_string())),
    }
}

/// A ping failure as one word.
fn ping_failure(error: &ping::Failure) -> String {
    match error {
        ping::Failure::Timeout => "timeout".into(),
        ping::Failure::Unsupported => "unsupported".into(),
        ping::Failure::Other { error } => format!("other:{}", word(&error.to_string())),
    }
}

/// The body of the messages of `send-many`: `length` bytes of the lowercase alphabet, over
/// and over, so that the receiver prints them as text.
pub fn pattern_body(length: usize) -> Vec<u8> {
    (b'a'..=b'z').cycle().take(length).collect()
}

impl Node {
    /// Builds the swarm from the command line.
    fn new(arguments: &Arguments) -> Result<Self, NodeError> {
        let keypair = keypair(arguments.key_seed)?;
        let identify_config = identify::Config::new(PROTOCOL_VERSION.into(), keypair.public())
            .with_agent_version(arguments.agent.clone());
        let ping_config = ping::Config::new().with_interval(arguments.ping_interval);
        let messages_config = request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(2 * MAXIMUM_WINDOW);
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| Behaviour {
                identify: identify::Behaviour::new(identify_config),
                ping: ping::Behaviour::new(ping_config),
                messages: request_response::Behaviour::with_codec(
                    MessageCodec,
                    [(PROTOCOL, ProtocolSupport::Full)],
                    messages_config,
                ),
            })
            // The closure above cannot fail.
            .expect("building the behaviour is infallible")
            .with_swarm_config(|config| {
                config.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT)
            })
            .build();
        Ok(Self {
            swarm,
            name: arguments.name.clone(),
            output: Output { stdout: io::stdout() },
            next_message_id: 1,
            pending: HashMap::new(),
            batches: HashMap::new(),
            next_batch: 1,
        })
    }

    /// Prints one output line.
    fn print(&self, line: &str) -> io::Result<()> {
        self.output.line(line)
    }

    /// Prints an `error` line: `error` and free text, kept to one line.
    fn print_error(&self, text: &str) -> io::Result<()> {
        self.output.line(&format!("error {}", text.lines().collect::<Vec<_>>().join(" ")))
    }

    /// Dials `address`, printing an error line if the dial cannot start.
    fn dial(&mut self, address: Multiaddr) -> io::Result<()> {
        if let Err(error) = self.swarm.dial(address.clone()) {
            self.print_error(&format!("cannot dial {address}: {error}"))?;
        }
        Ok(())
    }

    /// Sends one message with the next id, or prints why it may not be sent.
    fn send(
        &mut self,
        peer: PeerId,
        recipient: String,
        body: Vec<u8>,
        batch: Option<u64>,
    ) -> io::Result<bool> {
        let request =
            Request { id: self.next_message_id, recipient, sender: self.name.clone(), body };
        if let Err(error) = request.encode() {
            self.print_error(&format!("message not sent: {error}"))?;
            return Ok(false);
        }
        self.next_message_id += 1;
        let message_id = request.id;
        let request_id =
            self.swarm.behaviour_mut().messages.send_request(&peer, RequestFrame::Message(request));
        self.pending.insert(request_id, PendingRequest { message_id, batch });
        Ok(true)
    }

    /// Sends messages of batch `number` until its window is full or none are left, and
    /// prints the `sent` line once every receipt is in.
    fn advance_batch(&mut self, number: u64) -> io::Result<()> {
        loop {
            let Some(batch) = self.batches.get_mut(&number) else {
                return Ok(());
            };
            if batch.unsent == 0 {
                if batch.awaiting == 0 {
                    let line = format!(
                        "sent peer={} count={} bytes={} elapsed-us={} receipts-delivered={}",
                        batch.peer,
                        batch.count,
                        batch.count * batch.body.len() as u64,
                        batch.started.elapsed().as_micros(),
                        batch.delivered,
                    );
                    self.batches.remove(&number);
                    self.print(&line)?;
                }
                return Ok(());
            }
            if batch.awaiting >= batch.window {
                return Ok(());
            }
            batch.unsent -= 1;
            batch.awaiting += 1;
            let (peer, recipient, body) = (batch.peer, batch.recipient.clone(), batch.body.clone());
            if !self.send(peer, recipient, body, Some(number))? {
                // Every message of a batch is alike, so none of the rest can go either.
                self.batches.remove(&number);
                return Ok(());
            }
        }
    }

    /// Notes that a message of batch `number` has its receipt, or has failed.
    fn finish_batch_request(&mut self, number: u64, delivered: bool) -> io::Result<()> {
        if let Some(batch) = self.batches.get_mut(&number) {
            batch.awaiting -= 1;
            if delivered {
                batch.delivered += 1;
            }
        }
        self.advance_batch(number)
    }

    /// Carries out one command; `false` means quit.
    fn run_command(&mut self, command: Command) -> io::Result<bool> {
        match command {
            Command::Quit => return Ok(false),
            Command::Dial(address) => self.dial(address)?,
            Command::Send { peer, recipient, text } => {
                self.send(peer, recipient, text.into_bytes(), None)?;
            }
            Command::SendMany { peer, recipient, length, count, window } => {
                let number = self.next_batch;
                self.next_batch += 1;
                let batch = Batch {
                    peer,
                    recipient,
                    body: pattern_body(length),
                    count,
                    unsent: count,
                    awaiting: 0,
                    window,
                    delivered: 0,
                    started: Instant::now(),
                };
                self.batches.insert(number, batch);
                self.advance_batch(number)?;
            }
        }
        Ok(true)
    }

    /// Answers an incoming request and prints what came.
    fn answer(
        &mut self,
        peer: PeerId,
        frame: RequestFrame,
        channel: request_response::ResponseChannel<Receipt>,
    ) -> io::Result<()> {
        let (id, status) = match frame {
            RequestFrame::Message(request) if request.recipient == self.name => {
                self.print(&format!(
                    "message peer={peer} id={} sender={} recipient={} length={} body={}",
                    request.id,
                    bytes_value(request.sender.as_bytes()),
                    bytes_value(request.recipient.as_bytes()),
                    request.body.len(),
                    bytes_value(&request.body),
                ))?;
                (request.id, Status::Delivered)
            }
            RequestFrame::Message(request) => {
                self.print(&format!(
                    "refused peer={peer} id={} recipient={} status={}",
                    request.id,
                    bytes_value(request.recipient.as_bytes()),
                    Status::UnknownRecipient.name(),
                ))?;
                (request.id, Status::UnknownRecipient)
            }
            RequestFrame::TooLarge { id } => {
                self.print(&format!(
                    "refused peer={peer} id={id} recipient= status={}",
                    Status::TooLarge.name()
                ))?;
                (id, Status::TooLarge)
            }
        };
        let receipt = Receipt { id, status };
        if self.swarm.behaviour_mut().messages.send_response(channel, receipt).is_err() {
            self.print_error(&format!(
                "receipt for message {id} from {peer} not sent: the stream is gone"
            ))?;
        }
        Ok(())
    }

    /// Prints a swarm event and acts on it.
    fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> io::Result<()> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let local = *self.swarm.local_peer_id();
                self.print(&format!("listening {}", address.with(Protocol::P2p(local))))?;
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                let (role, address) = match endpoint {
                    ConnectedPoint::Dialer { address, .. } => ("dialer", address),
                    ConnectedPoint::Listener { send_back_addr, .. } => ("listener", send_back_addr),
                };
                self.print(&format!("connected peer={peer_id} endpoint={role} address={address}"))?;
            }
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                self.print(&format!(
                    "closed peer={peer_id} cause={}",
                    connection_cause(cause.as_ref())
                ))?;
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let peer = peer_id.map_or_else(|| "unknown".into(), |peer| peer.to_string());
                self.print_error(&format!("dial to peer {peer} failed: {error}"))?;
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                self.print_error(&format!(
                    "incoming connection from {send_back_addr} failed: {error}"
                ))?;
            }
            SwarmEvent::ListenerError { error, .. } => {
                self.print_error(&format!("listener failed: {error}"))?;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.handle_identify(event)?;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => {
                match result {
                    Ok(rtt) => {
                        self.print(&format!("ping peer={peer} rtt-us={}", rtt.as_micros()))?
                    }
                    Err(error) => self.print(&format!(
                        "ping-failure peer={peer} error={}",
                        ping_failure(&error)
                    ))?,
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Messages(event)) => {
                self.handle_messages(event)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Prints what identify learned.
    fn handle_identify(&mut self, event: identify::Event) -> io::Result<()> {
        match event {
            identify::Event::Received { peer_id, info, .. } => self.print(&format!(
                "identified peer={peer_id} protocol-version={} agent={} protocols={} listen={} observed={}",
                word(&info.protocol_version),
                word(&info.agent_version),
                list(&info.protocols),
                list(&info.listen_addrs),
                info.observed_addr,
            )),
            identify::Event::Error { peer_id, error, .. } => {
                self.print_error(&format!("identify with {peer_id} failed: {error}"))
            }
            identify::Event::Sent { .. } | identify::Event::Pushed { .. } => Ok(()),
        }
    }

    /// Answers requests, prints receipts and failures, and moves `send-many` along.
    fn handle_messages(
        &mut self,
        event: request_response::Event<RequestFrame, Receipt>,
    ) -> io::Result<()> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    self.answer(peer, request, channel)
                }
                request_response::Message::Response { request_id, response } => {
                    let pending = self.pending.remove(&request_id);
                    self.print(&format!(
                        "receipt peer={peer} id={} status={}",
                        response.id,
                        response.status.name()
                    ))?;
                    let Some(pending) = pending else { return Ok(()) };
                    if response.id != pending.message_id {
                        self.print_error(&format!(
                            "receipt id {} does not match message id {}",
                            response.id, pending.message_id
                        ))?;
                    }
                    match pending.batch {
                        Some(number) => {
                            self.finish_batch_request(number, response.status == Status::Delivered)
                        }
                        None => Ok(()),
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                let pending = self.pending.remove(&request_id);
                let id = pending.map_or(0, |pending| pending.message_id);
                self.print(&format!(
                    "request-failure peer={peer} id={id} error={}",
                    outbound_failure(&error)
                ))?;
                match pending.and_then(|pending| pending.batch) {
                    Some(number) => self.finish_batch_request(number, false),
                    None => Ok(()),
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.print_error(&format!("request from {peer} failed: {error}"))
            }
            request_response::Event::ResponseSent { .. } => Ok(()),
        }
    }
}

/// Runs the node until `quit` or the end of standard input.
pub async fn run(arguments: &Arguments) -> Result<(), NodeError> {
    let mut node = Node::new(arguments)?;
    node.print(&format!("peer-id {}", node.swarm.local_peer_id()))?;
    for address in &arguments.listen {
        if let Err(error) = node.swarm.listen_on(address.clone()) {
            return Err(NodeError::Listen { address: address.clone(), reason: error.to_string() });
        }
    }
    for address in &arguments.dial {
        node.dial(address.clone())?;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            event = node.swarm.select_next_some() => node.handle_event(event)?,
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                match parse_command(&line) {
                    Ok(Some(command)) => {
                        if !node.run_command(command)? {
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(error) => node.print_error(&error.to_string())?,
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_keys_are_deterministic() {
        let first = keypair(Some(1)).expect("seeded key");
        let again = keypair(Some(1)).expect("seeded key");
        let other = keypair(Some(2)).expect("seeded key");
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        assert_ne!(first.public().to_peer_id(), other.public().to_peer_id());
        assert!(first.public().to_peer_id().to_string().starts_with("12D3KooW"));
        let random = keypair(None).expect("random key");
        assert_ne!(random.public().to_peer_id(), first.public().to_peer_id());
    }

    #[test]
    fn pattern_bodies_are_printable() {
        assert_eq!(pattern_body(0), b"");
        assert_eq!(pattern_body(28), b"abcdefghijklmnopqrstuvwxyzab");
        assert_eq!(bytes_value(&pattern_body(100)).len(), 100);
    }
}
