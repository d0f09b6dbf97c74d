//! The subset of the protobuf wire format that CometBFT's hashes and
//! signatures are computed over: varints, 64-bit fixed fields and
//! length-delimited fields, with proto3's rule that zero values are omitted.
//! A strict reader for the same subset decodes stored state.

use alloc::vec::Vec;

/// Wire type of a varint field.
pub const VARINT: u8 = 0;
/// Wire type of a 64-bit fixed field.
pub const FIXED64: u8 = 1;
/// Wire type of a length-delimited field (bytes, strings, messages).
pub const LENGTH_DELIMITED: u8 = 2;

/// Appends `value` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends the key of field `number` with `wire_type`.
pub fn put_key(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

/// Appends a varint field (`uint64`, or `int64`/`int32`/enum as two's
/// complement), omitted when zero.
pub fn put_uint(out: &mut Vec<u8>, number: u32, value: u64) {
    if value != 0 {
        put_key(out, number, VARINT);
        put_varint(out, value);
    }
}

/// Appends an `int64` field, omitted when zero.
pub fn put_int(out: &mut Vec<u8>, number: u32, value: i64) {
    put_uint(out, number, value as u64);
}

/// Appends an `sfixed64` field, omitted when zero.
pub fn put_sfixed64(out: &mut Vec<u8>, number: u32, value: i64) {
    if value != 0 {
        put_key(out, number, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends a `bytes` or `string` field, omitted when empty.
pub fn put_bytes(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    if !value.is_empty() {
        put_message(out, number, value);
    }
}

/// Appends an embedded message field; it is written even when empty (a
/// non-nullable field, or a pointer that is set).
pub fn put_message(out: &mut Vec<u8>, number: u32, encoded: &[u8]) {
    put_key(out, number, LENGTH_DELIMITED);
    put_varint(out, encoded.len() as u64);
    out.extend_from_slice(encoded);
}

/// `value` prefixed with its length as a varint (CometBFT's
/// `protoio.MarshalDelimited`).
pub fn length_prefixed(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    put_varint(&mut out, value.len() as u64);
    out.extend_from_slice(value);
    out
}

/// Why protobuf bytes could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a field.
    Truncated,
    /// A varint is longer than ten bytes or overflows 64 bits.
    VarintOverflow,
    /// A wire type this reader does not accept, or the wrong one for a field.
    WireType,
    /// A field number that the message does not have.
    UnknownField,
    /// A value out of its type's range, or an encoding that is not canonical.
    Invalid,
}

/// One field read from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// A varint field's value.
    Varint(u32, u64),
    /// A fixed 64-bit field's value.
    Fixed64(u32, u64),
    /// A length-delimited field's contents.
    Bytes(u32, &'a [u8]),
}

impl Field<'_> {
    /// The field's number.
    pub fn number(&self) -> u32 {
        match *self {
            Field::Varint(number, _) | Field::Fixed64(number, _) | Field::Bytes(number, _) => {
                number
            }
        }
    }
}

/// Reads the fields of one message in order.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over the encoded message `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Reads a varint.
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for index in 0..10 {
            let (&byte, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
            self.rest = rest;
            let bits = u64::from(byte & 0x7f);
            if index == 9 && bits > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// The next field, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, DecodeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| DecodeError::Invalid)?;
        if number == 0 {
            return Err(DecodeError::Invalid);
        }
        let field = match (key & 7) as u8 {
            VARINT => Field::Varint(number, self.varint()?),
            FIXED64 => {
                if self.rest.len() < 8 {
                    return Err(DecodeError::Truncated);
                }
                let (bytes, rest) = self.rest.split_at(8);
                self.rest = rest;
                let mut word = [0u8; 8];
                word.copy_from_slice(bytes);
                Field::Fixed64(number, u64::from_le_bytes(word))
            }
            LENGTH_DELIMITED => {
                let length = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                if self.rest.len() < length {
                    return Err(DecodeError::Truncated);
                }
                let (bytes, rest) = self.rest.split_at(length);
                self.rest = rest;
                Field::Bytes(number, bytes)
            }
            _ => return Err(DecodeError::WireType),
        };
        Ok(Some(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn varints_match_the_wire_format() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        put_int(&mut out, 1, -1);
        assert_eq!(out, [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let mut reader = Reader::new(&out);
        assert_eq!(reader.next_field(), Ok(Some(Field::Varint(1, u64::MAX))));
        assert_eq!(reader.next_field(), Ok(None));
    }

    #[test]
    fn zero_values_are_omitted() {
        let mut out = Vec::new();
        put_uint(&mut out, 1, 0);
        put_sfixed64(&mut out, 2, 0);
        put_bytes(&mut out, 3, &[]);
        assert!(out.is_empty());
        put_message(&mut out, 4, &[]);
        assert_eq!(out, [0x22, 0x00]);
    }

    #[test]
    fn reader_rejects_truncation_and_bad_wire_types() {
        assert_eq!(Reader::new(&[0x0a, 0x05, 1, 2]).next_field(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[0x0b]).next_field(), Err(DecodeError::WireType));
        assert_eq!(Reader::new(&[0x00, 0x00]).next_field(), Err(DecodeError::Invalid));
        let overlong = vec![0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&overlong).next_field(), Err(DecodeError::VarintOverflow));
    }

    proptest::proptest! {
        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut reader = Reader::new(&bytes);
            for _ in 0..bytes.len() + 1 {
                match reader.next_field() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }

        #[test]
        fn varints_round_trip(value in proptest::num::u64::ANY, number in 1u32..1000) {
            let mut out = Vec::new();
            put_key(&mut out, number, VARINT);
            put_varint(&mut out, value);
            let mut reader = Reader::new(&out);
            proptest::prop_assert_eq!(reader.next_field(), Ok(Some(Field::Varint(number, value))));
        }
    }
}
