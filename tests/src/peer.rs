//! The host libp2p peer (`tools/p2p-peer`, built on rust-libp2p) as the
//! interop tests drive it: started with arguments, commanded on its
//! standard input, and read line by line from its standard output; and the
//! small pieces those tests share besides: a free loopback port for QEMU's
//! port forward, and netvm's PeerId from its console.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The environment variable with the peer program's path (`cargo xtask test`
/// sets it).
pub const PEER_VARIABLE: &str = "ELASTOS_P2P_PEER";

/// Why the peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The program's path is not set.
    #[error("{PEER_VARIABLE} is not set: run the tests with `cargo xtask test`")]
    MissingVariable,
    /// The program could not be started or written to.
    #[error("the host peer: {0}")]
    Io(#[from] std::io::Error),
    /// A line did not come in time.
    #[error("the host peer printed no line with {wanted:?} in {timeout:?}; it printed:\n{output}")]
    Timeout {
        /// What was waited for.
        wanted: String,
        /// How long.
        timeout: Duration,
        /// Everything it printed.
        output: String,
    },
}

/// Lines printed so far, and a signal for new ones.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

/// A running host peer; killed when dropped.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Output>,
}

impl Peer {
    /// Starts the peer with `arguments`.
    pub fn start(arguments: &[String]) -> Result<Self, PeerError> {
        let program: PathBuf =
            std::env::var_os(PEER_VARIABLE).map(PathBuf::from).ok_or(PeerError::MissingVariable)?;
        Self::spawn(Command::new(program).args(arguments))
    }

