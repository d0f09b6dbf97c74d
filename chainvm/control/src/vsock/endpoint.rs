//! The device side of virtio-vsock stream sockets: one listening port, a few
//! connections, credit-based flow control both ways.
//!
//! Linux (the driver, [`GUEST_CID`]) talks to the Elastos side (the host,
//! [`HOST_CID`]). Every packet Linux sends is handed to
//! [`Endpoint::receive`], which checks all of it: Linux may send anything, so
//! a packet that breaks a rule is counted, refused with an error value, and
//! answered with a reset where the connection it names must end. Packets the
//! endpoint wants to send come out of [`Endpoint::poll_transmit`], one per
//! call, until it returns `None`.
//!
//! Flow control follows virtio 1.2, section 5.10.6.3: each side tells the
//! other its receive buffer size (`buf_alloc`) and how many bytes its reader
//! has consumed (`fwd_cnt`) in every packet header. The endpoint never sends
//! more stream bytes than `peer buf_alloc - (bytes sent - peer fwd_cnt)`, and
//! resets a connection whose peer sends more than the endpoint advertised.
//! When its reader has consumed a quarter of the receive buffer since the last
//! advertisement, it sends a credit update.
//!
//! Closing follows what Linux's `virtio_transport_common.c` does: a side that
//! closes sends a shutdown with both flags, and the side receiving a shutdown
//! with both flags answers with a reset, which ends the connection for both.

use super::packet::{
    Header, Operation, HEADER_LENGTH, MAX_PAYLOAD, SHUTDOWN_BOTH, SHUTDOWN_RECEIVE, SHUTDOWN_SEND,
    TYPE_STREAM,
};
use crate::{CONTROL_PORT, GUEST_CID, HOST_CID};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// How the endpoint is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The endpoint's own context id (the host's, 2).
    pub local_cid: u64,
    /// The only peer's context id (Linux's, 3).
    pub peer_cid: u64,
    /// The listening port.
    pub port: u32,
    /// Connections open at once; further requests are reset.
    pub max_connections: usize,
    /// Each connection's receive buffer, advertised as `buf_alloc`.
    pub receive_buffer: u32,
    /// Each connection's send buffer: bytes [`Endpoint::write`] holds until
    /// the peer's credit lets them go.
    pub send_buffer: usize,
    /// Resets waiting to be sent for packets that name no connection; more
    /// are dropped (and counted), so a flood cannot grow memory.
    pub max_queued_resets: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            local_cid: HOST_CID,
            peer_cid: GUEST_CID,
            port: CONTROL_PORT,
            max_connections: 8,
            receive_buffer: 64 * 1024,
            send_buffer: 64 * 1024,
            max_queued_resets: 32,
        }
    }
}

/// Why a received packet was refused. The endpoint has already acted on it
/// (counted it, and queued a reset where one is due); the value says what
/// was wrong, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than a header.
    TooShort,
    /// The header's `len` is not the number of payload bytes that came.
    LengthMismatch,
    /// More than [`MAX_PAYLOAD`] bytes of payload.
    PayloadTooLarge,
    /// The source is not the peer's context id; dropped without an answer.
    WrongSource,
    /// Addressed to a context id other than ours; answered with a reset.
    WrongDestination,
    /// Not a stream packet (a seqpacket, or an unknown type).
    UnsupportedType,
    /// An operation code that does not exist, or `INVALID`.
    UnknownOperation,
    /// A connection request for a port nobody listens on.
    NotListening,
    /// A connection request while every connection slot is busy.
    TooManyConnections,
    /// A packet for a connection that does not exist.
    NoConnection,
    /// An operation that makes no sense on the connection it names
    /// (a second request, a response to a request never made).
    UnexpectedOperation,
    /// More stream data than the credit the endpoint gave.
    CreditExceeded,
}

/// Why a stream operation did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The connection is gone: reset by either side, or closed and finished.
    Closed,
    /// The peer will send nothing more and every byte it sent has been read.
    EndOfStream,
    /// The peer will receive nothing more, or the connection is closing.
    NotWritable,
}

/// A connection, as the endpoint's user names it. A new connection in a
/// reused slot gets another id, so a stale id never reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId {
    slot: u16,
    generation: u32,
}

