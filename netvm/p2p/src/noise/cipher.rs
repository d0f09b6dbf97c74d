//! The Noise framework's CipherState and SymmetricState (sections 5.1
//! and 5.2 of the Noise specification, revision 34) for the ChaChaPoly
//! cipher and the SHA256 hash.

use alloc::vec::Vec;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::NoiseError;

/// Bytes of a ChaChaPoly authentication tag.
pub(super) const TAG_LENGTH: usize = 16;
/// Bytes of a SHA256 hash, and of the chaining key.
pub(super) const HASH_LENGTH: usize = 32;

/// A cipher key with its message counter, the nonce.
pub(super) struct CipherState {
    /// The key, or `None` before the handshake mixes one in, when
    /// "encryption" passes the bytes through.
    cipher: Option<ChaCha20Poly1305>,
    /// The next nonce; 2^64 - 1 is reserved, so reaching it means the
    /// key is used up.
    nonce: u64,
}

impl CipherState {
    /// A state without a key.
    pub(super) fn empty() -> Self {
        Self { cipher: None, nonce: 0 }
    }

    /// A state with `key`, starting at nonce zero.
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Some(ChaCha20Poly1305::new(key.into())), nonce: 0 }
    }

    /// How many messages the key has protected so far.
    pub(super) fn messages(&self) -> u64 {
        self.nonce
    }

    /// How many more messages the key may protect.
    pub(super) fn remaining_messages(&self) -> u64 {
        u64::MAX - self.nonce
    }

    /// Moves the nonce, so tests reach its end without 2^64 messages.
    #[cfg(test)]
    pub(super) fn set_nonce(&mut self, nonce: u64) {
        self.nonce = nonce;
    }

    /// The nonce in ChaChaPoly's layout: four zero bytes, then the
    /// counter little-endian.
    fn nonce_bytes(&self) -> Nonce {
        let mut nonce = Nonce::default();
        nonce[4..].copy_from_slice(&self.nonce.to_le_bytes());
        nonce
    }

    /// Encrypts `buffer[start..]` in place with associated data
    /// `associated` and appends the tag; without a key, leaves it as is.
    pub(super) fn encrypt_with_ad(
        &mut self,
        associated: &[u8],
        buffer: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), NoiseError> {
        let Some(cipher) = &self.cipher else {
            return Ok(());
        };
        if self.nonce == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let nonce = self.nonce_bytes();
        let plaintext = buffer.get_mut(start..).unwrap_or_default();
        let tag = cipher
            .encrypt_in_place_detached(&nonce, associated, plaintext)
            .map_err(|_| NoiseError::MessageTooLong)?;
        buffer.extend_from_slice(&tag);
        self.nonce += 1;
        Ok(())
    }

    /// Decrypts `ciphertext` (body and tag) with associated data
    /// `associated`, appending the plaintext to `output`; without a key,
    /// appends it as is. On failure `output` is left as it was and the
    /// nonce does not move.
    pub(super) fn decrypt_with_ad(
        &mut self,
        associated: &[u8],
        ciphertext: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let Some(cipher) = &self.cipher else {
            output.extend_from_slice(ciphertext);
            return Ok(());
        };
        if self.nonce == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let Some(body_length) = ciphertext.len().checked_sub(TAG_LENGTH) else {
            return Err(NoiseError::Decryption);
        };
        let (body, tag) = ciphertext.split_at(body_length);
        let nonce = self.nonce_bytes();
        let start = output.len();
        output.extend_from_slice(body);
        let plaintext = output.get_mut(start..).unwrap_or_default();
        if cipher
            .decrypt_in_place_detached(&nonce, associated, plaintext, Tag::from_slice(tag))
            .is_err()
        {
            output.truncate(start);
            return Err(NoiseError::Decryption);
        }
        self.nonce += 1;
        Ok(())
    }
}

