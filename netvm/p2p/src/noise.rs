//! libp2p's Noise secure channel (`/noise`, libp2p specification
//! noise/README.md): the `Noise_XX_25519_ChaChaPoly_SHA256` handshake
//! with an empty prologue, then ChaChaPoly transport messages.
//!
//! Every Noise message travels in a frame behind a two-byte big-endian
//! length, so a frame holds at most 65535 bytes, and a transport frame at
//! most 65519 bytes of plaintext besides its 16-byte tag.
//!
//! The handshake payload is the protobuf `NoiseHandshakePayload`:
//! `identity_key = 1` (the libp2p `PublicKey` protobuf), `identity_sig =
//! 2` (the identity key's signature of `"noise-libp2p-static-key:"`
//! followed by the sender's static X25519 public key) and `extensions =
//! 4`, which is read past. The initiator's first message carries an empty
//! payload, as rust-libp2p's does; the responder identifies itself in the
//! second message and the initiator in the third. The Noise static key is
//! thus tied to the libp2p identity, and the remote's identity is known,
//! verified, when the handshake is done.
//!
//! ```
//! use elastos_p2p::identity::Keypair;
//! use elastos_p2p::noise::{Handshake, Progress, Role};
//!
//! let dialer = Keypair::from_secret([1; 32]);
//! let listener = Keypair::from_secret([2; 32]);
//! // Fresh random secrets in real use.
//! let mut initiator = Handshake::new(Role::Initiator, &dialer, [3; 32], [4; 32]);
//! let mut responder = Handshake::new(Role::Responder, &listener, [5; 32], [6; 32]);
//! let (mut to_responder, mut to_initiator) = (Vec::new(), Vec::new());
//! initiator.start(&mut to_responder);
//! responder.receive(&mut to_responder, &mut to_initiator).unwrap();
//! assert_eq!(initiator.receive(&mut to_initiator, &mut to_responder), Ok(Progress::Done));
//! assert_eq!(responder.receive(&mut to_responder, &mut to_initiator), Ok(Progress::Done));
//! let (_transport, remote) = initiator.finish().unwrap();
//! assert_eq!(remote, listener.public());
//! ```

mod cipher;
mod pattern;

use alloc::vec::Vec;

use crate::identity::{IdentityError, Keypair, PublicKey};
use crate::protobuf::{ProtobufError, Reader, Writer};
use cipher::{CipherState, TAG_LENGTH};
use pattern::{HandshakeState, KEY_LENGTH};

/// The protocol name negotiated with multistream-select.
pub const PROTOCOL: &str = "/noise";
/// The Noise protocol name, which seeds the handshake hash.
const PROTOCOL_NAME: &[u8] = b"Noise_XX_25519_ChaChaPoly_SHA256";
/// What the identity key signs, before the static Noise key.
const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";
/// The most bytes of a Noise message, and so of a frame's body.
pub const MAXIMUM_MESSAGE_LENGTH: usize = 65535;
/// The most plaintext bytes one transport frame carries.
pub const MAXIMUM_PLAINTEXT_LENGTH: usize = MAXIMUM_MESSAGE_LENGTH - TAG_LENGTH;
/// Bytes of a frame's length prefix.
const LENGTH_PREFIX: usize = 2;

/// `NoiseHandshakePayload.identity_key`.
const FIELD_IDENTITY_KEY: u32 = 1;
/// `NoiseHandshakePayload.identity_sig`.
const FIELD_IDENTITY_SIGNATURE: u32 = 2;
/// `NoiseHandshakePayload.extensions`.
const FIELD_EXTENSIONS: u32 = 4;

/// Why the secure channel failed. Every error ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseError {
    /// [`Handshake::receive`] on an initiator before [`Handshake::start`].
    NotStarted,
    /// [`Handshake::finish`] before the handshake is done.
    HandshakeIncomplete,
    /// The handshake was used after it failed, or out of turn.
    HandshakeFailed,
    /// A handshake message shorter than the keys and tags it must hold.
    MessageTooShort,
    /// A message that would exceed [`MAXIMUM_MESSAGE_LENGTH`].
    MessageTooLong,
    /// A message failed authentication: tampered, reordered, or from a
    /// peer holding other keys.
    Decryption,
    /// The remote sent an X25519 key of small order.
    LowOrderKey,
    /// The remote's handshake payload is not a valid protobuf.
    Payload(ProtobufError),
    /// The remote's handshake payload lacks its identity key or signature.
    MissingIdentity,
    /// The remote's identity key is not a usable ed25519 key.
    Identity(IdentityError),
    /// The remote's identity did not sign its static Noise key.
    InvalidSignature,
    /// A transport frame too short to hold an authentication tag.
    FrameTooShort,
    /// 2^64 - 1 messages went one way; the connection must end before a
    /// nonce repeats.
    NonceExhausted,
}

