//! Two connections of this module joined by buffers: a dialer and a
//! listener with identities of their own.

use super::*;
use alloc::vec;
use std::format;

fn settings() -> Settings {
    Settings {
        protocol_version: "/elastos/1.0.0".into(),
        agent_version: "test/1".into(),
        listen_addrs: vec!["/ip4/10.0.2.15/tcp/4001".parse().unwrap()],
        yamux: yamux::Config::default(),
        handshake_timeout: 10_000,
        ping_interval: 15_000,
        ping_timeout: 20_000,
        receipt_timeout: 10_000,
        delivery_timeout: 5_000,
        deliveries_max: 4,
        sends_max: 8,
    }
}

fn keypair(seed: u8) -> Keypair {
    Keypair::from_secret([seed; 32])
}

fn secrets(seed: u8) -> [u8; 64] {
    let mut secrets = [0u8; 64];
    for (index, byte) in secrets.iter_mut().enumerate() {
        *byte = seed.wrapping_mul(31).wrapping_add(index as u8);
    }
    secrets
}

/// A dialer (identity 1) and a listener (identity 2).
fn pair(settings: Settings) -> (Connection, Connection) {
    let expected = keypair(2).public().peer_id();
    let dialer = Connection::new(
        Direction::Dialer,
        &keypair(1),
        secrets(1),
        settings.clone(),
        Some(expected),
        None,
        0,
    );
    let observed = "/ip4/10.0.2.2/tcp/50000".parse().ok();
    let listener =
        Connection::new(Direction::Listener, &keypair(2), secrets(2), settings, None, observed, 0);
    (dialer, listener)
}

/// Moves bytes both ways, `chunk` bytes at a time, until neither has
/// anything to send.
fn exchange(a: &mut Connection, b: &mut Connection, now: u64, chunk: usize) {
    for _ in 0..100_000 {
        let from_a: Vec<u8> = a.output().iter().copied().take(chunk).collect();
        a.consume_output(from_a.len());
        let from_b: Vec<u8> = b.output().iter().copied().take(chunk).collect();
        b.consume_output(from_b.len());
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
        if !from_a.is_empty() {
            b.receive(&from_a, now).unwrap();
        }
        if !from_b.is_empty() {
            a.receive(&from_b, now).unwrap();
        }
    }
    panic!("the connections never went quiet");
}

fn events(connection: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| connection.poll_event()).collect()
}

#[test]
fn both_ends_open_identify_and_ping() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 1, usize::MAX);
    assert!(dialer.is_open() && listener.is_open());
    let dialer_id = keypair(1).public().peer_id();
    let listener_id = keypair(2).public().peer_id();
    assert_eq!(dialer.remote(), Some(&listener_id));
    assert_eq!(listener.remote(), Some(&dialer_id));
    for (connection, remote) in [(&mut dialer, &listener_id), (&mut listener, &dialer_id)] {
        let events = events(connection);
        assert_eq!(events.first(), Some(&Event::Established(remote.clone())), "{events:?}");
        let info = events
            .iter()
            .find_map(|event| match event {
                Event::Identified(info) => Some(info.clone()),
                _ => None,
            })
            .expect("identified");
        assert_eq!(info.agent_version, "test/1");
        assert_eq!(info.public_key.map(|key| key.peer_id()), Some(remote.clone()));
        assert!(info.protocols.iter().any(|protocol| protocol == message::PROTOCOL));
        assert!(events.contains(&Event::Pong { rtt: 0 }), "{events:?}");
    }
}

#[test]
fn a_byte_at_a_time_works_too() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 1, 1);
    assert!(dialer.is_open() && listener.is_open());
    assert!(events(&mut dialer).iter().any(|event| matches!(event, Event::Identified(_))));
}

#[test]
fn pings_repeat_and_measure() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    assert_eq!(dialer.poll_timeouts(1_000), Ok(15_000));
    // The next ping goes out at 15 s; its echo comes back at 15.25 s.
    dialer.poll_timeouts(15_000).unwrap();
    let ping: Vec<u8> = dialer.output().to_vec();
    dialer.consume_output(ping.len());
    listener.receive(&ping, 15_100).unwrap();
    let echo: Vec<u8> = listener.output().to_vec();
    listener.consume_output(echo.len());
    dialer.receive(&echo, 15_250).unwrap();
    assert_eq!(events(&mut dialer), [Event::Pong { rtt: 250 }]);
}

