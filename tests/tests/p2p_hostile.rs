//! netvm's libp2p node under attack: while a legitimate rust-libp2p peer
//! (`tools/p2p-peer`) stays connected, the host throws at netvm's port,
//! through QEMU's port forward, junk, handshakes cut off half-way,
//! oversized Noise frames and multistream messages, a thousand half-open
//! connections and a peer that opens streams without end. netvm must drop
//! or refuse each of them, say so on its console, never restart, and keep
//! serving the legitimate peer: pings, messages to the `chat` example dapp
//! (installed and started from Linux's shell) with receipts and chat's
//! answers, and a new connection afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use elastos_p2p::identity::{Keypair, PeerId};
use elastos_p2p::multistream::Dialer;
use elastos_p2p::noise::{self, Handshake, Progress, Role, Transport};
use elastos_p2p::ping;
use elastos_p2p::yamux::{self, Event, Mode, Session, StreamId, YamuxError};
use elastos_tests::dapps::{self, elastos};
use elastos_tests::hostile::{
    connect_and_send, drain, io_error, is_open, is_reset, multistream_header, multistream_opening,
    noise_frame, oversized_multistream_message, read_some, send_junk_and_close, send_on, Ending,
    Generator, HostileError, ReadOutcome, READ_SLICE,
};
use elastos_tests::peer::{field, free_port, Peer};
use elastos_tests::qemu::source_text;
use elastos_tests::shell::wait_for_shell;
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, Qemu, QemuError, SystemOptions};

/// Any failure of the test: the harness's or a hostile client's.
type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// How long netvm may take to start its node and get an address.
/// What Linux's DHCP script prints when it applied a lease.
const LEASE_LINE: &str = "elastos: eth0 has ";
/// How long Linux may take to get its lease once its shell is up.
const LEASE_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection, an identify, a ping or a receipt may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The port netvm listens on (the manifest's default).
const NETVM_PORT: u16 = 4001;
/// netvm's limit of connections (`netvm::node::CONNECTIONS_MAX`).
const CONNECTIONS_MAX: usize = 32;
/// netvm's handshake deadline (`Node::new`'s `handshake_timeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams a yamux session of netvm keeps at most, both directions
/// (`yamux::Config::default`).
const STREAMS_MAX: usize = 64;
/// How long connecting to the port forward may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two connections of one attack: netvm keeps two
/// listening sockets, so a burst would mostly be refused before it reached
/// the protocol code under test.
const PACE: Duration = Duration::from_millis(40);
/// How long an attack's connections may take to be dropped by netvm: its
/// handshake deadline and then some, for a loaded two-core machine.
const DROP_TIMEOUT: Duration = Duration::from_secs(40);

/// Connections that send junk.
const GARBAGE_CONNECTIONS: usize = 20;
/// Connections that stop half-way through the first Noise message.
const TRUNCATED_CONNECTIONS: usize = 20;
/// Connections that send Noise frames of the largest size.
const OVERSIZED_FRAME_CONNECTIONS: usize = 10;
/// Connections that send multistream-select messages over the limit.
const OVERSIZED_MULTISTREAM_CONNECTIONS: usize = 10;
/// Connections opened at once that never send.
const HALF_OPEN_CONNECTIONS: usize = 1000;
/// The stack of each thread opening a half-open connection.
const HALF_OPEN_STACK: usize = 64 * 1024;
/// How long a half-open connection may take to open: QEMU accepts the
/// port forward's connections one by one.
const HALF_OPEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Dials of netvm by the host peer at the end.
const DIAL_ATTEMPTS: usize = 3;
/// How long each of those dials may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// What netvm's summaries of dropped connections say.
const SUMMARY: &str = "streams refused so far)";
/// How long netvm may take to print its next summary: its interval of
/// 10 s and then some.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long netvm may take to answer connections again after the flood.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Streams the flooding peer opens.
const FLOOD_STREAMS: usize = 2000;

/// The legitimate peer, as the checks between attacks use it.
struct Legitimate<'a> {
    host: &'a mut Peer,
    /// `peer=NETVM_ID`.
    netvm_field: String,
    netvm_id: String,
}

