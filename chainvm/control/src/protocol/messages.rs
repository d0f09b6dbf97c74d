//! The control messages: what the `elastos` command asks, what the Elastos
//! side answers, and how each is encoded.
//!
//! A message is a one-byte tag followed by its fields in order, encoded as
//! [`super::codec`] describes. Every request frame gets exactly one response
//! frame; the first exchange on a connection is `Hello` / `Welcome`.

use super::codec::{DecodeError, Reader, Writer};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The protocol version this crate speaks, sent in `Hello` and `Welcome`.
pub const PROTOCOL_VERSION: u16 = 1;

/// What the `elastos` command asks. Fields borrow from the frame they were
/// decoded from, so a package is never copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// The first request on a connection: the client's protocol version.
    Hello {
        /// [`PROTOCOL_VERSION`] of the client.
        version: u16,
    },
    /// Verify and install a signed dapp package.
    Install {
        /// The package file's bytes.
        package: &'a [u8],
    },
    /// The installed dapps.
    List,
    /// Start a dapp in an app VM.
    Start {
        /// The dapp's name.
        name: &'a str,
    },
    /// Stop a running dapp.
    Stop {
        /// The dapp's name.
        name: &'a str,
    },
    /// Remove an installed dapp.
    Remove {
        /// The dapp's name.
        name: &'a str,
    },
    /// A dapp's log lines.
    Logs {
        /// The dapp's name.
        name: &'a str,
    },
    /// The node: its identity and each VM and slot.
    Status,
    /// Capability requests waiting for a person's decision.
    Requests,
    /// Grant a pending request.
    Approve {
        /// The request's id, as `Requests` lists it.
        id: u64,
    },
    /// Refuse a pending request.
    Deny {
        /// The request's id, as `Requests` lists it.
        id: u64,
    },
    /// The audit log.
    Audit,
    /// The node's DID and its DID document.
    Identity,
}

/// A dapp's life-cycle state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DappState {
    /// Installed and never started.
    Installed,
    /// Running in an app VM.
    Running,
    /// Stopped by a person.
    Stopped,
    /// Stopped by a fault.
    Failed {
        /// What went wrong, in one line.
        reason: String,
    },
}

/// An installed dapp.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DappInfo {
    /// The dapp's name.
    pub name: String,
    /// Its version, as its package says.
    pub version: String,
    /// The publisher's `did:key`.
    pub publisher: String,
    /// Where it is in its life cycle.
    pub state: DappState,
    /// The app VM slot it runs in, when running.
    pub slot: Option<u32>,
    /// The capabilities its package asks for.
    pub capabilities: Vec<String>,
}

/// A VM's state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum VmState {
    /// Nothing runs in it (a free app slot).
    Idle,
    /// Starting.
    Starting,
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Stopped by a fault.
    Failed {
        /// What went wrong, in one line.
        reason: String,
    },
}

/// One VM or app slot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VmStatus {
    /// The VM's name (`netvm`, `chainvm`, `app`...).
    pub name: String,
    /// Its state.
    pub state: VmState,
    /// The app slot, for app VMs.
    pub slot: Option<u32>,
    /// The dapp it runs, if any.
    pub dapp: Option<String>,
    /// How often it was restarted.
    pub restarts: u32,
}

/// The node as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NodeStatus {
    /// The node's identity, a `did:key`.
    pub identity: String,
    /// The Elastos version running.
    pub version: String,
    /// Each VM and slot.
    pub vms: Vec<VmStatus>,
}

/// The node's identity: its `did:key` and the DID document it resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NodeIdentity {
    /// The node's `did:key`.
    pub did: String,
    /// The DID document, as JSON text.
    pub document: String,
}

/// A dapp's request for a capability, waiting for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PendingRequest {
    /// The id to approve or deny it with.
    pub id: u64,
    /// The dapp asking.
    pub dapp: String,
    /// The capability it asks for.
    pub capability: String,
    /// What exactly, in one line.
    pub detail: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AuditEntry {
    /// The entry's number, counting from 0.
    pub sequence: u64,
    /// When, in seconds on the Elastos side's clock.
    pub time: u64,
    /// The dapp concerned, if any.
    pub dapp: Option<String>,
    /// What was done (`install`, `approve`...).
    pub action: String,
    /// How it ended, in one line.
    pub outcome: String,
}

