//! PeerIds between their base58 text form (what a dapp sees, `12D3KooW...`)
//! and their binary form (a multihash, what netvm carries).
//!
//! A binary PeerId is a multihash: a code byte (`0x00` identity, which wraps a
//! public key of up to 42 bytes, or `0x12` sha2-256), a length byte and that
//! many digest bytes. Text is base58btc (Bitcoin's alphabet), each leading
//! zero byte written as a `1`.

use crate::{PEER_MAX, PEER_TEXT_MAX};

/// The base58btc alphabet.
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// The multihash code of an identity hash (the key itself).
const MULTIHASH_IDENTITY: u8 = 0x00;
/// The multihash code of sha2-256.
const MULTIHASH_SHA2_256: u8 = 0x12;

/// Why text or bytes are not a PeerId.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Empty text.
    Empty,
    /// A character outside the base58 alphabet.
    NotBase58,
    /// Longer than any PeerId.
    TooLong,
    /// Not a multihash of a kind PeerIds use.
    NotMultihash,
}

/// A binary PeerId, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PeerBytes {
    bytes: [u8; PEER_MAX],
    length: u8,
}

impl PeerBytes {
    /// The PeerId's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.length)]
    }
}

impl core::fmt::Debug for PeerBytes {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter
            .write_str(encode(self.as_bytes()).as_ref().map_or("(not a PeerId)", PeerText::as_str))
    }
}

/// A PeerId in base58 text, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PeerText {
    text: [u8; PEER_TEXT_MAX],
    length: u8,
}

impl PeerText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only alphabet characters (ASCII) are ever stored.
        core::str::from_utf8(&self.text[..usize::from(self.length)]).unwrap_or("")
    }
}

impl core::fmt::Debug for PeerText {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Checks that `bytes` has a PeerId's multihash shape.
pub fn check_multihash(bytes: &[u8]) -> Result<(), PeerError> {
    if bytes.len() > PEER_MAX {
        return Err(PeerError::TooLong);
    }
    match bytes {
        [MULTIHASH_IDENTITY | MULTIHASH_SHA2_256, length, digest @ ..]
            if usize::from(*length) == digest.len() && *length < 0x80 =>
        {
            Ok(())
        }
        _ => Err(PeerError::NotMultihash),
    }
}

/// Reads a PeerId's base58 text.
pub fn decode(text: &str) -> Result<PeerBytes, PeerError> {
    if text.is_empty() {
        return Err(PeerError::Empty);
    }
    if text.len() > PEER_TEXT_MAX {
        return Err(PeerError::TooLong);
    }
    // Little-endian base-256 digits of the number, grown as digits come.
    let mut number = [0u8; PEER_MAX];
    let mut used = 0;
    for character in text.bytes() {
        let digit = ALPHABET.iter().position(|&letter| letter == character);
        let mut carry = digit.ok_or(PeerError::NotBase58)? as u32;
        for byte in number[..used].iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            let slot = number.get_mut(used).ok_or(PeerError::TooLong)?;
            *slot = carry as u8;
            used += 1;
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&character| character == b'1').count();
    let length = zeros + used;
    if length > PEER_MAX {
        return Err(PeerError::TooLong);
    }
    let mut peer = PeerBytes { bytes: [0; PEER_MAX], length: length as u8 };
    for (index, byte) in number[..used].iter().rev().enumerate() {
        peer.bytes[zeros + index] = *byte;
    }
    check_multihash(peer.as_bytes())?;
    Ok(peer)
}

/// Writes a binary PeerId as base58 text.
pub fn encode(bytes: &[u8]) -> Result<PeerText, PeerError> {
    check_multihash(bytes)?;
    // Little-endian base-58 digits; 58^61 > 256^44, so they fit.
    let mut digits = [0u8; PEER_TEXT_MAX];
    let mut used = 0;
    for &byte in bytes {
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
    let zeros = bytes.iter().take_while(|&&byte| byte == 0).count();
    let mut text = PeerText { text: [b'1'; PEER_TEXT_MAX], length: (zeros + used) as u8 };
    for (index, digit) in digits[..used].iter().rev().enumerate() {
        text.text[zeros + index] = ALPHABET[usize::from(*digit)];
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The PeerId of an ed25519 key: identity multihash of the protobuf key.
    fn ed25519_peer(key: [u8; 32]) -> [u8; 38] {
        let mut peer = [0u8; 38];
        peer[..6].copy_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        peer[6..].copy_from_slice(&key);
        peer
    }

    #[test]
    fn ed25519_peers_start_12d3koow() {
        let peer = ed25519_peer([7; 32]);
        let text = encode(&peer).unwrap();
        assert!(text.as_str().starts_with("12D3KooW"), "{}", text.as_str());
        assert_eq!(text.as_str().len(), 52);
        assert_eq!(decode(text.as_str()).unwrap().as_bytes(), &peer);
    }

    #[test]
    fn a_known_peer_id_decodes() {
        // A PeerId from the libp2p specification (sha2-256 of an RSA key).
        let peer = decode("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").unwrap();
        assert_eq!(&peer.as_bytes()[..2], &[0x12, 0x20]);
        assert_eq!(peer.as_bytes().len(), 34);
        assert_eq!(
            encode(peer.as_bytes()).unwrap().as_str(),
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
        );
    }

    #[test]
    fn bad_text_is_refused() {
        assert_eq!(decode(""), Err(PeerError::Empty));
        assert_eq!(decode("12D3KooW0"), Err(PeerError::NotBase58));
        assert_eq!(decode("12D3KooWl"), Err(PeerError::NotBase58));
        assert_eq!(decode(&"z".repeat(PEER_TEXT_MAX + 1)), Err(PeerError::TooLong));
        assert_eq!(decode(&"z".repeat(PEER_TEXT_MAX)), Err(PeerError::TooLong));
        assert_eq!(decode("2NEpo7TZRRrLZSi2U"), Err(PeerError::NotMultihash));
        assert_eq!(encode(b"Hello World!"), Err(PeerError::NotMultihash));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(text in "\\PC{0,80}") {
            let _ = decode(&text);
        }

        #[test]
        fn peers_round_trip(digest in proptest::collection::vec(any::<u8>(), 0..=42), sha in any::<bool>()) {
            let mut peer = vec![if sha { 0x12 } else { 0x00 }, digest.len() as u8];
            peer.extend_from_slice(&digest);
            let text = encode(&peer).unwrap();
            let decoded = decode(text.as_str()).unwrap();
            prop_assert_eq!(decoded.as_bytes(), &peer[..]);
        }
    }
}
