//! netvm's libp2p node: TCP connections on the stack's sockets, each run by
//! an [`elastos_p2p::connection::Connection`], and the routing of Elastos
//! messages between them and the app VMs' channels.
//!
//! The node listens on its port with a few listening sockets and keeps at
//! most [`CONNECTIONS_MAX`] connections: a SYN beyond that finds no
//! listening socket and is refused by the stack. A connection that does
//! not open within the handshake deadline is aborted, so half-open
//! connections cost a socket for a few seconds. It dials its bootstrap
//! peers once it has an address, and again with growing pauses when they
//! drop.
//!
//! An app VM's `send` (`guest_runtime::messaging`) goes on the connection to
//! its peer as a `/elastos/msg/1.0.0` request; the receipt comes back to the
//! app as a `receipt`. A message from a peer for an application an app VM
//! registered is delivered on that app VM's channel; the app's `accept`
//! becomes the receipt.

use crate::identity::{IdentityClient, CHAINVM_CHANNEL};
use crate::settings::Settings;
use alloc::collections::btree_map::Entry;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use elastos_p2p::connection::{
    self, Connection, ConnectionError, Delivery, Direction, Event, Failure,
};
use elastos_p2p::identity::PeerId;
use elastos_p2p::message::{self, Request};
use elastos_p2p::multiaddr::{Multiaddr, Protocol};
use elastos_p2p::yamux;
use guest_runtime::channel::{Channel, Channels};
use guest_runtime::identity::Record as IdentityRecord;
use guest_runtime::message::{Message, MESSAGE_MAX};
use guest_runtime::messaging::{Record, Status, RECORD_MAX};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use crate::stack::Network;

/// Connections at most, both directions, counting the sockets listening
/// for the next ones and those still closing.
pub const CONNECTIONS_MAX: usize = 32;
/// Listening sockets kept ready.
const LISTENERS: usize = 2;
/// Bytes of each TCP socket's buffers, each way.
const SOCKET_BUFFER: usize = 32 * 1024;
/// How soon held receipts are tried again.
const RECEIPT_RETRY: u64 = 10_000;
/// Receipts held for app VMs whose rings are full, at most.
const HELD_RECEIPTS_MAX: usize = 1024;
/// The longest a closing socket is kept for its FIN or RST to go out.
const CLOSE_TIME: u64 = 5_000_000;
/// The first local port for dialing.
const FIRST_LOCAL_PORT: u16 = 49152;
/// The shortest and longest pause before dialing a bootstrap peer again.
const REDIAL_FIRST: u64 = 2_000_000;
const REDIAL_MAX: u64 = 60_000_000;
/// Connection failures printed one by one at most; the rest are counted.
const FAILURES_PRINTED: u64 = 8;
/// The shortest time between two summaries of failures.
const SUMMARY_INTERVAL: u64 = 10_000_000;

/// What a console line says; the node hands lines to its caller to print.
pub type Report = String;

/// The node's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections that failed or timed out before opening.
    pub failed_handshakes: u64,
    /// Connections closed because the remote broke a protocol.
    pub protocol_errors: u64,
    /// Streams refused for a limit or a protocol error.
    pub refused_streams: u64,
    /// Receipts dropped because an app VM left too many in its full ring.
    pub receipts_dropped: u64,
}

/// One TCP connection.
struct Peer {
    socket: SocketHandle,
    connection: Connection,
    remote: IpEndpoint,
    /// The bootstrap entry it came from, if any.
    bootstrap: Option<usize>,
    /// The connection's `Established` was seen.
    open: bool,
    /// Its identify record was printed.
    identified: bool,
}

/// A bootstrap peer and when to dial it.
struct Bootstrap {
    address: Multiaddr,
    peer: PeerId,
    endpoint: IpEndpoint,
    next_dial: u64,
    pause: u64,
    connected: bool,
}

/// A message sent for an app VM, waiting for its receipt.
struct Pending {
    channel: usize,
    id: u64,
    /// The connection it went on (its socket identifies it).
    socket: SocketHandle,
}

/// A message delivered to an app VM, waiting for its accept.
struct Delivered {
    /// The peer's connection (its socket identifies it).
    socket: SocketHandle,
    delivery: Delivery,
    /// After this the connection has answered for the app: forget it.
    expires: u64,
    /// The channel (index) it went to: only that app VM may answer it.
    channel: usize,
}

