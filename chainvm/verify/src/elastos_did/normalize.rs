//! The Elastos DID SDKs' normalized form of documents, credentials,
//! presentations and transfer tickets.
//!
//! Members come in the SDK's order (below); relative ids are made absolute;
//! absent key types, key controllers, credential issuers and proof types get
//! their defaults; keys embedded in `authentication`/`authorization` move to
//! `publicKey` and are referred to by id; keys, references, credentials,
//! services and controllers are sorted; free-form properties (services'
//! extra members, credential subjects) are sorted by key at every level, in
//! Java's string order (UTF-16 code units). Absent members stay absent.
//! Every function returns the object with its proof (normalized), if any.
//!
//! A member the SDK does not know, anywhere but in free-form properties, is
//! refused ([`DidError::UnknownMember`]) rather than dropped: the normalized
//! form must say everything the object says, or a signature over it would
//! vouch for members it never covered.

use super::{absolute_url, DidError, PROOF_TYPE};
use crate::json::{Member, Text, Value};
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Java's `String.compareTo`: by UTF-16 code units.
fn java_order(left: &str, right: &str) -> Ordering {
    left.encode_utf16().cmp(right.encode_utf16())
}

/// Every string and nested object of a free-form value: objects sorted by key.
fn sorted(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::string(&text.value),
        Value::Array(elements) => Value::Array(elements.iter().map(sorted).collect()),
        Value::Object(members) => {
            let mut members: Vec<Member> = members
                .iter()
                .map(|member| Member {
                    key: Text::new(&member.key.value),
                    value: sorted(&member.value),
                })
                .collect();
            members.sort_by(|left, right| java_order(&left.key.value, &right.key.value));
            Value::Object(members)
        }
        other => other.clone(),
    }
}

/// Checks that `value` is an object with no members but `known`.
fn only_known(value: &Value, known: &[&str]) -> Result<(), DidError> {
    let members = value.members().ok_or(DidError::Malformed("object"))?;
    if members.iter().all(|member| known.contains(&member.key.value.as_str())) {
        Ok(())
    } else {
        Err(DidError::UnknownMember)
    }
}

const PROOF_MEMBERS: [&str; 8] = [
    "type",
    "created",
    "creator",
    "verificationMethod",
    "realm",
    "nonce",
    "signatureValue",
    "signature",
];

/// Builds an object from optional members, in order.
fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    Value::object(members.into_iter().filter_map(|(key, value)| value.map(|value| (key, value))))
}

fn text_of(value: &Value, key: &str) -> Option<Value> {
    value.get_str(key).map(Value::string)
}

/// A list of absolute ids, sorted, or `None` if empty.
fn id_list(mut ids: Vec<String>) -> Option<Value> {
    ids.sort_by(|left, right| java_order(left, right));
    ids.dedup();
    (!ids.is_empty()).then(|| Value::Array(ids.iter().map(|id| Value::string(id)).collect()))
}

/// Sorts objects by their `id`.
fn sort_by_id(values: &mut [Value]) {
    values.sort_by(|left, right| {
        java_order(left.get_str("id").unwrap_or(""), right.get_str("id").unwrap_or(""))
    });
}

fn key(value: &Value, document_id: &str) -> Result<Value, DidError> {
    only_known(value, &["id", "type", "controller", "publicKeyBase58"])?;
    let id = value.get_str("id").ok_or(DidError::Malformed("publicKey id"))?;
    Ok(object(alloc::vec![
        ("id", Some(Value::string(&absolute_url(id, document_id)))),
        ("type", Some(Value::string(value.get_str("type").unwrap_or(PROOF_TYPE)))),
        ("controller", Some(Value::string(value.get_str("controller").unwrap_or(document_id)))),
        ("publicKeyBase58", text_of(value, "publicKeyBase58")),
    ]))
}

fn proof(value: &Value, base: &str) -> Result<Value, DidError> {
    only_known(value, &PROOF_MEMBERS)?;
    let reference =
        |key: &str| value.get_str(key).map(|url| Value::string(&absolute_url(url, base)));
    Ok(object(alloc::vec![
        ("type", Some(Value::string(value.get_str("type").unwrap_or(PROOF_TYPE)))),
        ("created", text_of(value, "created")),
        ("creator", reference("creator")),
        ("verificationMethod", reference("verificationMethod")),
        ("realm", text_of(value, "realm")),
        ("nonce", text_of(value, "nonce")),
        ("signatureValue", text_of(value, "signatureValue")),
        ("signature", text_of(value, "signature")),
    ]))
}

