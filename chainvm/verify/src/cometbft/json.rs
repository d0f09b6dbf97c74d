//! Reading CometBFT data from the JSON a node's RPC serves (and that
//! tendermint-rs writes): hex hashes, base64 keys and signatures, integers
//! as strings or numbers, RFC 3339 times; `block_id.parts` and
//! `part_set_header` both accepted.

use super::time::Time;
use super::types::{
    BlockId, BlockIdFlag, Commit, CommitSignature, Header, LightBlock, PartSetHeader, SignedHeader,
    Validator, ValidatorSet, Version,
};
use alloc::string::String;
use alloc::vec::Vec;
pub use serde_json::Value;

/// Parses JSON text (for callers that do not depend on `serde_json`).
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// Why JSON could not be read as CometBFT data; names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// A required field is missing.
    Missing(&'static str),
    /// A field has the wrong type or a malformed value.
    Invalid(&'static str),
}

/// The member `name` of `value` (missing when absent).
fn member<'a>(value: &'a Value, name: &'static str) -> Result<&'a Value, JsonError> {
    value.get(name).ok_or(JsonError::Missing(name))
}

/// An integer written as a JSON number or a decimal string.
pub fn integer(value: &Value, name: &'static str) -> Result<i128, JsonError> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
            .ok_or(JsonError::Invalid(name)),
        Value::String(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(JsonError::Invalid(name));
            }
            text.parse::<i128>().map_err(|_| JsonError::Invalid(name))
        }
        _ => Err(JsonError::Invalid(name)),
    }
}

/// A non-negative integer that fits an `int64`.
fn non_negative(value: &Value, name: &'static str) -> Result<u64, JsonError> {
    let number = integer(value, name)?;
    if !(0..=i128::from(i64::MAX)).contains(&number) {
        return Err(JsonError::Invalid(name));
    }
    Ok(number as u64)
}

/// A string member.
fn text<'a>(value: &'a Value, name: &'static str) -> Result<&'a str, JsonError> {
    member(value, name)?.as_str().ok_or(JsonError::Invalid(name))
}

/// Bytes from hex text (either case; empty text is no bytes).
pub fn hex(text: &str, name: &'static str) -> Result<Vec<u8>, JsonError> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if !text.len().is_multiple_of(2) {
        return Err(JsonError::Invalid(name));
    }
    let digit = |byte: u8| -> Result<u8, JsonError> {
        match byte {
            b'0'..=b'9' => Ok(byte - b'0'),
            b'a'..=b'f' => Ok(byte - b'a' + 10),
            b'A'..=b'F' => Ok(byte - b'A' + 10),
            _ => Err(JsonError::Invalid(name)),
        }
    };
    text.as_bytes().chunks(2).map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Bytes from standard base64 text (padding optional).
pub fn base64(text: &str, name: &'static str) -> Result<Vec<u8>, JsonError> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(JsonError::Invalid(name)),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero and fewer than a byte's worth of a char.
    if bits >= 6 || buffer != 0 {
        return Err(JsonError::Invalid(name));
    }
    Ok(out)
}

/// A hex member; `null` or absent is no bytes.
fn hex_member(value: &Value, name: &'static str) -> Result<Vec<u8>, JsonError> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => hex(text, name),
        Some(_) => Err(JsonError::Invalid(name)),
    }
}

/// An RFC 3339 time.
pub fn time(value: &Value, name: &'static str) -> Result<Time, JsonError> {
    let text = value.as_str().ok_or(JsonError::Invalid(name))?;
    Time::parse_rfc3339(text).map_err(|_| JsonError::Invalid(name))
}

/// A block id; `null` is the zero block id.
pub fn block_id(value: &Value) -> Result<BlockId, JsonError> {
    if value.is_null() {
        return Ok(BlockId::default());
    }
    let parts = value.get("part_set_header").or_else(|| value.get("parts"));
    let part_set_header = match parts {
        None | Some(Value::Null) => PartSetHeader::default(),
        Some(parts) => PartSetHeader {
            total: match parts.get("total") {
                None => 0,
                Some(total) => u32::try_from(integer(total, "total")?)
                    .map_err(|_| JsonError::Invalid("total"))?,
            },
            hash: hex_member(parts, "hash")?,
        },
    };
    Ok(BlockId { hash: hex_member(value, "hash")?, part_set_header })
}

