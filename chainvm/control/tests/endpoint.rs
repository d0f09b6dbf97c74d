//! The vsock endpoint against a model of Linux, and against hostile packets.

mod support;

use elastos_control::vsock::packet::{
    Header, Operation, HEADER_LENGTH, MAX_PACKET, SHUTDOWN_BOTH, SHUTDOWN_SEND, TYPE_SEQPACKET,
    TYPE_STREAM,
};
use elastos_control::{Endpoint, EndpointConfig, PacketError, StreamError, CONTROL_PORT};
use proptest::prelude::*;
use support::{pump, LinuxSocket, State};

fn small_endpoint() -> Endpoint {
    Endpoint::new(EndpointConfig {
        receive_buffer: 8192,
        send_buffer: 6000,
        max_connections: 2,
        ..EndpointConfig::default()
    })
}

fn transmitted(endpoint: &mut Endpoint) -> Vec<(Header, Vec<u8>)> {
    let mut buffer = vec![0u8; MAX_PACKET];
    let mut packets = Vec::new();
    while let Some(length) = endpoint.poll_transmit(&mut buffer) {
        let header = Header::decode(&buffer).unwrap();
        packets.push((header, buffer[HEADER_LENGTH..length].to_vec()));
    }
    packets
}

fn packet(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

#[test]
fn handshake_answers_with_a_response_carrying_our_credit() {
    let mut endpoint = small_endpoint();
    let linux = LinuxSocket::new(1025, 65536);
    endpoint.receive(&packet(linux.header(Operation::Request, 0), &[])).unwrap();
    let id = endpoint.accept().expect("the request is accepted");
    assert_eq!(endpoint.accept(), None);
    assert_eq!(endpoint.peer_port(id), Some(1025));
    let packets = transmitted(&mut endpoint);
    assert_eq!(packets.len(), 1);
    let (response, payload) = &packets[0];
    assert!(payload.is_empty());
    assert_eq!(response.operation, Operation::Response as u16);
    assert_eq!((response.source_cid, response.source_port), (2, CONTROL_PORT));
    assert_eq!((response.destination_cid, response.destination_port), (3, 1025));
    assert_eq!(response.socket_type, TYPE_STREAM);
    assert_eq!(response.buffer_allocation, 8192);
    assert_eq!(response.forward_count, 0);
}

#[test]
fn data_larger_than_credit_flows_both_ways() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2000, 5000);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.state, State::Connected);
    let id = endpoint.accept().unwrap();

    let upstream: Vec<u8> = (0..100_000u32).map(|index| (index * 7 % 251) as u8).collect();
    let downstream: Vec<u8> = (0..90_000u32).map(|index| (index * 13 % 241) as u8).collect();
    linux.write(&upstream);
    let (mut received, mut sent, mut at_linux) = (Vec::new(), 0, Vec::new());
    let mut buffer = [0u8; 3000];
    for _ in 0..10_000 {
        pump(&mut endpoint, &mut [&mut linux]);
        let count = endpoint.read(id, &mut buffer).unwrap();
        received.extend_from_slice(&buffer[..count]);
        sent += endpoint.write(id, &downstream[sent..]).unwrap();
        at_linux.extend(linux.read(1500));
        if received.len() == upstream.len() && at_linux.len() == downstream.len() {
            break;
        }
    }
    assert!(received == upstream, "upstream bytes differ");
    assert!(at_linux == downstream, "downstream bytes differ");
    assert_eq!(linux.credit_violations, 0);
    let statistics = endpoint.statistics();
    assert_eq!(statistics.packets_refused, 0);
    assert_eq!(statistics.bytes_received, 100_000);
    assert_eq!(statistics.bytes_sent, 90_000);
}

#[test]
fn endpoint_asks_for_credit_when_the_peer_gave_none() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2001, 4096);
    // This peer never volunteers credit updates: only the request gets one.
    linux.update_below = 0;
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    assert_eq!(endpoint.write(id, &[5; 6000]).unwrap(), 6000);
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.receive.len(), 4096);
    // Out of credit with bytes to send, the endpoint asked once; the answer
    // gave nothing new, and it does not ask again for the same credit.
    let requests = |linux: &LinuxSocket| {
        linux
            .received_operations
            .iter()
            .filter(|&&operation| operation == Operation::CreditRequest)
            .count()
    };
    assert_eq!(requests(&linux), 1);
    let mut taken = linux.read(4096);
    assert!(linux.outgoing.is_empty());
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(requests(&linux), 1);
    // Credit from Linux lets the rest go.
    linux.outgoing.push_back(packet(linux.header(Operation::CreditUpdate, 0), &[]));
    pump(&mut endpoint, &mut [&mut linux]);
    taken.extend(linux.read(4096));
    assert!(taken == vec![5; 6000]);
    assert_eq!(linux.credit_violations, 0);
}

