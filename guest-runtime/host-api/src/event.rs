//! The events `event_wait` hands a dapp, and their byte encoding.
//!
//! `event_wait` writes one event to the dapp's buffer. The first byte is its
//! kind; integers are little-endian; a peer or an application name is one
//! length byte and that many bytes of UTF-8:
//!
//! | kind | event   | payload                                              |
//! |------|---------|------------------------------------------------------|
//! | 1    | message | delivery u64, peer (base58 text), app name, body     |
//! | 2    | receipt | message id u64, status u8 ([`MessageStatus`])        |
//! | 3    | stop    | nothing                                              |
//!
//! A message's body runs to the end of the event. The longest event is
//! [`EVENT_MAX`] bytes; a buffer of that size never sees
//! [`Status::BufferTooSmall`](crate::Status::BufferTooSmall).

use crate::{BODY_MAX, NAME_MAX, PEER_TEXT_MAX};
use core::fmt;

/// The kind byte of a received message.
pub const KIND_MESSAGE: u8 = 1;
/// The kind byte of a receipt for a sent message.
pub const KIND_RECEIPT: u8 = 2;
/// The kind byte of a stop request.
pub const KIND_STOP: u8 = 3;
/// The longest encoded event: a message with every field full.
pub const EVENT_MAX: usize = 1 + 8 + 1 + PEER_TEXT_MAX + 1 + NAME_MAX + BODY_MAX;

/// What became of a sent message, as its receipt says. The codes are those
/// of netvm's receipts (`guest_runtime::messaging::Status`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// The recipient took the message.
    Delivered = 0,
    /// No application of that name on the receiving node.
    UnknownRecipient = 1,
    /// The recipient exists but is not running or did not answer in time.
    Unavailable = 2,
    /// The message is over a limit.
    TooLarge = 3,
    /// The receiver has too much in flight.
    Busy = 4,
    /// netvm has no connection to the peer and could not make one.
    Unreachable = 5,
    /// The connection or stream failed before a receipt came.
    Failed = 6,
}

impl MessageStatus {
    /// The status's number, in receipts on the wire, in netvm's records and
    /// in events.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Whether a receipt on the wire (`/elastos/msg/1.0.0`) may carry it: the
    /// receiving node's answers. `Unreachable` and `Failed` are the sending
    /// netvm's own.
    pub const fn is_receipt_status(self) -> bool {
        (self as u8) <= MessageStatus::Busy as u8
    }

    /// The status numbered `code`.
    pub const fn from_code(code: u8) -> Option<MessageStatus> {
        Some(match code {
            0 => MessageStatus::Delivered,
            1 => MessageStatus::UnknownRecipient,
            2 => MessageStatus::Unavailable,
            3 => MessageStatus::TooLarge,
            4 => MessageStatus::Busy,
            5 => MessageStatus::Unreachable,
            6 => MessageStatus::Failed,
            _ => return None,
        })
    }

