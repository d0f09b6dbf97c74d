//! `did:key` identifiers for ed25519 keys, and their DID documents.
//!
//! A `did:key` is `"did:key:"` followed by the key in multibase base58btc
//! (`z`) of a multicodec-prefixed key: `0xed 0x01` for an ed25519 public key.
//! Resolving one gives a DID document with two verification methods: the
//! ed25519 key (authentication, assertion, capability invocation and
//! delegation) and the X25519 key derived from it (key agreement, multicodec
//! `0xec 0x01`), the Edwards→Montgomery image of the same point, which is the
//! X25519 public key of the clamped `sha512(seed)[..32]`. This is the shape
//! of the W3C CCG did:key method's test vectors.

use crate::encoding;
use crate::json::Value;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use curve25519_dalek::edwards::CompressedEdwardsY;

/// The scheme and method before the multibase key.
pub const PREFIX: &str = "did:key:";
/// The multibase prefix of base58btc.
pub const BASE58_MULTIBASE: char = 'z';
/// The multicodec prefix of an ed25519 public key (varint of 0xed).
pub const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// The multicodec prefix of an X25519 public key (varint of 0xec).
pub const X25519_MULTICODEC: [u8; 2] = [0xec, 0x01];
/// The length of the keys, ed25519 and X25519 alike.
pub const KEY_LENGTH: usize = 32;

/// Why a text is not an ed25519 `did:key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DidKeyError {
    /// It does not start with `did:key:` (the method's `invalidDid`).
    NotDidKey,
    /// The multibase prefix is not `z` (base58btc).
    UnsupportedMultibase,
    /// The key is not valid base58.
    InvalidBase58,
    /// The multicodec is not ed25519's (`unsupportedPublicKeyType`).
    UnsupportedMulticodec,
    /// The key is not 32 bytes (`invalidPublicKeyLength`).
    InvalidKeyLength,
    /// The bytes are not a usable ed25519 point: not a canonical encoding of a
    /// curve point, or of small order (`invalidPublicKey`).
    InvalidPublicKey,
}

/// A parsed, checked ed25519 `did:key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DidKey {
    public_key: [u8; KEY_LENGTH],
}

impl DidKey {
    /// The `did:key` of an ed25519 public key, checked to be a usable point.
    pub fn from_public_key(public_key: &[u8; KEY_LENGTH]) -> Result<Self, DidKeyError> {
        edwards_point(public_key)?;
        Ok(Self { public_key: *public_key })
    }

    /// Parses and checks `did` (no path, query or fragment).
    pub fn parse(did: &str) -> Result<Self, DidKeyError> {
        let multibase = did.strip_prefix(PREFIX).ok_or(DidKeyError::NotDidKey)?;
        let public_key = decode_multibase_key(multibase, ED25519_MULTICODEC)?;
        Self::from_public_key(&public_key)
    }

    /// The ed25519 public key.
    pub fn public_key(&self) -> &[u8; KEY_LENGTH] {
        &self.public_key
    }

    /// The multibase form of the ed25519 key (`z6Mk...`), also the fragment
    /// of its verification method.
    pub fn fingerprint(&self) -> String {
        encode_multibase_key(ED25519_MULTICODEC, &self.public_key)
    }

    /// The DID text, `did:key:z6Mk...`.
    pub fn did(&self) -> String {
        let mut did = String::from(PREFIX);
        did.push_str(&self.fingerprint());
        did
    }

    /// The X25519 key-agreement public key derived from the ed25519 key.
    pub fn x25519_public_key(&self) -> [u8; KEY_LENGTH] {
        // `from_public_key` and `parse` only build a DidKey from a point that
        // decompresses, so this cannot fail.
        edwards_point(&self.public_key)
            .map(|point| point.to_montgomery().to_bytes())
            .unwrap_or([0; KEY_LENGTH])
    }

    /// The DID document this `did:key` resolves to.
    pub fn document(&self) -> Document {
        let did = self.did();
        let x25519 = encode_multibase_key(X25519_MULTICODEC, &self.x25519_public_key());
        let method = |fragment: &str, kind: &'static str, key: &[u8]| VerificationMethod {
            id: alloc::format!("{did}#{fragment}"),
            kind,
            controller: did.clone(),
            public_key_base58: encoding::encode_base58(key),
        };
        Document {
            verification: method(&self.fingerprint(), ED25519_KEY_TYPE, &self.public_key),
            key_agreement: method(&x25519, X25519_KEY_TYPE, &self.x25519_public_key()),
            id: did.clone(),
        }
    }
}

