//! The control server over the vsock endpoint, driven by a model of Linux,
//! and the message encoding under round trips and arbitrary bytes.

mod support;

use elastos_control::protocol::{FrameReader, MAX_FRAME};
use elastos_control::vsock::Operation;
use elastos_control::{
    AuditEntry, ControlError, ControlService, DappInfo, DappState, Endpoint, EndpointConfig,
    ErrorKind, NodeIdentity, NodeStatus, PendingRequest, Reply, Request, Response, Server,
    ServerConfig, Ticket, VmState, VmStatus, PROTOCOL_VERSION,
};
use proptest::prelude::*;
use support::{pump, LinuxSocket};

fn dapp(name: &str, state: DappState) -> DappInfo {
    DappInfo {
        name: name.into(),
        version: "1.0.0".into(),
        publisher: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK".into(),
        state,
        slot: None,
        capabilities: vec!["network".into(), "storage".into()],
    }
}

/// A service that installs whatever is signed "good", and starts dapps later.
#[derive(Default)]
struct FakeService {
    installed: Vec<(DappInfo, usize)>,
    starting: Vec<Ticket<DappInfo>>,
}

impl ControlService for FakeService {
    fn install(&mut self, package: &[u8], _ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        if !package.starts_with(b"good") {
            return Reply::Now(Err(ControlError::new(
                ErrorKind::PackageRefused,
                "signature does not match the publisher key",
            )));
        }
        let checksum = package.iter().map(|&byte| byte as usize).sum();
        let info = dapp("hello", DappState::Installed);
        self.installed.push((info.clone(), checksum));
        Reply::Now(Ok(info))
    }

    fn list(&mut self, _ticket: Ticket<Vec<DappInfo>>) -> Reply<Vec<DappInfo>> {
        Reply::Now(Ok(self.installed.iter().map(|(info, _)| info.clone()).collect()))
    }

    fn start(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        if name != "hello" {
            return Reply::Now(Err(ControlError::new(ErrorKind::NotFound, "no dapp called that")));
        }
        self.starting.push(ticket);
        Reply::Later
    }

    fn status(&mut self, _ticket: Ticket<NodeStatus>) -> Reply<NodeStatus> {
        Reply::Now(Ok(NodeStatus {
            identity: "did:key:z6Mknode".into(),
            version: "0.1.0".into(),
            vms: vec![VmStatus {
                name: "app".into(),
                state: VmState::Idle,
                slot: Some(0),
                dapp: None,
                restarts: 2,
            }],
        }))
    }
}

/// One client connection: Linux writes frames and reads them back.
struct Client {
    socket: LinuxSocket,
    frames: FrameReader,
}

impl Client {
    fn connect(port: u32) -> Self {
        let mut socket = LinuxSocket::new(port, 256 * 1024);
        socket.connect();
        Self { socket, frames: FrameReader::new(MAX_FRAME) }
    }

    fn send(&mut self, request: &Request) {
        self.socket.write(&request.to_frame());
    }

    /// Reads one response if a whole one has arrived.
    fn response(&mut self) -> Option<Response> {
        loop {
            let needed = self.frames.needed().min(self.socket.receive.len());
            if needed == 0 {
                return None;
            }
            let bytes = self.socket.read(needed);
            if let (_, Some(body)) = self.frames.feed(&bytes).unwrap() {
                return Some(Response::decode(&body).unwrap());
            }
        }
    }
}

struct World {
    endpoint: Endpoint,
    server: Server<elastos_control::ConnectionId>,
    service: FakeService,
}

impl World {
    fn new() -> Self {
        Self {
            endpoint: Endpoint::new(EndpointConfig::default()),
            server: Server::new(ServerConfig::default()),
            service: FakeService::default(),
        }
    }

    /// Runs both sides until the client has a response (or nothing moves).
    fn exchange(&mut self, client: &mut Client) -> Option<Response> {
        for _ in 0..100_000 {
            let moved = pump(&mut self.endpoint, &mut [&mut client.socket]);
            self.server.poll(&mut self.endpoint, &mut self.service);
            if let Some(response) = client.response() {
                return Some(response);
            }
            if moved == 0 && pump(&mut self.endpoint, &mut [&mut client.socket]) == 0 {
                self.server.poll(&mut self.endpoint, &mut self.service);
                if client.socket.outgoing.is_empty() && client.socket.receive.is_empty() {
                    return None;
                }
            }
        }
        panic!("the exchange never ends")
    }

