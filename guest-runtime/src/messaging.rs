//! Messages between app VMs and peers on the network, as they cross the
//! channel between an app VM and netvm. netvm carries them over libp2p as
//! `/elastos/msg/1.0.0` requests and receipts (docs/messaging.md); an app VM
//! never sees a socket, only these four records.
//!
//! Each record is a [`crate::message`] kind byte and a payload; integers are
//! little-endian, and a name or peer is one length byte and its bytes:
//!
//! | kind | record  | from  | payload                                        |
//! |------|---------|-------|------------------------------------------------|
//! | 4    | send    | app   | id u64, peer, recipient, body                  |
//! | 5    | receipt | netvm | id u64, status u8                              |
//! | 6    | deliver | netvm | delivery u64, peer, sender, body               |
//! | 7    | accept  | app   | delivery u64, status u8                        |
//! | 8    | register| app   | name (the rest of the record; empty: none)     |
//!
//! `peer` is the binary PeerId (a multihash) of the remote node. The app VM
//! numbers what it sends (`id`); netvm answers every send with exactly one
//! receipt. netvm numbers what it delivers (`delivery`); the app answers
//! each with an accept, which netvm turns into the receipt the remote peer
//! waits for. An app VM says which application (dapp) it runs with a
//! register: messages for that name then go to it, until it registers
//! another name (or none) or its channel goes down.

use core::fmt;

/// The kind byte of a send.
pub const KIND_SEND: u8 = 4;
/// The kind byte of a receipt.
pub const KIND_RECEIPT: u8 = 5;
/// The kind byte of a delivery.
pub const KIND_DELIVER: u8 = 6;
/// The kind byte of an accept.
pub const KIND_ACCEPT: u8 = 7;
/// The kind byte of a register.
pub const KIND_REGISTER: u8 = 8;
/// The longest body a message may carry, the longest application name and
/// the longest binary PeerId: one definition with the wire and the host API.
pub use elastos_host_api::{BODY_MAX, NAME_MAX, PEER_MAX};

/// What became of a message: one definition with the wire (netvm's
/// `elastos-p2p`) and the dapps' events (`elastos-host-api`).
pub use elastos_host_api::event::MessageStatus as Status;

/// A decoded record, borrowing from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// An app VM asks netvm to send `body` to `recipient` on `peer`.
    Send {
        /// The app's number for the message.
        id: u64,
        /// The remote node's binary PeerId.
        peer: &'a [u8],
        /// The application addressed there.
        recipient: &'a [u8],
        /// The message.
        body: &'a [u8],
    },
    /// netvm tells an app VM what became of its message `id`.
    Receipt {
        /// The app's number for the message.
        id: u64,
        /// What became of it.
        status: Status,
    },
    /// netvm hands an app VM a message from `sender` on `peer`.
    Deliver {
        /// netvm's number for the delivery.
        delivery: u64,
        /// The sending node's binary PeerId.
        peer: &'a [u8],
        /// The application that sent it there.
        sender: &'a [u8],
        /// The message.
        body: &'a [u8],
    },
    /// An app VM answers delivery `delivery`.
    Accept {
        /// netvm's number for the delivery.
        delivery: u64,
        /// Whether the app took it.
        status: Status,
    },
    /// An app VM says which application it runs (none when empty).
    Register {
        /// The application's name.
        name: &'a [u8],
    },
}

/// Why a record is not a messaging record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The kind byte is not a messaging kind.
    NotMessaging,
    /// The record ends inside a field.
    Truncated,
    /// A peer, a name or a body is over its limit.
    TooLong,
    /// An unknown status number.
    UnknownStatus(u8),
    /// Bytes after a fixed-size record.
    TrailingBytes,
}

impl fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::NotMessaging => write!(formatter, "not a messaging record"),
            Self::Truncated => write!(formatter, "messaging record cut short"),
            Self::TooLong => write!(formatter, "messaging record field over its limit"),
            Self::UnknownStatus(code) => write!(formatter, "unknown message status {code}"),
            Self::TrailingBytes => write!(formatter, "bytes after the end of a messaging record"),
        }
    }
}

/// Reads `record` from its front.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], RecordError> {
        if count > self.0.len() {
            return Err(RecordError::Truncated);
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn status(&mut self) -> Result<Status, RecordError> {
        let code = self.take(1)?[0];
        Status::from_code(code).ok_or(RecordError::UnknownStatus(code))
    }

    /// A length byte and that many bytes, at most `limit`.
    fn field(&mut self, limit: usize) -> Result<&'a [u8], RecordError> {
        let length = usize::from(self.take(1)?[0]);
        if length > limit {
            return Err(RecordError::TooLong);
        }
        self.take(length)
    }

    fn body(self) -> Result<&'a [u8], RecordError> {
        if self.0.len() > BODY_MAX {
            return Err(RecordError::TooLong);
        }
        Ok(self.0)
    }

    fn end(self) -> Result<(), RecordError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes)
        }
    }
}

