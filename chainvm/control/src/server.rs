//! The control server: reads request frames from stream connections, hands
//! each request to a [`ControlService`], and writes the answer back.
//!
//! The service answers at once ([`Reply::Now`]) or later: it keeps the
//! [`Ticket`] it was given, returns [`Reply::Later`], and calls
//! [`Server::complete`] when the answer is ready (an app VM started, a person
//! approved). Meanwhile the server and the endpoint go on serving every other
//! connection; the waiting connection reads no further request until it has
//! its answer.
//!
//! The server works over any [`Transport`]: the vsock [`Endpoint`] in
//! chainvm, or a test's stand-in.

use crate::protocol::{AuditEntry, FrameError};
use crate::protocol::{
    ControlError, DappInfo, ErrorKind, FrameReader, NodeIdentity, NodeStatus, PendingRequest,
    Request, Response, MAX_FRAME, PROTOCOL_VERSION,
};
use crate::vsock::{ConnectionId, Endpoint, StreamError};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

/// Stream connections the server reads and writes.
pub trait Transport {
    /// A connection's handle.
    type Connection: Copy + Eq;

    /// The next new connection, if any.
    fn accept(&mut self) -> Option<Self::Connection>;

    /// Reads what has arrived; `Ok(0)` when nothing has yet.
    fn read(
        &mut self,
        connection: Self::Connection,
        buffer: &mut [u8],
    ) -> Result<usize, StreamError>;

    /// Queues bytes to send; returns how many were taken (`Ok(0)`: full now).
    fn write(&mut self, connection: Self::Connection, bytes: &[u8]) -> Result<usize, StreamError>;

    /// Closes a connection once what was written has been sent.
    fn close(&mut self, connection: Self::Connection);

    /// Whether the connection still exists (the peer has not reset or
    /// closed it).
    fn is_open(&self, connection: Self::Connection) -> bool;
}

impl Transport for Endpoint {
    type Connection = ConnectionId;

    fn accept(&mut self) -> Option<ConnectionId> {
        Endpoint::accept(self)
    }

    fn read(&mut self, connection: ConnectionId, buffer: &mut [u8]) -> Result<usize, StreamError> {
        Endpoint::read(self, connection, buffer)
    }

    fn write(&mut self, connection: ConnectionId, bytes: &[u8]) -> Result<usize, StreamError> {
        Endpoint::write(self, connection, bytes)
    }

    fn close(&mut self, connection: ConnectionId) {
        Endpoint::close(self, connection);
    }

    fn is_open(&self, connection: ConnectionId) -> bool {
        Endpoint::is_open(self, connection)
    }
}

/// The right to answer one request later, with a `T`. Given to the service
/// with each request; hand it back to [`Server::complete`] with the answer.
#[must_use = "a request whose ticket is dropped is never answered"]
pub struct Ticket<T> {
    session: u64,
    sequence: u64,
    wrap: fn(T) -> Response,
    result: PhantomData<fn(T)>,
}

impl<T> core::fmt::Debug for Ticket<T> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter
            .debug_struct("Ticket")
            .field("session", &self.session)
            .field("sequence", &self.sequence)
            .finish()
    }
}

/// A service's answer to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<T> {
    /// The answer, now.
    Now(Result<T, ControlError>),
    /// The service kept the ticket and will call [`Server::complete`].
    Later,
}

fn not_supported<T>(what: &str) -> Reply<T> {
    Reply::Now(Err(ControlError::new(
        ErrorKind::Unavailable,
        format!("{what} is not supported by this Elastos side"),
    )))
}

/// What the Elastos side does for the `elastos` command. Each method gets
/// its request's fields and a ticket; it answers with [`Reply::Now`], or
/// keeps the ticket, returns [`Reply::Later`] and answers through
/// [`Server::complete`]. Methods left out answer that they are not supported.
pub trait ControlService {
    /// Verify a package and install its dapp.
    fn install(&mut self, package: &[u8], ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        let _ = (package, ticket);
        not_supported("install")
    }

    /// The installed dapps.
    fn list(&mut self, ticket: Ticket<Vec<DappInfo>>) -> Reply<Vec<DappInfo>> {
        let _ = ticket;
        not_supported("list")
    }

    /// Start a dapp; answers with it running.
    fn start(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        let _ = (name, ticket);
        not_supported("start")
    }

    /// Stop a dapp; answers with it stopped.
    fn stop(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        let _ = (name, ticket);
        not_supported("stop")
    }

    /// Remove a dapp; answers with its name.
    fn remove(&mut self, name: &str, ticket: Ticket<String>) -> Reply<String> {
        let _ = (name, ticket);
        not_supported("remove")
    }

