//! What netvm and chainvm say to each other about the node's identity on the
//! channel between them (`netvm-chainvm`). chainvm holds the node's ed25519
//! key; netvm, whose libp2p PeerId is that key, never sees the secret: it
//! asks for the public key at start, and for the one signature libp2p's
//! Noise handshake needs, over its own X25519 static key. docs/identity.md
//! tells the whole story.
//!
//! Each record is a kind byte and fixed fields:
//!
//! | kind | record            | from    | fields                                         |
//! |------|-------------------|---------|------------------------------------------------|
//! | 32   | key request       | netvm   | (none)                                         |
//! | 33   | key               | chainvm | public key [32]                                |
//! | 34   | handshake request | netvm   | request u32, Noise static public key [32]      |
//! | 35   | handshake answer  | chainvm | request u32, status u8, signature [64]         |
//! | 36   | no key            | chainvm | reason u8                                      |
//!
//! chainvm signs nothing but the libp2p statement
//! `"noise-libp2p-static-key:" ‖ static key` ([`HANDSHAKE_STATEMENT_PREFIX`]),
//! so netvm cannot have it sign anything else under the node key. A status
//! other than 0 in a handshake answer means no signature (the zeros that
//! stand in its place are meaningless).

/// The kind byte of netvm's request for the node's public key.
pub const KIND_KEY_REQUEST: u8 = 32;
/// The kind byte of chainvm's answer with the node's public key.
pub const KIND_KEY: u8 = 33;
/// The kind byte of netvm's request for a handshake signature.
pub const KIND_HANDSHAKE_REQUEST: u8 = 34;
/// The kind byte of chainvm's handshake signature.
pub const KIND_HANDSHAKE_ANSWER: u8 = 35;
/// The kind byte of chainvm's answer when it has no key to lend.
pub const KIND_NO_KEY: u8 = 36;

/// What libp2p's Noise handshake signs, before the static key.
pub const HANDSHAKE_STATEMENT_PREFIX: &[u8] = b"noise-libp2p-static-key:";

/// The longest record of this protocol.
pub const RECORD_MAX: usize = 1 + 4 + 1 + 64;

/// Why chainvm has no key to lend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoKey {
    /// chainvm has no entropy to make one.
    NoEntropy,
    /// The key in the store is damaged or was tampered with.
    Damaged,
    /// The store could not be read or written.
    StoreFailed,
}

impl NoKey {
    /// The reason's number.
    pub const fn code(self) -> u8 {
        match self {
            Self::NoEntropy => 1,
            Self::Damaged => 2,
            Self::StoreFailed => 3,
        }
    }

    /// The reason numbered `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::NoEntropy),
            2 => Some(Self::Damaged),
            3 => Some(Self::StoreFailed),
            _ => None,
        }
    }
}

impl core::fmt::Display for NoKey {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter.write_str(match self {
            Self::NoEntropy => "chainvm has no entropy to make the node key",
            Self::Damaged => "the node key in chainvm's store is damaged",
            Self::StoreFailed => "chainvm's store failed",
        })
    }
}

/// A record of the identity protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// netvm asks for the node's public key.
    KeyRequest,
    /// The node's ed25519 public key.
    Key {
        /// Its compressed 32 bytes.
        public_key: [u8; 32],
    },
    /// netvm asks for the signature of the handshake statement over its
    /// Noise static public key.
    HandshakeRequest {
        /// netvm's number for the request, repeated in the answer.
        request: u32,
        /// The X25519 static public key.
        static_key: [u8; 32],
    },
    /// chainvm's answer: status 0 and the signature, or a failure.
    HandshakeAnswer {
        /// The request's number.
        request: u32,
        /// 0: signed; otherwise a [`NoKey`] code.
        status: u8,
        /// The ed25519 signature (zeros on failure).
        signature: [u8; 64],
    },
    /// chainvm has no key to lend, and says why.
    NoKey {
        /// Why.
        reason: NoKey,
    },
}

/// Why bytes are not an identity record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// An empty record or a kind this protocol does not have.
    UnknownKind,
    /// The record's length does not fit its kind.
    WrongLength,
    /// A reason code this protocol does not have.
    UnknownReason,
    /// The buffer is too small for the record.
    BufferTooSmall,
}

impl Record {
    /// Whether `kind` is one of this protocol's kind bytes.
    pub const fn is_identity_kind(kind: u8) -> bool {
        matches!(kind, KIND_KEY_REQUEST..=KIND_NO_KEY)
    }