    fn hello(&mut self, client: &mut Client) {
        client.send(&Request::Hello { version: PROTOCOL_VERSION });
        assert_eq!(self.exchange(client), Some(Response::Welcome { version: PROTOCOL_VERSION }));
    }
}

#[test]
fn a_large_package_installs_through_the_stream() {
    let mut world = World::new();
    let mut client = Client::connect(1500);
    world.hello(&mut client);
    let mut package = b"good".to_vec();
    package.extend((0..1_200_000u32).map(|index| (index % 253) as u8));
    client.send(&Request::Install { package: &package });
    let response = world.exchange(&mut client);
    assert_eq!(response, Some(Response::Installed(dapp("hello", DappState::Installed))));
    let expected: usize = package.iter().map(|&byte| byte as usize).sum();
    assert_eq!(world.service.installed[0].1, expected);
    assert_eq!(client.socket.credit_violations, 0);
    // Several requests on one connection, each answered in order.
    client.send(&Request::List);
    let listed = world.exchange(&mut client);
    assert_eq!(listed, Some(Response::Dapps(vec![dapp("hello", DappState::Installed)])));
    client.send(&Request::Audit);
    let Some(Response::Error(error)) = world.exchange(&mut client) else {
        panic!("audit is not implemented by the fake service")
    };
    assert_eq!(error.kind, ErrorKind::Unavailable);
    client.send(&Request::Identity);
    let Some(Response::Error(error)) = world.exchange(&mut client) else {
        panic!("identity is not implemented by the fake service")
    };
    assert_eq!(error.reason, "identity is not supported by this Elastos side");
}

#[test]
fn refusals_carry_a_kind_and_a_reason() {
    let mut world = World::new();
    let mut client = Client::connect(1501);
    world.hello(&mut client);
    client.send(&Request::Install { package: b"evil package" });
    let Some(Response::Error(error)) = world.exchange(&mut client) else { panic!("refused") };
    assert_eq!(error.to_string(), "package refused: signature does not match the publisher key");
}

#[test]
fn slow_answers_do_not_block_other_connections() {
    let mut world = World::new();
    let mut waiting = Client::connect(1502);
    let mut other = Client::connect(1503);
    world.hello(&mut waiting);
    world.hello(&mut other);
    waiting.send(&Request::Start { name: "hello" });
    assert_eq!(world.exchange(&mut waiting), None);
    assert_eq!(world.service.starting.len(), 1);
    other.send(&Request::Status);
    let Some(Response::Status(status)) = world.exchange(&mut other) else { panic!("status") };
    assert_eq!(status.vms[0].restarts, 2);
    // The app VM is up: the answer goes out.
    let ticket = world.service.starting.pop().unwrap();
    let mut running = dapp("hello", DappState::Running);
    running.slot = Some(0);
    assert!(world.server.complete(ticket, Ok(running.clone())));
    assert_eq!(world.exchange(&mut waiting), Some(Response::Started(running)));
}

#[test]
fn a_ticket_for_a_closed_connection_is_dropped() {
    let mut world = World::new();
    let mut client = Client::connect(1504);
    world.hello(&mut client);
    client.send(&Request::Start { name: "hello" });
    world.exchange(&mut client);
    client.socket.close();
    world.exchange(&mut client);
    assert_eq!(world.server.session_count(), 0);
    let ticket = world.service.starting.pop().unwrap();
    assert!(!world.server.complete(ticket, Ok(dapp("hello", DappState::Running))));
}

#[test]
fn the_first_request_must_be_a_hello_of_our_version() {
    let mut world = World::new();
    let mut client = Client::connect(1505);
    client.send(&Request::List);
    let Some(Response::Error(error)) = world.exchange(&mut client) else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::BadRequest);

    let mut second = Client::connect(1506);
    second.send(&Request::Hello { version: PROTOCOL_VERSION + 1 });
    let Some(Response::Error(error)) = world.exchange(&mut second) else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::UnsupportedVersion);
    // The server shut the connections down; once Linux's program closes
    // its sockets, they end.
    assert_eq!(world.server.session_count(), 0);
    assert!(second.socket.received_operations.contains(&Operation::Shutdown));
    client.socket.close();
    second.socket.close();
    pump(&mut world.endpoint, &mut [&mut client.socket, &mut second.socket]);
    assert_eq!(world.endpoint.connection_count(), 0);
}

