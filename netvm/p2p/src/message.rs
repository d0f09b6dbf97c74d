//! `/elastos/msg/1.0.0`: one message and its receipt per yamux stream
//! (docs/messaging.md).
//!
//! The sender opens a stream, agrees on [`PROTOCOL`] with multistream-select,
//! writes one [`Request`] and closes its side; the receiver writes one
//! [`Receipt`] and closes. Each is a protobuf message behind its unsigned
//! varint length:
//!
//! ```text
//! message Request { uint64 id = 1; string recipient = 2; string sender = 3; bytes body = 4; }
//! message Receipt { uint64 id = 1; Status status = 2; }
//! enum Status { DELIVERED = 0; UNKNOWN_RECIPIENT = 1; UNAVAILABLE = 2; TOO_LARGE = 3; BUSY = 4; }
//! ```
//!
//! A request is at most [`REQUEST_MAX`] bytes encoded, its body at most
//! [`BODY_MAX`]; a receipt at most [`RECEIPT_MAX`]. Fields at their default
//! value are left out, as proto3 does, and read back as the default.

use crate::protobuf::{Reader, Value, Writer};
use crate::varint::{self, FrameError};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The protocol's name.
pub const PROTOCOL: &str = "/elastos/msg/1.0.0";
/// The most bytes of an encoded request.
pub const REQUEST_MAX: usize = 8192;
/// The most bytes of a request's body, and of a name (recipient or
/// sender): the host API's limits.
pub use elastos_host_api::{BODY_MAX, NAME_MAX};
/// The most bytes of an encoded receipt.
pub const RECEIPT_MAX: usize = 64;

/// What became of a message: one definition for the wire, netvm's records
/// and the dapps' events (`elastos-host-api`). A receipt on the wire carries
/// only the receiving node's answers ([`Status::is_receipt_status`]).
pub use elastos_host_api::event::MessageStatus as Status;

/// A message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The sender's number for it, echoed in the receipt.
    pub id: u64,
    /// The application addressed on the receiving node.
    pub recipient: String,
    /// The application that sent it on the sending node.
    pub sender: String,
    /// The message.
    pub body: Vec<u8>,
}

/// The answer to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The request's id.
    pub id: u64,
    /// What became of it.
    pub status: Status,
}

/// Why bytes are not a request or a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The length prefix is bad or over the limit.
    Frame(FrameError),
    /// The protobuf is malformed.
    Malformed,
    /// A name or the body is over its limit.
    TooLarge,
    /// A name is not UTF-8.
    NotText,
    /// A field has the wrong wire type.
    WrongType(u32),
    /// A receipt's status is not one of the five.
    UnknownStatus(u64),
    /// Bytes after the frame.
    TrailingBytes,
}

impl fmt::Display for MessageError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Frame(error) => write!(formatter, "message frame: {error}"),
            Self::Malformed => write!(formatter, "malformed message protobuf"),
            Self::TooLarge => write!(formatter, "message field over its limit"),
            Self::NotText => write!(formatter, "message name is not UTF-8"),
            Self::WrongType(field) => write!(formatter, "message field {field} has the wrong type"),
            Self::UnknownStatus(code) => write!(formatter, "unknown receipt status {code}"),
            Self::TrailingBytes => write!(formatter, "bytes after the message"),
        }
    }
}

impl Request {
    /// Appends the request, behind its length, to `output`.
    pub fn encode(&self, output: &mut Vec<u8>) -> Result<(), MessageError> {
        if self.body.len() > BODY_MAX
            || self.recipient.len() > NAME_MAX
            || self.sender.len() > NAME_MAX
        {
            return Err(MessageError::TooLarge);
        }
        let mut writer = Writer::new();
        if self.id != 0 {
            writer.uint64(1, self.id);
        }
        if !self.recipient.is_empty() {
            writer.string(2, &self.recipient);
        }
        if !self.sender.is_empty() {
            writer.string(3, &self.sender);
        }
        if !self.body.is_empty() {
            writer.bytes(4, &self.body);
        }
        varint::encode_frame(&writer.into_bytes(), output);
        Ok(())
    }

    /// Reads a request from the front of `input`: the request and the bytes
    /// it took, or `None` if it has not all arrived. A request over the
    /// limits is [`MessageError::TooLarge`] (or a frame error) so that the
    /// receiver can answer [`Status::TooLarge`].
    pub fn decode(input: &[u8]) -> Result<Option<(Self, usize)>, MessageError> {
        let Some((body, taken)) =
            varint::decode_frame(input, REQUEST_MAX).map_err(MessageError::Frame)?
        else {
            return Ok(None);
        };
        let mut request = Self::default();
        let mut reader = Reader::new(body);
        while let Some((field, value)) = reader.next_field().map_err(|_| MessageError::Malformed)? {
            match (field, value) {
                (1, Value::Varint(id)) => request.id = id,
                (2, Value::Bytes(bytes)) => request.recipient = name(bytes)?,
                (3, Value::Bytes(bytes)) => request.sender = name(bytes)?,
                (4, Value::Bytes(bytes)) => {
                    if bytes.len() > BODY_MAX {
                        return Err(MessageError::TooLarge);
                    }
                    request.body = bytes.to_vec();
                }
                (1..=4, _) => return Err(MessageError::WrongType(field)),
                _ => {}
            }
        }
        Ok(Some((request, taken)))
    }
}

/// A name field as text, within its limit.
fn name(bytes: &[u8]) -> Result<String, MessageError> {
    if bytes.len() > NAME_MAX {
        return Err(MessageError::TooLarge);
    }
    core::str::from_utf8(bytes).map(String::from).map_err(|_| MessageError::NotText)
}