impl Legitimate<'_> {
    /// Waits for a ping on the host peer's connection to netvm that is
    /// newer than every one so far.
    fn pings(&self, when: &str) -> TestResult {
        let seen = self.count("ping");
        let line = self
            .host
            .wait_for_new_event("ping", &[&self.netvm_field], seen, STEP_TIMEOUT)
            .map_err(|error| format!("no ping from netvm {when}: {error}"))?;
        eprintln!("p2p_hostile: ping {when}: {line}");
        Ok(())
    }

    /// Sends chat a message, waits for its `delivered` receipt and for
    /// chat's echo (`echo: TEXT`) back to the host peer.
    fn sends_a_message(&mut self, text: &str) -> TestResult {
        let fields = [self.netvm_field.as_str(), "status=delivered"];
        let seen = self.count_with("receipt", &fields);
        // The echo of this text: earlier messages' echoes may still come.
        let body: String =
            format!("echo: {text}").bytes().map(|byte| format!("{byte:02x}")).collect();
        let body = format!("body=hex={body}");
        let echo = [self.netvm_field.as_str(), "sender=chat", "recipient=host", body.as_str()];
        let echoes = self.count_with("message", &echo);
        self.host.command(&format!("send {} chat {text}", self.netvm_id))?;
        self.host.wait_for_new_event("receipt", &fields, seen, STEP_TIMEOUT)?;
        let answer = self.host.wait_for_new_event("message", &echo, echoes, STEP_TIMEOUT)?;
        let length = (b"echo: ".len() + text.len()).to_string();
        assert_eq!(field(&answer, "length"), Some(length.as_str()), "{answer}");
        Ok(())
    }

    /// Waits until netvm delivers messages for chat, which registers its
    /// name with netvm once it runs: messages sent before find no
    /// recipient.
    fn waits_for_chat(&mut self) -> TestResult {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let seen = self.count("receipt");
            self.host.command(&format!("send {} chat are-you-there", self.netvm_id))?;
            let receipt = self.host.wait_for_new_event(
                "receipt",
                &[&self.netvm_field],
                seen,
                STEP_TIMEOUT,
            )?;
            match field(&receipt, "status") {
                Some("delivered") => return Ok(()),
                Some("unknown-recipient") if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_secs(1))
                }
                _ => return Err(format!("chat is not served: {receipt}").into()),
            }
        }
    }

    /// Dials netvm at `address` and waits for the connection, trying a few
    /// times.
    fn dials(&mut self, address: &str) -> TestResult {
        let fields = [self.netvm_field.as_str(), "endpoint=dialer"];
        let seen = self.count_with("connected", &fields);
        for attempt in 1..=DIAL_ATTEMPTS {
            self.host.command(&format!("dial {address}"))?;
            match self.host.wait_for_new_event("connected", &fields, seen, DIAL_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(error) if attempt == DIAL_ATTEMPTS => return Err(error.into()),
                Err(_) => eprintln!("p2p_hostile: dial {attempt} of netvm did not connect"),
            }
        }
        Ok(())
    }

    /// Lines of the host peer about netvm starting with `word`.
    fn count(&self, word: &str) -> usize {
        self.count_with(word, &[&self.netvm_field])
    }

    /// Lines of the host peer starting with `word` and holding `fields`.
    fn count_with(&self, word: &str, fields: &[&str]) -> usize {
        self.host.count_events(word, fields)
    }
}

/// Tells how long the test has run, for the log.
struct Clock(Instant);

impl Clock {
    /// Prints the time and `what` happened.
    fn mark(&self, what: &str) {
        eprintln!("p2p_hostile: {:6.1} s: {what}", self.0.elapsed().as_secs_f64());
    }
}