    /// Starts `command` with its standard input and output piped, and
    /// gathers what it prints.
    fn spawn(command: &mut Command) -> Result<Self, PeerError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let output = Arc::new(Output::default());
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[host-peer] {line}");
                sink.lines.lock().expect("not poisoned").push(line);
                sink.changed.notify_all();
            }
        });
        Ok(Self { child, stdin, output })
    }

    /// Starts the peer listening on loopback with the identity of
    /// `key_seed`, pinging its peers every `ping_interval`, and waits up to
    /// `timeout` for it to say who it is and where it listens. Returns it,
    /// its PeerId and its port.
    pub fn start_listening(
        key_seed: u64,
        ping_interval: Duration,
        timeout: Duration,
    ) -> Result<(Self, String, u16), PeerError> {
        let peer = Self::start(&[
            "--listen".into(),
            "/ip4/127.0.0.1/tcp/0".into(),
            "--key-seed".into(),
            key_seed.to_string(),
            "--ping-interval-ms".into(),
            ping_interval.as_millis().to_string(),
        ])?;
        let line = peer.wait_for_event("peer-id", &[], timeout)?;
        let id = line.split(' ').nth(1).expect("`peer-id ID`").to_string();
        let listening = peer.wait_for_event("listening", &[], timeout)?;
        let port = listening
            .split('/')
            .skip_while(|part| *part != "tcp")
            .nth(1)
            .and_then(|port| port.parse().ok())
            .expect("`listening /ip4/127.0.0.1/tcp/PORT/p2p/ID`");
        Ok((peer, id, port))
    }

    /// Sends one command line.
    pub fn command(&mut self, line: &str) -> Result<(), PeerError> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.output.lines.lock().expect("not poisoned").clone()
    }

    /// How many lines so far start with `word` and hold every one of
    /// `fields`.
    pub fn count_events(&self, word: &str, fields: &[&str]) -> usize {
        matching_events(&self.output.lines.lock().expect("not poisoned"), word, fields)
    }

    /// Waits for a line that starts with `word` and holds every one of
    /// `fields` (`key=value` texts); returns it.
    pub fn wait_for_event(
        &self,
        word: &str,
        fields: &[&str],
        timeout: Duration,
    ) -> Result<String, PeerError> {
        self.wait_for_events(word, fields, 1, timeout)
    }

    /// Waits for the `count`th line that starts with `word` and holds every
    /// one of `fields`; returns it.
    pub fn wait_for_events(
        &self,
        word: &str,
        fields: &[&str],
        count: usize,
        timeout: Duration,
    ) -> Result<String, PeerError> {
        let description = format!("line {count} of `{word} {}`", fields.join(" "));
        self.wait_until(description, timeout, |lines| {
            lines.iter().filter(|line| is_event(line, word, fields)).nth(count - 1).cloned()
        })
    }

    /// Waits until more than `seen` lines start with `word` and hold
    /// `fields`; returns the newest of them.
    pub fn wait_for_new_event(
        &self,
        word: &str,
        fields: &[&str],
        seen: usize,
        timeout: Duration,
    ) -> Result<String, PeerError> {
        let description = format!("a new `{word} {}` after {seen} of them", fields.join(" "));
        self.wait_until(description, timeout, |lines| {
            let mut matching = lines.iter().filter(|line| is_event(line, word, fields));
            let first_new = matching.nth(seen)?;
            Some(matching.next_back().unwrap_or(first_new).clone())
        })
    }

    /// Waits until `found` returns a line from the lines printed so far;
    /// returns it, or the timeout with everything printed.
    fn wait_until(
        &self,
        description: String,
        timeout: Duration,
        found: impl Fn(&[String]) -> Option<String>,
    ) -> Result<String, PeerError> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.output.lines.lock().expect("not poisoned");
        loop {
            if let Some(line) = found(&lines) {
                return Ok(line);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PeerError::Timeout {
                    wanted: description,
                    timeout,
                    output: lines.join("\n"),
                });
            }
            lines =
                self.output.changed.wait_timeout(lines, deadline - now).expect("not poisoned").0;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=` in an event line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ').find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// Whether `line` starts with `word` and holds every one of `fields`
/// (`key=value` texts), as the waits of [`Peer`] match its lines.
pub fn is_event(line: &str, word: &str, fields: &[&str]) -> bool {
    line.split(' ').next() == Some(word)
        && fields.iter().all(|field| line.split(' ').skip(1).any(|part| part == *field))
}

/// How many of `lines` start with `word` and hold every one of `fields`.
pub fn matching_events(lines: &[String], word: &str, fields: &[&str]) -> usize {
    lines.iter().filter(|line| is_event(line, word, fields)).count()
}

/// A TCP port free on the host's loopback interface now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the host has a free port")
}

/// The PeerId netvm prints on `console` (`p2p: PeerId ID`), if it has.
pub fn netvm_peer_id(console: &str) -> Option<String> {
    console
        .lines()
        .find_map(|line| line.split("p2p: PeerId ").nth(1))
        .map(|rest| rest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_matched_by_word_and_fields() {
        let lines: Vec<String> = ["ping peer=A rtt-us=5", "ping peer=B rtt-us=6", "pong peer=A"]
            .iter()
            .map(|line| line.to_string())
            .collect();
        assert_eq!(matching_events(&lines, "ping", &["peer=A"]), 1);
        assert_eq!(matching_events(&lines, "ping", &[]), 2);
        assert_eq!(matching_events(&lines, "ping", &["peer=C"]), 0);
        assert_eq!(matching_events(&lines, "pong", &["peer=A"]), 1);
    }

    #[test]
    fn waits_see_lines_printed_before_and_after_they_start() {
        // A stand-in for the peer: two lines now, then each command echoed.
        let mut peer = Peer::spawn(
            Command::new("sh").args(["-c", "echo ping peer=A n=1; echo ping peer=B; cat"]),
        )
        .expect("sh starts");
        let second = Duration::from_secs(10);
        let first = peer.wait_for_event("ping", &["peer=A"], second).expect("printed");
        assert_eq!(first, "ping peer=A n=1");
        peer.wait_for_event("ping", &["peer=B"], second).expect("printed");
        assert_eq!(peer.count_events("ping", &[]), 2);
        assert_eq!(peer.count_events("ping", &["peer=A"]), 1);

        // A new event is one past those seen; the newest is returned.
        peer.command("ping peer=A n=2").expect("sh reads");
        peer.command("ping peer=A n=3").expect("sh reads");
        let third = peer.wait_for_events("ping", &["peer=A"], 3, second).expect("echoed");
        assert_eq!(third, "ping peer=A n=3");
        let newest = peer.wait_for_new_event("ping", &["peer=A"], 1, second).expect("echoed");
        assert_eq!(newest, "ping peer=A n=3");

        // Nothing new: the timeout names what was waited for and shows
        // everything printed.
        let error = peer
            .wait_for_new_event("ping", &["peer=A"], 3, Duration::from_millis(100))
            .expect_err("no fourth ping");
        let message = error.to_string();
        assert!(message.contains("a new `ping peer=A` after 3 of them"), "{message}");
        assert!(message.contains("ping peer=B\nping peer=A n=2"), "{message}");
    }

    #[test]
    fn fields_and_the_netvm_peer_id_are_read() {
        assert_eq!(field("ping peer=A rtt-us=5", "rtt-us"), Some("5"));
        assert_eq!(field("ping peer=A rtt-us=5", "rtt"), None);
        let console = "[netvm] p2p: starting\n[netvm] p2p: PeerId 12D3KooWAbc \n[netvm] more\n";
        assert_eq!(netvm_peer_id(console).as_deref(), Some("12D3KooWAbc"));
        assert_eq!(netvm_peer_id("[netvm] p2p: starting\n"), None);
    }
}