/// Counters of what the endpoint saw and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Packets handed to [`Endpoint::receive`].
    pub packets_received: u64,
    /// Packets refused with a [`PacketError`].
    pub packets_refused: u64,
    /// Packets [`Endpoint::poll_transmit`] produced.
    pub packets_sent: u64,
    /// Resets sent.
    pub resets_sent: u64,
    /// Resets not sent because their queue was full.
    pub resets_dropped: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Stream bytes received and buffered.
    pub bytes_received: u64,
    /// Stream bytes sent.
    pub bytes_sent: u64,
}

struct Connection {
    generation: u32,
    peer_port: u32,
    /// Received bytes the reader has not taken.
    receive: VecDeque<u8>,
    /// Bytes the reader has taken, wrapping (our `fwd_cnt`).
    forward_count: u32,
    /// The `fwd_cnt` of our last packet on this connection.
    advertised_forward_count: u32,
    /// Bytes written and not yet sent.
    send: VecDeque<u8>,
    /// Stream bytes sent, wrapping (the `tx_cnt` of the specification).
    transmit_count: u32,
    peer_buffer_allocation: u32,
    peer_forward_count: u32,
    /// The shutdown flags the peer sent.
    peer_shutdown: u32,
    /// The response to the peer's request is still to be sent.
    response_due: bool,
    /// A credit update is due (the reader consumed enough, or the peer asked).
    credit_update_due: bool,
    /// A credit request went out and the peer's credit has not changed since.
    credit_requested: bool,
    /// Our user closed the connection: shut down once the send buffer drains.
    closing: bool,
    /// The shutdown went out; the connection ends on the peer's reset.
    shutdown_sent: bool,
    /// When the shutdown went out, for reclaiming the oldest closing slot.
    closing_order: u64,
}

impl Connection {
    /// Bytes the peer can take now.
    fn peer_credit(&self) -> u32 {
        let in_flight = self.transmit_count.wrapping_sub(self.peer_forward_count);
        self.peer_buffer_allocation.saturating_sub(in_flight)
    }
}

/// The device side of vsock streams on one listening port.
pub struct Endpoint {
    config: EndpointConfig,
    slots: Vec<Option<Connection>>,
    generations: Vec<u32>,
    /// Accepted connections the user has not taken yet.
    accepted: VecDeque<ConnectionId>,
    /// Resets for packets naming no connection (or one just ended).
    resets: VecDeque<Header>,
    /// Where the next transmit scan starts, for fairness.
    cursor: usize,
    closing_counter: u64,
    statistics: Statistics,
}

impl Endpoint {
    /// An endpoint with no connections.
    pub fn new(config: EndpointConfig) -> Self {
        let slots = core::iter::repeat_with(|| None).take(config.max_connections).collect();
        Self {
            config,
            slots,
            generations: alloc::vec![0; config.max_connections],
            accepted: VecDeque::new(),
            resets: VecDeque::new(),
            cursor: 0,
            closing_counter: 0,
            statistics: Statistics::default(),
        }
    }