    /// Reads a record.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let (&kind, body) = bytes.split_first().ok_or(RecordError::UnknownKind)?;
        let exact = |length: usize| {
            if body.len() == length {
                Ok(())
            } else {
                Err(RecordError::WrongLength)
            }
        };
        let array = |range: core::ops::Range<usize>| body.get(range).unwrap_or_default();
        match kind {
            KIND_KEY_REQUEST => exact(0).map(|()| Self::KeyRequest),
            KIND_KEY => {
                exact(32)?;
                let mut public_key = [0u8; 32];
                public_key.copy_from_slice(body);
                Ok(Self::Key { public_key })
            }
            KIND_HANDSHAKE_REQUEST => {
                exact(36)?;
                let mut static_key = [0u8; 32];
                static_key.copy_from_slice(array(4..36));
                Ok(Self::HandshakeRequest { request: u32_at(body), static_key })
            }
            KIND_HANDSHAKE_ANSWER => {
                exact(69)?;
                let mut signature = [0u8; 64];
                signature.copy_from_slice(array(5..69));
                Ok(Self::HandshakeAnswer { request: u32_at(body), status: body[4], signature })
            }
            KIND_NO_KEY => {
                exact(1)?;
                let reason = NoKey::from_code(body[0]).ok_or(RecordError::UnknownReason)?;
                Ok(Self::NoKey { reason })
            }
            _ => Err(RecordError::UnknownKind),
        }
    }

    /// Writes the record into `buffer`; returns its length.
    pub fn encode(&self, buffer: &mut [u8]) -> Result<usize, RecordError> {
        let mut record = [0u8; RECORD_MAX];
        let length = match self {
            Self::KeyRequest => {
                record[0] = KIND_KEY_REQUEST;
                1
            }
            Self::Key { public_key } => {
                record[0] = KIND_KEY;
                record[1..33].copy_from_slice(public_key);
                33
            }
            Self::HandshakeRequest { request, static_key } => {
                record[0] = KIND_HANDSHAKE_REQUEST;
                record[1..5].copy_from_slice(&request.to_le_bytes());
                record[5..37].copy_from_slice(static_key);
                37
            }
            Self::HandshakeAnswer { request, status, signature } => {
                record[0] = KIND_HANDSHAKE_ANSWER;
                record[1..5].copy_from_slice(&request.to_le_bytes());
                record[5] = *status;
                record[6..70].copy_from_slice(signature);
                70
            }
            Self::NoKey { reason } => {
                record[0] = KIND_NO_KEY;
                record[1] = reason.code();
                2
            }
        };
        let output = buffer.get_mut(..length).ok_or(RecordError::BufferTooSmall)?;
        output.copy_from_slice(&record[..length]);
        Ok(length)
    }
}

/// The little-endian `u32` at the start of `bytes` (which holds at least 4).
fn u32_at(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(word)
}

/// The statement libp2p's Noise handshake signs for `static_key`.
pub fn handshake_statement(static_key: &[u8; 32]) -> [u8; 56] {
    let mut statement = [0u8; 56];
    statement[..24].copy_from_slice(HANDSHAKE_STATEMENT_PREFIX);
    statement[24..].copy_from_slice(static_key);
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> [Record; 5] {
        [
            Record::KeyRequest,
            Record::Key { public_key: [7; 32] },
            Record::HandshakeRequest { request: 0x0102_0304, static_key: [9; 32] },
            Record::HandshakeAnswer { request: 5, status: 0, signature: [3; 64] },
            Record::NoKey { reason: NoKey::Damaged },
        ]
    }

    #[test]
    fn records_round_trip_and_prefixes_are_refused() {
        for record in every_kind() {
            let mut buffer = [0u8; RECORD_MAX];
            let length = record.encode(&mut buffer).unwrap();
            assert!(Record::is_identity_kind(buffer[0]));
            assert_eq!(Record::decode(&buffer[..length]), Ok(record));
            for cut in 0..length {
                assert!(Record::decode(&buffer[..cut]).is_err(), "{record:?} cut at {cut}");
            }
            let mut longer = buffer[..length].to_vec();
            longer.push(0);
            assert_eq!(Record::decode(&longer), Err(RecordError::WrongLength));
        }
    }

    #[test]
    fn small_buffers_and_unknown_codes_are_refused() {
        let mut buffer = [0u8; 10];
        assert_eq!(
            Record::Key { public_key: [0; 32] }.encode(&mut buffer),
            Err(RecordError::BufferTooSmall)
        );
        assert_eq!(Record::decode(&[KIND_NO_KEY, 0]), Err(RecordError::UnknownReason));
        assert_eq!(Record::decode(&[31]), Err(RecordError::UnknownKind));
        assert_eq!(Record::decode(&[37]), Err(RecordError::UnknownKind));
    }

    #[test]
    fn the_statement_is_libp2p_s() {
        let statement = handshake_statement(&[0xab; 32]);
        assert_eq!(&statement[..24], b"noise-libp2p-static-key:");
        assert_eq!(&statement[24..], &[0xab; 32]);
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly() {
        // Every kind byte at every length up to past the longest record,
        // with bytes that vary by position: what decodes encodes back to
        // the same bytes.
        for kind in 0..=255u8 {
            for length in 0..=RECORD_MAX + 2 {
                for fill in [0u8, 1, 0xff] {
                    let mut bytes = std::vec![kind];
                    bytes.extend((0..length).map(|index| fill.wrapping_add(index as u8)));
                    if let Ok(record) = Record::decode(&bytes) {
                        let mut buffer = [0u8; RECORD_MAX];
                        let encoded = record.encode(&mut buffer).unwrap();
                        assert_eq!(&buffer[..encoded], &bytes[..]);
                    }
                }
            }
        }
    }
}
