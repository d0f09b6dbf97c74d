//! Text encodings of bytes used by identities and vectors: hexadecimal,
//! base64url (RFC 4648 §5) and base58 (the Bitcoin alphabet).

use alloc::string::String;
use alloc::vec::Vec;

/// Why a text is not a valid encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingError {
    /// A character outside the encoding's alphabet.
    InvalidCharacter,
    /// A length the encoding cannot produce.
    InvalidLength,
}

/// The bytes of a hexadecimal text (either case, even length).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, EncodingError> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(EncodingError::InvalidLength);
    }
    bytes.chunks(2).map(|pair| Ok(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?)).collect()
}

/// The lower-case hexadecimal text of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

fn hex_digit(character: u8) -> Result<u8, EncodingError> {
    match character {
        b'0'..=b'9' => Ok(character - b'0'),
        b'a'..=b'f' => Ok(character - b'a' + 10),
        b'A'..=b'F' => Ok(character - b'A' + 10),
        _ => Err(EncodingError::InvalidCharacter),
    }
}

const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64url text of `bytes`, without padding.
pub fn encode_base64url(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |group, (index, byte)| group | u32::from(*byte) << (16 - 8 * index));
        for index in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * index)) & 0x3f;
            text.push(char::from(BASE64URL_ALPHABET[sextet as usize]));
        }
    }
    text
}

/// The bytes of a base64url text. Padding is optional (and must be correct
/// when present); unused low bits of the last character are ignored, as the
/// Elastos SDKs' decoder does.
pub fn decode_base64url(text: &str) -> Result<Vec<u8>, EncodingError> {
    let unpadded = text.trim_end_matches('=');
    let padding = text.len() - unpadded.len();
    if padding > 0 && (!text.len().is_multiple_of(4) || padding > 2) {
        return Err(EncodingError::InvalidLength);
    }
    if unpadded.len() % 4 == 1 {
        return Err(EncodingError::InvalidLength);
    }
    let mut bytes = Vec::with_capacity(unpadded.len() * 3 / 4);
    let (mut group, mut bits) = (0u32, 0u32);
    for character in unpadded.bytes() {
        let sextet = match character {
            b'A'..=b'Z' => character - b'A',
            b'a'..=b'z' => character - b'a' + 26,
            b'0'..=b'9' => character - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(EncodingError::InvalidCharacter),
        };
        group = (group << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((group >> bits) as u8);
            group &= (1 << bits) - 1;
        }
    }
    Ok(bytes)
}

/// The bytes of a base58 (Bitcoin alphabet) text.
pub fn decode_base58(text: &str) -> Result<Vec<u8>, EncodingError> {
    bs58::decode(text).into_vec().map_err(|_| EncodingError::InvalidCharacter)
}

/// The base58 (Bitcoin alphabet) text of `bytes`.
pub fn encode_base58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(decode_hex("00fFa1"), Ok(alloc::vec![0, 0xff, 0xa1]));
        assert_eq!(encode_hex(&[0, 0xff, 0xa1]), "00ffa1");
        assert_eq!(decode_hex("abc"), Err(EncodingError::InvalidLength));
        assert_eq!(decode_hex("zz"), Err(EncodingError::InvalidCharacter));
    }

    #[test]
    fn base64url_known_values() {
        assert_eq!(encode_base64url(b"f"), "Zg");
        assert_eq!(encode_base64url(b"foob"), "Zm9vYg");
        assert_eq!(encode_base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode_base64url("Zm9vYg"), Ok(b"foob".to_vec()));
        assert_eq!(decode_base64url("Zm9vYg=="), Ok(b"foob".to_vec()));
        assert_eq!(decode_base64url("Zm9vY"), Err(EncodingError::InvalidLength));
        assert_eq!(decode_base64url("Zm9v+g"), Err(EncodingError::InvalidCharacter));
        assert_eq!(decode_base64url("Zg="), Err(EncodingError::InvalidLength));
    }

    #[test]
    fn base58_known_values() {
        assert_eq!(encode_base58(&[0, 0, 1]), "112");
        assert_eq!(decode_base58("112"), Ok(alloc::vec![0, 0, 1]));
        assert_eq!(decode_base58("0OIl"), Err(EncodingError::InvalidCharacter));
    }

    proptest! {
        #[test]
        fn base64url_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(decode_base64url(&encode_base64url(&bytes)), Ok(bytes));
        }

        #[test]
        fn decoders_never_panic(text in "\\PC{0,80}") {
            let _ = decode_base64url(&text);
            let _ = decode_hex(&text);
            let _ = decode_base58(&text);
        }
    }
}