/// The kind of a refusal or failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[repr(u8)]
pub enum ErrorKind {
    /// The request was malformed or out of order.
    BadRequest = 1,
    /// The two sides speak different protocol versions.
    UnsupportedVersion = 2,
    /// No such dapp, request or VM.
    NotFound = 3,
    /// The dapp is already installed.
    AlreadyExists = 4,
    /// The package failed verification.
    PackageRefused = 5,
    /// Not possible in the current state (starting a running dapp...).
    InvalidState = 6,
    /// Refused by policy.
    Denied = 7,
    /// No room now (every slot busy, too many connections).
    Busy = 8,
    /// A part of the Elastos side does not answer.
    Unavailable = 9,
    /// A fault on the Elastos side.
    Internal = 10,
}

impl ErrorKind {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::BadRequest,
            2 => Self::UnsupportedVersion,
            3 => Self::NotFound,
            4 => Self::AlreadyExists,
            5 => Self::PackageRefused,
            6 => Self::InvalidState,
            7 => Self::Denied,
            8 => Self::Busy,
            9 => Self::Unavailable,
            10 => Self::Internal,
            _ => return None,
        })
    }

    /// The kind in a few words, as a person reads it before the reason.
    pub fn description(self) -> &'static str {
        match self {
            Self::BadRequest => "bad request",
            Self::UnsupportedVersion => "protocol version not supported",
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::PackageRefused => "package refused",
            Self::InvalidState => "not possible now",
            Self::Denied => "denied",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal error",
        }
    }
}

/// A refusal or failure: a kind and a one-line reason a person understands.
/// Displayed as `kind: reason`, e.g. `package refused: signature does not
/// match the publisher key`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ControlError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Why, in one line.
    pub reason: String,
}

impl ControlError {
    /// An error of `kind` with `reason`.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind.description(), self.reason)
    }
}

/// What the Elastos side answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Response {
    /// The answer to `Hello`.
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        version: u16,
    },
    /// The dapp was installed.
    Installed(DappInfo),
    /// The installed dapps.
    Dapps(Vec<DappInfo>),
    /// The dapp was started.
    Started(DappInfo),
    /// The dapp was stopped.
    Stopped(DappInfo),
    /// The dapp was removed.
    Removed {
        /// Its name.
        name: String,
    },
    /// A dapp's log lines, oldest first.
    Logs(Vec<String>),
    /// The node's status.
    Status(NodeStatus),
    /// The pending requests.
    Requests(Vec<PendingRequest>),
    /// The request was granted.
    Approved(PendingRequest),
    /// The request was refused.
    Denied(PendingRequest),
    /// The audit log, oldest first.
    Audit(Vec<AuditEntry>),
    /// The node's DID and DID document.
    Identity(NodeIdentity),
    /// The request failed.
    Error(ControlError),
}

mod tag {
    pub const HELLO: u8 = 0;
    pub const INSTALL: u8 = 1;
    pub const LIST: u8 = 2;
    pub const START: u8 = 3;
    pub const STOP: u8 = 4;
    pub const REMOVE: u8 = 5;
    pub const LOGS: u8 = 6;
    pub const STATUS: u8 = 7;
    pub const REQUESTS: u8 = 8;
    pub const APPROVE: u8 = 9;
    pub const DENY: u8 = 10;
    pub const AUDIT: u8 = 11;
    pub const IDENTITY: u8 = 12;
    pub const ERROR: u8 = 255;
}

/// Appends `body` to `output` as a frame: its length as a little-endian
/// `u32`, then the body.
fn frame(output: &mut Vec<u8>, body: impl FnOnce(&mut Writer)) {
    let start = output.len();
    output.extend_from_slice(&[0; 4]);
    body(&mut Writer::new(output));
    let length = (output.len() - start - 4) as u32;
    output[start..start + 4].copy_from_slice(&length.to_le_bytes());
}

