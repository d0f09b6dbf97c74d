//! Reading EVM data from JSON-RPC results: `eth_getBlockBy*` headers and
//! `eth_getProof` results (`0x` hex; quantities without leading zeros are
//! expected but leading zeros are tolerated and dropped).

use super::account::{Account, AccountProof, StorageProof};
use super::header::{ForkFields, Header};
pub use crate::cometbft::json::JsonError;
use alloc::vec::Vec;
use serde_json::Value;

/// Bytes from `0x` hex text of any length (odd lengths get a leading zero).
fn hex_text(text: &str, name: &'static str) -> Result<Vec<u8>, JsonError> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.len() % 2 == 1 {
        let mut padded = alloc::string::String::from("0");
        padded.push_str(digits);
        return crate::cometbft::json::hex(&padded, name);
    }
    crate::cometbft::json::hex(digits, name)
}

/// The string member `name`.
fn text<'a>(value: &'a Value, name: &'static str) -> Result<&'a str, JsonError> {
    value.get(name).ok_or(JsonError::Missing(name))?.as_str().ok_or(JsonError::Invalid(name))
}

/// Bytes of any length from hex text.
pub fn data(text: &str, name: &'static str) -> Result<Vec<u8>, JsonError> {
    hex_text(text, name)
}

/// Exactly `N` bytes from hex text.
pub fn fixed<const N: usize>(text: &str, name: &'static str) -> Result<[u8; N], JsonError> {
    hex_text(text, name)?.try_into().map_err(|_| JsonError::Invalid(name))
}

/// A quantity's minimal big-endian bytes (zero is empty).
pub fn quantity(text: &str, name: &'static str) -> Result<Vec<u8>, JsonError> {
    let bytes = hex_text(text, name)?;
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    Ok(bytes[skip..].to_vec())
}

/// A quantity that fits 64 bits.
pub fn uint(text: &str, name: &'static str) -> Result<u64, JsonError> {
    let bytes = quantity(text, name)?;
    if bytes.len() > 8 {
        return Err(JsonError::Invalid(name));
    }
    Ok(bytes.iter().fold(0u64, |value, &byte| (value << 8) | u64::from(byte)))
}

/// A header from `eth_getBlockBy*` field names; fork fields are taken when
/// present.
pub fn header(value: &Value) -> Result<Header, JsonError> {
    let optional = |name: &'static str| value.get(name).filter(|field| !field.is_null());
    let optional_text = |name: &'static str| -> Result<Option<&str>, JsonError> {
        optional(name).map(|field| field.as_str().ok_or(JsonError::Invalid(name))).transpose()
    };
    let forks = ForkFields {
        base_fee_per_gas: optional_text("baseFeePerGas")?
            .map(|text| quantity(text, "baseFeePerGas"))
            .transpose()?,
        withdrawals_root: optional_text("withdrawalsRoot")?
            .map(|text| fixed(text, "withdrawalsRoot"))
            .transpose()?,
        blob_gas_used: optional_text("blobGasUsed")?
            .map(|text| uint(text, "blobGasUsed"))
            .transpose()?,
        excess_blob_gas: optional_text("excessBlobGas")?
            .map(|text| uint(text, "excessBlobGas"))
            .transpose()?,
        parent_beacon_block_root: optional_text("parentBeaconBlockRoot")?
            .map(|text| fixed(text, "parentBeaconBlockRoot"))
            .transpose()?,
        requests_hash: optional_text("requestsHash")?
            .map(|text| fixed(text, "requestsHash"))
            .transpose()?,
    };
    Ok(Header {
        parent_hash: fixed(text(value, "parentHash")?, "parentHash")?,
        ommers_hash: fixed(text(value, "sha3Uncles")?, "sha3Uncles")?,
        beneficiary: fixed(text(value, "miner")?, "miner")?,
        state_root: fixed(text(value, "stateRoot")?, "stateRoot")?,
        transactions_root: fixed(text(value, "transactionsRoot")?, "transactionsRoot")?,
        receipts_root: fixed(text(value, "receiptsRoot")?, "receiptsRoot")?,
        logs_bloom: fixed(text(value, "logsBloom")?, "logsBloom")?,
        difficulty: quantity(text(value, "difficulty")?, "difficulty")?,
        number: uint(text(value, "number")?, "number")?,
        gas_limit: uint(text(value, "gasLimit")?, "gasLimit")?,
        gas_used: uint(text(value, "gasUsed")?, "gasUsed")?,
        timestamp: uint(text(value, "timestamp")?, "timestamp")?,
        extra_data: data(text(value, "extraData")?, "extraData")?,
        mix_hash: fixed(text(value, "mixHash")?, "mixHash")?,
        nonce: fixed(text(value, "nonce")?, "nonce")?,
        forks,
    })
}

/// A list of hex-encoded trie nodes.
fn nodes(value: &Value, name: &'static str) -> Result<Vec<Vec<u8>>, JsonError> {
    let list = value.get(name).ok_or(JsonError::Missing(name))?;
    let list = list.as_array().ok_or(JsonError::Invalid(name))?;
    list.iter().map(|node| data(node.as_str().ok_or(JsonError::Invalid(name))?, name)).collect()
}

/// A storage slot's key: up to 32 bytes, left-padded (`"0x0"` is slot 0).
fn storage_key(text: &str) -> Result<[u8; 32], JsonError> {
    let bytes = quantity(text, "key")?;
    if bytes.len() > 32 {
        return Err(JsonError::Invalid("key"));
    }
    let mut key = [0u8; 32];
    key[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(key)
}

/// An `eth_getProof` result.
pub fn account_proof(value: &Value) -> Result<AccountProof, JsonError> {
    let account = Account {
        nonce: uint(text(value, "nonce")?, "nonce")?,
        balance: quantity(text(value, "balance")?, "balance")?,
        storage_root: fixed(text(value, "storageHash")?, "storageHash")?,
        code_hash: fixed(text(value, "codeHash")?, "codeHash")?,
    };
    let storage = match value.get("storageProof") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(slots)) => slots
            .iter()
            .map(|slot| {
                Ok(StorageProof {
                    key: storage_key(text(slot, "key")?)?,
                    value: quantity(text(slot, "value")?, "value")?,
                    proof: nodes(slot, "proof")?,
                })
            })
            .collect::<Result<_, JsonError>>()?,
        Some(_) => return Err(JsonError::Invalid("storageProof")),
    };
    Ok(AccountProof {
        address: fixed(text(value, "address")?, "address")?,
        account,
        account_proof: nodes(value, "accountProof")?,
        storage,
    })
}