    /// A dapp's log lines, oldest first.
    fn logs(&mut self, name: &str, ticket: Ticket<Vec<String>>) -> Reply<Vec<String>> {
        let _ = (name, ticket);
        not_supported("logs")
    }

    /// The node's identity and each VM and slot.
    fn status(&mut self, ticket: Ticket<NodeStatus>) -> Reply<NodeStatus> {
        let _ = ticket;
        not_supported("status")
    }

    /// The capability requests waiting for a decision.
    fn requests(&mut self, ticket: Ticket<Vec<PendingRequest>>) -> Reply<Vec<PendingRequest>> {
        let _ = ticket;
        not_supported("requests")
    }

    /// Grant a pending request; answers with the request.
    fn approve(&mut self, id: u64, ticket: Ticket<PendingRequest>) -> Reply<PendingRequest> {
        let _ = (id, ticket);
        not_supported("approve")
    }

    /// Refuse a pending request; answers with the request.
    fn deny(&mut self, id: u64, ticket: Ticket<PendingRequest>) -> Reply<PendingRequest> {
        let _ = (id, ticket);
        not_supported("deny")
    }

    /// The audit log, oldest first.
    fn audit(&mut self, ticket: Ticket<Vec<AuditEntry>>) -> Reply<Vec<AuditEntry>> {
        let _ = ticket;
        not_supported("audit")
    }

    /// The node's DID and its DID document.
    fn identity(&mut self, ticket: Ticket<NodeIdentity>) -> Reply<NodeIdentity> {
        let _ = ticket;
        not_supported("identity")
    }
}

/// How the server is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The largest request frame; a larger one is answered with an error and
    /// its connection closed. Lower it to what the side's memory can hold.
    pub max_frame: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { max_frame: MAX_FRAME }
    }
}

struct Session<C> {
    connection: C,
    key: u64,
    reader: FrameReader,
    greeted: bool,
    /// The request waiting for the service's answer.
    awaiting: Option<u64>,
    next_sequence: u64,
    /// Encoded answers not yet taken by the transport.
    outgoing: Vec<u8>,
    sent: usize,
    /// Close once `outgoing` is sent (after a protocol error, or when the
    /// client finished sending).
    close_when_sent: bool,
}

/// Serves the control protocol on every connection of a transport.
pub struct Server<C> {
    config: ServerConfig,
    sessions: Vec<Session<C>>,
    next_key: u64,
    scratch: Vec<u8>,
}

impl<C: Copy + Eq> Server<C> {
    /// A server with no connections.
    pub fn new(config: ServerConfig) -> Self {
        Self { config, sessions: Vec::new(), next_key: 0, scratch: vec![0; 4096] }
    }

    /// Connections being served.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Does all the work there is: takes new connections, sends queued
    /// answers, reads requests and hands them to `service`. Call it after
    /// packets arrived and after completing tickets.
    pub fn poll<T, S>(&mut self, transport: &mut T, service: &mut S)
    where
        T: Transport<Connection = C>,
        S: ControlService + ?Sized,
    {
        while let Some(connection) = transport.accept() {
            self.sessions.push(Session {
                connection,
                key: self.next_key,
                reader: FrameReader::new(self.config.max_frame),
                greeted: false,
                awaiting: None,
                next_sequence: 0,
                outgoing: Vec::new(),
                sent: 0,
                close_when_sent: false,
            });
            self.next_key += 1;
        }
        let mut index = 0;
        while index < self.sessions.len() {
            if self.serve(index, transport, service) {
                index += 1;
            } else {
                self.sessions.swap_remove(index);
            }
        }
    }

    /// Serves one session; false when it is finished.
    fn serve<T, S>(&mut self, index: usize, transport: &mut T, service: &mut S) -> bool
    where
        T: Transport<Connection = C>,
        S: ControlService + ?Sized,
    {
        loop {
            let session = &mut self.sessions[index];
            if !transport.is_open(session.connection) || !flush(session, transport) {
                return false;
            }
            if session.sent < session.outgoing.len() {
                return true;
            }
            if session.close_when_sent {
                transport.close(session.connection);
                return false;
            }
            if session.awaiting.is_some() {
                return true;
            }
            let wanted = session.reader.needed().min(self.scratch.len());
            let count = match transport.read(session.connection, &mut self.scratch[..wanted]) {
                Ok(0) => return true,
                Ok(count) => count,
                Err(StreamError::EndOfStream) => {
                    transport.close(session.connection);
                    return false;
                }
                Err(_) => return false,
            };
            match session.reader.feed(&self.scratch[..count]) {
                Ok((_, None)) => {}
                Ok((_, Some(body))) => self.handle(index, &body, service),
                Err(FrameError::TooLarge) => {
                    let reason = format!(
                        "request larger than the {} bytes this Elastos side accepts",
                        self.config.max_frame
                    );
                    refuse(session, ErrorKind::BadRequest, reason);
                }
            }
        }
    }