/// An application an app VM registered: messages for `name` go to the
/// channel with index `channel`, while it stays at `epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registration {
    name: String,
    channel: usize,
    epoch: u32,
}

/// The libp2p node.
pub struct Node {
    /// The node's identity, held by chainvm: its public key and the signed
    /// handshake key, as they arrive.
    identity: IdentityClient,
    /// The PeerId, once chainvm gave the public key.
    peer_id: Option<PeerId>,
    settings: Settings,
    connection_settings: connection::Settings,
    random: ChaCha20Rng,
    listeners: Vec<SocketHandle>,
    peers: Vec<Peer>,
    /// Sockets closing or aborted, kept until the stack has sent their FIN
    /// or RST (or a deadline passes).
    closing: Vec<(SocketHandle, u64)>,
    bootstrap: Vec<Bootstrap>,
    next_local_port: u16,
    /// Wire message ids → the app's message.
    pending: BTreeMap<u64, Pending>,
    next_wire_id: u64,
    /// Delivery numbers → the connection's delivery.
    delivered: BTreeMap<u64, Delivered>,
    next_delivery: u64,
    /// Receipts waiting for room in their app VM's ring.
    held_receipts: VecDeque<HeldReceipt>,
    /// The applications app VMs run, by the names they registered.
    registrations: Vec<Registration>,
    /// The address announced, once known.
    announced: Option<Ipv4Address>,
    counters: Counters,
    /// Failures printed one by one so far, and when the next summary may
    /// come.
    failures_printed: u64,
    failures_summarized: u64,
    /// Refused streams printed one by one so far, and counted since.
    refusals_printed: u64,
    refusals_summarized: u64,
    next_summary: u64,
    reports: Vec<Report>,
}

