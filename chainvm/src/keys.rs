//! The node's keys: one ed25519 key made from chainvm's entropy on the first
//! start, kept in the store, loaded at every start, and the per-dapp keys
//! derived from it. No secret leaves chainvm: other VMs get public keys and
//! signatures.
//!
//! # The key file
//!
//! The store holds the key under [`NODE_KEY`], 104 bytes:
//!
//! | offset | size | field                                           |
//! |--------|------|-------------------------------------------------|
//! | 0      | 4    | magic `ELKY`                                    |
//! | 4      | 1    | format version, [`FORMAT_VERSION`]              |
//! | 5      | 1    | algorithm: 1, ed25519                           |
//! | 6      | 2    | zero                                            |
//! | 8      | 32   | the secret key (RFC 8032 seed)                  |
//! | 40     | 32   | its public key                                  |
//! | 72     | 32   | SHA-256 of bytes 0 to 71                        |
//!
//! Loading checks every field, the checksum, and that the public key is the
//! secret's: a damaged or altered file is a [`KeyFileError`], which chainvm
//! reports on the console and never answers by making a new identity (that
//! would silently change the node's PeerId and DID). The checksum finds
//! damage; what keeps the file from being altered on purpose is that only
//! chainvm maps the disk.
//!
//! # Per-dapp keys
//!
//! A dapp's key is the ed25519 key whose seed is 32 bytes of HKDF-SHA-512
//! (RFC 5869) with the node's secret as input key material, the salt
//! [`DAPP_KEY_SALT`], and as info the dapp's name length (one byte), its
//! name and its publisher's 32-byte public key. Two dapps differ in name or
//! publisher, so they get unrelated keys; the same dapp gets the same key
//! across restarts and reinstalls; nobody without the node's secret can
//! compute any of them.

use alloc::string::String;
use alloc::vec::Vec;
use ed25519_dalek::{Signer, SigningKey};
use elastos_package::PublisherKey;
use elastos_store::{BlockDevice, Store};
use guest_runtime::identity::{handshake_statement, NoKey, Record};
use sha2::{Digest, Sha256, Sha512};

/// The store key of the node's key file.
pub const NODE_KEY: &[u8] = b"identity/node-key";
/// The key file's magic bytes.
pub const MAGIC: [u8; 4] = *b"ELKY";
/// The key file's format version.
pub const FORMAT_VERSION: u8 = 1;
/// The algorithm number of ed25519.
const ALGORITHM_ED25519: u8 = 1;
/// The key file's length.
pub const FILE_LENGTH: usize = 104;
/// The HKDF salt of per-dapp keys.
pub const DAPP_KEY_SALT: &[u8] = b"elastos/dapp-key/v1";

/// Why a key file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileError {
    /// It is not [`FILE_LENGTH`] bytes long.
    WrongLength(usize),
    /// It does not start with [`MAGIC`].
    BadMagic,
    /// Its format version is not one this chainvm reads.
    UnsupportedVersion(u8),
    /// Its algorithm is not ed25519, or its reserved bytes are not zero.
    UnknownAlgorithm(u8),
    /// Its checksum does not match its bytes.
    ChecksumMismatch,
    /// The public key is not the secret key's.
    PublicKeyMismatch,
}

impl core::fmt::Display for KeyFileError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::WrongLength(length) => {
                write!(formatter, "it is {length} bytes long, not {FILE_LENGTH}")
            }
            Self::BadMagic => write!(formatter, "it does not start with the key file's magic"),
            Self::UnsupportedVersion(version) => {
                write!(formatter, "its format version {version} is not {FORMAT_VERSION}")
            }
            Self::UnknownAlgorithm(algorithm) => {
                write!(formatter, "its algorithm {algorithm} is not ed25519 (1)")
            }
            Self::ChecksumMismatch => write!(formatter, "its checksum does not match"),
            Self::PublicKeyMismatch => {
                write!(formatter, "its public key is not its secret key's")
            }
        }
    }
}

/// Why the node's key could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The key file in the store is damaged or altered.
    Damaged(KeyFileError),
    /// The store failed to read or write it.
    Store(elastos_store::Error),
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Damaged(error) => write!(
                formatter,
                "the node key in the store is damaged or was altered ({error}); chainvm will \
                 not make a new identity in its place: the node has none until the disk is \
                 repaired or replaced"
            ),
            Self::Store(error) => {
                write!(formatter, "the node key could not be read or kept: {error}")
            }
        }
    }
}

/// How the node's key came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// It was in the store.
    Loaded,
    /// It was made now and kept in the store.
    Created,
}