    fn handle<S: ControlService + ?Sized>(&mut self, index: usize, body: &[u8], service: &mut S) {
        let session = &mut self.sessions[index];
        let request = match Request::decode(body) {
            Ok(request) => request,
            Err(error) => {
                let reason = format!("the request could not be decoded ({error:?})");
                return refuse(session, ErrorKind::BadRequest, reason);
            }
        };
        match (session.greeted, &request) {
            (false, Request::Hello { version }) if *version == PROTOCOL_VERSION => {
                session.greeted = true;
                queue(session, &Response::Welcome { version: PROTOCOL_VERSION });
                return;
            }
            (false, Request::Hello { version }) => {
                let reason = format!(
                    "this Elastos side speaks control protocol version {PROTOCOL_VERSION}, \
                     the command version {version}"
                );
                return refuse(session, ErrorKind::UnsupportedVersion, reason);
            }
            (false, _) => {
                return refuse(
                    session,
                    ErrorKind::BadRequest,
                    "the connection must begin with hello",
                )
            }
            (true, Request::Hello { .. }) => {
                return refuse(session, ErrorKind::BadRequest, "hello may only come once")
            }
            (true, _) => {}
        }
        let sequence = session.next_sequence;
        session.next_sequence += 1;
        session.awaiting = Some(sequence);
        let key = session.key;
        macro_rules! dispatch {
            ($method:ident ( $($argument:expr),* ), $wrap:expr) => {{
                let ticket = Ticket { session: key, sequence, wrap: $wrap, result: PhantomData };
                if let Reply::Now(result) = service.$method($($argument,)* ticket) {
                    self.answer(key, sequence, result.map($wrap));
                }
            }};
        }
        match request {
            Request::Install { package } => dispatch!(install(package), Response::Installed),
            Request::List => dispatch!(list(), Response::Dapps),
            Request::Start { name } => dispatch!(start(name), Response::Started),
            Request::Stop { name } => dispatch!(stop(name), Response::Stopped),
            Request::Remove { name } => dispatch!(remove(name), |name| Response::Removed { name }),
            Request::Logs { name } => dispatch!(logs(name), Response::Logs),
            Request::Status => dispatch!(status(), Response::Status),
            Request::Requests => dispatch!(requests(), Response::Requests),
            Request::Approve { id } => dispatch!(approve(id), Response::Approved),
            Request::Deny { id } => dispatch!(deny(id), Response::Denied),
            Request::Audit => dispatch!(audit(), Response::Audit),
            Request::Identity => dispatch!(identity(), Response::Identity),
            Request::Hello { .. } => {}
        }
    }

    fn answer(&mut self, key: u64, sequence: u64, result: Result<Response, ControlError>) -> bool {
        let Some(session) = self
            .sessions
            .iter_mut()
            .find(|session| session.key == key && session.awaiting == Some(sequence))
        else {
            return false;
        };
        session.awaiting = None;
        queue(session, &result.unwrap_or_else(Response::Error));
        true
    }

    /// Answers the request `ticket` was given for. Returns false if its
    /// connection has gone (the answer is dropped). The answer is sent by
    /// the next [`Server::poll`].
    pub fn complete<T>(&mut self, ticket: Ticket<T>, result: Result<T, ControlError>) -> bool {
        self.answer(ticket.session, ticket.sequence, result.map(ticket.wrap))
    }
}

/// Hands queued bytes to the transport; false when the connection is gone.
fn flush<C: Copy, T: Transport<Connection = C>>(
    session: &mut Session<C>,
    transport: &mut T,
) -> bool {
    while session.sent < session.outgoing.len() {
        match transport.write(session.connection, &session.outgoing[session.sent..]) {
            Ok(0) => return true,
            Ok(count) => session.sent += count,
            Err(_) => return false,
        }
    }
    session.outgoing.clear();
    session.sent = 0;
    true
}

fn queue<C>(session: &mut Session<C>, response: &Response) {
    session.outgoing.extend_from_slice(&response.to_frame());
}

/// Answers with an error and closes the connection once it is sent: after a
/// broken frame the stream cannot be trusted to be in step.
fn refuse<C>(session: &mut Session<C>, kind: ErrorKind, reason: impl Into<String>) {
    queue(session, &Response::Error(ControlError::new(kind, reason)));
    session.close_when_sent = true;
}
