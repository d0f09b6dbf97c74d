//! The ECDSA P-256 vector format: Wycheproof `EcdsaP1363Verify` JSON for
//! secp256r1 with SHA-256 (`r || s` signatures). See
//! `shared/vectors/ecdsa-p256/README.md`. A case (`tcId N`) passes when
//! verification accepts exactly the `valid` tests.

use super::ed25519::{message_and_signature, wycheproof};
use super::Case;
use chain_verify::encoding::decode_hex;
use chain_verify::signature::p256;
use std::path::Path;

/// The cases of `text` if it is a file of this format.
pub fn read(_path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    if !text.contains("\"EcdsaP1363Verify\"") || !text.contains("\"secp256r1\"") {
        return None;
    }
    Some(wycheproof(text, "EcdsaP1363Verify", |group, test| {
        let key = group.get("publicKey").ok_or("a test group has no publicKey")?;
        if key.get_str("curve") != Some("secp256r1") || group.get_str("sha") != Some("SHA-256") {
            return Err("only secp256r1 with SHA-256 is supported".into());
        }
        let key = key.get_str("uncompressed").ok_or("a public key has no uncompressed form")?;
        let key = decode_hex(key).map_err(|error| format!("publicKey: {error:?}"))?;
        let (message, signature) = message_and_signature(test)?;
        Ok(p256::verify(&key, &message, &signature).is_ok())
    }))
}