impl Node {
    /// A node with `settings` and randomness from `seed` (64 bytes from the
    /// entropy device: the Noise static secret chainvm is asked to sign, and
    /// the seed of the generator for handshake secrets). Its identity comes
    /// from chainvm (see [`crate::identity`]): it listens and dials once
    /// chainvm answered.
    pub fn new(settings: Settings, seed: [u8; 64]) -> Self {
        let mut static_secret = [0u8; 32];
        let mut generator_seed = [0u8; 32];
        static_secret.copy_from_slice(&seed[..32]);
        generator_seed.copy_from_slice(&seed[32..]);
        let bootstrap = settings
            .bootstrap
            .iter()
            .filter_map(|address| {
                let peer = address.peer_id()?.clone();
                let (ip, port) = address.tcp_endpoint()?;
                Some(Bootstrap {
                    address: address.clone(),
                    peer,
                    endpoint: IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(ip)), port),
                    next_dial: 0,
                    pause: REDIAL_FIRST,
                    connected: false,
                })
            })
            .collect();
        Self {
            identity: IdentityClient::new(static_secret),
            peer_id: None,
            connection_settings: connection::Settings {
                protocol_version: String::from("/elastos/1.0.0"),
                agent_version: alloc::format!("elastos-netvm/{}", env!("CARGO_PKG_VERSION")),
                listen_addrs: Vec::new(),
                yamux: yamux::Config::default(),
                handshake_timeout: 10_000_000,
                ping_interval: settings.ping_interval_ms * 1_000,
                ping_timeout: 20_000_000,
                receipt_timeout: 10_000_000,
                delivery_timeout: 5_000_000,
                deliveries_max: 64,
                sends_max: 64,
            },
            settings,
            random: ChaCha20Rng::from_seed(generator_seed),
            listeners: Vec::new(),
            peers: Vec::new(),
            closing: Vec::new(),
            bootstrap,
            next_local_port: FIRST_LOCAL_PORT,
            pending: BTreeMap::new(),
            next_wire_id: 1,
            delivered: BTreeMap::new(),
            next_delivery: 1,
            held_receipts: VecDeque::new(),
            registrations: Vec::new(),
            announced: None,
            counters: Counters::default(),
            failures_printed: 0,
            failures_summarized: 0,
            refusals_printed: 0,
            refusals_summarized: 0,
            next_summary: 0,
            reports: Vec::new(),
        }
    }

    /// The node's PeerId, once chainvm gave its public key.
    pub fn peer_id(&self) -> Option<&PeerId> {
        self.peer_id.as_ref()
    }

    /// The port it listens on.
    pub fn listen_port(&self) -> u16 {
        self.settings.listen_port
    }

    /// Console lines gathered since the last call.
    pub fn take_reports(&mut self) -> Vec<Report> {
        core::mem::take(&mut self.reports)
    }

    fn report(&mut self, line: String) {
        self.reports.push(line);
    }

    /// A connection failed: printed while few have, counted after.
    fn report_failure(&mut self, line: String, now: u64) {
        if self.failures_printed < FAILURES_PRINTED {
            self.failures_printed += 1;
            self.report(line);
            return;
        }
        self.failures_summarized += 1;
        self.summarize(now);
    }

    /// A remote's stream was refused: printed while few have, counted after.
    fn report_refused_stream(&mut self, line: String, now: u64) {
        self.counters.refused_streams += 1;
        if self.refusals_printed < FAILURES_PRINTED {
            self.refusals_printed += 1;
            self.report(line);
            return;
        }
        self.refusals_summarized += 1;
        self.summarize(now);
    }

    /// Prints what was counted and not printed, at most once every
    /// [`SUMMARY_INTERVAL`].
    fn summarize(&mut self, now: u64) {
        if self.failures_summarized + self.refusals_summarized == 0 || now < self.next_summary {
            return;
        }
        self.next_summary = now + SUMMARY_INTERVAL;
        let counters = self.counters;
        self.report(alloc::format!(
            "p2p: {} more connections dropped and {} more streams refused ({} handshakes \
             failed, {} protocol errors, {} streams refused so far)",
            self.failures_summarized,
            self.refusals_summarized,
            counters.failed_handshakes,
            counters.protocol_errors,
            counters.refused_streams
        ));
        self.failures_summarized = 0;
        self.refusals_summarized = 0;
    }

    /// When the next summary is due, if one is waiting.
    fn summary_due(&self) -> Option<u64> {
        (self.failures_summarized + self.refusals_summarized > 0).then_some(self.next_summary)
    }

    /// Does everything due at `now` (microseconds, as every time here): accepts, dials, moves
    /// bytes, runs connections' timers, routes messages. Returns when it is
    /// next due.
    pub fn poll<D: Device>(
        &mut self,
        network: &mut Network<D>,
        channels: &mut Channels,
        now: u64,
    ) -> Option<u64> {
        self.exchange_identity(channels, now);
        let mut next = self.identity.next_due().unwrap_or(u64::MAX).max(now);
        if self.peer_id.is_none() {
            // Nothing to listen or dial as, yet.
            return Some(next);
        }
        let signed = self.identity.credentials().is_some();
        let address = network.lease().map(|lease| lease.address.address());
        if let Some(address) = address {
            self.announce(address);
        }
        self.release_receipts(channels);
        self.finish_closing(network, now);
        self.keep_listening(network);
        // A connection that came before the handshake key was signed waits
        // for it in its listening socket.
        if signed {
            self.accept(network, now);
            self.keep_listening(network);
        }
        if address.is_some() && signed {
            self.dial(network, now);
        }
        let mut index = 0;
        while index < self.peers.len() {
            match self.serve_peer(index, network, channels, now) {
                Ok(due) => {
                    next = next.min(due);
                    index += 1;
                }
                Err(ending) => self.drop_peer(index, network, channels, ending, now),
            }
        }
        // Dials wait for an address (`dial` pushes them back while there is
        // no room).
        if address.is_some() && signed {
            for entry in &self.bootstrap {
                if !entry.connected {
                    next = next.min(entry.next_dial);
                }
            }
        }
        // Deliveries the app never answered were answered `unavailable` by
        // their connection at the deadline; an accept after that is late.
        self.delivered.retain(|_, delivered| delivered.expires > now);
        self.summarize(now);
        if let Some(due) = self.summary_due() {
            next = next.min(due);
        }
        // The app VM does not ring for room in its ring: look again soon.
        if !self.held_receipts.is_empty() {
            next = next.min(now + RECEIPT_RETRY);
        }
        (next != u64::MAX).then_some(next)
    }

    /// Takes chainvm's identity records (and answers its pings) on the
    /// `netvm-chainvm` channel, and sends the request due.
    fn exchange_identity(&mut self, channels: &mut Channels, now: u64) {
        let Some(channel) = channels.iter_mut().find(|channel| channel.name() == CHAINVM_CHANNEL)
        else {
            return;
        };
        if !channel.is_up() {
            return;
        }
        let mut buffer = vec![0u8; MESSAGE_MAX];
        let mut ring = false;
        for _ in 0..16 {
            let length = match channel.receive(&mut buffer) {
                Ok(Some(length)) => length,
                _ => break,
            };
            ring = true;
            let received = &buffer[..length];
            if let Ok(Message::Ping(payload)) = Message::decode(received) {
                let mut pong = vec![0u8; payload.len() + 1];
                if let Ok(pong_length) = Message::Pong(payload).encode(&mut pong) {
                    let _ = channel.send(&pong[..pong_length]);
                }
                continue;
            }
            let Ok(record) = IdentityRecord::decode(received) else { continue };
            if let Some(line) = self.identity.receive(&record, now) {
                self.report(line);
            }
            if self.peer_id.is_none() {
                self.peer_id = self.identity.public_key().map(|key| key.peer_id());
                if self.peer_id.is_some() {
                    self.report(alloc::format!(
                        "p2p: listening on TCP port {} once the network has an address",
                        self.settings.listen_port
                    ));
                }
            }
        }
        if let Some(request) = self.identity.due(now) {
            let mut record = [0u8; guest_runtime::identity::RECORD_MAX];
            if let Ok(length) = request.encode(&mut record) {
                // A full ring: asked again after the retry.
                ring |= channel.send(&record[..length]).is_ok();
            }
        }
        if ring {
            let _ = channel.notify();
        }
    }

    /// Prints the listen address once the node has one.
    fn announce(&mut self, address: Ipv4Address) {
        if self.announced == Some(address) {
            return;
        }
        let Some(peer_id) = self.peer_id.clone() else { return };
        self.announced = Some(address);
        let mut listen = Multiaddr::default();
        listen.push(Protocol::Ip4(address.octets()));
        listen.push(Protocol::Tcp(self.settings.listen_port));
        self.connection_settings.listen_addrs = vec![listen.clone()];
        listen.push(Protocol::P2p(peer_id));
        self.report(alloc::format!("p2p: listening on {listen}"));
    }

    /// Sockets in use: each holds its buffers.
    fn sockets_in_use(&self) -> usize {
        self.peers.len() + self.listeners.len() + self.closing.len()
    }

    /// Removes the closing sockets that are done or out of time.
    fn finish_closing<D: Device>(&mut self, network: &mut Network<D>, now: u64) {
        self.closing.retain(|&(handle, deadline)| {
            let state = network.tcp_socket(handle).state();
            let done =
                matches!(state, tcp::State::Closed | tcp::State::TimeWait) || now >= deadline;
            if done {
                network.remove_socket(handle);
            }
            !done
        });
    }

    /// Keeps [`LISTENERS`] sockets listening while there is room.
    fn keep_listening<D: Device>(&mut self, network: &mut Network<D>) {
        // A listening socket is a connection in waiting: it counts.
        while self.listeners.len() < LISTENERS && self.sockets_in_use() < CONNECTIONS_MAX {
            let handle = network.add_tcp_socket(SOCKET_BUFFER);
            let socket = network.tcp_socket(handle);
            if socket.listen(self.settings.listen_port).is_err() {
                network.remove_socket(handle);
                return;
            }
            self.listeners.push(handle);
        }
    }

    /// Turns listening sockets that took a connection into peers.
    fn accept<D: Device>(&mut self, network: &mut Network<D>, now: u64) {
        let mut index = 0;
        while index < self.listeners.len() {
            let handle = self.listeners[index];
            let socket = network.tcp_socket(handle);
            if socket.state() == tcp::State::Listen {
                index += 1;
                continue;
            }
            self.listeners.swap_remove(index);
            let Some(remote) = socket.remote_endpoint() else {
                network.remove_socket(handle);
                continue;
            };
            let secrets = self.secrets();
            let Some(credentials) = self.identity.credentials() else { return };
            let connection = Connection::with_credentials(
                Direction::Listener,
                credentials,
                secrets,
                self.connection_settings.clone(),
                None,
                Some(endpoint_address(remote)),
                now,
            );
            self.peers.push(Peer {
                socket: handle,
                connection,
                remote,
                bootstrap: None,
                open: false,
                identified: false,
            });
        }
    }

    /// Dials the bootstrap peers that are due.
    fn dial<D: Device>(&mut self, network: &mut Network<D>, now: u64) {
        for index in 0..self.bootstrap.len() {
            let entry = &self.bootstrap[index];
            if entry.connected || now < entry.next_dial {
                continue;
            }
            if self.sockets_in_use() >= CONNECTIONS_MAX {
                self.bootstrap[index].next_dial = now + REDIAL_FIRST;
                continue;
            }
            let (endpoint, peer, address) =
                (entry.endpoint, entry.peer.clone(), entry.address.clone());
            let local_port = self.local_port();
            let handle = network.add_tcp_socket(SOCKET_BUFFER);
            if let Err(error) = network.connect(handle, endpoint, local_port) {
                network.remove_socket(handle);
                self.report(alloc::format!("p2p: cannot dial {address}: {error}"));
                self.redial_later(index, now);
                continue;
            }
            self.report(alloc::format!("p2p: dialing {address}"));
            let secrets = self.secrets();
            let Some(credentials) = self.identity.credentials() else { return };
            let connection = Connection::with_credentials(
                Direction::Dialer,
                credentials,
                secrets,
                self.connection_settings.clone(),
                Some(peer),
                Some(address),
                now,
            );
            self.bootstrap[index].connected = true;
            self.peers.push(Peer {
                socket: handle,
                connection,
                remote: endpoint,
                bootstrap: Some(index),
                open: false,
                identified: false,
            });
        }
    }

    fn redial_later(&mut self, index: usize, now: u64) {
        if let Some(entry) = self.bootstrap.get_mut(index) {
            entry.connected = false;
            entry.next_dial = now + entry.pause;
            entry.pause = (entry.pause * 2).min(REDIAL_MAX);
        }
    }

    /// The next local port for dialing.
    fn local_port(&mut self) -> u16 {
        let port = self.next_local_port;
        self.next_local_port = if port == u16::MAX { FIRST_LOCAL_PORT } else { port + 1 };
        port
    }

    /// 64 fresh bytes for a handshake's secrets.
    fn secrets(&mut self) -> [u8; 64] {
        let mut secrets = [0u8; 64];
        self.random.fill_bytes(&mut secrets);
        secrets
    }

    /// Moves one peer's bytes and events; an error ends it.
    fn serve_peer<D: Device>(
        &mut self,
        index: usize,
        network: &mut Network<D>,
        channels: &mut Channels,
        now: u64,
    ) -> Result<u64, Ending> {
        let peer = &mut self.peers[index];
        let socket = network.tcp_socket(peer.socket);
        let mut input = [0u8; 4096];
        while socket.can_recv() && peer.connection.wants_input() {
            let count = socket.recv_slice(&mut input).map_err(|_| Ending::Closed)?;
            if count == 0 {
                break;
            }
            peer.connection.receive(&input[..count], now).map_err(ending)?;
        }
        let due = peer.connection.poll_timeouts(now).map_err(ending)?;
        // Events first: what they answer goes out in the same pass.
        while let Some(event) = self.peers[index].connection.poll_event() {
            self.handle_event(index, event, channels, now);
        }
        let peer = &mut self.peers[index];
        let socket = network.tcp_socket(peer.socket);
        while !peer.connection.output().is_empty() && socket.can_send() {
            let sent = socket.send_slice(peer.connection.output()).map_err(|_| Ending::Closed)?;
            if sent == 0 {
                break;
            }
            peer.connection.consume_output(sent);
        }
        let state = socket.state();
        let remote_gone =
            !socket.may_recv() && state != tcp::State::SynSent && state != tcp::State::SynReceived;
        if matches!(state, tcp::State::Closed | tcp::State::TimeWait) || remote_gone {
            return Err(Ending::Closed);
        }
        Ok(due)
    }

    /// Ends peer `index`.
    fn drop_peer<D: Device>(
        &mut self,
        index: usize,
        network: &mut Network<D>,
        channels: &mut Channels,
        ending: Ending,
        now: u64,
    ) {
        // What the connection still had to say (receipts that came with
        // its end) goes out before it is settled.
        while let Some(event) = self.peers[index].connection.poll_event() {
            self.handle_event(index, event, channels, now);
        }
        let peer = self.peers.swap_remove(index);
        let socket = network.tcp_socket(peer.socket);
        match ending {
            Ending::Closed => socket.close(),
            Ending::Error(_) => socket.abort(),
        }
        self.closing.push((peer.socket, now + CLOSE_TIME));
        if let Some(bootstrap) = peer.bootstrap {
            self.redial_later(bootstrap, now);
        }
        // Messages in flight on it are settled.
        self.delivered.retain(|_, delivered| delivered.socket != peer.socket);
        let unanswered: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.socket == peer.socket)
            .map(|(&id, _)| id)
            .collect();
        for id in unanswered {
            if let Some(pending) = self.pending.remove(&id) {
                self.receipt(channels, pending.channel, pending.id, Status::Failed);
            }
        }
        let who = match peer.connection.remote() {
            Some(remote) => alloc::format!("{remote}"),
            None => alloc::format!("{}", peer.remote),
        };
        match ending {
            Ending::Closed if peer.open => {
                self.report(alloc::format!("p2p: connection with {who} closed"));
            }
            Ending::Closed => {
                self.counters.failed_handshakes += 1;
                self.report_failure(
                    alloc::format!("p2p: connection from {who} closed before it opened"),
                    now,
                );
            }
            Ending::Error(error) => {
                if peer.open {
                    self.counters.protocol_errors += 1;
                } else {
                    self.counters.failed_handshakes += 1;
                }
                self.report_failure(
                    alloc::format!("p2p: connection with {who} dropped: {error}"),
                    now,
                );
            }
        }
    }

    /// Acts on one connection event.
    fn handle_event(&mut self, index: usize, event: Event, channels: &mut Channels, now: u64) {
        let socket = self.peers[index].socket;
        match event {
            Event::Established(remote) => {
                self.peers[index].open = true;
                let direction = match self.peers[index].connection.direction() {
                    Direction::Dialer => "dialed",
                    Direction::Listener => "accepted",
                };
                let endpoint = self.peers[index].remote;
                self.report(alloc::format!("p2p: connected to {remote} ({direction}, {endpoint})"));
                if let Some(bootstrap) = self.peers[index].bootstrap {
                    if let Some(entry) = self.bootstrap.get_mut(bootstrap) {
                        entry.pause = REDIAL_FIRST;
                    }
                }
            }
            Event::Identified(info) => {
                // Once per connection: identify pushes may come in a loop.
                if core::mem::replace(&mut self.peers[index].identified, true) {
                    return;
                }
                let remote = Shown(self.peers[index].connection.remote());
                let protocols = info.protocols.join(",");
                let line = alloc::format!(
                    "p2p: identified {remote} agent={} protocols={protocols}",
                    info.agent_version
                );
                self.report(line);
            }
            Event::Pong { rtt } => {
                let remote = Shown(self.peers[index].connection.remote());
                let line = alloc::format!("p2p: ping {remote} rtt={rtt}us");
                self.report(line);
            }
            Event::PingFailed => {
                let remote = Shown(self.peers[index].connection.remote());
                let line = alloc::format!("p2p: ping {remote} failed");
                self.report(line);
            }
            Event::StreamRefused(error) => {
                let remote = Shown(self.peers[index].connection.remote());
                let line = alloc::format!("p2p: stream from {remote} refused: {error}");
                self.report_refused_stream(line, now);
            }
            Event::Message { delivery, request } => {
                self.deliver(index, socket, delivery, request, channels, now);
            }
            Event::Receipt { id, outcome } => {
                let Some(pending) = self.pending.remove(&id) else { return };
                let status = match outcome {
                    Ok(status) => status,
                    Err(Failure::NotSent) => Status::Unreachable,
                    Err(_) => Status::Failed,
                };
                self.receipt(channels, pending.channel, pending.id, status);
            }
        }
    }

    /// Hands a message to its application, or answers for it.
    fn deliver(
        &mut self,
        index: usize,
        socket: SocketHandle,
        delivery: Delivery,
        request: Request,
        channels: &mut Channels,
        now: u64,
    ) {
        let channel = self.registered_channel(&request.recipient, channels);
        let connection = &mut self.peers[index].connection;
        let Some(remote) = connection.remote().cloned() else { return };
        let Some(channel) = channel else {
            connection.answer(delivery, message::Status::UnknownRecipient);
            return;
        };
        let number = self.next_delivery;
        let record = Record::Deliver {
            delivery: number,
            peer: remote.as_bytes(),
            sender: request.sender.as_bytes(),
            body: &request.body,
        };
        let status = match channels.get_mut(channel) {
            Some(target) if target.is_up() && !target.is_ignored() => {
                let mut buffer = [0u8; RECORD_MAX];
                match record.encode(&mut buffer) {
                    Ok(length) => match target.send(&buffer[..length]) {
                        Ok(()) => {
                            let _ = target.notify();
                            None
                        }
                        Err(_) => Some(message::Status::Busy),
                    },
                    Err(_) => Some(message::Status::TooLarge),
                }
            }
            _ => Some(message::Status::Unavailable),
        };
        match status {
            Some(status) => connection.answer(delivery, status),
            None => {
                self.next_delivery += 1;
                let expires = now + self.connection_settings.delivery_timeout;
                self.delivered.insert(number, Delivered { socket, delivery, expires, channel });
            }
        }
    }

    /// Tells the app VM on channel `channel` (by index) what became of its
    /// message `id`, holding the receipt while its ring is full.
    fn receipt(&mut self, channels: &mut Channels, channel: usize, id: u64, status: Status) {
        if let Some(target) = channels.get_mut(channel) {
            self.receipt_on(target, id, status);
        }
    }

    /// [`Node::receipt`] on `channel` itself.
    fn receipt_on(&mut self, channel: &mut Channel, id: u64, status: Status) {
        if !send_on(channel, &Record::Receipt { id, status }) && channel.is_up() {
            if self.held_receipts.len() == HELD_RECEIPTS_MAX {
                self.held_receipts.pop_front();
                self.counters.receipts_dropped += 1;
                // Said at the first drop and at every doubling after it.
                let dropped = self.counters.receipts_dropped;
                if dropped.is_power_of_two() {
                    self.report(alloc::format!(
                        "p2p: {dropped} receipts dropped: an app VM leaves its ring full"
                    ));
                }
            }
            let epoch = channel.epoch();
            self.held_receipts.push_back(HeldReceipt {
                channel: channel.index(),
                epoch,
                id,
                status,
            });
        }
    }

    /// Sends the held receipts their rings now have room for; forgets those
    /// of channels that went down or restarted.
    fn release_receipts(&mut self, channels: &mut Channels) {
        let mut index = 0;
        while index < self.held_receipts.len() {
            let held = &self.held_receipts[index];
            let Some(channel) = channels.get_mut(held.channel) else {
                self.held_receipts.remove(index);
                continue;
            };
            if !channel.is_up() || channel.epoch() != held.epoch {
                self.held_receipts.remove(index);
                continue;
            }
            if send_on(channel, &Record::Receipt { id: held.id, status: held.status }) {
                self.held_receipts.remove(index);
            } else {
                index += 1;
            }
        }
    }

    /// A messaging record from an app VM's `channel`. Returns whether it
    /// was one netvm takes (sends and accepts on an application's channel).
    pub fn record_from_app(&mut self, channel: &mut Channel, record: &[u8], now: u64) -> bool {
        let name = channel.name();
        if !self.settings.app_channels.iter().any(|app_channel| app_channel == name) {
            return false;
        }
        let decoded = Record::decode(record);
        if let Ok(Record::Register { name }) = decoded {
            self.register(channel, name);
            return true;
        }
        let Some(sender) = self.registered_name(channel) else {
            // An app VM running no application sends nothing and answers
            // nothing.
            if let Ok(Record::Send { id, .. }) = decoded {
                self.receipt_on(channel, id, Status::Unavailable);
            }
            return decoded.is_ok();
        };
        match decoded {
            Ok(Record::Send { id, peer, recipient, body }) => {
                let status =
                    self.send_for_app(channel.index(), sender, id, peer, recipient, body, now);
                if let Some(status) = status {
                    self.receipt_on(channel, id, status);
                }
                true
            }
            Ok(Record::Accept { delivery, status }) => {
                // Only the app VM the message went to may answer it.
                let answered = match self.delivered.entry(delivery) {
                    Entry::Occupied(entry) if entry.get().channel == channel.index() => {
                        Some(entry.remove())
                    }
                    _ => None,
                };
                if let Some(delivered) = answered {
                    // A receipt on the wire says only what the receiving
                    // node can: the app VM's other answers are `unavailable`.
                    let status =
                        if status.is_receipt_status() { status } else { Status::Unavailable };
                    if let Some(peer) =
                        self.peers.iter_mut().find(|peer| peer.socket == delivered.socket)
                    {
                        peer.connection.answer(delivered.delivery, status);
                    }
                }
                true
            }
            Ok(_) | Err(_) => false,
        }
    }

    /// The channel (index) whose app VM registered `name` and is still at the
    /// epoch it registered in.
    fn registered_channel(&self, name: &str, channels: &Channels) -> Option<usize> {
        self.registrations.iter().find(|registration| registration.name == name).and_then(
            |registration| {
                let channel =
                    channels.iter().find(|channel| channel.index() == registration.channel)?;
                (channel.is_up() && channel.epoch() == registration.epoch)
                    .then_some(registration.channel)
            },
        )
    }

    /// The name `channel`'s app VM registered in its current epoch.
    fn registered_name(&self, channel: &Channel) -> Option<String> {
        self.registrations
            .iter()
            .find(|registration| {
                registration.channel == channel.index() && registration.epoch == channel.epoch()
            })
            .map(|registration| registration.name.clone())
    }

    /// `channel`'s app VM now runs the application `name` (none if empty).
    /// A name another live app VM holds stays with it.
    fn register(&mut self, channel: &Channel, name: &[u8]) {
        let index = channel.index();
        self.registrations.retain(|registration| registration.channel != index);
        let Ok(name) = core::str::from_utf8(name) else { return };
        if name.is_empty() {
            return;
        }
        let taken = self.registrations.iter().any(|registration| registration.name == name);
        if taken {
            self.report(alloc::format!(
                "p2p: {} asked for the application name {name}, which another app VM holds",
                channel.name()
            ));
            return;
        }
        self.registrations.push(Registration {
            name: name.into(),
            channel: index,
            epoch: channel.epoch(),
        });
    }

    /// Sends an app's message; returns its status if it is settled at once.
    #[allow(
        clippy::too_many_arguments,
        reason = "the fields of one send record, each checked here before it goes out"
    )]
    fn send_for_app(
        &mut self,
        channel: usize,
        sender: String,
        id: u64,
        peer: &[u8],
        recipient: &[u8],
        body: &[u8],
        now: u64,
    ) -> Option<Status> {
        let Ok(peer) = PeerId::from_bytes(peer) else { return Some(Status::Unreachable) };
        let Ok(recipient) = core::str::from_utf8(recipient) else {
            return Some(Status::UnknownRecipient);
        };
        let Some(target) = self
            .peers
            .iter_mut()
            .find(|candidate| candidate.open && candidate.connection.remote() == Some(&peer))
        else {
            return Some(Status::Unreachable);
        };
        let wire_id = self.next_wire_id;
        self.next_wire_id += 1;
        self.pending.insert(wire_id, Pending { channel, id, socket: target.socket });
        let request =
            Request { id: wire_id, recipient: recipient.into(), sender, body: body.to_vec() };
        target.connection.send(&request, now);
        None
    }
}

