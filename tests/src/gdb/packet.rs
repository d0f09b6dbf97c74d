//! Framing of GDB Remote Serial Protocol packets: checksums, escaping, run-length decoding,
//! hexadecimal payloads and the splitting of a byte stream into acknowledgements and packets.
//!
//! A packet travels as `$payload#xx`, where `xx` is the modulo-256 sum of the payload bytes as
//! sent, in two hexadecimal digits. Inside the payload the bytes `#`, `$`, `}` and `*` are sent
//! as `}` followed by the byte XOR 0x20, and a stub may compress a run of a repeated byte as the
//! byte, `*` and a count character whose value minus 29 is the number of extra repetitions.

use std::fmt::Write as _;

use thiserror::Error;

/// The byte that introduces an escaped byte.
const ESCAPE: u8 = b'}';
/// The byte that introduces a run-length count.
const RUN_LENGTH: u8 = b'*';
/// The value XORed into an escaped byte.
const ESCAPE_XOR: u8 = 0x20;
/// The offset of a run-length count character from the number of extra repetitions.
const RUN_LENGTH_OFFSET: u8 = 29;

/// What was wrong with a packet received from the stub.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// The checksum after `#` does not match the payload.
    #[error(
        "checksum mismatch: the packet says {received:#04x}, its payload sums to {computed:#04x}"
    )]
    Checksum {
        /// The checksum sent with the packet.
        received: u8,
        /// The checksum computed over the payload as received.
        computed: u8,
    },
    /// The two characters after `#` are not hexadecimal digits.
    #[error("the checksum `{0}` is not two hexadecimal digits")]
    ChecksumDigits(String),
    /// The payload ends with a lone `}`.
    #[error("the payload ends in the middle of an escape sequence")]
    TruncatedEscape,
    /// The payload ends with a lone `*`, or starts with one.
    #[error("a run-length marker `*` has no count or no byte to repeat")]
    BadRunLength,
    /// A hexadecimal field holds something else.
    #[error("`{0}` is not hexadecimal data")]
    NotHexadecimal(String),
}

/// Computes the checksum of a payload as it is sent: the sum of its bytes modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte))
}

/// Escapes the bytes a payload may not carry literally: `#`, `$`, `}` and `*`.
pub fn escape(payload: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(payload.len());
    for &byte in payload {
        if matches!(byte, b'#' | b'$' | ESCAPE | RUN_LENGTH) {
            escaped.push(ESCAPE);
            escaped.push(byte ^ ESCAPE_XOR);
        } else {
            escaped.push(byte);
        }
    }
    escaped
}

/// Builds the bytes sent on the wire for a payload: `$`, the escaped payload, `#` and the
/// checksum.
pub fn encode_packet(payload: &[u8]) -> Vec<u8> {
    let escaped = escape(payload);
    let mut frame = Vec::with_capacity(escaped.len() + 4);
    frame.push(b'$');
    frame.extend_from_slice(&escaped);
    frame.push(b'#');
    frame.extend_from_slice(format!("{:02x}", checksum(&escaped)).as_bytes());
    frame
}

/// Undoes escaping and run-length encoding of a payload as received between `$` and `#`.
pub fn decode_payload(raw: &[u8]) -> Result<Vec<u8>, PacketError> {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(byte) = bytes.next() {
        match byte {
            ESCAPE => {
                let escaped = bytes.next().ok_or(PacketError::TruncatedEscape)?;
                decoded.push(escaped ^ ESCAPE_XOR);
            }
            RUN_LENGTH => {
                let count = bytes.next().ok_or(PacketError::BadRunLength)?;
                let repeated = *decoded.last().ok_or(PacketError::BadRunLength)?;
                let extra =
                    count.checked_sub(RUN_LENGTH_OFFSET).ok_or(PacketError::BadRunLength)?;
                decoded.extend(std::iter::repeat_n(repeated, usize::from(extra)));
            }
            other => decoded.push(other),
        }
    }
    Ok(decoded)
}

