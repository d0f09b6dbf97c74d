//! The package container: header, manifest and module; parsing with every
//! check, and packing with a signature.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ELPKG\r\n\x1a"
//!      8     2  format version, 1 (u16, little-endian)
//!     10     2  flags, 0 (u16; no flag is defined)
//!     12     4  manifest length m (u32, at most 16 KiB)
//!     16     4  module length w (u32, at most 8 MiB)
//!     20    32  publisher's ed25519 public key
//!     52    32  SHA-256 of the manifest
//!     84    32  SHA-256 of the module
//!    116    64  ed25519 signature of the signed statement
//!    180     m  manifest (canonical encoding)
//!  180+m     w  module (WebAssembly binary)
//! ```
//!
//! The signed statement is [`SIGNATURE_DOMAIN`] followed by the manifest's
//! digest and the module's digest (88 bytes). The file ends exactly after the
//! module.

use crate::did_key::PublisherKey;
use crate::install::{Installed, Refusal, SystemPolicy};
use crate::manifest::{Manifest, ManifestError};
use alloc::vec::Vec;
use core::fmt;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The first 8 bytes of every package. The `\r\n` and `\x1a` catch a
/// transfer that rewrote line ends or stopped at an end-of-file character.
pub const MAGIC: [u8; 8] = *b"ELPKG\r\n\x1a";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// The size of the fixed header before the manifest.
pub const HEADER_SIZE: usize = 180;
/// The largest package accepted.
pub const MAXIMUM_PACKAGE_SIZE: usize = 16 << 20;
/// The largest module accepted.
pub const MAXIMUM_MODULE_SIZE: usize = 8 << 20;
/// The largest manifest encoding accepted.
pub const MAXIMUM_MANIFEST_SIZE: usize = 16 << 10;
/// What the signed statement starts with, so that a package signature can
/// never be taken for a signature of anything else the publisher's key signs.
pub const SIGNATURE_DOMAIN: &[u8; 24] = b"elastos dapp package v1\0";

/// The first bytes of a WebAssembly binary module: `\0asm`, version 1.
const WASM_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";

const PUBLISHER_OFFSET: usize = 20;
const MANIFEST_DIGEST_OFFSET: usize = 52;
const MODULE_DIGEST_OFFSET: usize = 84;
const SIGNATURE_OFFSET: usize = 116;

/// Why a package is refused. Each `Display` is one line for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageError {
    /// Larger than [`MAXIMUM_PACKAGE_SIZE`].
    TooLarge,
    /// It does not start with [`MAGIC`].
    NotAPackage,
    /// It ends before its header says it does.
    Truncated,
    /// Bytes follow the module.
    TrailingBytes,
    /// A format version this crate does not read.
    UnsupportedVersion(u16),
    /// A header flag is set; none is defined.
    UnknownFlags(u16),
    /// The manifest is larger than [`MAXIMUM_MANIFEST_SIZE`].
    ManifestTooLarge,
    /// The module is larger than [`MAXIMUM_MODULE_SIZE`].
    ModuleTooLarge,
    /// The signature is all zeros: the package was never signed.
    Unsigned,
    /// The manifest's digest is not the one in the header.
    ManifestModified,
    /// The module's digest is not the one in the header.
    ModuleModified,
    /// The header's public key is not an ed25519 point.
    InvalidPublicKey,
    /// The signature does not verify under the header's key.
    BadSignature,
    /// The signing key is not the publisher the manifest names.
    SignerNotPublisher,
    /// The manifest is malformed or breaks a rule.
    Manifest(ManifestError),
    /// The module is not a WebAssembly binary (version 1).
    ModuleNotWasm,
}

impl fmt::Display for PackageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => formatter.write_str("the package is larger than the 16 MiB limit"),
            Self::NotAPackage => formatter.write_str("this file is not an Elastos dapp package"),
            Self::Truncated => formatter
                .write_str("the package is truncated: it ends before its header says it does"),
            Self::TrailingBytes => {
                formatter.write_str("the package has unexpected bytes after its end")
            }
            Self::UnsupportedVersion(version) => write!(
                formatter,
                "the package is in format version {version}; this system reads version {FORMAT_VERSION}"
            ),
            Self::UnknownFlags(flags) => {
                write!(formatter, "the package sets unknown header flags ({flags:#06x})")
            }
            Self::ManifestTooLarge => {
                formatter.write_str("the package's manifest is larger than the 16 KiB limit")
            }
            Self::ModuleTooLarge => {
                formatter.write_str("the package's module is larger than the 8 MiB limit")
            }
            Self::Unsigned => formatter.write_str("the package is not signed"),
            Self::ManifestModified => formatter
                .write_str("the package's manifest was modified or damaged (its digest differs)"),
            Self::ModuleModified => formatter
                .write_str("the package's module was modified or damaged (its digest differs)"),
            Self::InvalidPublicKey => {
                formatter.write_str("the package's signing key is not a valid ed25519 key")
            }
            Self::BadSignature => formatter
                .write_str("the package's signature is not valid: it was modified or damaged"),
            Self::SignerNotPublisher => formatter.write_str(
                "the package is signed by a key other than its publisher's (re-signed by someone else)",
            ),
            Self::Manifest(error) => write!(formatter, "the package's manifest is invalid: {error}"),
            Self::ModuleNotWasm => {
                formatter.write_str("the package's module is not a WebAssembly binary")
            }
        }
    }
}

