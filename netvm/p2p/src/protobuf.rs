//! A minimal reader and writer for the protobuf wire format (proto2 and
//! proto3 share it), enough for the messages libp2p exchanges: keys, the
//! Noise handshake payload, identify, and the Elastos messages.
//!
//! A message is a sequence of fields, each a varint key
//! `field_number << 3 | wire_type` followed by its value. The [`Reader`]
//! hands back every field in order and leaves it to the caller to pick the
//! ones it knows; fields of every wire type it does not know are skipped by
//! simply not matching them. Groups (wire types 3 and 4, deprecated since
//! proto2) and truncated data are errors.
//!
//! ```
//! use elastos_p2p::protobuf::{Reader, Value, Writer};
//!
//! let mut writer = Writer::new();
//! writer.uint64(1, 1).bytes(2, b"key");
//! let encoded = writer.into_bytes();
//!
//! let mut reader = Reader::new(&encoded);
//! assert_eq!(reader.next_field(), Ok(Some((1, Value::Varint(1)))));
//! assert_eq!(reader.next_field(), Ok(Some((2, Value::Bytes(b"key")))));
//! assert_eq!(reader.next_field(), Ok(None));
//! ```

use alloc::vec::Vec;

use crate::varint;

/// The largest field number protobuf allows (2^29 - 1).
pub const MAXIMUM_FIELD_NUMBER: u32 = (1 << 29) - 1;

/// The most bytes a protobuf varint takes: ten, for a full 64-bit value.
const MAXIMUM_VARINT_LENGTH: usize = 10;

/// Wire type of a varint field (int32, int64, uint32, uint64, bool, enum).
const WIRE_TYPE_VARINT: u8 = 0;
/// Wire type of an eight-byte little-endian field (fixed64, double).
const WIRE_TYPE_FIXED64: u8 = 1;
/// Wire type of a length-delimited field (bytes, string, message).
const WIRE_TYPE_LENGTH_DELIMITED: u8 = 2;
/// Wire type that opens a group.
const WIRE_TYPE_START_GROUP: u8 = 3;
/// Wire type that closes a group.
const WIRE_TYPE_END_GROUP: u8 = 4;
/// Wire type of a four-byte little-endian field (fixed32, float).
const WIRE_TYPE_FIXED32: u8 = 5;

/// Why bytes are not a protobuf message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtobufError {
    /// The data ends inside a field.
    Truncated,
    /// A varint longer than ten bytes or over 64 bits.
    VarintOverflow,
    /// A field number of zero or over [`MAXIMUM_FIELD_NUMBER`].
    InvalidFieldNumber,
    /// A group (wire type 3 or 4), which libp2p never uses.
    Group,
    /// A wire type that protobuf does not define (6 or 7).
    InvalidWireType(u8),
    /// A known field arrived with a different wire type than its schema's.
    WrongWireType {
        /// The field's number.
        field: u32,
    },
    /// A string field that is not UTF-8.
    InvalidUtf8 {
        /// The field's number.
        field: u32,
    },
}

impl core::fmt::Display for ProtobufError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Truncated => write!(formatter, "protobuf message ends inside a field"),
            Self::VarintOverflow => write!(formatter, "protobuf varint longer than 64 bits"),
            Self::InvalidFieldNumber => write!(formatter, "protobuf field number out of range"),
            Self::Group => write!(formatter, "protobuf groups are not supported"),
            Self::InvalidWireType(wire_type) => {
                write!(formatter, "protobuf wire type {wire_type} does not exist")
            }
            Self::WrongWireType { field } => {
                write!(formatter, "protobuf field {field} has the wrong wire type")
            }
            Self::InvalidUtf8 { field } => {
                write!(formatter, "protobuf string field {field} is not UTF-8")
            }
        }
    }
}

