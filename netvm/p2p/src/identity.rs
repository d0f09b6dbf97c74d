//! Identities as libp2p's peer-ids specification gives them: an ed25519
//! key pair, its public key in the `PublicKey` protobuf, and the PeerId,
//! the multihash of that protobuf, written in base58btc ("12D3KooW...").
//!
//! Only ed25519 keys are supported, the one type every libp2p
//! implementation must speak and the default of rust-libp2p and
//! go-libp2p; a peer with an RSA, secp256k1 or ECDSA identity is refused
//! with [`IdentityError::UnsupportedKeyType`]. PeerIds of any key type
//! still parse and print, as they are only multihashes.

use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::Signer;

use crate::protobuf::{Reader, Writer};
use crate::varint;

/// The `KeyType` enum value of ed25519 in the `PublicKey` protobuf.
const KEY_TYPE_ED25519: u64 = 1;
/// The `Type` field of the `PublicKey` protobuf.
const FIELD_TYPE: u32 = 1;
/// The `Data` field of the `PublicKey` protobuf.
const FIELD_DATA: u32 = 2;

/// Multihash code of the identity "hash": the digest is the data itself.
const MULTIHASH_IDENTITY: u64 = 0x00;
/// Multihash code of SHA2-256.
const MULTIHASH_SHA2_256: u64 = 0x12;
/// The longest encoded key that PeerIds inline with the identity multihash.
pub const MAXIMUM_INLINE_KEY_LENGTH: usize = 42;
/// The multicodec of a PeerId inside a CID (`libp2p-key`).
const MULTICODEC_LIBP2P_KEY: u64 = 0x72;
/// The longest PeerId text accepted: a CIDv1 of the longest multihash in
/// base32 needs 77 characters; the bound keeps decoding cheap.
const MAXIMUM_TEXT_LENGTH: usize = 128;

/// Why a key, signature or PeerId was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The bytes are not an ed25519 public key (wrong length or not a
    /// point on the curve).
    InvalidPublicKey,
    /// A `PublicKey` protobuf of a key type other than ed25519; the value
    /// is the `KeyType` (0 RSA, 2 secp256k1, 3 ECDSA).
    UnsupportedKeyType(u64),
    /// A `PublicKey` protobuf that is malformed or lacks a field.
    InvalidProtobuf,
    /// Bytes that are not an identity or SHA2-256 multihash of the right
    /// length.
    InvalidMultihash,
    /// Text that is not a PeerId in base58btc or as a CIDv1.
    InvalidText,
}

impl core::fmt::Display for IdentityError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::InvalidPublicKey => write!(formatter, "not an ed25519 public key"),
            Self::UnsupportedKeyType(key_type) => {
                write!(formatter, "key type {key_type} is not supported, only ed25519 (1)")
            }
            Self::InvalidProtobuf => write!(formatter, "malformed public key protobuf"),
            Self::InvalidMultihash => {
                write!(formatter, "PeerId is not an identity or sha2-256 multihash")
            }
            Self::InvalidText => write!(formatter, "text is not a PeerId"),
        }
    }
}

/// An ed25519 key pair: this node's libp2p identity.
#[derive(Clone)]
pub struct Keypair {
    /// The secret half, which also holds the public half.
    signing_key: ed25519_dalek::SigningKey,
}

impl Keypair {
    /// The key pair whose 32-byte secret (the RFC 8032 seed) is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self { signing_key: ed25519_dalek::SigningKey::from_bytes(&secret) }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing_key.verifying_key().to_bytes())
    }

    /// The ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }
}

impl core::fmt::Debug for Keypair {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        // The secret stays out of logs.
        formatter.debug_struct("Keypair").field("public", &self.public()).finish_non_exhaustive()
    }
}