impl core::fmt::Display for NoiseError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::NotStarted => write!(formatter, "noise initiator received before it started"),
            Self::HandshakeIncomplete => write!(formatter, "noise handshake is not done"),
            Self::HandshakeFailed => write!(formatter, "noise handshake already failed"),
            Self::MessageTooShort => write!(formatter, "noise handshake message too short"),
            Self::MessageTooLong => {
                write!(formatter, "noise message over {MAXIMUM_MESSAGE_LENGTH} bytes")
            }
            Self::Decryption => write!(formatter, "noise message failed authentication"),
            Self::LowOrderKey => write!(formatter, "noise peer sent a low-order X25519 key"),
            Self::Payload(error) => write!(formatter, "noise handshake payload: {error}"),
            Self::MissingIdentity => {
                write!(formatter, "noise handshake payload lacks identity key or signature")
            }
            Self::Identity(error) => write!(formatter, "noise peer identity: {error}"),
            Self::InvalidSignature => {
                write!(formatter, "noise peer identity did not sign its static key")
            }
            Self::FrameTooShort => write!(formatter, "noise transport frame shorter than its tag"),
            Self::NonceExhausted => write!(formatter, "noise nonces used up; reconnect"),
        }
    }
}

/// Which side of the handshake this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The dialer, which sends the first message.
    Initiator,
    /// The listener.
    Responder,
}

/// Where the handshake stands after [`Handshake::receive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More messages must arrive.
    Pending,
    /// The handshake is done: call [`Handshake::finish`].
    Done,
}

/// What the handshake may do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// An initiator that has not sent its first message.
    NotStarted,
    /// Messages are being exchanged.
    Exchanging,
    /// The remote's identity is verified and the ciphers can be split.
    Done,
    /// An error ended the handshake.
    Failed,
}

/// What proves this node's identity in handshakes: the identity's public
/// key, a Noise static X25519 secret, and the identity's signature over
/// [`Credentials::statement`] of that static key. The signature can be made
/// where the identity's secret is kept, so the side running the handshakes
/// never holds it; the same credentials serve many handshakes, each with
/// its own ephemeral key (as rust-libp2p keeps one static key per
/// transport).
#[derive(Clone)]
pub struct Credentials {
    identity: PublicKey,
    static_secret: [u8; 32],
    signature: [u8; 64],
}

impl Credentials {
    /// The credentials of `identity` for `static_secret`, given the
    /// signature made for them; refused when the signature does not verify.
    pub fn new(
        identity: PublicKey,
        static_secret: [u8; 32],
        signature: [u8; 64],
    ) -> Result<Self, IdentityError> {
        let statement = Self::statement(&Self::static_public(&static_secret));
        if !identity.verify(&statement, &signature) {
            return Err(IdentityError::InvalidPublicKey);
        }
        Ok(Self { identity, static_secret, signature })
    }

    /// The credentials of `identity` (whose secret is here) for
    /// `static_secret`.
    pub fn sign_with(identity: &Keypair, static_secret: [u8; 32]) -> Self {
        let statement = Self::statement(&Self::static_public(&static_secret));
        Self { identity: identity.public(), static_secret, signature: identity.sign(&statement) }
    }

    /// The X25519 public key of `static_secret`.
    pub fn static_public(static_secret: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*static_secret)).to_bytes()
    }

    /// What the identity signs for the static key `static_public`:
    /// `"noise-libp2p-static-key:"` and the key.
    pub fn statement(static_public: &[u8; 32]) -> Vec<u8> {
        let mut signed = Vec::with_capacity(STATIC_KEY_DOMAIN.len() + KEY_LENGTH);
        signed.extend_from_slice(STATIC_KEY_DOMAIN);
        signed.extend_from_slice(static_public);
        signed
    }

    /// The identity these credentials prove.
    pub fn identity(&self) -> PublicKey {
        self.identity
    }
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        // The static secret stays out of logs.
        formatter
            .debug_struct("Credentials")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// One side of the libp2p Noise handshake.
pub struct Handshake {
    /// Which side this is.
    role: Role,
    /// The Noise XX state.
    state: HandshakeState,
    /// The signed `NoiseHandshakePayload` this side sends.
    payload: Vec<u8>,
    /// Where the handshake stands.
    phase: Phase,
    /// The remote's identity, once its signature checks out.
    remote_identity: Option<PublicKey>,
}

impl Handshake {
    /// A handshake for `role` proving the identity `identity`.
    /// `static_secret` and `ephemeral_secret` are fresh random X25519
    /// secrets from the caller.
    pub fn new(
        role: Role,
        identity: &Keypair,
        static_secret: [u8; 32],
        ephemeral_secret: [u8; 32],
    ) -> Self {
        Self::with_credentials(
            role,
            &Credentials::sign_with(identity, static_secret),
            ephemeral_secret,
        )
    }