impl core::error::Error for PackageError {}

impl From<ManifestError> for PackageError {
    fn from(error: ManifestError) -> Self {
        Self::Manifest(error)
    }
}

/// A package that passed every check of [`Package::parse`], borrowing the
/// bytes it was read from.
#[derive(Debug, Clone)]
pub struct Package<'a> {
    bytes: &'a [u8],
    manifest: Manifest,
    manifest_bytes: &'a [u8],
    module: &'a [u8],
    publisher: PublisherKey,
    manifest_digest: [u8; 32],
    module_digest: [u8; 32],
    signature: [u8; 64],
}

/// The 32 bytes at `offset`; the caller has checked the header's length.
fn bytes_32(bytes: &[u8], offset: usize) -> [u8; 32] {
    let mut array = [0; 32];
    array.copy_from_slice(&bytes[offset..offset + 32]);
    array
}

/// The little-endian `u32` at `offset` as a size; the caller has checked the
/// header's length.
fn size_at(bytes: &[u8], offset: usize) -> usize {
    let mut array = [0; 4];
    array.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(array) as usize
}

impl<'a> Package<'a> {
    /// Reads and verifies a package: size, magic, format version, flags,
    /// lengths, digests, signature, manifest rules, that the signer is the
    /// manifest's publisher, and that the module is WebAssembly. Any byte
    /// changed, added or removed after signing makes it fail.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PackageError> {
        if bytes.len() > MAXIMUM_PACKAGE_SIZE {
            return Err(PackageError::TooLarge);
        }
        let magic_length = bytes.len().min(MAGIC.len());
        if bytes[..magic_length] != MAGIC[..magic_length] {
            return Err(PackageError::NotAPackage);
        }
        if bytes.len() < HEADER_SIZE {
            return Err(PackageError::Truncated);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(PackageError::UnsupportedVersion(version));
        }
        let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
        if flags != 0 {
            return Err(PackageError::UnknownFlags(flags));
        }
        let manifest_length = size_at(bytes, 12);
        let module_length = size_at(bytes, 16);
        if manifest_length > MAXIMUM_MANIFEST_SIZE {
            return Err(PackageError::ManifestTooLarge);
        }
        if module_length > MAXIMUM_MODULE_SIZE {
            return Err(PackageError::ModuleTooLarge);
        }
        // Both lengths are bounded above, so this cannot overflow.
        let total = HEADER_SIZE + manifest_length + module_length;
        if bytes.len() < total {
            return Err(PackageError::Truncated);
        }
        if bytes.len() > total {
            return Err(PackageError::TrailingBytes);
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 64]);
        if signature == [0; 64] {
            return Err(PackageError::Unsigned);
        }
        let manifest_bytes = &bytes[HEADER_SIZE..HEADER_SIZE + manifest_length];
        let module = &bytes[HEADER_SIZE + manifest_length..];
        let manifest_digest = bytes_32(bytes, MANIFEST_DIGEST_OFFSET);
        let module_digest = bytes_32(bytes, MODULE_DIGEST_OFFSET);
        if <[u8; 32]>::from(Sha256::digest(manifest_bytes)) != manifest_digest {
            return Err(PackageError::ManifestModified);
        }
        if <[u8; 32]>::from(Sha256::digest(module)) != module_digest {
            return Err(PackageError::ModuleModified);
        }
        let publisher = PublisherKey::from_bytes(bytes_32(bytes, PUBLISHER_OFFSET));
        let key = VerifyingKey::from_bytes(publisher.as_bytes())
            .map_err(|_| PackageError::InvalidPublicKey)?;
        let statement = signed_statement(&manifest_digest, &module_digest);
        // Strict verification: canonical S, and no small-order key or R, so
        // that one package has one valid signature per key.
        key.verify_strict(&statement, &Signature::from_bytes(&signature))
            .map_err(|_| PackageError::BadSignature)?;
        let manifest = Manifest::decode(manifest_bytes)?;
        if manifest.publisher != publisher {
            return Err(PackageError::SignerNotPublisher);
        }
        if !module.starts_with(&WASM_HEADER) {
            return Err(PackageError::ModuleNotWasm);
        }
        Ok(Self {
            bytes,
            manifest,
            manifest_bytes,
            module,
            publisher,
            manifest_digest,
            module_digest,
            signature,
        })
    }

    /// The package's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's canonical encoding, as signed.
    pub fn manifest_bytes(&self) -> &'a [u8] {
        self.manifest_bytes
    }

    /// The WebAssembly module.
    pub fn module(&self) -> &'a [u8] {
        self.module
    }

    /// The key that signed the package, which is the manifest's publisher.
    pub fn publisher(&self) -> PublisherKey {
        self.publisher
    }

    /// The SHA-256 of the manifest's encoding.
    pub fn manifest_digest(&self) -> [u8; 32] {
        self.manifest_digest
    }

    /// The SHA-256 of the module.
    pub fn module_digest(&self) -> [u8; 32] {
        self.module_digest
    }

    /// The ed25519 signature of [`signed_statement`].
    pub fn signature(&self) -> [u8; 64] {
        self.signature
    }

    /// The whole package, as parsed.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The SHA-256 of the whole package file (what `sha256sum` prints):
    /// the name people compare packages by.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.bytes).into()
    }

    /// Whether this package may be installed, given what is installed under
    /// its name now and the system's policy: see [`Manifest::check_install`].
    pub fn check_install(
        &self,
        installed: Option<&Installed>,
        policy: &SystemPolicy,
    ) -> Result<(), Refusal> {
        self.manifest.check_install(installed, policy)
    }
}

