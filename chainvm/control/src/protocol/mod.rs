//! The control protocol: length-prefixed frames, each one message.
//!
//! A connection starts with the client's [`Request::Hello`] and the server's
//! [`Response::Welcome`] (or an error if the versions differ); then each
//! request frame is answered by one response frame, in order. Frames are at
//! most [`MAX_FRAME`] bytes, which lets an `Install` carry a package of up to
//! [`MAX_PACKAGE`] bytes; the stream carries them in pieces of a packet each.

pub mod codec;
pub mod frame;
pub mod messages;

pub use codec::DecodeError;
pub use frame::{FrameError, FrameReader, LENGTH_PREFIX};
pub use messages::{
    AuditEntry, ControlError, DappInfo, DappState, ErrorKind, NodeIdentity, NodeStatus,
    PendingRequest, Request, Response, VmState, VmStatus, PROTOCOL_VERSION,
};

/// The largest package an `Install` request carries.
pub const MAX_PACKAGE: usize = 16 * 1024 * 1024;

/// The largest frame either side accepts: a package and room for headers.
pub const MAX_FRAME: usize = MAX_PACKAGE + 4096;