/// One field's value as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0: an integer, boolean or enum.
    Varint(u64),
    /// Wire type 2: bytes, a string or an embedded message.
    Bytes(&'a [u8]),
    /// Wire type 1: eight bytes, little-endian.
    Fixed64(u64),
    /// Wire type 5: four bytes, little-endian.
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The integer of a varint field numbered `field`, or
    /// [`ProtobufError::WrongWireType`].
    pub fn varint(self, field: u32) -> Result<u64, ProtobufError> {
        match self {
            Self::Varint(value) => Ok(value),
            _ => Err(ProtobufError::WrongWireType { field }),
        }
    }

    /// The bytes of a length-delimited field numbered `field`, or
    /// [`ProtobufError::WrongWireType`].
    pub fn bytes(self, field: u32) -> Result<&'a [u8], ProtobufError> {
        match self {
            Self::Bytes(bytes) => Ok(bytes),
            _ => Err(ProtobufError::WrongWireType { field }),
        }
    }

    /// The text of a string field numbered `field`: a wrong wire type or
    /// bytes that are not UTF-8 are errors.
    pub fn string(self, field: u32) -> Result<&'a str, ProtobufError> {
        core::str::from_utf8(self.bytes(field)?).map_err(|_| ProtobufError::InvalidUtf8 { field })
    }
}

/// Walks the fields of an encoded message.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    /// What is left of the message.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `message`.
    pub fn new(message: &'a [u8]) -> Self {
        Self { rest: message }
    }

    /// The next field's number and value, `None` at the end of the
    /// message, or an error for malformed data (after which the reader
    /// returns the same error again rather than resynchronising).
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, ProtobufError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let mut rest = self.rest;
        let key = take_varint(&mut rest)?;
        let field = key >> 3;
        if field == 0 || field > u64::from(MAXIMUM_FIELD_NUMBER) {
            return Err(ProtobufError::InvalidFieldNumber);
        }
        let field = field as u32;
        let value = match (key & 0x07) as u8 {
            WIRE_TYPE_VARINT => Value::Varint(take_varint(&mut rest)?),
            WIRE_TYPE_FIXED64 => Value::Fixed64(u64::from_le_bytes(take_array(&mut rest)?)),
            WIRE_TYPE_LENGTH_DELIMITED => {
                let length = take_varint(&mut rest)?;
                let length = usize::try_from(length).map_err(|_| ProtobufError::Truncated)?;
                Value::Bytes(take(&mut rest, length)?)
            }
            WIRE_TYPE_START_GROUP | WIRE_TYPE_END_GROUP => return Err(ProtobufError::Group),
            WIRE_TYPE_FIXED32 => Value::Fixed32(u32::from_le_bytes(take_array(&mut rest)?)),
            other => return Err(ProtobufError::InvalidWireType(other)),
        };
        self.rest = rest;
        Ok(Some((field, value)))
    }
}

/// Takes `length` bytes from the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], length: usize) -> Result<&'a [u8], ProtobufError> {
    if rest.len() < length {
        return Err(ProtobufError::Truncated);
    }
    let (taken, remaining) = rest.split_at(length);
    *rest = remaining;
    Ok(taken)
}

/// Takes `N` bytes from the front of `rest`.
fn take_array<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], ProtobufError> {
    let (taken, remaining) = rest.split_first_chunk::<N>().ok_or(ProtobufError::Truncated)?;
    *rest = remaining;
    Ok(*taken)
}

/// Takes a protobuf varint from the front of `rest`. Unlike the
/// multiformats varint, protobuf's runs to ten bytes (negative int32 and
/// int64 values take all ten) and need not be minimal.
fn take_varint(rest: &mut &[u8]) -> Result<u64, ProtobufError> {
    let mut value = 0u64;
    for (index, &byte) in rest.iter().enumerate() {
        if index == MAXIMUM_VARINT_LENGTH {
            return Err(ProtobufError::VarintOverflow);
        }
        let group = u64::from(byte & 0x7f);
        if index == MAXIMUM_VARINT_LENGTH - 1 && group > 1 {
            return Err(ProtobufError::VarintOverflow);
        }
        value |= group << (7 * index);
        if byte & 0x80 == 0 {
            *rest = rest.get(index + 1..).unwrap_or_default();
            return Ok(value);
        }
    }
    if rest.len() >= MAXIMUM_VARINT_LENGTH {
        return Err(ProtobufError::VarintOverflow);
    }
    Err(ProtobufError::Truncated)
}