/// The bytes a package's signature signs: [`SIGNATURE_DOMAIN`], then the
/// manifest's digest, then the module's digest.
pub fn signed_statement(manifest_digest: &[u8; 32], module_digest: &[u8; 32]) -> [u8; 88] {
    let mut statement = [0u8; 88];
    statement[..24].copy_from_slice(SIGNATURE_DOMAIN);
    statement[24..56].copy_from_slice(manifest_digest);
    statement[56..].copy_from_slice(module_digest);
    statement
}

/// Builds a package of `manifest` and `module` signed with the ed25519
/// secret key (32-byte seed) `secret_key`. The manifest must pass
/// [`Manifest::validate`] and name the key's public half as its publisher;
/// the module must be a WebAssembly binary; the result is what
/// [`Package::parse`] accepts. Signing is deterministic.
pub fn pack(
    manifest: &Manifest,
    module: &[u8],
    secret_key: &[u8; 32],
) -> Result<Vec<u8>, PackageError> {
    let signing_key = SigningKey::from_bytes(secret_key);
    let publisher = PublisherKey::from_bytes(signing_key.verifying_key().to_bytes());
    let manifest_bytes = manifest.encode()?;
    if manifest.publisher != publisher {
        return Err(PackageError::SignerNotPublisher);
    }
    if manifest_bytes.len() > MAXIMUM_MANIFEST_SIZE {
        return Err(PackageError::ManifestTooLarge);
    }
    if module.len() > MAXIMUM_MODULE_SIZE {
        return Err(PackageError::ModuleTooLarge);
    }
    if !module.starts_with(&WASM_HEADER) {
        return Err(PackageError::ModuleNotWasm);
    }
    let total = HEADER_SIZE + manifest_bytes.len() + module.len();
    if total > MAXIMUM_PACKAGE_SIZE {
        return Err(PackageError::TooLarge);
    }
    let manifest_digest: [u8; 32] = Sha256::digest(&manifest_bytes).into();
    let module_digest: [u8; 32] = Sha256::digest(module).into();
    let signature = signing_key.sign(&signed_statement(&manifest_digest, &module_digest));
    let mut package = Vec::with_capacity(total);
    package.extend_from_slice(&MAGIC);
    package.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    package.extend_from_slice(&0u16.to_le_bytes());
    package.extend_from_slice(&(manifest_bytes.len() as u32).to_le_bytes());
    package.extend_from_slice(&(module.len() as u32).to_le_bytes());
    package.extend_from_slice(publisher.as_bytes());
    package.extend_from_slice(&manifest_digest);
    package.extend_from_slice(&module_digest);
    package.extend_from_slice(&signature.to_bytes());
    package.extend_from_slice(&manifest_bytes);
    package.extend_from_slice(module);
    Ok(package)
}
