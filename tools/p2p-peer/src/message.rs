//! The `/elastos/msg/1.0.0` protocol: one request and one receipt per stream.
//!
//! Each side writes one protobuf message preceded by its length as an unsigned varint, the
//! way libp2p's length-prefixed protocols do. The requester writes a [`Request`] and closes
//! its write side; the responder answers with a [`Receipt`] and closes. The protobuf
//! encoding is written out by hand here:
//!
//! ```text
//! message Request {            // at most 8192 bytes encoded; the body at most 4000 bytes
//!   uint64 id = 1;             // the sender's number for the message, echoed in the receipt
//!   string recipient = 2;      // the application addressed on the receiving node
//!   string sender = 3;         // the application that sent it on the sending node
//!   bytes body = 4;
//! }
//! message Receipt {            // at most 64 bytes encoded
//!   uint64 id = 1;
//!   Status status = 2;
//! }
//! enum Status { DELIVERED = 0; UNKNOWN_RECIPIENT = 1; UNAVAILABLE = 2; TOO_LARGE = 3; BUSY = 4; }
//! ```
//!
//! As proto3 asks, fields holding their default value are left out when encoding, missing
//! fields decode as their default, and fields of unknown numbers are skipped. A request over
//! the limits is answered with [`Status::TooLarge`] by [`MessageCodec`] on the receiving side,
//! and refused before sending by [`Request::encode`].

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The protocol name negotiated with multistream-select.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/elastos/msg/1.0.0");

/// The most bytes an encoded [`Request`] may take, not counting its length prefix.
pub const MAXIMUM_REQUEST_LENGTH: usize = 8192;

/// The most bytes a [`Request`] body may hold.
pub const MAXIMUM_BODY_LENGTH: usize = 4000;

/// The most bytes an encoded [`Receipt`] may take, not counting its length prefix.
pub const MAXIMUM_RECEIPT_LENGTH: usize = 64;

/// The most bytes of an oversized request the receiver reads and throws away before it
/// answers [`Status::TooLarge`]; a sender that declares more has its stream failed instead.
pub const MAXIMUM_DISCARDED_LENGTH: u64 = 1 << 20;

/// The most bytes a varint of 64 bits takes.
const MAXIMUM_VARINT_LENGTH: usize = 10;

/// Protobuf wire type of a varint field.
const WIRE_TYPE_VARINT: u8 = 0;
/// Protobuf wire type of an eight-byte field.
const WIRE_TYPE_FIXED64: u8 = 1;
/// Protobuf wire type of a length-delimited field.
const WIRE_TYPE_LENGTH_DELIMITED: u8 = 2;
/// Protobuf wire type of a four-byte field.
const WIRE_TYPE_FIXED32: u8 = 5;

/// One Elastos message, addressed to an application on the receiving node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The sender's number for the message, echoed in the receipt.
    pub id: u64,
    /// The application addressed on the receiving node, such as `app`.
    pub recipient: String,
    /// The application that sent the message on the sending node.
    pub sender: String,
    /// The message itself.
    pub body: Vec<u8>,
}

/// The answer to a [`Request`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The [`Request::id`] this receipt answers.
    pub id: u64,
    /// What became of the request.
    pub status: Status,
}

/// What became of a request, as its receipt tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// The recipient took the message.
    #[default]
    Delivered,
    /// No application of that name runs on the receiving node.
    UnknownRecipient,
    /// The recipient exists but cannot take messages now.
    Unavailable,
    /// The request was over the size limits.
    TooLarge,
    /// The recipient's queue is full; the sender may try again later.
    Busy,
}

impl Status {
    /// The protobuf enum number of the status.
    pub fn number(self) -> u64 {
        match self {
            Self::Delivered => 0,
            Self::UnknownRecipient => 1,
            Self::Unavailable => 2,
            Self::TooLarge => 3,
            Self::Busy => 4,
        }
    }

    /// The status with protobuf enum number `number`, if there is one.
    pub fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::Delivered),
            1 => Some(Self::UnknownRecipient),
            2 => Some(Self::Unavailable),
            3 => Some(Self::TooLarge),
            4 => Some(Self::Busy),
            _ => None,
        }
    }

    /// The status as one lowercase word, as the program prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::UnknownRecipient => "unknown-recipient",
            Self::Unavailable => "unavailable",
            Self::TooLarge => "too-large",
            Self::Busy => "busy",
        }
    }
}