/// The handshake's running hash and chaining key, and the cipher they
/// key.
pub(super) struct SymmetricState {
    /// `ck`: the key every Diffie-Hellman result is mixed into.
    chaining_key: Zeroizing<[u8; HASH_LENGTH]>,
    /// `h`: the hash of everything sent and received so far.
    hash: [u8; HASH_LENGTH],
    /// `k` and `n`.
    cipher: CipherState,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`: the name, zero-padded if it
    /// fits in a hash, else hashed, is both the first hash and chaining key.
    pub(super) fn new(protocol_name: &[u8]) -> Self {
        let mut hash = [0u8; HASH_LENGTH];
        if protocol_name.len() <= HASH_LENGTH {
            hash[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            hash = Sha256::digest(protocol_name).into();
        }
        Self { chaining_key: Zeroizing::new(hash), hash, cipher: CipherState::empty() }
    }

    /// `MixKey(input_key_material)`.
    pub(super) fn mix_key(&mut self, input_key_material: &[u8]) {
        let (chaining_key, key) = hkdf(self.chaining_key.as_ref(), input_key_material);
        self.chaining_key = chaining_key;
        self.cipher = CipherState::new(&key);
    }

    /// `MixHash(data)`.
    pub(super) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.hash);
        hasher.update(data);
        self.hash = hasher.finalize().into();
    }

    /// `EncryptAndHash(plaintext)`, appending the ciphertext to `output`.
    pub(super) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let start = output.len();
        output.extend_from_slice(plaintext);
        self.cipher.encrypt_with_ad(&self.hash, output, start)?;
        let ciphertext = output.get(start..).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.hash);
        hasher.update(ciphertext);
        self.hash = hasher.finalize().into();
        Ok(())
    }

    /// `DecryptAndHash(ciphertext)`, appending the plaintext to `output`.
    pub(super) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        self.cipher.decrypt_with_ad(&self.hash, ciphertext, output)?;
        self.mix_hash(ciphertext);
        Ok(())
    }

    /// `Split()`: the cipher for the initiator's messages, then the one
    /// for the responder's.
    pub(super) fn split(&self) -> (CipherState, CipherState) {
        let (first, second) = hkdf(self.chaining_key.as_ref(), &[]);
        (CipherState::new(&first), CipherState::new(&second))
    }

    /// `h`, which both sides share once the handshake is over.
    #[cfg(test)]
    pub(super) fn handshake_hash(&self) -> [u8; HASH_LENGTH] {
        self.hash
    }
}

/// Noise's `HKDF(chaining_key, input_key_material)` with two outputs,
/// which is RFC 5869 HKDF-SHA256 with the chaining key as salt and empty
/// info.
fn hkdf(
    chaining_key: &[u8],
    input_key_material: &[u8],
) -> (Zeroizing<[u8; HASH_LENGTH]>, Zeroizing<[u8; HASH_LENGTH]>) {
    let mut output = Zeroizing::new([0u8; 2 * HASH_LENGTH]);
    Hkdf::<Sha256>::new(Some(chaining_key), input_key_material)
        .expand(&[], output.as_mut())
        // HKDF-SHA256 yields up to 255 * 32 bytes; 64 is always within it.
        .expect("HKDF output within its limit");
    let mut first = Zeroizing::new([0u8; HASH_LENGTH]);
    let mut second = Zeroizing::new([0u8; HASH_LENGTH]);
    let (first_half, second_half) = output.split_at(HASH_LENGTH);
    first.copy_from_slice(first_half);
    second.copy_from_slice(second_half);
    (first, second)
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.hash.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_3() {
        // SHA-256, 22 bytes of 0x0b, no salt (HMAC pads an empty key with
        // zeros exactly as RFC 5869 does), no info; the first 42 bytes.
        let (first, second) = hkdf(&[], &[0x0b; 22]);
        let expected = hex(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        );
        assert_eq!(first[..], expected[..32]);
        assert_eq!(second[..10], expected[32..]);
    }

    #[test]
    fn chacha_poly_round_trip_and_tamper() {
        let mut sender = CipherState::new(&[9; 32]);
        let mut receiver = CipherState::new(&[9; 32]);
        let mut buffer = b"header".to_vec();
        buffer.extend_from_slice(b"secret");
        sender.encrypt_with_ad(b"ad", &mut buffer, 6).unwrap();
        assert_eq!(buffer.len(), 6 + 6 + TAG_LENGTH);
        assert_eq!(&buffer[..6], b"header");
        let mut plaintext = vec![1];
        let mut tampered = buffer[6..].to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            receiver.decrypt_with_ad(b"ad", &tampered, &mut plaintext),
            Err(NoiseError::Decryption)
        );
        assert_eq!(
            receiver.decrypt_with_ad(b"da", &buffer[6..], &mut plaintext),
            Err(NoiseError::Decryption)
        );
        assert_eq!(
            receiver.decrypt_with_ad(b"ad", &buffer[6..20], &mut plaintext),
            Err(NoiseError::Decryption)
        );
        assert_eq!(plaintext, [1]);
        receiver.decrypt_with_ad(b"ad", &buffer[6..], &mut plaintext).unwrap();
        assert_eq!(plaintext, b"\x01secret");
        // The same ciphertext again is out of sequence.
        assert_eq!(
            receiver.decrypt_with_ad(b"ad", &buffer[6..], &mut plaintext),
            Err(NoiseError::Decryption)
        );
    }

    #[test]
    fn the_last_nonce_is_reserved() {
        let mut sender = CipherState::new(&[1; 32]);
        let mut receiver = CipherState::new(&[1; 32]);
        sender.set_nonce(u64::MAX - 1);
        receiver.set_nonce(u64::MAX - 1);
        assert_eq!(sender.remaining_messages(), 1);
        let mut buffer = b"last".to_vec();
        sender.encrypt_with_ad(&[], &mut buffer, 0).unwrap();
        let mut plaintext = Vec::new();
        receiver.decrypt_with_ad(&[], &buffer, &mut plaintext).unwrap();
        assert_eq!(plaintext, b"last");
        assert_eq!(sender.remaining_messages(), 0);
        let mut buffer = b"more".to_vec();
        assert_eq!(sender.encrypt_with_ad(&[], &mut buffer, 0), Err(NoiseError::NonceExhausted));
        assert_eq!(buffer, b"more");
        assert_eq!(
            receiver.decrypt_with_ad(&[], &[0; 20], &mut plaintext),
            Err(NoiseError::NonceExhausted)
        );
    }

    #[test]
    fn without_a_key_bytes_pass_through() {
        let mut state = SymmetricState::new(b"Noise_XX_25519_ChaChaPoly_SHA256");
        assert_eq!(&state.handshake_hash(), b"Noise_XX_25519_ChaChaPoly_SHA256");
        let mut output = Vec::new();
        state.encrypt_and_hash(b"clear", &mut output).unwrap();
        assert_eq!(output, b"clear");
        let long = SymmetricState::new(b"Noise_XXfallback+psk0_25519_AESGCM_BLAKE2b");
        assert_eq!(
            long.handshake_hash(),
            <[u8; 32]>::from(Sha256::digest(b"Noise_XXfallback+psk0_25519_AESGCM_BLAKE2b"))
        );
    }
}