/// An ed25519 public key, checked to be a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key whose compressed form is `bytes`, or
    /// [`IdentityError::InvalidPublicKey`] if they are not a curve point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdentityError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| IdentityError::InvalidPublicKey)?;
        Ok(Self(bytes))
    }

    /// The compressed 32-byte form.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The libp2p `PublicKey` protobuf: `Type = Ed25519`, `Data = key`.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.uint64(FIELD_TYPE, KEY_TYPE_ED25519).bytes(FIELD_DATA, &self.0);
        writer.into_bytes()
    }

    /// Reads a libp2p `PublicKey` protobuf. Both fields must be present;
    /// keys of other types are [`IdentityError::UnsupportedKeyType`].
    pub fn decode_protobuf(bytes: &[u8]) -> Result<Self, IdentityError> {
        let mut key_type = None;
        let mut data = None;
        let mut reader = Reader::new(bytes);
        while let Some((field, value)) =
            reader.next_field().map_err(|_| IdentityError::InvalidProtobuf)?
        {
            match field {
                FIELD_TYPE => {
                    key_type =
                        Some(value.varint(field).map_err(|_| IdentityError::InvalidProtobuf)?)
                }
                FIELD_DATA => {
                    data = Some(value.bytes(field).map_err(|_| IdentityError::InvalidProtobuf)?)
                }
                _ => {}
            }
        }
        let (Some(key_type), Some(data)) = (key_type, data) else {
            return Err(IdentityError::InvalidProtobuf);
        };
        if key_type != KEY_TYPE_ED25519 {
            return Err(IdentityError::UnsupportedKeyType(key_type));
        }
        let bytes: [u8; 32] = data.try_into().map_err(|_| IdentityError::InvalidPublicKey)?;
        Self::from_bytes(bytes)
    }

    /// Whether `signature` is this key's ed25519 signature of `message`.
    /// Verification is strict: non-canonical signatures and small-order
    /// keys fail, which honest signers never produce.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        key.verify_strict(message, &signature).is_ok()
    }

    /// The PeerId of this key: the identity multihash of its protobuf
    /// encoding, which at 36 bytes is short enough to inline.
    pub fn peer_id(&self) -> PeerId {
        let encoded = self.encode_protobuf();
        let mut multihash = Vec::with_capacity(2 + encoded.len());
        varint::encode(MULTIHASH_IDENTITY, &mut multihash);
        varint::encode(encoded.len() as u64, &mut multihash);
        multihash.extend_from_slice(&encoded);
        PeerId(multihash)
    }
}

/// A peer's identity: the multihash of its public key's protobuf.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PeerId(Vec<u8>);

impl PeerId {
    /// The PeerId whose multihash is `bytes`: an identity multihash of at
    /// most [`MAXIMUM_INLINE_KEY_LENGTH`] bytes or a SHA2-256 multihash,
    /// with nothing after it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let invalid = |_| IdentityError::InvalidMultihash;
        let (code, code_length) =
            varint::decode(bytes).map_err(invalid)?.ok_or(IdentityError::InvalidMultihash)?;
        let rest = bytes.get(code_length..).unwrap_or_default();
        let (length, length_length) =
            varint::decode(rest).map_err(invalid)?.ok_or(IdentityError::InvalidMultihash)?;
        let digest_length = rest.len() - length_length;
        if length != digest_length as u64 {
            return Err(IdentityError::InvalidMultihash);
        }
        let valid = match code {
            MULTIHASH_IDENTITY => digest_length <= MAXIMUM_INLINE_KEY_LENGTH,
            MULTIHASH_SHA2_256 => digest_length == 32,
            _ => false,
        };
        if !valid {
            return Err(IdentityError::InvalidMultihash);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The multihash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The ed25519 key inlined in this PeerId, if it is an identity
    /// multihash of an ed25519 `PublicKey` protobuf.
    pub fn public_key(&self) -> Option<PublicKey> {
        let (code, code_length) = varint::decode(&self.0).ok()??;
        if code != MULTIHASH_IDENTITY {
            return None;
        }
        let rest = self.0.get(code_length..)?;
        let (_, length_length) = varint::decode(rest).ok()??;
        PublicKey::decode_protobuf(rest.get(length_length..)?).ok()
    }

    /// Parses the CIDv1 form: a multibase prefix (`b` base32 lower case,
    /// `B` base32 upper case, `z` base58btc), version 1, the `libp2p-key`
    /// multicodec, then the multihash.
    fn from_cid_text(text: &str) -> Result<Self, IdentityError> {
        let mut characters = text.chars();
        let bytes = match characters.next() {
            Some('b') | Some('B') => base32_decode(characters.as_str())?,
            Some('z') => bs58::decode(characters.as_str())
                .into_vec()
                .map_err(|_| IdentityError::InvalidText)?,
            _ => return Err(IdentityError::InvalidText),
        };
        let invalid = |_| IdentityError::InvalidText;
        let (version, version_length) =
            varint::decode(&bytes).map_err(invalid)?.ok_or(IdentityError::InvalidText)?;
        let rest = bytes.get(version_length..).unwrap_or_default();
        let (codec, codec_length) =
            varint::decode(rest).map_err(invalid)?.ok_or(IdentityError::InvalidText)?;
        if version != 1 || codec != MULTICODEC_LIBP2P_KEY {
            return Err(IdentityError::InvalidText);
        }
        Self::from_bytes(rest.get(codec_length..).unwrap_or_default())
    }
}

impl core::fmt::Display for PeerId {
    /// The legacy base58btc form libp2p implementations print.
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        let text: String = bs58::encode(&self.0).into_string();
        formatter.write_str(&text)
    }
}