    /// A handshake for `role` with `credentials`: an identity whose
    /// signature over the static key was made elsewhere (netvm has chainvm
    /// sign it). `ephemeral_secret` is a fresh random X25519 secret.
    pub fn with_credentials(
        role: Role,
        credentials: &Credentials,
        ephemeral_secret: [u8; 32],
    ) -> Self {
        let state = HandshakeState::new(
            role == Role::Initiator,
            PROTOCOL_NAME,
            &[],
            credentials.static_secret,
            ephemeral_secret,
        );
        let mut payload = Writer::new();
        payload
            .bytes(FIELD_IDENTITY_KEY, &credentials.identity.encode_protobuf())
            .bytes(FIELD_IDENTITY_SIGNATURE, &credentials.signature);
        let phase = match role {
            Role::Initiator => Phase::NotStarted,
            Role::Responder => Phase::Exchanging,
        };
        Self { role, state, payload: payload.into_bytes(), phase, remote_identity: None }
    }

    /// The initiator's first message (appends nothing for a responder,
    /// or when called again).
    pub fn start(&mut self, output: &mut Vec<u8>) {
        if self.role == Role::Initiator && self.phase == Phase::NotStarted {
            self.phase = match write_frame(&mut self.state, &[], output) {
                Ok(()) => Phase::Exchanging,
                Err(_) => Phase::Failed,
            };
        }
    }

    /// Consumes complete handshake frames from the front of `input`
    /// (leaving a partial one, and anything after the last handshake
    /// message, which belongs to the transport), and appends the replies
    /// to `output`. An error ends the handshake for good.
    pub fn receive(
        &mut self,
        input: &mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> Result<Progress, NoiseError> {
        match self.phase {
            Phase::NotStarted => return Err(NoiseError::NotStarted),
            Phase::Failed => return Err(NoiseError::HandshakeFailed),
            Phase::Done => return Ok(Progress::Done),
            Phase::Exchanging => {}
        }
        loop {
            let Some(frame_end) = complete_frame(input) else {
                return Ok(Progress::Pending);
            };
            let message = input.get(LENGTH_PREFIX..frame_end).unwrap_or_default();
            let reply_start = output.len();
            let result = self.process(message, output);
            input.drain(..frame_end);
            if let Err(error) = result {
                output.truncate(reply_start);
                self.phase = Phase::Failed;
                return Err(error);
            }
            if self.phase == Phase::Done {
                return Ok(Progress::Done);
            }
        }
    }

    /// Reads one handshake message and writes the reply it calls for.
    fn process(&mut self, message: &[u8], output: &mut Vec<u8>) -> Result<(), NoiseError> {
        let index = self.state.next_message();
        let mut remote_payload = Vec::new();
        self.state.read_message(message, &mut remote_payload)?;
        if index > 0 {
            // Messages 2 and 3 carry the sender's identity; the first
            // message's payload is unauthenticated and read past.
            let remote_static = self.state.remote_static().ok_or(NoiseError::HandshakeFailed)?;
            self.remote_identity = Some(verify_payload(&remote_payload, &remote_static)?);
        }
        if !self.state.is_finished() {
            write_frame(&mut self.state, &self.payload, output)?;
        }
        if self.state.is_finished() {
            self.phase = Phase::Done;
        }
        Ok(())
    }

    /// After [`Progress::Done`]: the transport and the verified remote
    /// identity.
    pub fn finish(self) -> Result<(Transport, PublicKey), NoiseError> {
        match self.phase {
            Phase::Done => {}
            Phase::Failed => return Err(NoiseError::HandshakeFailed),
            Phase::NotStarted | Phase::Exchanging => return Err(NoiseError::HandshakeIncomplete),
        }
        let remote = self.remote_identity.ok_or(NoiseError::HandshakeIncomplete)?;
        let (initiator_to_responder, responder_to_initiator) = self.state.split()?;
        let transport = match self.role {
            Role::Initiator => {
                Transport { sender: initiator_to_responder, receiver: responder_to_initiator }
            }
            Role::Responder => {
                Transport { sender: responder_to_initiator, receiver: initiator_to_responder }
            }
        };
        Ok((transport, remote))
    }
}

impl core::fmt::Debug for Handshake {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        // The keys stay out of logs.
        formatter
            .debug_struct("Handshake")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("remote_identity", &self.remote_identity)
            .finish_non_exhaustive()
    }
}

/// Writes this side's next handshake message as a frame.
fn write_frame(
    state: &mut HandshakeState,
    payload: &[u8],
    output: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    let start = output.len();
    output.extend_from_slice(&[0; LENGTH_PREFIX]);
    let result = state.write_message(payload, output).and_then(|()| {
        let length = u16::try_from(output.len() - start - LENGTH_PREFIX)
            .map_err(|_| NoiseError::MessageTooLong)?;
        if let Some(prefix) = output.get_mut(start..start + LENGTH_PREFIX) {
            prefix.copy_from_slice(&length.to_be_bytes());
        }
        Ok(())
    });
    if result.is_err() {
        output.truncate(start);
    }
    result
}

/// The end of the first frame in `input` if all of it has arrived.
fn complete_frame(input: &[u8]) -> Option<usize> {
    let (length, _) = input.split_first_chunk::<LENGTH_PREFIX>()?;
    let end = LENGTH_PREFIX + usize::from(u16::from_be_bytes(*length));
    (input.len() >= end).then_some(end)
}