#[test]
fn credit_request_is_answered_with_an_update() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2002, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    endpoint.receive(&packet(linux.header(Operation::CreditRequest, 0), &[])).unwrap();
    let packets = transmitted(&mut endpoint);
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].0.operation, Operation::CreditUpdate as u16);
    assert_eq!(packets[0].0.buffer_allocation, 8192);
}

#[test]
fn linux_closing_gets_a_reset_and_the_connection_ends() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2003, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    linux.write(b"last words");
    linux.close();
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.state, State::Closed);
    assert_eq!(linux.received_operations.last(), Some(&Operation::Reset));
    assert!(!endpoint.is_open(id));
    assert_eq!(endpoint.read(id, &mut [0; 16]), Err(StreamError::Closed));
    assert_eq!(endpoint.connection_count(), 0);
}

#[test]
fn half_close_gives_end_of_stream_after_the_data() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2004, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    linux.write(b"abc");
    let mut shutdown = linux.header(Operation::Shutdown, 0);
    shutdown.flags = SHUTDOWN_SEND;
    linux.outgoing.push_back(packet(shutdown, &[]));
    pump(&mut endpoint, &mut [&mut linux]);
    let mut buffer = [0u8; 8];
    assert_eq!(endpoint.read(id, &mut buffer), Ok(3));
    assert_eq!(endpoint.read(id, &mut buffer), Err(StreamError::EndOfStream));
    // The other direction still works.
    assert_eq!(endpoint.write(id, b"answer"), Ok(6));
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.read(64), b"answer");
}

#[test]
fn endpoint_closing_sends_data_then_shutdown_and_ends_on_reset() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2005, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    endpoint.write(id, &[9; 5000]).unwrap();
    endpoint.close(id);
    assert_eq!(endpoint.write(id, b"more"), Err(StreamError::NotWritable));
    pump(&mut endpoint, &mut [&mut linux]);
    // Linux's buffer holds 4096 bytes: the shutdown waits for the rest.
    assert!(endpoint.is_open(id));
    assert!(!linux.received_operations.contains(&Operation::Shutdown));
    let mut data = linux.read(5000);
    pump(&mut endpoint, &mut [&mut linux]);
    data.extend(linux.read(5000));
    pump(&mut endpoint, &mut [&mut linux]);
    assert!(data == vec![9; 5000]);
    assert!(linux.received_operations.contains(&Operation::Shutdown));
    // The shutdown came while Linux still had data to read: Linux answers
    // when its program closes the socket.
    linux.close();
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.state, State::Closed);
    assert!(!endpoint.is_open(id));
}

#[test]
fn abort_sends_a_reset_at_once() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(2006, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    endpoint.write(id, b"never sent").unwrap();
    endpoint.abort(id);
    pump(&mut endpoint, &mut [&mut linux]);
    assert_eq!(linux.state, State::Reset);
    assert!(linux.receive.is_empty());
    assert_eq!(endpoint.write(id, b"x"), Err(StreamError::Closed));
}

fn expect_reset(endpoint: &mut Endpoint, to_port: u32, from: (u64, u32)) {
    let packets = transmitted(endpoint);
    assert_eq!(packets.len(), 1, "one reset expected, got {packets:?}");
    let reset = packets[0].0;
    assert_eq!(reset.operation, Operation::Reset as u16);
    assert_eq!((reset.destination_cid, reset.destination_port), (3, to_port));
    assert_eq!((reset.source_cid, reset.source_port), from);
}

