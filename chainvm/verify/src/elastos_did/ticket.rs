//! Transfer tickets: the controllers of a customized DID hand it to a new
//! owner (`to`) for one transaction (`txid`).

use super::{normalize, signed_texts, DidError, DocumentStore, Proof, MAXIMUM_CONTROLLER_DEPTH};
use crate::json::Value;
use alloc::vec::Vec;

/// Checks that a transfer ticket is genuine: the customized DID's document is
/// genuine, and the ticket carries `m` proofs (its multisig's `m`) over
/// `{id,to,txid}`, each by the default key of a different controller.
pub fn verify_ticket(ticket: &Value, store: &DocumentStore) -> Result<(), DidError> {
    let id = ticket.get_str("id").ok_or(DidError::Malformed("id"))?;
    for member in ["to", "txid"] {
        ticket.get_str(member).ok_or(DidError::Malformed(member))?;
    }
    let document = store.genuine(id, MAXIMUM_CONTROLLER_DEPTH + 1, None)?;
    if !document.is_customized() {
        return Err(DidError::ProofKeyNotAllowed);
    }
    let proofs = Proof::read_all(ticket.get("proof"), id)?;
    if proofs.len() != document.required_signatures {
        return Err(DidError::ProofCount);
    }
    let texts = signed_texts(ticket, normalize::ticket(ticket));
    let mut signers: Vec<&str> = Vec::new();
    for proof in &proofs {
        let key_id = proof.key.as_deref().ok_or(DidError::ProofKeyNotAllowed)?;
        let key = document.controller_default_key(key_id, store, MAXIMUM_CONTROLLER_DEPTH, None)?;
        let signer = super::did_of_url(key_id);
        if signers.contains(&signer) {
            return Err(DidError::DuplicateSigner);
        }
        signers.push(signer);
        proof.check(&key, &texts, &[])?;
    }
    Ok(())
}