/// Reads a remote `NoiseHandshakePayload` and checks that its identity
/// key signed `remote_static`; returns that key.
fn verify_payload(payload: &[u8], remote_static: &[u8; 32]) -> Result<PublicKey, NoiseError> {
    let mut identity_key = None;
    let mut identity_signature = None;
    let mut reader = Reader::new(payload);
    while let Some((field, value)) = reader.next_field().map_err(NoiseError::Payload)? {
        match field {
            FIELD_IDENTITY_KEY => {
                identity_key = Some(value.bytes(field).map_err(NoiseError::Payload)?)
            }
            FIELD_IDENTITY_SIGNATURE => {
                identity_signature = Some(value.bytes(field).map_err(NoiseError::Payload)?)
            }
            // Stream muxers and WebTransport certificate hashes, which
            // this node does not use.
            FIELD_EXTENSIONS => {
                value.bytes(field).map_err(NoiseError::Payload)?;
            }
            _ => {}
        }
    }
    let (Some(identity_key), Some(identity_signature)) = (identity_key, identity_signature) else {
        return Err(NoiseError::MissingIdentity);
    };
    let identity = PublicKey::decode_protobuf(identity_key).map_err(NoiseError::Identity)?;
    let mut signed = Vec::with_capacity(STATIC_KEY_DOMAIN.len() + KEY_LENGTH);
    signed.extend_from_slice(STATIC_KEY_DOMAIN);
    signed.extend_from_slice(remote_static);
    if !identity.verify(&signed, identity_signature) {
        return Err(NoiseError::InvalidSignature);
    }
    Ok(identity)
}

/// The secure channel after the handshake: one cipher each way.
pub struct Transport {
    /// Encrypts what this side sends.
    sender: CipherState,
    /// Decrypts what the remote sends.
    receiver: CipherState,
}

impl core::fmt::Debug for Transport {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        // The keys stay out of logs.
        formatter
            .debug_struct("Transport")
            .field("messages_sent", &self.sender.messages())
            .field("messages_received", &self.receiver.messages())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Encrypts `plaintext` into frames of at most 65535 bytes
    /// ([`MAXIMUM_PLAINTEXT_LENGTH`] bytes of plaintext each), appended
    /// to `output`. Empty plaintext makes no frame. If the nonces would
    /// run out, nothing is appended.
    pub fn encrypt(&mut self, plaintext: &[u8], output: &mut Vec<u8>) -> Result<(), NoiseError> {
        let frames = plaintext.len().div_ceil(MAXIMUM_PLAINTEXT_LENGTH) as u64;
        if frames > self.sender.remaining_messages() {
            return Err(NoiseError::NonceExhausted);
        }
        output.reserve(plaintext.len() + frames as usize * (LENGTH_PREFIX + TAG_LENGTH));
        for chunk in plaintext.chunks(MAXIMUM_PLAINTEXT_LENGTH) {
            // A chunk plus its tag is at most 65535 bytes.
            let length = (chunk.len() + TAG_LENGTH) as u16;
            output.extend_from_slice(&length.to_be_bytes());
            let start = output.len();
            output.extend_from_slice(chunk);
            self.sender.encrypt_with_ad(&[], output, start)?;
        }
        Ok(())
    }

    /// Drains every complete frame from `input`, appending the plaintext
    /// to `output`; a partial frame stays in `input`. A frame that fails
    /// authentication is an error, and the connection must close; the
    /// frames before it are drained and their plaintext appended.
    pub fn decrypt(&mut self, input: &mut Vec<u8>, output: &mut Vec<u8>) -> Result<(), NoiseError> {
        let mut consumed = 0;
        let result = loop {
            let rest = input.get(consumed..).unwrap_or_default();
            let Some(frame_end) = complete_frame(rest) else {
                if let Some((length, _)) = rest.split_first_chunk::<LENGTH_PREFIX>() {
                    if usize::from(u16::from_be_bytes(*length)) < TAG_LENGTH {
                        break Err(NoiseError::FrameTooShort);
                    }
                }
                break Ok(());
            };
            let frame = rest.get(LENGTH_PREFIX..frame_end).unwrap_or_default();
            if frame.len() < TAG_LENGTH {
                break Err(NoiseError::FrameTooShort);
            }
            if let Err(error) = self.receiver.decrypt_with_ad(&[], frame, output) {
                break Err(error);
            }
            consumed += frame_end;
        };
        input.drain(..consumed);
        result
    }