fn message(id: u64, recipient: &str) -> Request {
    Request { id, recipient: recipient.into(), sender: "app".into(), body: b"hello".to_vec() }
}

#[test]
fn a_message_gets_its_receipt() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    events(&mut listener);
    dialer.send(&message(42, "app"), 1);
    exchange(&mut dialer, &mut listener, 1, usize::MAX);
    let arrived = events(&mut listener);
    let [Event::Message { delivery, request }] = arrived.as_slice() else { panic!("{arrived:?}") };
    assert_eq!(*request, message(42, "app"));
    listener.answer(*delivery, message::Status::Delivered);
    exchange(&mut dialer, &mut listener, 2, usize::MAX);
    assert_eq!(
        events(&mut dialer),
        [Event::Receipt { id: 42, outcome: Ok(message::Status::Delivered) }]
    );
    // Both ends forgot the stream.
    assert!(dialer.streams.keys().all(|id| Some(*id) == dialer.ping_stream
        || !matches!(dialer.streams[id].state, StreamState::ReceiptReading { .. })));
    assert!(!listener.streams.values().any(|stream| matches!(
        stream.state,
        StreamState::MessageWaiting { .. } | StreamState::MessageReading
    )));
}

#[test]
fn an_unanswered_message_is_answered_unavailable() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    dialer.send(&message(7, "app"), 0);
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    listener.poll_timeouts(5_000).unwrap();
    exchange(&mut dialer, &mut listener, 5_000, usize::MAX);
    assert_eq!(
        events(&mut dialer),
        [Event::Receipt { id: 7, outcome: Ok(message::Status::Unavailable) }]
    );
}

#[test]
fn too_many_waiting_messages_are_answered_busy() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    for id in 0..6 {
        dialer.send(&message(id, "app"), 0);
    }
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    let delivered = events(&mut listener)
        .into_iter()
        .filter(|event| matches!(event, Event::Message { .. }))
        .count();
    assert_eq!(delivered, 4);
    let busy = events(&mut dialer)
        .into_iter()
        .filter(|event| matches!(event, Event::Receipt { outcome: Ok(message::Status::Busy), .. }))
        .count();
    assert_eq!(busy, 2);
}

#[test]
fn sends_beyond_the_limit_are_refused_at_once() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    for id in 0..9 {
        dialer.send(&message(id, "app"), 0);
    }
    assert_eq!(events(&mut dialer), [Event::Receipt { id: 8, outcome: Ok(message::Status::Busy) }]);
    let (mut closed, _) = pair(settings());
    closed.send(&message(1, "app"), 0);
    assert_eq!(events(&mut closed), [Event::Receipt { id: 1, outcome: Err(Failure::NotSent) }]);
}

#[test]
fn a_receipt_that_never_comes_times_out() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    dialer.send(&message(3, "app"), 0);
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    assert_eq!(dialer.poll_timeouts(9_999).map(|next| next <= 10_000), Ok(true));
    dialer.poll_timeouts(10_000).unwrap();
    assert!(events(&mut dialer).contains(&Event::Receipt { id: 3, outcome: Err(Failure::Timeout) }));
}

#[test]
fn the_wrong_peer_is_refused() {
    let impostor =
        Connection::new(Direction::Listener, &keypair(9), secrets(9), settings(), None, None, 0);
    let (mut dialer, _) = pair(settings());
    let mut impostor = impostor;
    let mut outcome = Ok(());
    for _ in 0..10 {
        let bytes = dialer.output().to_vec();
        dialer.consume_output(bytes.len());
        impostor.receive(&bytes, 0).unwrap();
        let bytes = impostor.output().to_vec();
        impostor.consume_output(bytes.len());
        outcome = dialer.receive(&bytes, 0);
        if outcome.is_err() {
            break;
        }
    }
    assert_eq!(outcome, Err(ConnectionError::WrongPeer));
    assert!(!dialer.is_open());
}

#[test]
fn garbage_and_silence_end_a_connection() {
    let (_, mut listener) = pair(settings());
    assert!(matches!(
        listener.receive(b"\x13/multistream/1.0.0\n\x05hello", 0),
        Err(ConnectionError::Security(_))
    ));
    let (_, mut listener) = pair(settings());
    // A proper start, then nothing.
    listener.receive(b"\x13/multistream/1.0.0\n\x07/noise\n", 0).unwrap();
    assert_eq!(listener.poll_timeouts(9_000), Ok(10_000));
    assert_eq!(listener.poll_timeouts(10_000), Err(ConnectionError::HandshakeTimeout));
    // A Noise frame far longer than a first handshake message.
    let (_, mut listener) = pair(settings());
    let mut bytes = b"\x13/multistream/1.0.0\n\x07/noise\n\xff\xff".to_vec();
    bytes.extend_from_slice(&[0u8; 0xffff]);
    assert!(matches!(listener.receive(&bytes, 0), Err(ConnectionError::Noise(_))));
}

