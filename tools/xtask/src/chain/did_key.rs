//! The did:key vector format: a JSON object keyed by `did:key:...`, each
//! entry with `seed`, `verificationKeyPair`, `keyAgreementKeyPair` and
//! `didDocument`. See `shared/vectors/did-key/README.md`.
//!
//! A case is named by its DID. An entry is `valid` when the seed derives the
//! key, the key the DID, the DID the X25519 key-agreement key, and resolving
//! the DID gives exactly the entry's document. An entry must be refused when
//! it marks itself as an error (`didResolutionMetadata.error`, `error`,
//! `valid: false` or `result: "invalid"`) or states nothing to resolve to (no
//! seed, key or document); so must each DID listed in an array under a key
//! that is no DID. A file may also be an array of such entries (the DID in
//! `did` or `id`) and of bare DIDs, which must be refused.

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
    if let Some(entries) = file.as_array() {
        let names_a_did_key = |entry: &Value| {
            [entry.as_str(), entry.get_str("did"), entry.get_str("id")]
                .into_iter()
                .flatten()
                .any(|did| did.starts_with("did:key:"))
        };
        return entries.iter().any(names_a_did_key).then(|| array_cases(entries));
    }
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
        cases.push(entry_case(name.clone(), name, &member.value));
    }
    Some(Ok(cases))
}

/// The case of one entry: `valid` is expected only of an entry that states
/// what the DID must resolve to (a seed, key or document) and marks no error.
fn entry_case(name: String, did: &str, entry: &Value) -> Case {
    let states_something =
        ["seed", "verificationKeyPair", "didDocument"].iter().any(|key| entry.get(key).is_some());
    let expected =
        if states_something && !marks_itself_invalid(entry) { "valid" } else { "invalid" };
    let got = match check_entry(did, entry) {
        Ok(()) => "valid".to_string(),
        Err(reason) => format!("invalid ({reason})"),
    };
    compare(name, expected, got)
}

/// The cases of a file that is an array of entries, each an object with the
/// DID in `did` or `id`, or a bare DID that must be refused.
fn array_cases(entries: &[Value]) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            Value::String(did) => {
                let got = match DidKey::parse(&did.value) {
                    Ok(_) => "valid".to_string(),
                    Err(error) => format!("invalid ({})", error_name(error)),
                };
                cases.push(compare(format!("[{index}] {}", did.value), "invalid", got));
            }
            Value::Object(_) => {
                let did = entry
                    .get_str("did")
                    .or_else(|| entry.get_str("id"))
                    .ok_or_else(|| format!("entry {index} has no did"))?;
                cases.push(entry_case(format!("[{index}] {did}"), did, entry));
            }
            _ => return Err(format!("entry {index} is neither a DID nor an object")),
        }
    }
    Ok(cases)
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
