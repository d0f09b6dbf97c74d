//! Hostile clients for netvm's libp2p listener, as the robustness tests use
//! them from the host through QEMU's port forward: raw TCP connections that
//! send junk, stop half-way or send oversized frames, the bytes they send
//! (written here by hand, independently of the crate under test), and the
//! waits that tell how netvm answered.
//!
//! Everything here is plain blocking `std::net` with deadlines, so a netvm
//! that stops answering shows as a timeout rather than a hung test.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// How long one blocking read waits before the caller checks its deadline.
pub const READ_SLICE: Duration = Duration::from_millis(50);
/// How long a blocking write may stall before it is an error.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The multistream-select 1.0 header line, without its newline.
const MULTISTREAM_HEADER: &str = "/multistream/1.0.0";

/// Why a hostile client could not do what it set out to do.
#[derive(Error)]
pub enum HostileError {
    /// A socket operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// netvm closed the connection while the client still needed it.
    #[error("netvm closed the connection while the client was {0}")]
    Closed(&'static str),
    /// netvm did not answer in time.
    #[error("netvm did not finish {what} within {timeout:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        timeout: Duration,
    },
    /// A protocol layer failed on the client's side.
    #[error("{layer} with netvm failed: {message}")]
    Protocol {
        /// Which layer: multistream-select, noise or yamux.
        layer: &'static str,
        /// What went wrong there.
        message: String,
    },
}

impl std::fmt::Debug for HostileError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The message already says everything, as the harness's errors do.
        write!(formatter, "{self}")
    }
}

/// A `map_err` for socket calls: names what was being done.
pub fn io_error(action: &'static str) -> impl FnOnce(io::Error) -> HostileError {
    move |source| HostileError::Io { action, source }
}

/// A small xorshift generator for junk bytes, keys and secrets of test
/// clients: they need to differ from run to run, not to be secret.
#[derive(Clone, Debug)]
pub struct Generator {
    state: u64,
}

impl Generator {
    /// A generator started from `seed` (zero is replaced, as xorshift
    /// would stay at zero).
    pub fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed } }
    }

    /// A generator seeded from the clock; the seed is printed so a failing
    /// run can be repeated with [`Generator::new`].
    pub fn from_clock() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64);
        eprintln!("hostile: junk generator seed {seed:#x}");
        Self::new(seed)
    }

    /// The next 64 bits (xorshift64*).
    pub fn next_u64(&mut self) -> u64 {
        let mut state = self.state;
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        self.state = state;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number from `low` to `high` inclusive.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        let span = high.saturating_sub(low) as u64 + 1;
        low + (self.next_u64() % span) as usize
    }

    /// Fills `bytes` with junk.
    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// `length` bytes of junk.
    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        let mut bytes = vec![0; length];
        self.fill(&mut bytes);
        bytes
    }

    /// 32 bytes of junk, for a key or a secret.
    pub fn secret(&mut self) -> [u8; 32] {
        let mut secret = [0; 32];
        self.fill(&mut secret);
        secret
    }
}

/// Appends `value` as an unsigned varint.
fn write_varint(mut value: u64, output: &mut Vec<u8>) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            output.push(low);
            return;
        }
        output.push(low | 0x80);
    }
}

/// One multistream-select message: the varint length, `line` and `\n`.
pub fn multistream_message(line: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    write_varint(line.len() as u64 + 1, &mut output);
    output.extend_from_slice(line);
    output.push(b'\n');
    output
}

/// The multistream-select header message.
pub fn multistream_header() -> Vec<u8> {
    multistream_message(MULTISTREAM_HEADER.as_bytes())
}

/// What a dialer's opening for `protocol` is on the wire: the header and
/// the proposal. A listener that agrees answers with the same two messages.
pub fn multistream_opening(protocol: &str) -> Vec<u8> {
    let mut output = multistream_header();
    output.extend_from_slice(&multistream_message(protocol.as_bytes()));
    output
}