/// Writes to a buffer from its front.
struct Writer<'b> {
    buffer: &'b mut [u8],
    length: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let end = self.length + bytes.len();
        let slot = self.buffer.get_mut(self.length..end).ok_or(RecordError::TooLong)?;
        slot.copy_from_slice(bytes);
        self.length = end;
        Ok(())
    }

    fn field(&mut self, bytes: &[u8], limit: usize) -> Result<(), RecordError> {
        if bytes.len() > limit {
            return Err(RecordError::TooLong);
        }
        self.put(&[bytes.len() as u8])?;
        self.put(bytes)
    }

    /// A send or a delivery: `kind`, its number, the peer, the application
    /// name and the body.
    fn message(
        &mut self,
        kind: u8,
        number: u64,
        peer: &[u8],
        name: &[u8],
        body: &[u8],
    ) -> Result<(), RecordError> {
        if body.len() > BODY_MAX {
            return Err(RecordError::TooLong);
        }
        self.put(&[kind])?;
        self.put(&number.to_le_bytes())?;
        self.field(peer, PEER_MAX)?;
        self.field(name, NAME_MAX)?;
        self.put(body)
    }

    /// A receipt or an accept: `kind`, the number answered and the status.
    fn answer(&mut self, kind: u8, number: u64, status: Status) -> Result<(), RecordError> {
        self.put(&[kind])?;
        self.put(&number.to_le_bytes())?;
        self.put(&[status.code()])
    }
}

impl<'a> Record<'a> {
    /// Reads a record (its kind byte first).
    pub fn decode(record: &'a [u8]) -> Result<Self, RecordError> {
        let Some((&kind, payload)) = record.split_first() else {
            return Err(RecordError::NotMessaging);
        };
        let mut cursor = Cursor(payload);
        match kind {
            // A send and a delivery share their layout, as do a receipt and
            // an accept.
            KIND_SEND | KIND_DELIVER => {
                let number = cursor.u64()?;
                let peer = cursor.field(PEER_MAX)?;
                let name = cursor.field(NAME_MAX)?;
                let body = cursor.body()?;
                Ok(if kind == KIND_SEND {
                    Self::Send { id: number, peer, recipient: name, body }
                } else {
                    Self::Deliver { delivery: number, peer, sender: name, body }
                })
            }
            KIND_RECEIPT | KIND_ACCEPT => {
                let number = cursor.u64()?;
                let status = cursor.status()?;
                cursor.end()?;
                Ok(if kind == KIND_RECEIPT {
                    Self::Receipt { id: number, status }
                } else {
                    Self::Accept { delivery: number, status }
                })
            }
            KIND_REGISTER => {
                if payload.len() > NAME_MAX {
                    return Err(RecordError::TooLong);
                }
                Ok(Self::Register { name: payload })
            }
            _ => Err(RecordError::NotMessaging),
        }
    }

    /// Writes the record to the front of `buffer`; returns its length.
    pub fn encode(&self, buffer: &mut [u8]) -> Result<usize, RecordError> {
        let mut writer = Writer { buffer, length: 0 };
        match *self {
            Self::Send { id, peer, recipient, body } => {
                writer.message(KIND_SEND, id, peer, recipient, body)?;
            }
            Self::Deliver { delivery, peer, sender, body } => {
                writer.message(KIND_DELIVER, delivery, peer, sender, body)?;
            }
            Self::Receipt { id, status } => writer.answer(KIND_RECEIPT, id, status)?,
            Self::Accept { delivery, status } => writer.answer(KIND_ACCEPT, delivery, status)?,
            Self::Register { name } => {
                if name.len() > NAME_MAX {
                    return Err(RecordError::TooLong);
                }
                writer.put(&[KIND_REGISTER])?;
                writer.put(name)?;
            }
        }
        Ok(writer.length)
    }

    /// Whether `kind` is one of the messaging kinds.
    pub const fn is_messaging_kind(kind: u8) -> bool {
        matches!(kind, KIND_SEND..=KIND_REGISTER)
    }
}

/// The base58btc alphabet (Bitcoin's), in which libp2p writes PeerIds.
const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A binary PeerId as libp2p prints it (base58btc), for consoles.
pub struct PeerText<'a>(pub &'a [u8]);

impl fmt::Display for PeerText<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        // 58^d > 256^n for d = n * 138 / 100 + 1 digits.
        let mut digits = [0u8; PEER_MAX * 138 / 100 + 1];
        let mut used = 0;
        if self.0.len() > PEER_MAX {
            return write!(formatter, "(a PeerId of {} bytes)", self.0.len());
        }
        for &byte in self.0 {
            let mut carry = u32::from(byte);
            for digit in digits[..used].iter_mut() {
                carry += u32::from(*digit) << 8;
                *digit = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits[used] = (carry % 58) as u8;
                used += 1;
                carry /= 58;
            }
        }
        // Each leading zero byte is a leading '1'.
        for _ in self.0.iter().take_while(|&&byte| byte == 0) {
            formatter.write_str("1")?;
        }
        for &digit in digits[..used].iter().rev() {
            write!(formatter, "{}", BASE58_ALPHABET[usize::from(digit)] as char)?;
        }
        Ok(())
    }
}