/// Encodes bytes as lower-case hexadecimal text, two digits a byte.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Decodes hexadecimal text, two digits a byte, into bytes.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, PacketError> {
    let not_hexadecimal = || PacketError::NotHexadecimal(text.to_owned());
    if !text.len().is_multiple_of(2) {
        return Err(not_hexadecimal());
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).map_err(|_| not_hexadecimal())?;
            u8::from_str_radix(digits, 16).map_err(|_| not_hexadecimal())
        })
        .collect()
}

/// Parses a hexadecimal number such as a thread number, a signal or an address.
pub fn parse_hex_number(text: &str) -> Result<u64, PacketError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(PacketError::NotHexadecimal(text.to_owned()));
    }
    u64::from_str_radix(text, 16).map_err(|_| PacketError::NotHexadecimal(text.to_owned()))
}

/// Decodes a little-endian value of at most eight bytes, as the stub sends register contents.
///
/// Returns `None` when there are more than eight bytes.
pub fn decode_little_endian(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > 8 {
        return None;
    }
    let mut buffer = [0u8; 8];
    buffer[..bytes.len()].copy_from_slice(bytes);
    Some(u64::from_le_bytes(buffer))
}

/// Encodes the low `size` bytes of a value in little-endian order, as the stub expects register
/// contents; bytes past the eighth are zero.
///
/// Returns `None` when the value does not fit in `size` bytes.
pub fn encode_little_endian(value: u64, size: usize) -> Option<Vec<u8>> {
    if size < 8 && value >> (size * 8) != 0 {
        return None;
    }
    let mut bytes = value.to_le_bytes().to_vec();
    bytes.resize(size, 0);
    Some(bytes)
}

/// One unit read from the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+`: the previous packet arrived intact.
    Acknowledgement,
    /// `-`: the previous packet arrived damaged and must be sent again.
    NegativeAcknowledgement,
    /// A packet with a correct checksum, its payload decoded.
    Packet(Vec<u8>),
    /// An asynchronous notification (`%...#xx`), used only in non-stop mode; its payload decoded.
    Notification(Vec<u8>),
    /// A packet that could not be used, with the reason.
    Corrupt(PacketError),
}