    /// Moves both nonces, so tests reach their end quickly.
    #[cfg(test)]
    fn set_nonces(&mut self, nonce: u64) {
        self.sender.set_nonce(nonce);
        self.receiver.set_nonce(nonce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use core::cell::RefCell;
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    struct Pair {
        initiator: Handshake,
        responder: Handshake,
        initiator_identity: PublicKey,
        responder_identity: PublicKey,
    }

    fn new_pair(seed: u8) -> Pair {
        let dialer = Keypair::from_secret([seed; 32]);
        let listener = Keypair::from_secret([seed.wrapping_add(1); 32]);
        Pair {
            initiator: Handshake::new(
                Role::Initiator,
                &dialer,
                [seed ^ 0x10; 32],
                [seed ^ 0x20; 32],
            ),
            responder: Handshake::new(
                Role::Responder,
                &listener,
                [seed ^ 0x30; 32],
                [seed ^ 0x40; 32],
            ),
            initiator_identity: dialer.public(),
            responder_identity: listener.public(),
        }
    }

    /// Runs the handshake through two buffers, delivering at most `chunk`
    /// bytes at a time, and returns both transports.
    fn connect(mut pair: Pair, chunk: usize) -> (Transport, Transport) {
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        assert_eq!(to_responder.len(), 2 + 32, "message 1 is the ephemeral key alone");
        let mut responder_inbox = Vec::new();
        let mut initiator_inbox = Vec::new();
        let mut initiator_done = false;
        let mut responder_done = false;
        for _ in 0..10_000 {
            if initiator_done && responder_done {
                break;
            }
            let take = chunk.min(to_responder.len());
            responder_inbox.extend(to_responder.drain(..take));
            if !responder_done {
                responder_done =
                    pair.responder.receive(&mut responder_inbox, &mut to_initiator).unwrap()
                        == Progress::Done;
            }
            let take = chunk.min(to_initiator.len());
            initiator_inbox.extend(to_initiator.drain(..take));
            if !initiator_done {
                initiator_done =
                    pair.initiator.receive(&mut initiator_inbox, &mut to_responder).unwrap()
                        == Progress::Done;
            }
        }
        assert!(initiator_done && responder_done);
        assert!(to_responder.is_empty() && to_initiator.is_empty());
        assert!(responder_inbox.is_empty() && initiator_inbox.is_empty());
        let (initiator, responder_identity) = pair.initiator.finish().unwrap();
        let (responder, initiator_identity) = pair.responder.finish().unwrap();
        assert_eq!(responder_identity, pair.responder_identity);
        assert_eq!(initiator_identity, pair.initiator_identity);
        (initiator, responder)
    }

    fn send(from: &mut Transport, to: &mut Transport, message: &[u8]) {
        let mut wire = Vec::new();
        from.encrypt(message, &mut wire).unwrap();
        let mut received = Vec::new();
        to.decrypt(&mut wire, &mut received).unwrap();
        assert!(wire.is_empty());
        assert_eq!(received, message);
    }

    #[test]
    fn credentials_signed_elsewhere_complete_the_handshake() {
        // The listener's identity signs its static key apart from the
        // handshake, as chainvm does for netvm; one static key serves two
        // handshakes.
        let listener = Keypair::from_secret([51; 32]);
        let static_secret = [52; 32];
        let statement = Credentials::statement(&Credentials::static_public(&static_secret));
        let signature = listener.sign(&statement);
        let credentials = Credentials::new(listener.public(), static_secret, signature).unwrap();
        assert_eq!(credentials.identity(), listener.public());
        for ephemeral in [53u8, 54] {
            let dialer = Keypair::from_secret([ephemeral; 32]);
            let pair = Pair {
                initiator: Handshake::new(Role::Initiator, &dialer, [60; 32], [61; 32]),
                responder: Handshake::with_credentials(
                    Role::Responder,
                    &credentials,
                    [ephemeral; 32],
                ),
                initiator_identity: dialer.public(),
                responder_identity: listener.public(),
            };
            let (mut initiator, mut responder) = connect(pair, 1000);
            send(&mut initiator, &mut responder, b"over signed credentials");
        }
        // A signature over another static key is refused up front.
        let other = Credentials::statement(&Credentials::static_public(&[9; 32]));
        assert!(Credentials::new(listener.public(), static_secret, listener.sign(&other)).is_err());
    }

    #[test]
    fn handshake_and_transport_both_ways() {
        let (mut initiator, mut responder) = connect(new_pair(1), usize::MAX);
        send(&mut initiator, &mut responder, b"hello");
        send(&mut responder, &mut initiator, b"hello back");
        let debug = alloc::format!("{initiator:?}");
        assert!(debug.contains("messages_sent: 1") && debug.contains("messages_received: 1"));
        let large: Vec<u8> = (0..200_000u32).map(|index| index as u8).collect();
        send(&mut initiator, &mut responder, &large);
        send(&mut responder, &mut initiator, &large);
        let mut wire = Vec::new();
        initiator.encrypt(&large, &mut wire).unwrap();
        // Four frames: three full, one of the remaining bytes.
        assert_eq!(wire.len(), large.len() + 4 * (LENGTH_PREFIX + TAG_LENGTH));
        assert_eq!(wire[..2], [0xff, 0xff]);
        let mut empty = Vec::new();
        initiator.encrypt(&[], &mut empty).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn byte_by_byte_delivery() {
        let (mut initiator, mut responder) = connect(new_pair(2), 1);
        let message: Vec<u8> = (0..70_000u32).map(|index| (index * 7) as u8).collect();
        let mut wire = Vec::new();
        initiator.encrypt(&message, &mut wire).unwrap();
        let mut inbox = Vec::new();
        let mut received = Vec::new();
        for byte in wire {
            inbox.push(byte);
            responder.decrypt(&mut inbox, &mut received).unwrap();
        }
        assert!(inbox.is_empty());
        assert_eq!(received, message);
    }

    #[test]
    fn data_after_the_handshake_stays_for_the_transport() {
        let mut pair = new_pair(3);
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        assert_eq!(
            pair.responder.receive(&mut to_responder, &mut to_initiator),
            Ok(Progress::Pending)
        );
        assert_eq!(
            pair.initiator.receive(&mut to_initiator, &mut to_responder),
            Ok(Progress::Done)
        );
        // The initiator pipelines its first transport message behind message 3.
        let (mut initiator, _) = pair.initiator.finish().unwrap();
        initiator.encrypt(b"early", &mut to_responder).unwrap();
        assert_eq!(
            pair.responder.receive(&mut to_responder, &mut to_initiator),
            Ok(Progress::Done)
        );
        assert!(to_initiator.is_empty());
        assert_eq!(to_responder.len(), 2 + 5 + TAG_LENGTH);
        // Receiving again after Done consumes nothing.
        assert_eq!(
            pair.responder.receive(&mut to_responder, &mut to_initiator),
            Ok(Progress::Done)
        );
        assert_eq!(to_responder.len(), 2 + 5 + TAG_LENGTH);
        let (mut responder, _) = pair.responder.finish().unwrap();
        let mut received = Vec::new();
        responder.decrypt(&mut to_responder, &mut received).unwrap();
        assert_eq!(received, b"early");
    }

    #[test]
    fn a_tampered_frame_fails() {
        let (mut initiator, mut responder) = connect(new_pair(4), usize::MAX);
        let mut wire = Vec::new();
        initiator.encrypt(b"first", &mut wire).unwrap();
        initiator.encrypt(b"second", &mut wire).unwrap();
        let second_frame = 2 + 5 + TAG_LENGTH;
        wire[second_frame + 4] ^= 0x01;
        let mut received = Vec::new();
        assert_eq!(responder.decrypt(&mut wire, &mut received), Err(NoiseError::Decryption));
        // The good frame before it came through and was drained.
        assert_eq!(received, b"first");
        assert_eq!(wire.len(), 2 + 6 + TAG_LENGTH);
    }

    #[test]
    fn replayed_and_short_frames_fail() {
        let (mut initiator, mut responder) = connect(new_pair(5), usize::MAX);
        let mut wire = Vec::new();
        initiator.encrypt(b"once", &mut wire).unwrap();
        let copy = wire.clone();
        let mut received = Vec::new();
        responder.decrypt(&mut wire, &mut received).unwrap();
        let mut replay = copy;
        assert_eq!(responder.decrypt(&mut replay, &mut received), Err(NoiseError::Decryption));
        assert_eq!(
            responder.decrypt(&mut vec![0, 15], &mut received),
            Err(NoiseError::FrameTooShort)
        );
        let mut short = vec![0, 3, 1, 2, 3];
        assert_eq!(responder.decrypt(&mut short, &mut received), Err(NoiseError::FrameTooShort));
        assert_eq!(received, b"once");
    }

    #[test]
    fn nonces_run_out_as_an_error() {
        let (mut initiator, mut responder) = connect(new_pair(6), usize::MAX);
        initiator.set_nonces(u64::MAX - 2);
        responder.set_nonces(u64::MAX - 2);
        send(&mut initiator, &mut responder, b"one");
        send(&mut initiator, &mut responder, b"two");
        let mut wire = Vec::new();
        assert_eq!(initiator.encrypt(b"three", &mut wire), Err(NoiseError::NonceExhausted));
        assert!(wire.is_empty());
        // Two frames do not fit in the one nonce the responder has left.
        let large = vec![0u8; MAXIMUM_PLAINTEXT_LENGTH + 1];
        send(&mut responder, &mut initiator, b"last");
        assert_eq!(responder.encrypt(&large, &mut wire), Err(NoiseError::NonceExhausted));
        assert!(wire.is_empty());
    }

    #[test]
    fn a_wrong_identity_signature_fails() {
        // The responder signs a static key other than the one it uses.
        let mut pair = new_pair(7);
        let listener = Keypair::from_secret([8; 32]);
        let other_static =
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9; 32]));
        let mut signed = STATIC_KEY_DOMAIN.to_vec();
        signed.extend_from_slice(other_static.as_bytes());
        let mut payload = Writer::new();
        payload
            .bytes(FIELD_IDENTITY_KEY, &listener.public().encode_protobuf())
            .bytes(FIELD_IDENTITY_SIGNATURE, &listener.sign(&signed));
        pair.responder.payload = payload.into_bytes();
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        pair.responder.receive(&mut to_responder, &mut to_initiator).unwrap();
        assert_eq!(
            pair.initiator.receive(&mut to_initiator, &mut to_responder),
            Err(NoiseError::InvalidSignature)
        );
        assert!(to_responder.is_empty(), "no third message after a failure");
        assert_eq!(
            pair.initiator.receive(&mut to_initiator, &mut to_responder),
            Err(NoiseError::HandshakeFailed)
        );
        assert!(matches!(pair.initiator.finish(), Err(NoiseError::HandshakeFailed)));
    }

