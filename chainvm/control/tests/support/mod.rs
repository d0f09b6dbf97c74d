//! A model of Linux's side of a vsock stream socket, as
//! `net/vmw_vsock/virtio_transport_common.c` behaves, for driving the
//! endpoint in tests: it connects, sends within the endpoint's credit, drops
//! data beyond its own credit (and records that it had to), sends credit
//! updates as its reader frees space, closes with a shutdown and answers a
//! full shutdown with a reset.

#![allow(dead_code)] // Each test file uses a different part of the model.

use elastos_control::vsock::packet::{
    Header, Operation, HEADER_LENGTH, MAX_PACKET, MAX_PAYLOAD, SHUTDOWN_BOTH, TYPE_STREAM,
};
use elastos_control::Endpoint;
use std::collections::VecDeque;

/// Linux's socket states that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Connecting,
    Connected,
    Closing,
    Reset,
    Closed,
}

pub struct LinuxSocket {
    pub port: u32,
    pub state: State,
    pub buffer_allocation: u32,
    /// Linux sends a credit update when its free space drops below this
    /// after a read (`VIRTIO_VSOCK_MAX_PKT_BUF_SIZE` in the kernel).
    pub update_below: u32,
    pub receive: VecDeque<u8>,
    pub forward_count: u32,
    /// The `fwd_cnt` of Linux's last packet (`last_fwd_cnt` in the kernel).
    pub advertised_forward_count: u32,
    pub send: VecDeque<u8>,
    pub transmit_count: u32,
    pub peer_buffer_allocation: u32,
    pub peer_forward_count: u32,
    pub peer_shutdown: u32,
    /// Packets to hand to the endpoint.
    pub outgoing: VecDeque<Vec<u8>>,
    /// Data the endpoint sent beyond the credit Linux gave: must stay 0.
    pub credit_violations: usize,
    pub received_operations: Vec<Operation>,
}

impl LinuxSocket {
    pub fn new(port: u32, buffer_allocation: u32) -> Self {
        Self {
            port,
            state: State::Idle,
            buffer_allocation,
            update_below: buffer_allocation / 2,
            receive: VecDeque::new(),
            forward_count: 0,
            advertised_forward_count: 0,
            send: VecDeque::new(),
            transmit_count: 0,
            peer_buffer_allocation: 0,
            peer_forward_count: 0,
            peer_shutdown: 0,
            outgoing: VecDeque::new(),
            credit_violations: 0,
            received_operations: Vec::new(),
        }
    }

    pub fn header(&self, operation: Operation, length: usize) -> Header {
        Header {
            source_cid: 3,
            destination_cid: 2,
            source_port: self.port,
            destination_port: elastos_control::CONTROL_PORT,
            length: length as u32,
            socket_type: TYPE_STREAM,
            operation: operation as u16,
            flags: 0,
            buffer_allocation: self.buffer_allocation,
            forward_count: self.forward_count,
        }
    }

    fn emit(&mut self, header: Header, payload: &[u8]) {
        self.advertised_forward_count = header.forward_count;
        let mut packet = header.to_bytes().to_vec();
        packet.extend_from_slice(payload);
        self.outgoing.push_back(packet);
    }

    pub fn connect(&mut self) {
        self.state = State::Connecting;
        self.emit(self.header(Operation::Request, 0), &[]);
    }

    fn credit(&self) -> u32 {
        self.peer_buffer_allocation
            .saturating_sub(self.transmit_count.wrapping_sub(self.peer_forward_count))
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.send.extend(bytes);
        self.push_data();
    }

    fn push_data(&mut self) {
        while self.state == State::Connected && !self.send.is_empty() {
            let count = (self.credit() as usize).min(self.send.len()).min(MAX_PAYLOAD);
            if count == 0 {
                return;
            }
            let payload: Vec<u8> = self.send.drain(..count).collect();
            self.transmit_count = self.transmit_count.wrapping_add(count as u32);
            self.emit(self.header(Operation::ReadWrite, count), &payload);
        }
    }

    pub fn read(&mut self, most: usize) -> Vec<u8> {
        let count = most.min(self.receive.len());
        let bytes: Vec<u8> = self.receive.drain(..count).collect();
        self.forward_count = self.forward_count.wrapping_add(count as u32);
        // virtio_transport_stream_do_dequeue: an update when the space the
        // peer still believes in runs low.
        let unadvertised = self.forward_count.wrapping_sub(self.advertised_forward_count);
        let free_space = self.buffer_allocation.saturating_sub(unadvertised);
        if count > 0 && free_space < self.update_below {
            self.emit(self.header(Operation::CreditUpdate, 0), &[]);
        }
        bytes
    }

    pub fn close(&mut self) {
        if self.state == State::Connected {
            self.state = State::Closing;
            let mut header = self.header(Operation::Shutdown, 0);
            header.flags = SHUTDOWN_BOTH;
            self.emit(header, &[]);
        }
    }

    /// Takes a packet from the endpoint.
    pub fn deliver(&mut self, packet: &[u8]) {
        assert!(packet.len() >= HEADER_LENGTH && packet.len() <= MAX_PACKET);
        let header = Header::decode(packet).unwrap();
        assert_eq!(header.length as usize, packet.len() - HEADER_LENGTH);
        assert_eq!((header.source_cid, header.destination_cid), (2, 3));
        assert_eq!(header.socket_type, TYPE_STREAM);
        if header.destination_port != self.port {
            return;
        }
        let operation = Operation::from_code(header.operation).unwrap();
        self.received_operations.push(operation);
        self.peer_buffer_allocation = header.buffer_allocation;
        self.peer_forward_count = header.forward_count;
        match operation {
            Operation::Response if self.state == State::Connecting => self.state = State::Connected,
            Operation::Reset => {
                self.state = if self.state == State::Closing { State::Closed } else { State::Reset }
            }
            Operation::ReadWrite => {
                let payload = &packet[HEADER_LENGTH..];
                if self.receive.len() + payload.len() > self.buffer_allocation as usize {
                    self.credit_violations += 1;
                } else {
                    self.receive.extend(payload);
                }
            }
            Operation::CreditRequest => self.emit(self.header(Operation::CreditUpdate, 0), &[]),
            Operation::Shutdown => {
                self.peer_shutdown |= header.flags;
                if self.peer_shutdown == SHUTDOWN_BOTH && self.receive.is_empty() {
                    self.emit(self.header(Operation::Reset, 0), &[]);
                    self.state = State::Closed;
                }
            }
            _ => {}
        }
        self.push_data();
    }
}

/// Moves packets both ways until neither side has anything to send;
/// returns how many packets moved. Every packet Linux sends must be taken.
pub fn pump(endpoint: &mut Endpoint, sockets: &mut [&mut LinuxSocket]) -> usize {
    let mut moved = 0;
    let mut buffer = vec![0u8; MAX_PACKET];
    loop {
        let mut progress = false;
        for socket in sockets.iter_mut() {
            while let Some(packet) = socket.outgoing.pop_front() {
                endpoint.receive(&packet).expect("a well-behaved peer's packet is accepted");
                moved += 1;
                progress = true;
            }
        }
        while let Some(length) = endpoint.poll_transmit(&mut buffer) {
            let header = Header::decode(&buffer).unwrap();
            for socket in sockets.iter_mut() {
                if socket.port == header.destination_port {
                    socket.deliver(&buffer[..length]);
                }
            }
            moved += 1;
            progress = true;
        }
        if !progress {
            return moved;
        }
        assert!(moved < 1_000_000, "the two sides never settle");
    }
}
