//! The skeleton VMs' message format: ping and pong.
//!
//! A message is one ring record. Its first byte is its kind, the rest its
//! payload:
//!
//! | kind | name | payload                                             |
//! |------|------|-----------------------------------------------------|
//! | 1    | ping | any bytes (the app VM sends an 8-byte counter, LE)  |
//! | 2    | pong | the payload of the ping it answers, unchanged       |
//! | 3    | data | any bytes; counted and dropped, not answered        |
//!
//! Anything else (an empty record, another kind) is not a message; the
//! receiver counts it and carries on. A receiver that took data messages
//! rings the sender's doorbell after the batch, so a sender waiting for room
//! in the ring wakes up (the channel benchmark streams data this way).

use core::fmt;

/// The kind byte of a ping.
pub const KIND_PING: u8 = 1;
/// The kind byte of a pong.
pub const KIND_PONG: u8 = 2;
/// The kind byte of a data message.
pub const KIND_DATA: u8 = 3;
/// The largest message the skeleton VMs send or accept, kind byte included:
/// room for a 4 KiB data payload.
pub const MESSAGE_MAX: usize = 4097;
/// The largest payload of a message.
pub const PAYLOAD_MAX: usize = MESSAGE_MAX - 1;

/// A decoded message, borrowing its payload from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A request to send the payload back in a pong.
    Ping(&'a [u8]),
    /// The answer to a ping, with the ping's payload.
    Pong(&'a [u8]),
    /// Bytes to be counted and dropped.
    Data(&'a [u8]),
}

/// Why a record is not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The record has no bytes.
    Empty,
    /// The kind byte is neither ping nor pong.
    UnknownKind(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Empty => write!(formatter, "empty message"),
            Self::UnknownKind(kind) => write!(formatter, "unknown message kind {kind}"),
        }
    }
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The buffer is shorter than the message (`needed` bytes).
    BufferTooSmall {
        /// Bytes the message takes.
        needed: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(formatter, "the message needs a buffer of {needed} bytes")
            }
        }
    }
}

impl<'a> Message<'a> {
    /// Reads a message from a received record.
    pub fn decode(record: &'a [u8]) -> Result<Self, DecodeError> {
        match record.split_first() {
            None => Err(DecodeError::Empty),
            Some((&KIND_PING, payload)) => Ok(Self::Ping(payload)),
            Some((&KIND_PONG, payload)) => Ok(Self::Pong(payload)),
            Some((&KIND_DATA, payload)) => Ok(Self::Data(payload)),
            Some((&kind, _)) => Err(DecodeError::UnknownKind(kind)),
        }
    }

    /// The kind byte.
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Ping(_) => KIND_PING,
            Self::Pong(_) => KIND_PONG,
            Self::Data(_) => KIND_DATA,
        }
    }

    /// The payload.
    pub const fn payload(&self) -> &'a [u8] {
        match self {
            Self::Ping(payload) | Self::Pong(payload) | Self::Data(payload) => payload,
        }
    }

    /// Bytes of the encoded message.
    pub const fn encoded_length(&self) -> usize {
        1 + self.payload().len()
    }

    /// Writes the message to the start of `buffer`; returns its length.
    pub fn encode(&self, buffer: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.encoded_length();
        let Some(record) = buffer.get_mut(..needed) else {
            return Err(EncodeError::BufferTooSmall { needed });
        };
        record[0] = self.kind();
        record[1..].copy_from_slice(self.payload());
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_and_pong_round_trip() {
        let mut buffer = [0u8; MESSAGE_MAX];
        let block = [0x5a; PAYLOAD_MAX];
        for message in [
            Message::Ping(&7u64.to_le_bytes()),
            Message::Pong(b"abc"),
            Message::Ping(&[]),
            Message::Data(&block),
        ] {
            let length = message.encode(&mut buffer).unwrap();
            assert_eq!(length, message.encoded_length());
            assert_eq!(Message::decode(&buffer[..length]), Ok(message));
        }
    }

    #[test]
    fn the_kind_byte_comes_first() {
        let mut buffer = [0u8; 8];
        let length = Message::Pong(&[9, 8]).encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], &[KIND_PONG, 9, 8]);
        let length = Message::Ping(&[5]).encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], &[KIND_PING, 5]);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(Message::decode(&[0, 1, 2]), Err(DecodeError::UnknownKind(0)));
        assert_eq!(Message::decode(&[4, 1]), Err(DecodeError::UnknownKind(4)));
        assert_eq!(Message::decode(&[0xff]), Err(DecodeError::UnknownKind(0xff)));
    }

    #[test]
    fn a_short_buffer_is_refused() {
        let mut buffer = [0u8; 4];
        assert_eq!(
            Message::Ping(&[1, 2, 3, 4]).encode(&mut buffer),
            Err(EncodeError::BufferTooSmall { needed: 5 })
        );
        assert_eq!(buffer, [0; 4]);
    }
}
