//! Elastos DIDs (`did:elastos`): documents, verifiable credentials and
//! presentations, transfer tickets and ID chain requests, verified as the
//! Elastos DID SDKs and the EID chain do.
//!
//! Every signature is ECDSA P-256 with SHA-256, raw `r || s` in base64url;
//! keys are 33-byte compressed points in base58. What is signed is the
//! object's JSON with its `proof` member removed. Two serializations of it are
//! accepted, both fixed functions of the object:
//!
//! - the object as written, compact (the text of a compact file without its
//!   `,"proof":…`). The EID chain's payloads are signed this way, whatever
//!   their member order;
//! - the SDKs' normalized form ([`normalize`]): members in the SDK's order,
//!   relative ids (`#primary`) made absolute, default types and controllers
//!   filled in, keys embedded in `authentication` moved to `publicKey`, lists
//!   sorted. A pretty-printed object from an SDK verifies through this form.
//!
//! The rules, per object:
//!
//! - **Document** ([`Document::verify`]): a normal DID (`did:elastos:i…`) is
//!   derived from its default key ([`address`]) and carries one proof by that
//!   key. A customized DID (`did:elastos:foo`) lists controllers and an
//!   `m:n` multisig (`m` is 1 by default) and carries `m` proofs, each by the
//!   default key of a different controller whose own document is genuine.
//! - **Credential** ([`credential::verify_credential`]): the DID of its `id`
//!   is its subject; the issuer's (or else the subject's) document is genuine
//!   and the proof's key is one of the issuer's authentication keys (for a
//!   customized issuer, also its controllers' default keys).
//! - **Presentation** ([`credential::verify_presentation`]): the holder's
//!   document is genuine, every credential is genuine and about the holder,
//!   and the proof, over `json || realm || nonce`, is by one of the holder's
//!   authentication keys.
//! - **Transfer ticket** ([`ticket::verify_ticket`]): `m` proofs over
//!   `{id,to,txid}` by default keys of distinct controllers of the customized
//!   DID.
//! - **ID chain request** ([`request::verify_request`]): the proof is over
//!   `sha256(specification || operation || previousTxid || ticket || payload)`
//!   by an authentication key of the document in the payload.
//!
//! Genuineness does not depend on time; the `*_at` checks also refuse what
//! has expired at an explicit `now`. Documents that other objects refer to
//! (controllers, issuers, holders) come from a [`DocumentStore`].

pub mod address;
pub mod credential;
mod document;
pub mod normalize;
pub mod request;
pub mod ticket;
pub mod time;

pub use document::{Document, DocumentStore, PublicKey};
pub use time::Timestamp;

use crate::encoding;
use crate::json::{JsonError, Value};
use crate::signature::p256;
use alloc::string::String;
use alloc::vec::Vec;

/// The only proof type of Elastos DIDs.
pub const PROOF_TYPE: &str = "ECDSAsecp256r1";
/// How many levels of controller documents a verification follows.
pub const MAXIMUM_CONTROLLER_DEPTH: usize = 4;

/// Why an Elastos DID object is malformed or not genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DidError {
    /// The text is not JSON.
    Json(JsonError),
    /// A required member is missing or of the wrong JSON type.
    Malformed(&'static str),
    /// An object has a member its kind does not define (so it has no
    /// normalized form).
    UnknownMember,
    /// A DID or DID URL is not a `did:elastos` one.
    InvalidDid,
    /// A public key is not a compressed P-256 point in base58.
    InvalidPublicKey,
    /// `multisig` is not `m:n` with `1 <= m <= n` and `n` the number of
    /// controllers.
    InvalidMultisig,
    /// A normal DID has no key, controlled by itself, that derives to it.
    NoDefaultKey,
    /// A document that must be known (controller, issuer, holder) is not in
    /// the store.
    UnknownDocument,
    /// A controller, issuer or holder document is not genuine.
    ReferencedDocumentNotGenuine,
    /// Controller documents refer to one another more deeply than
    /// [`MAXIMUM_CONTROLLER_DEPTH`].
    TooDeep,
    /// The number of proofs is not the one required.
    ProofCount,
    /// A proof's type is not [`PROOF_TYPE`].
    ProofType,
    /// A proof is by a key that may not sign this object.
    ProofKeyNotAllowed,
    /// Two proofs are by the same controller.
    DuplicateSigner,
    /// The signature is not base64url.
    SignatureEncoding,
    /// The signature does not verify.
    Signature(p256::SignatureError),
    /// A credential's `id` is not about its subject, or a presentation holds
    /// a credential about someone else.
    SubjectMismatch,
    /// An ID chain request's operation is not create, update, transfer or
    /// deactivate, or its payload does not decode.
    InvalidRequest,
    /// A time is not `YYYY-MM-DDTHH:MM:SSZ`.
    InvalidTime,
    /// The object, or one it depends on, has expired.
    Expired,
}

impl From<JsonError> for DidError {
    fn from(error: JsonError) -> Self {
        DidError::Json(error)
    }
}

