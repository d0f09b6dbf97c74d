//! A minimal HTTP/1.0 server of one file on 127.0.0.1, for the network
//! tests and benchmarks: QEMU's user-mode network reaches the host's
//! loopback at 10.0.2.2, so a guest can `wget http://10.0.2.2:PORT/NAME`.
//! Nothing beyond the Rust toolchain is needed on the machine.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A server of one file, running on its own thread until dropped.
pub struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `content` as `/name` on an unused port of 127.0.0.1.
    pub fn start(name: &str, content: Vec<u8>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let path = format!("/{name}");
        let content = Arc::new(content);
        let thread = {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (path, content, served) =
                                (path.clone(), content.clone(), served.clone());
                            std::thread::spawn(move || {
                                if serve(stream, &path, &content).is_ok() {
                                    served.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                    }
                }
            })
        };
        Ok(Self { port, stop, served, thread: Some(thread) })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many complete responses it has sent.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request: the file for a GET of its path, 404 otherwise.
fn serve(stream: TcpStream, path: &str, content: &[u8]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers up to the empty line.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 0 && header.trim_end() != "" {
        header.clear();
    }
    let mut stream = stream;
    let mut words = request.split_whitespace();
    if words.next() == Some("GET") && words.next() == Some(path) {
        write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            content.len()
        )?;
        stream.write_all(content)?;
    } else {
        stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// `length` bytes of a fixed pseudo-random pattern (xorshift), so a
/// corrupted transfer cannot pass a checksum by chance.
pub fn pattern(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(port: u16, path: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_its_file_and_nothing_else() {
        let content = pattern(100_000, 7);
        let server = FileServer::start("file", content.clone()).unwrap();
        let response = get(server.port(), "/file");
        let split = response.windows(4).position(|window| window == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]);
        assert!(head.starts_with("HTTP/1.0 200 OK"), "{head}");
        assert!(head.contains("Content-Length: 100000"), "{head}");
        assert_eq!(&response[split + 4..], &content[..]);
        let missing = get(server.port(), "/other");
        assert!(missing.starts_with(b"HTTP/1.0 404"));
        // The counter is bumped by the serving thread after the write.
        for _ in 0..100 {
            if server.served() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(server.served(), 2);
    }

    #[test]
    fn patterns_are_reproducible_and_differ_by_seed() {
        assert_eq!(pattern(1000, 3), pattern(1000, 3));
        assert_ne!(pattern(1000, 3), pattern(1000, 4));
        assert_eq!(pattern(13, 1).len(), 13);
    }
}