/// The `@context` of a resolved document.
pub const CONTEXT: [&str; 3] = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/suites/ed25519-2018/v1",
    "https://w3id.org/security/suites/x25519-2019/v1",
];
/// The type of the ed25519 verification method.
pub const ED25519_KEY_TYPE: &str = "Ed25519VerificationKey2018";
/// The type of the X25519 key-agreement method.
pub const X25519_KEY_TYPE: &str = "X25519KeyAgreementKey2019";

/// A verification method of a resolved `did:key` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMethod {
    /// `did:key:...#z...`.
    pub id: String,
    /// [`ED25519_KEY_TYPE`] or [`X25519_KEY_TYPE`].
    pub kind: &'static str,
    /// The DID.
    pub controller: String,
    /// The raw public key in base58.
    pub public_key_base58: String,
}

impl VerificationMethod {
    fn to_json(&self) -> Value {
        Value::object([
            ("id", Value::string(&self.id)),
            ("type", Value::string(self.kind)),
            ("controller", Value::string(&self.controller)),
            ("publicKeyBase58", Value::string(&self.public_key_base58)),
        ])
    }
}

/// The DID document of a `did:key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The DID.
    pub id: String,
    /// The ed25519 key: authentication, assertion, capability invocation and
    /// capability delegation.
    pub verification: VerificationMethod,
    /// The derived X25519 key: key agreement.
    pub key_agreement: VerificationMethod,
}

impl Document {
    /// The document as JSON, members in the order of the method's vectors.
    pub fn to_json(&self) -> Value {
        let reference = |method: &VerificationMethod| Value::Array(vec![Value::string(&method.id)]);
        Value::object([
            (
                "@context",
                Value::Array(CONTEXT.iter().map(|context| Value::string(context)).collect()),
            ),
            ("id", Value::string(&self.id)),
            (
                "verificationMethod",
                Value::Array(vec![self.verification.to_json(), self.key_agreement.to_json()]),
            ),
            ("assertionMethod", reference(&self.verification)),
            ("authentication", reference(&self.verification)),
            ("capabilityInvocation", reference(&self.verification)),
            ("capabilityDelegation", reference(&self.verification)),
            ("keyAgreement", reference(&self.key_agreement)),
        ])
    }
}

/// The `did:key` of the ed25519 key of a 32-byte secret seed.
pub fn from_seed(seed: &[u8; KEY_LENGTH]) -> DidKey {
    DidKey { public_key: crate::signature::ed25519::public_key(seed) }
}

/// `z` + base58btc(`codec` || `key`).
pub fn encode_multibase_key(codec: [u8; 2], key: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(2 + key.len());
    bytes.extend_from_slice(&codec);
    bytes.extend_from_slice(key);
    let mut text = String::from(BASE58_MULTIBASE);
    text.push_str(&encoding::encode_base58(&bytes));
    text
}

/// The 32-byte key of a multibase key text with the multicodec `codec`.
pub fn decode_multibase_key(text: &str, codec: [u8; 2]) -> Result<[u8; KEY_LENGTH], DidKeyError> {
    let base58 = text.strip_prefix(BASE58_MULTIBASE).ok_or(DidKeyError::UnsupportedMultibase)?;
    let bytes = encoding::decode_base58(base58).map_err(|_| DidKeyError::InvalidBase58)?;
    let key = bytes.strip_prefix(&codec).ok_or(DidKeyError::UnsupportedMulticodec)?;
    key.try_into().map_err(|_| DidKeyError::InvalidKeyLength)
}