/// A multistream-select message whose line is `length` bytes of `/` and
/// letters (and its newline): longer than any protocol name netvm takes
/// when `length` passes its limit of 140.
pub fn oversized_multistream_message(length: usize) -> Vec<u8> {
    let mut line = vec![b'a'; length];
    if let Some(first) = line.first_mut() {
        *first = b'/';
    }
    multistream_message(&line)
}

/// A Noise frame: the two-byte big-endian length, then `body` (its first
/// 65535 bytes, the most a frame holds).
pub fn noise_frame(body: &[u8]) -> Vec<u8> {
    let length = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let mut output = length.to_be_bytes().to_vec();
    output.extend_from_slice(&body[..usize::from(length)]);
    output
}

/// Opens a TCP connection to `address` within `timeout` and sends `bytes`
/// (a reset while sending is left for the reads to find, as in
/// [`send_on`]).
pub fn connect_and_send(
    address: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> Result<TcpStream, HostileError> {
    let mut stream =
        TcpStream::connect_timeout(&address, timeout).map_err(io_error("connect to netvm"))?;
    stream.set_nodelay(true).map_err(io_error("set TCP_NODELAY"))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(io_error("set a write timeout"))?;
    send_on(&mut stream, bytes)?;
    Ok(stream)
}

/// Sends `bytes` on `stream`; a connection the remote already reset is
/// not an error (it shows when the stream is drained).
pub fn send_on(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), HostileError> {
    match stream.write_all(bytes) {
        Ok(()) => Ok(()),
        Err(error) if is_reset(&error) => Ok(()),
        Err(source) => Err(HostileError::Io { action: "send to netvm", source }),
    }
}

/// Sends `junk` on a new connection to `address` and closes the sending
/// side; what comes back is for [`drain`].
pub fn send_junk_and_close(
    address: SocketAddr,
    junk: &[u8],
    timeout: Duration,
) -> Result<TcpStream, HostileError> {
    let stream = connect_and_send(address, junk, timeout)?;
    match stream.shutdown(Shutdown::Write) {
        Ok(()) => Ok(stream),
        // netvm may have reset it already, having seen enough junk.
        Err(error) if is_reset(&error) || error.kind() == ErrorKind::NotConnected => Ok(stream),
        Err(source) => Err(HostileError::Io { action: "close the sending side", source }),
    }
}

/// What one read brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes.
    Data(usize),
    /// Nothing within the wait.
    Nothing,
    /// The remote closed the connection (FIN).
    Closed,
    /// The remote reset the connection (RST).
    Reset,
}

/// Reads once into `buffer`, waiting up to `wait` (not at all when zero).
pub fn read_some(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    wait: Duration,
) -> Result<ReadOutcome, HostileError> {
    let result = if wait.is_zero() {
        stream.set_nonblocking(true).map_err(io_error("make a socket non-blocking"))?;
        let result = stream.read(buffer);
        stream.set_nonblocking(false).map_err(io_error("make a socket blocking"))?;
        result
    } else {
        stream.set_read_timeout(Some(wait)).map_err(io_error("set a read timeout"))?;
        stream.read(buffer)
    };
    match result {
        Ok(0) => Ok(ReadOutcome::Closed),
        Ok(count) => Ok(ReadOutcome::Data(count)),
        Err(error) if is_timeout(&error) => Ok(ReadOutcome::Nothing),
        Err(error) if is_reset(&error) => Ok(ReadOutcome::Reset),
        Err(source) => Err(HostileError::Io { action: "read from netvm", source }),
    }
}

/// How a connection ended, seen from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The remote closed it (FIN), this long after the start given.
    Closed(Duration),
    /// The remote reset it (RST), this long after the start given.
    Reset(Duration),
    /// It was still open when the deadline passed.
    Open,
}

impl Ending {
    /// When the remote ended it, if it did.
    pub fn after(self) -> Option<Duration> {
        match self {
            Self::Closed(after) | Self::Reset(after) => Some(after),
            Self::Open => None,
        }
    }
}

/// What came back on a connection before it ended.
#[derive(Clone, Debug)]
pub struct Drained {
    /// Every byte the remote sent.
    pub received: Vec<u8>,
    /// How it ended.
    pub ending: Ending,
}

