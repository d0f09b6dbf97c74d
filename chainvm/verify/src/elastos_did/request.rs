//! ID chain requests: the payloads of EID transactions that create, update,
//! transfer or deactivate a DID.
//!
//! `{"header":{"specification","operation","previousTxid"?,"ticket"?},
//! "payload","proof":{"type","verificationMethod","signature"}}`. The proof
//! signs `specification || operation || previousTxid || ticket || payload`
//! (the ticket only for a transfer; strings as written, the payload in its
//! base64url text). The payload is the base64url of the document (create,
//! update, transfer) or of the DID (deactivate).

use super::{
    absolute_url, did_of_url, DidError, Document, DocumentStore, Proof, MAXIMUM_CONTROLLER_DEPTH,
};
use crate::encoding;
use crate::json::Value;
use alloc::string::String;

/// What an ID chain request's operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new DID.
    Create,
    /// A new version of a DID's document.
    Update,
    /// A customized DID to new controllers, with a ticket.
    Transfer,
    /// The DID's end.
    Deactivate,
}

/// The two verdicts on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestVerdict {
    /// The operation.
    pub operation: Operation,
    /// Whether the request's own signature is valid and by a key allowed to
    /// make it.
    pub request_signature: Result<(), DidError>,
    /// Whether the document in the payload is genuine (`None` for a
    /// deactivation, whose payload is a DID).
    pub payload_document: Option<Result<(), DidError>>,
}

/// Checks a request. Errors are for requests too malformed to judge.
pub fn verify_request(request: &Value, store: &DocumentStore) -> Result<RequestVerdict, DidError> {
    let header = request.get("header").ok_or(DidError::Malformed("header"))?;
    let specification =
        header.get_str("specification").ok_or(DidError::Malformed("specification"))?;
    let operation_name = header.get_str("operation").ok_or(DidError::Malformed("operation"))?;
    let operation = match operation_name {
        "create" => Operation::Create,
        "update" => Operation::Update,
        "transfer" => Operation::Transfer,
        "deactivate" => Operation::Deactivate,
        _ => return Err(DidError::InvalidRequest),
    };
    let payload = request.get_str("payload").ok_or(DidError::Malformed("payload"))?;
    let proof_value = request.get("proof").ok_or(DidError::Malformed("proof"))?;
    let mut signed = String::from(specification);
    signed.push_str(operation_name);
    signed.push_str(header.get_str("previousTxid").unwrap_or(""));
    if operation == Operation::Transfer {
        signed.push_str(header.get_str("ticket").ok_or(DidError::Malformed("ticket"))?);
    }
    signed.push_str(payload);
    let decoded = encoding::decode_base64url(payload).map_err(|_| DidError::InvalidRequest)?;
    let decoded = String::from_utf8(decoded).map_err(|_| DidError::InvalidRequest)?;
    let signed = [signed];

    if operation == Operation::Deactivate {
        let did = decoded.trim();
        let proof = Proof::read(proof_value, did)?;
        let request_signature =
            store.genuine(did, MAXIMUM_CONTROLLER_DEPTH + 1, None).and_then(|document| {
                let key_id = proof.key.as_deref().ok_or(DidError::ProofKeyNotAllowed)?;
                let key = document
                    .authentication_key(key_id, store, None)
                    .or_else(|_| authorization_key(document, key_id, store))?;
                proof.check(&key, &signed, &[])
            });
        return Ok(RequestVerdict { operation, request_signature, payload_document: None });
    }

    let document = Document::parse(&decoded)?;
    let proof = Proof::read(proof_value, &document.id)?;
    let request_signature = proof
        .key
        .as_deref()
        .ok_or(DidError::ProofKeyNotAllowed)
        .and_then(|key_id| document.authentication_key(key_id, store, None))
        .and_then(|key| proof.check(&key, &signed, &[]));
    Ok(RequestVerdict {
        operation,
        request_signature,
        payload_document: Some(document.verify(store)),
    })
}

/// The bytes of `key_id` if it is an authorization key of `document` whose
/// controller's document (genuine) has it as its default key.
fn authorization_key(
    document: &Document,
    key_id: &str,
    store: &DocumentStore,
) -> Result<[u8; 33], DidError> {
    let key_id = absolute_url(key_id, &document.id);
    if !document.authorization.contains(&key_id) {
        return Err(DidError::ProofKeyNotAllowed);
    }
    let key = document.key(&key_id).ok_or(DidError::ProofKeyNotAllowed)?;
    let controller = store.genuine(did_of_url(&key.controller), MAXIMUM_CONTROLLER_DEPTH, None)?;
    if controller.public_keys.iter().any(|own| own.bytes == key.bytes) {
        Ok(key.bytes)
    } else {
        Err(DidError::ProofKeyNotAllowed)
    }
}