#[test]
fn refused_packets_are_answered_with_resets() {
    let mut endpoint = small_endpoint();
    let linux = LinuxSocket::new(3000, 4096);

    let mut request = linux.header(Operation::Request, 0);
    request.destination_port = 5001;
    assert_eq!(endpoint.receive(&packet(request, &[])), Err(PacketError::NotListening));
    expect_reset(&mut endpoint, 3000, (2, 5001));

    let mut request = linux.header(Operation::Request, 0);
    request.destination_cid = 7;
    assert_eq!(endpoint.receive(&packet(request, &[])), Err(PacketError::WrongDestination));
    expect_reset(&mut endpoint, 3000, (7, CONTROL_PORT));

    let mut request = linux.header(Operation::Request, 0);
    request.socket_type = TYPE_SEQPACKET;
    assert_eq!(endpoint.receive(&packet(request, &[])), Err(PacketError::UnsupportedType));
    expect_reset(&mut endpoint, 3000, (2, CONTROL_PORT));

    let data = linux.header(Operation::ReadWrite, 3);
    assert_eq!(endpoint.receive(&packet(data, b"abc")), Err(PacketError::NoConnection));
    expect_reset(&mut endpoint, 3000, (2, CONTROL_PORT));

    let mut unknown = linux.header(Operation::Request, 0);
    unknown.operation = 99;
    assert_eq!(endpoint.receive(&packet(unknown, &[])), Err(PacketError::UnknownOperation));
    expect_reset(&mut endpoint, 3000, (2, CONTROL_PORT));

    // A reset is never answered.
    let reset = linux.header(Operation::Reset, 0);
    assert_eq!(endpoint.receive(&packet(reset, &[])), Err(PacketError::NoConnection));
    assert!(transmitted(&mut endpoint).is_empty());
    assert_eq!(endpoint.connection_count(), 0);
    assert_eq!(endpoint.statistics().packets_refused, 6);
}

#[test]
fn connections_beyond_the_limit_are_reset() {
    let mut endpoint = small_endpoint();
    let mut sockets: Vec<LinuxSocket> =
        (0..3).map(|index| LinuxSocket::new(4000 + index, 4096)).collect();
    for socket in &mut sockets[..2] {
        socket.connect();
    }
    let [first, second, third] = &mut sockets[..] else { unreachable!() };
    pump(&mut endpoint, &mut [first, second]);
    assert_eq!(endpoint.connection_count(), 2);
    endpoint.receive(&packet(third.header(Operation::Request, 0), &[])).unwrap_err();
    expect_reset(&mut endpoint, 4002, (2, CONTROL_PORT));
    // Closing one frees its slot for the next.
    first.close();
    pump(&mut endpoint, &mut [first, second]);
    third.connect();
    pump(&mut endpoint, &mut [third]);
    assert_eq!(third.state, State::Connected);
}

#[test]
fn a_slot_waiting_for_a_closing_peer_is_reclaimed() {
    let mut endpoint = small_endpoint();
    let mut first = LinuxSocket::new(4100, 4096);
    let mut second = LinuxSocket::new(4101, 4096);
    first.connect();
    second.connect();
    pump(&mut endpoint, &mut [&mut first, &mut second]);
    let id = endpoint.accept().unwrap();
    endpoint.close(id);
    // The shutdown goes out, and this peer never answers it.
    transmitted(&mut endpoint);
    let third = LinuxSocket::new(4102, 4096);
    endpoint.receive(&packet(third.header(Operation::Request, 0), &[])).unwrap();
    let packets = transmitted(&mut endpoint);
    let operations: Vec<_> =
        packets.iter().map(|(header, _)| (header.operation, header.destination_port)).collect();
    assert_eq!(operations, [(Operation::Reset as u16, 4100), (Operation::Response as u16, 4102)]);
    assert!(!endpoint.is_open(id));
}

#[test]
fn data_beyond_the_credit_given_resets_the_connection() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(5000, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    let chunk = [1u8; 4096];
    endpoint.receive(&packet(linux.header(Operation::ReadWrite, 4096), &chunk)).unwrap();
    endpoint.receive(&packet(linux.header(Operation::ReadWrite, 4096), &chunk)).unwrap();
    assert_eq!(
        endpoint.receive(&packet(linux.header(Operation::ReadWrite, 1), &[1])),
        Err(PacketError::CreditExceeded)
    );
    expect_reset(&mut endpoint, 5000, (2, CONTROL_PORT));
    assert!(!endpoint.is_open(id));
}

#[test]
fn unexpected_operations_reset_their_connection() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(5001, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let id = endpoint.accept().unwrap();
    assert_eq!(
        endpoint.receive(&packet(linux.header(Operation::Response, 0), &[])),
        Err(PacketError::UnexpectedOperation)
    );
    expect_reset(&mut endpoint, 5001, (2, CONTROL_PORT));
    assert!(!endpoint.is_open(id));
}