    #[test]
    fn a_payload_without_identity_fails() {
        let mut pair = new_pair(9);
        pair.responder.payload = Vec::new();
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        pair.responder.receive(&mut to_responder, &mut to_initiator).unwrap();
        assert_eq!(
            pair.initiator.receive(&mut to_initiator, &mut to_responder),
            Err(NoiseError::MissingIdentity)
        );
    }

    #[test]
    fn a_non_ed25519_identity_fails() {
        let mut pair = new_pair(10);
        let mut payload = Writer::new();
        payload.bytes(FIELD_IDENTITY_KEY, &[0x08, 0x02, 0x12, 0x01, 0x00]).bytes(2, &[0; 64]);
        pair.initiator.payload = payload.into_bytes();
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        pair.responder.receive(&mut to_responder, &mut to_initiator).unwrap();
        pair.initiator.receive(&mut to_initiator, &mut to_responder).unwrap();
        assert_eq!(
            pair.responder.receive(&mut to_responder, &mut to_initiator),
            Err(NoiseError::Identity(IdentityError::UnsupportedKeyType(2)))
        );
    }

    #[test]
    fn extensions_and_unknown_fields_are_read_past() {
        let mut pair = new_pair(11);
        let listener = Keypair::from_secret([12; 32]);
        let mut signed = STATIC_KEY_DOMAIN.to_vec();
        signed.extend_from_slice(&pair.responder.state.static_public());
        let mut extensions = Writer::new();
        extensions.string(2, "/yamux/1.0.0");
        let mut payload = Writer::new();
        payload
            .bytes(FIELD_IDENTITY_KEY, &listener.public().encode_protobuf())
            .bytes(FIELD_IDENTITY_SIGNATURE, &listener.sign(&signed))
            .bytes(FIELD_EXTENSIONS, extensions.as_bytes())
            .uint64(99, 1);
        pair.responder.payload = payload.into_bytes();
        pair.responder_identity = listener.public();
        connect(pair, usize::MAX);
    }

