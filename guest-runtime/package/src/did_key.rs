//! The publisher's key and its `did:key` form: `did:key:z` followed by the
//! base58btc encoding of the multicodec prefix `0xed 0x01` (ed25519-pub) and
//! the 32-byte public key.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The text every ed25519 `did:key` starts with: the method and the
/// base58btc multibase prefix `z`.
const PREFIX: &str = "did:key:z";

/// The multicodec code of an ed25519 public key, 0xed, as an unsigned varint.
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// The Bitcoin base58 alphabet, which base58btc is.
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Longest base58 text decoded: an ed25519 `did:key` has 48 characters
/// after the `z`; anything much longer is refused before any arithmetic.
const MAXIMUM_ENCODED_LENGTH: usize = 64;

/// A publisher's ed25519 public key (32 bytes, as RFC 8032 encodes it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherKey([u8; 32]);

/// Why a text is not an ed25519 `did:key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DidKeyError {
    /// It does not start with `did:key:z` (another method, or another multibase).
    NotDidKey,
    /// A character is outside the base58btc alphabet, or the text is too long.
    NotBase58,
    /// The key is of another kind than ed25519 (its multicodec is not 0xed).
    NotEd25519,
    /// The key is not 32 bytes long.
    WrongLength,
    /// The text decodes, but is not the one encoding of its key (leading `1`s).
    NotCanonical,
}

impl fmt::Display for DidKeyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::NotDidKey => "not a did:key in base58btc (it must start with \"did:key:z\")",
            Self::NotBase58 => "not valid base58btc after \"did:key:z\"",
            Self::NotEd25519 => "the did:key is not an ed25519 key",
            Self::WrongLength => "the did:key's ed25519 key is not 32 bytes long",
            Self::NotCanonical => "the did:key is not in its canonical encoding",
        })
    }
}

impl core::error::Error for DidKeyError {}

impl PublisherKey {
    /// The key whose 32 bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The public key of the ed25519 secret key (seed) `secret_key`.
    pub fn from_secret_key(secret_key: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(secret_key).verifying_key().to_bytes())
    }

    /// The key's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as a `did:key` (`did:key:z6Mk...`).
    pub fn did_key(&self) -> String {
        let mut multicodec = [0u8; 34];
        multicodec[..2].copy_from_slice(&ED25519_MULTICODEC);
        multicodec[2..].copy_from_slice(&self.0);
        let mut text = String::from(PREFIX);
        base58_encode(&multicodec, &mut text);
        text
    }

    /// The key a `did:key` names; only ed25519 keys are publishers.
    pub fn from_did_key(text: &str) -> Result<Self, DidKeyError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(DidKeyError::NotDidKey)?;
        let bytes = base58_decode(encoded).ok_or(DidKeyError::NotBase58)?;
        let key = bytes.strip_prefix(&ED25519_MULTICODEC[..]).ok_or(DidKeyError::NotEd25519)?;
        let key: [u8; 32] = key.try_into().map_err(|_| DidKeyError::WrongLength)?;
        let publisher = Self(key);
        // base58 is one-to-one once leading zero bytes are fixed, and the
        // prefix fixes them; this comparison keeps that a checked fact.
        if publisher.did_key() != text {
            return Err(DidKeyError::NotCanonical);
        }
        Ok(publisher)
    }
}

impl fmt::Display for PublisherKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.did_key())
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublisherKey({})", self.did_key())
    }
}