#[test]
fn garbage_is_counted_and_never_answered() {
    let mut endpoint = small_endpoint();
    let linux = LinuxSocket::new(6000, 4096);
    assert_eq!(endpoint.receive(&[]), Err(PacketError::TooShort));
    assert_eq!(endpoint.receive(&[0; 43]), Err(PacketError::TooShort));
    let header = linux.header(Operation::ReadWrite, 10);
    assert_eq!(endpoint.receive(&packet(header, &[0; 9])), Err(PacketError::LengthMismatch));
    let header = linux.header(Operation::ReadWrite, 4097);
    assert_eq!(endpoint.receive(&packet(header, &[0; 4097])), Err(PacketError::PayloadTooLarge));
    let mut spoofed = linux.header(Operation::Request, 0);
    spoofed.source_cid = 2;
    assert_eq!(endpoint.receive(&packet(spoofed, &[])), Err(PacketError::WrongSource));
    assert!(transmitted(&mut endpoint).is_empty());
    let statistics = endpoint.statistics();
    assert_eq!((statistics.packets_received, statistics.packets_refused), (5, 5));
}

#[test]
fn a_reset_flood_does_not_grow_the_queue() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let linux = LinuxSocket::new(7000, 4096);
    for _ in 0..1000 {
        let _ = endpoint.receive(&packet(linux.header(Operation::ReadWrite, 0), &[]));
    }
    assert_eq!(transmitted(&mut endpoint).len(), 32);
    assert_eq!(endpoint.statistics().resets_dropped, 1000 - 32);
}

#[test]
fn full_shutdown_from_linux_while_data_is_unread_still_ends() {
    let mut endpoint = small_endpoint();
    let mut linux = LinuxSocket::new(7100, 4096);
    linux.connect();
    pump(&mut endpoint, &mut [&mut linux]);
    let mut shutdown = linux.header(Operation::Shutdown, 0);
    shutdown.flags = SHUTDOWN_BOTH;
    endpoint.receive(&packet(shutdown, &[])).unwrap();
    expect_reset(&mut endpoint, 7100, (2, CONTROL_PORT));
    assert_eq!(endpoint.connection_count(), 0);
}

/// A packet shaped enough like a real one to reach the deeper checks.
fn plausible_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(3u64), any::<u64>()],
        prop_oneof![Just(2u64), any::<u64>()],
        prop_oneof![1000u32..1004, any::<u32>()],
        prop_oneof![Just(CONTROL_PORT), any::<u32>()],
        prop_oneof![Just(TYPE_STREAM), any::<u16>()],
        0u16..9,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![Just(true), Just(false)],
    )
        .prop_map(
            |(
                source_cid,
                destination_cid,
                source_port,
                destination_port,
                socket_type,
                operation,
                flags,
                buffer_allocation,
                forward_count,
                payload,
                honest_length,
            )| {
                let length = if honest_length { payload.len() as u32 } else { flags % 128 };
                let header = Header {
                    source_cid,
                    destination_cid,
                    source_port,
                    destination_port,
                    length,
                    socket_type,
                    operation,
                    flags: flags % 4,
                    buffer_allocation,
                    forward_count,
                };
                packet(header, &payload)
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_packets_never_break_the_endpoint(
        packets in proptest::collection::vec(
            prop_oneof![plausible_packet(), proptest::collection::vec(any::<u8>(), 0..100)],
            1..60,
        ),
        writes in proptest::collection::vec(0usize..3000, 0..10),
    ) {
        let mut endpoint = small_endpoint();
        let mut buffer = vec![0u8; MAX_PACKET];
        let mut read_buffer = [0u8; 512];
        let mut accepted = Vec::new();
        for (index, bytes) in packets.iter().enumerate() {
            let _ = endpoint.receive(bytes);
            while let Some(id) = endpoint.accept() {
                accepted.push(id);
            }
            for id in &accepted {
                let _ = endpoint.read(*id, &mut read_buffer);
                if let Some(&size) = writes.get(index) {
                    let _ = endpoint.write(*id, &vec![0; size]);
                }
            }
            prop_assert!(endpoint.connection_count() <= 2);
            let mut sent = 0;
            while let Some(length) = endpoint.poll_transmit(&mut buffer) {
                prop_assert!((HEADER_LENGTH..=MAX_PACKET).contains(&length));
                let header = Header::decode(&buffer).unwrap();
                prop_assert_eq!(header.length as usize, length - HEADER_LENGTH);
                prop_assert_eq!(header.socket_type, TYPE_STREAM);
                prop_assert_eq!(header.destination_cid, 3);
                prop_assert!(Operation::from_code(header.operation).is_some());
                sent += 1;
                prop_assert!(sent < 10_000);
            }
        }
        let statistics = endpoint.statistics();
        prop_assert_eq!(statistics.packets_received, packets.len() as u64);
    }
}
