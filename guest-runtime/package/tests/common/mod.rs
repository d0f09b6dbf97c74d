//! Packages, manifests and keys the tests share.
#![allow(dead_code)] // Each test file uses its own part of these helpers.

use elastos_package::{
    signed_statement, Capabilities, Capability, Limits, Manifest, PublisherKey, RestartPolicy,
    FORMAT_VERSION, MAGIC,
};
use sha2::{Digest, Sha256};

/// The publisher's secret key in the tests.
pub const SECRET: [u8; 32] = [7; 32];
/// Another publisher's.
pub const OTHER_SECRET: [u8; 32] = [9; 32];

/// The smallest WebAssembly module with something in it: the header and a
/// custom section named "x" holding two bytes.
pub const MODULE: &[u8] = b"\0asm\x01\0\0\0\x00\x04\x01x\x01\x02";

/// A manifest published by the key `secret`.
pub fn manifest_for(secret: &[u8; 32]) -> Manifest {
    Manifest {
        name: "chat".into(),
        version: elastos_package::Version::new(1, 2, 0),
        description: String::new(),
        publisher: PublisherKey::from_secret_key(secret),
        entry: "elastos_main".into(),
        restart: RestartPolicy::Stop,
        capabilities: Capabilities::of(&[Capability::Log, Capability::Message]),
        limits: Limits::DEFAULT,
        sign: None,
    }
}

/// The tests' manifest.
pub fn manifest() -> Manifest {
    manifest_for(&SECRET)
}

/// A small valid package.
pub fn package() -> Vec<u8> {
    elastos_package::pack(&manifest(), MODULE, &SECRET).expect("the test manifest is valid")
}

/// A package laid out as the format says, of any manifest bytes and module,
/// signed by `secret`: for packages that `pack` refuses to make.
pub fn assemble(manifest: &[u8], module: &[u8], secret: &[u8; 32]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(secret);
    let manifest_digest: [u8; 32] = Sha256::digest(manifest).into();
    let module_digest: [u8; 32] = Sha256::digest(module).into();
    let signature = key.sign(&signed_statement(&manifest_digest, &module_digest));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(module.len() as u32).to_le_bytes());
    bytes.extend_from_slice(key.verifying_key().as_bytes());
    bytes.extend_from_slice(&manifest_digest);
    bytes.extend_from_slice(&module_digest);
    bytes.extend_from_slice(&signature.to_bytes());
    bytes.extend_from_slice(manifest);
    bytes.extend_from_slice(module);
    bytes
}