#[test]
fn netvm_survives_hostile_peers_and_keeps_serving() -> TestResult {
    let clock = Clock(Instant::now());
    let (mut host, host_id, host_port) =
        Peer::start_listening(11, Duration::from_millis(1000), STEP_TIMEOUT)?;
    let forwarded = free_port();
    let artifacts = artifacts()?;
    let options = SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        // netvm says what it drops and whom it connected to.
        verbose: true,
        name: "p2p-hostile".into(),
        netdev: Some(format!("user,id=net0,hostfwd=tcp:127.0.0.1:{forwarded}-:{NETVM_PORT}")),
        // From the guests, QEMU's gateway 10.0.2.2 is the host's loopback.
        bootstrap: vec![format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}")],
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;

    // netvm starts, dials the host peer and pings it.
    // (The host peer learns netvm's PeerId whole; a console line may be
    // cut off by another VM's.)
    qemu.wait_for_source("netvm", "p2p: listening on /ip4/", 1, START_TIMEOUT)?;
    let connected = host.wait_for_event("connected", &["endpoint=listener"], STEP_TIMEOUT)?;
    let netvm_id = field(&connected, "peer").expect("`connected peer=ID`").to_string();
    qemu.wait_for_source("netvm", &format!("p2p: PeerId {netvm_id}"), 1, START_TIMEOUT)?;
    let netvm_field = format!("peer={netvm_id}");
    host.wait_for_event("connected", &[&netvm_field, "endpoint=listener"], STEP_TIMEOUT)?;
    host.wait_for_event("ping", &[&netvm_field], STEP_TIMEOUT)?;
    let mut legitimate = Legitimate { host: &mut host, netvm_field, netvm_id: netvm_id.clone() };
    clock.mark("netvm is up and the host peer connected");
    // chat, installed and started from Linux's shell, answers the host peer.
    wait_for_shell(qemu)?;
    // The package comes over Linux's network, once it has its lease.
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    let server = dapps::serve_packages(&["chat"])?;
    let downloaded = dapps::download(qemu, &server, "chat.elastos")?;
    assert!(downloaded.contains("wget=0"), "{downloaded}");
    for command in ["install /tmp/chat.elastos", "start chat"] {
        let (output, status) = elastos(qemu, command)?;
        assert_eq!(status, 0, "elastos {command}: {output}");
    }
    legitimate.waits_for_chat()?;
    legitimate.sends_a_message("before")?;
    clock.mark("chat runs and answers the host peer");

    let address = SocketAddr::from(([127, 0, 0, 1], forwarded));
    let mut generator = Generator::from_clock();

    garbage(address, &mut generator)?;
    clock.mark("junk connections dropped");
    legitimate.pings("after the junk")?;

    truncated_handshakes(address, &mut generator)?;
    clock.mark("truncated handshakes dropped");
    legitimate.pings("after the truncated handshakes")?;

    oversized_noise_frames(address, &mut generator)?;
    oversized_multistream_messages(address)?;
    clock.mark("oversized frames and messages dropped");
    legitimate.pings("after the oversized frames")?;

    connection_limit(address)?;
    clock.mark("connections over the limit refused");
    legitimate.pings("after the connections over the limit")?;
    half_open_flood(address, &legitimate, &clock)?;
    clock.mark("half-open flood over");
    legitimate.pings("after the half-open flood")?;

    let flooder = stream_flood(address, &mut generator, qemu, &netvm_id, &legitimate, &clock)?;
    clock.mark("stream flood over");

    // With the flooder still connected and its streams open, the
    // legitimate peer is served in full.
    legitimate.pings("after the stream flood")?;
    legitimate.sends_a_message("still-here")?;
    let (logs, status) = elastos(qemu, "logs chat")?;
    assert_eq!(status, 0, "{logs}");
    assert!(logs.contains(&format!("chat: 10 bytes from host on {host_id}")), "{logs}");
    // netvm still takes a new connection: nothing leaked a slot for good.
    // (QEMU may still be retrying openings from the half-open flood for a
    // minute, so a dial that loses the race for a slot is tried again.)
    legitimate.dials(&format!("/ip4/127.0.0.1/tcp/{forwarded}/p2p/{netvm_id}"))?;
    qemu.wait_for_source(
        "netvm",
        &format!("p2p: connected to {host_id} (accepted"),
        1,
        STEP_TIMEOUT,
    )?;
    clock.mark("the host peer is served and dialed netvm anew");

    // netvm counts the streams it refused the flooder: its next summary of
    // dropped connections says so.
    let refused_streams = flooder.tally().refused;
    let summary = next_summary(qemu, address, &mut generator)?;
    clock.mark(&format!("netvm summarised: {summary}"));
    let counted = number_before(&summary, "streams refused so far");
    assert!(
        counted.is_some_and(|counted| counted >= refused_streams),
        "netvm refused the flooder {refused_streams} streams but its summary counts {counted:?}: \
         {summary}"
    );
    drop(flooder);

    // netvm ran through all of it once, and said what it dropped.
    let console = qemu.console();
    let netvm_text = source_text(&console, "netvm");
    assert!(console.contains("[netvm] started (boot 1)"), "netvm never started");
    assert!(!console.contains("[netvm] started (boot 2)"), "netvm was restarted:\n{netvm_text}");
    assert!(!netvm_text.contains("panic"), "netvm panicked:\n{netvm_text}");
    let summaries: Vec<&str> = netvm_text.lines().filter(|line| line.contains(SUMMARY)).collect();
    assert!(!summaries.is_empty(), "netvm summarised no dropped connections:\n{netvm_text}");
    for summary in &summaries {
        eprintln!("p2p_hostile: netvm said: {summary}");
    }
    clock.mark("done");
    Ok(())
}

