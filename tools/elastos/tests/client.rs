//! The command's protocol client against the real control server, over Unix
//! sockets, with a stand-in for the Elastos side's service.

use elastos_cli::arguments::{parse, Parsed};
use elastos_cli::client::{Client, ClientError};
use elastos_control::{
    AuditEntry, ControlError, ControlService, DappInfo, DappState, ErrorKind, NodeIdentity,
    PendingRequest, Reply, Request, Response, Server, ServerConfig, StreamError, Ticket, Transport,
};
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Unix streams as the server's transport: each accepted stream is a
/// connection, read and written without blocking.
struct UnixTransport {
    listener: UnixListener,
    streams: Vec<Option<UnixStream>>,
}

impl Transport for UnixTransport {
    type Connection = usize;

    fn accept(&mut self) -> Option<usize> {
        let (stream, _) = self.listener.accept().ok()?;
        stream.set_nonblocking(true).unwrap();
        self.streams.push(Some(stream));
        Some(self.streams.len() - 1)
    }

    fn read(&mut self, connection: usize, buffer: &mut [u8]) -> Result<usize, StreamError> {
        let stream = self.streams[connection].as_mut().ok_or(StreamError::Closed)?;
        match stream.read(buffer) {
            Ok(0) if !buffer.is_empty() => Err(StreamError::EndOfStream),
            Ok(count) => Ok(count),
            Err(error) if error.kind() == IoErrorKind::WouldBlock => Ok(0),
            Err(_) => Err(StreamError::Closed),
        }
    }

    fn write(&mut self, connection: usize, bytes: &[u8]) -> Result<usize, StreamError> {
        let stream = self.streams[connection].as_mut().ok_or(StreamError::Closed)?;
        match stream.write(bytes) {
            Ok(count) => Ok(count),
            Err(error) if error.kind() == IoErrorKind::WouldBlock => Ok(0),
            Err(_) => Err(StreamError::Closed),
        }
    }

    fn close(&mut self, connection: usize) {
        self.streams[connection] = None;
    }

    fn is_open(&self, connection: usize) -> bool {
        self.streams[connection].is_some()
    }
}

fn dapp(state: DappState) -> DappInfo {
    DappInfo {
        name: "hello".into(),
        version: "1.0.0".into(),
        publisher: "did:key:z6Mkpublisher".into(),
        state,
        slot: Some(0),
        capabilities: vec!["network".into()],
    }
}

/// A stand-in service: installs packages that begin with "good", starts
/// `hello` after a moment (through a ticket), and has one pending request.
#[derive(Default)]
struct FakeService {
    starting: Vec<Ticket<DappInfo>>,
    installed_bytes: usize,
}

impl ControlService for FakeService {
    fn install(&mut self, package: &[u8], _ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        if package.starts_with(b"good") {
            self.installed_bytes = package.len();
            Reply::Now(Ok(dapp(DappState::Installed)))
        } else {
            Reply::Now(Err(ControlError::new(
                ErrorKind::PackageRefused,
                "signature does not match the publisher key",
            )))
        }
    }

    fn start(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        if name == "hello" {
            self.starting.push(ticket);
            Reply::Later
        } else {
            Reply::Now(Err(ControlError::new(ErrorKind::NotFound, format!("no dapp {name}"))))
        }
    }

    fn requests(&mut self, _ticket: Ticket<Vec<PendingRequest>>) -> Reply<Vec<PendingRequest>> {
        Reply::Now(Ok(vec![PendingRequest {
            id: 7,
            dapp: "hello".into(),
            capability: "network".into(),
            detail: "connect to example.org:443".into(),
        }]))
    }

    fn audit(&mut self, _ticket: Ticket<Vec<AuditEntry>>) -> Reply<Vec<AuditEntry>> {
        Reply::Now(Ok(Vec::new()))
    }

    fn identity(&mut self, _ticket: Ticket<NodeIdentity>) -> Reply<NodeIdentity> {
        Reply::Now(Ok(NodeIdentity {
            did: "did:key:z6Mknode".into(),
            document: r#"{"id":"did:key:z6Mknode"}"#.into(),
        }))
    }
}

/// A server on a fresh Unix socket, served by a thread until dropped.
struct Elastos {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<usize>>,
}