impl core::str::FromStr for PeerId {
    type Err = IdentityError;

    /// Accepts the legacy base58btc multihash ("12D3KooW...", "Qm...") and
    /// the CIDv1 form ("bafz...").
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAXIMUM_TEXT_LENGTH {
            return Err(IdentityError::InvalidText);
        }
        if text.starts_with('1') || text.starts_with("Qm") {
            let bytes = bs58::decode(text).into_vec().map_err(|_| IdentityError::InvalidText)?;
            return Self::from_bytes(&bytes);
        }
        Self::from_cid_text(text)
    }
}

/// Decodes RFC 4648 base32 without padding, in either case.
fn base32_decode(text: &str) -> Result<Vec<u8>, IdentityError> {
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let mut accumulator = 0u32;
    let mut bits = 0u32;
    for character in text.bytes() {
        let value = match character {
            b'a'..=b'z' => character - b'a',
            b'A'..=b'Z' => character - b'A',
            b'2'..=b'7' => character - b'2' + 26,
            _ => return Err(IdentityError::InvalidText),
        };
        accumulator = (accumulator << 5 | u32::from(value)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((accumulator >> bits) as u8);
        }
    }
    // Leftover bits are padding and must be zero.
    if accumulator & ((1 << bits) - 1) != 0 {
        return Err(IdentityError::InvalidText);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;
    use core::str::FromStr;
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_specification_ed25519_vector() {
        // peer-ids.md, "Test vectors": the private key protobuf's Data is the
        // 32-byte seed followed by the 32-byte public key.
        let private =
            hex("080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d\
             1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
        let public =
            hex("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
        let mut reader = Reader::new(&private);
        assert_eq!(reader.next_field().unwrap().unwrap().1.varint(1), Ok(1));
        let data = reader.next_field().unwrap().unwrap().1.bytes(2).unwrap();
        let keypair = Keypair::from_secret(data[..32].try_into().unwrap());
        assert_eq!(keypair.public().to_bytes(), data[32..]);
        assert_eq!(keypair.public().encode_protobuf(), public);
        assert_eq!(PublicKey::decode_protobuf(&public), Ok(keypair.public()));
        let peer_id = keypair.public().peer_id();
        assert_eq!(peer_id.to_string(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        assert_eq!(peer_id.as_bytes()[..2], [0x00, 0x24]);
        assert_eq!(peer_id.as_bytes()[2..], public);
        assert_eq!(peer_id.public_key(), Some(keypair.public()));
    }

    #[test]
    fn other_key_types_are_unsupported() {
        // The specification's secp256k1 public key.
        let secp256k1 =
            hex("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99");
        assert_eq!(
            PublicKey::decode_protobuf(&secp256k1),
            Err(IdentityError::UnsupportedKeyType(2))
        );
    }

    #[test]
    fn peer_id_text_round_trips() {
        for text in [
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        ] {
            let peer_id = PeerId::from_str(text).unwrap();
            assert_eq!(peer_id.to_string(), text);
            assert_eq!(PeerId::from_bytes(peer_id.as_bytes()), Ok(peer_id));
        }
        let ed25519 = PeerId::from_str("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
        assert!(ed25519.unwrap().public_key().is_some());
        let sha256 = PeerId::from_str("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").unwrap();
        assert_eq!(sha256.as_bytes()[..2], [0x12, 0x20]);
        assert_eq!(sha256.public_key(), None);
    }

    #[test]
    fn peer_id_as_a_cid() {
        // The specification's examples: the same sha256 PeerId as a CID and raw.
        let from_cid =
            PeerId::from_str("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
                .unwrap();
        let raw = PeerId::from_str("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").unwrap();
        assert_eq!(from_cid, raw);
        assert_eq!(
            PeerId::from_str("BAFZBEIE5745RPV2M6TJYUUGYWY4D5EWRQGQQHFNF445HE3OMZPJBX5XQXE"),
            Ok(raw)
        );
        // A CID of another codec (dag-pb, 0x70) is not a PeerId.
        assert_eq!(
            PeerId::from_str("bafybeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"),
            Err(IdentityError::InvalidText)
        );
    }

    #[test]
    fn sign_and_verify() {
        let keypair = Keypair::from_secret([7; 32]);
        let public = keypair.public();
        let signature = keypair.sign(b"message");
        assert!(public.verify(b"message", &signature));
        assert!(!public.verify(b"massage", &signature));
        let mut tampered = signature;
        tampered[10] ^= 1;
        assert!(!public.verify(b"message", &tampered));
        assert!(!public.verify(b"message", &signature[..63]));
        let other = Keypair::from_secret([8; 32]).public();
        assert!(!other.verify(b"message", &signature));
        assert!(!format!("{keypair:?}").contains("7, 7, 7, 7"));
    }

    #[test]
    fn bad_bytes_are_refused() {
        // y = 2 is not the y coordinate of any curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(PublicKey::from_bytes(not_a_point), Err(IdentityError::InvalidPublicKey));
        let good = Keypair::from_secret([1; 32]).public().encode_protobuf();
        assert_eq!(
            PublicKey::decode_protobuf(&good[..good.len() - 1]),
            Err(IdentityError::InvalidProtobuf)
        );
        assert_eq!(PublicKey::decode_protobuf(&good[2..]), Err(IdentityError::InvalidProtobuf));
        let mut short = Writer::new();
        short.uint64(1, 1).bytes(2, &[1; 31]);
        assert_eq!(
            PublicKey::decode_protobuf(short.as_bytes()),
            Err(IdentityError::InvalidPublicKey)
        );
        let mut wrong_type = Writer::new();
        wrong_type.bytes(1, &[1]).bytes(2, &[1; 32]);
        assert_eq!(
            PublicKey::decode_protobuf(wrong_type.as_bytes()),
            Err(IdentityError::InvalidProtobuf)
        );

        let peer_id = Keypair::from_secret([1; 32]).public().peer_id();
        let bytes = peer_id.as_bytes();
        assert_eq!(
            PeerId::from_bytes(&bytes[..bytes.len() - 1]),
            Err(IdentityError::InvalidMultihash)
        );
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(PeerId::from_bytes(&longer), Err(IdentityError::InvalidMultihash));
        assert_eq!(PeerId::from_bytes(&[]), Err(IdentityError::InvalidMultihash));
        // An identity multihash longer than 42 bytes, and a short sha256.
        let mut long_identity = vec![0x00, 43];
        long_identity.extend_from_slice(&[0; 43]);
        assert_eq!(PeerId::from_bytes(&long_identity), Err(IdentityError::InvalidMultihash));
        assert_eq!(PeerId::from_bytes(&[0x12, 1, 0]), Err(IdentityError::InvalidMultihash));
        // Blake2b-256 (0xb220) is a real multihash, but not a PeerId.
        let mut blake = vec![0xa0, 0xe4, 0x02, 32];
        blake.extend_from_slice(&[0; 32]);
        assert_eq!(PeerId::from_bytes(&blake), Err(IdentityError::InvalidMultihash));

        for text in ["", "1", "0OIl", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S", "x"] {
            assert!(PeerId::from_str(text).is_err(), "{text}");
        }
        assert_eq!(PeerId::from_str(&"1".repeat(200)), Err(IdentityError::InvalidText));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = PublicKey::decode_protobuf(&bytes);
            if let Ok(peer_id) = PeerId::from_bytes(&bytes) {
                prop_assert_eq!(PeerId::from_str(&peer_id.to_string()), Ok(peer_id.clone()));
                let _ = peer_id.public_key();
            }
            if let Ok(key) = <[u8; 32]>::try_from(&bytes[..bytes.len().min(32)]) {
                let _ = PublicKey::from_bytes(key);
            }
        }

        #[test]
        fn text_never_panics(text in ".{0,90}") {
            if let Ok(peer_id) = PeerId::from_str(&text) {
                prop_assert!(PeerId::from_bytes(peer_id.as_bytes()).is_ok());
            }
        }

    }

    proptest! {
        // Each case signs and verifies, slow in unoptimised test builds.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_key_round_trips(secret in any::<[u8; 32]>(), message in proptest::collection::vec(any::<u8>(), 0..64)) {
            let keypair = Keypair::from_secret(secret);
            let public = keypair.public();
            prop_assert_eq!(PublicKey::decode_protobuf(&public.encode_protobuf()), Ok(public));
            let peer_id = public.peer_id();
            prop_assert_eq!(PeerId::from_str(&peer_id.to_string()), Ok(peer_id.clone()));
            prop_assert!(peer_id.to_string().starts_with("12D3KooW"));
            prop_assert_eq!(peer_id.public_key(), Some(public));
            prop_assert!(public.verify(&message, &keypair.sign(&message)));
        }
    }
}