/// Splits the byte stream from the stub into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Creates a reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stub.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Takes the next complete frame from the buffer, or `None` if more bytes are needed.
    ///
    /// Bytes outside any frame are skipped.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let start = self.buffer.iter().position(|byte| matches!(byte, b'+' | b'-' | b'$' | b'%'));
        let Some(start) = start else {
            self.buffer.clear();
            return None;
        };
        self.buffer.drain(..start);
        match self.buffer[0] {
            b'+' => {
                self.buffer.drain(..1);
                Some(Frame::Acknowledgement)
            }
            b'-' => {
                self.buffer.drain(..1);
                Some(Frame::NegativeAcknowledgement)
            }
            introducer => {
                // A `#` cannot occur inside a payload: it is always escaped, and run-length
                // counts avoid it, so the first `#` ends the packet.
                let end = self.buffer.iter().position(|&byte| byte == b'#')?;
                if self.buffer.len() < end + 3 {
                    return None;
                }
                let frame: Vec<u8> = self.buffer.drain(..end + 3).collect();
                let raw = &frame[1..end];
                let digits = &frame[end + 1..];
                Some(Self::check(introducer, raw, digits))
            }
        }
    }

    fn check(introducer: u8, raw: &[u8], digits: &[u8]) -> Frame {
        let digits_text = String::from_utf8_lossy(digits).into_owned();
        let Ok(received) = u8::from_str_radix(&digits_text, 16) else {
            return Frame::Corrupt(PacketError::ChecksumDigits(digits_text));
        };
        let computed = checksum(raw);
        if received != computed {
            return Frame::Corrupt(PacketError::Checksum { received, computed });
        }
        match decode_payload(raw) {
            Ok(payload) if introducer == b'%' => Frame::Notification(payload),
            Ok(payload) => Frame::Packet(payload),
            Err(error) => Frame::Corrupt(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_the_byte_sum_modulo_256() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"OK"), 0x9a);
        assert_eq!(checksum(b"qSupported"), 0x37);
        assert_eq!(checksum(&[0xff, 0x02]), 0x01);
    }

    #[test]
    fn encoding_frames_and_checksums_the_payload() {
        assert_eq!(encode_packet(b"g"), b"$g#67");
        assert_eq!(encode_packet(b"OK"), b"$OK#9a");
        assert_eq!(encode_packet(b""), b"$#00");
    }

    #[test]
    fn special_bytes_are_escaped_and_the_checksum_covers_the_escapes() {
        assert_eq!(escape(b"a#b$c}d*e"), b"a}\x03b}\x04c}]d}\x0ae");
        let frame = encode_packet(b"}");
        assert_eq!(frame, b"$}]#da");
    }

    #[test]
    fn escaping_round_trips_through_decoding() {
        let payload: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_payload(&escape(&payload)).unwrap(), payload);
    }

    #[test]
    fn run_lengths_repeat_the_previous_byte() {
        // `0* ` is "0" and 32 - 29 = 3 more zeros.
        assert_eq!(decode_payload(b"0* ").unwrap(), b"0000");
        assert_eq!(decode_payload(b"ab*\"c").unwrap(), b"abbbbbbc");
        // A run of an escaped byte repeats the unescaped byte.
        assert_eq!(decode_payload(b"}]*!").unwrap(), b"}}}}}");
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert_eq!(decode_payload(b"ab}"), Err(PacketError::TruncatedEscape));
        assert_eq!(decode_payload(b"*!"), Err(PacketError::BadRunLength));
        assert_eq!(decode_payload(b"a*"), Err(PacketError::BadRunLength));
    }

    #[test]
    fn frames_are_split_from_a_stream_in_pieces() {
        let mut reader = FrameReader::new();
        reader.push(b"+noise$O");
        assert_eq!(reader.next_frame(), Some(Frame::Acknowledgement));
        assert_eq!(reader.next_frame(), None);
        reader.push(b"K#9");
        assert_eq!(reader.next_frame(), None);
        reader.push(b"a-$0*!#");
        assert_eq!(reader.next_frame(), Some(Frame::Packet(b"OK".to_vec())));
        assert_eq!(reader.next_frame(), Some(Frame::NegativeAcknowledgement));
        assert_eq!(reader.next_frame(), None);
        reader.push(b"7b%Stop:T05#99");
        assert_eq!(reader.next_frame(), Some(Frame::Packet(b"00000".to_vec())));
        assert_eq!(reader.next_frame(), Some(Frame::Notification(b"Stop:T05".to_vec())));
        assert_eq!(reader.next_frame(), None);
    }

    #[test]
    fn a_bad_checksum_is_reported() {
        let mut reader = FrameReader::new();
        reader.push(b"$OK#00$OK#zz");
        assert_eq!(
            reader.next_frame(),
            Some(Frame::Corrupt(PacketError::Checksum { received: 0, computed: 0x9a }))
        );
        assert_eq!(
            reader.next_frame(),
            Some(Frame::Corrupt(PacketError::ChecksumDigits("zz".to_owned())))
        );
    }

    #[test]
    fn hexadecimal_round_trips() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(hex_decode("00AB7f").unwrap(), vec![0x00, 0xab, 0x7f]);
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("xx").is_err());
        assert_eq!(parse_hex_number("40080000").unwrap(), 0x4008_0000);
        assert!(parse_hex_number("").is_err());
        assert!(parse_hex_number("-1").is_err());
    }

    #[test]
    fn register_values_are_little_endian() {
        let bytes = hex_decode("0000084000000000").unwrap();
        assert_eq!(decode_little_endian(&bytes), Some(0x4008_0000));
        assert_eq!(decode_little_endian(&hex_decode("c9030000").unwrap()), Some(0x3c9));
        assert_eq!(decode_little_endian(&[0; 16]), None);
        assert_eq!(encode_little_endian(0x4008_0000, 8).unwrap(), bytes);
        assert_eq!(encode_little_endian(0x3c9, 4).unwrap(), vec![0xc9, 0x03, 0, 0]);
        assert_eq!(encode_little_endian(0x1_0000_0000, 4), None);
        assert_eq!(encode_little_endian(1, 16).unwrap().len(), 16);
    }
}