fn proofs(value: Option<&Value>, base: &str) -> Result<Option<Value>, DidError> {
    match value {
        None => Ok(None),
        Some(Value::Array(proofs)) => {
            Ok(Some(Value::Array(proofs.iter().map(|p| proof(p, base)).collect::<Result<_, _>>()?)))
        }
        Some(single) => proof(single, base).map(Some),
    }
}

/// The normalized form of a DID document.
pub fn document(value: &Value) -> Result<Value, DidError> {
    only_known(
        value,
        &[
            "@context",
            "id",
            "controller",
            "multisig",
            "publicKey",
            "authentication",
            "authorization",
            "verifiableCredential",
            "service",
            "expires",
            "proof",
        ],
    )?;
    let id = value.get_str("id").ok_or(DidError::Malformed("id"))?;
    let controller = match value.get("controller") {
        None => None,
        Some(Value::String(controller)) => Some(Value::string(&controller.value)),
        Some(Value::Array(controllers)) => {
            let mut controllers: Vec<String> =
                controllers.iter().filter_map(Value::as_str).map(String::from).collect();
            controllers.sort_by(|left, right| java_order(left, right));
            match controllers.as_slice() {
                [single] => Some(Value::string(single)),
                _ => Some(Value::Array(controllers.iter().map(|c| Value::string(c)).collect())),
            }
        }
        Some(_) => return Err(DidError::Malformed("controller")),
    };
    let mut keys = Vec::new();
    for entry in value.get("publicKey").and_then(Value::as_array).unwrap_or(&[]) {
        keys.push(key(entry, id)?);
    }
    let mut references = |member: &str| -> Result<Option<Value>, DidError> {
        let mut ids = Vec::new();
        for entry in value.get(member).and_then(Value::as_array).unwrap_or(&[]) {
            match entry {
                Value::String(reference) => ids.push(absolute_url(&reference.value, id)),
                Value::Object(_) => {
                    let embedded = key(entry, id)?;
                    ids.push(embedded.get_str("id").unwrap_or("").into());
                    keys.push(embedded);
                }
                _ => return Err(DidError::Malformed("authentication")),
            }
        }
        Ok(id_list(ids))
    };
    let authentication = references("authentication")?;
    let authorization = references("authorization")?;
    sort_by_id(&mut keys);
    keys.dedup_by(|left, right| left.get_str("id") == right.get_str("id"));
    let credentials = match value.get("verifiableCredential").and_then(Value::as_array) {
        None => None,
        Some(credentials) => {
            let mut credentials = credentials
                .iter()
                .map(|entry| credential(entry, Some(id)))
                .collect::<Result<Vec<_>, _>>()?;
            sort_by_id(&mut credentials);
            Some(Value::Array(credentials))
        }
    };
    let services = value.get("service").and_then(Value::as_array).map(|services| {
        let mut services: Vec<Value> = services.iter().map(|entry| service(entry, id)).collect();
        sort_by_id(&mut services);
        Value::Array(services)
    });
    Ok(object(alloc::vec![
        ("@context", value.get("@context").map(context_list)),
        ("id", Some(Value::string(id))),
        ("controller", controller),
        ("multisig", text_of(value, "multisig")),
        ("publicKey", (!keys.is_empty()).then_some(Value::Array(keys))),
        ("authentication", authentication),
        ("authorization", authorization),
        ("verifiableCredential", credentials),
        ("service", services),
        ("expires", text_of(value, "expires")),
        ("proof", proofs(value.get("proof"), id)?),
    ]))
}

/// `@context`: its list kept in order, strings re-escaped.
fn context_list(value: &Value) -> Value {
    sorted(value)
}

fn service(value: &Value, document_id: &str) -> Value {
    let mut members = alloc::vec![Member {
        key: Text::new("id"),
        value: Value::string(&absolute_url(value.get_str("id").unwrap_or(""), document_id)),
    },];
    for name in ["type", "serviceEndpoint"] {
        if let Some(member) = value.get(name) {
            members.push(Member { key: Text::new(name), value: sorted(member) });
        }
    }
    let mut extra: Vec<Member> = value
        .members()
        .unwrap_or(&[])
        .iter()
        .filter(|member| !matches!(member.key.value.as_str(), "id" | "type" | "serviceEndpoint"))
        .map(|member| Member { key: Text::new(&member.key.value), value: sorted(&member.value) })
        .collect();
    extra.sort_by(|left, right| java_order(&left.key.value, &right.key.value));
    members.extend(extra);
    Value::Object(members)
}