/// The node's ed25519 key.
pub struct NodeKey {
    signing_key: SigningKey,
}

impl core::fmt::Debug for NodeKey {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        // The secret stays out of logs.
        formatter.debug_struct("NodeKey").field("public", &self.public_key()).finish()
    }
}

impl NodeKey {
    /// The key whose secret (RFC 8032 seed) is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self { signing_key: SigningKey::from_bytes(&secret) }
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The node's DID: the `did:key` of its public key.
    pub fn did(&self) -> String {
        PublisherKey::from_bytes(self.public_key()).did_key()
    }

    /// The signature of `message` under the node key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// The key chainvm lends the dapp `name` of `publisher` (see the module's
    /// documentation).
    pub fn dapp_key(&self, name: &str, publisher: &[u8; 32]) -> DappKey {
        let mut info = Vec::with_capacity(1 + name.len() + 32);
        // Names are at most 32 bytes (the manifest's rule); longer ones are
        // cut in the length byte only, the name itself goes whole.
        info.push(name.len().min(255) as u8);
        info.extend_from_slice(name.as_bytes());
        info.extend_from_slice(publisher);
        let hkdf = hkdf::Hkdf::<Sha512>::new(Some(DAPP_KEY_SALT), self.signing_key.as_bytes());
        let mut seed = [0u8; 32];
        // 32 bytes are far below HKDF-SHA-512's limit of 255 × 64.
        hkdf.expand(&info, &mut seed).expect("32 bytes is a valid HKDF-SHA-512 length");
        DappKey { signing_key: SigningKey::from_bytes(&seed) }
    }

    /// The key file of this key.
    pub fn encode(&self) -> [u8; FILE_LENGTH] {
        let mut file = [0u8; FILE_LENGTH];
        file[..4].copy_from_slice(&MAGIC);
        file[4] = FORMAT_VERSION;
        file[5] = ALGORITHM_ED25519;
        file[8..40].copy_from_slice(self.signing_key.as_bytes());
        file[40..72].copy_from_slice(&self.public_key());
        let checksum = Sha256::digest(&file[..72]);
        file[72..].copy_from_slice(&checksum);
        file
    }

    /// The key a key file holds, checked.
    pub fn decode(file: &[u8]) -> Result<Self, KeyFileError> {
        if file.len() != FILE_LENGTH {
            return Err(KeyFileError::WrongLength(file.len()));
        }
        if file[..4] != MAGIC {
            return Err(KeyFileError::BadMagic);
        }
        if file[4] != FORMAT_VERSION {
            return Err(KeyFileError::UnsupportedVersion(file[4]));
        }
        if file[5] != ALGORITHM_ED25519 || file[6..8] != [0, 0] {
            return Err(KeyFileError::UnknownAlgorithm(file[5]));
        }
        if Sha256::digest(&file[..72]).as_slice() != &file[72..] {
            return Err(KeyFileError::ChecksumMismatch);
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&file[8..40]);
        let key = Self::from_secret(secret);
        if key.public_key()[..] != file[40..72] {
            return Err(KeyFileError::PublicKeyMismatch);
        }
        Ok(key)
    }

    /// The node key kept in `store`, or, when there is none, a new one from
    /// `secret` (fresh entropy), kept there before it is returned. A key file
    /// that is there but does not check out is an error: never a new key.
    pub fn load_or_create<D: BlockDevice>(
        store: &mut Store<D>,
        secret: impl FnOnce() -> Option<[u8; 32]>,
    ) -> Result<Option<(Self, Origin)>, KeyError> {
        match store.get(NODE_KEY) {
            Ok(Some(file)) => Self::decode(&file)
                .map(|key| Some((key, Origin::Loaded)))
                .map_err(KeyError::Damaged),
            Ok(None) => {
                let Some(secret) = secret() else { return Ok(None) };
                let key = Self::from_secret(secret);
                store.put(NODE_KEY, &key.encode()).map_err(KeyError::Store)?;
                Ok(Some((key, Origin::Created)))
            }
            // The store's own checksum of the value failed: damage too.
            Err(elastos_store::Error::Corrupt { .. }) => {
                Err(KeyError::Damaged(KeyFileError::ChecksumMismatch))
            }
            Err(error) => Err(KeyError::Store(error)),
        }
    }
}

/// A key derived for one dapp.
pub struct DappKey {
    signing_key: SigningKey,
}

impl DappKey {
    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The `did:key` that verifies this key's signatures.
    pub fn did(&self) -> String {
        PublisherKey::from_bytes(self.public_key()).did_key()
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }
}