impl Receipt {
    /// Appends the receipt, behind its length, to `output`.
    pub fn encode(&self, output: &mut Vec<u8>) {
        let mut writer = Writer::new();
        if self.id != 0 {
            writer.uint64(1, self.id);
        }
        if self.status != Status::Delivered {
            writer.uint64(2, u64::from(self.status.code()));
        }
        varint::encode_frame(&writer.into_bytes(), output);
    }

    /// Reads a receipt from the front of `input`, as [`Request::decode`].
    pub fn decode(input: &[u8]) -> Result<Option<(Self, usize)>, MessageError> {
        let Some((body, taken)) =
            varint::decode_frame(input, RECEIPT_MAX).map_err(MessageError::Frame)?
        else {
            return Ok(None);
        };
        let mut receipt = Self { id: 0, status: Status::Delivered };
        let mut reader = Reader::new(body);
        while let Some((field, value)) = reader.next_field().map_err(|_| MessageError::Malformed)? {
            match (field, value) {
                (1, Value::Varint(id)) => receipt.id = id,
                (2, Value::Varint(code)) => {
                    receipt.status = u8::try_from(code)
                        .ok()
                        .and_then(Status::from_code)
                        .filter(|status| status.is_receipt_status())
                        .ok_or(MessageError::UnknownStatus(code))?
                }
                (1 | 2, _) => return Err(MessageError::WrongType(field)),
                _ => {}
            }
        }
        Ok(Some((receipt, taken)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn a_request_has_the_documented_bytes() {
        let request =
            Request { id: 7, recipient: "app".into(), sender: "host".into(), body: b"hi".to_vec() };
        let mut bytes = Vec::new();
        request.encode(&mut bytes).unwrap();
        let expected = [
            17, // length
            0x08, 7, // id
            0x12, 3, b'a', b'p', b'p', // recipient
            0x1a, 4, b'h', b'o', b's', b't', // sender
            0x22, 2, b'h', b'i', // body
        ];
        assert_eq!(bytes, expected[..]);
        assert_eq!(Request::decode(&bytes), Ok(Some((request, bytes.len()))));
    }

    #[test]
    fn a_receipt_has_the_documented_bytes() {
        let mut bytes = Vec::new();
        Receipt { id: 7, status: Status::Busy }.encode(&mut bytes);
        assert_eq!(bytes, [4, 0x08, 7, 0x10, 4]);
        let mut delivered = Vec::new();
        Receipt { id: 7, status: Status::Delivered }.encode(&mut delivered);
        // DELIVERED is the default, so proto3 leaves it out.
        assert_eq!(delivered, [2, 0x08, 7]);
        assert_eq!(
            Receipt::decode(&delivered),
            Ok(Some((Receipt { id: 7, status: Status::Delivered }, 3)))
        );
        assert_eq!(
            Receipt::decode(&[0]),
            Ok(Some((Receipt { id: 0, status: Status::Delivered }, 1)))
        );
    }

    #[test]
    fn partial_input_waits() {
        let mut bytes = Vec::new();
        Request { id: 1, body: vec![5; 300], ..Request::default() }.encode(&mut bytes).unwrap();
        for end in 0..bytes.len() {
            assert_eq!(Request::decode(&bytes[..end]), Ok(None));
        }
        assert!(Request::decode(&bytes).unwrap().is_some());
    }

    #[test]
    fn limits_are_enforced() {
        let big = Request { body: vec![0; BODY_MAX + 1], ..Request::default() };
        assert_eq!(big.encode(&mut Vec::new()), Err(MessageError::TooLarge));
        // Encoded by hand: a body one byte over.
        let mut writer = Writer::new();
        writer.bytes(4, &vec![0; BODY_MAX + 1]);
        let mut bytes = Vec::new();
        varint::encode_frame(&writer.into_bytes(), &mut bytes);
        assert_eq!(Request::decode(&bytes), Err(MessageError::TooLarge));
        let mut long = Vec::new();
        varint::encode(REQUEST_MAX as u64 + 1, &mut long);
        assert!(matches!(Request::decode(&long), Err(MessageError::Frame(_))));
        assert_eq!(Receipt::decode(&[2, 0x10, 9]), Err(MessageError::UnknownStatus(9)));
        assert_eq!(Receipt::decode(&[2, 0x0a, 0]), Err(MessageError::WrongType(1)));
        assert_eq!(Request::decode(&[2, 0x12, 1]), Err(MessageError::Malformed));
        assert_eq!(Request::decode(&[3, 0x12, 1, 0xff]), Err(MessageError::NotText));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // Field 9 (varint 1) before the id.
        assert_eq!(
            Receipt::decode(&[4, 0x48, 1, 0x08, 3]),
            Ok(Some((Receipt { id: 3, status: Status::Delivered }, 5)))
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Request::decode(&bytes);
            let _ = Receipt::decode(&bytes);
        }

        #[test]
        fn requests_round_trip(
            id in any::<u64>(),
            recipient in "[a-z]{0,32}",
            sender in "[a-z]{0,32}",
            body in proptest::collection::vec(any::<u8>(), 0..BODY_MAX),
        ) {
            let request = Request { id, recipient, sender, body };
            let mut bytes = Vec::new();
            request.encode(&mut bytes).unwrap();
            prop_assert_eq!(Request::decode(&bytes), Ok(Some((request, bytes.len()))));
        }
    }
}
