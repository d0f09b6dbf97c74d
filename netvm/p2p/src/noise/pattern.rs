//! The Noise XX handshake pattern's HandshakeState (section 5.3 of the
//! Noise specification) with X25519, for any prologue and payloads:
//!
//! ```text
//! XX:
//!   -> e
//!   <- e, ee, s, es
//!   -> s, se
//! ```

use alloc::vec::Vec;

use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::cipher::{CipherState, SymmetricState, TAG_LENGTH};
use super::NoiseError;

/// Bytes of an X25519 public key.
pub(super) const KEY_LENGTH: usize = 32;
/// How many handshake messages XX has.
const MESSAGE_COUNT: usize = 3;

/// One side of an XX handshake.
pub(super) struct HandshakeState {
    /// Whether this side sends the first message.
    initiator: bool,
    /// The running hash, chaining key and cipher.
    symmetric: SymmetricState,
    /// `s`: this side's static key pair.
    static_secret: StaticSecret,
    /// The public half of `s`.
    static_public: [u8; KEY_LENGTH],
    /// `e`: this side's ephemeral key pair.
    ephemeral_secret: StaticSecret,
    /// The public half of `e`.
    ephemeral_public: [u8; KEY_LENGTH],
    /// `re`, once received.
    remote_ephemeral: Option<[u8; KEY_LENGTH]>,
    /// `rs`, once received.
    remote_static: Option<[u8; KEY_LENGTH]>,
    /// The index of the next message, sent or received.
    next_message: usize,
}

impl HandshakeState {
    /// `Initialize()` for XX with the given protocol name and prologue,
    /// and this side's static and ephemeral X25519 secrets.
    pub(super) fn new(
        initiator: bool,
        protocol_name: &[u8],
        prologue: &[u8],
        static_secret: [u8; KEY_LENGTH],
        ephemeral_secret: [u8; KEY_LENGTH],
    ) -> Self {
        let mut symmetric = SymmetricState::new(protocol_name);
        symmetric.mix_hash(prologue);
        let static_secret = StaticSecret::from(static_secret);
        let ephemeral_secret = StaticSecret::from(ephemeral_secret);
        Self {
            initiator,
            symmetric,
            static_public: x25519_dalek::PublicKey::from(&static_secret).to_bytes(),
            static_secret,
            ephemeral_public: x25519_dalek::PublicKey::from(&ephemeral_secret).to_bytes(),
            ephemeral_secret,
            remote_ephemeral: None,
            remote_static: None,
            next_message: 0,
        }
    }

    /// Whether the next message is this side's to write.
    pub(super) fn is_my_turn(&self) -> bool {
        self.next_message.is_multiple_of(2) == self.initiator
    }

    /// Whether all three messages have passed.
    pub(super) fn is_finished(&self) -> bool {
        self.next_message >= MESSAGE_COUNT
    }

    /// The index (0, 1 or 2) of the next message.
    pub(super) fn next_message(&self) -> usize {
        self.next_message
    }

    /// This side's static public key (the tests compare it with the remote's).
    #[cfg(test)]
    pub(super) fn static_public(&self) -> [u8; KEY_LENGTH] {
        self.static_public
    }

    /// The remote static public key, once received.
    pub(super) fn remote_static(&self) -> Option<[u8; KEY_LENGTH]> {
        self.remote_static
    }

    /// The handshake hash, which binds everything exchanged so far.
    #[cfg(test)]
    pub(super) fn handshake_hash(&self) -> [u8; super::cipher::HASH_LENGTH] {
        self.symmetric.handshake_hash()
    }

    /// The transport ciphers once the handshake is finished: the one for
    /// the initiator's messages, then the one for the responder's.
    pub(super) fn split(&self) -> Result<(CipherState, CipherState), NoiseError> {
        if !self.is_finished() {
            return Err(NoiseError::HandshakeIncomplete);
        }
        Ok(self.symmetric.split())
    }

