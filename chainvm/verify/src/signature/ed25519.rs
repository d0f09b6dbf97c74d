//! Ed25519 (RFC 8032): deterministic signing from a 32-byte seed, and strict
//! verification.
//!
//! Verification follows RFC 8032 §5.1.7 strictly, as OpenSSL and the Wycheproof
//! vectors do: a signature is exactly 64 bytes, `S` must be canonical (`S < L`),
//! `R` and the public key must be canonical encodings of points that are not of
//! small order, and the check is the cofactorless `[S]B = R + [k]A`. CometBFT's
//! consensus signatures use the more lenient ZIP-215 rules; no Wycheproof case
//! tells the two apart, and a signer following RFC 8032 satisfies both.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// The length of a public key.
pub const PUBLIC_KEY_LENGTH: usize = 32;
/// The length of a signature (`R || S`).
pub const SIGNATURE_LENGTH: usize = 64;
/// The length of a secret seed.
pub const SEED_LENGTH: usize = 32;

/// Why an ed25519 signature is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not 32 bytes.
    PublicKeyLength,
    /// The public key is not the canonical encoding of a curve point, or the
    /// point has small order (such a key verifies forged signatures).
    InvalidPublicKey,
    /// The signature is not 64 bytes.
    SignatureLength,
    /// `S` is not below the group order, or `R` is malformed.
    NonCanonicalSignature,
    /// The signature does not verify for this key and message.
    Mismatch,
}

/// The public key of the 32-byte secret `seed`.
pub fn public_key(seed: &[u8; SEED_LENGTH]) -> [u8; PUBLIC_KEY_LENGTH] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// The signature of `message` by the secret `seed` (deterministic, RFC 8032).
pub fn sign(seed: &[u8; SEED_LENGTH], message: &[u8]) -> [u8; SIGNATURE_LENGTH] {
    SigningKey::from_bytes(seed).sign(message).to_bytes()
}

/// Checks that `signature` is `public_key`'s signature of `message`, under the
/// strict rules in the module overview.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let public_key: &[u8; PUBLIC_KEY_LENGTH] =
        public_key.try_into().map_err(|_| SignatureError::PublicKeyLength)?;
    let signature: &[u8; SIGNATURE_LENGTH] =
        signature.try_into().map_err(|_| SignatureError::SignatureLength)?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::InvalidPublicKey)?;
    if key.is_weak() || !is_canonical_point(public_key) {
        return Err(SignatureError::InvalidPublicKey);
    }
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    if !is_canonical_point(&r) {
        return Err(SignatureError::NonCanonicalSignature);
    }
    let mut s = [0u8; 32];
    s.copy_from_slice(&signature[32..]);
    if !bool::from(curve25519_dalek::Scalar::from_canonical_bytes(s).is_some()) {
        return Err(SignatureError::NonCanonicalSignature);
    }
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).map_err(|_| SignatureError::Mismatch)
}

/// Whether `bytes` is the canonical encoding of a point: it decompresses, and
/// compressing the point gives the same bytes back (this rejects `y >= p` and
/// the negative zero `x`).
fn is_canonical_point(bytes: &[u8; 32]) -> bool {
    curve25519_dalek::edwards::CompressedEdwardsY(*bytes)
        .decompress()
        .is_some_and(|point| point.compress().to_bytes() == *bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1 TEST 1 (empty message).
    const SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];

    #[test]
    fn signs_rfc8032_test_1() {
        let key = public_key(&SEED);
        assert_eq!(key[..4], [0xd7, 0x5a, 0x98, 0x01]);
        let signature = sign(&SEED, b"");
        assert_eq!(signature[..4], [0xe5, 0x56, 0x43, 0x00]);
        assert_eq!(signature[60..], [0x8e, 0x7a, 0x10, 0x0b]);
        assert_eq!(verify(&key, b"", &signature), Ok(()));
    }

    #[test]
    fn rejects_tampered_inputs() {
        let key = public_key(&SEED);
        let mut signature = sign(&SEED, b"message");
        assert_eq!(verify(&key, b"messagf", &signature), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(&key[..31], b"message", &signature),
            Err(SignatureError::PublicKeyLength)
        );
        assert_eq!(
            verify(&key, b"message", &signature[..63]),
            Err(SignatureError::SignatureLength)
        );
        signature[10] ^= 1;
        assert!(verify(&key, b"message", &signature).is_err());
    }

    #[test]
    fn rejects_non_canonical_s() {
        let key = public_key(&SEED);
        let signature = sign(&SEED, b"message");
        // S + L is the same scalar, but not its canonical encoding.
        const ORDER: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut bumped = signature;
        let mut carry = 0u16;
        for index in 0..32 {
            let sum = u16::from(signature[32 + index]) + u16::from(ORDER[index]) + carry;
            bumped[32 + index] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "S + L fits in 256 bits");
        assert_eq!(verify(&key, b"message", &bumped), Err(SignatureError::NonCanonicalSignature));
    }

    #[test]
    fn rejects_small_order_key() {
        // The identity point: every signature with R = identity, S = 0 would verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        assert_eq!(verify(&identity, b"x", &signature), Err(SignatureError::InvalidPublicKey));
    }
}
