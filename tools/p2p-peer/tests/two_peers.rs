//! Runs two `p2p-peer` programs joined over loopback TCP and checks, from what they print,
//! that identify, ping and Elastos messages work between them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for any one expected line.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One running `p2p-peer` program.
struct Peer {
    /// What it is called in failure messages.
    label: &'static str,
    /// The process.
    child: Child,
    /// Its standard input, `None` once closed.
    stdin: Option<ChildStdin>,
    /// Its standard output, line by line.
    lines: Receiver<String>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl Peer {
    /// Starts the program with `arguments`.
    fn start(label: &'static str, arguments: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_p2p-peer"))
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the p2p-peer program starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        let (sender, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { label, child, stdin, lines, seen: Vec::new() }
    }

    /// Reads lines until one starts with `event` and its fields satisfy `matches`; returns
    /// that line's fields. Panics, showing everything read, if none comes in time.
    fn expect(
        &mut self,
        event: &str,
        matches: impl Fn(&HashMap<String, String>) -> bool,
    ) -> HashMap<String, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let (first, fields) = parse_line(&line);
                    if first == event && matches(&fields) {
                        return fields;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {event:?} line in time; saw:\n{}",
                        self.label,
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: output ended before {event:?}; saw:\n{}",
                        self.label,
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// The first word after `event` on the next line starting with `event`.
    fn expect_word(&mut self, event: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        while let Ok(line) =
            self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if let Some(rest) = line.strip_prefix(event).and_then(|rest| rest.strip_prefix(' ')) {
                return rest.to_owned();
            }
        }
        panic!("{}: no {event:?} line in time; saw:\n{}", self.label, self.seen.join("\n"))
    }

    /// Writes one command line.
    fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the program reads its stdin");
        stdin.flush().expect("the program reads its stdin");
    }

    /// Closes standard input and waits for the program to exit.
    fn finish(&mut self) -> ExitStatus {
        self.stdin = None;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(Instant::now() < deadline, "{}: did not exit in time", self.label);
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The program may have exited already, in which case there is nothing to stop.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Splits an output line into its first word and its `key=value` fields.
fn parse_line(line: &str) -> (String, HashMap<String, String>) {
    let mut words = line.split(' ');
    let first = words.next().unwrap_or_default().to_owned();
    let fields = words
        .filter_map(|word| word.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    (first, fields)
}

/// The value of `key` in `fields`, or the empty string.
fn field<'fields>(fields: &'fields HashMap<String, String>, key: &str) -> &'fields str {
    fields.get(key).map_or("", String::as_str)
}

/// Starts a listening peer (`--name host`) and a dialing peer (`--name other`) and waits
/// for both to identify each other: returns them with their peer ids.
fn joined_peers() -> (Peer, String, Peer, String) {
    let mut listener = Peer::start(
        "listener",
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--key-seed", "1", "--ping-interval-ms", "200"],
    );
    let listener_id = listener.expect_word("peer-id");
    let address = listener.expect_word("listening");
    assert!(address.starts_with("/ip4/127.0.0.1/tcp/"), "listening on {address}");
    assert!(address.ends_with(&format!("/p2p/{listener_id}")), "listening on {address}");

    let mut dialer = Peer::start(
        "dialer",
        &[
            "--dial",
            &address,
            "--name",
            "other",
            "--ping-interval-ms",
            "200",
            "--agent",
            "test-agent",
        ],
    );
    let dialer_id = dialer.expect_word("peer-id");
    assert_ne!(listener_id, dialer_id);

    let connected = dialer.expect("connected", |fields| field(fields, "peer") == listener_id);
    assert_eq!(field(&connected, "endpoint"), "dialer");
    let connected = listener.expect("connected", |fields| field(fields, "peer") == dialer_id);
    assert_eq!(field(&connected, "endpoint"), "listener");
    assert!(field(&connected, "address").starts_with("/ip4/127.0.0.1/tcp/"));
    (listener, listener_id, dialer, dialer_id)
}

#[test]
fn peers_identify_and_ping_each_other() {
    let (mut listener, listener_id, mut dialer, dialer_id) = joined_peers();

    let identified = dialer.expect("identified", |fields| field(fields, "peer") == listener_id);
    assert_eq!(field(&identified, "protocol-version"), "/elastos/1.0.0");
    assert_eq!(field(&identified, "agent"), concat!("p2p-peer/", env!("CARGO_PKG_VERSION")));
    let protocols: Vec<&str> = field(&identified, "protocols").split(',').collect();
    for protocol in ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/elastos/msg/1.0.0"] {
        assert!(protocols.contains(&protocol), "{protocol} missing from {protocols:?}");
    }
    assert!(field(&identified, "listen").starts_with("/ip4/127.0.0.1/tcp/"));
    assert!(field(&identified, "observed").starts_with("/ip4/127.0.0.1/tcp/"));

    let identified = listener.expect("identified", |fields| field(fields, "peer") == dialer_id);
    assert_eq!(field(&identified, "protocol-version"), "/elastos/1.0.0");
    assert_eq!(field(&identified, "agent"), "test-agent");

    for peer in [(&mut dialer, &listener_id), (&mut listener, &dialer_id)] {
        let (program, other) = peer;
        let ping = program.expect("ping", |fields| field(fields, "peer") == other.as_str());
        let rtt: u64 = field(&ping, "rtt-us").parse().expect("rtt-us is a number");
        assert!(rtt < 5_000_000, "round trip of {rtt} microseconds on loopback");
    }

    listener.command("quit");
    assert!(listener.finish().success());
    let closed = dialer.expect("closed", |fields| field(fields, "peer") == listener_id);
    assert!(!field(&closed, "cause").is_empty());
    assert!(dialer.finish().success(), "the end of stdin exits with status 0");
}

#[test]
fn messages_are_delivered_or_refused() {
    let (mut listener, listener_id, mut dialer, dialer_id) = joined_peers();

    dialer.command(&format!("send {listener_id} host hello"));
    let message = listener.expect("message", |fields| field(fields, "peer") == dialer_id);
    assert_eq!(field(&message, "id"), "1");
    assert_eq!(field(&message, "sender"), "other");
    assert_eq!(field(&message, "recipient"), "host");
    assert_eq!(field(&message, "length"), "5");
    assert_eq!(field(&message, "body"), "hello");
    let receipt = dialer.expect("receipt", |fields| field(fields, "id") == "1");
    assert_eq!(field(&receipt, "peer"), listener_id);
    assert_eq!(field(&receipt, "status"), "delivered");

    dialer.command(&format!("send {listener_id} nobody hi"));
    let receipt = dialer.expect("receipt", |fields| field(fields, "id") == "2");
    assert_eq!(field(&receipt, "status"), "unknown-recipient");
    let refused = listener.expect("refused", |fields| field(fields, "id") == "2");
    assert_eq!(field(&refused, "recipient"), "nobody");
    assert_eq!(field(&refused, "status"), "unknown-recipient");

    // Text with spaces reaches the other side whole, and prints as hex.
    dialer.command(&format!("send {listener_id} host hi there"));
    let message = listener.expect("message", |fields| field(fields, "id") == "3");
    assert_eq!(field(&message, "length"), "8");
    assert_eq!(field(&message, "body"), "hex=6869207468657265");
    dialer.expect("receipt", |fields| {
        field(fields, "id") == "3" && field(fields, "status") == "delivered"
    });

    // Messages the other way, to the dialer's name.
    listener.command(&format!("send {dialer_id} other back"));
    let message = dialer.expect("message", |fields| field(fields, "body") == "back");
    assert_eq!(field(&message, "sender"), "host");
    listener.expect("receipt", |fields| field(fields, "status") == "delivered");

    // A body over the limit is refused before sending.
    dialer.command(&format!("send {listener_id} host {}", "x".repeat(4001)));
    dialer.expect("error", |_| true);

    // A batch: every receipt is in before the summary.
    dialer.command(&format!("send-many {listener_id} host 1000 40 8"));
    let sent = dialer.expect("sent", |_| true);
    assert_eq!(field(&sent, "peer"), listener_id);
    assert_eq!(field(&sent, "count"), "40");
    assert_eq!(field(&sent, "bytes"), "40000");
    assert_eq!(field(&sent, "receipts-delivered"), "40");
    let elapsed: u64 = field(&sent, "elapsed-us").parse().expect("elapsed-us is a number");
    assert!(elapsed > 0);
    let mut bodies = 0;
    while bodies < 40 {
        let message = listener.expect("message", |fields| field(fields, "length") == "1000");
        assert!(field(&message, "body").starts_with("abcdefghijklmnopqrstuvwxyzabc"));
        bodies += 1;
    }

    // A batch to an unknown recipient counts no deliveries.
    dialer.command(&format!("send-many {listener_id} nobody 10 5 2"));
    let sent = dialer.expect("sent", |_| true);
    assert_eq!(field(&sent, "count"), "5");
    assert_eq!(field(&sent, "receipts-delivered"), "0");

    dialer.command("not-a-command");
    dialer.expect("error", |_| true);
    dialer.command("quit");
    assert!(dialer.finish().success());
    assert!(listener.finish().success());
}

#[test]
fn command_line_mistakes_exit_with_status_two() {
    let output = Command::new(env!("CARGO_BIN_EXE_p2p-peer"))
        .args(["--listen", "not-an-address"])
        .stdin(Stdio::null())
        .output()
        .expect("the p2p-peer program runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("\"not-an-address\" is not a multiaddr"), "{message}");
    assert!(message.contains("usage: p2p-peer"), "{message}");
}