#[test]
fn oversized_and_garbled_frames_are_refused() {
    let mut world = World::new();
    world.server = Server::new(ServerConfig { max_frame: 1000 });
    let mut client = Client::connect(1507);
    world.hello(&mut client);
    client.socket.write(&5000u32.to_le_bytes());
    let Some(Response::Error(error)) = world.exchange(&mut client) else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::BadRequest);

    let mut client = Client::connect(1508);
    world.hello(&mut client);
    client.socket.write(&[2, 0, 0, 0, 99, 1]);
    let Some(Response::Error(error)) = world.exchange(&mut client) else { panic!("refused") };
    assert_eq!(error.kind, ErrorKind::BadRequest);
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9:. -]{0,24}"
}

fn dapp_strategy() -> impl Strategy<Value = DappInfo> {
    (
        text(),
        text(),
        text(),
        prop_oneof![
            Just(DappState::Installed),
            Just(DappState::Running),
            Just(DappState::Stopped),
            text().prop_map(|reason| DappState::Failed { reason })
        ],
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(text(), 0..4),
    )
        .prop_map(|(name, version, publisher, state, slot, capabilities)| DappInfo {
            name,
            version,
            publisher,
            state,
            slot,
            capabilities,
        })
}

fn response_strategy() -> impl Strategy<Value = Response> {
    let pending = || {
        (any::<u64>(), text(), text(), text()).prop_map(|(id, dapp, capability, detail)| {
            PendingRequest { id, dapp, capability, detail }
        })
    };
    let audit = (any::<u64>(), any::<u64>(), proptest::option::of(text()), text(), text())
        .prop_map(|(sequence, time, dapp, action, outcome)| AuditEntry {
            sequence,
            time,
            dapp,
            action,
            outcome,
        });
    let vm =
        (text(), proptest::option::of(any::<u32>()), proptest::option::of(text()), any::<u32>())
            .prop_map(|(name, slot, dapp, restarts)| VmStatus {
                name,
                state: VmState::Failed { reason: "fault".into() },
                slot,
                dapp,
                restarts,
            });
    prop_oneof![
        any::<u16>().prop_map(|version| Response::Welcome { version }),
        dapp_strategy().prop_map(Response::Installed),
        proptest::collection::vec(dapp_strategy(), 0..3).prop_map(Response::Dapps),
        dapp_strategy().prop_map(Response::Started),
        dapp_strategy().prop_map(Response::Stopped),
        text().prop_map(|name| Response::Removed { name }),
        proptest::collection::vec(text(), 0..5).prop_map(Response::Logs),
        (text(), text(), proptest::collection::vec(vm, 0..3)).prop_map(
            |(identity, version, vms)| Response::Status(NodeStatus { identity, version, vms })
        ),
        proptest::collection::vec(pending(), 0..3).prop_map(Response::Requests),
        pending().prop_map(Response::Approved),
        pending().prop_map(Response::Denied),
        proptest::collection::vec(audit, 0..3).prop_map(Response::Audit),
        (text(), text())
            .prop_map(|(did, document)| Response::Identity(NodeIdentity { did, document })),
        text().prop_map(|reason| Response::Error(ControlError::new(ErrorKind::Busy, reason))),
    ]
}

proptest! {
    #[test]
    fn responses_round_trip(response in response_strategy()) {
        let frame = response.to_frame();
        let length = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(length, frame.len() - 4);
        prop_assert_eq!(Response::decode(&frame[4..]), Ok(response));
    }

    #[test]
    fn requests_round_trip(name in text(), id in any::<u64>(), package in proptest::collection::vec(any::<u8>(), 0..100)) {
        for request in [
            Request::Hello { version: 1 },
            Request::Install { package: &package },
            Request::List,
            Request::Start { name: &name },
            Request::Stop { name: &name },
            Request::Remove { name: &name },
            Request::Logs { name: &name },
            Request::Status,
            Request::Requests,
            Request::Approve { id },
            Request::Deny { id },
            Request::Audit,
            Request::Identity,
        ] {
            let frame = request.to_frame();
            prop_assert_eq!(Request::decode(&frame[4..]), Ok(request));
        }
    }

    #[test]
    fn arbitrary_bytes_never_break_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let mut reader = FrameReader::new(64);
        let mut position = 0;
        while position < bytes.len() {
            match reader.feed(&bytes[position..]) {
                Ok((taken, _)) => { prop_assert!(taken > 0); position += taken; }
                Err(_) => break,
            }
        }
    }
}
