//! The host libp2p peer (`tools/p2p-peer`, built on rust-libp2p) as the
//! interop tests drive it: started with arguments, commanded on its
//! standard input, and read line by line from its standard output.

use std::io::{BufRead, BufReader, Write};
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
        let mut child = Command::new(program)
            .args(arguments)
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

    /// Waits for a line for which `wanted` holds; returns it.
    pub fn wait_for(
        &self,
        description: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, PeerError> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.output.lines.lock().expect("not poisoned");
        loop {
            if let Some(line) = lines.iter().find(|line| wanted(line)) {
                return Ok(line.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PeerError::Timeout {
                    wanted: description.into(),
                    timeout,
                    output: lines.join("\n"),
                });
            }
            lines =
                self.output.changed.wait_timeout(lines, deadline - now).expect("not poisoned").0;
        }
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
        let matches = |line: &str| {
            line.split(' ').next() == Some(word)
                && fields.iter().all(|field| line.split(' ').skip(1).any(|part| part == *field))
        };
        let description = format!("line {count} of `{word} {}`", fields.join(" "));
        let deadline = Instant::now() + timeout;
        let mut lines = self.output.lines.lock().expect("not poisoned");
        loop {
            if let Some(line) = lines.iter().filter(|line| matches(line)).nth(count - 1) {
                return Ok(line.clone());
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