    #[test]
    fn truncated_handshakes_wait() {
        let mut pair = new_pair(13);
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        let mut partial = to_responder[..20].to_vec();
        assert_eq!(pair.responder.receive(&mut partial, &mut to_initiator), Ok(Progress::Pending));
        assert_eq!(partial.len(), 20, "a partial frame stays in the input");
        assert!(to_initiator.is_empty());
        partial.extend_from_slice(&to_responder[20..]);
        assert_eq!(pair.responder.receive(&mut partial, &mut to_initiator), Ok(Progress::Pending));
        assert!(partial.is_empty());
        let mut one = to_initiator[..1].to_vec();
        assert_eq!(pair.initiator.receive(&mut one, &mut to_responder), Ok(Progress::Pending));
        assert!(matches!(pair.initiator.finish(), Err(NoiseError::HandshakeIncomplete)));
    }

    #[test]
    fn garbage_fails() {
        // Garbage in place of message 2.
        let mut pair = new_pair(14);
        let mut to_responder = Vec::new();
        pair.initiator.start(&mut to_responder);
        let mut garbage = framed((0..200u8).map(|byte| byte.wrapping_mul(31).wrapping_add(5)));
        assert_eq!(
            pair.initiator.receive(&mut garbage, &mut to_responder),
            Err(NoiseError::Decryption)
        );
        // Garbage in place of message 3.
        let mut pair = pair_and_first_two(15);
        let mut garbage = framed([7u8; 100]);
        assert_eq!(
            pair.responder.receive(&mut garbage, &mut Vec::new()),
            Err(NoiseError::Decryption)
        );
        // Frames too short for what they must hold.
        let mut pair = new_pair(16);
        pair.initiator.start(&mut Vec::new());
        assert_eq!(
            pair.initiator.receive(&mut vec![0, 40, 9, 9], &mut Vec::new()),
            Ok(Progress::Pending)
        );
        let mut short = framed([9u8; 40]);
        assert_eq!(
            pair.initiator.receive(&mut short, &mut Vec::new()),
            Err(NoiseError::MessageTooShort)
        );
        let mut pair = new_pair(17);
        assert_eq!(
            pair.responder.receive(&mut vec![0, 0], &mut Vec::new()),
            Err(NoiseError::MessageTooShort)
        );
        // A responder must not answer a low-order ephemeral key.
        let mut pair = new_pair(18);
        let mut output = Vec::new();
        let mut zero_key = framed([0u8; 32]);
        assert_eq!(
            pair.responder.receive(&mut zero_key, &mut output),
            Err(NoiseError::LowOrderKey)
        );
        assert!(output.is_empty());
    }

