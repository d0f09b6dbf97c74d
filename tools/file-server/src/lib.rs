//! A small HTTP/1.0 file server for the network tests and benchmarks: it serves files held in memory to
//! whoever connects to it on the host's loopback interface, which QEMU's user-mode network
//! makes reachable from a guest at the gateway's address (`10.0.2.2`).
//!
//! [`FileServer::start`] binds `127.0.0.1` on a port the system picks and serves each
//! connection on a thread of its own: one request per connection, `GET` and `HEAD` only,
//! answered with `Content-Length` and the connection closed after the body. The server
//! stops when dropped. [`generated_file`] makes test files of any size whose content is
//! reproducible from a seed and does not compress.
//!
//! [`FileServer::pause_after`] makes every answer stop after a number of bytes of its body
//! until [`FileServer::resume`]: a test can hold a download in the middle, do something to
//! the path it takes, and let it finish.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The longest request head (request line and header fields) the server reads.
pub const HEAD_LIMIT: usize = 8192;
/// How long the server waits for a client's request, or for it to take more of the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server shares with its threads.
struct Shared {
    files: HashMap<String, Arc<[u8]>>,
    stop: AtomicBool,
    served: AtomicU64,
    /// Bytes of a body after which answers wait (`u64::MAX`: never).
    pause_after: AtomicU64,
    /// Answers waiting at the pause, and whether they may go on.
    paused: Mutex<(u64, bool)>,
    resumed: Condvar,
}

/// A file server on `127.0.0.1`, running until dropped.
pub struct FileServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `files`, each under its path (`/file`), on a free port of `127.0.0.1`.
    pub fn start<P: Into<String>>(
        files: impl IntoIterator<Item = (P, Vec<u8>)>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            files: files.into_iter().map(|(path, data)| (path.into(), Arc::from(data))).collect(),
            stop: AtomicBool::new(false),
            served: AtomicU64::new(0),
            pause_after: AtomicU64::new(u64::MAX),
            paused: Mutex::new((0, false)),
            resumed: Condvar::new(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || accept(listener, shared))?
        };
        Ok(Self { address, shared, acceptor: Some(acceptor) })
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many `GET` answers with a file went out whole.
    pub fn files_served(&self) -> u64 {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// Makes answers stop after `bytes` bytes of their body, until [`FileServer::resume`].
    pub fn pause_after(&self, bytes: u64) {
        self.shared.pause_after.store(bytes, Ordering::SeqCst);
    }

    /// How many answers are waiting at the pause.
    pub fn paused(&self) -> u64 {
        self.shared.paused.lock().map(|paused| paused.0).unwrap_or(0)
    }

    /// Lets the answers waiting at the pause, and all later ones, go on.
    pub fn resume(&self) {
        self.shared.pause_after.store(u64::MAX, Ordering::SeqCst);
        if let Ok(mut paused) = self.shared.paused.lock() {
            paused.1 = true;
        }
        self.shared.resumed.notify_all();
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.resume();
        // Wake the acceptor, which then sees the flag. If the connection fails, the
        // acceptor is gone already.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            // A panic on the acceptor thread was already reported on standard error.
            let _ = acceptor.join();
        }
    }
}

/// Takes connections until the server stops, each served on a thread of its own.
fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        let spawned = thread::Builder::new().name("http-client".into()).spawn(move || {
            if let Err(error) = serve(stream, &shared) {
                eprintln!("http: a client's connection failed: {error}");
            }
        });
        if let Err(error) = spawned {
            eprintln!("http: no thread for a client: {error}");
        }
    }
}

/// A request the server understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: Method,
    /// The path asked for, without a query.
    pub path: String,
}

/// The methods served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The header fields and the file.
    Get,
    /// The header fields only.
    Head,
}

/// Why a request was refused, and the status line it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a request line of the form `METHOD target HTTP/1.x`.
    BadRequest,
    /// A method other than `GET` or `HEAD`.
    MethodNotAllowed,
}

