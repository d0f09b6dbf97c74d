//! Verifiable credentials and presentations.

use super::{
    absolute_url, check_not_expired, did_of_url, normalize, signed_texts, DidError, DocumentStore,
    Proof, Timestamp, MAXIMUM_CONTROLLER_DEPTH,
};
use crate::json::Value;
use alloc::string::String;

/// The subject DID of a credential (`credentialSubject.id`, or `owner`).
fn subject_of<'a>(credential: &'a Value, owner: Option<&'a str>) -> Result<&'a str, DidError> {
    credential
        .get("credentialSubject")
        .ok_or(DidError::Malformed("credentialSubject"))?
        .get_str("id")
        .or(owner)
        .ok_or(DidError::Malformed("credentialSubject id"))
}

/// Checks that a credential is genuine: see the module overview. `owner` is
/// the DID of the document or presentation that holds it, if any (the
/// default subject).
pub fn verify_credential(
    credential: &Value,
    owner: Option<&str>,
    store: &DocumentStore,
) -> Result<(), DidError> {
    verify_credential_within(credential, owner, store, None)
}

/// Checks that a credential is genuine and that neither it nor its issuer's
/// document has expired at `now`.
pub fn verify_credential_at(
    credential: &Value,
    owner: Option<&str>,
    store: &DocumentStore,
    now: Timestamp,
) -> Result<(), DidError> {
    verify_credential_within(credential, owner, store, Some(now))
}

fn verify_credential_within(
    credential: &Value,
    owner: Option<&str>,
    store: &DocumentStore,
    now: Option<Timestamp>,
) -> Result<(), DidError> {
    let subject = subject_of(credential, owner)?;
    let id = credential.get_str("id").ok_or(DidError::Malformed("id"))?;
    if did_of_url(&absolute_url(id, subject)) != subject {
        return Err(DidError::SubjectMismatch);
    }
    if let Some(now) = now {
        check_not_expired(credential.get_str("expirationDate"), now)?;
    }
    let issuer_did = credential.get_str("issuer").unwrap_or(subject);
    let issuer = store.genuine(issuer_did, MAXIMUM_CONTROLLER_DEPTH + 1, now)?;
    let proof =
        Proof::read(credential.get("proof").ok_or(DidError::Malformed("proof"))?, issuer_did)?;
    let key_id = proof.key.as_deref().ok_or(DidError::Malformed("proof verificationMethod"))?;
    let key = issuer.authentication_key(key_id, store, now)?;
    let texts = signed_texts(credential, normalize::credential(credential, owner));
    proof.check(&key, &texts, &[])
}

/// Checks that a presentation is genuine: see the module overview.
pub fn verify_presentation(presentation: &Value, store: &DocumentStore) -> Result<(), DidError> {
    verify_presentation_within(presentation, store, None)
}

/// Checks that a presentation is genuine and that nothing it holds or
/// depends on has expired at `now`.
pub fn verify_presentation_at(
    presentation: &Value,
    store: &DocumentStore,
    now: Timestamp,
) -> Result<(), DidError> {
    verify_presentation_within(presentation, store, Some(now))
}

fn verify_presentation_within(
    presentation: &Value,
    store: &DocumentStore,
    now: Option<Timestamp>,
) -> Result<(), DidError> {
    let proof_value = presentation.get("proof").ok_or(DidError::Malformed("proof"))?;
    let holder: String = match presentation.get_str("holder") {
        Some(holder) => holder.into(),
        None => did_of_url(
            proof_value
                .get_str("verificationMethod")
                .ok_or(DidError::Malformed("proof verificationMethod"))?,
        )
        .into(),
    };
    let document = store.genuine(&holder, MAXIMUM_CONTROLLER_DEPTH + 1, now)?;
    let credentials = match presentation.get("verifiableCredential") {
        None => &[][..],
        Some(credentials) => {
            credentials.as_array().ok_or(DidError::Malformed("verifiableCredential"))?
        }
    };
    for credential in credentials {
        if subject_of(credential, Some(&holder))? != holder {
            return Err(DidError::SubjectMismatch);
        }
        verify_credential_within(credential, Some(&holder), store, now)?;
    }
    let proof = Proof::read(proof_value, &holder)?;
    let key_id = proof.key.as_deref().ok_or(DidError::Malformed("proof verificationMethod"))?;
    let key = document.authentication_key(key_id, store, now)?;
    let mut suffix = String::new();
    suffix.push_str(proof.realm.as_deref().unwrap_or(""));
    suffix.push_str(proof.nonce.as_deref().unwrap_or(""));
    let texts = signed_texts(presentation, normalize::presentation(presentation));
    proof.check(&key, &texts, suffix.as_bytes())
}