/// Builds an encoded message field by field, in the order the calls come.
///
/// libp2p wants deterministic encodings (fields in number order, minimal
/// varints); the writer's varints are minimal, and callers write fields in
/// number order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    /// The message so far.
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a varint field (uint64, uint32, bool, enum, or a
    /// non-negative int32 or int64).
    pub fn uint64(&mut self, field: u32, value: u64) -> &mut Self {
        self.key(field, WIRE_TYPE_VARINT);
        varint::encode(value, &mut self.bytes);
        self
    }

    /// Appends a length-delimited field of raw bytes (also an embedded
    /// message: pass another writer's bytes).
    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, WIRE_TYPE_LENGTH_DELIMITED);
        varint::encode(value.len() as u64, &mut self.bytes);
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends a string field.
    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// Appends a fixed64 field.
    pub fn fixed64(&mut self, field: u32, value: u64) -> &mut Self {
        self.key(field, WIRE_TYPE_FIXED64);
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends a fixed32 field.
    pub fn fixed32(&mut self, field: u32, value: u32) -> &mut Self {
        self.key(field, WIRE_TYPE_FIXED32);
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The finished message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends a field's key. Field numbers are the caller's constants;
    /// one out of range is a programming error caught in debug builds.
    fn key(&mut self, field: u32, wire_type: u8) {
        debug_assert!(field != 0 && field <= MAXIMUM_FIELD_NUMBER, "field number {field}");
        varint::encode(u64::from(field) << 3 | u64::from(wire_type), &mut self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn fields(message: &[u8]) -> Result<Vec<(u32, Value<'_>)>, ProtobufError> {
        let mut reader = Reader::new(message);
        let mut fields = Vec::new();
        while let Some(field) = reader.next_field()? {
            fields.push(field);
        }
        Ok(fields)
    }

    #[test]
    fn the_encoding_guide_examples() {
        // From the protobuf encoding guide: field 1 = 150, and field 2 = "testing".
        let mut writer = Writer::new();
        writer.uint64(1, 150);
        assert_eq!(writer.as_bytes(), [0x08, 0x96, 0x01]);
        let mut writer = Writer::new();
        writer.string(2, "testing");
        assert_eq!(writer.into_bytes(), b"\x12\x07testing");
        assert_eq!(fields(&[0x08, 0x96, 0x01]), Ok(vec![(1, Value::Varint(150))]));
    }

    #[test]
    fn every_wire_type_round_trips() {
        let mut writer = Writer::new();
        writer
            .uint64(1, u64::MAX)
            .bytes(2, &[1, 2, 3])
            .fixed64(3, 0x0102_0304_0506_0708)
            .fixed32(4, 0xdead_beef)
            .string(MAXIMUM_FIELD_NUMBER, "")
            .uint64(5, 0);
        let encoded = writer.into_bytes();
        assert_eq!(
            fields(&encoded),
            Ok(vec![
                (1, Value::Varint(u64::MAX)),
                (2, Value::Bytes(&[1, 2, 3])),
                (3, Value::Fixed64(0x0102_0304_0506_0708)),
                (4, Value::Fixed32(0xdead_beef)),
                (MAXIMUM_FIELD_NUMBER, Value::Bytes(&[])),
                (5, Value::Varint(0)),
            ])
        );
    }

    #[test]
    fn negative_int32_takes_ten_bytes() {
        // What Go and C++ write for an int32 field 1 holding -1.
        let encoded = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(fields(&encoded), Ok(vec![(1, Value::Varint(u64::MAX))]));
        let mut too_big = encoded;
        too_big[10] = 0x02;
        assert_eq!(fields(&too_big), Err(ProtobufError::VarintOverflow));
        let eleven = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00];
        assert_eq!(fields(&eleven), Err(ProtobufError::VarintOverflow));
    }

    #[test]
    fn non_minimal_varints_are_accepted() {
        assert_eq!(fields(&[0x08, 0x81, 0x00]), Ok(vec![(1, Value::Varint(1))]));
    }

    #[test]
    fn truncated_data_is_refused() {
        let mut writer = Writer::new();
        writer.uint64(1, 300).bytes(2, b"hello").fixed64(3, 7).fixed32(4, 9);
        let encoded = writer.into_bytes();
        for end in 1..encoded.len() {
            let boundaries = [3, 10, 19];
            let result = fields(&encoded[..end]);
            if boundaries.contains(&end) {
                assert!(result.is_ok(), "{end}");
            } else {
                assert_eq!(result, Err(ProtobufError::Truncated), "{end}");
            }
        }
        // A length beyond the data.
        assert_eq!(fields(&[0x12, 0x05, b'a']), Err(ProtobufError::Truncated));
        assert_eq!(
            fields(&[0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(ProtobufError::Truncated)
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(fields(&[0x00]), Err(ProtobufError::InvalidFieldNumber));
        assert_eq!(fields(&[0x0b]), Err(ProtobufError::Group));
        assert_eq!(fields(&[0x0c]), Err(ProtobufError::Group));
        assert_eq!(fields(&[0x0e]), Err(ProtobufError::InvalidWireType(6)));
        assert_eq!(fields(&[0x0f]), Err(ProtobufError::InvalidWireType(7)));
        // Field number 2^29 is one past the largest.
        assert_eq!(fields(&[0x80, 0x80, 0x80, 0x80, 0x10]), Err(ProtobufError::InvalidFieldNumber));
    }

    #[test]
    fn typed_accessors() {
        assert_eq!(Value::Varint(3).varint(1), Ok(3));
        assert_eq!(Value::Bytes(b"x").varint(1), Err(ProtobufError::WrongWireType { field: 1 }));
        assert_eq!(Value::Bytes(b"x").bytes(2), Ok(&b"x"[..]));
        assert_eq!(Value::Fixed32(1).bytes(2), Err(ProtobufError::WrongWireType { field: 2 }));
        assert_eq!(Value::Bytes(b"hi").string(3), Ok("hi"));
        assert_eq!(Value::Bytes(&[0xff]).string(3), Err(ProtobufError::InvalidUtf8 { field: 3 }));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut reader = Reader::new(&bytes);
            for _ in 0..bytes.len() + 1 {
                match reader.next_field() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }

        #[test]
        fn written_fields_read_back(
            entries in proptest::collection::vec(
                (1..=MAXIMUM_FIELD_NUMBER, any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40), 0..4u8),
                0..16,
            )
        ) {
            let mut writer = Writer::new();
            for (field, number, bytes, kind) in &entries {
                match kind {
                    0 => writer.uint64(*field, *number),
                    1 => writer.bytes(*field, bytes),
                    2 => writer.fixed64(*field, *number),
                    _ => writer.fixed32(*field, *number as u32),
                };
            }
            let encoded = writer.into_bytes();
            let read = fields(&encoded).unwrap();
            prop_assert_eq!(read.len(), entries.len());
            for ((field, number, bytes, kind), (read_field, value)) in entries.iter().zip(read) {
                prop_assert_eq!(*field, read_field);
                let expected = match kind {
                    0 => Value::Varint(*number),
                    1 => Value::Bytes(bytes),
                    2 => Value::Fixed64(*number),
                    _ => Value::Fixed32(*number as u32),
                };
                prop_assert_eq!(value, expected);
            }
        }
    }
}