impl Elastos {
    fn start(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("elastos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut transport = UnixTransport { listener, streams: Vec::new() };
            let mut server = Server::new(ServerConfig::default());
            let mut service = FakeService::default();
            let mut rounds = 0;
            while !stopping.load(Ordering::Relaxed) {
                server.poll(&mut transport, &mut service);
                rounds += 1;
                // Start requests finish a few rounds after they came.
                if rounds % 50 == 0 {
                    while let Some(ticket) = service.starting.pop() {
                        server.complete(ticket, Ok(dapp(DappState::Running)));
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
            service.installed_bytes
        });
        Self { path, stop, thread: Some(thread) }
    }

    fn connect(&self) -> std::io::Result<UnixStream> {
        let stream = UnixStream::connect(&self.path)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(stream)
    }

    /// Stops the server; returns the size of the last package installed.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let installed = self.thread.take().unwrap().join().unwrap();
        let _ = std::fs::remove_file(&self.path);
        installed
    }
}

fn invocation(line: &str) -> elastos_cli::arguments::Invocation {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    match parse(&words) {
        Ok(Parsed::Run(invocation)) => invocation,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn client_calls_the_server() {
    let elastos = Elastos::start("calls");
    let mut client = Client::connect(elastos.connect().unwrap()).unwrap();
    let Response::Requests(requests) = client.call(&Request::Requests).unwrap() else {
        panic!("requests answered with requests")
    };
    assert_eq!(requests[0].id, 7);
    // A request answered later, on the same connection.
    let started = client.call(&Request::Start { name: "hello" }).unwrap();
    assert_eq!(started, Response::Started(dapp(DappState::Running)));
    let Err(ClientError::Refused(error)) = client.call(&Request::Start { name: "other" }) else {
        panic!("an unknown dapp is refused")
    };
    assert_eq!(error.kind, ErrorKind::NotFound);
    let Err(ClientError::Refused(error)) = client.call(&Request::Stop { name: "hello" }) else {
        panic!("stop is not offered by the stand-in")
    };
    assert_eq!(error.kind, ErrorKind::Unavailable);
    drop(client);
    elastos.finish();
}

#[test]
fn install_sends_a_large_package_and_reports_refusals() {
    let elastos = Elastos::start("install");
    let folder = std::env::temp_dir().join(format!("elastos-packages-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let good = folder.join("good.elastos");
    let mut package = b"good".to_vec();
    package.resize(1_500_000, 0x5a);
    std::fs::write(&good, &package).unwrap();
    let bad = folder.join("bad.elastos");
    std::fs::write(&bad, b"forged").unwrap();

    let outcome =
        elastos_cli::run(&invocation(&format!("install {}", good.display())), || elastos.connect());
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        "installed hello 1.0.0 from did:key:z6Mkpublisher (capabilities: network)\n"
    );

    let outcome =
        elastos_cli::run(&invocation(&format!("install {} --json", bad.display())), || {
            elastos.connect()
        });
    assert_eq!(outcome.code, 1);
    assert_eq!(
        outcome.stderr,
        "elastos: install: package refused: signature does not match the publisher key\n"
    );
    let document: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(document["error"]["kind"], "package_refused");

    let outcome = elastos_cli::run(&invocation("--json start hello"), || elastos.connect());
    let document: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(document["started"]["state"], "running");

    let outcome = elastos_cli::run(&invocation("audit"), || elastos.connect());
    assert_eq!(outcome.stdout, "the audit log is empty\n");

    let outcome = elastos_cli::run(&invocation("identity"), || elastos.connect());
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.stdout.starts_with("did:key:z6Mknode\n{"), "{}", outcome.stdout);
    let outcome = elastos_cli::run(&invocation("--json identity"), || elastos.connect());
    let document: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(document["did"], "did:key:z6Mknode");
    assert_eq!(document["document"]["id"], "did:key:z6Mknode");
    assert_eq!(elastos.finish(), 1_500_000);
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn an_absent_elastos_side_is_reported() {
    let outcome = elastos_cli::run(&invocation("status"), || -> std::io::Result<UnixStream> {
        Err(std::io::Error::from_raw_os_error(libc_enodev()))
    });
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .starts_with("elastos: cannot reach the Elastos side (vsock CID 2 port 5000): "),
        "{}",
        outcome.stderr
    );
}

/// ENODEV, what Linux says when there is no vsock transport.
fn libc_enodev() -> i32 {
    19
}

#[test]
fn the_binary_prints_and_exits_as_documented() {
    let elastos = Elastos::start("binary");
    let binary = env!("CARGO_BIN_EXE_elastos");
    let output = std::process::Command::new(binary)
        .args(["requests"])
        .env("ELASTOS_CONTROL_SOCKET", &elastos.path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("hello") && stdout.contains("connect to example.org:443"), "{stdout}");

    let output = std::process::Command::new(binary)
        .args(["start", "nothing"])
        .env("ELASTOS_CONTROL_SOCKET", &elastos.path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "elastos: start: not found: no dapp nothing\n"
    );

    let output = std::process::Command::new(binary).args(["start"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    elastos.finish();
}