/// Why bytes are not a valid request or receipt, or why a request may not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The bytes end inside a field.
    #[error("the message ends inside a field")]
    Truncated,
    /// A varint runs past ten bytes or past 64 bits.
    #[error("a varint is longer than 64 bits")]
    VarintOverflow,
    /// A length prefix has a needlessly long encoding.
    #[error("a length prefix is not minimally encoded")]
    VarintNotMinimal,
    /// A field key names field number zero, which protobuf does not allow.
    #[error("a field has number zero")]
    FieldNumberZero,
    /// A field uses a wire type this protocol has no use for (groups, or an unassigned one).
    #[error("a field has unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field arrived with the wrong wire type.
    #[error("field {field} has wire type {wire_type}, which does not match its declared type")]
    WrongWireType {
        /// The field number.
        field: u64,
        /// The wire type it came with.
        wire_type: u8,
    },
    /// A string field is not UTF-8.
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(u64),
    /// A receipt carries a status number this protocol does not define.
    #[error("unknown receipt status {0}")]
    UnknownStatus(u64),
    /// The body is longer than [`MAXIMUM_BODY_LENGTH`].
    #[error("the body has {0} bytes, more than the {MAXIMUM_BODY_LENGTH} allowed")]
    BodyTooLarge(usize),
    /// The encoded message is longer than its limit.
    #[error("the message takes {length} bytes encoded, more than the {maximum} allowed")]
    MessageTooLarge {
        /// Its encoded length.
        length: u64,
        /// The limit for its kind.
        maximum: usize,
    },
}

impl From<MessageError> for io::Error {
    fn from(error: MessageError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

/// Appends `value` as a varint to `output`.
pub fn encode_varint(value: u64, output: &mut Vec<u8>) {
    let mut rest = value;
    while rest >= 0x80 {
        output.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    output.push(rest as u8);
}

/// Reads a varint from the start of `input`: its value and the bytes it took.
pub fn decode_varint(input: &[u8]) -> Result<(u64, usize), MessageError> {
    let mut value = 0u64;
    for (index, &byte) in input.iter().enumerate() {
        if index == MAXIMUM_VARINT_LENGTH {
            return Err(MessageError::VarintOverflow);
        }
        let group = u64::from(byte & 0x7f);
        // The tenth byte holds the 64th bit alone.
        if index == MAXIMUM_VARINT_LENGTH - 1 && group > 1 {
            return Err(MessageError::VarintOverflow);
        }
        value |= group << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((value, index + 1));
        }
    }
    if input.len() >= MAXIMUM_VARINT_LENGTH {
        return Err(MessageError::VarintOverflow);
    }
    Err(MessageError::Truncated)
}

/// Appends the key of field `field` with wire type `wire_type`.
fn encode_key(field: u64, wire_type: u8, output: &mut Vec<u8>) {
    encode_varint((field << 3) | u64::from(wire_type), output);
}

/// Appends field `field` as a length-delimited field holding `bytes`, unless it is empty.
fn encode_bytes_field(field: u64, bytes: &[u8], output: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    encode_key(field, WIRE_TYPE_LENGTH_DELIMITED, output);
    encode_varint(bytes.len() as u64, output);
    output.extend_from_slice(bytes);
}

/// Appends field `field` as a varint field holding `value`, unless it is zero.
fn encode_varint_field(field: u64, value: u64, output: &mut Vec<u8>) {
    if value == 0 {
        return;
    }
    encode_key(field, WIRE_TYPE_VARINT, output);
    encode_varint(value, output);
}

/// The value of one protobuf field as it came off the wire.
#[derive(Clone, Copy, Debug)]
enum FieldValue<'bytes> {
    /// A varint field.
    Varint(u64),
    /// A length-delimited field.
    Bytes(&'bytes [u8]),
    /// A fixed-width field, which no field of this protocol uses.
    Fixed,
}

impl FieldValue<'_> {
    /// The wire type the value came with.
    fn wire_type(self) -> u8 {
        match self {
            Self::Varint(_) => WIRE_TYPE_VARINT,
            Self::Bytes(_) => WIRE_TYPE_LENGTH_DELIMITED,
            Self::Fixed => WIRE_TYPE_FIXED64,
        }
    }
}

/// Walks the fields of one encoded protobuf message.
struct Fields<'bytes> {
    /// What is left to read.
    rest: &'bytes [u8],
}

