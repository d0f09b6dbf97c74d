//! What chainvm's signing service signs, and the check of its signatures
//! that the `verify` call makes in the app VM: no request to chainvm, no
//! capability beyond `identity`.
//!
//! chainvm signs `"elastos-signature/v1\0"`, the payload kind's length (one
//! byte), the kind, then the payload, with ed25519; the signer is named by
//! its `did:key` (docs/identity.md). chainvm's `signing` module makes the
//! same bytes; both pin the layout with the same bytes in their tests.

use alloc::vec::Vec;
use ed25519_dalek::{Signature, VerifyingKey};
use elastos_host_api::Status;

/// What every signed message starts with.
pub const SIGNATURE_DOMAIN: &[u8] = b"elastos-signature/v1\0";

/// The bytes signed for `payload` of kind `kind`.
pub fn signed_message(kind: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 1 + kind.len() + payload.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.push(kind.len().min(255) as u8);
    message.extend_from_slice(kind);
    message.extend_from_slice(payload);
    message
}

/// Checks that `signature` is `identity`'s (a `did:key` of an ed25519 key)
/// over `payload` for `kind`: `Ok`, `InvalidSignature`, or
/// `InvalidArgument` when `identity` is not such a `did:key` or the
/// signature is not 64 bytes.
pub fn verify(
    identity: &[u8],
    kind: &[u8],
    payload: &[u8],
    signature: &[u8],
) -> Result<(), Status> {
    let key = did_key(identity).ok_or(Status::InvalidArgument)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| Status::InvalidArgument)?;
    let signature: [u8; 64] = signature.try_into().map_err(|_| Status::InvalidArgument)?;
    key.verify_strict(&signed_message(kind, payload), &Signature::from_bytes(&signature))
        .map_err(|_| Status::InvalidSignature)
}

/// The ed25519 key of a `did:key` (`did:key:z` and base58btc of 0xed 0x01
/// and the key).
fn did_key(identity: &[u8]) -> Option<[u8; 32]> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let digits = identity.strip_prefix(b"did:key:z")?;
    if digits.is_empty() || digits.len() > 64 {
        return None;
    }
    // Bytes, least significant first: the number times 58 plus each digit.
    let mut bytes: Vec<u8> = Vec::new();
    for &character in digits {
        let mut carry = ALPHABET.iter().position(|&digit| digit == character)? as u32;
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
    let zeros = digits.iter().take_while(|&&character| character == b'1').count();
    bytes.extend(core::iter::repeat_n(0, zeros));
    bytes.reverse();
    if bytes.len() != 34 || bytes[..2] != [0xed, 0x01] {
        return None;
    }
    bytes[2..].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// The did:key of RFC 8032's first test key (from the w3c-ccg vectors'
    /// encoding: z6Mk and base58btc of 0xed01 ‖ key).
    const RFC_DID: &[u8] = b"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw";

    fn rfc_key() -> SigningKey {
        let secret: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        SigningKey::from_bytes(&secret)
    }

    #[test]
    fn the_did_key_decodes_to_its_key() {
        assert_eq!(did_key(RFC_DID), Some(rfc_key().verifying_key().to_bytes()));
        assert_eq!(did_key(b"did:key:z6Mk"), None);
        assert_eq!(did_key(b"did:web:example.com"), None);
        assert_eq!(did_key(b"did:key:z0OIl"), None);
    }

    #[test]
    fn signatures_verify_for_their_kind_and_payload_only() {
        let key = rfc_key();
        let signature = key.sign(&signed_message(b"chat/v1", b"hello")).to_bytes();
        assert_eq!(verify(RFC_DID, b"chat/v1", b"hello", &signature), Ok(()));
        assert_eq!(
            verify(RFC_DID, b"chat/v2", b"hello", &signature),
            Err(Status::InvalidSignature)
        );
        assert_eq!(
            verify(RFC_DID, b"chat/v1", b"hellO", &signature),
            Err(Status::InvalidSignature)
        );
        let bare = key.sign(b"hello").to_bytes();
        assert_eq!(verify(RFC_DID, b"chat/v1", b"hello", &bare), Err(Status::InvalidSignature));
        assert_eq!(
            verify(RFC_DID, b"chat/v1", b"hello", &signature[..63]),
            Err(Status::InvalidArgument)
        );
        assert_eq!(
            verify(b"did:key:zzz", b"chat/v1", b"hello", &signature),
            Err(Status::InvalidArgument)
        );
    }

    #[test]
    fn the_message_layout_is_fixed() {
        // The same bytes chainvm's signing tests pin.
        let message = signed_message(b"vote", b"\x01\x02");
        assert_eq!(message, b"elastos-signature/v1\x00\x04vote\x01\x02");
    }
}