/// Makes netvm print a new summary of dropped connections: a junk
/// connection every second or so until the summary interval has passed and
/// netvm prints one. Returns that line.
fn next_summary(qemu: &Qemu, address: SocketAddr, generator: &mut Generator) -> TestResult<String> {
    let seen = source_text(&qemu.console(), "netvm").matches(SUMMARY).count();
    let deadline = Instant::now() + SUMMARY_TIMEOUT;
    loop {
        let junk = generator.bytes(64);
        let since = Instant::now();
        let mut stream = send_junk_and_close(address, &junk, CONNECT_TIMEOUT)?;
        drain(&mut stream, since, since + DROP_TIMEOUT)?;
        match qemu.wait_for_source("netvm", SUMMARY, seen + 1, Duration::from_secs(1)) {
            Ok(text) => {
                let line = text.lines().rev().find(|line| line.contains(SUMMARY));
                return Ok(line.unwrap_or_default().to_string());
            }
            Err(QemuError::ConsoleTimeout { .. }) if Instant::now() < deadline => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// The number just before `words` in `line` (`12 streams refused so far`).
fn number_before(line: &str, words: &str) -> Option<usize> {
    let before = &line[..line.find(words)?];
    before.trim_end().rsplit([' ', '(']).next()?.parse().ok()
}

/// Attack 1: connections that send junk and close. netvm answers none of
/// them and closes every one.
fn garbage(address: SocketAddr, generator: &mut Generator) -> TestResult {
    let mut connections = Vec::new();
    for _ in 0..GARBAGE_CONNECTIONS {
        let length = generator.between(1, 4096);
        let junk = generator.bytes(length);
        let since = Instant::now();
        connections.push((since, send_junk_and_close(address, &junk, CONNECT_TIMEOUT)?));
        std::thread::sleep(PACE);
    }
    for (index, (since, stream)) in connections.iter_mut().enumerate() {
        let drained = drain(stream, *since, *since + DROP_TIMEOUT)?;
        assert_ne!(drained.ending, Ending::Open, "junk connection {index} was never closed");
        assert!(
            drained.received.is_empty(),
            "netvm answered junk on connection {index}: {drained:?}"
        );
    }
    Ok(())
}

/// Attack 2: connections that agree on `/noise`, send half of the Noise
/// first message and then nothing. netvm agrees, waits for the rest until
/// its handshake deadline, then drops them.
fn truncated_handshakes(address: SocketAddr, generator: &mut Generator) -> TestResult {
    let agreement = multistream_opening(noise::PROTOCOL);
    let mut connections = Vec::new();
    for _ in 0..TRUNCATED_CONNECTIONS {
        let mut bytes = multistream_opening(noise::PROTOCOL);
        // The first message is a 32-byte ephemeral key; its frame says so
        // and then half of it follows.
        bytes.extend_from_slice(&32u16.to_be_bytes());
        bytes.extend_from_slice(&generator.bytes(16));
        let since = Instant::now();
        connections.push((since, connect_and_send(address, &bytes, CONNECT_TIMEOUT)?));
        std::thread::sleep(PACE);
    }
    let mut waited_out = 0;
    for (index, (since, stream)) in connections.iter_mut().enumerate() {
        let drained = drain(stream, *since, *since + DROP_TIMEOUT)?;
        let Some(after) = drained.ending.after() else {
            panic!("netvm kept truncated handshake {index} past {DROP_TIMEOUT:?}");
        };
        if drained.received == agreement {
            assert!(
                after >= HANDSHAKE_TIMEOUT - Duration::from_secs(1),
                "netvm dropped truncated handshake {index} after {after:?}, before its deadline"
            );
            waited_out += 1;
        } else {
            // Refused at the door (no listening socket free): nothing sent.
            assert!(drained.received.is_empty(), "connection {index}: {drained:?}");
        }
    }
    eprintln!(
        "p2p_hostile: {waited_out} of {TRUNCATED_CONNECTIONS} truncated handshakes reached \
         netvm's deadline"
    );
    assert!(
        waited_out >= TRUNCATED_CONNECTIONS / 2,
        "only {waited_out} truncated handshakes got as far as netvm's handshake"
    );
    Ok(())
}

/// Attack 3: connections that agree on `/noise` and then send two Noise
/// frames of 65535 junk bytes. The first passes for the first handshake
/// message (its payload is not authenticated); the second cannot be the
/// third message and fails authentication, so netvm drops the connection
/// well before the handshake deadline.
fn oversized_noise_frames(address: SocketAddr, generator: &mut Generator) -> TestResult {
    let agreement = multistream_opening(noise::PROTOCOL);
    let mut connections = Vec::new();
    for _ in 0..OVERSIZED_FRAME_CONNECTIONS {
        let since = Instant::now();
        let mut stream =
            connect_and_send(address, &multistream_opening(noise::PROTOCOL), CONNECT_TIMEOUT)?;
        for _ in 0..2 {
            send_on(&mut stream, &noise_frame(&generator.bytes(usize::from(u16::MAX))))?;
        }
        connections.push((since, stream));
        std::thread::sleep(PACE);
    }
    let mut rejected = 0;
    for (index, (since, stream)) in connections.iter_mut().enumerate() {
        let drained = drain(stream, *since, *since + DROP_TIMEOUT)?;
        let Some(after) = drained.ending.after() else {
            panic!("netvm kept oversized-frame connection {index} past {DROP_TIMEOUT:?}");
        };
        if drained.received.starts_with(&agreement) {
            // The agreement, then netvm's second handshake message.
            assert!(
                drained.received.len() > agreement.len() + 2,
                "connection {index}: netvm did not answer the first frame: {drained:?}"
            );
            assert!(
                after < HANDSHAKE_TIMEOUT,
                "netvm took {after:?} to drop oversized-frame connection {index}"
            );
            rejected += 1;
        }
    }
    eprintln!("p2p_hostile: {rejected} of {OVERSIZED_FRAME_CONNECTIONS} oversized frames rejected");
    assert!(rejected >= OVERSIZED_FRAME_CONNECTIONS / 2, "only {rejected} frames reached netvm");
    Ok(())
}

/// Attack 3, continued: multistream-select messages over the 140-byte
/// limit, as the first message or as the proposal after a good header.
/// netvm drops each at once, well before the handshake deadline.
fn oversized_multistream_messages(address: SocketAddr) -> TestResult {
    let mut connections = Vec::new();
    for index in 0..OVERSIZED_MULTISTREAM_CONNECTIONS {
        let mut bytes = if index % 2 == 0 { Vec::new() } else { multistream_header() };
        bytes.extend_from_slice(&oversized_multistream_message(100 + 200 * index));
        let since = Instant::now();
        connections.push((since, connect_and_send(address, &bytes, CONNECT_TIMEOUT)?));
        std::thread::sleep(PACE);
    }
    for (index, (since, stream)) in connections.iter_mut().enumerate() {
        let drained = drain(stream, *since, *since + DROP_TIMEOUT)?;
        let after = drained.ending.after();
        assert!(
            after.is_some_and(|after| after < HANDSHAKE_TIMEOUT),
            "netvm took {after:?} to drop oversized multistream message {index}"
        );
    }
    Ok(())
}

/// Attack 4, first: twice as many stalled connections as netvm's limit,
/// opened one after the other, each sending the opening for `/noise` and
/// then nothing. netvm answers as many as its limit leaves room for beside
/// the legitimate peer's connection, and refuses the rest at once.
fn connection_limit(address: SocketAddr) -> TestResult {
    let agreement = multistream_opening(noise::PROTOCOL);
    let mut connections = Vec::new();
    for _ in 0..2 * CONNECTIONS_MAX {
        connections.push(connect_and_send(address, &agreement, CONNECT_TIMEOUT)?);
        std::thread::sleep(PACE);
    }
    // Collect the answers for a while, well within the handshake deadline.
    let mut received = vec![Vec::new(); connections.len()];
    let mut refused = 0;
    let until = Instant::now() + Duration::from_secs(2);
    let mut buffer = [0u8; 256];
    for (stream, bytes) in connections.iter_mut().zip(&mut received) {
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            match read_some(stream, &mut buffer, wait.min(READ_SLICE))? {
                ReadOutcome::Data(count) => bytes.extend_from_slice(&buffer[..count]),
                ReadOutcome::Nothing if wait.is_zero() => break,
                ReadOutcome::Nothing => {}
                ReadOutcome::Closed | ReadOutcome::Reset => {
                    refused += 1;
                    break;
                }
            }
            if *bytes == agreement {
                break;
            }
        }
    }
    let answered = received.iter().filter(|bytes| **bytes == agreement).count();
    eprintln!(
        "p2p_hostile: of {} stalled connections netvm answered {answered} and refused {refused}",
        connections.len()
    );
    assert!(
        answered < CONNECTIONS_MAX,
        "netvm took {answered} connections beside the legitimate one, over its limit of \
         {CONNECTIONS_MAX}"
    );
    assert!(
        answered >= CONNECTIONS_MAX / 2,
        "netvm took only {answered} of {} connections while it had room for {}",
        connections.len(),
        CONNECTIONS_MAX - 1
    );
    assert!(refused > 0, "netvm refused none of {} connections", connections.len());
    Ok(())
}

/// Attack 4: a thousand connections opened at once that never send a byte.
/// QEMU accepts them on the host and connects each to netvm, which takes
/// what its connection limit allows, refuses the rest and drops the ones
/// it took at its handshake deadline. The legitimate peer keeps getting
/// pings meanwhile, and once the flood is over netvm takes connections
/// again.
fn half_open_flood(address: SocketAddr, legitimate: &Legitimate, clock: &Clock) -> TestResult {
    let since = Instant::now();
    let results: Vec<Option<TcpStream>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..HALF_OPEN_CONNECTIONS)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(HALF_OPEN_STACK)
                    .spawn_scoped(scope, move || {
                        TcpStream::connect_timeout(&address, HALF_OPEN_CONNECT_TIMEOUT).ok()
                    })
                    .expect("the host can start a thread")
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("a connecting thread")).collect()
    });
    let mut streams: Vec<TcpStream> = results.into_iter().flatten().collect();
    clock.mark(&format!(
        "{} of {HALF_OPEN_CONNECTIONS} half-open connections opened in {:.1} s",
        streams.len(),
        since.elapsed().as_secs_f64()
    ));
    assert!(
        streams.len() >= HALF_OPEN_CONNECTIONS / 2,
        "QEMU's port forward took only {} connections",
        streams.len()
    );

    // The flood is held past netvm's handshake deadline, so it drops the
    // connections it took and takes others; the legitimate peer is pinged
    // all the while.
    let held = Instant::now();
    while held.elapsed() < HANDSHAKE_TIMEOUT + Duration::from_secs(2) {
        legitimate.pings("during the half-open flood")?;
        let mut open = 0;
        for stream in &mut streams {
            open += usize::from(is_open(stream)?);
        }
        clock.mark(&format!("{open} half-open connections open"));
        std::thread::sleep(Duration::from_secs(2));
    }
    drop(streams);

    // Once they are gone, netvm answers a new connection again. (QEMU
    // may still be retrying openings of the flood that netvm's full queues
    // dropped; those it takes and drops one by one.)
    let recovered = Instant::now();
    let deadline = recovered + RECOVERY_TIMEOUT;
    let agreement = multistream_opening(noise::PROTOCOL);
    loop {
        let attempt = Instant::now();
        let mut stream = connect_and_send(address, &agreement, CONNECT_TIMEOUT)?;
        let mut received = Vec::new();
        let mut buffer = [0u8; 256];
        while received.len() < agreement.len() && attempt.elapsed() < Duration::from_secs(2) {
            match read_some(&mut stream, &mut buffer, READ_SLICE)? {
                ReadOutcome::Data(count) => received.extend_from_slice(&buffer[..count]),
                ReadOutcome::Nothing => {}
                ReadOutcome::Closed | ReadOutcome::Reset => break,
            }
        }
        if received == agreement {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "netvm answered no new connection within {RECOVERY_TIMEOUT:?} of the flood's end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    clock.mark(&format!(
        "netvm answers new connections {:.1} s after the flood ended",
        recovered.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Attack 5: a peer that completes the handshake properly, then opens
/// streams without end, each proposing ping, and never closes them. netvm
/// takes streams up to its limit, resets the rest, and keeps answering on
/// the connection. Returns the flooder, still connected with its streams
/// open, for the checks that follow.
fn stream_flood(
    address: SocketAddr,
    generator: &mut Generator,
    qemu: &Qemu,
    netvm_id: &str,
    legitimate: &Legitimate,
    clock: &Clock,
) -> TestResult<StreamFlooder> {
    let mut flooder = StreamFlooder::connect(address, generator, STEP_TIMEOUT)?;
    assert_eq!(flooder.remote.to_string(), netvm_id, "the flooder reached another peer");
    let client = flooder.local.to_string();
    qemu.wait_for_source(
        "netvm",
        &format!("p2p: connected to {client} (accepted"),
        1,
        STEP_TIMEOUT,
    )?;
    clock.mark(&format!("the flooder {client} is connected"));

    // A stream whose first multistream message is over the limit is reset.
    let refused = flooder.open_stream_with(
        &{
            let mut bytes = multistream_header();
            bytes.extend_from_slice(&oversized_multistream_message(1000));
            bytes
        },
        ping::PROTOCOL,
    )?;
    flooder.settle(STEP_TIMEOUT)?;
    assert!(flooder.refused.contains(&refused), "netvm did not reset an oversized proposal");

    let tally = flooder.flood(FLOOD_STREAMS, ping::PROTOCOL, STEP_TIMEOUT)?;
    clock.mark(&format!("stream flood: {tally:?}"));
    assert_eq!(tally.unanswered, 0, "netvm left streams unanswered: {tally:?}");
    // The limit counts both directions, and netvm's own identify and ping
    // streams (which the flooder resets) may hold two places for a while.
    assert!(
        (STREAMS_MAX - 2..=STREAMS_MAX).contains(&tally.agreed),
        "netvm kept {} streams, where its limit is {STREAMS_MAX}: {tally:?}",
        tally.agreed
    );
    assert_eq!(tally.agreed + tally.refused, tally.opened, "{tally:?}");
    assert_eq!(tally.reset_after_agreement, 0, "netvm reset streams it had agreed to: {tally:?}");
    assert_eq!(flooder.go_away, None, "netvm sent go away: {tally:?}");

    // The connection still works: netvm answers a yamux ping on it, and
    // the legitimate peer is still pinged.
    let round_trip = flooder.ping(STEP_TIMEOUT)?;
    clock.mark(&format!("netvm answered the flooder's ping in {round_trip:?}"));
    legitimate.pings("with the flooder's streams open")?;
    // Another round of streams while it holds the first: all refused.
    let again = flooder.flood(FLOOD_STREAMS / 4, ping::PROTOCOL, STEP_TIMEOUT)?;
    assert_eq!(again.agreed, tally.agreed, "netvm took more streams past its limit: {again:?}");
    assert_eq!(again.refused, tally.refused + FLOOD_STREAMS / 4, "{again:?}");
    Ok(flooder)
}

/// What became of the streams a [`StreamFlooder`] opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StreamTally {
    /// Streams opened.
    opened: usize,
    /// Streams netvm agreed to; they stay open.
    agreed: usize,
    /// Streams netvm reset before agreeing.
    refused: usize,
    /// Streams still waiting for netvm's answer.
    unanswered: usize,
    /// Streams netvm reset after it had agreed to them.
    reset_after_agreement: usize,
    /// Streams netvm opened towards the client, which the client reset.
    remote_streams_reset: usize,
}

/// A libp2p client made of `elastos-p2p`'s parts: multistream-select for
/// `/noise`, a Noise handshake as initiator with an identity of its own,
/// multistream-select for `/yamux/1.0.0` inside the encrypted channel, and
/// a yamux session in client mode, over a blocking TCP stream.
struct StreamFlooder {
    socket: TcpStream,
    transport: Transport,
    session: Session,
    /// netvm, as the handshake authenticated it.
    remote: PeerId,
    /// This client.
    local: PeerId,
    /// Ciphertext received and not yet decrypted.
    raw_input: Vec<u8>,
    /// Plaintext decrypted and not yet taken by yamux.
    plain_input: Vec<u8>,
    /// Streams waiting for netvm's answer, with their negotiation and what
    /// arrived on them.
    waiting: BTreeMap<StreamId, (Dialer, Vec<u8>)>,
    /// Streams netvm agreed to.
    agreed: BTreeSet<StreamId>,
    /// Streams netvm reset before agreeing.
    refused: BTreeSet<StreamId>,
    /// Streams opened.
    opened: usize,
    /// Streams netvm reset after it had agreed to them.
    reset_after_agreement: usize,
    /// Streams netvm opened towards the client, which the client reset.
    remote_streams_reset: usize,
    /// Values of the yamux pongs received.
    pongs: Vec<u32>,
    /// netvm's go away code, if it sent one.
    go_away: Option<u32>,
}

/// A protocol error of the flooder's own side, as a [`HostileError`].
fn protocol_error(layer: &'static str, error: impl std::fmt::Display) -> HostileError {
    HostileError::Protocol { layer, message: error.to_string() }
}

impl StreamFlooder {
    /// Connects to `address` and completes the libp2p upgrade within
    /// `timeout`, with an identity and Noise secrets from `generator`.
    fn connect(
        address: SocketAddr,
        generator: &mut Generator,
        timeout: Duration,
    ) -> Result<Self, HostileError> {
        let deadline = Instant::now() + timeout;
        let keypair = Keypair::from_secret(generator.secret());
        let local = keypair.public().peer_id();
        let mut opening = Vec::new();
        let mut dialer = Dialer::new(&[noise::PROTOCOL], &mut opening);
        let mut socket = connect_and_send(address, &opening, timeout)?;
        let mut raw_input = Vec::new();

        // multistream-select for /noise, in the clear.
        exchange(&mut socket, &mut raw_input, deadline, "agreeing on /noise", |input, output| {
            dialer.receive(input, output).map_err(|error| protocol_error("multistream", error))
        })?;

        // Noise XX as initiator: the first message now, the third once the
        // second arrived.
        let mut handshake =
            Handshake::new(Role::Initiator, &keypair, generator.secret(), generator.secret());
        let mut first = Vec::new();
        handshake.start(&mut first);
        send_on(&mut socket, &first)?;
        exchange(&mut socket, &mut raw_input, deadline, "the noise handshake", |input, output| {
            match handshake.receive(input, output) {
                Ok(Progress::Done) => Ok(Some(0)),
                Ok(Progress::Pending) => Ok(None),
                Err(error) => Err(protocol_error("noise", error)),
            }
        })?;
        let (mut transport, remote_key) =
            handshake.finish().map_err(|error| protocol_error("noise", error))?;

        // multistream-select for yamux, encrypted.
        let mut plain = Vec::new();
        let mut dialer = Dialer::new(&[yamux::PROTOCOL], &mut plain);
        let mut ciphertext = Vec::new();
        transport
            .encrypt(&plain, &mut ciphertext)
            .map_err(|error| protocol_error("noise", error))?;
        send_on(&mut socket, &ciphertext)?;
        let mut plain_input = Vec::new();
        exchange(&mut socket, &mut raw_input, deadline, "agreeing on yamux", |input, _| {
            transport
                .decrypt(input, &mut plain_input)
                .map_err(|error| protocol_error("noise", error))?;
            let mut proposals = Vec::new();
            dialer
                .receive(&mut plain_input, &mut proposals)
                .map_err(|error| protocol_error("multistream", error))
        })?;

        let config = yamux::Config { max_streams: usize::MAX, ..yamux::Config::default() };
        let mut flooder = Self {
            socket,
            transport,
            session: Session::new(Mode::Client, config),
            remote: remote_key.peer_id(),
            local,
            raw_input,
            plain_input,
            waiting: BTreeMap::new(),
            agreed: BTreeSet::new(),
            refused: BTreeSet::new(),
            opened: 0,
            reset_after_agreement: 0,
            remote_streams_reset: 0,
            pongs: Vec::new(),
            go_away: None,
        };
        // What netvm sent after agreeing (its identify and ping streams) is
        // yamux's.
        flooder.take_input()?;
        Ok(flooder)
    }

    /// What became of every stream opened so far.
    fn tally(&self) -> StreamTally {
        StreamTally {
            opened: self.opened,
            agreed: self.agreed.len(),
            refused: self.refused.len(),
            unanswered: self.waiting.len(),
            reset_after_agreement: self.reset_after_agreement,
            remote_streams_reset: self.remote_streams_reset,
        }
    }

    /// Opens a stream and sends `bytes` on it (the SYN rides on them);
    /// netvm's answer is followed as a negotiation of `protocol`.
    fn open_stream_with(
        &mut self,
        bytes: &[u8],
        protocol: &'static str,
    ) -> Result<StreamId, HostileError> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let id = loop {
            match self.session.open() {
                Ok(id) => break id,
                // Too many of our openings wait for netvm's answer: let it
                // catch up.
                Err(YamuxError::AcknowledgeBacklog) if Instant::now() < deadline => {
                    self.flush()?;
                    self.pump(READ_SLICE)?;
                }
                Err(error) => return Err(protocol_error("yamux", error)),
            }
        };
        let written =
            self.session.write(id, bytes).map_err(|error| protocol_error("yamux", error))?;
        // A new stream's window is 256 KiB; these openings are far smaller.
        assert_eq!(written, bytes.len(), "yamux took only part of an opening");
        let mut scratch = Vec::new();
        self.waiting.insert(id, (Dialer::new(&[protocol], &mut scratch), Vec::new()));
        self.opened += 1;
        Ok(id)
    }

    /// Opens `count` streams, each proposing `protocol`, never closing
    /// them, then waits up to `timeout` until netvm answered every one.
    /// Returns the tally of all streams opened so far.
    fn flood(
        &mut self,
        count: usize,
        protocol: &'static str,
        timeout: Duration,
    ) -> Result<StreamTally, HostileError> {
        let opening = multistream_opening(protocol);
        for index in 0..count {
            self.open_stream_with(&opening, protocol)?;
            if index % 16 == 15 {
                self.flush()?;
                self.pump(Duration::ZERO)?;
            }
        }
        self.settle(timeout)?;
        Ok(self.tally())
    }

    /// Sends what is queued and waits up to `timeout` until no stream
    /// waits for netvm's answer.
    fn settle(&mut self, timeout: Duration) -> Result<(), HostileError> {
        let deadline = Instant::now() + timeout;
        self.flush()?;
        while !self.waiting.is_empty() && Instant::now() < deadline {
            self.pump(READ_SLICE)?;
        }
        Ok(())
    }

    /// Sends a yamux ping and waits up to `timeout` for netvm's pong;
    /// returns the round trip.
    fn ping(&mut self, timeout: Duration) -> Result<Duration, HostileError> {
        let started = Instant::now();
        let opaque = 0x5a5a_0000 | self.pongs.len() as u32;
        self.session.ping(opaque);
        self.flush()?;
        while !self.pongs.contains(&opaque) {
            if started.elapsed() >= timeout {
                return Err(HostileError::Timeout { what: "answering a yamux ping", timeout });
            }
            self.pump(READ_SLICE)?;
        }
        Ok(started.elapsed())
    }

    /// Reads and handles what netvm sends for up to `wait` (once, without
    /// waiting, when `wait` is zero).
    fn pump(&mut self, wait: Duration) -> Result<(), HostileError> {
        let deadline = Instant::now() + wait;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).min(READ_SLICE);
            match read_some(&mut self.socket, &mut buffer, left)? {
                ReadOutcome::Data(count) => {
                    self.raw_input.extend_from_slice(&buffer[..count]);
                    self.take_input()?;
                    // Keep reading while bytes come.
                    continue;
                }
                ReadOutcome::Nothing => {}
                ReadOutcome::Closed | ReadOutcome::Reset => {
                    return Err(HostileError::Closed("flooding it with streams"));
                }
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// Decrypts what arrived, hands it to yamux and handles its events.
    fn take_input(&mut self) -> Result<(), HostileError> {
        self.transport
            .decrypt(&mut self.raw_input, &mut self.plain_input)
            .map_err(|error| protocol_error("noise", error))?;
        self.session
            .receive(&mut self.plain_input)
            .map_err(|error| protocol_error("yamux", error))?;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Opened(id) => {
                    // netvm's identify and ping streams: refused.
                    self.session.reset(id);
                    self.remote_streams_reset += 1;
                }
                Event::Data(id) | Event::Finished(id) => self.read_stream(id)?,
                Event::Reset(id) => {
                    if self.waiting.remove(&id).is_some() {
                        self.refused.insert(id);
                    } else if self.agreed.remove(&id) {
                        self.reset_after_agreement += 1;
                    }
                }
                Event::GoAway(code) => self.go_away = Some(code),
                Event::Pong(opaque) => self.pongs.push(opaque),
            }
        }
        self.flush()
    }

    /// Takes what arrived on stream `id` and follows its negotiation.
    fn read_stream(&mut self, id: StreamId) -> Result<(), HostileError> {
        let mut data = Vec::new();
        self.session.read(id, &mut data, usize::MAX);
        // An agreed stream: netvm has nothing more to say on it.
        let Some((dialer, input)) = self.waiting.get_mut(&id) else { return Ok(()) };
        input.extend_from_slice(&data);
        let mut proposals = Vec::new();
        let agreed = dialer
            .receive(input, &mut proposals)
            .map_err(|error| protocol_error("multistream", error))?;
        if agreed.is_some() {
            self.waiting.remove(&id);
            self.agreed.insert(id);
        }
        Ok(())
    }

    /// Encrypts and sends what yamux has queued.
    fn flush(&mut self) -> Result<(), HostileError> {
        if !self.session.has_pending_output() {
            return Ok(());
        }
        let mut plain = Vec::new();
        self.session.transmit(&mut plain);
        let mut ciphertext = Vec::new();
        self.transport
            .encrypt(&plain, &mut ciphertext)
            .map_err(|error| protocol_error("noise", error))?;
        self.socket.write_all(&ciphertext).map_err(|source| {
            if is_reset(&source) {
                HostileError::Closed("sending its streams")
            } else {
                io_error("send to netvm")(source)
            }
        })
    }
}

