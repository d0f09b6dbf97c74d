//! The `evm` vector formats (see `shared/vectors/evm/README.md`), recognised
//! by their shape:
//!
//! - a header file (`{header, expected_hash, expected_rlp?, field_count?}`):
//!   the header's RLP is the expected one and hashes to `expected_hash`,
//!   which is also the header's own `hash`; the RLP decodes back to the
//!   header (`header_hash_mismatch` is expected instead when a `cases.json`
//!   beside or above it says so);
//! - an `eth_getProof` result: read as part of the cases that name it;
//! - `cases.json` (`{cases: [{header, proof?, expect}]}`): `valid`,
//!   `invalid` (the proof or its claimed values are refused) or
//!   `header_hash_mismatch`.

use super::Case;
use chain_verify::cometbft::json::{self as cometbft_json, JsonError, Value};
use chain_verify::evm::{self, json, verify_account_proof, Header};
use std::path::{Path, PathBuf};

/// Verdict: everything checks.
const VALID: &str = "valid";
/// Verdict: the header is fine, the proof or its claims are refused.
const INVALID: &str = "invalid";
/// Verdict: the header does not hash to its stated hash.
const HEADER_HASH_MISMATCH: &str = "header_hash_mismatch";

/// The cases of `text` if it is a file of one of these formats.
pub fn read(path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    let value = cometbft_json::parse(text)?;
    if value.get("header").is_some_and(Value::is_object) && value.get("expected_hash").is_some() {
        return Some(header_file_cases(path, &value));
    }
    if value.get("accountProof").is_some() && value.get("address").is_some() {
        // Checked against a header by the cases that name it.
        return Some(json::account_proof(&value).map(|_| Vec::new()).map_err(describe));
    }
    let cases = value.get("cases").and_then(Value::as_array)?;
    if cases.iter().all(|case| case.get("header").is_some_and(Value::is_string)) {
        return Some(cases_file(path, cases));
    }
    None
}

/// Words for a JSON error.
fn describe(error: JsonError) -> String {
    match error {
        JsonError::Missing(name) => format!("missing field `{name}`"),
        JsonError::Invalid(name) => format!("malformed field `{name}`"),
    }
}

/// `0x` hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("0x{digits}")
}

/// The header's own stated `hash`.
fn stated_hash(header: &Value) -> Result<[u8; 32], String> {
    let text = header.get("hash").and_then(Value::as_str).ok_or("the header has no `hash`")?;
    json::fixed(text, "hash").map_err(describe)
}

/// Checks a header file; `Ok(())` when everything agrees, otherwise why not.
fn check_header_file(value: &Value) -> Result<(), String> {
    let header_value = value.get("header").ok_or("missing `header`")?;
    let header = json::header(header_value).map_err(describe)?;
    let encoded = header.rlp().map_err(|error| format!("{error:?}"))?;
    let computed = evm::keccak256(&encoded);
    let expected_text =
        value.get("expected_hash").and_then(Value::as_str).ok_or("missing `expected_hash`")?;
    let expected: [u8; 32] = json::fixed(expected_text, "expected_hash").map_err(describe)?;
    if let Some(rlp_text) = value.get("expected_rlp").and_then(Value::as_str) {
        let expected_rlp = json::data(rlp_text, "expected_rlp").map_err(describe)?;
        if expected_rlp != encoded {
            return Err(format!(
                "{HEADER_HASH_MISMATCH}: the header's RLP {} is not expected_rlp",
                hex(&encoded)
            ));
        }
        let decoded =
            Header::decode(&expected_rlp).map_err(|error| format!("expected_rlp: {error:?}"))?;
        if decoded != header {
            return Err(format!(
                "{HEADER_HASH_MISMATCH}: expected_rlp does not decode to the header"
            ));
        }
    }
    if let Some(count) = value.get("field_count").and_then(Value::as_u64) {
        if header.field_count() as u64 != count {
            return Err(format!(
                "{HEADER_HASH_MISMATCH}: the header has {} fields, not {count}",
                header.field_count()
            ));
        }
    }
    if computed != expected {
        return Err(format!(
            "{HEADER_HASH_MISMATCH}: computed {} not {}",
            hex(&computed),
            hex(&expected)
        ));
    }
    if stated_hash(header_value)? != expected {
        return Err(format!("{HEADER_HASH_MISMATCH}: header.hash is not expected_hash"));
    }
    Ok(())
}