/// Reads and keeps everything `stream` brings until the remote closes or
/// resets it, or until `deadline`; times are measured from `since`.
pub fn drain(
    stream: &mut TcpStream,
    since: Instant,
    deadline: Instant,
) -> Result<Drained, HostileError> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Drained { received, ending: Ending::Open });
        }
        let wait = (deadline - now).clamp(Duration::from_millis(1), READ_SLICE);
        match read_some(stream, &mut buffer, wait)? {
            ReadOutcome::Data(count) => received.extend_from_slice(&buffer[..count]),
            ReadOutcome::Nothing => {}
            ReadOutcome::Closed => {
                return Ok(Drained { received, ending: Ending::Closed(since.elapsed()) });
            }
            ReadOutcome::Reset => {
                return Ok(Drained { received, ending: Ending::Reset(since.elapsed()) });
            }
        }
    }
}

/// Whether `stream` is still open now: no FIN or RST has arrived (bytes
/// that did arrive are dropped).
pub fn is_open(stream: &mut TcpStream) -> Result<bool, HostileError> {
    let mut buffer = [0u8; 512];
    loop {
        match read_some(stream, &mut buffer, Duration::ZERO)? {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Nothing => return Ok(true),
            ReadOutcome::Closed | ReadOutcome::Reset => return Ok(false),
        }
    }
}

/// Whether a read failed only because its timeout passed.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

/// Whether an operation failed because the remote reset the connection.
pub fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_repeats_from_a_seed_and_differs_between_seeds() {
        let (mut first, mut again, mut other) =
            (Generator::new(7), Generator::new(7), Generator::new(8));
        let bytes = first.bytes(33);
        assert_eq!(bytes, again.bytes(33));
        assert_ne!(bytes, other.bytes(33));
        assert!(bytes.iter().any(|&byte| byte != 0));
        assert_ne!(Generator::new(0).next_u64(), 0);
        let mut generator = Generator::new(9);
        assert!((0..1000).map(|_| generator.between(3, 5)).all(|value| (3..=5).contains(&value)));
    }

    #[test]
    fn an_opening_is_the_header_and_the_proposal() {
        // The framing the multistream-select specification gives: 0x13 =
        // 19 bytes of header line, 0x07 = 7 of `/noise\n`.
        assert_eq!(multistream_opening("/noise"), b"\x13/multistream/1.0.0\n\x07/noise\n");
    }

    #[test]
    fn an_oversized_message_has_a_two_byte_length() {
        let message = oversized_multistream_message(299);
        // 300 = 0b10_0101100: 0xac, then 0x02.
        assert_eq!(&message[..2], &[0xac, 0x02]);
        assert_eq!(message.len(), 302);
        assert_eq!(message[2], b'/');
        assert_eq!(message.last(), Some(&b'\n'));
    }

    #[test]
    fn a_noise_frame_carries_its_length_big_endian() {
        assert_eq!(noise_frame(&[7; 3]), [0, 3, 7, 7, 7]);
        let largest = noise_frame(&vec![1; 70_000]);
        assert_eq!(&largest[..2], &[0xff, 0xff]);
        assert_eq!(largest.len(), 2 + 65_535);
    }

    #[test]
    fn a_drained_connection_reports_its_bytes_and_its_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("bound");
        let server = std::thread::spawn(move || {
            let (mut connection, _) = listener.accept().expect("the client connects");
            let mut request = [0u8; 5];
            connection.read_exact(&mut request).expect("the client sends five bytes");
            connection.write_all(b"answer").expect("the client reads");
            request
        });
        let since = Instant::now();
        let mut stream = send_junk_and_close(address, b"hello", Duration::from_secs(5))
            .expect("the loopback server accepts");
        let drained =
            drain(&mut stream, since, since + Duration::from_secs(10)).expect("the socket works");
        assert_eq!(server.join().expect("the server thread ends"), *b"hello");
        assert_eq!(drained.received, b"answer");
        assert!(matches!(drained.ending, Ending::Closed(_)), "{:?}", drained.ending);
        assert!(!is_open(&mut stream).expect("the socket works"));
    }
}