/// The largest record: a send or delivery with every field full. It fits a
/// channel message ([`crate::message::MESSAGE_MAX`]).
pub const RECORD_MAX: usize = 1 + 8 + 1 + PEER_MAX + 1 + NAME_MAX + BODY_MAX;

const _: () = assert!(RECORD_MAX <= crate::message::MESSAGE_MAX);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let body = [7u8; BODY_MAX];
        let peer = [1u8; PEER_MAX];
        let name = [b'n'; NAME_MAX];
        let records = [
            Record::Send { id: 9, peer: &peer, recipient: &name, body: &body },
            Record::Send { id: 0, peer: &[], recipient: b"host", body: &[] },
            Record::Deliver { delivery: u64::MAX, peer: &peer[..38], sender: b"a", body: b"hi" },
            Record::Receipt { id: 3, status: Status::Unreachable },
            Record::Accept { delivery: 4, status: Status::Busy },
            Record::Register { name: b"chat" },
            Record::Register { name: b"" },
        ];
        let mut buffer = [0u8; RECORD_MAX];
        for record in records {
            let length = record.encode(&mut buffer).unwrap();
            assert_eq!(Record::decode(&buffer[..length]), Ok(record));
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let mut buffer = [0u8; 64];
        let length =
            Record::Receipt { id: 0x0102, status: Status::TooLarge }.encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], &[KIND_RECEIPT, 2, 1, 0, 0, 0, 0, 0, 0, 3]);
        let length = Record::Send { id: 1, peer: &[0xaa], recipient: b"x", body: b"yz" }
            .encode(&mut buffer)
            .unwrap();
        assert_eq!(
            &buffer[..length],
            &[KIND_SEND, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa, 1, b'x', b'y', b'z']
        );
    }

    #[test]
    fn bad_records_are_refused() {
        assert_eq!(Record::decode(&[]), Err(RecordError::NotMessaging));
        assert_eq!(Record::decode(&[1, 2, 3]), Err(RecordError::NotMessaging));
        assert_eq!(Record::decode(&[KIND_RECEIPT, 1, 2]), Err(RecordError::Truncated));
        let mut receipt = [0u8; 10];
        receipt[0] = KIND_RECEIPT;
        receipt[9] = 200;
        assert_eq!(Record::decode(&receipt), Err(RecordError::UnknownStatus(200)));
        let mut long = [0u8; 11];
        long[0] = KIND_ACCEPT;
        assert_eq!(Record::decode(&long), Err(RecordError::TrailingBytes));
        // A peer length over the limit, and one past the record's end.
        let mut send = [0u8; 12];
        send[0] = KIND_SEND;
        send[9] = PEER_MAX as u8 + 1;
        assert_eq!(Record::decode(&send), Err(RecordError::TooLong));
        send[9] = 5;
        assert_eq!(Record::decode(&send), Err(RecordError::Truncated));
        let mut oversized = [0u8; 1 + 8 + 2 + BODY_MAX + 1];
        oversized[0] = KIND_DELIVER;
        assert_eq!(Record::decode(&oversized), Err(RecordError::TooLong));
    }

    #[test]
    fn encoding_checks_limits_and_room() {
        let body = [0u8; BODY_MAX + 1];
        let mut buffer = [0u8; RECORD_MAX + 8];
        let send = Record::Send { id: 1, peer: &[], recipient: b"a", body: &body };
        assert_eq!(send.encode(&mut buffer), Err(RecordError::TooLong));
        let name = [0u8; NAME_MAX + 1];
        let send = Record::Send { id: 1, peer: &[], recipient: &name, body: &[] };
        assert_eq!(send.encode(&mut buffer), Err(RecordError::TooLong));
        let mut small = [0u8; 5];
        let receipt = Record::Receipt { id: 1, status: Status::Delivered };
        assert_eq!(receipt.encode(&mut small), Err(RecordError::TooLong));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut buffer = [0u8; 64];
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = (state % 64) as usize;
            for (index, byte) in buffer[..length].iter_mut().enumerate() {
                *byte = (state >> (index % 8 * 8)) as u8 ^ index as u8;
            }
            buffer[0] = KIND_SEND + (state % 4) as u8;
            let _ = Record::decode(&buffer[..length]);
        }
    }

    #[test]
    fn peers_print_in_base58() {
        extern crate std;
        let text = |bytes: &[u8]| std::format!("{}", PeerText(bytes));
        // Base58btc examples: "Hello World!" and leading zeros.
        assert_eq!(text(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(text(&[0, 0, 0x28, 0x7f, 0xb4, 0xcd]), "11233QC4");
        assert_eq!(text(&[]), "");
        // The identity multihash of an ed25519 key starts `12D3KooW`.
        let mut peer = [0u8; 38];
        peer[..6].copy_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        assert!(text(&peer).starts_with("12D3KooW"), "{}", text(&peer));
    }

    #[test]
    fn statuses_have_codes_and_names() {
        for code in 0..=6 {
            let status = Status::from_code(code).unwrap();
            assert_eq!(status.code(), code);
            assert!(!status.name().is_empty());
        }
        assert_eq!(Status::from_code(7), None);
    }
}