/// A block header.
pub fn header(value: &Value) -> Result<Header, JsonError> {
    let version = member(value, "version")?;
    let version_field = |name: &'static str| match version.get(name) {
        None => Ok(0),
        Some(field) => non_negative(field, name),
    };
    Ok(Header {
        version: Version { block: version_field("block")?, app: version_field("app")? },
        chain_id: String::from(text(value, "chain_id")?),
        height: non_negative(member(value, "height")?, "height")?,
        time: time(member(value, "time")?, "time")?,
        last_block_id: block_id(value.get("last_block_id").unwrap_or(&Value::Null))?,
        last_commit_hash: hex_member(value, "last_commit_hash")?,
        data_hash: hex_member(value, "data_hash")?,
        validators_hash: hex_member(value, "validators_hash")?,
        next_validators_hash: hex_member(value, "next_validators_hash")?,
        consensus_hash: hex_member(value, "consensus_hash")?,
        app_hash: hex_member(value, "app_hash")?,
        last_results_hash: hex_member(value, "last_results_hash")?,
        evidence_hash: hex_member(value, "evidence_hash")?,
        proposer_address: hex_member(value, "proposer_address")?,
    })
}

/// A validator: `{address?, pub_key: {type, value}, voting_power | power}`.
/// Only ed25519 keys are accepted; a missing address is derived from the key.
pub fn validator(value: &Value) -> Result<Validator, JsonError> {
    let public_key = member(value, "pub_key")?;
    let key_type = text(public_key, "type")?;
    if key_type != "tendermint/PubKeyEd25519" && key_type != "ed25519" {
        return Err(JsonError::Invalid("type"));
    }
    let key: [u8; 32] = base64(text(public_key, "value")?, "value")?
        .try_into()
        .map_err(|_| JsonError::Invalid("value"))?;
    let power = value.get("voting_power").or_else(|| value.get("power"));
    let voting_power =
        non_negative(power.ok_or(JsonError::Missing("voting_power"))?, "voting_power")?;
    let mut validator = Validator::new(key, voting_power);
    if let Some(address) = value.get("address").and_then(Value::as_str) {
        validator.address = hex(address, "address")?;
    }
    Ok(validator)
}

/// A validator set: `{validators: [...]}` or a bare list.
pub fn validator_set(value: &Value) -> Result<ValidatorSet, JsonError> {
    let list = match value {
        Value::Array(list) => list,
        _ => member(value, "validators")?.as_array().ok_or(JsonError::Invalid("validators"))?,
    };
    Ok(ValidatorSet::new(list.iter().map(validator).collect::<Result<_, _>>()?))
}

/// One commit signature.
fn commit_signature(value: &Value) -> Result<CommitSignature, JsonError> {
    let flag_number = non_negative(member(value, "block_id_flag")?, "block_id_flag")?;
    let flag = BlockIdFlag::from_number(flag_number).ok_or(JsonError::Invalid("block_id_flag"))?;
    let timestamp = match value.get("timestamp") {
        None | Some(Value::Null) => Time::default(),
        Some(stamp) => time(stamp, "timestamp")?,
    };
    let signature = match value.get("signature") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => base64(text, "signature")?,
        Some(_) => return Err(JsonError::Invalid("signature")),
    };
    Ok(CommitSignature {
        flag,
        validator_address: hex_member(value, "validator_address")?,
        timestamp,
        signature,
    })
}

/// A commit; `signatures: null` is no signatures.
pub fn commit(value: &Value) -> Result<Commit, JsonError> {
    let signatures = match value.get("signatures") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(commit_signature).collect::<Result<_, _>>()?,
        Some(_) => return Err(JsonError::Invalid("signatures")),
    };
    let round = integer(member(value, "round")?, "round")?;
    Ok(Commit {
        height: non_negative(member(value, "height")?, "height")?,
        round: i32::try_from(round).map_err(|_| JsonError::Invalid("round"))?,
        block_id: block_id(member(value, "block_id")?)?,
        signatures,
    })
}

/// A signed header `{header, commit}`; a `null` or absent commit is empty.
pub fn signed_header(value: &Value) -> Result<SignedHeader, JsonError> {
    let commit = match value.get("commit") {
        None | Some(Value::Null) => Commit::default(),
        Some(found) => commit(found)?,
    };
    Ok(SignedHeader { header: header(member(value, "header")?)?, commit })
}

/// A light block `{signed_header, validator_set, next_validator_set}`.
pub fn light_block(value: &Value) -> Result<LightBlock, JsonError> {
    Ok(LightBlock {
        signed_header: signed_header(member(value, "signed_header")?)?,
        validators: validator_set(member(value, "validator_set")?)?,
        next_validators: validator_set(member(value, "next_validator_set")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_decode() {
        assert_eq!(base64("aGVsbG8=", "x"), Ok(b"hello".to_vec()));
        assert_eq!(base64("aGVsbG8", "x"), Ok(b"hello".to_vec()));
        assert!(base64("aGVsbG9=", "x").is_err());
        assert!(base64("a", "x").is_err());
        assert_eq!(hex("0aFF", "x"), Ok(alloc::vec![0x0a, 0xff]));
        assert!(hex("0g", "x").is_err());
        assert!(hex("abc", "x").is_err());
    }
}