    /// `WriteMessage(payload, message_buffer)`: appends the next message,
    /// which must be this side's, to `output`.
    pub(super) fn write_message(
        &mut self,
        payload: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        if self.is_finished() || !self.is_my_turn() {
            return Err(NoiseError::HandshakeFailed);
        }
        match self.next_message {
            0 => {
                // -> e
                output.extend_from_slice(&self.ephemeral_public);
                self.symmetric.mix_hash(&self.ephemeral_public);
            }
            1 => {
                // <- e, ee, s, es
                output.extend_from_slice(&self.ephemeral_public);
                self.symmetric.mix_hash(&self.ephemeral_public);
                let remote_ephemeral = self.remote_ephemeral.ok_or(NoiseError::HandshakeFailed)?;
                self.symmetric
                    .mix_key(&*diffie_hellman(&self.ephemeral_secret, &remote_ephemeral)?);
                self.symmetric.encrypt_and_hash(&self.static_public, output)?;
                self.symmetric.mix_key(&*diffie_hellman(&self.static_secret, &remote_ephemeral)?);
            }
            _ => {
                // -> s, se
                self.symmetric.encrypt_and_hash(&self.static_public, output)?;
                let remote_ephemeral = self.remote_ephemeral.ok_or(NoiseError::HandshakeFailed)?;
                self.symmetric.mix_key(&*diffie_hellman(&self.static_secret, &remote_ephemeral)?);
            }
        }
        self.symmetric.encrypt_and_hash(payload, output)?;
        self.next_message += 1;
        Ok(())
    }

    /// `ReadMessage(message, payload_buffer)`: reads the next message,
    /// which must be the remote side's, appending its payload to
    /// `payload`.
    pub(super) fn read_message(
        &mut self,
        message: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        if self.is_finished() || self.is_my_turn() {
            return Err(NoiseError::HandshakeFailed);
        }
        let mut rest = message;
        match self.next_message {
            0 => {
                // -> e
                let remote_ephemeral = take_key(&mut rest)?;
                self.symmetric.mix_hash(&remote_ephemeral);
                self.remote_ephemeral = Some(remote_ephemeral);
            }
            1 => {
                // <- e, ee, s, es
                let remote_ephemeral = take_key(&mut rest)?;
                self.symmetric.mix_hash(&remote_ephemeral);
                self.remote_ephemeral = Some(remote_ephemeral);
                self.symmetric
                    .mix_key(&*diffie_hellman(&self.ephemeral_secret, &remote_ephemeral)?);
                let remote_static = self.read_static(&mut rest)?;
                self.symmetric.mix_key(&*diffie_hellman(&self.ephemeral_secret, &remote_static)?);
            }
            _ => {
                // -> s, se
                let remote_static = self.read_static(&mut rest)?;
                self.symmetric.mix_key(&*diffie_hellman(&self.ephemeral_secret, &remote_static)?);
            }
        }
        // After the first message a key is set, and the payload carries
        // at least its tag.
        if self.next_message > 0 && rest.len() < TAG_LENGTH {
            return Err(NoiseError::MessageTooShort);
        }
        self.symmetric.decrypt_and_hash(rest, payload)?;
        self.next_message += 1;
        Ok(())
    }

    /// Reads the encrypted remote static key from the front of `rest`.
    fn read_static(&mut self, rest: &mut &[u8]) -> Result<[u8; KEY_LENGTH], NoiseError> {
        if rest.len() < KEY_LENGTH + TAG_LENGTH {
            return Err(NoiseError::MessageTooShort);
        }
        let (encrypted, remaining) = rest.split_at(KEY_LENGTH + TAG_LENGTH);
        *rest = remaining;
        let mut decrypted = Vec::with_capacity(KEY_LENGTH);
        self.symmetric.decrypt_and_hash(encrypted, &mut decrypted)?;
        let remote_static: [u8; KEY_LENGTH] =
            decrypted.as_slice().try_into().map_err(|_| NoiseError::MessageTooShort)?;
        self.remote_static = Some(remote_static);
        Ok(remote_static)
    }
}

/// Takes a plaintext public key from the front of `rest`.
fn take_key(rest: &mut &[u8]) -> Result<[u8; KEY_LENGTH], NoiseError> {
    let (key, remaining) =
        rest.split_first_chunk::<KEY_LENGTH>().ok_or(NoiseError::MessageTooShort)?;
    *rest = remaining;
    Ok(*key)
}

