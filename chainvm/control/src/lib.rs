//! The control protocol between the `elastos` command in Linux and the
//! Elastos side, and the virtio-vsock stream endpoint that carries it.
//!
//! A person in Linux runs `elastos install app.elastos`; the command opens a
//! vsock stream socket to the host's context id ([`HOST_CID`]) on
//! [`CONTROL_PORT`]. The hypervisor serves Linux a virtio-vsock device and
//! copies each packet Linux sends, one per channel record, to chainvm; chainvm
//! is the other end of every stream, so this crate implements the device side
//! of vsock stream sockets without an operating system:
//!
//! - [`vsock`]: the packet header and the [`Endpoint`]: connection set-up,
//!   resets, shutdown, credit-based flow control. It takes packets in with
//!   [`Endpoint::receive`] and gives packets out with
//!   [`Endpoint::poll_transmit`]; connections are byte streams with `read`,
//!   `write` and `close`.
//! - [`protocol`]: the messages (requests, responses, errors) and their
//!   binary encoding, in length-prefixed frames.
//! - [`server`]: the [`Server`] that reads requests from connections, hands
//!   them to a [`ControlService`] (the part chainvm implements) and writes the
//!   answers, now or later (a [`Ticket`] for answers that take time).
//!
//! The crate is `no_std` with `alloc` and has no unsafe code: everything
//! Linux sends is untrusted and is checked here.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod protocol;
pub mod server;
pub mod vsock;

pub use protocol::{
    AuditEntry, ControlError, DappInfo, DappState, ErrorKind, NodeIdentity, NodeStatus,
    PendingRequest, Request, Response, VmState, VmStatus, PROTOCOL_VERSION,
};
pub use server::{ControlService, Reply, Server, ServerConfig, Ticket, Transport};
pub use vsock::{ConnectionId, Endpoint, EndpointConfig, PacketError, StreamError};

/// The vsock port the Elastos side listens on for control connections.
pub const CONTROL_PORT: u32 = 5000;

/// The context id of the host (`VMADDR_CID_HOST`): the Elastos side answers
/// as the host.
pub const HOST_CID: u64 = 2;

/// Linux's context id, the only peer.
pub const GUEST_CID: u64 = 3;