#[test]
fn bytes_after_a_failure_are_ignored() {
    let (_, mut listener) = pair(settings());
    assert!(listener.receive(b"\x01x", 0).is_err());
    assert_eq!(listener.receive(b"anything", 0), Ok(()));
    assert!(!listener.is_open());
}

#[test]
fn random_input_never_panics() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        let (_, mut listener) = pair(settings());
        let mut bytes = b"\x13/multistream/1.0.0\n\x07/noise\n".to_vec();
        for _ in 0..(round * 7 % 300) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push(state as u8);
        }
        let _ = listener.receive(&bytes, 0);
        let _ = format!("{:?}", listener.poll_timeouts(1));
    }
}

#[test]
fn streams_over_the_limit_are_refused_and_reported() {
    let mut roomy = settings();
    roomy.sends_max = 32;
    let mut limited = settings();
    limited.yamux.max_streams = 6;
    let (mut dialer, _) = pair(roomy);
    let (_, mut listener) = pair(limited);
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    events(&mut listener);
    // The identify and ping streams are done with; each message needs one.
    for id in 0..10 {
        dialer.send(&message(id, "app"), 0);
    }
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    let arrived = events(&mut listener);
    let refused = arrived
        .iter()
        .filter(|event| **event == Event::StreamRefused(StreamError::TooMany))
        .count();
    let delivered = arrived.iter().filter(|event| matches!(event, Event::Message { .. })).count();
    assert!(refused > 0, "{arrived:?}");
    assert_eq!(refused + delivered, 10, "{arrived:?}");
    assert_eq!(listener.refused_streams(), refused as u64);
    // The dialer learns that the refused ones got no receipt.
    let failed = events(&mut dialer)
        .into_iter()
        .filter(|event| matches!(event, Event::Receipt { outcome: Err(Failure::NoReceipt), .. }))
        .count();
    assert_eq!(failed, refused);
}

#[test]
fn a_remote_that_answers_no_pings_is_dropped() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    // From now on nothing reaches the listener: every ping times out.
    let mut now = 0;
    let mut outcome = Ok(0);
    for _ in 0..10 {
        now += 20_000;
        outcome = dialer.poll_timeouts(now);
        dialer.consume_output(dialer.output().len());
        if outcome.is_err() {
            break;
        }
    }
    assert_eq!(outcome, Err(ConnectionError::PingTimeout));
    let failed = events(&mut dialer).iter().filter(|event| **event == Event::PingFailed).count();
    assert_eq!(failed, PING_FAILURES_MAX as usize);
}

#[test]
fn a_message_stuck_in_negotiation_times_out() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut dialer);
    dialer.send(&message(5, "app"), 0);
    // The proposal never reaches the listener.
    dialer.consume_output(dialer.output().len());
    dialer.poll_timeouts(9_999).unwrap();
    assert!(events(&mut dialer).is_empty());
    dialer.poll_timeouts(10_000).unwrap();
    // Exactly one receipt: the timeout, not a second one when the stream goes.
    assert_eq!(events(&mut dialer), [Event::Receipt { id: 5, outcome: Err(Failure::Timeout) }]);
}

#[test]
fn a_flood_of_pings_is_refused() {
    let (mut dialer, mut listener) = pair(settings());
    exchange(&mut dialer, &mut listener, 0, usize::MAX);
    events(&mut listener);
    // Find the listener's ping responder and flood it without reading.
    let (&id, _) = listener
        .streams
        .iter()
        .find(|(_, stream)| matches!(stream.state, StreamState::PingResponder(_)))
        .expect("the dialer's ping stream");
    let stream = listener.streams.get_mut(&id).unwrap();
    stream.input.extend_from_slice(&[7u8; PING_BACKLOG_MAX + 2 * ping::PAYLOAD]);
    let step = step(stream, &settings(), 0);
    assert!(matches!(step, Step::Refuse(StreamError::Ping)));
}