/// `DH(key_pair, public_key)`. A remote key of small order gives an
/// all-zero result that anyone could compute; it is refused.
fn diffie_hellman(
    secret: &StaticSecret,
    public: &[u8; KEY_LENGTH],
) -> Result<Zeroizing<[u8; KEY_LENGTH]>, NoiseError> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(NoiseError::LowOrderKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(text: &str) -> [u8; 32] {
        hex(text).try_into().unwrap()
    }

    #[test]
    fn the_cacophony_vector() {
        // Noise_XX_25519_ChaChaPoly_SHA256 from the cacophony test vectors.
        let prologue = hex("4a6f686e2047616c74");
        let mut initiator = HandshakeState::new(
            true,
            b"Noise_XX_25519_ChaChaPoly_SHA256",
            &prologue,
            key("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"),
            key("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"),
        );
        let mut responder = HandshakeState::new(
            false,
            b"Noise_XX_25519_ChaChaPoly_SHA256",
            &prologue,
            key("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"),
            key("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"),
        );
        let handshake = [
            (
                "4c756477696720766f6e204d69736573",
                "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944\
                 4c756477696720766f6e204d69736573",
            ),
            (
                "4d757272617920526f746862617264",
                "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843\
                 81cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9\
                 bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f\
                 8814c7194e83f23dbd8d162c9326ad",
            ),
            (
                "462e20412e20486179656b",
                "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a8\
                 0ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6\
                 ae769a1d95941d49b25030",
            ),
        ];
        for (index, (payload, ciphertext)) in handshake.iter().enumerate() {
            let (writer, reader) = if index % 2 == 0 {
                (&mut initiator, &mut responder)
            } else {
                (&mut responder, &mut initiator)
            };
            let mut message = Vec::new();
            writer.write_message(&hex(payload), &mut message).unwrap();
            assert_eq!(message, hex(ciphertext), "message {index}");
            let mut received = Vec::new();
            reader.read_message(&message, &mut received).unwrap();
            assert_eq!(received, hex(payload), "message {index}");
            if index == 1 {
                // The vector's `handshake_hash` is `h` as it stands after
                // the second message.
                let expected =
                    key("e37b138ecd936a2b3c3532fb2cc499bdee2746dbfc19e9490964c79fd14bd88b");
                assert_eq!(initiator.handshake_hash(), expected);
                assert_eq!(responder.handshake_hash(), expected);
            }
        }
        assert_eq!(initiator.handshake_hash(), responder.handshake_hash());
        assert_eq!(initiator.remote_static(), Some(responder.static_public()));
        assert_eq!(responder.remote_static(), Some(initiator.static_public()));

        // Transport messages keep alternating: the responder sends first.
        let (mut initiator_sends, mut initiator_receives) = initiator.split().unwrap();
        let (mut responder_receives, mut responder_sends) = responder.split().unwrap();
        let transport = [
            ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
            (
                "4a65616e2d426170746973746520536179",
                "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5",
            ),
            (
                "457567656e2042f6686d20766f6e2042617765726b",
                "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f",
            ),
        ];
        for (index, (payload, ciphertext)) in transport.iter().enumerate() {
            let (sender, receiver) = if index % 2 == 0 {
                (&mut responder_sends, &mut initiator_receives)
            } else {
                (&mut initiator_sends, &mut responder_receives)
            };
            let mut message = hex(payload);
            sender.encrypt_with_ad(&[], &mut message, 0).unwrap();
            assert_eq!(message, hex(ciphertext), "transport message {index}");
            let mut received = Vec::new();
            receiver.decrypt_with_ad(&[], &message, &mut received).unwrap();
            assert_eq!(received, hex(payload), "transport message {index}");
        }
    }

    #[test]
    fn turns_are_enforced() {
        let mut initiator = HandshakeState::new(true, b"XX", &[], [1; 32], [2; 32]);
        let mut responder = HandshakeState::new(false, b"XX", &[], [3; 32], [4; 32]);
        let mut message = Vec::new();
        assert_eq!(responder.write_message(&[], &mut message), Err(NoiseError::HandshakeFailed));
        assert_eq!(
            initiator.read_message(&[0; 32], &mut message),
            Err(NoiseError::HandshakeFailed)
        );
        assert!(initiator.split().is_err());
        initiator.write_message(&[], &mut message).unwrap();
        assert_eq!(initiator.next_message(), 1);
        assert_eq!(
            responder.read_message(&message[..31], &mut Vec::new()),
            Err(NoiseError::MessageTooShort)
        );
    }

    #[test]
    fn a_small_order_key_is_refused() {
        let mut responder = HandshakeState::new(false, b"XX", &[], [3; 32], [4; 32]);
        // The identity point (u = 0) has order one.
        responder.read_message(&[0; 32], &mut Vec::new()).unwrap();
        assert_eq!(responder.write_message(&[], &mut Vec::new()), Err(NoiseError::LowOrderKey));
    }
}