/// Sends `record` on `channel`, ringing its doorbell; returns whether it
/// went (a full ring or a channel that is down takes nothing).
fn send_on(channel: &mut Channel, record: &Record) -> bool {
    let mut buffer = [0u8; RECORD_MAX];
    let Ok(length) = record.encode(&mut buffer) else { return false };
    let sent = channel.is_up() && channel.send(&buffer[..length]).is_ok();
    if sent {
        let _ = channel.notify();
    }
    sent
}

/// A receipt an app VM's full ring could not take yet.
struct HeldReceipt {
    /// The channel (index), and its epoch: a receipt for an app VM that
    /// restarted since is for sends it no longer knows.
    channel: usize,
    epoch: u32,
    id: u64,
    status: Status,
}

/// `/ip4/A/tcp/P` for an endpoint.
fn endpoint_address(endpoint: IpEndpoint) -> Multiaddr {
    let mut address = Multiaddr::default();
    let IpAddress::Ipv4(ip) = endpoint.addr;
    address.push(Protocol::Ip4(ip.octets()));
    address.push(Protocol::Tcp(endpoint.port));
    address
}

/// The ending a connection error means: a GoAway with code 0 is the
/// remote's normal close.
fn ending(error: ConnectionError) -> Ending {
    match error {
        ConnectionError::GoAway(0) => Ending::Closed,
        error => Ending::Error(error),
    }
}

/// Why a peer ended.
enum Ending {
    /// The TCP connection closed.
    Closed,
    /// The connection broke a rule.
    Error(ConnectionError),
}

/// A PeerId, or `?` before the handshake.
struct Shown<'a>(Option<&'a PeerId>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Some(peer) => write!(formatter, "{peer}"),
            None => formatter.write_str("?"),
        }
    }
}
