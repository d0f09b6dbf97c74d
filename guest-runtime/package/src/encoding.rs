//! The manifest's canonical binary encoding inside a package.
//!
//! A sequence of fields, each `tag: u8`, `length: u16` (little-endian) and
//! `length` bytes of value, in increasing tag order, each at most once;
//! optional fields are left out rather than encoded empty. Numbers are
//! little-endian, texts UTF-8. Every value has exactly one encoding: the
//! decoder re-encodes what it read and refuses any difference.
//!
//! | tag | field | value |
//! |---|---|---|
//! | 1 | name | text |
//! | 2 | version | major `u32`, minor `u32`, patch `u32` |
//! | 3 | description (absent when empty) | text |
//! | 4 | publisher | `did:key` text |
//! | 5 | entry | text |
//! | 6 | restart | `0` stop; `1` restart without limit; `2` then limit `u32` |
//! | 7 | capabilities | `u32`, bit *n* for capability *n* |
//! | 8 | limits | memory-pages `u32`, fuel-per-slice `u64`, cpu-budget `u64`, messages-per-minute `u32`, storage-quota `u64`, storage-writes-per-minute `u32` |
//! | 9 | sign (absent without the capability) | keys `u8` (bit 0 node, bit 1 dapp), approval `u8` (0 never, 1 always), per-minute `u32`, count `u8`, then per kind: length `u8`, text |

use crate::did_key::PublisherKey;
use crate::manifest::{
    Approval, Capabilities, Field, Limits, Manifest, ManifestError, RestartPolicy, SignKeys,
    SignPolicy, Version,
};
use alloc::string::String;
use alloc::vec::Vec;

const NAME: u8 = 1;
const VERSION: u8 = 2;
const DESCRIPTION: u8 = 3;
const PUBLISHER: u8 = 4;
const ENTRY: u8 = 5;
const RESTART: u8 = 6;
const CAPABILITIES: u8 = 7;
const LIMITS: u8 = 8;
const SIGN: u8 = 9;

const RESTART_STOP: u8 = 0;
const RESTART_UNLIMITED: u8 = 1;
const RESTART_LIMITED: u8 = 2;

const LIMITS_LENGTH: usize = 4 + 8 + 8 + 4 + 8 + 4;

impl Manifest {
    /// The manifest's canonical encoding, after [`Manifest::validate`].
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        Ok(encode_valid(self))
    }

    /// Reads a manifest from its canonical encoding and checks every rule.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest = decode_fields(bytes)?;
        manifest.validate()?;
        if encode_valid(&manifest) != bytes {
            return Err(ManifestError::NotCanonical);
        }
        Ok(manifest)
    }
}

/// Encodes a manifest that passed validation (so every value fits its length).
fn encode_valid(manifest: &Manifest) -> Vec<u8> {
    let mut output = Vec::with_capacity(256);
    field(&mut output, NAME, manifest.name.as_bytes());
    let version = manifest.version;
    let mut value = Vec::with_capacity(12);
    for number in [version.major, version.minor, version.patch] {
        value.extend_from_slice(&number.to_le_bytes());
    }
    field(&mut output, VERSION, &value);
    if !manifest.description.is_empty() {
        field(&mut output, DESCRIPTION, manifest.description.as_bytes());
    }
    field(&mut output, PUBLISHER, manifest.publisher.did_key().as_bytes());
    field(&mut output, ENTRY, manifest.entry.as_bytes());
    match manifest.restart {
        RestartPolicy::Stop => field(&mut output, RESTART, &[RESTART_STOP]),
        RestartPolicy::Restart { limit: None } => field(&mut output, RESTART, &[RESTART_UNLIMITED]),
        RestartPolicy::Restart { limit: Some(limit) } => {
            let mut value = alloc::vec![RESTART_LIMITED];
            value.extend_from_slice(&limit.to_le_bytes());
            field(&mut output, RESTART, &value);
        }
    }
    field(&mut output, CAPABILITIES, &manifest.capabilities.bits().to_le_bytes());
    let limits = &manifest.limits;
    let mut value = Vec::with_capacity(LIMITS_LENGTH);
    value.extend_from_slice(&limits.memory_pages.to_le_bytes());
    value.extend_from_slice(&limits.fuel_per_slice.to_le_bytes());
    value.extend_from_slice(&limits.cpu_budget.to_le_bytes());
    value.extend_from_slice(&limits.messages_per_minute.to_le_bytes());
    value.extend_from_slice(&limits.storage_quota.to_le_bytes());
    value.extend_from_slice(&limits.storage_writes_per_minute.to_le_bytes());
    field(&mut output, LIMITS, &value);
    if let Some(policy) = &manifest.sign {
        let keys = u8::from(policy.keys.node) | u8::from(policy.keys.dapp) << 1;
        let approval = match policy.approval {
            Approval::Never => 0,
            Approval::Always => 1,
        };
        let mut value = alloc::vec![keys, approval];
        value.extend_from_slice(&policy.per_minute.to_le_bytes());
        value.push(policy.payload_kinds.len() as u8);
        for kind in &policy.payload_kinds {
            value.push(kind.len() as u8);
            value.extend_from_slice(kind.as_bytes());
        }
        field(&mut output, SIGN, &value);
    }
    output
}

fn field(output: &mut Vec<u8>, tag: u8, value: &[u8]) {
    output.push(tag);
    output.extend_from_slice(&(value.len() as u16).to_le_bytes());
    output.extend_from_slice(value);
}