fn edwards_point(
    public_key: &[u8; KEY_LENGTH],
) -> Result<curve25519_dalek::EdwardsPoint, DidKeyError> {
    let point =
        CompressedEdwardsY(*public_key).decompress().ok_or(DidKeyError::InvalidPublicKey)?;
    if point.compress().to_bytes() != *public_key || point.is_small_order() {
        return Err(DidKeyError::InvalidPublicKey);
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ZERO_SEED_DID: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";

    #[test]
    fn derives_the_did_of_a_seed() {
        let did_key = from_seed(&[0; 32]);
        assert_eq!(did_key.did(), ZERO_SEED_DID);
        assert_eq!(
            encoding::encode_base58(did_key.public_key()),
            "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS"
        );
        assert_eq!(DidKey::parse(ZERO_SEED_DID), Ok(did_key));
    }

    #[test]
    fn derives_the_key_agreement_key() {
        let did_key = from_seed(&[0; 32]);
        assert_eq!(
            encoding::encode_base58(&did_key.x25519_public_key()),
            "7By6kV2t2d188odEM4ExAve1UithKT6dLva4dwsDT3ak"
        );
        let document = did_key.document();
        assert_eq!(
            document.key_agreement.id,
            alloc::format!("{ZERO_SEED_DID}#z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
        );
        let json = document.to_json();
        assert_eq!(json.get_str("id"), Some(ZERO_SEED_DID));
        assert_eq!(
            json.get("keyAgreement").and_then(|k| k.as_array()).and_then(|k| k[0].as_str()),
            Some(document.key_agreement.id.as_str())
        );
    }

    #[test]
    fn rejects_malformed_identifiers() {
        let fingerprint = &ZERO_SEED_DID[PREFIX.len()..];
        assert_eq!(DidKey::parse(fingerprint), Err(DidKeyError::NotDidKey));
        assert_eq!(
            DidKey::parse(&alloc::format!("did:web:{fingerprint}")),
            Err(DidKeyError::NotDidKey)
        );
        assert_eq!(
            DidKey::parse(&alloc::format!("did:key:m{}", &fingerprint[1..])),
            Err(DidKeyError::UnsupportedMultibase)
        );
        assert_eq!(DidKey::parse("did:key:z6Mk0OIl"), Err(DidKeyError::InvalidBase58));
        let x25519 = encode_multibase_key(X25519_MULTICODEC, &[9; 32]);
        assert_eq!(
            DidKey::parse(&alloc::format!("did:key:{x25519}")),
            Err(DidKeyError::UnsupportedMulticodec)
        );
        let short = encode_multibase_key(ED25519_MULTICODEC, &[9; 31]);
        assert_eq!(
            DidKey::parse(&alloc::format!("did:key:{short}")),
            Err(DidKeyError::InvalidKeyLength)
        );
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let small = encode_multibase_key(ED25519_MULTICODEC, &identity);
        assert_eq!(
            DidKey::parse(&alloc::format!("did:key:{small}")),
            Err(DidKeyError::InvalidPublicKey)
        );
        assert_eq!(
            DidKey::parse(&alloc::format!("{ZERO_SEED_DID}#frag")),
            Err(DidKeyError::InvalidBase58)
        );
    }

    /// The W3C CCG vectors: every entry's DID, keys and whole document.
    #[test]
    fn resolves_the_method_vectors() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/did-key/ed25519-x25519.json"
        ));
        let vectors = crate::json::parse(text).expect("valid JSON");
        let entries = vectors.members().expect("an object");
        assert_eq!(entries.len(), 3);
        for entry in entries {
            let seed = entry.value.get_str("seed").expect("a seed");
            let seed: [u8; 32] =
                encoding::decode_hex(seed).expect("hex").try_into().expect("32 bytes");
            let did_key = from_seed(&seed);
            assert_eq!(did_key.did(), entry.key.value);
            let stated = entry.value.get("didDocument").expect("a document");
            assert!(did_key.document().to_json().same_as(stated), "{}", entry.key.value);
            let mut other = did_key.document();
            other.key_agreement.public_key_base58.push('1');
            assert!(!other.to_json().same_as(stated));
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = DidKey::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_did_like_text(tail in "[1-9A-HJ-NP-Za-km-z]{0,60}") {
            let _ = DidKey::parse(&alloc::format!("did:key:z{tail}"));
            let _ = DidKey::parse(&alloc::format!("did:key:z6Mk{tail}"));
        }

        #[test]
        fn seeds_round_trip(seed in any::<[u8; 32]>()) {
            let did_key = from_seed(&seed);
            prop_assert_eq!(DidKey::parse(&did_key.did()), Ok(did_key));
        }
    }
}
