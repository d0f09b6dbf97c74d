//! The binary encoding's primitives: little-endian integers, length-prefixed
//! bytes and UTF-8 strings, options and lists, read back with every length
//! checked against what is there.

use alloc::string::String;
use alloc::vec::Vec;

/// Why bytes do not decode as a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside a field.
    Truncated,
    /// A string is not UTF-8.
    NotUtf8,
    /// A message, variant or option tag that does not exist.
    UnknownTag,
    /// Bytes are left after the message.
    TrailingBytes,
}

/// Appends encoded fields to a byte vector.
pub struct Writer<'a> {
    output: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `output`.
    pub fn new(output: &'a mut Vec<u8>) -> Self {
        Self { output }
    }

    /// One byte.
    pub fn u8(&mut self, value: u8) {
        self.output.push(value);
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self, value: u16) {
        self.output.extend_from_slice(&value.to_le_bytes());
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self, value: u32) {
        self.output.extend_from_slice(&value.to_le_bytes());
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self, value: u64) {
        self.output.extend_from_slice(&value.to_le_bytes());
    }

    /// A length (a `u32`, saturating: the frame limit refuses such sizes
    /// long before), then the bytes.
    pub fn bytes(&mut self, value: &[u8]) {
        self.u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        self.output.extend_from_slice(value);
    }

    /// A string as its UTF-8 bytes.
    pub fn string(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    /// 0 for none, 1 and the value for some.
    pub fn option<T>(&mut self, value: &Option<T>, mut write: impl FnMut(&mut Self, &T)) {
        match value {
            None => self.u8(0),
            Some(value) => {
                self.u8(1);
                write(self, value);
            }
        }
    }

    /// A count (a `u32`), then each item.
    pub fn list<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            write(self, item);
        }
    }
}

/// Reads encoded fields from a byte slice.
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if count > self.input.len() {
            return Err(DecodeError::Truncated);
        }
        let (taken, rest) = self.input.split_at(count);
        self.input = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    /// Length-prefixed bytes, borrowed from the input.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    /// A length-prefixed UTF-8 string, borrowed from the input.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::NotUtf8)
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        self.str().map(String::from)
    }

    /// An option written by [`Writer::option`].
    pub fn option<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(DecodeError::UnknownTag),
        }
    }

    /// A list written by [`Writer::list`]. Every item takes at least one
    /// byte, so a count larger than what is left is refused before any
    /// allocation.
    pub fn list<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.u32()? as usize;
        if count > self.input.len() {
            return Err(DecodeError::Truncated);
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(read(self)?);
        }
        Ok(items)
    }

    /// Succeeds when every byte has been read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}