impl<'a> Request<'a> {
    /// The request as one frame (length prefix included).
    pub fn to_frame(&self) -> Vec<u8> {
        let mut output = Vec::new();
        frame(&mut output, |writer| self.encode(writer));
        output
    }

    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::Hello { version } => {
                writer.u8(tag::HELLO);
                writer.u16(*version);
            }
            Self::Install { package } => {
                writer.u8(tag::INSTALL);
                writer.bytes(package);
            }
            Self::List => writer.u8(tag::LIST),
            Self::Start { name } => named(writer, tag::START, name),
            Self::Stop { name } => named(writer, tag::STOP, name),
            Self::Remove { name } => named(writer, tag::REMOVE, name),
            Self::Logs { name } => named(writer, tag::LOGS, name),
            Self::Status => writer.u8(tag::STATUS),
            Self::Requests => writer.u8(tag::REQUESTS),
            Self::Approve { id } => {
                writer.u8(tag::APPROVE);
                writer.u64(*id);
            }
            Self::Deny { id } => {
                writer.u8(tag::DENY);
                writer.u64(*id);
            }
            Self::Audit => writer.u8(tag::AUDIT),
            Self::Identity => writer.u8(tag::IDENTITY),
        }
    }

    /// Decodes a frame's body (without its length prefix).
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let request = match reader.u8()? {
            tag::HELLO => Self::Hello { version: reader.u16()? },
            tag::INSTALL => Self::Install { package: reader.bytes()? },
            tag::LIST => Self::List,
            tag::START => Self::Start { name: reader.str()? },
            tag::STOP => Self::Stop { name: reader.str()? },
            tag::REMOVE => Self::Remove { name: reader.str()? },
            tag::LOGS => Self::Logs { name: reader.str()? },
            tag::STATUS => Self::Status,
            tag::REQUESTS => Self::Requests,
            tag::APPROVE => Self::Approve { id: reader.u64()? },
            tag::DENY => Self::Deny { id: reader.u64()? },
            tag::AUDIT => Self::Audit,
            tag::IDENTITY => Self::Identity,
            _ => return Err(DecodeError::UnknownTag),
        };
        reader.finish()?;
        Ok(request)
    }

    /// The request's name, as the command calls it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Install { .. } => "install",
            Self::List => "list",
            Self::Start { .. } => "start",
            Self::Stop { .. } => "stop",
            Self::Remove { .. } => "remove",
            Self::Logs { .. } => "logs",
            Self::Status => "status",
            Self::Requests => "requests",
            Self::Approve { .. } => "approve",
            Self::Deny { .. } => "deny",
            Self::Audit => "audit",
            Self::Identity => "identity",
        }
    }
}

fn named(writer: &mut Writer, tag: u8, name: &str) {
    writer.u8(tag);
    writer.string(name);
}

fn write_dapp(writer: &mut Writer, dapp: &DappInfo) {
    writer.string(&dapp.name);
    writer.string(&dapp.version);
    writer.string(&dapp.publisher);
    match &dapp.state {
        DappState::Installed => writer.u8(0),
        DappState::Running => writer.u8(1),
        DappState::Stopped => writer.u8(2),
        DappState::Failed { reason } => {
            writer.u8(3);
            writer.string(reason);
        }
    }
    writer.option(&dapp.slot, |writer, slot| writer.u32(*slot));
    writer.list(&dapp.capabilities, |writer, capability| writer.string(capability));
}

fn read_dapp(reader: &mut Reader) -> Result<DappInfo, DecodeError> {
    Ok(DappInfo {
        name: reader.string()?,
        version: reader.string()?,
        publisher: reader.string()?,
        state: match reader.u8()? {
            0 => DappState::Installed,
            1 => DappState::Running,
            2 => DappState::Stopped,
            3 => DappState::Failed { reason: reader.string()? },
            _ => return Err(DecodeError::UnknownTag),
        },
        slot: reader.option(Reader::u32)?,
        capabilities: reader.list(Reader::string)?,
    })
}

fn write_vm(writer: &mut Writer, vm: &VmStatus) {
    writer.string(&vm.name);
    match &vm.state {
        VmState::Idle => writer.u8(0),
        VmState::Starting => writer.u8(1),
        VmState::Running => writer.u8(2),
        VmState::Stopped => writer.u8(3),
        VmState::Failed { reason } => {
            writer.u8(4);
            writer.string(reason);
        }
    }
    writer.option(&vm.slot, |writer, slot| writer.u32(*slot));
    writer.option(&vm.dapp, |writer, dapp| writer.string(dapp));
    writer.u32(vm.restarts);
}

fn read_vm(reader: &mut Reader) -> Result<VmStatus, DecodeError> {
    Ok(VmStatus {
        name: reader.string()?,
        state: match reader.u8()? {
            0 => VmState::Idle,
            1 => VmState::Starting,
            2 => VmState::Running,
            3 => VmState::Stopped,
            4 => VmState::Failed { reason: reader.string()? },
            _ => return Err(DecodeError::UnknownTag),
        },
        slot: reader.option(Reader::u32)?,
        dapp: reader.option(Reader::string)?,
        restarts: reader.u32()?,
    })
}

fn write_pending(writer: &mut Writer, request: &PendingRequest) {
    writer.u64(request.id);
    writer.string(&request.dapp);
    writer.string(&request.capability);
    writer.string(&request.detail);
}

