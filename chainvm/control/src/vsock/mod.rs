//! virtio-vsock stream sockets, device side: the packet format and the
//! endpoint that turns packets into byte streams.

pub mod endpoint;
pub mod packet;

pub use endpoint::{ConnectionId, Endpoint, EndpointConfig, PacketError, Statistics, StreamError};
pub use packet::{Header, Operation, HEADER_LENGTH, MAX_PACKET, MAX_PAYLOAD};