    /// The endpoint's setup.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// What the endpoint has counted so far.
    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// Connections open now (including those closing).
    pub fn connection_count(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    /// Handles one packet from the peer: a 44-byte header and its payload.
    pub fn receive(&mut self, packet: &[u8]) -> Result<(), PacketError> {
        self.statistics.packets_received += 1;
        let result = self.handle(packet);
        if result.is_err() {
            self.statistics.packets_refused += 1;
        }
        result
    }

    fn handle(&mut self, packet: &[u8]) -> Result<(), PacketError> {
        let header = Header::decode(packet).ok_or(PacketError::TooShort)?;
        let payload = &packet[HEADER_LENGTH..];
        if header.length as usize != payload.len() {
            return Err(PacketError::LengthMismatch);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(PacketError::PayloadTooLarge);
        }
        if header.source_cid != self.config.peer_cid {
            return Err(PacketError::WrongSource);
        }
        let operation = Operation::from_code(header.operation);
        if operation == Some(Operation::Reset) {
            // A reset is never answered; it ends the connection it names.
            return match self.find(header.source_port, header.destination_port) {
                Some(slot) if header.destination_cid == self.config.local_cid => {
                    self.free(slot);
                    Ok(())
                }
                _ => Err(PacketError::NoConnection),
            };
        }
        if header.destination_cid != self.config.local_cid {
            self.queue_reset(&header);
            return Err(PacketError::WrongDestination);
        }
        let slot = self.find(header.source_port, header.destination_port);
        let refuse = |endpoint: &mut Self, error| {
            if let Some(slot) = slot {
                endpoint.free(slot);
            }
            endpoint.queue_reset(&header);
            Err(error)
        };
        if header.socket_type != TYPE_STREAM {
            return refuse(self, PacketError::UnsupportedType);
        }
        let operation = match operation {
            Some(Operation::Invalid) | None => return refuse(self, PacketError::UnknownOperation),
            Some(operation) => operation,
        };
        let Some(slot) = slot else {
            return match operation {
                Operation::Request if header.destination_port == self.config.port => {
                    self.accept_request(&header)
                }
                Operation::Request => refuse(self, PacketError::NotListening),
                _ => refuse(self, PacketError::NoConnection),
            };
        };
        let receive_buffer = self.config.receive_buffer;
        let Some(connection) = self.slots[slot].as_mut() else {
            return refuse(self, PacketError::NoConnection);
        };
        if (connection.peer_buffer_allocation, connection.peer_forward_count)
            != (header.buffer_allocation, header.forward_count)
        {
            // New credit: if it is still not enough, asking again is fair.
            connection.credit_requested = false;
        }
        connection.peer_buffer_allocation = header.buffer_allocation;
        connection.peer_forward_count = header.forward_count;
        match operation {
            Operation::Request | Operation::Response => {
                refuse(self, PacketError::UnexpectedOperation)
            }
            Operation::ReadWrite => {
                if connection.shutdown_sent || connection.peer_shutdown & SHUTDOWN_SEND != 0 {
                    // Data the reader will never see, as Linux drops it too.
                    return Ok(());
                }
                if connection.receive.len() + payload.len() > receive_buffer as usize {
                    return refuse(self, PacketError::CreditExceeded);
                }
                connection.receive.extend(payload);
                self.statistics.bytes_received += payload.len() as u64;
                Ok(())
            }
            Operation::CreditUpdate => Ok(()),
            Operation::CreditRequest => {
                connection.credit_update_due = true;
                Ok(())
            }
            Operation::Shutdown => {
                connection.peer_shutdown |= header.flags & SHUTDOWN_BOTH;
                if connection.peer_shutdown == SHUTDOWN_BOTH {
                    // The peer closed: it expects a reset, and will neither
                    // send nor read anything more.
                    self.free(slot);
                    self.queue_reset(&header);
                }
                Ok(())
            }
            // Handled before the connection lookup.
            Operation::Reset | Operation::Invalid => Ok(()),
        }
    }

    fn accept_request(&mut self, header: &Header) -> Result<(), PacketError> {
        let free = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => match self.oldest_closing() {
                Some(oldest) => {
                    // A slot whose peer never answered our shutdown is
                    // reclaimed before a live connection is refused.
                    let ended = self.reset_for(oldest);
                    self.free(oldest);
                    self.queue_reset(&ended);
                    oldest
                }
                None => {
                    self.queue_reset(header);
                    return Err(PacketError::TooManyConnections);
                }
            },
        };
        let generation = self.generations[free];
        self.slots[free] = Some(Connection {
            generation,
            peer_port: header.source_port,
            receive: VecDeque::new(),
            forward_count: 0,
            advertised_forward_count: 0,
            send: VecDeque::new(),
            transmit_count: 0,
            peer_buffer_allocation: header.buffer_allocation,
            peer_forward_count: header.forward_count,
            peer_shutdown: 0,
            response_due: true,
            credit_update_due: false,
            credit_requested: false,
            closing: false,
            shutdown_sent: false,
            closing_order: 0,
        });
        self.accepted.push_back(ConnectionId { slot: free as u16, generation });
        self.statistics.connections_accepted += 1;
        Ok(())
    }