/// Folders that may hold a `cases.json` naming `path`: its own and the two
/// above.
fn case_lists_near(path: &Path) -> Vec<PathBuf> {
    path.ancestors().skip(1).take(3).map(|folder| folder.join("cases.json")).collect()
}

/// The verdict some `cases.json` near `path` expects of its header, if it
/// names it with `header_hash_mismatch`.
fn expected_by_case_lists(path: &Path) -> Option<&'static str> {
    let own = path.canonicalize().ok()?;
    for list in case_lists_near(path) {
        let Ok(text) = std::fs::read_to_string(&list) else { continue };
        let Some(value) = cometbft_json::parse(&text) else { continue };
        let Some(cases) = value.get("cases").and_then(Value::as_array) else { continue };
        let folder = list.parent()?;
        for case in cases {
            let names_it = case
                .get("header")
                .and_then(Value::as_str)
                .and_then(|header| folder.join(header).canonicalize().ok())
                .is_some_and(|header| header == own);
            if names_it && case.get("expect").and_then(Value::as_str) == Some(HEADER_HASH_MISMATCH)
            {
                return Some(HEADER_HASH_MISMATCH);
            }
        }
    }
    None
}

/// A header file's one case.
fn header_file_cases(path: &Path, value: &Value) -> Result<Vec<Case>, String> {
    let expected = value
        .get("expect")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| expected_by_case_lists(path).map(str::to_string))
        .unwrap_or_else(|| VALID.to_string());
    let got = match check_header_file(value) {
        Ok(()) => VALID.to_string(),
        Err(reason)
            if reason.starts_with(HEADER_HASH_MISMATCH) && expected == HEADER_HASH_MISMATCH =>
        {
            HEADER_HASH_MISMATCH.to_string()
        }
        Err(reason) => reason,
    };
    Ok(vec![Case::compare("header", expected, got)])
}

/// Reads the JSON file `name` relative to `folder`.
fn read_json(folder: &Path, name: &str) -> Result<Value, String> {
    let path = folder.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    cometbft_json::parse(&text).ok_or_else(|| format!("{} is not JSON", path.display()))
}

/// The verdict of one `cases.json` entry.
fn case_verdict(folder: &Path, case: &Value) -> Result<String, String> {
    let header_name = case.get("header").and_then(Value::as_str).ok_or("missing `header`")?;
    let header_file = read_json(folder, header_name)?;
    let header_value = header_file.get("header").ok_or("the header file has no `header`")?;
    let header = json::header(header_value).map_err(describe)?;
    let computed = header.hash().map_err(|error| format!("{error:?}"))?;
    if computed != stated_hash(header_value)? {
        return Ok(HEADER_HASH_MISMATCH.into());
    }
    let Some(proof_name) = case.get("proof").and_then(Value::as_str) else {
        return Ok(VALID.into());
    };
    let proof_value = read_json(folder, proof_name)?;
    // Claims that cannot be read are claims that cannot be proven.
    let Ok(proof) = json::account_proof(&proof_value) else {
        return Ok(INVALID.into());
    };
    Ok(match verify_account_proof(&header.state_root, &proof) {
        Ok(()) => VALID.into(),
        Err(error) => format!("{INVALID} ({error:?})"),
    })
}

/// The cases of a `cases.json`.
fn cases_file(path: &Path, cases: &[Value]) -> Result<Vec<Case>, String> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut results = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let expected = case
            .get("expect")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("case {index}: missing `expect`"))?;
        let label =
            case.get("proof").or_else(|| case.get("header")).and_then(Value::as_str).unwrap_or("");
        let got = match case_verdict(folder, case) {
            Ok(got) if got.starts_with(INVALID) && expected == INVALID => INVALID.to_string(),
            Ok(got) => got,
            Err(reason) => format!("unreadable: {reason}"),
        };
        results.push(Case::compare(format!("case {index} ({label})"), expected, got));
    }
    Ok(results)
}