impl<'bytes> Fields<'bytes> {
    /// The next field number and value, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, FieldValue<'bytes>)>, MessageError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (key, key_length) = decode_varint(self.rest)?;
        self.rest = &self.rest[key_length..];
        let field = key >> 3;
        let wire_type = (key & 0x7) as u8;
        if field == 0 {
            return Err(MessageError::FieldNumberZero);
        }
        let value = match wire_type {
            WIRE_TYPE_VARINT => {
                let (value, length) = decode_varint(self.rest)?;
                self.rest = &self.rest[length..];
                FieldValue::Varint(value)
            }
            WIRE_TYPE_LENGTH_DELIMITED => {
                let (length, prefix_length) = decode_varint(self.rest)?;
                let after_prefix = &self.rest[prefix_length..];
                if length > after_prefix.len() as u64 {
                    return Err(MessageError::Truncated);
                }
                let (bytes, rest) = after_prefix.split_at(length as usize);
                self.rest = rest;
                FieldValue::Bytes(bytes)
            }
            WIRE_TYPE_FIXED64 | WIRE_TYPE_FIXED32 => {
                let width = if wire_type == WIRE_TYPE_FIXED64 { 8 } else { 4 };
                if self.rest.len() < width {
                    return Err(MessageError::Truncated);
                }
                self.rest = &self.rest[width..];
                FieldValue::Fixed
            }
            other => return Err(MessageError::UnsupportedWireType(other)),
        };
        Ok(Some((field, value)))
    }
}

/// The varint in `value`, or the error for field `field` arriving with another wire type.
fn expect_varint(field: u64, value: FieldValue) -> Result<u64, MessageError> {
    match value {
        FieldValue::Varint(number) => Ok(number),
        other => Err(MessageError::WrongWireType { field, wire_type: other.wire_type() }),
    }
}

/// The bytes in `value`, or the error for field `field` arriving with another wire type.
fn expect_bytes<'bytes>(
    field: u64,
    value: FieldValue<'bytes>,
) -> Result<&'bytes [u8], MessageError> {
    match value {
        FieldValue::Bytes(bytes) => Ok(bytes),
        other => Err(MessageError::WrongWireType { field, wire_type: other.wire_type() }),
    }
}

/// The UTF-8 text in `value`, or the error for field `field` holding anything else.
fn expect_string(field: u64, value: FieldValue) -> Result<String, MessageError> {
    let bytes = expect_bytes(field, value)?;
    let text = std::str::from_utf8(bytes).map_err(|_| MessageError::InvalidUtf8(field))?;
    Ok(text.to_owned())
}

impl Request {
    /// The protobuf encoding of the request, without length prefix, with no check of limits.
    pub fn encode_unchecked(&self) -> Vec<u8> {
        let mut output = Vec::with_capacity(
            self.recipient.len() + self.sender.len() + self.body.len() + 4 * 6 + 10,
        );
        encode_varint_field(1, self.id, &mut output);
        encode_bytes_field(2, self.recipient.as_bytes(), &mut output);
        encode_bytes_field(3, self.sender.as_bytes(), &mut output);
        encode_bytes_field(4, &self.body, &mut output);
        output
    }

    /// The protobuf encoding of the request, without length prefix, or the error saying why
    /// it is over the limits and may not be sent.
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        if self.body.len() > MAXIMUM_BODY_LENGTH {
            return Err(MessageError::BodyTooLarge(self.body.len()));
        }
        let encoded = self.encode_unchecked();
        if encoded.len() > MAXIMUM_REQUEST_LENGTH {
            return Err(MessageError::MessageTooLarge {
                length: encoded.len() as u64,
                maximum: MAXIMUM_REQUEST_LENGTH,
            });
        }
        Ok(encoded)
    }

    /// Decodes a request from its protobuf encoding, without length prefix. The body limit
    /// is not checked here: [`Request::check_limits`] does that.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut request = Self::default();
        let mut fields = Fields { rest: bytes };
        while let Some((field, value)) = fields.next_field()? {
            match field {
                1 => request.id = expect_varint(field, value)?,
                2 => request.recipient = expect_string(field, value)?,
                3 => request.sender = expect_string(field, value)?,
                4 => request.body = expect_bytes(field, value)?.to_vec(),
                _ => {}
            }
        }
        Ok(request)
    }

    /// Whether the request keeps to the body limit, and the error if not.
    pub fn check_limits(&self) -> Result<(), MessageError> {
        if self.body.len() > MAXIMUM_BODY_LENGTH {
            return Err(MessageError::BodyTooLarge(self.body.len()));
        }
        Ok(())
    }
}

