//! The ed25519 vector formats: SUPERCOP `sign.input` lines
//! (`seed||pk:pk:message:signature||message:`, hex) and Wycheproof
//! `EddsaVerify` JSON. See `shared/vectors/ed25519/README.md`.
//!
//! A `sign.input` case (`line N`) passes when the seed derives the public
//! key, signing gives exactly the signature, and the signature verifies. A
//! Wycheproof case (`tcId N`) passes when strict verification accepts
//! exactly the `valid` ones.

use super::Case;
use chain_verify::encoding::decode_hex;
use chain_verify::json::{self, Value};
use chain_verify::signature::ed25519;
use std::path::Path;

/// The cases of `text` if it is a file of one of these formats.
pub fn read(_path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    if is_sign_input(text) {
        return Some(sign_input_cases(text));
    }
    if text.contains("\"EddsaVerify\"") {
        return Some(wycheproof(text, "EddsaVerify", |group, test| {
            let key = group
                .get("publicKey")
                .and_then(|key| key.get_str("pk"))
                .ok_or("a test group has no publicKey.pk")?;
            let key = decode_hex(key).map_err(|error| format!("publicKey.pk: {error:?}"))?;
            let (message, signature) = message_and_signature(test)?;
            Ok(ed25519::verify(&key, &message, &signature).is_ok())
        }));
    }
    None
}

/// Whether every line is four hex fields each followed by `:`.
fn is_sign_input(text: &str) -> bool {
    let mut lines = text.lines().filter(|line| !line.is_empty()).peekable();
    lines.peek().is_some()
        && lines.all(|line| {
            line.ends_with(':')
                && line.split(':').count() == 5
                && line.chars().all(|character| character == ':' || character.is_ascii_hexdigit())
        })
}

fn sign_input_cases(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let name = format!("line {}", index + 1);
        let fields: Vec<Vec<u8>> = line
            .split(':')
            .take(4)
            .map(decode_hex)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("{name}: not hex ({error:?})"))?;
        let [secret, public, message, signed] = fields.as_slice() else {
            return Err(format!("{name}: not four fields"));
        };
        if secret.len() != 64 || signed.len() != 64 + message.len() {
            return Err(format!("{name}: wrong field lengths"));
        }
        let seed: [u8; 32] = secret[..32].try_into().expect("checked to be 64 bytes");
        let got = if ed25519::public_key(&seed)[..] != public[..] || secret[32..] != public[..] {
            "public key differs".to_string()
        } else if ed25519::sign(&seed, message)[..] != signed[..64] || signed[64..] != message[..] {
            "signature differs".to_string()
        } else if let Err(error) = ed25519::verify(public, message, &signed[..64]) {
            format!("does not verify ({error:?})")
        } else {
            "signed and verified".to_string()
        };
        cases.push(Case::compare(name, "signed and verified", got));
    }
    Ok(cases)
}

/// The hex `msg` and `sig` of a Wycheproof test.
pub(super) fn message_and_signature(test: &Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    let field = |name: &str| -> Result<Vec<u8>, String> {
        let text = test.get_str(name).ok_or_else(|| format!("a test has no {name}"))?;
        decode_hex(text).map_err(|error| format!("{name}: {error:?}"))
    };
    Ok((field("msg")?, field("sig")?))
}

/// The cases (`tcId N`) of a Wycheproof file whose groups are of
/// `group_type`: `verify` says whether a test's signature is accepted, which
/// must be so exactly for `valid` tests (`acceptable` ones may go either way).
pub(super) fn wycheproof(
    text: &str,
    group_type: &str,
    verify: impl Fn(&Value, &Value) -> Result<bool, String>,
) -> Result<Vec<Case>, String> {
    let file = json::parse(text).map_err(|error| format!("not JSON: {error:?}"))?;
    let groups = file.get("testGroups").and_then(Value::as_array).ok_or("no testGroups")?;
    let mut cases = Vec::new();
    for group in groups {
        if group.get_str("type") != Some(group_type) {
            return Err(format!("a test group is not of type {group_type}"));
        }
        let tests = group.get("tests").and_then(Value::as_array).ok_or("a group has no tests")?;
        for test in tests {
            let id = match test.get("tcId") {
                Some(Value::Number(number)) => number.clone(),
                _ => return Err("a test has no tcId".into()),
            };
            let expected = test.get_str("result").ok_or_else(|| format!("tcId {id}: no result"))?;
            let accepted = verify(group, test).map_err(|error| format!("tcId {id}: {error}"))?;
            let got = if accepted { "valid" } else { "invalid" };
            let expected = if expected == "acceptable" { got } else { expected };
            cases.push(Case::compare(format!("tcId {id}"), expected, got));
        }
    }
    Ok(cases)
}