    fn oldest_closing(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, connection)| {
                let connection = connection.as_ref()?;
                connection.shutdown_sent.then_some((connection.closing_order, slot))
            })
            .min()
            .map(|(_, slot)| slot)
    }

    /// The header of a reset that ends the connection in `slot`, as if it
    /// answered a packet from the peer.
    fn reset_for(&self, slot: usize) -> Header {
        let peer_port = self.slots[slot].as_ref().map_or(0, |connection| connection.peer_port);
        Header {
            source_cid: self.config.peer_cid,
            destination_cid: self.config.local_cid,
            source_port: peer_port,
            destination_port: self.config.port,
            ..Header::default()
        }
    }

    fn find(&self, peer_port: u32, local_port: u32) -> Option<usize> {
        if local_port != self.config.port {
            return None;
        }
        self.slots.iter().position(|connection| {
            connection.as_ref().is_some_and(|connection| connection.peer_port == peer_port)
        })
    }

    fn free(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.generations[slot] = self.generations[slot].wrapping_add(1);
        }
    }

    /// Queues a reset answering `header` (addresses swapped).
    fn queue_reset(&mut self, header: &Header) {
        if self.resets.len() >= self.config.max_queued_resets {
            self.statistics.resets_dropped += 1;
            return;
        }
        self.resets.push_back(Header {
            source_cid: header.destination_cid,
            destination_cid: header.source_cid,
            source_port: header.destination_port,
            destination_port: header.source_port,
            length: 0,
            socket_type: TYPE_STREAM,
            operation: Operation::Reset as u16,
            flags: 0,
            buffer_allocation: 0,
            forward_count: 0,
        });
    }

    /// Writes the next packet to send into `output` and returns its length,
    /// or `None` when there is nothing to send. `output` must hold at least
    /// a header; a larger one lets data packets carry more (up to
    /// [`MAX_PAYLOAD`]).
    pub fn poll_transmit(&mut self, output: &mut [u8]) -> Option<usize> {
        if output.len() < HEADER_LENGTH {
            return None;
        }
        if let Some(reset) = self.resets.pop_front() {
            reset.encode(output);
            self.statistics.resets_sent += 1;
            self.statistics.packets_sent += 1;
            return Some(HEADER_LENGTH);
        }
        let count = self.slots.len();
        for step in 0..count {
            let slot = (self.cursor + step) % count;
            if let Some(length) = self.transmit_from(slot, output) {
                self.cursor = (slot + 1) % count.max(1);
                self.statistics.packets_sent += 1;
                return Some(length);
            }
        }
        None
    }

    fn transmit_from(&mut self, slot: usize, output: &mut [u8]) -> Option<usize> {
        let config = self.config;
        let connection = self.slots[slot].as_mut()?;
        let mut header = Header {
            source_cid: config.local_cid,
            destination_cid: config.peer_cid,
            source_port: config.port,
            destination_port: connection.peer_port,
            length: 0,
            socket_type: TYPE_STREAM,
            operation: 0,
            flags: 0,
            buffer_allocation: config.receive_buffer,
            forward_count: connection.forward_count,
        };
        let room = (output.len() - HEADER_LENGTH).min(MAX_PAYLOAD);
        let sendable = (connection.peer_credit() as usize).min(connection.send.len()).min(room);
        let operation = if connection.response_due {
            connection.response_due = false;
            Operation::Response
        } else if sendable > 0 && connection.peer_shutdown & SHUTDOWN_RECEIVE == 0 {
            let payload = &mut output[HEADER_LENGTH..HEADER_LENGTH + sendable];
            for (byte, sent) in payload.iter_mut().zip(connection.send.drain(..sendable)) {
                *byte = sent;
            }
            connection.transmit_count = connection.transmit_count.wrapping_add(sendable as u32);
            header.length = sendable as u32;
            self.statistics.bytes_sent += sendable as u64;
            Operation::ReadWrite
        } else if connection.closing
            && !connection.shutdown_sent
            && (connection.send.is_empty() || connection.peer_shutdown & SHUTDOWN_RECEIVE != 0)
        {
            connection.shutdown_sent = true;
            self.closing_counter += 1;
            connection.closing_order = self.closing_counter;
            header.flags = SHUTDOWN_BOTH;
            Operation::Shutdown
        } else if connection.credit_update_due {
            Operation::CreditUpdate
        } else if !connection.send.is_empty()
            && connection.peer_credit() == 0
            && !connection.credit_requested
            && !connection.shutdown_sent
        {
            connection.credit_requested = true;
            Operation::CreditRequest
        } else {
            return None;
        };
        // Every packet tells the peer our credit.
        connection.credit_update_due = false;
        connection.advertised_forward_count = connection.forward_count;
        header.operation = operation as u16;
        header.encode(output);
        Some(HEADER_LENGTH + header.length as usize)
    }

    /// The next connection the peer opened, if any.
    pub fn accept(&mut self) -> Option<ConnectionId> {
        while let Some(id) = self.accepted.pop_front() {
            if self.connection(id).is_some() {
                return Some(id);
            }
        }
        None
    }

    fn connection(&self, id: ConnectionId) -> Option<&Connection> {
        self.slots
            .get(id.slot as usize)?
            .as_ref()
            .filter(|connection| connection.generation == id.generation)
    }

    fn connection_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.slots
            .get_mut(id.slot as usize)?
            .as_mut()
            .filter(|connection| connection.generation == id.generation)
    }

    /// Whether the connection still exists (it may be closing).
    pub fn is_open(&self, id: ConnectionId) -> bool {
        self.connection(id).is_some()
    }

    /// The peer's port of a connection.
    pub fn peer_port(&self, id: ConnectionId) -> Option<u32> {
        self.connection(id).map(|connection| connection.peer_port)
    }

    /// Bytes waiting to be read on a connection.
    pub fn readable(&self, id: ConnectionId) -> usize {
        self.connection(id).map_or(0, |connection| connection.receive.len())
    }

    /// Takes received bytes into `buffer`; `Ok(0)` means none have come yet
    /// (or `buffer` is empty).
    pub fn read(&mut self, id: ConnectionId, buffer: &mut [u8]) -> Result<usize, StreamError> {
        let threshold = (self.config.receive_buffer / 4).max(1);
        let connection = self.connection_mut(id).ok_or(StreamError::Closed)?;
        if connection.receive.is_empty() {
            if connection.peer_shutdown & SHUTDOWN_SEND != 0 {
                return Err(StreamError::EndOfStream);
            }
            return Ok(0);
        }
        let count = buffer.len().min(connection.receive.len());
        for (byte, received) in buffer.iter_mut().zip(connection.receive.drain(..count)) {
            *byte = received;
        }
        connection.forward_count = connection.forward_count.wrapping_add(count as u32);
        if connection.forward_count.wrapping_sub(connection.advertised_forward_count) >= threshold {
            connection.credit_update_due = true;
        }
        Ok(count)
    }

    /// Bytes [`Endpoint::write`] would take now.
    pub fn writable(&self, id: ConnectionId) -> usize {
        self.connection(id).map_or(0, |connection| {
            if connection.closing || connection.peer_shutdown & SHUTDOWN_RECEIVE != 0 {
                0
            } else {
                self.config.send_buffer.saturating_sub(connection.send.len())
            }
        })
    }

    /// Queues bytes to send; returns how many fit in the send buffer
    /// (`Ok(0)` when it is full: try again after transmitting).
    pub fn write(&mut self, id: ConnectionId, bytes: &[u8]) -> Result<usize, StreamError> {
        let send_buffer = self.config.send_buffer;
        let connection = self.connection_mut(id).ok_or(StreamError::Closed)?;
        if connection.closing || connection.peer_shutdown & SHUTDOWN_RECEIVE != 0 {
            return Err(StreamError::NotWritable);
        }
        let count = bytes.len().min(send_buffer.saturating_sub(connection.send.len()));
        connection.send.extend(&bytes[..count]);
        Ok(count)
    }

    /// Closes a connection gracefully: what was written is still sent, then
    /// a shutdown; the connection ends when the peer answers with a reset.
    pub fn close(&mut self, id: ConnectionId) {
        if let Some(connection) = self.connection_mut(id) {
            connection.closing = true;
        }
    }

    /// Ends a connection at once with a reset; unsent bytes are dropped.
    pub fn abort(&mut self, id: ConnectionId) {
        if self.connection(id).is_some() {
            let slot = id.slot as usize;
            let reset = self.reset_for(slot);
            self.free(slot);
            self.queue_reset(&reset);
        }
    }
}