/// The id of a request from the start of its encoding, when only a prefix was read: the
/// last id field found before the prefix ends or a field runs past it, or zero.
pub fn find_request_id(prefix: &[u8]) -> u64 {
    let mut id = 0;
    let mut fields = Fields { rest: prefix };
    while let Ok(Some((field, value))) = fields.next_field() {
        if let (1, FieldValue::Varint(number)) = (field, value) {
            id = number;
        }
    }
    id
}

impl Receipt {
    /// The protobuf encoding of the receipt, without length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut output = Vec::with_capacity(2 * MAXIMUM_VARINT_LENGTH + 2);
        encode_varint_field(1, self.id, &mut output);
        encode_varint_field(2, self.status.number(), &mut output);
        output
    }

    /// Decodes a receipt from its protobuf encoding, without length prefix.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAXIMUM_RECEIPT_LENGTH {
            return Err(MessageError::MessageTooLarge {
                length: bytes.len() as u64,
                maximum: MAXIMUM_RECEIPT_LENGTH,
            });
        }
        let mut receipt = Self::default();
        let mut fields = Fields { rest: bytes };
        while let Some((field, value)) = fields.next_field()? {
            match field {
                1 => receipt.id = expect_varint(field, value)?,
                2 => {
                    let number = expect_varint(field, value)?;
                    receipt.status =
                        Status::from_number(number).ok_or(MessageError::UnknownStatus(number))?;
                }
                _ => {}
            }
        }
        Ok(receipt)
    }
}

/// A request as the codec carries it: a message, or, on the receiving side, the note that a
/// request arrived over the limits and is to be answered with [`Status::TooLarge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestFrame {
    /// A request within the limits.
    Message(Request),
    /// A request over the limits, with the id found in it (zero if none was found).
    TooLarge {
        /// The id the sender gave the request.
        id: u64,
    },
}

/// Reads a length prefix: an unsigned varint of at most ten bytes, minimally encoded.
async fn read_length_prefix<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<u64> {
    let mut bytes = [0u8; MAXIMUM_VARINT_LENGTH];
    for index in 0..MAXIMUM_VARINT_LENGTH {
        io.read_exact(&mut bytes[index..=index]).await?;
        if bytes[index] & 0x80 == 0 {
            if index > 0 && bytes[index] == 0 {
                return Err(MessageError::VarintNotMinimal.into());
            }
            let (value, _) = decode_varint(&bytes[..=index])?;
            return Ok(value);
        }
    }
    Err(MessageError::VarintOverflow.into())
}

/// Writes `encoded` behind its length prefix, then flushes.
async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, encoded: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(encoded.len() + MAXIMUM_VARINT_LENGTH);
    encode_varint(encoded.len() as u64, &mut frame);
    frame.extend_from_slice(encoded);
    io.write_all(&frame).await?;
    io.flush().await
}

