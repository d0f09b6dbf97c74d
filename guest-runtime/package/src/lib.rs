//! The dapp package format: manifest, module, digests and signature; building,
//! signing and verifying.
//!
//! A dapp reaches an Elastos system as one file, a *package*: a fixed header,
//! the [`Manifest`] in a canonical binary encoding, and the WebAssembly module.
//! The header carries the SHA-256 digests of manifest and module, the
//! publisher's ed25519 public key and a signature over a domain-separated
//! statement of both digests. The manifest names its publisher as an ed25519
//! `did:key`, which must be the signing key. The byte layout is in
//! `docs/packages.md`.
//!
//! - [`Package::parse`] checks everything a package says about itself (sizes,
//!   format version, digests, signature, manifest rules, publisher). chainvm
//!   calls it before anything else looks at a package.
//! - [`Manifest::check_install`] (and [`Package::check_install`]) decides
//!   whether a verified package may be installed over what is installed now,
//!   under the system's [`SystemPolicy`]; it answers with a [`Refusal`].
//! - [`pack`] builds and signs a package from a manifest, a module and a
//!   32-byte ed25519 secret key (deterministic: no randomness, no `std`).
//!
//! The crate is `no_std` with `alloc` on bare metal and has no `unsafe`.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod did_key;
mod encoding;
mod install;
mod manifest;
mod package;

pub use did_key::{DidKeyError, PublisherKey};
pub use install::{Installed, Refusal, SystemPolicy};
pub use manifest::{
    Approval, Capabilities, Capability, Field, Limits, Manifest, ManifestError, RestartPolicy,
    SignKey, SignKeys, SignPolicy, Version, DEFAULT_ENTRY, MAXIMUM_DESCRIPTION_LENGTH,
    MAXIMUM_ENTRY_LENGTH, MAXIMUM_NAME_LENGTH, MAXIMUM_PAYLOAD_KINDS, MAXIMUM_PAYLOAD_KIND_LENGTH,
};
pub use package::{
    pack, signed_statement, Package, PackageError, FORMAT_VERSION, HEADER_SIZE, MAGIC,
    MAXIMUM_MANIFEST_SIZE, MAXIMUM_MODULE_SIZE, MAXIMUM_PACKAGE_SIZE, SIGNATURE_DOMAIN,
};
