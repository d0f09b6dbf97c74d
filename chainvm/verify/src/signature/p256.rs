//! ECDSA over P-256 (secp256r1) with SHA-256 and raw `r || s` signatures
//! (IEEE P1363), as Elastos DIDs use it.
//!
//! The message is hashed with SHA-256. `r` and `s` must each lie in
//! `[1, n-1]`; both `s` and `n - s` are accepted (there is no low-S rule).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

/// The length of a P1363 signature (`r || s`, 32 bytes each).
pub const SIGNATURE_LENGTH: usize = 64;

/// Why a P-256 signature is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not a SEC1 encoding (compressed or uncompressed) of a
    /// point on the curve.
    InvalidPublicKey,
    /// The signature is not 64 bytes.
    SignatureLength,
    /// `r` or `s` is zero or not below the group order.
    ScalarOutOfRange,
    /// The signature does not verify for this key and message.
    Mismatch,
}

/// Checks that `signature` (`r || s`) is `public_key`'s (SEC1) signature of
/// SHA-256(`message`).
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    if !is_valid_public_key(public_key) {
        return Err(SignatureError::InvalidPublicKey);
    }
    let key =
        VerifyingKey::from_sec1_bytes(public_key).map_err(|_| SignatureError::InvalidPublicKey)?;
    if signature.len() != SIGNATURE_LENGTH {
        return Err(SignatureError::SignatureLength);
    }
    let signature =
        Signature::from_slice(signature).map_err(|_| SignatureError::ScalarOutOfRange)?;
    key.verify(message, &signature).map_err(|_| SignatureError::Mismatch)
}

/// Whether `public_key` is a SEC1 encoding of a P-256 point: 33 bytes
/// compressed (`02`/`03` || x) or 65 bytes uncompressed (`04` || x || y), and
/// on the curve. (Other SEC1 forms, such as the identity, are refused.)
pub fn is_valid_public_key(public_key: &[u8]) -> bool {
    let well_formed = matches!(
        (public_key.first(), public_key.len()),
        (Some(0x02 | 0x03), 33) | (Some(0x04), 65)
    );
    well_formed && VerifyingKey::from_sec1_bytes(public_key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    fn key_and_signature(message: &[u8]) -> (alloc::vec::Vec<u8>, [u8; 64]) {
        let secret = SigningKey::from_slice(&[7u8; 32]).expect("7...7 is a valid scalar");
        let signature: Signature = secret.sign(message);
        let public = secret.verifying_key().to_encoded_point(true).as_bytes().to_vec();
        (public, signature.to_bytes().into())
    }

    #[test]
    fn verifies_a_signature() {
        let (public, signature) = key_and_signature(b"hello");
        assert_eq!(verify(&public, b"hello", &signature), Ok(()));
        assert!(is_valid_public_key(&public));
    }

    #[test]
    fn rejects_tampered_inputs() {
        let (public, signature) = key_and_signature(b"hello");
        assert_eq!(verify(&public, b"hellO", &signature), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(&public, b"hello", &signature[..63]),
            Err(SignatureError::SignatureLength)
        );
        assert_eq!(verify(&public, b"hello", &[0u8; 64]), Err(SignatureError::ScalarOutOfRange));
        let mut bad_key = public.clone();
        bad_key[0] = 0x05;
        assert_eq!(verify(&bad_key, b"hello", &signature), Err(SignatureError::InvalidPublicKey));
    }

    #[test]
    fn accepts_high_s() {
        let (public, signature) = key_and_signature(b"hello");
        let parsed = Signature::from_slice(&signature).expect("a signature just made");
        let (r, s) = parsed.split_scalars();
        let flipped = Signature::from_scalars(r, -*s).expect("n - s is in range");
        assert_eq!(verify(&public, b"hello", &flipped.to_bytes()), Ok(()));
    }
}