/// Reads one length-prefixed request from `io`.
///
/// A request within the limits comes back as [`RequestFrame::Message`]. One over them comes
/// back as [`RequestFrame::TooLarge`] once its bytes (at most [`MAXIMUM_DISCARDED_LENGTH`])
/// have been read and thrown away; a longer one, or bytes that are not a request, fail.
pub async fn read_request<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<RequestFrame> {
    let length = read_length_prefix(io).await?;
    if length > MAXIMUM_REQUEST_LENGTH as u64 {
        if length > MAXIMUM_DISCARDED_LENGTH {
            return Err(
                MessageError::MessageTooLarge { length, maximum: MAXIMUM_REQUEST_LENGTH }.into()
            );
        }
        let mut prefix = vec![0u8; MAXIMUM_REQUEST_LENGTH];
        io.read_exact(&mut prefix).await?;
        let id = find_request_id(&prefix);
        let rest = length - MAXIMUM_REQUEST_LENGTH as u64;
        let discarded = futures::io::copy(io.take(rest), &mut futures::io::sink()).await?;
        if discarded < rest {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        return Ok(RequestFrame::TooLarge { id });
    }
    let mut encoded = vec![0u8; length as usize];
    io.read_exact(&mut encoded).await?;
    let request = Request::decode(&encoded)?;
    if request.check_limits().is_err() {
        return Ok(RequestFrame::TooLarge { id: request.id });
    }
    Ok(RequestFrame::Message(request))
}

/// Writes one length-prefixed request to `io`; one over the limits fails unsent.
pub async fn write_request<T: AsyncWrite + Unpin>(io: &mut T, request: &Request) -> io::Result<()> {
    let encoded = request.encode()?;
    write_frame(io, &encoded).await
}

/// Reads one length-prefixed receipt from `io`.
pub async fn read_receipt<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Receipt> {
    let length = read_length_prefix(io).await?;
    if length > MAXIMUM_RECEIPT_LENGTH as u64 {
        return Err(
            MessageError::MessageTooLarge { length, maximum: MAXIMUM_RECEIPT_LENGTH }.into()
        );
    }
    let mut encoded = vec![0u8; length as usize];
    io.read_exact(&mut encoded).await?;
    Ok(Receipt::decode(&encoded)?)
}

/// Writes one length-prefixed receipt to `io`.
pub async fn write_receipt<T: AsyncWrite + Unpin>(io: &mut T, receipt: &Receipt) -> io::Result<()> {
    write_frame(io, &receipt.encode()).await
}

/// The `request_response` codec of `/elastos/msg/1.0.0`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageCodec;

impl libp2p::request_response::Codec for MessageCodec {
    type Protocol = StreamProtocol;
    type Request = RequestFrame;
    type Response = Receipt;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<RequestFrame>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_request(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Receipt>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_receipt(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        frame: RequestFrame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match frame {
            RequestFrame::Message(request) => write_request(io, &request).await,
            RequestFrame::TooLarge { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a request over the limits is never sent",
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        receipt: Receipt,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_receipt(io, &receipt).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;

    use super::*;

    /// A small request and its encoding, worked out by hand from the protobuf rules.
    fn small_request() -> (Request, Vec<u8>) {
        let request = Request {
            id: 7,
            recipient: "app".into(),
            sender: "host".into(),
            body: b"hello".to_vec(),
        };
        let encoded = [
            &[0x08, 0x07][..],
            &[0x12, 0x03, b'a', b'p', b'p'],
            &[0x1a, 0x04, b'h', b'o', b's', b't'],
            &[0x22, 0x05, b'h', b'e', b'l', b'l', b'o'],
        ]
        .concat();
        (request, encoded)
    }

    /// Prefixes `encoded` with its length as a varint.
    fn frame(encoded: &[u8]) -> Vec<u8> {
        let mut output = Vec::new();
        encode_varint(encoded.len() as u64, &mut output);
        output.extend_from_slice(encoded);
        output
    }

    #[test]
    fn varints_encode_as_protobuf_does() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut output = Vec::new();
            encode_varint(value, &mut output);
            assert_eq!(output, bytes, "encoding {value}");
            assert_eq!(decode_varint(bytes), Ok((value, bytes.len())), "decoding {value}");
        }
    }

    #[test]
    fn varints_reject_overflow_and_truncation() {
        assert_eq!(decode_varint(&[0x80; 10]), Err(MessageError::VarintOverflow));
        assert_eq!(
            decode_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(MessageError::VarintOverflow)
        );
        assert_eq!(decode_varint(&[0x80, 0x80]), Err(MessageError::Truncated));
        assert_eq!(decode_varint(&[]), Err(MessageError::Truncated));
    }

    #[test]
    fn small_request_has_exact_bytes() {
        let (request, encoded) = small_request();
        assert_eq!(request.encode(), Ok(encoded.clone()));
        assert_eq!(Request::decode(&encoded), Ok(request));
    }

    #[test]
    fn receipt_has_exact_bytes() {
        let receipt = Receipt { id: 7, status: Status::UnknownRecipient };
        assert_eq!(receipt.encode(), [0x08, 0x07, 0x10, 0x01]);
        assert_eq!(Receipt::decode(&[0x08, 0x07, 0x10, 0x01]), Ok(receipt));
        let busy = Receipt { id: 300, status: Status::Busy };
        assert_eq!(busy.encode(), [0x08, 0xac, 0x02, 0x10, 0x04]);
    }

    #[test]
    fn default_values_are_left_out_and_read_back() {
        assert_eq!(Request::default().encode(), Ok(Vec::new()));
        assert_eq!(Request::decode(&[]), Ok(Request::default()));
        let delivered = Receipt { id: 0, status: Status::Delivered };
        assert_eq!(delivered.encode(), Vec::<u8>::new());
        assert_eq!(Receipt::decode(&[]), Ok(delivered));
        let delivered_seven = Receipt { id: 7, status: Status::Delivered };
        assert_eq!(delivered_seven.encode(), [0x08, 0x07]);
        let only_body = Request { body: vec![0], ..Request::default() };
        assert_eq!(only_body.encode(), Ok(vec![0x22, 0x01, 0x00]));
    }

    #[test]
    fn statuses_round_trip_through_numbers() {
        for number in 0..5 {
            let status = Status::from_number(number).expect("statuses 0 to 4 are defined");
            assert_eq!(status.number(), number);
            let receipt = Receipt { id: u64::MAX, status };
            assert_eq!(Receipt::decode(&receipt.encode()), Ok(receipt));
            assert!(receipt.encode().len() <= MAXIMUM_RECEIPT_LENGTH);
        }
        assert_eq!(Status::from_number(5), None);
        assert_eq!(Receipt::decode(&[0x10, 0x05]), Err(MessageError::UnknownStatus(5)));
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request { id: u64::MAX, ..Request::default() },
            Request {
                id: 1,
                recipient: "chainvm".into(),
                sender: "äpp".into(),
                body: (0..=255).collect(),
            },
            Request {
                id: 99,
                recipient: "r".repeat(100),
                sender: String::new(),
                body: vec![0xaa; MAXIMUM_BODY_LENGTH],
            },
        ];
        for request in requests {
            let encoded = request.encode().expect("the request keeps to the limits");
            assert_eq!(Request::decode(&encoded), Ok(request));
        }
    }

    #[test]
    fn unknown_fields_are_skipped_and_repeated_fields_keep_the_last() {
        let (request, encoded) = small_request();
        let mut with_extras = vec![
            0x28, 0x96, 0x01, // field 5, varint 150
            0x31, 1, 2, 3, 4, 5, 6, 7, 8, // field 6, fixed64
            0x3d, 1, 2, 3, 4, // field 7, fixed32
            0x42, 0x02, b'x', b'y', // field 8, bytes
            0x08, 0x01, // field 1 = 1, overwritten below
        ];
        with_extras.extend_from_slice(&encoded);
        assert_eq!(Request::decode(&with_extras), Ok(request));
        let receipt = Receipt::decode(&[0x18, 0x01, 0x08, 0x09, 0x22, 0x00, 0x10, 0x02]);
        assert_eq!(receipt, Ok(Receipt { id: 9, status: Status::Unavailable }));
    }

    #[test]
    fn garbage_is_rejected() {
        // A length-delimited field running past the end.
        assert_eq!(Request::decode(&[0x12, 0x05, b'a']), Err(MessageError::Truncated));
        // A key with no value.
        assert_eq!(Request::decode(&[0x08]), Err(MessageError::Truncated));
        // Field number zero.
        assert_eq!(Request::decode(&[0x00, 0x01]), Err(MessageError::FieldNumberZero));
        // Group wire types.
        assert_eq!(Request::decode(&[0x0b]), Err(MessageError::UnsupportedWireType(3)));
        assert_eq!(Receipt::decode(&[0x0e]), Err(MessageError::UnsupportedWireType(6)));
        // The recipient as a varint, the id as bytes.
        assert_eq!(
            Request::decode(&[0x10, 0x01]),
            Err(MessageError::WrongWireType { field: 2, wire_type: 0 })
        );
        assert_eq!(
            Receipt::decode(&[0x0a, 0x00]),
            Err(MessageError::WrongWireType { field: 1, wire_type: 2 })
        );
        // A recipient that is not UTF-8.
        assert_eq!(Request::decode(&[0x12, 0x01, 0xff]), Err(MessageError::InvalidUtf8(2)));
        // A receipt over its limit.
        assert!(matches!(
            Receipt::decode(&[0x38; MAXIMUM_RECEIPT_LENGTH + 1]),
            Err(MessageError::MessageTooLarge { length: 65, maximum: 64 })
        ));
    }

    #[test]
    fn limits_refuse_sending() {
        let mut request =
            Request { id: 1, body: vec![1; MAXIMUM_BODY_LENGTH], ..Request::default() };
        assert!(request.encode().is_ok());
        request.body.push(1);
        assert_eq!(request.encode(), Err(MessageError::BodyTooLarge(MAXIMUM_BODY_LENGTH + 1)));
        let long_names = Request {
            id: 1,
            recipient: "r".repeat(MAXIMUM_REQUEST_LENGTH / 2),
            sender: "s".repeat(MAXIMUM_REQUEST_LENGTH / 2),
            body: Vec::new(),
        };
        assert!(matches!(
            long_names.encode(),
            Err(MessageError::MessageTooLarge { maximum: MAXIMUM_REQUEST_LENGTH, .. })
        ));
        let mut sink = Vec::new();
        let refused = block_on(write_request(&mut Cursor::new(&mut sink), &long_names));
        assert_eq!(refused.map_err(|error| error.kind()), Err(io::ErrorKind::InvalidData));
        assert!(sink.is_empty());
    }

    #[test]
    fn streams_carry_length_prefixed_frames() {
        let (request, encoded) = small_request();
        let mut written = Vec::new();
        block_on(write_request(&mut Cursor::new(&mut written), &request)).expect("written");
        assert_eq!(written, frame(&encoded));
        let read = block_on(read_request(&mut Cursor::new(&written))).expect("read");
        assert_eq!(read, RequestFrame::Message(request));

        let receipt = Receipt { id: 7, status: Status::TooLarge };
        let mut written = Vec::new();
        block_on(write_receipt(&mut Cursor::new(&mut written), &receipt)).expect("written");
        assert_eq!(written, [0x04, 0x08, 0x07, 0x10, 0x03]);
        assert_eq!(block_on(read_receipt(&mut Cursor::new(&written))).expect("read"), receipt);
    }

    #[test]
    fn oversized_requests_are_read_as_too_large() {
        // A body over its limit inside a request under the encoded limit.
        let over_body =
            Request { id: 42, body: vec![7; MAXIMUM_BODY_LENGTH + 1], ..Request::default() };
        let framed = frame(&over_body.encode_unchecked());
        let read = block_on(read_request(&mut Cursor::new(&framed))).expect("read");
        assert_eq!(read, RequestFrame::TooLarge { id: 42 });

        // A request over the encoded limit: its bytes are read to the end and thrown away.
        let over_encoded =
            Request { id: 43, body: vec![7; MAXIMUM_REQUEST_LENGTH], ..Request::default() };
        let framed = frame(&over_encoded.encode_unchecked());
        let mut cursor = Cursor::new(&framed);
        let read = block_on(read_request(&mut cursor)).expect("read");
        assert_eq!(read, RequestFrame::TooLarge { id: 43 });
        assert_eq!(cursor.position(), framed.len() as u64);

        // One that declares more than the receiver will throw away fails.
        let mut huge = Vec::new();
        encode_varint(MAXIMUM_DISCARDED_LENGTH + 1, &mut huge);
        let error = block_on(read_request(&mut Cursor::new(&huge))).expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);

        // One that ends before its declared length fails.
        let mut truncated = Vec::new();
        encode_varint(MAXIMUM_REQUEST_LENGTH as u64 + 100, &mut truncated);
        truncated.extend_from_slice(&over_encoded.encode_unchecked()[..MAXIMUM_REQUEST_LENGTH + 5]);
        let error = block_on(read_request(&mut Cursor::new(&truncated))).expect_err("short");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_id_is_found_in_a_prefix() {
        let (_, encoded) = small_request();
        assert_eq!(find_request_id(&encoded[..4]), 7);
        assert_eq!(find_request_id(&encoded[..1]), 0);
        assert_eq!(find_request_id(&[0x22, 0x7f, 0x00]), 0);
        assert_eq!(find_request_id(&[0x12, 0x00, 0x08, 0x05, 0x22, 0x7f]), 5);
    }

    #[test]
    fn bad_frames_fail_to_read() {
        // Garbage inside a well-formed frame.
        let error = block_on(read_request(&mut Cursor::new(&[0x02, 0x12, 0x05]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // A length prefix with a needless zero group.
        let error = block_on(read_receipt(&mut Cursor::new(&[0x82, 0x00]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // A length prefix of more than ten bytes.
        let error = block_on(read_receipt(&mut Cursor::new(&[0xff; 11]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // A receipt longer than its limit.
        let error = block_on(read_receipt(&mut Cursor::new(&[65]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // A stream that ends early.
        let error = block_on(read_receipt(&mut Cursor::new(&[0x04, 0x08]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let error = block_on(read_request(&mut Cursor::new(&[]))).expect_err("bad");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