    /// `body` behind its two-byte big-endian length, as one frame.
    fn framed(body: impl IntoIterator<Item = u8>) -> Vec<u8> {
        let mut frame = vec![0, 0];
        frame.extend(body);
        let length = u16::try_from(frame.len() - LENGTH_PREFIX).expect("a test frame is short");
        frame[..LENGTH_PREFIX].copy_from_slice(&length.to_be_bytes());
        frame
    }

    /// A pair whose responder has sent message 2 and waits for message 3.
    fn pair_and_first_two(seed: u8) -> Pair {
        let mut pair = new_pair(seed);
        let mut to_responder = Vec::new();
        let mut to_initiator = Vec::new();
        pair.initiator.start(&mut to_responder);
        pair.responder.receive(&mut to_responder, &mut to_initiator).unwrap();
        pair
    }

    #[test]
    fn misuse_is_an_error() {
        let mut pair = new_pair(19);
        assert!(alloc::format!("{:?}", pair.initiator).contains("NotStarted"));
        assert_eq!(
            pair.initiator.receive(&mut Vec::new(), &mut Vec::new()),
            Err(NoiseError::NotStarted)
        );
        let mut output = Vec::new();
        pair.responder.start(&mut output);
        assert!(output.is_empty());
        pair.initiator.start(&mut output);
        let first = output.clone();
        pair.initiator.start(&mut output);
        assert_eq!(output, first, "start twice sends once");
        assert!(matches!(pair.responder.finish(), Err(NoiseError::HandshakeIncomplete)));
    }

    /// Handshakes are costly in unoptimised test builds, so the garbage
    /// cases share their identities and the first message.
    struct GarbageFixture {
        dialer: Keypair,
        listener: Keypair,
        first_message: Vec<u8>,
    }

    fn garbage_fixture() -> GarbageFixture {
        let dialer = Keypair::from_secret([20; 32]);
        let mut first_message = Vec::new();
        Handshake::new(Role::Initiator, &dialer, [21; 32], [22; 32]).start(&mut first_message);
        GarbageFixture { dialer, listener: Keypair::from_secret([23; 32]), first_message }
    }

    #[test]
    fn garbage_never_panics_a_handshake() {
        let fixture = garbage_fixture();
        let strategy = (proptest::collection::vec(any::<u8>(), 0..300), 0usize..300);
        let mut runner = TestRunner::new(ProptestConfig::with_cases(64));
        let result = runner.run(&strategy, |(garbage, cut)| {
            // Garbage in place of message 3, to a responder.
            let mut responder =
                Handshake::new(Role::Responder, &fixture.listener, [24; 32], [25; 32]);
            let mut input = fixture.first_message.clone();
            responder.receive(&mut input, &mut Vec::new()).unwrap();
            let mut input = garbage.clone();
            prop_assert_ne!(responder.receive(&mut input, &mut Vec::new()), Ok(Progress::Done));
            // In place of message 2, to an initiator.
            let mut initiator =
                Handshake::new(Role::Initiator, &fixture.dialer, [26; 32], [27; 32]);
            initiator.start(&mut Vec::new());
            let mut input = garbage.clone();
            prop_assert_ne!(initiator.receive(&mut input, &mut Vec::new()), Ok(Progress::Done));
            // In place of message 1, cut anywhere, to a responder.
            let mut responder =
                Handshake::new(Role::Responder, &fixture.listener, [28; 32], [29; 32]);
            let mut input = garbage[..cut.min(garbage.len())].to_vec();
            let _ = responder.receive(&mut input, &mut Vec::new());
            Ok(())
        });
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn garbage_never_panics_a_transport() {
        let (_, responder) = connect(new_pair(30), usize::MAX);
        let responder = RefCell::new(responder);
        let mut runner = TestRunner::default();
        let result = runner.run(&proptest::collection::vec(any::<u8>(), 0..300), |garbage| {
            let mut input = garbage;
            let mut output = Vec::new();
            let _ = responder.borrow_mut().decrypt(&mut input, &mut output);
            prop_assert!(output.is_empty());
            Ok(())
        });
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn any_message_round_trips() {
        // Both sides see every message, so their nonces stay in step.
        let (initiator, responder) = connect(new_pair(31), usize::MAX);
        let sides = RefCell::new((initiator, responder));
        let strategy = (proptest::collection::vec(any::<u8>(), 0..2000), 0usize..2100);
        let mut runner = TestRunner::default();
        let result = runner.run(&strategy, |(message, split)| {
            let (initiator, responder) = &mut *sides.borrow_mut();
            let mut wire = Vec::new();
            initiator.encrypt(&message, &mut wire).unwrap();
            let split = split.min(wire.len());
            let mut inbox = wire[..split].to_vec();
            let mut received = Vec::new();
            responder.decrypt(&mut inbox, &mut received).unwrap();
            inbox.extend_from_slice(&wire[split..]);
            responder.decrypt(&mut inbox, &mut received).unwrap();
            prop_assert!(inbox.is_empty());
            prop_assert_eq!(received, message);
            Ok(())
        });
        assert_eq!(result, Ok(()));
    }
}
