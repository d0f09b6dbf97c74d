//! The did:key vector format: a JSON object keyed by `did:key:...`, each
//! entry with `seed`, `verificationKeyPair`, `keyAgreementKeyPair` and
//! `didDocument`. See `shared/vectors/did-key/README.md`.
//!
//! A case is named by its DID. An entry is `valid` when the seed derives the
//! key, the key the DID, the DID the X25519 key-agreement key, and resolving
//! the DID gives exactly the entry's document. An entry that marks itself
//! as an error (`didResolutionMetadata.error`, `error`, `valid: false` or
//! `result: "invalid"`), and each DID listed in an array under a key that is
//! no DID, must be refused.

use super::Case;
use chain_verify::did_key::{self, DidKey, DidKeyError};
use chain_verify::encoding::{decode_base64url, decode_hex};
use chain_verify::json::{self, Value};
use std::path::Path;

/// The cases of `text` if it is a file of this format.
pub fn read(_path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    if !text.contains("\"did:key:") {
        return None;
    }
    let file = json::parse(text).ok()?;
    let members = file.members()?;
    if !members.iter().any(|member| member.key.value.starts_with("did:key:")) {
        return None;
    }
    let mut cases = Vec::new();
    for member in members {
        let name = &member.key.value;
        if let Some(listed) = member.value.as_array() {
            for (index, did) in listed.iter().enumerate() {
                let got = match did.as_str().map(DidKey::parse) {
                    Some(Ok(_)) => "valid".to_string(),
                    Some(Err(error)) => format!("invalid ({})", error_name(error)),
                    None => "invalid (not a string)".into(),
                };
                cases.push(compare(format!("{name}[{index}]"), "invalid", got));
            }
            continue;
        }
        let expected = if marks_itself_invalid(&member.value) { "invalid" } else { "valid" };
        let got = match check_entry(name, &member.value) {
            Ok(()) => "valid".to_string(),
            Err(reason) => format!("invalid ({reason})"),
        };
        cases.push(compare(name.clone(), expected, got));
    }
    Some(Ok(cases))
}

/// Compares the verdict word only; the reason is shown when it is wrong.
fn compare(name: String, expected: &str, got: String) -> Case {
    let verdict = got.split(' ').next().unwrap_or("").to_string();
    if verdict == expected {
        Case::compare(name, expected, verdict)
    } else {
        Case::compare(name, expected, got)
    }
}

fn marks_itself_invalid(entry: &Value) -> bool {
    let metadata_error =
        entry.get("didResolutionMetadata").and_then(|metadata| metadata.get("error")).is_some();
    metadata_error
        || entry.get("error").is_some()
        || entry.get("valid") == Some(&Value::Bool(false))
        || entry.get_str("result") == Some("invalid")
}

/// The did:key method's error names.
fn error_name(error: DidKeyError) -> &'static str {
    match error {
        DidKeyError::NotDidKey => "invalidDid",
        DidKeyError::UnsupportedMultibase | DidKeyError::InvalidBase58 => "invalidDid",
        DidKeyError::UnsupportedMulticodec => "unsupportedPublicKeyType",
        DidKeyError::InvalidKeyLength => "invalidPublicKeyLength",
        DidKeyError::InvalidPublicKey => "invalidPublicKey",
    }
}

/// Checks the README's four rules for one entry.
fn check_entry(did: &str, entry: &Value) -> Result<(), String> {
    let parsed = DidKey::parse(did).map_err(error_name)?;
    if let Some(seed) = entry.get_str("seed") {
        let seed = decode_hex(seed).map_err(|_| "seed is not hex")?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| "seed is not 32 bytes")?;
        if did_key::from_seed(&seed) != parsed {
            return Err("the seed derives another key".into());
        }
    }
    if let Some(pair) = entry.get("verificationKeyPair") {
        let stated = stated_key(pair).ok_or("verificationKeyPair has no public key")?;
        if stated != parsed.public_key()[..] {
            return Err("verificationKeyPair differs from the DID's key".into());
        }
    }
    let document = parsed.document();
    if let Some(pair) = entry.get("keyAgreementKeyPair") {
        let stated = stated_key(pair).ok_or("keyAgreementKeyPair has no public key")?;
        if stated != parsed.x25519_public_key()[..] {
            return Err("keyAgreementKeyPair differs from the derived X25519 key".into());
        }
        if let Some(id) = pair.get_str("id") {
            let fragment = id.rsplit('#').next().unwrap_or(id);
            if !document.key_agreement.id.ends_with(&format!("#{fragment}")) {
                return Err("keyAgreementKeyPair.id differs from the derived key's".into());
            }
        }
    }
    match entry.get("didDocument") {
        Some(stated) if !document.to_json().same_as(stated) => {
            Err("the resolved document differs from didDocument".into())
        }
        _ => Ok(()),
    }
}

/// The raw public key of a key pair: `publicKeyBase58`, `publicKeyJwk.x`
/// or `publicKeyMultibase`.
fn stated_key(pair: &Value) -> Option<Vec<u8>> {
    if let Some(base58) = pair.get_str("publicKeyBase58") {
        return chain_verify::encoding::decode_base58(base58).ok();
    }
    if let Some(x) = pair.get("publicKeyJwk").and_then(|jwk| jwk.get_str("x")) {
        return decode_base64url(x).ok();
    }
    let multibase = pair.get_str("publicKeyMultibase")?;
    let codec = if multibase.starts_with("z6Mk") {
        did_key::ED25519_MULTICODEC
    } else {
        did_key::X25519_MULTICODEC
    };
    did_key::decode_multibase_key(multibase, codec).ok().map(|key| key.to_vec())
}