    /// The status's name, as netvm and the host tools print it.
    pub const fn name(self) -> &'static str {
        match self {
            MessageStatus::Delivered => "delivered",
            MessageStatus::UnknownRecipient => "unknown-recipient",
            MessageStatus::Unavailable => "unavailable",
            MessageStatus::TooLarge => "too-large",
            MessageStatus::Busy => "busy",
            MessageStatus::Unreachable => "unreachable",
            MessageStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One event, borrowing its text and body from the buffer it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message from application `app` on node `peer`.
    Message {
        /// netvm's number for the delivery.
        delivery: u64,
        /// The sending node's PeerId, in base58 text.
        peer: &'a str,
        /// The sending application's name.
        app: &'a str,
        /// The message.
        body: &'a [u8],
    },
    /// What became of message `id`, which this dapp sent.
    Receipt {
        /// The id `message_send` returned.
        id: u64,
        /// What became of it.
        status: MessageStatus,
    },
    /// The dapp is asked to return from its entry soon.
    Stop,
}

/// Why bytes are not an event, or an event does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventError {
    /// The event ends inside a field (or is empty).
    Truncated,
    /// A peer, a name or a body is over its limit.
    TooLong,
    /// An unknown kind byte.
    UnknownKind(u8),
    /// An unknown receipt status.
    UnknownStatus(u8),
    /// A peer or a name that is not UTF-8.
    NotText,
    /// Bytes after a fixed-size event.
    TrailingBytes,
    /// The buffer holds fewer than `needed` bytes.
    BufferTooSmall {
        /// The event's encoded length.
        needed: usize,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            EventError::Truncated => write!(formatter, "event cut short"),
            EventError::TooLong => write!(formatter, "event field over its limit"),
            EventError::UnknownKind(kind) => write!(formatter, "unknown event kind {kind}"),
            EventError::UnknownStatus(code) => write!(formatter, "unknown receipt status {code}"),
            EventError::NotText => write!(formatter, "event text that is not UTF-8"),
            EventError::TrailingBytes => write!(formatter, "bytes after the end of an event"),
            EventError::BufferTooSmall { needed } => {
                write!(formatter, "an event of {needed} bytes does not fit the buffer")
            }
        }
    }
}

/// Takes fields from the front of an event.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], EventError> {
        if count > self.0.len() {
            return Err(EventError::Truncated);
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, EventError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, EventError> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn text(&mut self, limit: usize) -> Result<&'a str, EventError> {
        let length = usize::from(self.byte()?);
        if length > limit {
            return Err(EventError::TooLong);
        }
        core::str::from_utf8(self.take(length)?).map_err(|_| EventError::NotText)
    }

    fn end(&self) -> Result<(), EventError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(EventError::TrailingBytes)
        }
    }
}

impl<'a> Event<'a> {
    /// The event's encoded length.
    pub fn encoded_length(&self) -> usize {
        match self {
            Event::Message { peer, app, body, .. } => {
                1 + 8 + 1 + peer.len() + 1 + app.len() + body.len()
            }
            Event::Receipt { .. } => 1 + 8 + 1,
            Event::Stop => 1,
        }
    }

    /// Writes the event to the front of `buffer`; returns its length.
    pub fn encode(&self, buffer: &mut [u8]) -> Result<usize, EventError> {
        if let Event::Message { peer, app, body, .. } = self {
            if peer.len() > PEER_TEXT_MAX || app.len() > NAME_MAX || body.len() > BODY_MAX {
                return Err(EventError::TooLong);
            }
        }
        let needed = self.encoded_length();
        let Some(out) = buffer.get_mut(..needed) else {
            return Err(EventError::BufferTooSmall { needed });
        };
        match *self {
            Event::Message { delivery, peer, app, body } => {
                out[0] = KIND_MESSAGE;
                out[1..9].copy_from_slice(&delivery.to_le_bytes());
                let mut at = 9;
                for text in [peer.as_bytes(), app.as_bytes()] {
                    // Both were checked against limits under 256 above.
                    out[at] = text.len() as u8;
                    out[at + 1..at + 1 + text.len()].copy_from_slice(text);
                    at += 1 + text.len();
                }
                out[at..].copy_from_slice(body);
            }
            Event::Receipt { id, status } => {
                out[0] = KIND_RECEIPT;
                out[1..9].copy_from_slice(&id.to_le_bytes());
                out[9] = status as u8;
            }
            Event::Stop => out[0] = KIND_STOP,
        }
        Ok(needed)
    }