/// Which kind of Elastos DID object a JSON value is, by its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A DID document.
    Document,
    /// A verifiable credential.
    Credential,
    /// A verifiable presentation.
    Presentation,
    /// A transfer ticket of a customized DID.
    TransferTicket,
    /// An ID chain request (an EID transaction payload).
    IdChainRequest,
}

impl Kind {
    /// The kind of `value`, or `None` if it is no Elastos DID object.
    pub fn of(value: &Value) -> Option<Kind> {
        let has = |key: &str| value.get(key).is_some();
        let is_elastos_id = value.get_str("id").is_some_and(|id| id.starts_with("did:elastos:"));
        let type_names: Vec<&str> = match value.get("type") {
            Some(Value::String(text)) => alloc::vec![text.value.as_str()],
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if has("header") && has("payload") && has("proof") {
            Some(Kind::IdChainRequest)
        } else if has("credentialSubject") {
            Some(Kind::Credential)
        } else if type_names.contains(&"VerifiablePresentation") {
            Some(Kind::Presentation)
        } else if is_elastos_id && has("to") && has("txid") {
            Some(Kind::TransferTicket)
        } else if is_elastos_id && has("proof") {
            Some(Kind::Document)
        } else {
            None
        }
    }
}

/// The DID part of a DID URL (before `#`, `?` or `/` after the method id).
pub fn did_of_url(url: &str) -> &str {
    let end = url.find(['#', '?']).unwrap_or(url.len());
    &url[..end]
}

/// `reference` made absolute: a relative `#fragment` is taken within `base`.
pub fn absolute_url(reference: &str, base: &str) -> String {
    if reference.starts_with('#') {
        let mut url = String::from(base);
        url.push_str(reference);
        url
    } else {
        String::from(reference)
    }
}

/// A proof member of any object: who signed, with what, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The proof type ([`PROOF_TYPE`] if absent).
    pub kind: String,
    /// The key's DID URL (`creator` or `verificationMethod`), absolute if the
    /// object gave a base, `None` if absent.
    pub key: Option<String>,
    /// The base64url signature (`signatureValue` or `signature`).
    pub signature: String,
    /// A presentation's `realm`.
    pub realm: Option<String>,
    /// A presentation's `nonce`.
    pub nonce: Option<String>,
}

impl Proof {
    /// Reads a proof object; a relative key is made absolute against `base`.
    pub fn read(value: &Value, base: &str) -> Result<Proof, DidError> {
        let text = |key| value.get_str(key).map(String::from);
        let key = text("creator").or_else(|| text("verificationMethod"));
        Ok(Proof {
            kind: text("type").unwrap_or_else(|| PROOF_TYPE.into()),
            key: key.map(|key| absolute_url(&key, base)),
            signature: text("signatureValue")
                .or_else(|| text("signature"))
                .ok_or(DidError::Malformed("proof signature"))?,
            realm: text("realm"),
            nonce: text("nonce"),
        })
    }

    /// The proofs of an object's `proof` member (one object or an array).
    pub fn read_all(value: Option<&Value>, base: &str) -> Result<Vec<Proof>, DidError> {
        match value {
            Some(Value::Array(proofs)) => {
                proofs.iter().map(|proof| Proof::read(proof, base)).collect()
            }
            Some(proof @ Value::Object(_)) => Ok(alloc::vec![Proof::read(proof, base)?]),
            _ => Err(DidError::Malformed("proof")),
        }
    }

    /// Checks the type and that the signature is `public_key`'s over one of
    /// `candidates` (each followed by `suffix`).
    pub fn check(
        &self,
        public_key: &[u8],
        candidates: &[String],
        suffix: &[u8],
    ) -> Result<(), DidError> {
        if self.kind != PROOF_TYPE {
            return Err(DidError::ProofType);
        }
        let signature =
            encoding::decode_base64url(&self.signature).map_err(|_| DidError::SignatureEncoding)?;
        let mut last = DidError::Signature(p256::SignatureError::Mismatch);
        for candidate in candidates {
            let mut message = Vec::with_capacity(candidate.len() + suffix.len());
            message.extend_from_slice(candidate.as_bytes());
            message.extend_from_slice(suffix);
            match p256::verify(public_key, &message, &signature) {
                Ok(()) => return Ok(()),
                Err(error) => last = DidError::Signature(error),
            }
        }
        Err(last)
    }
}

/// The texts a signature over `value` (without its proof) may cover: the
/// object as written, and its normalized form (when that differs).
fn signed_texts(value: &Value, normalized: Result<Value, DidError>) -> Vec<String> {
    let literal = value.without("proof").to_literal();
    let mut texts = alloc::vec![literal];
    if let Ok(normalized) = normalized {
        let normalized = normalized.without("proof").to_canonical();
        if normalized != texts[0] {
            texts.push(normalized);
        }
    }
    texts
}

/// Checks that `expiry` (if any) is after `now`.
fn check_not_expired(expiry: Option<&str>, now: Timestamp) -> Result<(), DidError> {
    match expiry {
        None => Ok(()),
        Some(text) => {
            let expiry = Timestamp::parse(text).ok_or(DidError::InvalidTime)?;
            if now < expiry {
                Ok(())
            } else {
                Err(DidError::Expired)
            }
        }
    }
}

#[cfg(test)]
mod tests;
