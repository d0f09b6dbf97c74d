//! The trusted state as bytes, for chainvm's store: a version byte, then a
//! protobuf message `{header=1 tendermint.types.Header, next_validators=2
//! {validators=1 repeated tendermint.types.Validator}}`. Reading is strict:
//! the bytes must be exactly what [`TrustedState::to_bytes`] writes.

use super::protobuf::{put_message, DecodeError, Field, Reader};
use super::time::Time;
use super::types::{BlockId, Header, PartSetHeader, Validator, ValidatorSet, Version};
use super::verifier::TrustedState;
use alloc::string::String;
use alloc::vec::Vec;

/// The format version this code writes and reads.
pub const STATE_VERSION: u8 = 1;

/// Why stored trusted-state bytes could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// No bytes at all.
    Empty,
    /// A version byte this code does not know.
    UnknownVersion(u8),
    /// The protobuf message is malformed.
    Decode(DecodeError),
    /// The bytes decode, but are not what encoding the result gives back.
    NotCanonical,
}

impl From<DecodeError> for StateError {
    fn from(error: DecodeError) -> Self {
        Self::Decode(error)
    }
}

impl TrustedState {
    /// The state as bytes: [`STATE_VERSION`], then the protobuf message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut validators = Vec::new();
        for validator in &self.next_validators.validators {
            put_message(&mut validators, 1, &validator.encode());
        }
        let mut out = Vec::from([STATE_VERSION]);
        put_message(&mut out, 1, &self.header.encode());
        put_message(&mut out, 2, &validators);
        out
    }

    /// Reads bytes that [`TrustedState::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let (&version, message) = bytes.split_first().ok_or(StateError::Empty)?;
        if version != STATE_VERSION {
            return Err(StateError::UnknownVersion(version));
        }
        let mut header = None;
        let mut next_validators = None;
        let mut reader = Reader::new(message);
        while let Some(field) = reader.next_field()? {
            match field {
                Field::Bytes(1, bytes) if header.is_none() => header = Some(decode_header(bytes)?),
                Field::Bytes(2, bytes) if next_validators.is_none() => {
                    next_validators = Some(decode_validator_set(bytes)?)
                }
                _ => return Err(DecodeError::UnknownField.into()),
            }
        }
        let state = Self {
            header: header.ok_or(DecodeError::Invalid)?,
            next_validators: next_validators.ok_or(DecodeError::Invalid)?,
        };
        if state.to_bytes() != bytes {
            return Err(StateError::NotCanonical);
        }
        Ok(state)
    }
}

/// A varint field's value as a non-negative `int64`.
fn non_negative(value: u64) -> Result<u64, DecodeError> {
    if value > i64::MAX as u64 {
        return Err(DecodeError::Invalid);
    }
    Ok(value)
}

/// Decodes `Consensus{block=1, app=2}`.
fn decode_version(bytes: &[u8]) -> Result<Version, DecodeError> {
    let mut version = Version::default();
    let mut reader = Reader::new(bytes);
    while let Some(field) = reader.next_field()? {
        match field {
            Field::Varint(1, value) => version.block = value,
            Field::Varint(2, value) => version.app = value,
            _ => return Err(DecodeError::UnknownField),
        }
    }
    Ok(version)
}

/// Decodes a `Timestamp{seconds=1, nanos=2}`.
fn decode_time(bytes: &[u8]) -> Result<Time, DecodeError> {
    let mut time = Time::default();
    let mut reader = Reader::new(bytes);
    while let Some(field) = reader.next_field()? {
        match field {
            Field::Varint(1, value) => time.seconds = value as i64,
            Field::Varint(2, value) if value < 1_000_000_000 => time.nanos = value as u32,
            _ => return Err(DecodeError::UnknownField),
        }
    }
    Ok(time)
}

/// Decodes a `BlockID{hash=1, part_set_header=2{total=1, hash=2}}`.
fn decode_block_id(bytes: &[u8]) -> Result<BlockId, DecodeError> {
    let mut block_id = BlockId::default();
    let mut reader = Reader::new(bytes);
    while let Some(field) = reader.next_field()? {
        match field {
            Field::Bytes(1, hash) => block_id.hash = hash.to_vec(),
            Field::Bytes(2, parts) => {
                let mut parts_reader = Reader::new(parts);
                let mut part_set_header = PartSetHeader::default();
                while let Some(field) = parts_reader.next_field()? {
                    match field {
                        Field::Varint(1, total) => {
                            part_set_header.total =
                                u32::try_from(total).map_err(|_| DecodeError::Invalid)?
                        }
                        Field::Bytes(2, hash) => part_set_header.hash = hash.to_vec(),
                        _ => return Err(DecodeError::UnknownField),
                    }
                }
                block_id.part_set_header = part_set_header;
            }
            _ => return Err(DecodeError::UnknownField),
        }
    }
    Ok(block_id)
}

/// Decodes a `tendermint.types.Header`.
fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let mut header = Header::default();
    let mut reader = Reader::new(bytes);
    while let Some(field) = reader.next_field()? {
        match field {
            Field::Bytes(1, bytes) => header.version = decode_version(bytes)?,
            Field::Bytes(2, bytes) => {
                header.chain_id =
                    String::from(core::str::from_utf8(bytes).map_err(|_| DecodeError::Invalid)?)
            }
            Field::Varint(3, value) => header.height = non_negative(value)?,
            Field::Bytes(4, bytes) => header.time = decode_time(bytes)?,
            Field::Bytes(5, bytes) => header.last_block_id = decode_block_id(bytes)?,
            Field::Bytes(number @ 6..=14, bytes) => {
                let target = match number {
                    6 => &mut header.last_commit_hash,
                    7 => &mut header.data_hash,
                    8 => &mut header.validators_hash,
                    9 => &mut header.next_validators_hash,
                    10 => &mut header.consensus_hash,
                    11 => &mut header.app_hash,
                    12 => &mut header.last_results_hash,
                    13 => &mut header.evidence_hash,
                    _ => &mut header.proposer_address,
                };
                *target = bytes.to_vec();
            }
            _ => return Err(DecodeError::UnknownField),
        }
    }
    Ok(header)
}

/// Decodes `{validators=1 repeated Validator{address=1, pub_key=2{ed25519=1},
/// voting_power=3}}`.
fn decode_validator_set(bytes: &[u8]) -> Result<ValidatorSet, DecodeError> {
    let mut validators = Vec::new();
    let mut reader = Reader::new(bytes);
    while let Some(field) = reader.next_field()? {
        let Field::Bytes(1, bytes) = field else {
            return Err(DecodeError::UnknownField);
        };
        let mut address = Vec::new();
        let mut public_key = None;
        let mut voting_power = 0;
        let mut validator_reader = Reader::new(bytes);
        while let Some(field) = validator_reader.next_field()? {
            match field {
                Field::Bytes(1, bytes) => address = bytes.to_vec(),
                Field::Bytes(2, bytes) => {
                    let mut key_reader = Reader::new(bytes);
                    while let Some(field) = key_reader.next_field()? {
                        match field {
                            Field::Bytes(1, key) => {
                                public_key = Some(
                                    <[u8; 32]>::try_from(key).map_err(|_| DecodeError::Invalid)?,
                                )
                            }
                            _ => return Err(DecodeError::UnknownField),
                        }
                    }
                }
                Field::Varint(3, value) => voting_power = non_negative(value)?,
                _ => return Err(DecodeError::UnknownField),
            }
        }
        let public_key = public_key.ok_or(DecodeError::Invalid)?;
        validators.push(Validator { address, public_key, voting_power });
    }
    Ok(ValidatorSet::new(validators))
}