impl Refusal {
    /// The status code and reason phrase.
    pub fn status(self) -> &'static str {
        match self {
            Self::BadRequest => "400 Bad Request",
            Self::MethodNotAllowed => "405 Method Not Allowed",
        }
    }
}

/// Reads the request line at the start of `head`.
pub fn parse_request(head: &str) -> Result<Request, Refusal> {
    let line = head.lines().next().ok_or(Refusal::BadRequest)?;
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest);
    }
    // A proxy-style target names the server too: keep the path.
    let target = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    if !target.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target).to_string();
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return Err(Refusal::MethodNotAllowed),
    };
    Ok(Request { method, path })
}

/// Reads the request head from `stream`: everything up to the empty line that ends it.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n")) {
        if head.len() == HEAD_LIMIT {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too long"));
        }
        if stream.read(&mut byte)? == 0 {
            // The client stopped sending: take what came as the whole head.
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Waits at the pause until the server resumes.
fn wait_at_pause(shared: &Shared) {
    let Ok(mut paused) = shared.paused.lock() else { return };
    paused.0 += 1;
    while !paused.1 {
        match shared.resumed.wait(paused) {
            Ok(guard) => paused = guard,
            Err(_) => return,
        }
    }
    paused.0 -= 1;
}

/// Answers one request on `stream`, then closes it.
fn serve(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    // Nothing asked (the server's own wake-up call among others): nothing to answer.
    if head.is_empty() || shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    match parse_request(&head) {
        Err(refusal) => {
            let allow =
                if refusal == Refusal::MethodNotAllowed { "Allow: GET, HEAD\r\n" } else { "" };
            write!(
                stream,
                "HTTP/1.0 {}\r\n{allow}Content-Length: 0\r\nConnection: close\r\n\r\n",
                refusal.status()
            )?;
        }
        Ok(request) => match shared.files.get(&request.path) {
            None => {
                stream.write_all(
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )?;
            }
            Some(file) => {
                write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    file.len()
                )?;
                if request.method == Method::Get {
                    let pause = shared.pause_after.load(Ordering::SeqCst);
                    let split = usize::try_from(pause).unwrap_or(usize::MAX).min(file.len());
                    stream.write_all(&file[..split])?;
                    if split < file.len() {
                        stream.flush()?;
                        wait_at_pause(shared);
                    }
                    stream.write_all(&file[split..])?;
                    stream.flush()?;
                    shared.served.fetch_add(1, Ordering::SeqCst);
                }
            }
        },
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// `length` bytes from a xorshift generator seeded with `seed`: the same for the same
/// seed, different for another, and incompressible.
pub fn generated_file(length: usize, seed: u64) -> Vec<u8> {
    // A zero state would stay zero.
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut file = Vec::with_capacity(length + 8);
    while file.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        file.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    file.truncate(length);
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` to `server` and returns the answer's head and body.
    fn ask(server: &FileServer, request: &[u8]) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let end = answer.windows(4).position(|window| window == b"\r\n\r\n").unwrap() + 4;
        (String::from_utf8(answer[..end].to_vec()).unwrap(), answer[end..].to_vec())
    }

    fn server() -> (FileServer, Vec<u8>) {
        let file = generated_file(3 << 20, 1);
        (FileServer::start([("/file", file.clone()), ("/empty", Vec::new())]).unwrap(), file)
    }

    #[test]
    fn a_paused_answer_waits_and_then_finishes() {
        let (server, file) = server();
        server.pause_after(1000);
        let address = server.address();
        let client = thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /file HTTP/1.0\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            answer
        });
        let waited = std::time::Instant::now();
        while server.paused() == 0 {
            assert!(waited.elapsed() < Duration::from_secs(10), "the answer never paused");
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(server.files_served(), 0);
        server.resume();
        let answer = client.join().unwrap();
        assert!(answer.ends_with(&file), "the whole file arrives after the pause");
        assert_eq!((server.files_served(), server.paused()), (1, 0));
    }

    #[test]
    fn a_file_is_served_whole_with_its_length() {
        let (server, file) = server();
        let (head, body) = ask(&server, b"GET /file HTTP/1.0\r\nHost: 10.0.2.2\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", file.len())), "{head}");
        assert!(body == file, "the body is the file");
        assert_eq!(server.files_served(), 1);
        let (head, body) = ask(&server, b"GET /empty?x=1 HTTP/1.1\r\n\r\n");
        assert!(head.contains("\r\nContent-Length: 0\r\n"), "{head}");
        assert!(body.is_empty());
        assert_eq!(server.files_served(), 2);
    }

    #[test]
    fn head_answers_without_the_body() {
        let (server, file) = server();
        let (head, body) = ask(&server, b"HEAD /file HTTP/1.0\r\n\r\n");
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", file.len())), "{head}");
        assert!(body.is_empty());
        assert_eq!(server.files_served(), 0);
    }

    #[test]
    fn what_is_not_served_is_refused() {
        let (server, _) = server();
        let (head, _) = ask(&server, b"GET /nothing HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 404 Not Found\r\n"), "{head}");
        let (head, _) = ask(&server, b"POST /file HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"));
        let (head, _) = ask(&server, b"hello\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{head}");
        assert_eq!(server.files_served(), 0);
    }

    #[test]
    fn clients_are_served_at_the_same_time() {
        let (server, file) = server();
        // A client that connects and says nothing does not hold up the others.
        let _silent = TcpStream::connect(server.address()).unwrap();
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let address = server.address();
                thread::spawn(move || {
                    let mut stream = TcpStream::connect(address).unwrap();
                    stream.write_all(b"GET /file HTTP/1.0\r\n\r\n").unwrap();
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).unwrap();
                    answer
                })
            })
            .collect();
        for client in clients {
            assert!(client.join().unwrap().ends_with(&file));
        }
        assert_eq!(server.files_served(), 4);
    }

    #[test]
    fn a_dropped_server_stops_listening() {
        let (server, _) = server();
        let address = server.address();
        drop(server);
        assert!(TcpStream::connect(address).is_err());
    }

    #[test]
    fn request_lines_are_read_strictly() {
        let get = |path: &str| Ok(Request { method: Method::Get, path: path.into() });
        assert_eq!(parse_request("GET /file HTTP/1.0\r\n"), get("/file"));
        assert_eq!(parse_request("GET /file?a=b HTTP/1.1\r\nHost: x\r\n\r\n"), get("/file"));
        assert_eq!(parse_request("GET http://10.0.2.2:80/file HTTP/1.0\r\n"), get("/file"));
        assert_eq!(parse_request("GET http://10.0.2.2 HTTP/1.0\r\n"), get("/"));
        assert_eq!(
            parse_request("HEAD / HTTP/1.0\r\n"),
            Ok(Request { method: Method::Head, path: "/".into() })
        );
        assert_eq!(parse_request("PUT /file HTTP/1.0\r\n"), Err(Refusal::MethodNotAllowed));
        for bad in ["", "GET /file", "GET /file SPDY/3", "GET file HTTP/1.0", "GET  /file HTTP/1.0"]
        {
            assert_eq!(parse_request(bad), Err(Refusal::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn generated_files_are_reproducible_and_differ_by_seed() {
        let file = generated_file(1001, 7);
        assert_eq!(file.len(), 1001);
        assert_eq!(file, generated_file(1001, 7));
        assert_eq!(file[..100], generated_file(100, 7)[..]);
        assert_ne!(file, generated_file(1001, 8));
        // Every byte value turns up in a few KiB: no runs of zeros.
        let sample = generated_file(4096, 0);
        let mut seen = [false; 256];
        sample.iter().for_each(|&byte| seen[byte as usize] = true);
        assert!(seen.iter().all(|&seen| seen));
    }
}