/// chainvm's answer to netvm's identity record `record` (the
/// `netvm-chainvm` protocol, [`guest_runtime::identity`]), given the node key
/// or why there is none. Records that are not requests get no answer.
pub fn answer_netvm(key: Result<&NodeKey, NoKey>, record: &Record) -> Option<Record> {
    match (record, key) {
        (Record::KeyRequest, Ok(key)) => Some(Record::Key { public_key: key.public_key() }),
        (Record::HandshakeRequest { request, static_key }, Ok(key)) => {
            // Only libp2p's handshake statement is ever signed for netvm.
            let signature = key.sign(&handshake_statement(static_key));
            Some(Record::HandshakeAnswer { request: *request, status: 0, signature })
        }
        (Record::KeyRequest, Err(reason)) => Some(Record::NoKey { reason }),
        (Record::HandshakeRequest { request, .. }, Err(reason)) => Some(Record::HandshakeAnswer {
            request: *request,
            status: reason.code(),
            signature: [0; 64],
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Verifier, VerifyingKey};
    use elastos_store::MemoryDisk;

    fn store() -> Store<MemoryDisk> {
        Store::format(MemoryDisk::new(2048)).unwrap()
    }

    #[test]
    fn the_key_file_round_trips_and_has_its_layout() {
        let key = NodeKey::from_secret([5; 32]);
        let file = key.encode();
        assert_eq!(&file[..4], b"ELKY");
        assert_eq!(file[4], 1);
        assert_eq!(file[5], 1);
        assert_eq!(&file[8..40], &[5; 32]);
        assert_eq!(&file[40..72], &key.public_key());
        let decoded = NodeKey::decode(&file).unwrap();
        assert_eq!(decoded.public_key(), key.public_key());
    }

    #[test]
    fn every_flipped_bit_of_the_key_file_is_refused() {
        let file = NodeKey::from_secret([9; 32]).encode();
        for byte in 0..FILE_LENGTH {
            for bit in 0..8 {
                let mut damaged = file;
                damaged[byte] ^= 1 << bit;
                assert!(NodeKey::decode(&damaged).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn a_rewritten_checksum_does_not_hide_a_changed_public_key() {
        let mut file = NodeKey::from_secret([9; 32]).encode();
        file[40..72].copy_from_slice(&NodeKey::from_secret([8; 32]).public_key());
        let checksum = Sha256::digest(&file[..72]);
        file[72..].copy_from_slice(&checksum);
        assert_eq!(NodeKey::decode(&file).unwrap_err(), KeyFileError::PublicKeyMismatch);
    }

    #[test]
    fn each_field_has_its_error() {
        let file = NodeKey::from_secret([1; 32]).encode();
        assert_eq!(NodeKey::decode(&file[..103]).unwrap_err(), KeyFileError::WrongLength(103));
        let mut changed = file;
        changed[0] = b'X';
        assert_eq!(NodeKey::decode(&changed).unwrap_err(), KeyFileError::BadMagic);
        let mut changed = file;
        changed[4] = 2;
        assert_eq!(NodeKey::decode(&changed).unwrap_err(), KeyFileError::UnsupportedVersion(2));
        let mut changed = file;
        changed[5] = 7;
        assert_eq!(NodeKey::decode(&changed).unwrap_err(), KeyFileError::UnknownAlgorithm(7));
        let mut changed = file;
        changed[20] ^= 1;
        assert_eq!(NodeKey::decode(&changed).unwrap_err(), KeyFileError::ChecksumMismatch);
    }

    #[test]
    fn the_key_is_made_once_and_loaded_after() {
        let mut store = store();
        let (made, origin) =
            NodeKey::load_or_create(&mut store, || Some([3; 32])).unwrap().unwrap();
        assert_eq!(origin, Origin::Created);
        let mut disk = store.into_device();
        let mut store = Store::open(&mut disk).unwrap();
        let (loaded, origin) =
            NodeKey::load_or_create(&mut store, || panic!("no new key")).unwrap().unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(loaded.public_key(), made.public_key());
        assert_eq!(loaded.did(), made.did());
    }

    #[test]
    fn no_entropy_means_no_key_and_nothing_written() {
        let mut store = store();
        assert!(NodeKey::load_or_create(&mut store, || None).unwrap().is_none());
        assert!(!store.contains(NODE_KEY));
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let mut store = store();
        NodeKey::load_or_create(&mut store, || Some([3; 32])).unwrap();
        let mut file = store.get(NODE_KEY).unwrap().unwrap();
        file[30] ^= 0x40;
        store.put(NODE_KEY, &file).unwrap();
        let error = NodeKey::load_or_create(&mut store, || Some([4; 32])).unwrap_err();
        assert_eq!(error, KeyError::Damaged(KeyFileError::ChecksumMismatch));
        // The damaged file is left as it was, for whoever repairs it.
        assert_eq!(store.get(NODE_KEY).unwrap().unwrap(), file);
    }

    #[test]
    fn the_did_is_the_did_key_of_the_public_key() {
        // RFC 8032 test 1: its public key is d75a9801...
        let secret: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let key = NodeKey::from_secret(secret);
        assert_eq!(key.public_key()[..4], [0xd7, 0x5a, 0x98, 0x01]);
        let did = key.did();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(PublisherKey::from_did_key(&did).unwrap().as_bytes(), &key.public_key());
    }

    #[test]
    fn dapp_keys_are_stable_distinct_and_verify() {
        let node = NodeKey::from_secret([7; 32]);
        let publisher = [1u8; 32];
        let chat = node.dapp_key("chat", &publisher);
        assert_eq!(chat.public_key(), node.dapp_key("chat", &publisher).public_key());
        let others = [
            node.dapp_key("notes", &publisher).public_key(),
            node.dapp_key("chat", &[2; 32]).public_key(),
            NodeKey::from_secret([8; 32]).dapp_key("chat", &publisher).public_key(),
            node.public_key(),
        ];
        assert!(others.iter().all(|other| *other != chat.public_key()));
        // A name that ends where another's publisher starts does not collide.
        let mut shifted = [1u8; 32];
        shifted[0] = b'x';
        assert_ne!(
            node.dapp_key("chatx", &publisher).public_key(),
            node.dapp_key("chat", &shifted).public_key()
        );
        let signature = chat.sign(b"hello");
        let verifying = VerifyingKey::from_bytes(&chat.public_key()).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        assert!(verifying.verify(b"hello", &signature).is_ok());
        assert!(verifying.verify(b"hellO", &signature).is_err());
    }

    #[test]
    fn the_dapp_key_is_hkdf_sha512_of_the_documented_inputs() {
        let node = NodeKey::from_secret([7; 32]);
        let publisher = [1u8; 32];
        // HKDF by hand (RFC 5869), with HMAC-SHA-512 built from SHA-512.
        fn hmac(key: &[u8], message: &[u8]) -> [u8; 64] {
            let mut block = [0u8; 128];
            block[..key.len()].copy_from_slice(key);
            let mut inner = Sha512::new();
            inner.update(block.map(|byte| byte ^ 0x36));
            inner.update(message);
            let mut outer = Sha512::new();
            outer.update(block.map(|byte| byte ^ 0x5c));
            outer.update(inner.finalize());
            outer.finalize().into()
        }
        let prk = hmac(DAPP_KEY_SALT, &[7; 32]);
        let mut info = alloc::vec![4u8];
        info.extend_from_slice(b"chat");
        info.extend_from_slice(&publisher);
        info.push(1);
        let okm = hmac(&prk, &info);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&okm[..32]);
        assert_eq!(
            node.dapp_key("chat", &publisher).public_key(),
            NodeKey::from_secret(seed).public_key()
        );
    }

    #[test]
    fn netvm_gets_the_public_key_and_handshake_signatures_only() {
        let key = NodeKey::from_secret([6; 32]);
        assert_eq!(
            answer_netvm(Ok(&key), &Record::KeyRequest),
            Some(Record::Key { public_key: key.public_key() })
        );
        let static_key = [0x42; 32];
        let Some(Record::HandshakeAnswer { request: 9, status: 0, signature }) =
            answer_netvm(Ok(&key), &Record::HandshakeRequest { request: 9, static_key })
        else {
            panic!("no signature");
        };
        let verifying = VerifyingKey::from_bytes(&key.public_key()).unwrap();
        let mut statement = b"noise-libp2p-static-key:".to_vec();
        statement.extend_from_slice(&static_key);
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        assert!(verifying.verify_strict(&statement, &signature).is_ok());
        // Answers are not requests: nothing comes back.
        assert_eq!(answer_netvm(Ok(&key), &Record::Key { public_key: [0; 32] }), None);
        assert_eq!(
            answer_netvm(Err(NoKey::Damaged), &Record::KeyRequest),
            Some(Record::NoKey { reason: NoKey::Damaged })
        );
        assert_eq!(
            answer_netvm(
                Err(NoKey::NoEntropy),
                &Record::HandshakeRequest { request: 2, static_key }
            ),
            Some(Record::HandshakeAnswer { request: 2, status: 1, signature: [0; 64] })
        );
    }
}