fn read_pending(reader: &mut Reader) -> Result<PendingRequest, DecodeError> {
    Ok(PendingRequest {
        id: reader.u64()?,
        dapp: reader.string()?,
        capability: reader.string()?,
        detail: reader.string()?,
    })
}

fn write_audit(writer: &mut Writer, entry: &AuditEntry) {
    writer.u64(entry.sequence);
    writer.u64(entry.time);
    writer.option(&entry.dapp, |writer, dapp| writer.string(dapp));
    writer.string(&entry.action);
    writer.string(&entry.outcome);
}

fn read_audit(reader: &mut Reader) -> Result<AuditEntry, DecodeError> {
    Ok(AuditEntry {
        sequence: reader.u64()?,
        time: reader.u64()?,
        dapp: reader.option(Reader::string)?,
        action: reader.string()?,
        outcome: reader.string()?,
    })
}

impl Response {
    /// The response as one frame (length prefix included).
    pub fn to_frame(&self) -> Vec<u8> {
        let mut output = Vec::new();
        frame(&mut output, |writer| self.encode(writer));
        output
    }

    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::Welcome { version } => {
                writer.u8(tag::HELLO);
                writer.u16(*version);
            }
            Self::Installed(dapp) => {
                writer.u8(tag::INSTALL);
                write_dapp(writer, dapp);
            }
            Self::Dapps(dapps) => {
                writer.u8(tag::LIST);
                writer.list(dapps, write_dapp);
            }
            Self::Started(dapp) => {
                writer.u8(tag::START);
                write_dapp(writer, dapp);
            }
            Self::Stopped(dapp) => {
                writer.u8(tag::STOP);
                write_dapp(writer, dapp);
            }
            Self::Removed { name } => named(writer, tag::REMOVE, name),
            Self::Logs(lines) => {
                writer.u8(tag::LOGS);
                writer.list(lines, |writer, line| writer.string(line));
            }
            Self::Status(status) => {
                writer.u8(tag::STATUS);
                writer.string(&status.identity);
                writer.string(&status.version);
                writer.list(&status.vms, write_vm);
            }
            Self::Requests(requests) => {
                writer.u8(tag::REQUESTS);
                writer.list(requests, write_pending);
            }
            Self::Approved(request) => {
                writer.u8(tag::APPROVE);
                write_pending(writer, request);
            }
            Self::Denied(request) => {
                writer.u8(tag::DENY);
                write_pending(writer, request);
            }
            Self::Audit(entries) => {
                writer.u8(tag::AUDIT);
                writer.list(entries, write_audit);
            }
            Self::Identity(identity) => {
                writer.u8(tag::IDENTITY);
                writer.string(&identity.did);
                writer.string(&identity.document);
            }
            Self::Error(error) => {
                writer.u8(tag::ERROR);
                writer.u8(error.kind as u8);
                writer.string(&error.reason);
            }
        }
    }

    /// Decodes a frame's body (without its length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let response = match reader.u8()? {
            tag::HELLO => Self::Welcome { version: reader.u16()? },
            tag::INSTALL => Self::Installed(read_dapp(&mut reader)?),
            tag::LIST => Self::Dapps(reader.list(read_dapp)?),
            tag::START => Self::Started(read_dapp(&mut reader)?),
            tag::STOP => Self::Stopped(read_dapp(&mut reader)?),
            tag::REMOVE => Self::Removed { name: reader.string()? },
            tag::LOGS => Self::Logs(reader.list(Reader::string)?),
            tag::STATUS => Self::Status(NodeStatus {
                identity: reader.string()?,
                version: reader.string()?,
                vms: reader.list(read_vm)?,
            }),
            tag::REQUESTS => Self::Requests(reader.list(read_pending)?),
            tag::APPROVE => Self::Approved(read_pending(&mut reader)?),
            tag::DENY => Self::Denied(read_pending(&mut reader)?),
            tag::AUDIT => Self::Audit(reader.list(read_audit)?),
            tag::IDENTITY => {
                Self::Identity(NodeIdentity { did: reader.string()?, document: reader.string()? })
            }
            tag::ERROR => {
                let kind = ErrorKind::from_code(reader.u8()?).ok_or(DecodeError::UnknownTag)?;
                Self::Error(ControlError { kind, reason: reader.string()? })
            }
            _ => return Err(DecodeError::UnknownTag),
        };
        reader.finish()?;
        Ok(response)
    }
}