    /// Reads an event.
    pub fn decode(bytes: &'a [u8]) -> Result<Event<'a>, EventError> {
        let mut reader = Reader(bytes);
        match reader.byte()? {
            KIND_MESSAGE => {
                let delivery = reader.u64()?;
                let peer = reader.text(PEER_TEXT_MAX)?;
                let app = reader.text(NAME_MAX)?;
                if reader.0.len() > BODY_MAX {
                    return Err(EventError::TooLong);
                }
                Ok(Event::Message { delivery, peer, app, body: reader.0 })
            }
            KIND_RECEIPT => {
                let id = reader.u64()?;
                let code = reader.byte()?;
                let status =
                    MessageStatus::from_code(code).ok_or(EventError::UnknownStatus(code))?;
                reader.end()?;
                Ok(Event::Receipt { id, status })
            }
            KIND_STOP => {
                reader.end()?;
                Ok(Event::Stop)
            }
            kind => Err(EventError::UnknownKind(kind)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_layout_is_as_documented() {
        let mut buffer = [0u8; 64];
        let message = Event::Message { delivery: 0x0201, peer: "12D", app: "ab", body: b"hi" };
        let length = message.encode(&mut buffer).unwrap();
        assert_eq!(
            &buffer[..length],
            &[1, 1, 2, 0, 0, 0, 0, 0, 0, 3, b'1', b'2', b'D', 2, b'a', b'b', b'h', b'i']
        );
        let receipt = Event::Receipt { id: 7, status: MessageStatus::Unreachable };
        let length = receipt.encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], &[2, 7, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Event::Stop.encode(&mut buffer), Ok(1));
        assert_eq!(buffer[0], 3);
    }

    #[test]
    fn the_largest_event_fits_event_max() {
        let peer = "1".repeat(PEER_TEXT_MAX);
        let app = "a".repeat(NAME_MAX);
        let body = [0u8; BODY_MAX];
        let event = Event::Message { delivery: 1, peer: &peer, app: &app, body: &body };
        assert_eq!(event.encoded_length(), EVENT_MAX);
        let mut buffer = [0u8; EVENT_MAX];
        assert_eq!(event.encode(&mut buffer), Ok(EVENT_MAX));
        assert_eq!(Event::decode(&buffer), Ok(event));
        assert_eq!(
            event.encode(&mut buffer[..EVENT_MAX - 1]),
            Err(EventError::BufferTooSmall { needed: EVENT_MAX })
        );
    }

    #[test]
    fn bad_events_are_refused() {
        assert_eq!(Event::decode(&[]), Err(EventError::Truncated));
        assert_eq!(Event::decode(&[9]), Err(EventError::UnknownKind(9)));
        assert_eq!(Event::decode(&[3, 0]), Err(EventError::TrailingBytes));
        assert_eq!(
            Event::decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 7]),
            Err(EventError::UnknownStatus(7))
        );
        assert_eq!(Event::decode(&[2, 0, 0]), Err(EventError::Truncated));
        assert_eq!(Event::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 62]), Err(EventError::TooLong));
        assert_eq!(
            Event::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0]),
            Err(EventError::NotText)
        );
        let long = Event::Message { delivery: 0, peer: "", app: "", body: &[0; BODY_MAX + 1] };
        assert_eq!(long.encode(&mut [0u8; EVENT_MAX + 8]), Err(EventError::TooLong));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Event::decode(&bytes);
        }

        #[test]
        fn messages_round_trip(
            delivery in any::<u64>(),
            peer in "[1-9A-HJ-NP-Za-km-z]{0,61}",
            app in "[a-z0-9-]{0,32}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let event = Event::Message { delivery, peer: &peer, app: &app, body: &body };
            let mut buffer = [0u8; EVENT_MAX];
            let length = event.encode(&mut buffer).unwrap();
            prop_assert_eq!(length, event.encoded_length());
            prop_assert_eq!(Event::decode(&buffer[..length]), Ok(event));
        }

        #[test]
        fn receipts_round_trip(id in any::<u64>(), code in 0u8..7) {
            let status = MessageStatus::from_code(code).unwrap();
            let event = Event::Receipt { id, status };
            let mut buffer = [0u8; 16];
            let length = event.encode(&mut buffer).unwrap();
            prop_assert_eq!(Event::decode(&buffer[..length]), Ok(event));
        }
    }
}