/// The normalized form of a verifiable credential. `owner` is the DID of the
/// document that holds it, the default subject.
pub fn credential(value: &Value, owner: Option<&str>) -> Result<Value, DidError> {
    only_known(
        value,
        &[
            "@context",
            "id",
            "type",
            "issuer",
            "issuanceDate",
            "expirationDate",
            "credentialSubject",
            "proof",
        ],
    )?;
    let subject = value.get("credentialSubject").ok_or(DidError::Malformed("credentialSubject"))?;
    let subject_id =
        subject.get_str("id").or(owner).ok_or(DidError::Malformed("credentialSubject id"))?;
    let id = value.get_str("id").ok_or(DidError::Malformed("id"))?;
    let issuer = value.get_str("issuer").unwrap_or(subject_id);
    let types = match value.get("type") {
        Some(Value::String(single)) => {
            Some(Value::Array(alloc::vec![Value::string(&single.value)]))
        }
        Some(Value::Array(types)) => {
            let mut types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            types.sort_by(|left, right| java_order(left, right));
            Some(Value::Array(types.into_iter().map(Value::string).collect()))
        }
        _ => None,
    };
    let mut properties: Vec<Member> = subject
        .members()
        .ok_or(DidError::Malformed("credentialSubject"))?
        .iter()
        .filter(|member| member.key.value != "id")
        .map(|member| Member { key: Text::new(&member.key.value), value: sorted(&member.value) })
        .collect();
    properties.sort_by(|left, right| java_order(&left.key.value, &right.key.value));
    properties.insert(0, Member { key: Text::new("id"), value: Value::string(subject_id) });
    Ok(object(alloc::vec![
        ("@context", value.get("@context").map(context_list)),
        ("id", Some(Value::string(&absolute_url(id, subject_id)))),
        ("type", types),
        ("issuer", Some(Value::string(issuer))),
        ("issuanceDate", text_of(value, "issuanceDate")),
        ("expirationDate", text_of(value, "expirationDate")),
        ("credentialSubject", Some(Value::Object(properties))),
        ("proof", value.get("proof").map(|p| proof(p, issuer)).transpose()?),
    ]))
}

/// The normalized form of a verifiable presentation.
pub fn presentation(value: &Value) -> Result<Value, DidError> {
    only_known(
        value,
        &["@context", "id", "type", "holder", "created", "verifiableCredential", "proof"],
    )?;
    let holder = value.get_str("holder");
    let base = holder
        .map(String::from)
        .or_else(|| {
            value
                .get("proof")
                .and_then(|p| p.get_str("verificationMethod"))
                .map(|url| super::did_of_url(url).into())
        })
        .unwrap_or_default();
    let types = match value.get("type") {
        Some(Value::Array(types)) if types.len() != 1 => {
            let mut types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            types.sort_by(|left, right| java_order(left, right));
            Some(Value::Array(types.into_iter().map(Value::string).collect()))
        }
        Some(Value::Array(types)) => types.first().and_then(Value::as_str).map(Value::string),
        Some(other) => Some(sorted(other)),
        None => None,
    };
    let credentials = match value.get("verifiableCredential").and_then(Value::as_array) {
        None => None,
        Some(credentials) => {
            let mut credentials = credentials
                .iter()
                .map(|entry| credential(entry, holder))
                .collect::<Result<Vec<_>, _>>()?;
            sort_by_id(&mut credentials);
            Some(Value::Array(credentials))
        }
    };
    Ok(object(alloc::vec![
        ("@context", value.get("@context").map(context_list)),
        ("id", value.get_str("id").map(|id| Value::string(&absolute_url(id, &base)))),
        ("type", types),
        ("holder", holder.map(Value::string)),
        ("created", text_of(value, "created")),
        ("verifiableCredential", credentials),
        ("proof", value.get("proof").map(|p| proof(p, &base)).transpose()?),
    ]))
}

/// The normalized form of a transfer ticket.
pub fn ticket(value: &Value) -> Result<Value, DidError> {
    only_known(value, &["id", "to", "txid", "proof"])?;
    let id = value.get_str("id").ok_or(DidError::Malformed("id"))?;
    Ok(object(alloc::vec![
        ("id", Some(Value::string(id))),
        ("to", text_of(value, "to")),
        ("txid", text_of(value, "txid")),
        ("proof", proofs(value.get("proof"), id)?),
    ]))
}