/// Appends the base58 encoding of `input` to `output`.
fn base58_encode(input: &[u8], output: &mut String) {
    let zeros = input.iter().take_while(|&&byte| byte == 0).count();
    // Base-58 digits, least significant first: the number times 256 plus
    // each byte in turn.
    let mut digits: Vec<u8> = Vec::with_capacity(input.len() * 138 / 100 + 1);
    for &byte in &input[zeros..] {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    output.extend(core::iter::repeat_n('1', zeros));
    output.extend(digits.iter().rev().map(|&digit| char::from(ALPHABET[usize::from(digit)])));
}

/// The bytes base58 text `text` encodes, or `None` for a character outside
/// the alphabet or a text longer than [`MAXIMUM_ENCODED_LENGTH`].
fn base58_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAXIMUM_ENCODED_LENGTH {
        return None;
    }
    let zeros = text.bytes().take_while(|&character| character == b'1').count();
    // Bytes, least significant first: the number times 58 plus each digit.
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
    for character in text.bytes().skip(zeros) {
        let mut carry = ALPHABET.iter().position(|&letter| letter == character)? as u32;
        for byte in bytes.iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push(carry as u8);
            carry >>= 8;
        }
    }
    let mut decoded = alloc::vec![0u8; zeros];
    decoded.extend(bytes.iter().rev());
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// did:key's own test vectors (w3c-ccg/did-method-key,
    /// `test-vectors/ed25519-x25519.json`): secret seeds 0, 1 and 2.
    const VECTORS: [(u8, &str, &str); 3] = [
        (
            0,
            "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
            "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
        ),
        (
            1,
            "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
            "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
        ),
        (
            2,
            "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
            "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
        ),
    ];

    #[test]
    fn the_specification_vectors_encode_and_decode() {
        for (last_seed_byte, did, public_key_base58) in VECTORS {
            let mut seed = [0u8; 32];
            seed[31] = last_seed_byte;
            let publisher = PublisherKey::from_secret_key(&seed);
            assert_eq!(publisher.did_key(), did);
            assert_eq!(PublisherKey::from_did_key(did), Ok(publisher));
            assert_eq!(
                base58_decode(public_key_base58).as_deref(),
                Some(&publisher.as_bytes()[..])
            );
        }
    }

    #[test]
    fn malformed_identifiers_are_refused() {
        let good = VECTORS[0].1;
        assert_eq!(PublisherKey::from_did_key("did:web:example.com"), Err(DidKeyError::NotDidKey));
        let multibase_other = good.replacen("did:key:z", "did:key:f", 1);
        assert_eq!(PublisherKey::from_did_key(&multibase_other), Err(DidKeyError::NotDidKey));
        let zero_letter = good.replacen('6', "0", 1);
        assert_eq!(PublisherKey::from_did_key(&zero_letter), Err(DidKeyError::NotBase58));
        let short = &good[..good.len() - 1];
        assert!(PublisherKey::from_did_key(short).is_err());
        let leading_one = good.replacen("did:key:z", "did:key:z1", 1);
        assert!(PublisherKey::from_did_key(&leading_one).is_err());
        let long = alloc::format!("{good}{}", "1".repeat(40));
        assert_eq!(PublisherKey::from_did_key(&long), Err(DidKeyError::NotBase58));
        // An X25519 key (multicodec 0xec) from the same document.
        let x25519 = "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW";
        assert_eq!(PublisherKey::from_did_key(x25519), Err(DidKeyError::NotEd25519));
    }

    #[test]
    fn leading_zero_bytes_are_leading_ones() {
        let mut text = String::new();
        base58_encode(&[0, 0, 1], &mut text);
        assert_eq!(text, "112");
        assert_eq!(base58_decode("112"), Some(alloc::vec![0, 0, 1]));
        assert_eq!(base58_decode(""), Some(alloc::vec![]));
    }

    proptest! {
        #[test]
        fn base58_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut text = String::new();
            base58_encode(&bytes, &mut text);
            prop_assert_eq!(base58_decode(&text), Some(bytes));
        }

        #[test]
        fn every_key_round_trips(key in any::<[u8; 32]>()) {
            let publisher = PublisherKey::from_bytes(key);
            prop_assert_eq!(PublisherKey::from_did_key(&publisher.did_key()), Ok(publisher));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "did:key:z[1-9A-Za-z]{0,70}") {
            if let Ok(publisher) = PublisherKey::from_did_key(&text) {
                prop_assert_eq!(publisher.did_key(), text);
            }
        }
    }
}