/// Reads from `socket` into `input` until `step` is done with it, sending
/// what `step` appends to its output on the way; fails at `deadline`.
fn exchange<T>(
    socket: &mut TcpStream,
    input: &mut Vec<u8>,
    deadline: Instant,
    what: &'static str,
    mut step: impl FnMut(&mut Vec<u8>, &mut Vec<u8>) -> Result<Option<T>, HostileError>,
) -> Result<T, HostileError> {
    let started = Instant::now();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let mut output = Vec::new();
        let result = step(input, &mut output)?;
        send_on(socket, &output)?;
        if let Some(value) = result {
            return Ok(value);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HostileError::Timeout { what, timeout: started.elapsed() });
        }
        match read_some(socket, &mut buffer, left.min(READ_SLICE))? {
            ReadOutcome::Data(count) => input.extend_from_slice(&buffer[..count]),
            ReadOutcome::Nothing => {}
            ReadOutcome::Closed | ReadOutcome::Reset => return Err(HostileError::Closed(what)),
        }
    }
}

#[test]
fn the_numbers_of_a_summary_are_read() {
    let summary = "p2p: 116 more connections dropped and 0 more streams refused (136 handshakes \
                   failed, 0 protocol errors, 1 streams refused so far)";
    assert_eq!(number_before(summary, "streams refused so far"), Some(1));
    assert_eq!(number_before(summary, "handshakes failed"), Some(136));
    assert_eq!(number_before(summary, "more connections"), Some(116));
    assert_eq!(number_before(summary, "bytes"), None);
}