/// A cursor over bytes that fails with [`ManifestError::Truncated`] past
/// their end, or with `FieldLength` inside a field's value.
struct Reader<'a> {
    bytes: &'a [u8],
    field: Option<Field>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], ManifestError> {
        if count > self.bytes.len() {
            return Err(self.field.map_or(ManifestError::Truncated, ManifestError::FieldLength));
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ManifestError> {
        let bytes = self.take(N)?;
        // `take` returned exactly N bytes.
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    fn u8(&mut self) -> Result<u8, ManifestError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ManifestError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, ManifestError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, ManifestError> {
        self.array().map(u64::from_le_bytes)
    }

    /// Fails unless every byte was read.
    fn finish(&self) -> Result<(), ManifestError> {
        match (self.bytes.is_empty(), self.field) {
            (true, _) => Ok(()),
            (false, Some(field)) => Err(ManifestError::FieldLength(field)),
            (false, None) => Err(ManifestError::Truncated),
        }
    }
}

fn text(field: Field, bytes: &[u8]) -> Result<String, ManifestError> {
    core::str::from_utf8(bytes).map(String::from).map_err(|_| ManifestError::NotUtf8(field))
}

/// The fields' values, without the rules of [`Manifest::validate`].
fn decode_fields(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let mut reader = Reader { bytes, field: None };
    let mut name = None;
    let mut version = None;
    let mut description = String::new();
    let mut publisher = None;
    let mut entry = None;
    let mut restart = None;
    let mut capabilities = None;
    let mut limits = None;
    let mut sign = None;
    let mut last_tag = 0;
    while !reader.bytes.is_empty() {
        let tag = reader.u8()?;
        if tag <= last_tag {
            return Err(ManifestError::FieldOutOfOrder(tag));
        }
        last_tag = tag;
        let length = usize::from(reader.u16()?);
        let value = reader.take(length)?;
        match tag {
            NAME => name = Some(text(Field::Name, value)?),
            VERSION => {
                let mut value = Reader { bytes: value, field: Some(Field::Version) };
                version = Some(Version::new(value.u32()?, value.u32()?, value.u32()?));
                value.finish()?;
            }
            DESCRIPTION => {
                if value.is_empty() {
                    // An empty description is encoded by leaving the field out.
                    return Err(ManifestError::NotCanonical);
                }
                description = text(Field::Description, value)?;
            }
            PUBLISHER => {
                let did = core::str::from_utf8(value)
                    .map_err(|_| ManifestError::NotUtf8(Field::Publisher))?;
                publisher =
                    Some(PublisherKey::from_did_key(did).map_err(ManifestError::Publisher)?);
            }
            ENTRY => entry = Some(text(Field::Entry, value)?),
            RESTART => restart = Some(decode_restart(value)?),
            CAPABILITIES => {
                let mut value = Reader { bytes: value, field: Some(Field::Capabilities) };
                let bits = value.u32()?;
                value.finish()?;
                capabilities = Some(
                    Capabilities::from_bits(bits)
                        .ok_or(ManifestError::UnknownValue(Field::Capabilities))?,
                );
            }
            LIMITS => {
                let mut value = Reader { bytes: value, field: Some(Field::Limits) };
                limits = Some(Limits {
                    memory_pages: value.u32()?,
                    fuel_per_slice: value.u64()?,
                    cpu_budget: value.u64()?,
                    messages_per_minute: value.u32()?,
                    storage_quota: value.u64()?,
                    storage_writes_per_minute: value.u32()?,
                });
                value.finish()?;
            }
            SIGN => sign = Some(decode_sign(value)?),
            _ => return Err(ManifestError::UnknownField(tag)),
        }
    }
    Ok(Manifest {
        name: name.ok_or(ManifestError::Missing(Field::Name))?,
        version: version.ok_or(ManifestError::Missing(Field::Version))?,
        description,
        publisher: publisher.ok_or(ManifestError::Missing(Field::Publisher))?,
        entry: entry.ok_or(ManifestError::Missing(Field::Entry))?,
        restart: restart.ok_or(ManifestError::Missing(Field::Restart))?,
        capabilities: capabilities.ok_or(ManifestError::Missing(Field::Capabilities))?,
        limits: limits.ok_or(ManifestError::Missing(Field::Limits))?,
        sign,
    })
}

fn decode_restart(bytes: &[u8]) -> Result<RestartPolicy, ManifestError> {
    let mut value = Reader { bytes, field: Some(Field::Restart) };
    let policy = match value.u8()? {
        RESTART_STOP => RestartPolicy::Stop,
        RESTART_UNLIMITED => RestartPolicy::Restart { limit: None },
        RESTART_LIMITED => RestartPolicy::Restart { limit: Some(value.u32()?) },
        _ => return Err(ManifestError::UnknownValue(Field::Restart)),
    };
    value.finish()?;
    Ok(policy)
}

fn decode_sign(bytes: &[u8]) -> Result<SignPolicy, ManifestError> {
    let mut value = Reader { bytes, field: Some(Field::Sign) };
    let key_bits = value.u8()?;
    if key_bits & !0b11 != 0 {
        return Err(ManifestError::UnknownValue(Field::SignKeys));
    }
    let keys = SignKeys { node: key_bits & 1 != 0, dapp: key_bits & 2 != 0 };
    let approval = match value.u8()? {
        0 => Approval::Never,
        1 => Approval::Always,
        _ => return Err(ManifestError::UnknownValue(Field::SignApproval)),
    };
    let per_minute = value.u32()?;
    let count = value.u8()?;
    let mut payload_kinds = Vec::with_capacity(usize::from(count).min(16));
    for _ in 0..count {
        let length = value.u8()?;
        payload_kinds.push(text(Field::SignPayloadKinds, value.take(usize::from(length))?)?);
    }
    value.finish()?;
    Ok(SignPolicy { keys, payload_kinds, per_minute, approval })
}
